"""Placing points on a :class:`~kmgis.network.graph.Network`: the nearest point on the nearest edge.

Points farther than the maximum snap distance from every edge are *unreached* (edge -1),
never silently dropped.  Distances are metres in the network's metric CRS.

Many points are searched through an index of the edges' straight segments (a KD-tree of
their pieces of at most 50 m, built once per network) with GEOS's own point-to-segment and
``line_locate_point`` arithmetic in numpy; a few points on a network without that index go to
GEOS directly (``STRtree.query_nearest``).  Both give shapely's distances and positions to
the last bit, and a point equally near several edges takes the lowest edge index.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from scipy.spatial import cKDTree

from kmgis.errors import KmgisError
from kmgis.network.graph import Network

DEFAULT_MAX_SNAP_M = 250.0
_PIECE_M = 50.0  # segments are indexed as pieces of at most this length (m): the search bound is half of it
_K_NEAR, _K_WIDE = 8, 32  # nearest piece midpoints examined per point: first pass, then where unproven
_CHUNK = 16384  # points per block (bounds the (points × k) temporaries)
_BOUND_EPS_M = 1e-3  # margin (m) on every search bound, far above the rounding of the distances
_FEW_POINTS = 5000  # fewer points on a network without the segment index: GEOS, no index build
_PREFETCH_M = 60.0  # GEOS path: radius (m) of the bulk candidate query; farther points: query_nearest
_SEGMENTS_KEY = "snap_segments"  # the segment index in Network._cache (a str: not a snapped set)
_SNAP_CACHE_SIZE = 16  # snapped point sets kept per network, least recently used dropped (residents, facilities…)


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
        The nearest point of the nearest edge (equally near edges: the lowest edge index);
        points with a non-finite coordinate are unreached.  Cached on ``net`` per point set
        and distance (the few most recent).
    """
    xy = np.ascontiguousarray(_as_metric_xy(points, net.crs), dtype=float)
    key = ("snap", hashlib.blake2b(xy.tobytes(), digest_size=16).hexdigest(), float(max_snap_m))
    cached = net._cache.pop(key, None)  # re-inserted below: the cache keeps the most recently *used* sets
    if cached is None:
        cached = _snap_xy(net, xy, max_snap_m)
        snaps = [k for k in net._cache if k[0] == "snap"]
        if len(snaps) >= _SNAP_CACHE_SIZE:  # drop the least recently used point set
            del net._cache[snaps[0]]
    net._cache[key] = cached
    return cached


def _snap_xy(net: Network, xy: np.ndarray, max_snap_m: float) -> Snapped:
    """Nearest point on the nearest edge of each point (ties: the lowest edge index).

    Many points, or any number once the network has it, use the segment index
    (:func:`_snap_by_segments`); a few points on a network without it use GEOS directly
    (:func:`_snap_by_strtree`), which spares a single origin the index build.  Both give
    the same edges, snap distances and positions, to the last bit.

    Parameters
    ----------
    net : the network.
    xy : (n, 2) x/y in the network CRS, m; rows with a non-finite coordinate are unreached.
    max_snap_m : maximum snap distance, m.
    """
    n = len(xy)
    edge = np.full(n, -1, dtype=np.int64)
    pos = np.full(n, np.nan)
    dist = np.full(n, np.nan)
    finite = np.isfinite(xy).all(axis=1)
    if not finite.any() or not max_snap_m >= 0:
        return Snapped(edge, pos, dist, max_snap_m)
    rows = np.arange(n) if finite.all() else np.flatnonzero(finite)
    pts = xy if len(rows) == n else xy[rows]
    snap = _snap_by_segments if _SEGMENTS_KEY in net._cache or len(rows) >= _FEW_POINTS else _snap_by_strtree
    ok, ok_edge, ok_dist, ok_pos = snap(net, pts, float(max_snap_m))
    edge[rows[ok]], dist[rows[ok]], pos[rows[ok]] = ok_edge, ok_dist, ok_pos
    return Snapped(edge, pos, dist, max_snap_m)


