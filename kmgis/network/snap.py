"""Placing points on a :class:`~kmgis.network.graph.Network`: the nearest point on the nearest edge.

Points farther than the maximum snap distance from every edge are *unreached* (edge -1),
never silently dropped.  Distances are metres in the network's metric CRS.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from kmgis.errors import KmgisError
from kmgis.network.graph import Network

DEFAULT_MAX_SNAP_M = 250.0
_SNAP_PREFETCH_M = 60.0  # radius (m) of the bulk candidate query when snapping; farther points: query_nearest
_SNAP_CACHE_SIZE = 8  # snapped point sets kept per network (residents, access points, …)


@dataclass(frozen=True)
class Snapped:
    """Points snapped onto network edges (metric CRS).

    Attributes
    ----------
    edge : the edge index of each point; -1 where the point is farther than the maximum
        snap distance from any edge (*unreached*, never silently dropped).
    pos_m : distance along the edge from its ``u`` end, m.
    snap_m : straight distance from the point to the edge, m.
    max_snap_m : the maximum snap distance used, m.
    """

    edge: np.ndarray
    pos_m: np.ndarray
    snap_m: np.ndarray
    max_snap_m: float

    @property
    def reached(self) -> np.ndarray:
        """Boolean mask of the points that snapped within the maximum distance."""
        return self.edge >= 0

    def __len__(self) -> int:
        return len(self.edge)


def _as_metric_xy(points: gpd.GeoSeries | gpd.GeoDataFrame | np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    """(n, 2) x/y in ``crs`` (m): layers reprojected (non-points → representative point), arrays as given."""
    if isinstance(points, gpd.GeoDataFrame):
        points = points.geometry
    if isinstance(points, gpd.GeoSeries):
        if points.crs is None:
            raise KmgisError("points have no CRS; cannot place them on the network")
        geom = points.to_crs(crs)
        if len(geom) and not (geom.geom_type == "Point").all():
            geom = geom.representative_point()
        return shapely.get_coordinates(geom.to_numpy())
    xy = np.asarray(points, dtype=float)
    return xy.reshape(-1, 2)


def snap_points(
    net: Network,
    points: gpd.GeoSeries | gpd.GeoDataFrame | np.ndarray,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> Snapped:
    """Snap points to the nearest point on the nearest edge, at most ``max_snap_m`` away.

    Parameters
    ----------
    net : the network.
    points : a GeoSeries/GeoDataFrame in any CRS (non-points use a representative point),
        or an (n, 2) array of x/y already in the network CRS (m).
    max_snap_m : maximum snap distance, m; farther points are unreached (edge -1).

    Returns
    -------
    Snapped
        Cached on ``net`` per point set and distance (the few most recent).
    """
    xy = np.ascontiguousarray(_as_metric_xy(points, net.crs), dtype=float)
    key = ("snap", hashlib.blake2b(xy.tobytes(), digest_size=16).hexdigest(), float(max_snap_m))
    cached = net._cache.get(key)
    if cached is None:
        cached = _snap_xy(net, xy, max_snap_m)
        snaps = [k for k in net._cache if k[0] == "snap"]
        if len(snaps) >= _SNAP_CACHE_SIZE:  # keep the few most recent point sets
            del net._cache[snaps[0]]
        net._cache[key] = cached
    return cached


def _snap_xy(net: Network, xy: np.ndarray, max_snap_m: float) -> Snapped:
    """Nearest point on the nearest edge: candidates within a short radius in one bulk query
    (exact distances, ties to the lowest edge index), ``query_nearest`` for the rest."""
    n = len(xy)
    edge = np.full(n, -1, dtype=np.int64)
    pos = np.full(n, np.nan)
    dist = np.full(n, np.nan)
    if n == 0:
        return Snapped(edge, pos, dist, max_snap_m)
    pts = shapely.points(xy)
    tree = net.edge_tree()
    radius = min(float(max_snap_m), _SNAP_PREFETCH_M)
    src, hit = tree.query(pts, predicate="dwithin", distance=radius)
    if len(src):
        d = shapely.distance(pts[src], net.edge_geometry[hit])
        order = np.lexsort((hit, d, src))
        first = order[np.r_[True, src[order][1:] != src[order][:-1]]]
        edge[src[first]] = hit[first]
        dist[src[first]] = d[first]
    rest = np.flatnonzero(edge < 0)
    if len(rest) and max_snap_m > radius:
        (i, h), d = tree.query_nearest(
            pts[rest], max_distance=max_snap_m, return_distance=True, all_matches=False
        )
        edge[rest[i]] = h
        dist[rest[i]] = d
    ok = np.flatnonzero(edge >= 0)
    pos[ok] = shapely.line_locate_point(net.edge_geometry[edge[ok]], pts[ok])
    return Snapped(edge, pos, dist, max_snap_m)


def snap_nodes(net: Network, nodes: np.ndarray | list[int]) -> Snapped:
    """Place points exactly on network nodes (snap distance 0 m), e.g. facilities at junctions.

    Each node is put at the end of its first incident edge (as ``u`` if it is one, else ``v``).
    """
    nodes = np.asarray(nodes, dtype=np.int64)
    if len(nodes) and (nodes.min() < 0 or nodes.max() >= net.n_nodes):
        raise KmgisError(f"node index out of range 0..{net.n_nodes - 1}")
    order = np.arange(net.n_edges)[::-1]  # written last-to-first so the first incident edge wins
    edge_as_u = np.full(net.n_nodes, -1, dtype=np.int64)
    edge_as_u[net.edge_u[::-1]] = order
    edge_as_v = np.full(net.n_nodes, -1, dtype=np.int64)
    edge_as_v[net.edge_v[::-1]] = order
    use_u = edge_as_u[nodes] >= 0
    edge = np.where(use_u, edge_as_u[nodes], edge_as_v[nodes])
    pos = np.where(use_u, 0.0, net.edge_length_m[edge])
    return Snapped(edge, pos, np.zeros(len(nodes)), 0.0)
