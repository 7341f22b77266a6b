"""Travel-time isochrones from reached network edges, and the checks a regional drive isochrone needs.

Pure functions on a :class:`kmgis.network.Network` (metric CRS, metres and seconds); they
know nothing of files, recipes or maps.

Travel time
    Edge time comes from :func:`kmgis.network.build_network`: ``maxspeed_kmh`` where the
    source tags it, else the class speed of ``layers/speeds.yaml: drive_kmh`` (walk: the
    walking speed).  A *time band* (``free``, ``peak`` in ``speeds.yaml: congestion``)
    multiplies every edge time by its factor (:func:`with_time_band`); one-way edges are
    only traversed forwards.

Isochrone polygons (never hulls)
    For a budget *B*, :func:`kmgis.network.reached_edges` gives per edge the metres reached
    from its *u* and *v* ends.  Fully reached edges are taken whole; partly reached ones
    are cut exactly where the budget runs out (:func:`line_substrings`, a vectorised
    ``shapely.ops.substring``); the origin's own edge is added from the origin point.  Each
    piece is buffered and the buffers are unioned; holes smaller than ``fill_holes_km2`` are
    filled.  To keep the union fast the pieces are first simplified (Douglas-Peucker, at
    most ``simplify_m``) and buffered by ``buffer_m - simplify_m``: a simplified line lies
    within ``simplify_m`` of the road, so **every point of the polygon is within
    ``buffer_m`` of a reached road**, except inside filled holes (each hole of area *A*
    adds at most ``sqrt(A / π)``, its largest inscribed circle).

Speed: buffer tiles
    Unioning tens of thousands of overlapping buffers is what costs (GEOS time grows with
    the number of pieces, not their vertices).  :class:`BufferTiles` keeps, per network, the
    union of the edge buffers of every tile of a quadtree (1, 2, 4, 8, 16 km squares by
    default).  An isochrone takes the largest tiles whose edges are all fully reached as
    single pieces and adds the remaining reached edges one by one, so the dense interior of
    a large isochrone arrives as a few hundred pre-unioned pieces.  The result is the same
    set as the direct union (tested); tiles are computed on first use and kept, or all at
    once with :func:`prepare_isochrones`.

Regional check
    A one-hour regional drive isochrone needs expressway-class roads (GB/T 51328 快速路:
    OSM motorway/trunk) joining the member seats.  :func:`check_drive_data` measures the
    expressway length of the drive graph and which members lie outside the road data or
    are not connected to the origin, and words the warning every output carries
    (:data:`NO_EXPRESSWAYS`) with what to supply (:data:`SUPPLY_HINT`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from kmgis.config import load_layers_yaml
from kmgis.errors import KmgisError
from kmgis.network import Network, Snapped, Weight, reached_edges

NO_EXPRESSWAYS = "road data lacks expressways — travel times overstated"
"""The label of every time computed on a drive network without expressway-class roads."""

SUPPLY_HINT = (
    "supply regional roads with expressways and national roads: OpenStreetMap for Yunnan "
    "(a .osm.pbf extract, e.g. cut from Geofabrik's China extract with `osmium extract`, or Overpass), "
    "set as layers.osm in recipes/metro.yaml or --osm FILE; or a regional road layer whose class field "
    "maps to expressway / arterial (layers.roads)"
)
OUTSIDE_DATA = "outside data"
NOT_CONNECTED = "not connected"
NO_SEAT = "no seat point"

DEFAULT_BUFFER_M = 150.0
DEFAULT_FILL_HOLES_KM2 = 1.0
DEFAULT_SIMPLIFY_M = 10.0
DEFAULT_QUAD_SEGS = 2
DEFAULT_TILE_M = 1000.0
DEFAULT_TILE_LEVELS = 5
DEFAULT_MIN_EXPRESSWAY_KM = 10.0


# --------------------------------------------------------------------------- time bands


def congestion_factor(band: str) -> float:
    """Travel-time multiplier of a time band (``layers/speeds.yaml: congestion``), e.g. free 1.0, peak 1.5."""
    bands = load_layers_yaml("speeds").get("congestion") or {}
    if band not in bands:
        raise KmgisError(f"unknown time band {band!r}; layers/speeds.yaml congestion has: {', '.join(bands)}")
    entry = bands[band]
    factor = float(entry["factor"] if isinstance(entry, dict) else entry)
    if not (math.isfinite(factor) and factor > 0):
        raise KmgisError(f"layers/speeds.yaml: congestion factor of {band!r} must be positive, got {factor}")
    return factor


def band_is_assumed(band: str) -> bool:
    """True when ``speeds.yaml`` marks the band's factor ``assumed: true`` (not measured)."""
    entry = (load_layers_yaml("speeds").get("congestion") or {}).get(band)
    return bool(isinstance(entry, dict) and entry.get("assumed"))


