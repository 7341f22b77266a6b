"""Street-network nodes of the city roads: intersection density and dead-end share (DESIGN §4).

* **Intersections** are nodes of the street network of the city roads
  (:func:`kmgis.network.build_network`) with at least 3 street segments, consolidated:
  junction nodes closer than ``consolidate_m`` metres are one intersection
  (``intersection_density_per_km2``, intersections per km²).
* **Dead ends** are nodes with one street segment (``dead_end_share_pct``, % of the
  street nodes: dead ends + intersections).

City roads are defined in :mod:`kmgis.indicators.road_layer`.  Distances are metres and
areas km², in a projected metric CRS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from kmgis.errors import KmgisError
from kmgis.geom import crs_label, projected_crs
from kmgis.indicators.result import Indicator, Result, no_data
from kmgis.indicators.road_layer import (
    ROAD_INDICATORS,
    ROADS_INPUT,
    AreaLike,
    city_roads,
    metric_crs_of,
    road_indicator_inputs,
)
from kmgis.network import build_network


@dataclass(frozen=True)
class StreetNodes:
    """Street-network nodes for the intersection and dead-end indicators (metric CRS).

    ``degree``: street segments per node (self-loops once, as OSMnx's ``street_count``);
    ``dead_end``: degree-1 nodes inside the area; ``junction_*``: consolidated junctions
    (clusters of degree ≥ 3 nodes) with their merged degree, centroid (m, in the metric CRS)
    and inside flag.
    """

    degree: np.ndarray
    node_inside: np.ndarray
    junction_degree: np.ndarray
    junction_inside: np.ndarray
    raw_junctions_inside: int
    summary: dict
    junction_x_m: np.ndarray
    junction_y_m: np.ndarray

    @property
    def intersections(self) -> int:
        """Consolidated intersections (merged degree ≥ 3) inside the area."""
        return int(((self.junction_degree >= 3) & self.junction_inside).sum())

    @property
    def dead_ends(self) -> int:
        """Degree-1 nodes inside the area."""
        return int(((self.degree == 1) & self.node_inside).sum())


def street_nodes(
    roads: gpd.GeoDataFrame,
    area_m: shapely.Geometry,
    crs: pyproj.CRS,
    *,
    consolidate_m: float = 10.0,
    include_internal: bool = False,
) -> StreetNodes:
    """Node degrees and consolidated junctions of the city-road street network.

    The network is :func:`kmgis.network.build_network` on the city roads (mode ``drive``,
    every component kept, each row made drivable: access rules do not change the street
    pattern); nodes are shared OSM vertices or (user layers) coincident end points and
    T-junctions.  Degree = undirected street segments at the node; a self-loop counts once
    (as OSMnx ``count_streets_per_node``).  Junction nodes (degree ≥ 3) closer than
    ``consolidate_m`` to one another (single linkage: cKDTree pairs → connected
    components) form one junction whose merged degree is the number of segments leaving
    the cluster (the members' degrees minus 2 per segment joining two members) and whose
    position is the members' centroid.  Degree-2 and degree-1 nodes are not merged.

    Parameters
    ----------
    roads : GeoDataFrame
        The roads layer (WGS84), with a halo around the area.
    area_m : shapely geometry
        The area, a polygon in ``crs`` (metres).
    crs : pyproj.CRS
        Projected metric CRS.
    consolidate_m : float
        Junction nodes closer than this (m) are one junction.
    include_internal : bool
        Count compound-internal roads as city roads.

    Returns
    -------
    StreetNodes
    """
    city = city_roads(roads, include_internal=include_internal).copy()
    city["drive"] = pd.array(np.ones(len(city), dtype=bool), dtype="boolean")
    net = build_network(city, "drive", crs, keep_all_components=True)
    n = net.n_nodes
    u, v = net.edge_u, net.edge_v
    degree = net.node_degree()
    node_inside = shapely.contains_xy(area_m, net.node_x, net.node_y)

    junction = np.flatnonzero(degree >= 3)
    label = _junction_clusters(net.node_x[junction], net.node_y[junction], consolidate_m)
    n_cl = int(label.max()) + 1 if len(label) else 0
    cluster_of = np.full(n, -1)
    cluster_of[junction] = label
    merged = np.bincount(label, weights=degree[junction], minlength=n_cl)
    cu, cv = cluster_of[u], cluster_of[v]
    internal = (u != v) & (cu >= 0) & (cu == cv)
    merged -= 2 * np.bincount(cu[internal], minlength=n_cl)
    size = np.bincount(label, minlength=n_cl)
    cx = np.bincount(label, weights=net.node_x[junction], minlength=n_cl) / np.maximum(size, 1)
    cy = np.bincount(label, weights=net.node_y[junction], minlength=n_cl) / np.maximum(size, 1)
    junction_inside = shapely.contains_xy(area_m, cx, cy)
    summary = {
        "nodes": int(n),
        "edges": int(net.n_edges),
        "junction_nodes": int(len(junction)),
        "junction_clusters": n_cl,
        "network_node_policy": net.summary.get("node_policy"),
    }
    return StreetNodes(
        degree=degree,
        node_inside=node_inside,
        junction_degree=merged.astype(np.int64),
        junction_inside=junction_inside,
        raw_junctions_inside=int(((degree >= 3) & node_inside).sum()),
        summary=summary,
        junction_x_m=cx,
        junction_y_m=cy,
    )



def _junction_clusters(x_m: np.ndarray, y_m: np.ndarray, consolidate_m: float) -> np.ndarray:
    """Cluster label of each junction node (coordinates in metres): nodes closer than
    ``consolidate_m`` metres share a cluster (single linkage: cKDTree pairs → connected components)."""
    label = np.arange(len(x_m))
    if consolidate_m > 0 and len(x_m) > 1:
        xy = np.column_stack([x_m, y_m])
        pairs = cKDTree(xy).query_pairs(r=consolidate_m, output_type="ndarray")
        if len(pairs):
            adj = sp.coo_array((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(x_m), len(x_m)))
            _, label = connected_components(adj, directed=False)
    return label


def _street_node_setup(
    roads: gpd.GeoDataFrame | None, area: AreaLike | None, crs: pyproj.CRS | str, consolidate_m: float,
    include_internal: bool,
) -> tuple[pyproj.CRS, dict[str, Any], shapely.Geometry | None, StreetNodes | None]:
    """Shared start of the node indicators: metric CRS, parameters, area in metres, street nodes.

    Without usable inputs the nodes are None and ``params["missing"]`` names what to supply.
    """
    crs = projected_crs(crs, ROAD_INDICATORS)
    if consolidate_m < 0:
        raise KmgisError(f"consolidate_m must be ≥ 0, got {consolidate_m}")
    params: dict[str, Any] = {
        "consolidate_m": consolidate_m,
        "include_internal": include_internal,
        "crs": crs_label(crs),
    }
    _, area_m, missing = road_indicator_inputs(roads, area, crs, include_internal)
    if area_m is None:
        return crs, params | {"missing": missing or ROADS_INPUT}, None, None
    nodes = street_nodes(roads, area_m, crs, consolidate_m=consolidate_m, include_internal=include_internal)
    return crs, params, area_m, nodes


def street_node_indicators(
    roads: gpd.GeoDataFrame | None,
    area: AreaLike | None,
    crs: pyproj.CRS | str | None = None,
    *,
    consolidate_m: float = 10.0,
    include_internal: bool = False,
    scope: str = "built-up area",
) -> Result:
    """[:func:`intersection_density`, :func:`dead_end_share`] from one :func:`street_nodes` computation.

    Parameters
    ----------
    roads : GeoDataFrame or None
        The roads layer (WGS84); give roads beyond the area (a halo).
    area : shapely geometry (WGS84), GeoSeries, GeoDataFrame or None
        The area (normally the built-up area).
    crs : pyproj.CRS or str
        Projected metric CRS.
    consolidate_m : float
        Junction nodes closer than this (m) are one intersection.
    include_internal : bool
        Count compound-internal roads as city roads.
    scope : str
        Text for the records' ``scope``.

    Returns
    -------
    Result
        ``intersection_density_per_km2`` (intersections/km²) and ``dead_end_share_pct`` (%);
        ``no_data`` records naming what to supply when roads, city roads or the area are missing.
    """
    crs, params, area_m, nodes = _street_node_setup(roads, area, metric_crs_of(crs, area, roads), consolidate_m,
                                                    include_internal)
    return Result([_intersection_density_of(nodes, area_m, crs, dict(params), consolidate_m, scope),
                   _dead_end_share_of(nodes, crs, dict(params), consolidate_m, scope)])


def intersection_density(
    roads: gpd.GeoDataFrame | None,
    area: AreaLike | None,
    crs: pyproj.CRS | str | None = None,
    *,
    consolidate_m: float = 10.0,
    include_internal: bool = False,
    scope: str = "built-up area",
) -> Result:
    """``intersection_density_per_km2``: consolidated intersections inside ``area`` per km².

    Intersections are junctions of the city-road street network with merged degree ≥ 3
    (see :func:`street_nodes`: junction nodes within ``consolidate_m`` metres merge, single
    linkage), counted when the junction's centroid lies inside ``area``.  Give roads
    beyond the area (a halo) so that degrees at its edge are right.  Divided roads are not
    de-duplicated here: a street crossing a divided road with carriageways farther apart
    than ``consolidate_m`` makes two intersections.  Note that OSMnx's ``tolerance`` is a
    buffer *radius* (nodes up to 2 × tolerance apart merge), ours a distance.

    Parameters and inputs as :func:`street_node_indicators`; returns a Result with its first
    record (intersections/km²).
    """
    res = street_node_indicators(roads, area, crs, consolidate_m=consolidate_m, include_internal=include_internal,
                                 scope=scope)
    return Result([res[0]])


def dead_end_share(
    roads: gpd.GeoDataFrame | None,
    area: AreaLike | None,
    crs: pyproj.CRS | str | None = None,
    *,
    consolidate_m: float = 10.0,
    include_internal: bool = False,
    scope: str = "built-up area",
) -> Result:
    """``dead_end_share_pct``: dead ends as a share (%) of the street-network nodes in ``area``.

    Nodes are those of a simplified street network: degree-1 nodes (dead ends) plus the
    consolidated intersections of :func:`intersection_density` (degree-2 nodes, where
    one way merely continues another, are not street nodes).  Share = dead ends ÷ (dead
    ends + intersections) × 100, both inside ``area``.  Ends of roads cut by the data's
    extent look like dead ends: give roads with a halo around the area.

    Parameters and inputs as :func:`street_node_indicators`; returns a Result with its second record (%).
    """
    res = street_node_indicators(roads, area, crs, consolidate_m=consolidate_m, include_internal=include_internal,
                                 scope=scope)
    return Result([res[1]])


def _intersection_density_of(nodes: StreetNodes | None, area_m: shapely.Geometry | None, crs: pyproj.CRS,
                             params: dict[str, Any], consolidate_m: float, scope: str) -> Indicator:
    ind, unit = "intersection_density_per_km2", "intersections/km²"
    if nodes is None:
        return no_data(ind, unit, scope, params.pop("missing"), **params)
    area_km2 = area_m.area / 1e6
    params |= {
        "area_km2": round(area_km2, 6),
        "intersections": nodes.intersections,
        "junction_nodes_unconsolidated": nodes.raw_junctions_inside,
    } | nodes.summary
    method = (
        f"street-network nodes of the city roads with ≥3 street segments, junction nodes within "
        f"{consolidate_m:g} m merged (merged degree ≥3 counted, centroid inside the area), ÷ area km², "
        f"in {crs_label(crs)}"
    )
    return Indicator(ind, nodes.intersections / area_km2, unit, scope, method, (ROADS_INPUT, "area"), params)


def _dead_end_share_of(nodes: StreetNodes | None, crs: pyproj.CRS, params: dict[str, Any], consolidate_m: float,
                       scope: str) -> Indicator:
    ind, unit = "dead_end_share_pct", "%"
    if nodes is None:
        return no_data(ind, unit, scope, params.pop("missing"), **params)
    total = nodes.dead_ends + nodes.intersections
    params |= {"dead_ends": nodes.dead_ends, "intersections": nodes.intersections} | nodes.summary
    method = (
        "degree-1 nodes ÷ (degree-1 nodes + consolidated intersections) of the city-road street "
        f"network inside the area × 100 (junctions merged within {consolidate_m:g} m), in {crs_label(crs)}"
    )
    value = 100.0 * nodes.dead_ends / total if total else None
    if value is None:
        return no_data(
            ind, unit, scope, "roads (no street-network nodes inside the area)", method=method, **params
        )
    return Indicator(ind, value, unit, scope, method, (ROADS_INPUT, "area"), params)
