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
    adds at most ``sqrt(A / π)``, its largest inscribed circle).  Budgets are built in
    ascending order, each from the previous polygon plus the newly reached pieces.

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
import time
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

    ``free`` (factor 1) returns ``net`` itself; other bands a copy with a fresh cache.
    """
    factor = congestion_factor(band)
    if factor == 1.0:
        return net
    out = dataclasses.replace(net, edge_time_s=net.edge_time_s * factor, summary=dict(net.summary))
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


def fill_holes(geom: shapely.Geometry, max_area_m2: float) -> shapely.Geometry:
    """``geom`` with every interior ring of area below ``max_area_m2`` filled (holes kept otherwise)."""
    if geom is None or geom.is_empty or max_area_m2 <= 0:
        return geom
    out = []
    for poly in shapely.get_parts(geom):
        if not isinstance(poly, shapely.Polygon):
            continue
        holes = [r for r in poly.interiors if shapely.Polygon(r).area >= max_area_m2]
        out.append(shapely.Polygon(poly.exterior, holes))
    if not out:
        return shapely.Polygon()
    return out[0] if len(out) == 1 else shapely.MultiPolygon(out)


def filled_hole_area_m2(raw: shapely.Geometry, filled: shapely.Geometry) -> tuple[float, float]:
    """Total and largest area (m²) of the holes filled between ``raw`` and ``filled``."""
    diff = shapely.get_parts(shapely.difference(filled, raw))
    areas = shapely.area(diff) if len(diff) else np.zeros(0)
    return float(areas.sum()), float(areas.max()) if len(areas) else 0.0


def _edge_buffers(net: Network, edges: np.ndarray, width_m: float, simplify_m: float, quad_segs: int) -> np.ndarray:
    """Buffered (simplified) whole edges, cached per network and parameters."""
    key = ("isochrone_edge_buffers", width_m, simplify_m, quad_segs)
    cache = net._cache.get(key)
    if cache is None:
        cache = net._cache[key] = np.full(net.n_edges, None, dtype=object)
    missing = edges[pd.isna(cache[edges])]
    if len(missing):
        lines = net.edge_geometry[missing]
        if simplify_m > 0:
            lines = shapely.simplify(lines, simplify_m, preserve_topology=False)
        cache[missing] = shapely.buffer(lines, width_m - simplify_m, quad_segs=quad_segs)
    return cache[edges]


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
    ``filled_holes_km2``, ``max_filled_hole_km2``, ``seconds`` (time to build it),
    ``geometry``.  See the module docstring for the construction and its guarantee.
    """
    if not buffer_m > 0:
        raise KmgisError(f"isochrone buffer width must be positive, got {buffer_m} m")
    simplify_m = float(min(max(simplify_m, 0.0), buffer_m / 2))
    if fill_holes_km2 < 0:
        raise KmgisError(f"fill_holes_km2 must be ≥ 0, got {fill_holes_km2}")
    budgets = sorted(float(b) for b in budgets)
    width = buffer_m - simplify_m
    rows = []
    prev_raw = None
    prev_full = np.zeros(net.n_edges, dtype=bool)
    for b in budgets:
        t0 = time.perf_counter()
        pieces = reached_pieces(net, node_cost, b, weight=weight, sources=sources)
        is_full = np.zeros(net.n_edges, dtype=bool)
        is_full[pieces.full_edges] = True
        new_full = np.flatnonzero(is_full & ~prev_full)
        cut = pieces.partial
        if simplify_m > 0 and len(cut):
            cut = shapely.simplify(cut, simplify_m, preserve_topology=False)
        parts = [_edge_buffers(net, new_full, buffer_m, simplify_m, quad_segs),
                 shapely.buffer(cut, width, quad_segs=quad_segs)]
        if prev_raw is not None:
            parts.append(np.array([prev_raw], dtype=object))
        geoms = np.concatenate(parts)
        raw = shapely.union_all(geoms) if len(geoms) else shapely.Polygon()
        filled = fill_holes(raw, fill_holes_km2 * 1e6)
        holes_total, holes_max = filled_hole_area_m2(raw, filled) if fill_holes_km2 > 0 else (0.0, 0.0)
        rows.append({
            "budget": b,
            "area_km2": round(float(filled.area) / 1e6, 3),
            "reached_km": round(pieces.reached_m / 1000, 3),
            "edges_full": int(is_full.sum()),
            "filled_holes_km2": round(holes_total / 1e6, 3),
            "max_filled_hole_km2": round(holes_max / 1e6, 4),
            "seconds": round(time.perf_counter() - t0, 3),
            "geometry": filled,
        })
        prev_raw, prev_full = raw, is_full
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