def with_time_band(net: Network, band: str) -> Network:
    """The same network with every edge time multiplied by the band's congestion factor.

    ``free`` (factor 1) returns ``net`` itself; other bands a copy whose cache keeps only what
    depends on geometry alone (the edge tree, the isochrone buffer tiles).
    """
    factor = congestion_factor(band)
    if factor == 1.0:
        return net
    out = dataclasses.replace(net, edge_time_s=net.edge_time_s * factor, summary=dict(net.summary))
    # geometry caches do not depend on travel times: share them
    out._cache.update({k: v for k, v in net._cache.items() if k == "tree" or (isinstance(k, tuple) and k[0] == "isochrone_tiles")})
    out.summary["time_band"] = {"band": band, "factor": factor}
    return out


# --------------------------------------------------------------------------- cutting lines


def line_substrings(lines: np.ndarray, start_m: np.ndarray, end_m: np.ndarray) -> np.ndarray:
    """The part of each line between ``start_m`` and ``end_m`` metres along it (vectorised).

    The same as ``shapely.ops.substring(line, start, end)`` for ``0 <= start < end <=
    length``: the vertices strictly between, plus the interpolated end points.  Values are
    clipped to the line's length; ``start >= end`` gives a two-point line of zero length.
    """
    lines = np.asarray(lines, dtype=object)
    n = len(lines)
    if n == 0:
        return np.empty(0, dtype=object)
    length = shapely.length(lines)
    start = np.clip(np.asarray(start_m, dtype=float), 0.0, length)
    end = np.clip(np.asarray(end_m, dtype=float), start, length)
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    first = np.r_[True, idx[1:] != idx[:-1]]
    step = np.r_[0.0, np.hypot(*np.diff(coords, axis=0).T)]
    step[first] = 0.0
    cum = np.cumsum(step)
    starts_at = np.flatnonzero(first)
    cum -= np.repeat(cum[starts_at], np.diff(np.r_[starts_at, len(idx)]))
    ordinal = np.arange(len(idx)) - np.repeat(starts_at, np.diff(np.r_[starts_at, len(idx)]))
    inside = (cum > start[idx]) & (cum < end[idx])
    p0 = shapely.get_coordinates(shapely.line_interpolate_point(lines, start))
    p1 = shapely.get_coordinates(shapely.line_interpolate_point(lines, end))
    which = np.concatenate([np.arange(n), idx[inside], np.arange(n)])
    key = np.concatenate([np.full(n, -1.0), ordinal[inside].astype(float), np.full(n, np.inf)])
    xy = np.vstack([p0, coords[inside], p1])
    order = np.lexsort((key, which))
    return shapely.linestrings(xy[order], indices=which[order])


# --------------------------------------------------------------------------- reached pieces


@dataclass
class ReachedPieces:
    """Reached road pieces for one budget: fully reached edges (by index) and cut parts."""

    full_edges: np.ndarray
    partial: np.ndarray  # LineStrings in the network CRS
    reached_m: float