def _snap_by_segments(
    net: Network, xy: np.ndarray, max_snap_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Snap through the segment index: (rows of ``xy`` within ``max_snap_m``, their edge,
    snap distance in m, position along the edge in m).

    The edges' straight segments (:func:`_segments`, cached on ``net``) are searched through
    a KD-tree of their pieces' midpoints; distances and along-edge positions are GEOS's
    formulas in numpy, so they equal ``shapely.distance`` and ``line_locate_point``.
    """
    segs = _segments(net)
    if segs.tree is None:
        none = np.zeros(0, dtype=np.int64)
        return none, none, np.zeros(0), np.zeros(0)
    seg, d = _nearest_segments(segs, xy, max_snap_m)
    ok = np.flatnonzero(d <= max_snap_m)
    return ok, segs.edge[seg[ok]], d[ok], _locate(segs, xy[ok], seg[ok])


def _snap_by_strtree(
    net: Network, xy: np.ndarray, max_snap_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Snap with GEOS; returns as :func:`_snap_by_segments` (m).

    Edges within ``_PREFETCH_M`` in one bulk STRtree query (exact ``shapely.distance``),
    every nearest edge (``query_nearest``, all equally near ones) for the points with none
    that close; the lowest index of exact ties; ``line_locate_point``.
    """
    pts = shapely.points(xy)
    tree = net.edge_tree()
    src, hit = tree.query(pts, predicate="dwithin", distance=min(max_snap_m, _PREFETCH_M))
    d = shapely.distance(pts[src], net.edge_geometry[hit])
    rest = np.setdiff1d(np.arange(len(xy)), src)
    if len(rest) and max_snap_m > _PREFETCH_M:
        (i, h), d_rest = tree.query_nearest(pts[rest], max_distance=max_snap_m + _BOUND_EPS_M,
                                            return_distance=True, all_matches=True)
        src, hit, d = np.r_[src, rest[i]], np.r_[hit, h], np.r_[d, d_rest]
    order = np.lexsort((hit, d, src))
    first = order[np.r_[True, src[order][1:] != src[order][:-1]]] if len(order) else order
    first = first[d[first] <= max_snap_m]
    ok, edge = src[first], hit[first]
    return ok, edge, d[first], shapely.line_locate_point(net.edge_geometry[edge], pts[ok])


# --------------------------------------------------------------------------- the segment index


@dataclass(frozen=True)
class _Segments:
    """The network's edges exploded into straight segments, ordered by edge then along it.

    Attributes
    ----------
    geom : (8, m) rows, per segment: start x, y; end x, y; end − start x, y; squared length
        (m²; infinite for a zero-length segment, which makes it a point); length, m.
    edge : the edge index of each segment.
    start_m : distance along the edge to the segment's start, m (summed as GEOS does).
    tree : KD-tree of the midpoints of the segments' pieces (None without segments).
    piece_seg : the segment of each piece, then one spare entry for "no neighbour".
    half_m : the longest half-piece, m: a segment is at least ``|p − midpoint| − half_m``
        from a point ``p`` for every one of its pieces' midpoints.
    """

    geom: np.ndarray
    edge: np.ndarray
    start_m: np.ndarray
    tree: cKDTree | None
    piece_seg: np.ndarray
    half_m: float


def _segments(net: Network) -> _Segments:
    """The segment index of ``net`` (built once, cached on the network)."""
    segs = net._cache.get(_SEGMENTS_KEY)
    if segs is None:
        segs = net._cache[_SEGMENTS_KEY] = _build_segments(net.edge_geometry)
    return segs


def _build_segments(edge_geometry: np.ndarray) -> _Segments:
    """Explode the edge LineStrings (or multi-part lines) into segments and index their pieces."""
    geoms, edge_of = edge_geometry, np.arange(len(edge_geometry))
    if len(geoms) and not (shapely.get_type_id(geoms) == 1).all():  # not all LineStrings
        geoms, edge_of = shapely.get_parts(geoms, return_index=True)
    coords, part = shapely.get_coordinates(geoms, return_index=True)
    first = np.flatnonzero(part[1:] == part[:-1])  # a segment from each vertex but a part's last
    a, b = coords[first], coords[first + 1]
    edge = edge_of[part[first]]
    d = b - a
    len2 = d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]
    length = np.sqrt(len2)
    geom = np.vstack([a.T, b.T, d.T, np.where(len2 > 0, len2, np.inf), length])
    mid, piece_seg, half = _pieces(a, d, length)
    tree = cKDTree(mid, balanced_tree=False, compact_nodes=False) if len(mid) else None
    return _Segments(geom, edge, _start_measures(edge, length), tree,
                     np.append(piece_seg, 0), half)