def reached_pieces(net: Network, node_cost: np.ndarray, budget: float, *, weight: Weight = "time_s",
                   sources: Snapped | None = None) -> ReachedPieces:
    """What is reached within ``budget`` (weight units) given ``node_cost`` from :func:`node_distances`.

    Partly reached edges are cut at the budget from each reachable end; with ``sources`` the
    origin's own edge is reached from the origin point (in the directions it may be driven).
    """
    rch = reached_edges(net, node_cost, budget, weight=weight)
    edge = rch["edge"].to_numpy()
    full = rch["full"].to_numpy()
    part = edge[~full]
    from_u = rch["from_u_m"].to_numpy()[~full]
    from_v = rch["from_v_m"].to_numpy()[~full]
    length = net.edge_length_m[part]
    lines, starts, ends = [], [], []
    u_side = from_u > 0
    lines.append(part[u_side])
    starts.append(np.zeros(int(u_side.sum())))
    ends.append(from_u[u_side])
    v_side = from_v > 0
    lines.append(part[v_side])
    starts.append(length[v_side] - from_v[v_side])
    ends.append(length[v_side])
    reached_m = float(net.edge_length_m[edge[full]].sum() + from_u.sum() + from_v.sum())
    if sources is not None and len(sources):
        ok = sources.reached & ~np.isin(sources.edge, edge[full])  # a fully reached edge needs no piece
        e, p, s = sources.edge[ok], sources.pos_m[ok], sources.snap_m[ok]
        w = net._weights(weight)[e]
        length_e = net.edge_length_m[e]
        rate = length_e / np.maximum(w, 1e-9)  # metres per weight unit
        left_m = (budget - s / rate) * rate  # the snap distance is travelled at the edge's rate
        fwd = net.edge_forward[e] & (left_m > 0)
        bwd = net.edge_backward[e] & (left_m > 0)
        lines += [e[fwd], e[bwd]]
        starts += [p[fwd], np.maximum(0.0, p - left_m)[bwd]]
        ends += [np.minimum(length_e, p + left_m)[fwd], p[bwd]]
    which = np.concatenate(lines).astype(np.int64)
    start = np.concatenate(starts)
    end = np.concatenate(ends)
    keep = end > start
    cut = line_substrings(net.edge_geometry[which[keep]], start[keep], end[keep])
    return ReachedPieces(edge[full], cut, reached_m)


# --------------------------------------------------------------------------- polygons


def fill_holes(geom: shapely.Geometry, max_area_m2: float) -> tuple[shapely.Geometry, float, float]:
    """``geom`` with every interior ring of area below ``max_area_m2`` filled, and what was filled.

    Returns ``(filled, filled_m2, largest_hole_m2)``: the geometry, the area it gained (m²)
    and the area of the largest filled ring (m²; an upper bound of that hole's own area,
    since it may hold islands).  Parts lying inside a filled hole (islands) are absorbed,
    so the result stays a valid (Multi)Polygon.  Holes of ``max_area_m2`` or more are kept.
    """
    unchanged = (geom, 0.0, 0.0)
    if geom is None or geom.is_empty or max_area_m2 <= 0:
        return unchanged
    polys = shapely.get_parts(geom)
    polys = polys[shapely.get_type_id(polys) == 3]
    rings, which = shapely.get_rings(polys, return_index=True)
    exterior = np.r_[True, which[1:] != which[:-1]]
    ring_area = shapely.area(shapely.polygons(rings))
    small = ~exterior & (ring_area < max_area_m2)
    if not small.any():
        return unchanged
    rebuilt = shapely.polygons(rings[~small], indices=which[~small])
    holes = shapely.polygons(rings[small])
    inside, _ = shapely.STRtree(holes).query(shapely.point_on_surface(polys), predicate="within")
    keep = np.ones(len(rebuilt), dtype=bool)
    keep[inside] = False
    out = rebuilt[keep]
    filled = out[0] if len(out) == 1 else shapely.MultiPolygon(list(out))
    return filled, max(float(filled.area - geom.area), 0.0), float(ring_area[small].max())


@dataclass
class BufferTiles:
    """Buffered edges and the unions of their buffers on a quadtree of square tiles.

    Built once per network and buffer parameters (:func:`buffer_tiles`, cached on the
    network) and filled lazily: an edge's buffer, or a tile's union, is computed the first
    time an isochrone needs it and kept.  Edges are assigned to the level-0 tile
    (``tile_m`` square) holding their midpoint; a tile at level *L* is the union of its
    four children at *L - 1* (``tile_m * 2**L`` square).  The assignment is a partition of
    the edges, so a tile's union is exactly the union of its edges' buffers wherever the
    buffers reach.
    """

    geometry: np.ndarray  # the network's edge lines (metric CRS)
    width_m: float
    simplify_m: float
    quad_segs: int
    tile_m: float
    edge_buffers: np.ndarray  # object array, None until computed
    tile_of_edge: list[np.ndarray]  # per level: the tile index of every edge
    members: list[tuple[np.ndarray, np.ndarray]]  # per level: (order, offsets) of its members (edges, or child tiles)
    polygons: list[np.ndarray]  # per level: object array of tile unions, None until computed
    workers: int = 1

    @property
    def levels(self) -> int:
        return len(self.polygons)

    def buffer_lines(self, lines: np.ndarray) -> np.ndarray:
        """``lines`` simplified by ``simplify_m`` and buffered by ``width_m`` (every point of a
        buffer lies within ``width_m + simplify_m`` of its line)."""
        if self.simplify_m > 0 and len(lines):
            lines = shapely.simplify(lines, self.simplify_m, preserve_topology=False)
        return shapely.buffer(lines, self.width_m, quad_segs=self.quad_segs)

    def edge_buffer(self, edges: np.ndarray) -> np.ndarray:
        """The buffers of ``edges`` (computing those not cached yet)."""
        missing = edges[pd.isna(self.edge_buffers[edges])]
        if len(missing):
            self.edge_buffers[missing] = self.buffer_lines(self.geometry[missing])
        return self.edge_buffers[edges]

    def tiles(self, level: int, ids: np.ndarray) -> np.ndarray:
        """The unions of tiles ``ids`` at ``level`` (computing missing ones, children first)."""
        ids = np.asarray(ids, dtype=np.int64)
        polys = self.polygons[level]
        missing = np.unique(ids[pd.isna(polys[ids])])
        if len(missing):
            order, offsets = self.members[level]
            groups = [order[offsets[k]:offsets[k + 1]] for k in missing]
            if level == 0:
                self.edge_buffer(np.concatenate(groups))
                parts = [self.edge_buffers[g] for g in groups]
            else:
                self.tiles(level - 1, np.concatenate(groups))
                parts = [self.polygons[level - 1][g] for g in groups]
            polys[missing] = _map_threads(shapely.union_all, parts, self.workers)
        return polys[ids]