def _start_measures(edge: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Distance along its edge to each segment's start, m: the lengths of the edge's earlier
    segments added one by one from 0, in order, as GEOS's ``line_locate_point`` adds them
    (a global cumulative sum minus the edge's start would round differently)."""
    m = len(edge)
    start = np.zeros(m)
    if m == 0:
        return start
    new_edge = np.r_[True, edge[1:] != edge[:-1]]
    heads = np.flatnonzero(new_edge)
    rank = np.arange(m) - np.repeat(heads, np.diff(np.r_[heads, m]))  # position within the edge
    order = np.argsort(rank, kind="stable")
    bounds = np.searchsorted(rank[order], np.arange(rank.max() + 2))
    for k in range(1, len(bounds) - 1):  # every edge's k-th segment at once
        i = order[bounds[k]:bounds[k + 1]]
        start[i] = start[i - 1] + length[i - 1]
    return start


def _pieces(a: np.ndarray, d: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Each segment cut into equal pieces of at most ``_PIECE_M`` m: (piece midpoints (m),
    segment of each piece, the longest half-piece in m)."""
    count = np.maximum(1, np.ceil(length / _PIECE_M)).astype(np.int64)
    seg = np.repeat(np.arange(len(length)), count)
    j = np.arange(len(seg)) - np.repeat(np.cumsum(count) - count, count)
    frac = (j + 0.5) / count[seg]
    mid = a[seg] + frac[:, None] * d[seg]
    half = float((length / (2 * count)).max()) if len(length) else 0.0
    return mid, seg, half


# --------------------------------------------------------------------------- the search


def _segment_distance(px: np.ndarray, py: np.ndarray, geom: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Distance (m) from points to segments ``seg``, GEOS's ``Distance::pointToSegment`` step by step.

    ``px``, ``py`` broadcast against ``seg``; the operations and their order are GEOS's, so
    the result equals ``shapely.distance`` to the last bit (a zero-length segment has an
    infinite squared length here, hence ``r = 0``: the distance to its start).
    """
    ax, ay, bx, by, dx, dy, len2, length = (col[seg] for col in geom)
    apx, apy = px - ax, py - ay
    r = apx * dx
    r += apy * dy
    r /= len2
    out = apx * dy  # |(A.y − p.y)(B.x − A.x) − (A.x − p.x)(B.y − A.y)| / len2 × length
    out -= apy * dx
    np.abs(out, out=out)
    out /= len2
    out *= length
    np.copyto(out, _norm(px - bx, py - by), where=r >= 1.0)
    np.copyto(out, _norm(apx, apy), where=r <= 0.0)
    return out


def _norm(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``sqrt(dx² + dy²)`` (m) as GEOS's ``Coordinate::distance`` computes it (not ``hypot``);
    overwrites ``dx``."""
    dx *= dx
    dx += dy * dy
    return np.sqrt(dx, out=dx)


def _nearest_segments(segs: _Segments, xy: np.ndarray, max_snap_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest segment of each point and its distance (m; infinite if none within the search).

    Blocks of points take the ``_K_NEAR`` nearest piece midpoints, then ``_K_WIDE`` where
    those could miss a nearer segment, then every piece within the bound (a ball query).
    """
    seg = np.empty(len(xy), dtype=np.int64)
    dist = np.empty(len(xy))
    for lo in range(0, len(xy), _CHUNK):
        p = xy[lo:lo + _CHUNK]
        best, d, bound = _nearest_by_knn(segs, p, _K_NEAR, max_snap_m)
        todo = np.flatnonzero(bound > 0)
        if len(todo):
            best[todo], d[todo], bound[todo] = _nearest_by_knn(segs, p[todo], _K_WIDE, max_snap_m)
            todo = todo[bound[todo] > 0]
        if len(todo):
            best[todo], d[todo] = _nearest_in_ball(segs, p[todo], bound[todo])
        seg[lo:lo + _CHUNK], dist[lo:lo + _CHUNK] = best, d
    return seg, dist


def _nearest_by_knn(
    segs: _Segments, p: np.ndarray, k: int, max_snap_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest segment among those of the ``k`` nearest piece midpoints.

    Returns
    -------
    (segment, distance in m, bound in m): ``bound`` is 0 where the answer is proven (every
    piece not among the ``k`` is more than ``half_m`` beyond the nearest distance, or beyond
    ``max_snap_m``, so no nearer or equally near segment is missed); elsewhere the radius
    (m) within which every piece's midpoint must be examined.
    """
    n_pieces = len(segs.piece_seg) - 1
    k = min(k, n_pieces)
    reach = max_snap_m + segs.half_m + _BOUND_EPS_M
    far, hit = segs.tree.query(p, k=k, distance_upper_bound=reach)
    far, hit = far.reshape(len(p), k), hit.reshape(len(p), k)
    cand = segs.piece_seg[hit]
    d = _segment_distance(p[:, :1], p[:, 1:], segs.geom, cand)
    d[hit == n_pieces] = np.inf  # fewer than k pieces within reach
    nearest = d.min(axis=1)
    best = np.where(d == nearest[:, None], cand, np.iinfo(np.int64).max).min(axis=1)
    bound = np.minimum(nearest, max_snap_m) + segs.half_m + _BOUND_EPS_M
    proven = (far[:, -1] > bound) | (k == n_pieces)
    return best, nearest, np.where(proven, 0.0, bound)


def _nearest_in_ball(segs: _Segments, p: np.ndarray, bound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest segment (lowest index on ties) among every piece within ``bound`` m of each point."""
    lists = segs.tree.query_ball_point(p, r=bound)
    sizes = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    src = np.repeat(np.arange(len(p)), sizes)
    cand = segs.piece_seg[np.concatenate(lists).astype(np.int64)]
    d = _segment_distance(p[src, 0], p[src, 1], segs.geom, cand)
    order = np.lexsort((cand, d, src))
    first = order[np.r_[True, src[order][1:] != src[order][:-1]]]
    return cand[first], d[first]


def _locate(segs: _Segments, xy: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Distance (m) along the edge to the nearest point of segment ``seg``, as GEOS's
    ``LengthIndexOfPoint`` measures it: the segment's start + the projection factor
    (clamped to 0…1) × its length."""
    ax, ay, _, _, dx, dy, len2, length = (col[seg] for col in segs.geom)
    r = ((xy[:, 0] - ax) * dx + (xy[:, 1] - ay) * dy) / len2
    along = np.where(r <= 0.0, 0.0, np.where(r <= 1.0, r * length, length))
    return segs.start_m[seg] + along


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