def _map_threads(func, items: list, workers: int) -> list:
    """``[func(x) for x in items]``, on ``workers`` threads (shapely releases the GIL)."""
    if workers <= 1 or len(items) < 2:
        return [func(x) for x in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(func, items, chunksize=max(1, len(items) // (4 * workers))))


def buffer_tiles(net: Network, *, buffer_m: float = DEFAULT_BUFFER_M, simplify_m: float = DEFAULT_SIMPLIFY_M,
                 quad_segs: int = DEFAULT_QUAD_SEGS, tile_m: float = DEFAULT_TILE_M,
                 levels: int = DEFAULT_TILE_LEVELS, workers: int | None = None) -> BufferTiles:
    """The (lazily filled) :class:`BufferTiles` of ``net`` for these parameters, cached on the network.

    ``buffer_m`` is the guaranteed reach of the polygons (metres): lines simplified by
    ``simplify_m`` are buffered by ``buffer_m - simplify_m``.  ``workers`` threads compute
    tile unions (default: the machine's cores, at most 4).
    """
    simplify_m = float(min(max(simplify_m, 0.0), buffer_m / 2))
    key = ("isochrone_tiles", float(buffer_m), simplify_m, int(quad_segs), float(tile_m), int(levels))
    cached = net._cache.get(key)
    if cached is not None:
        return cached
    workers = min(os.cpu_count() or 1, 4) if workers is None else max(1, int(workers))
    mid = shapely.get_coordinates(shapely.line_interpolate_point(net.edge_geometry, 0.5, normalized=True))
    cell = np.floor((mid - mid.min(axis=0)) / tile_m).astype(np.int64) if len(mid) else np.zeros((0, 2), np.int64)
    tile_of_edge, members, polygons = [], [], []
    for level in range(levels):
        ij = cell >> level
        _, tile = np.unique(ij[:, 0] * (1 << 31) + ij[:, 1], return_inverse=True)
        n_tiles = int(tile.max()) + 1 if len(tile) else 0
        if level == 0:
            owner = tile  # edges → tiles
        else:
            owner = np.zeros(len(polygons[-1]), dtype=np.int64)  # child tiles → tiles
            owner[tile_of_edge[-1]] = tile
        order = np.argsort(owner, kind="stable")
        offsets = np.r_[0, np.cumsum(np.bincount(owner, minlength=n_tiles))]
        tile_of_edge.append(tile)
        members.append((order, offsets))
        polygons.append(np.full(n_tiles, None, dtype=object))
    tiles = BufferTiles(net.edge_geometry, float(buffer_m - simplify_m), simplify_m, int(quad_segs), float(tile_m),
                        np.full(net.n_edges, None, dtype=object), tile_of_edge, members, polygons, workers)
    net._cache[key] = tiles
    return tiles


def prepare_isochrones(net: Network, **params) -> float:
    """Compute every edge buffer and tile union of ``net`` ahead of the queries; seconds taken.

    Optional: isochrones fill the same cache on demand.  ``params`` as :func:`buffer_tiles`.
    """
    t0 = time.perf_counter()
    tiles = buffer_tiles(net, **params)
    top = tiles.levels - 1
    tiles.tiles(top, np.arange(len(tiles.polygons[top])))
    return time.perf_counter() - t0


def union_of_reached(net: Network, tiles: BufferTiles, full_edges: np.ndarray, extra: np.ndarray) -> shapely.Geometry:
    """The union of the buffers of fully reached edges ``full_edges`` and of ``extra`` polygons.

    Every tile whose edges are all fully reached contributes its cached union (the largest
    such tile, top level first); the other reached edges their own buffers.  The result is
    the same set as the union of all the edge buffers, from far fewer, larger pieces.
    """
    full = np.zeros(net.n_edges, dtype=bool)
    full[full_edges] = True
    taken = np.zeros(net.n_edges, dtype=bool)
    parts = []
    for level in range(tiles.levels - 1, -1, -1):
        tile = tiles.tile_of_edge[level]
        n = len(tiles.polygons[level])
        edges_in = np.bincount(tile, minlength=n)
        full_in = np.bincount(tile[full & ~taken], minlength=n)
        complete = np.flatnonzero((full_in == edges_in) & (edges_in > 0))
        if len(complete):
            parts.append(tiles.tiles(level, complete))
            taken |= np.isin(tile, complete)
    loose = np.flatnonzero(full & ~taken)
    parts += [tiles.edge_buffer(loose), np.asarray(extra, dtype=object)]
    geoms = np.concatenate(parts)
    if len(geoms) == 0:
        return shapely.Polygon()
    if tiles.workers > 1 and len(geoms) >= 256:  # west-to-east strips unioned on threads, then joined
        x = shapely.get_coordinates(shapely.centroid(geoms))[:, 0]
        strips = np.array_split(np.argsort(x), tiles.workers)
        geoms = np.asarray(_map_threads(shapely.union_all, [geoms[k] for k in strips], tiles.workers), dtype=object)
    return shapely.union_all(geoms)


def isochrone_polygons(
    net: Network,
    node_cost: np.ndarray,
    budgets: list[float],
    *,
    weight: Weight = "time_s",
    sources: Snapped | None = None,
    buffer_m: float = DEFAULT_BUFFER_M,
    fill_holes_km2: float = DEFAULT_FILL_HOLES_KM2,
    simplify_m: float = DEFAULT_SIMPLIFY_M,
    quad_segs: int = DEFAULT_QUAD_SEGS,
) -> gpd.GeoDataFrame:
    """One polygon per budget (weight units) from the reached edges, in the network's CRS.

    Columns: ``budget``, ``area_km2``, ``reached_km`` (road length reached), ``edges_full``,
    ``filled_holes_km2``, ``max_filled_hole_km2``, ``seconds`` (time to build it, including
    any buffer tiles computed for it for the first time), ``geometry``.  See the module
    docstring for the construction and its guarantee.
    """
    if not buffer_m > 0:
        raise KmgisError(f"isochrone buffer width must be positive, got {buffer_m} m")
    if fill_holes_km2 < 0:
        raise KmgisError(f"fill_holes_km2 must be ≥ 0, got {fill_holes_km2}")
    tiles = buffer_tiles(net, buffer_m=buffer_m, simplify_m=simplify_m, quad_segs=quad_segs)
    rows = []
    for b in sorted(float(b) for b in budgets):
        t0 = time.perf_counter()
        pieces = reached_pieces(net, node_cost, b, weight=weight, sources=sources)
        raw = union_of_reached(net, tiles, pieces.full_edges, tiles.buffer_lines(pieces.partial))
        filled, holes_total, holes_max = fill_holes(raw, fill_holes_km2 * 1e6)
        rows.append({
            "budget": b,
            "area_km2": round(float(filled.area) / 1e6, 3),
            "reached_km": round(pieces.reached_m / 1000, 3),
            "edges_full": len(pieces.full_edges),
            "filled_holes_km2": round(holes_total / 1e6, 3),
            "max_filled_hole_km2": round(holes_max / 1e6, 4),
            "seconds": round(time.perf_counter() - t0, 3),
            "geometry": filled,
        })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=net.crs)


# --------------------------------------------------------------------------- checks


@dataclass
class DataCheck:
    """Whether a drive network can carry a regional isochrone, and the warning to print."""

    classes_km: dict[str, float]
    expressway_km: float
    min_expressway_km: float
    lacks_expressways: bool
    outside: list[str] = field(default_factory=list)
    not_connected: list[str] = field(default_factory=list)
    far_from_expressway: list[str] = field(default_factory=list)

    @property
    def warning(self) -> str:
        """The label carried by every time computed on this network ('' when none applies)."""
        return NO_EXPRESSWAYS if self.lacks_expressways else ""

    def messages(self) -> list[str]:
        """Every finding, one line each, with what to supply."""
        out = []
        if self.lacks_expressways:
            out.append(f"{NO_EXPRESSWAYS}: the drive network has {self.expressway_km:.1f} km of expressway-class "
                       f"roads (needs ≥ {self.min_expressway_km:g} km); classes: "
                       + ", ".join(f"{k} {v:,.0f} km" for k, v in self.classes_km.items()))
        if self.outside:
            out.append(f"{OUTSIDE_DATA}: {', '.join(self.outside)} (no road within the snap distance of the seat point)")
        if self.not_connected:
            out.append(f"{NOT_CONNECTED}: {', '.join(self.not_connected)} (their roads are not joined to the origin's "
                       "in the road data)")
        if self.far_from_expressway:
            out.append("no expressway-class road near the seat of: " + ", ".join(self.far_from_expressway))
        if out:
            out.append(SUPPLY_HINT)
        return out

    def as_dict(self) -> dict:
        return {"classes_km": self.classes_km, "expressway_km": self.expressway_km,
                "min_expressway_km": self.min_expressway_km, "lacks_expressways": self.lacks_expressways,
                "outside_data": self.outside, "not_connected": self.not_connected,
                "far_from_expressway": self.far_from_expressway, "warning": self.warning,
                "messages": self.messages()}


def check_drive_data(
    net: Network,
    *,
    min_expressway_km: float = DEFAULT_MIN_EXPRESSWAY_KM,
    members: list[str] | None = None,
    seat_xy: np.ndarray | None = None,
    in_data: np.ndarray | None = None,
    reached: np.ndarray | None = None,
    expressway_near_m: float = 15_000.0,
) -> DataCheck:
    """Check a drive network for a regional isochrone.

    ``members`` (names), ``seat_xy`` (metric x/y of their seat points), ``in_data`` (the
    road data reaches the seat) and ``reached`` (a finite time from the origin) list the
    members outside the data, those in it but not connected, and — when the network has
    expressways — those with no expressway-class road within ``expressway_near_m``.
    """
    km = pd.Series(net.edge_length_m / 1000.0).groupby(net.edge_class).sum()
    order = list(load_layers_yaml("road_classes")["classes"])
    classes = {c: round(float(km[c]), 1) for c in order if c in km.index}
    express = float(km.get("expressway", 0.0))
    check = DataCheck(classes, round(express, 1), min_expressway_km, express < min_expressway_km)
    if members is None:
        return check
    members = list(members)
    in_data = np.ones(len(members), bool) if in_data is None else np.asarray(in_data, bool)
    reached = np.ones(len(members), bool) if reached is None else np.asarray(reached, bool)
    check.outside = [m for m, ok in zip(members, in_data, strict=True) if not ok]
    check.not_connected = [m for m, ok, r in zip(members, in_data, reached, strict=True) if ok and not r]
    if seat_xy is not None and not check.lacks_expressways:
        ex = net.edge_class == "expressway"
        tree = shapely.STRtree(net.edge_geometry[ex])
        pts = shapely.points(np.asarray(seat_xy, dtype=float).reshape(-1, 2))
        src, _ = tree.query_nearest(pts, max_distance=expressway_near_m, all_matches=False)
        near = np.zeros(len(members), bool)
        near[src] = True
        check.far_from_expressway = [m for m, ok, n in zip(members, in_data, near, strict=True) if ok and not n]
    return check


def within_data(roads_metric: np.ndarray, points_xy: np.ndarray, max_m: float) -> np.ndarray:
    """Whether any road line (metric geometries) lies within ``max_m`` of each point."""
    pts = shapely.points(np.asarray(points_xy, dtype=float).reshape(-1, 2))
    ok = np.zeros(len(pts), bool)
    valid = ~np.isnan(np.asarray(points_xy, dtype=float).reshape(-1, 2)).any(axis=1)
    if valid.any() and len(roads_metric):
        tree = shapely.STRtree(roads_metric)
        src, _ = tree.query_nearest(pts[valid], max_distance=max_m, all_matches=False)
        ok[np.flatnonzero(valid)[src]] = True
    return ok


def unit_entry_cost(net: Network, node_cost: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Per polygon (metric CRS), the least ``node_cost`` of a network node inside it (inf if none)."""
    out = np.full(len(polygons), np.inf)
    for i, poly in enumerate(polygons):
        if poly is None or poly.is_empty:
            continue
        inside = shapely.contains_xy(poly, net.node_x, net.node_y)
        if inside.any():
            out[i] = float(np.min(node_cost[inside]))
    return out
