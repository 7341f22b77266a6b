"""Road-network indicators (DESIGN §4): road density, intersection density, dead-end share.

Definitions
-----------
* **City roads** are the rows of the ``roads`` layer whose ``road_class`` has
  ``city_road: true`` in ``layers/road_classes.yaml`` (expressway, arterial, sub-arterial,
  branch — GB/T 51328 快速路/主干路/次干路/支路).  Compound-internal roads (``internal``,
  内部道路) are added only when asked (``include_internal=True``); paths never count.
* **Road density** (km/km²) is the centreline length of the city roads *clipped* to the
  area (the built-up area) divided by the area, both measured in a projected metric CRS.
* **Divided roads count once.**  A divided road mapped as two one-way ways (one per
  carriageway) would count twice; :func:`divided_carriageway_pairs` finds such pairs and
  flags one side of each to be discounted.  It needs ``oneway``: rows with unknown
  ``oneway`` (<NA>, e.g. every row of the Kunming road layer) are never paired, so a
  divided road digitised as two lines in such a layer counts twice.
* **A road digitised in two class layers counts once.**  Lines of a lower class that run
  within ``cross_class_gap_m`` (default 11 m) of, and parallel to, a line of a higher
  class are the same road drawn twice; :func:`cross_class_duplicates` finds those
  stretches (sampled every 10 m) and :func:`road_density` discounts them from the lower
  class.
* **Intersections** are nodes of the street network of the city roads
  (:func:`kmgis.network.build_network`) with at least 3 street segments, consolidated:
  junction nodes closer than ``consolidate_m`` are one intersection.  **Dead ends** are
  nodes with one street segment.

All lengths are metres internally and reported in km; areas in km².

Data note (measured on ``kunming_roads_kust``, the Kunming road layer): it has no
``oneway``, and same-class parallel lines within 40 m are almost absent (27 ways, 4 km of
23,700 km of city roads), so divided roads there are single lines.  But the layer merges
four separately digitised networks, and lines of *different* classes often run side by
side: within 11 m of a parallel higher-class line lie 2,171 km of the 7,082 km of
sub-arterial and 3,082 km of the 12,897 km of branch (within 5 m: 1,116 and 1,558 km).
Coordinates are rounded to 1e-4°, so copies of one road weave up to ~11 m apart; see
:func:`cross_class_duplicates` for the gap histogram behind the default.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from kmgis.config import load_layers_yaml
from kmgis.errors import KmgisError
from kmgis.indicators import Indicator, no_data
from kmgis.model import WGS84
from kmgis.network import build_network

AreaLike = shapely.Geometry | gpd.GeoSeries | gpd.GeoDataFrame

_TANGENT_HALF_M = 0.5  # local direction from the points ±0.5 m along the line

SAMPLE_STEP_M = 10.0
"""Spacing (m) of the points sampled along one-way ways to test carriageway pairing."""

PARALLEL_TOLERANCE_DEG = 30.0
"""Two ways are parallel at a sample when their local directions differ by at most this
angle (same direction) or by at least 180° minus it (opposite direction)."""

_END_EPS_M = 0.01  # a foot point closer than this to a line end is "at the end"

ROADS_INPUT = "roads"


# --------------------------------------------------------------------------- helpers


def _classes() -> dict[str, dict[str, Any]]:
    return load_layers_yaml("road_classes")["classes"]


def city_road_classes(*, include_internal: bool = False) -> list[str]:
    """The ``road_class`` values counted as city roads, in ``road_classes.yaml`` order."""
    out = [name for name, spec in _classes().items() if spec.get("city_road")]
    if include_internal:
        out.append("internal")
    return out


def _indicator_slug(road_class: str) -> str:
    """``sub-arterial`` → ``sub_arterial`` (ASCII ids with underscores)."""
    return road_class.replace("-", "_").replace(" ", "_")


def _metric(crs: pyproj.CRS | str | int) -> pyproj.CRS:
    out = pyproj.CRS.from_user_input(crs)
    if not out.is_projected:
        raise KmgisError(f"road indicators need a projected metric CRS (metres), got {out.to_string()}")
    return out


def _crs_text(crs: pyproj.CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


def _area_metric(area: AreaLike | None, crs: pyproj.CRS) -> shapely.Geometry | None:
    """``area`` (shapely geometry in WGS84, or a GeoSeries/GeoDataFrame in any CRS) in ``crs``.

    Returns None for a missing, empty or zero-area geometry.
    """
    if area is None:
        return None
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        if len(area) == 0:
            return None
        if area.crs is None:
            raise KmgisError("area has no CRS; set one (the built-up area is normally WGS84)")
        geom = gpd.GeoSeries(area.geometry, crs=area.crs).to_crs(crs).union_all()
    else:
        if not isinstance(area, shapely.Geometry):
            raise KmgisError(
                f"area must be a shapely (Multi)Polygon in WGS84 or a GeoDataFrame, got {type(area)}"
            )
        if area.is_empty:
            return None
        minx, miny, maxx, maxy = area.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise KmgisError(f"area polygon is not in WGS84 lon/lat degrees (bounds {area.bounds})")
        geom = gpd.GeoSeries([area], crs=WGS84).to_crs(crs).iloc[0]
    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = shapely.get_parts(geom)
    geom = shapely.union_all(parts[shapely.get_type_id(parts) == 3])
    if geom.is_empty or geom.area <= 0:
        return None
    shapely.prepare(geom)
    return geom


def _has_roads(roads: gpd.GeoDataFrame | None) -> bool:
    return roads is not None and len(roads) > 0 and "road_class" in roads.columns


def _oneway_sign(roads: gpd.GeoDataFrame) -> np.ndarray:
    """+1 (travel along the geometry), -1 (against it), 0 two-way or unknown, per row."""
    if "oneway" not in roads.columns:
        return np.zeros(len(roads), dtype=np.int8)
    ow = pd.to_numeric(roads["oneway"], errors="coerce").astype("Float64").fillna(0).to_numpy(dtype=float)
    return np.where(ow > 0, 1, np.where(ow < 0, -1, 0)).astype(np.int8)


def _metric_parts(roads: gpd.GeoDataFrame, crs: pyproj.CRS) -> tuple[np.ndarray, np.ndarray]:
    """Single LineString parts of every row in ``crs`` and the row position of each part."""
    geoms = np.asarray(roads.geometry.to_crs(crs).values)
    parts, row = shapely.get_parts(geoms, return_index=True)
    keep = ~shapely.is_empty(parts) & (shapely.length(parts) > 0)
    return parts[keep], row[keep]


def city_roads(roads: gpd.GeoDataFrame, *, include_internal: bool = False) -> gpd.GeoDataFrame:
    """The rows of ``roads`` counted as city roads (index kept, input order).

    City roads are the classes with ``city_road: true`` in ``layers/road_classes.yaml``
    (expressway, arterial, sub-arterial, branch); ``include_internal=True`` adds the
    ``internal`` class (compound-internal roads, 内部道路).  Paths never count.
    """
    if roads is None or len(roads) == 0 or "road_class" not in roads.columns:
        return roads.iloc[0:0] if roads is not None else gpd.GeoDataFrame(geometry=[], crs=WGS84)
    return roads[roads["road_class"].isin(city_road_classes(include_internal=include_internal))]


# --------------------------------------------------------------------------- divided carriageways


@dataclass(frozen=True)
class _Segments:
    """The straight segments of a set of line parts (metric), in part order then along it."""

    part: np.ndarray  # part of each segment
    x0: np.ndarray
    y0: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    length: np.ndarray  # > 0 (zero-length segments are dropped)
    start: np.ndarray  # distance (m) along the part to the segment's start
    part_len: np.ndarray  # length (m) of each part
    offset: np.ndarray  # start of each part with the parts laid end to end (m)
    end: np.ndarray  # end of each segment in that reckoning (non-decreasing)
    first: np.ndarray  # first segment of each part (parts without one: see ``of``)
    last: np.ndarray  # last segment of each part

    @staticmethod
    def of(lines: np.ndarray) -> _Segments:
        xy, idx = shapely.get_coordinates(lines, return_index=True)
        same = idx[1:] == idx[:-1]
        a, b, part = xy[:-1][same], xy[1:][same], idx[:-1][same]
        d = b - a
        seg_len = np.hypot(d[:, 0], d[:, 1])
        # distance along the part of each segment's start: cumulative sum restarted per part
        cum = np.cumsum(seg_len)
        first = np.r_[True, part[1:] != part[:-1]]
        base = np.maximum.accumulate(np.where(first, cum - seg_len, 0.0))
        start = cum - seg_len - base
        keep = seg_len > 0
        part_len = shapely.length(lines)
        offset = np.r_[0.0, np.cumsum(part_len)]  # parts laid end to end
        part, start, seg_len = part[keep], start[keep], seg_len[keep]
        return _Segments(
            part,
            a[keep, 0],
            a[keep, 1],
            d[keep, 0],
            d[keep, 1],
            seg_len,
            start,
            part_len,
            offset,
            offset[part] + start + seg_len,
            np.searchsorted(part, np.arange(len(lines)), side="left"),
            np.searchsorted(part, np.arange(len(lines)), side="right") - 1,
        )

    def locate(self, part: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segment holding each point ``pos`` metres along ``part``, and the point (x, y)."""
        k = np.searchsorted(self.end, self.offset[part] + pos, side="left")
        k = np.clip(k, self.first[part], self.last[part])
        u = np.clip((pos - self.start[k]) / self.length[k], 0.0, 1.0)
        return k, self.x0[k] + u * self.dx[k], self.y0[k] + u * self.dy[k]

    def tangent(self, part: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Unit direction (digitised order) of ``part`` at ``pos``: from the points ±0.5 m
        along it (clipped to its ends), so that at a vertex it is the mean of both sides."""
        top = self.part_len[part]
        _, xa, ya = self.locate(part, np.clip(pos - _TANGENT_HALF_M, 0.0, top))
        _, xb, yb = self.locate(part, np.clip(pos + _TANGENT_HALF_M, 0.0, top))
        v = np.column_stack([xb - xa, yb - ya])
        with np.errstate(invalid="ignore", divide="ignore"):
            return v / np.hypot(v[:, 0], v[:, 1])[:, None]


@dataclass(frozen=True)
class _Cover:
    """Per-sample nearest parallel partner of a set of line parts (see :func:`_parallel_cover`)."""

    sample_part: np.ndarray  # part of each covered sample
    sample_weight: np.ndarray  # length (m) each covered sample stands for
    sample_xy: np.ndarray  # (n, 2) coordinates of each covered sample
    partner_part: np.ndarray  # the nearest parallel (antiparallel when directed) part
    gap_m: np.ndarray  # distance sample → partner (m)

    @staticmethod
    def empty() -> _Cover:
        return _Cover(
            np.array([], int), np.array([], float), np.empty((0, 2)), np.array([], int), np.array([], float)
        )


PartnerRule = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``rule(i, j)`` → bool mask: may part ``j`` be the neighbour of a sample on part ``i``?"""


def _parallel_cover(
    lines: np.ndarray,
    partner_ok: PartnerRule,
    *,
    max_gap_m: float,
    sign: np.ndarray | None = None,
    sampled: np.ndarray | None = None,
    partners: np.ndarray | None = None,
    step_m: float = SAMPLE_STEP_M,
    tolerance_deg: float = PARALLEL_TOLERANCE_DEG,
) -> _Cover:
    """Samples of each part that have a parallel neighbour within ``max_gap_m``.

    The sampling machinery shared by :func:`divided_carriageway_pairs` and
    :func:`cross_class_duplicates`.  Every part (every ``sampled`` part, if given) is
    sampled every ``step_m`` metres (at the middle of equal intervals, each sample
    standing for its interval's length).  For a sample on part *i*, the candidate
    neighbours are the parts *j* allowed by ``partner_ok(i, j)`` (same class and another
    row; or a higher class; and among the ``partners`` parts, if given) within
    ``max_gap_m`` whose nearest point to the sample is
    *interior* to *j* (a perpendicular foot, not *j*'s end: a way continuing *i* end to
    end is no neighbour) and whose direction there is parallel to *i*'s (within
    ``tolerance_deg``, either way).  The nearest such *j* is the sample's neighbour.
    With ``sign`` (travel directions, +1 along the geometry, -1 against it) the sample is
    *covered* only when that neighbour runs opposite to *i* (carriageway pairs); without
    it every sample with a parallel neighbour is covered (duplicates; no one-way data).

    Vectorised on the parts' straight segments: samples and directions by numpy, the
    candidate pairs of segments by a shapely STRtree of their envelopes (grown by
    ``max_gap_m``), point–segment distances by numpy; no point geometries are made.
    Directions are taken from the points ±0.5 m along the line (at a vertex, the mean
    of both sides).
    """
    length = shapely.length(lines)
    sampled = np.ones(len(lines), dtype=bool) if sampled is None else np.asarray(sampled, dtype=bool)
    if len(lines) < 2 or not sampled.any():
        return _Cover.empty()
    segs = _Segments.of(lines)

    # samples: every step_m along each sampled part, located on its segments
    s_line = np.flatnonzero(sampled & (length > 0))
    n = np.maximum(1, np.ceil(length[s_line] / step_m)).astype(np.int64)
    s_part = np.repeat(s_line, n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    seg_w = (length[s_line] / n)[np.repeat(np.arange(len(s_line)), n)]
    s_pos = (k + 0.5) * seg_w
    s_seg, sx, sy = segs.locate(s_part, s_pos)

    # candidate pairs of segments (bounding boxes within the gap, the pair allowed), then
    # every sample of the first segment against the second
    g = max_gap_m
    x1, y1 = segs.x0 + segs.dx, segs.y0 + segs.dy
    lo_xy = np.minimum(segs.x0, x1), np.minimum(segs.y0, y1)
    hi_xy = np.maximum(segs.x0, x1), np.maximum(segs.y0, y1)
    first_s = np.searchsorted(s_seg, np.arange(len(segs.part)), side="left")
    n_s = np.searchsorted(s_seg, np.arange(len(segs.part)), side="right") - first_s
    has = np.flatnonzero(n_s > 0)
    cand = np.arange(len(segs.part)) if partners is None else np.flatnonzero(partners[segs.part])
    grown = shapely.box(lo_xy[0][cand] - g, lo_xy[1][cand] - g, hi_xy[0][cand] + g, hi_xy[1][cand] + g)
    own = shapely.box(lo_xy[0][has], lo_xy[1][has], hi_xy[0][has], hi_xy[1][has])
    qa, qc = shapely.STRtree(grown).query(own)
    a, c = has[qa], cand[qc]
    keep = partner_ok(segs.part[a], segs.part[c])
    a, c = a[keep], c[keep]
    cnt = n_s[a]
    rep = np.repeat(np.arange(len(a)), cnt)
    s_idx = first_s[a][rep] + (np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    c = c[rep]
    j = segs.part[c]
    # point–segment distance and foot point
    w = np.clip(
        ((sx[s_idx] - segs.x0[c]) * segs.dx[c] + (sy[s_idx] - segs.y0[c]) * segs.dy[c]) / segs.length[c] ** 2,
        0.0,
        1.0,
    )
    gap = np.hypot(sx[s_idx] - segs.x0[c] - w * segs.dx[c], sy[s_idx] - segs.y0[c] - w * segs.dy[c])
    near = gap <= g
    s_idx, c, j, w, gap = s_idx[near], c[near], j[near], w[near], gap[near]
    if len(s_idx) == 0:
        return _Cover.empty()
    # the nearest point of each candidate part (its nearest segment), interior to the part
    order = np.lexsort((c, gap, j, s_idx))
    s_idx, c, j, w, gap = s_idx[order], c[order], j[order], w[order], gap[order]
    first = np.r_[True, (s_idx[1:] != s_idx[:-1]) | (j[1:] != j[:-1])]
    s_idx, c, j, w, gap = s_idx[first], c[first], j[first], w[first], gap[first]
    t = segs.start[c] + w * segs.length[c]
    interior = (t > _END_EPS_M) & (t < length[j] - _END_EPS_M)
    s_idx, j, gap, t = s_idx[interior], j[interior], gap[interior], t[interior]
    # parallel at the sample and the foot point
    i = s_part[s_idx]
    cos = np.einsum("ij,ij->i", segs.tangent(i, s_pos[s_idx]), segs.tangent(j, t))
    if sign is not None:
        cos = cos * sign[i] * sign[j]
    cos_tol = math.cos(math.radians(tolerance_deg))
    parallel = np.abs(cos) >= cos_tol
    s_idx, j, cos, gap = s_idx[parallel], j[parallel], cos[parallel], gap[parallel]
    if len(s_idx) == 0:
        return _Cover.empty()
    order = np.lexsort((j, gap, s_idx))  # nearest neighbour per sample (ties: lowest part)
    s_idx, j, cos, gap = s_idx[order], j[order], cos[order], gap[order]
    first = np.r_[True, s_idx[1:] != s_idx[:-1]]
    s_idx, j, cos, gap = s_idx[first], j[first], cos[first], gap[first]
    covered = cos <= -cos_tol if sign is not None else np.ones(len(s_idx), dtype=bool)
    s_idx, j, gap = s_idx[covered], j[covered], gap[covered]
    return _Cover(s_part[s_idx], seg_w[s_idx], np.column_stack([sx[s_idx], sy[s_idx]]), j, gap)


@dataclass(frozen=True)
class _DividedResult:
    """What :func:`divided_carriageway_pairs` found (``discount`` is index-aligned)."""

    discount: pd.Series
    paired: pd.Series  # ways with ≥ min_overlap of their length beside an opposite carriageway
    pairs: int  # divided road stretches (connected groups of paired ways)
    candidates: int  # one-way ways examined
    conflicts: int  # pair links between ways put on the same side (odd cycles); 0 normally


def _divided(
    roads: gpd.GeoDataFrame, crs: pyproj.CRS, max_gap_m: float, min_overlap: float
) -> _DividedResult:
    n_rows = len(roads)
    false = pd.Series(np.zeros(n_rows, dtype=bool), index=roads.index)
    none = _DividedResult(false, false.copy(), 0, 0, 0)
    if n_rows == 0 or "road_class" not in roads.columns:
        return none
    sign = _oneway_sign(roads)
    classes = city_road_classes(include_internal=True)
    cls = roads["road_class"].astype(object).to_numpy()
    cand = (sign != 0) & pd.Series(cls).isin(classes).to_numpy()
    n_cand = int(cand.sum())
    if n_cand < 2:
        return _DividedResult(false, false.copy(), 0, n_cand, 0)
    cand_pos = np.flatnonzero(cand)
    lines, part_row = _metric_parts(roads.iloc[cand_pos], crs)
    row = cand_pos[part_row]  # row position in ``roads`` of each part
    group = pd.factorize(pd.Series(cls[row]))[0]
    cover = _parallel_cover(
        lines,
        lambda i, j: (row[j] != row[i]) & (group[j] == group[i]),
        max_gap_m=max_gap_m,
        sign=sign[row],
    )

    row_len = np.bincount(row, weights=shapely.length(lines), minlength=n_rows)
    covered = np.bincount(row[cover.sample_part], weights=cover.sample_weight, minlength=n_rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(row_len > 0, covered / row_len, 0.0)
    paired = share >= min_overlap

    # links between a paired way and the ways beside it; the two sides of a divided road
    # are the two colours of each connected group (parity of the BFS depth)
    a, b = row[cover.sample_part], row[cover.partner_part]
    link = paired[a]
    a, b = a[link], b[link]
    if len(a) == 0:
        return _DividedResult(false, pd.Series(paired, index=roads.index), 0, n_cand, 0)
    ab = np.unique(np.sort(np.column_stack([a, b]), axis=1), axis=0)
    adj = sp.coo_array((np.ones(len(ab)), (ab[:, 0], ab[:, 1])), shape=(n_rows + 1, n_rows + 1)).tocsr()
    involved = np.zeros(n_rows, dtype=bool)
    involved[ab.ravel()] = True
    _, comp = connected_components(adj[:n_rows, :n_rows], directed=False)
    inv_pos = np.flatnonzero(involved)
    comp_ids, first_idx = np.unique(comp[inv_pos], return_index=True)  # root = lowest row
    roots = inv_pos[first_idx]
    super_links = sp.coo_array(
        (np.ones(len(roots)), (np.full(len(roots), n_rows), roots)), shape=(n_rows + 1, n_rows + 1)
    ).tocsr()
    depth = dijkstra(adj + super_links, directed=False, indices=n_rows, unweighted=True)[:n_rows]
    parity = np.zeros(n_rows, dtype=np.int64)
    parity[inv_pos] = (depth[inv_pos].astype(np.int64) - 1) % 2
    conflicts = int((parity[ab[:, 0]] == parity[ab[:, 1]]).sum())

    # per group: discount the side with less total length; on a tie the side without the
    # group's lowest row (the "second" carriageway)
    comp_index = np.searchsorted(comp_ids, comp[inv_pos])
    side_len = np.zeros((len(comp_ids), 2))
    np.add.at(side_len, (comp_index, parity[inv_pos]), row_len[inv_pos])
    discount_side = np.where(side_len[:, 1] <= side_len[:, 0], 1, 0)
    flag = np.zeros(n_rows, dtype=bool)
    flag[inv_pos] = (parity[inv_pos] == discount_side[comp_index]) & paired[inv_pos]
    return _DividedResult(
        pd.Series(flag, index=roads.index),
        pd.Series(paired, index=roads.index),
        int(len(comp_ids)),
        n_cand,
        conflicts,
    )


def divided_carriageway_pairs(
    roads: gpd.GeoDataFrame,
    crs: pyproj.CRS | str,
    *,
    max_gap_m: float = 40.0,
    min_overlap: float = 0.6,
) -> pd.Series:
    """Flag the second carriageway of divided roads mapped as two one-way ways.

    Returns a boolean Series aligned to ``roads.index``: True for the ways to discount.

    Method (in the metric ``crs``, metres):

    1. Candidates are the one-way ways (``oneway`` 1 or -1; -1 means travel against the
       digitised direction) of the city-road classes and ``internal``.  Two-way (0) and
       unknown (<NA>) ways are never paired, so in a layer without one-way data (the
       Kunming road layer) a divided road digitised as two lines counts twice.
    2. Each candidate is sampled every :data:`SAMPLE_STEP_M` m.  A sample is *beside an
       opposite carriageway* when its nearest parallel one-way way of the same class
       within ``max_gap_m`` (found with a shapely STRtree; parallel = local directions
       within :data:`PARALLEL_TOLERANCE_DEG`, foot point inside that way, not at its end)
       runs the opposite way.  A slip road or a second same-direction lane drawn between
       the carriageways is the nearest parallel way there and blocks the pairing.
    3. A way is *paired* when at least ``min_overlap`` of its length is beside an opposite
       carriageway.
    4. Paired ways and the ways beside them form groups (a divided road, however its two
       carriageways are split into ways); the two sides of each group are the two colours
       of a breadth-first colouring.  The paired ways of the side with less total length
       are flagged (tie: the side not holding the group's first row, so of two equal
       carriageways the later one is discounted).

    Whole ways are flagged: a paired way's part that is not beside the other carriageway
    (at most ``1 - min_overlap`` of it) is discounted with it.
    """
    crs = _metric(crs)
    if max_gap_m <= 0:
        raise KmgisError(f"max_gap_m must be positive, got {max_gap_m}")
    if not 0 < min_overlap <= 1:
        raise KmgisError(f"min_overlap must be in (0, 1], got {min_overlap}")
    return _divided(roads, crs, max_gap_m, min_overlap).discount


# --------------------------------------------------------------------------- cross-class duplicates


CROSS_CLASS_GAP_M = 11.0
"""Default ``max_gap_m`` of :func:`cross_class_duplicates` (chosen from the Kunming gap
histogram, see there)."""


def _class_rank() -> dict[str, int]:
    """Class → rank, 0 = highest (``road_classes.yaml`` order: expressway first)."""
    return {name: k for k, name in enumerate(_classes())}


@dataclass(frozen=True)
class _CrossResult:
    """Covered samples of :func:`cross_class_duplicates`, with the row of each part."""

    cover: _Cover
    part_row: np.ndarray  # row position in ``roads`` of each part

    @property
    def sample_row(self) -> np.ndarray:
        return self.part_row[self.cover.sample_part]


def _cross_class(
    roads: gpd.GeoDataFrame,
    crs: pyproj.CRS,
    max_gap_m: float,
    parallel_deg: float,
    sample_m: float,
    within: shapely.Geometry | None = None,
) -> _CrossResult:
    """Covered samples of the lower-class lines; only lines touching ``within`` are sampled."""
    n_rows = len(roads)
    none = _CrossResult(_Cover.empty(), np.array([], int))
    if n_rows == 0 or "road_class" not in roads.columns:
        return none
    rank_of = _class_rank()
    eligible = city_road_classes(include_internal=True)  # paths (footways, sidewalks) never
    cls = roads["road_class"].astype(object).to_numpy()
    cand = pd.Series(cls).isin(eligible).to_numpy()
    if len(set(cls[cand])) < 2:
        return none
    cand_pos = np.flatnonzero(cand)
    lines, part_row = _metric_parts(roads.iloc[cand_pos], crs)
    row = cand_pos[part_row]
    rank = np.array([rank_of[c] for c in cls[row]], dtype=np.int64)
    sampled = rank > rank.min()  # the highest class present has no higher line beside it
    partners = rank < rank.max()  # the lowest class is no line's partner
    if within is not None:
        touch = np.zeros(len(lines), dtype=bool)
        touch[shapely.STRtree(lines).query(within, predicate="intersects")] = True
        sampled &= touch
    cover = _parallel_cover(
        lines,
        lambda i, j: rank[j] < rank[i],
        max_gap_m=max_gap_m,
        sampled=sampled,
        partners=partners,
        step_m=sample_m,
        tolerance_deg=parallel_deg,
    )
    return _CrossResult(cover, row)


def _check_cross(max_gap_m: float, parallel_deg: float, sample_m: float) -> None:
    if max_gap_m <= 0:
        raise KmgisError(f"cross-class max_gap_m must be positive, got {max_gap_m}")
    if not 0 < parallel_deg < 90:
        raise KmgisError(f"parallel_deg must be in (0, 90), got {parallel_deg}")
    if sample_m <= 0:
        raise KmgisError(f"sample_m must be positive, got {sample_m}")


def cross_class_duplicates(
    roads: gpd.GeoDataFrame,
    crs: pyproj.CRS | str,
    *,
    max_gap_m: float = CROSS_CLASS_GAP_M,
    parallel_deg: float = PARALLEL_TOLERANCE_DEG,
    sample_m: float = SAMPLE_STEP_M,
) -> pd.Series:
    """Metres of each line that duplicate a line of a higher class (index-aligned floats).

    A road digitised in two class layers (the Kunming road layer merges four separate
    networks: 主干路, 次干路, 支路, 内部道路) appears as two near-coincident parallel
    lines of different classes.  Two physical roads cannot run a few metres apart (a lane
    is 3.5 m wide), so such a stretch is one road: the higher class keeps its length, the
    lower class's length there is returned here (to be discounted).

    Method (in the metric ``crs``): each line of the city-road classes and ``internal``
    is sampled every ``sample_m`` metres (the :func:`divided_carriageway_pairs` machinery,
    shapely STRtree).  A sample is a duplicate when a line of a *higher* class
    (``road_classes.yaml`` order: expressway > arterial > sub-arterial > branch >
    internal) lies within ``max_gap_m`` with its nearest point interior to that line (not
    its end) and its direction there within ``parallel_deg`` of the sample's (either way;
    no one-way data needed).  Each duplicate sample contributes the length it stands for
    (≈ ``sample_m``), so a stretch is found to about ± ``sample_m``.  Lines of equal
    class are never discounted here (that is :func:`divided_carriageway_pairs`); paths
    never (a sidewalk beside its road is not the road).  Where a lower-class line meets a
    higher-class one at an angle below ``parallel_deg``, up to ``max_gap_m`` / sin(angle)
    of it next to the junction counts as duplicate (22 m at 30°, 11 m gap): on the
    Helsinki OSM sample, where each street is drawn once, 0.12 km of 21.3 km.

    Default gap (:data:`CROSS_CLASS_GAP_M` = 11 m), from the whole Kunming layer: the gap
    from each 10 m sample of a sub-arterial or branch line to its nearest parallel
    higher-class line, km of line per 1 m bin [k, k + 1) (23,700 km of city roads)::

        gap m  0    1    2    3    4    5    6    7    8    9   10   11 | 12   13   14   15
        km    702  508  502  486  475  440  430  454  400  406  448  411 | 331  321  337  268
        gap m 16   17   18   19   20   21   22   23   24   25   26   27   28   29
        km    261  252  237  230  255  191  253  156  148  132  123  116  105  111

    A spike at 0 m (copies with identical vertices), a plateau to 11.5 m, then a drop of a
    fifth and a slow decline.  The plateau is not ±5 m wide: two copies of one road,
    each with its vertices rounded to the 1e-4° grid on its own (and vertices ~90 m
    apart, so chords cut curves), differ by up to one grid step, 10.1 m east–west and
    11.1 m north–south at 25° N.  Such copies weave around each other (gap 0 → 20 m →
    0 along the same pair).  Line pairs that never come within 5 m of each other (likely
    separate roads) have median gaps of 14–23 m; 11 m takes 16 % of their length,
    5 m 1 %.  But 5 m takes only 34 % of the length of pairs that touch (gap < 2 m
    somewhere over ≥ 200 m), 11 m 63 %: neither removes all the double counting.  On the
    whole layer 11 m flags 2,171 km of 7,082 km of sub-arterial and 3,082 km of
    12,897 km of branch (5 m: 1,116 and 1,558 km).  And a separate road hardly fits
    there: a four-lane sub-arterial is ~15 m wide, so a two-lane road (half-width 3.5 m)
    whose centreline is 11 m from the sub-arterial's would touch its kerb.
    """
    crs = _metric(crs)
    _check_cross(max_gap_m, parallel_deg, sample_m)
    res = _cross_class(roads, crs, max_gap_m, parallel_deg, sample_m)
    out = np.bincount(res.sample_row, weights=res.cover.sample_weight, minlength=len(roads))
    return pd.Series(out[: len(roads)], index=roads.index, dtype=float)


# --------------------------------------------------------------------------- road density


def _clipped_length_m(geoms: np.ndarray, area: shapely.Geometry) -> np.ndarray:
    """Length (m) of each metric geometry inside ``area`` (prepared polygon)."""
    out = np.zeros(len(geoms))
    if len(geoms) == 0:
        return out
    tree = shapely.STRtree(geoms)
    hit = np.unique(tree.query(area, predicate="intersects"))
    if len(hit) == 0:
        return out
    within = shapely.within(geoms[hit], area)
    out[hit[within]] = shapely.length(geoms[hit[within]])
    part = hit[~within]
    out[part] = shapely.length(shapely.intersection(geoms[part], area))
    return out


def road_density(
    roads: gpd.GeoDataFrame | None,
    area: AreaLike | None,
    crs: pyproj.CRS | str,
    *,
    include_internal: bool = False,
    dedupe_divided: bool = True,
    max_gap_m: float = 40.0,
    min_overlap: float = 0.6,
    dedupe_cross_class: bool = True,
    cross_class_gap_m: float = CROSS_CLASS_GAP_M,
    scope: str = "built-up area",
) -> list[Indicator]:
    """Road-network density of the city roads inside ``area`` (km/km²), total and per class.

    Parameters
    ----------
    roads : the ``roads`` layer (WGS84); give roads beyond the area too (a halo), they are
        clipped here.
    area : the area (normally the built-up area): a shapely (Multi)Polygon in WGS84, or a
        GeoDataFrame/GeoSeries in any CRS.
    crs : projected metric CRS for lengths and areas (e.g. EPSG:32648 or EPSG:4543).
    include_internal : count compound-internal roads (``internal``) as city roads.
    dedupe_divided : discount the second carriageway of divided roads
        (:func:`divided_carriageway_pairs` with ``max_gap_m``, ``min_overlap``).
    dedupe_cross_class : discount the length of lower-class lines that run within
        ``cross_class_gap_m`` of, and parallel to, a higher-class line (the same road
        digitised in two class layers; :func:`cross_class_duplicates`).  Only the
        duplicated samples inside the area are discounted (each stands for ≈
        :data:`SAMPLE_STEP_M` m, so a duplicate stretch cut by the area's edge is right to
        about half a sample); a way already discounted whole as a second carriageway is
        not discounted again.
    scope : text for the records' ``scope``.

    Returns
    -------
    ``road_density_km_per_km2`` (centreline km of city roads clipped to the area, less
    the discounts, ÷ area km²); one ``road_density_<class>_km_per_km2`` per city-road
    class present in the input (``road_density_sub_arterial_km_per_km2`` …; they sum to
    the total); ``road_length_km`` (the counted length, km).  ``params`` record the area
    (km²), the CRS, ``include_internal``, ``dedupe_divided``, the divided pairs found
    (groups of paired carriageways), the ways and km discounted inside the area,
    ``dedupe_cross_class`` with its gap and the km discounted as cross-class duplicates
    (total and ``cross_class_km_discounted_<class>``), the clipped length before
    de-duplication (``length_before_dedupe_km``), after the divided-carriageway step
    (``length_before_cross_class_km``) and after both (``length_after_dedupe_km`` =
    ``road_length_km``), the whole length of the ways touching the area (km, what
    whole-edge counting as in OSMnx would give), and the share of city-road length whose
    one-way status is unknown (where divided roads cannot be detected and may count
    twice).  With no roads, no city roads or no area, ``no_data`` records name what to
    supply.
    """
    crs = _metric(crs)
    ids = [("road_density_km_per_km2", "km/km²"), ("road_length_km", "km")]
    base = {
        "include_internal": include_internal,
        "dedupe_divided": dedupe_divided,
        "dedupe_cross_class": dedupe_cross_class,
        "crs": _crs_text(crs),
    }
    if dedupe_cross_class:
        _check_cross(cross_class_gap_m, PARALLEL_TOLERANCE_DEG, SAMPLE_STEP_M)
        base["cross_class_gap_m"] = cross_class_gap_m
    if not _has_roads(roads):
        return [no_data(i, u, scope, ROADS_INPUT, **base) for i, u in ids]
    city = city_roads(roads, include_internal=include_internal)
    if len(city) == 0:
        what = f"{ROADS_INPUT} (with city-road classes: {', '.join(city_road_classes(include_internal=include_internal))})"
        return [no_data(i, u, scope, what, **base) for i, u in ids]
    area_m = _area_metric(area, crs)
    if area_m is None:
        return [no_data(i, u, scope, "built-up area polygon", **base) for i, u in ids]
    area_km2 = area_m.area / 1e6

    if dedupe_divided:
        div = _divided(city, crs, max_gap_m, min_overlap)
        discount = div.discount.to_numpy()
    else:
        div = None
        discount = np.zeros(len(city), dtype=bool)

    parts, part_row = _metric_parts(city, crs)
    part_len = _clipped_length_m(parts, area_m)
    row_len = np.bincount(part_row, weights=part_len, minlength=len(city))
    row_full = np.bincount(part_row, weights=shapely.length(parts), minlength=len(city))
    touches = row_len > 0
    after_divided = np.where(discount, 0.0, row_len)

    # cross-class duplicates: the duplicated samples inside the area, per row
    cross_row = np.zeros(len(city))
    if dedupe_cross_class:
        cross = _cross_class(
            city, crs, cross_class_gap_m, PARALLEL_TOLERANCE_DEG, SAMPLE_STEP_M, within=area_m
        )
        xy = cross.cover.sample_xy
        inside = shapely.contains_xy(area_m, xy[:, 0], xy[:, 1])
        cross_row = np.bincount(
            cross.sample_row[inside], weights=cross.cover.sample_weight[inside], minlength=len(city)
        )
        cross_row = np.minimum(cross_row, after_divided)  # never more than what is counted
    counted = after_divided - cross_row

    cls = city["road_class"].astype(object).to_numpy()
    order = city_road_classes(include_internal=include_internal)
    present = [c for c in order if (cls == c).any()]
    by_class = {c: float(counted[cls == c].sum()) / 1000 for c in present}
    total_km = float(counted.sum()) / 1000
    unknown = _oneway_sign(city) == 0
    if "oneway" in city.columns:
        unknown &= city["oneway"].isna().to_numpy()
    params = base | {
        "area_km2": area_km2,
        "length_before_dedupe_km": float(row_len.sum()) / 1000,
        "length_before_cross_class_km": float(after_divided.sum()) / 1000,
        "length_after_dedupe_km": total_km,
        "length_whole_ways_km": float(row_full[touches].sum()) / 1000,
        "divided_pairs": div.pairs if div else None,
        "divided_ways_discounted": int((discount & touches).sum()),
        "divided_km_discounted": float(row_len[discount].sum()) / 1000,
        "oneway_unknown_share_pct": round(
            100 * float(row_len[unknown].sum()) / max(float(row_len.sum()), 1e-12), 3
        ),
    }
    if div is not None:
        params |= {"divided_max_gap_m": max_gap_m, "divided_min_overlap": min_overlap}
    if dedupe_cross_class:
        params |= {
            "cross_class_parallel_deg": PARALLEL_TOLERANCE_DEG,
            "cross_class_sample_m": SAMPLE_STEP_M,
            "cross_class_km_discounted": float(cross_row.sum()) / 1000,
        } | {
            f"cross_class_km_discounted_{_indicator_slug(c)}": float(cross_row[cls == c].sum()) / 1000
            for c in present
        }
    classes_txt = ", ".join(order)
    dedupe_txt = (
        f"the second carriageway of divided roads (one-way pairs within {max_gap_m:g} m, "
        f"≥{min_overlap:.0%} overlap) discounted: {params['divided_ways_discounted']} ways, "
        f"{params['divided_km_discounted']:.3f} km"
        if dedupe_divided
        else "divided carriageways not de-duplicated (each one-way carriageway counts)"
    )
    if dedupe_cross_class:
        per_class = ", ".join(
            f"{c} {params[f'cross_class_km_discounted_{_indicator_slug(c)}']:.3f} km"
            for c in present
            if params[f"cross_class_km_discounted_{_indicator_slug(c)}"] > 0
        )
        cross_txt = (
            f"; lines of a lower class within {cross_class_gap_m:g} m of and parallel "
            f"(±{PARALLEL_TOLERANCE_DEG:g}°) to a higher-class line are the same road digitised twice; "
            "their length counted once (with the higher class): "
            f"{params['cross_class_km_discounted']:.3f} km "
            f"discounted{f' ({per_class})' if per_class else ''}, sampled every {SAMPLE_STEP_M:g} m"
        )
    else:
        cross_txt = (
            "; cross-class near-duplicates not removed (a road digitised in two class layers counts twice)"
        )
    unknown_txt = (
        f"; one-way status unknown for {params['oneway_unknown_share_pct']:.1f}% of the length, where "
        "divided roads digitised as two lines count twice"
        if params["oneway_unknown_share_pct"] > 0
        else ""
    )
    method = (
        f"centreline length of city roads ({classes_txt}) clipped to the area ÷ area, in "
        f"{_crs_text(crs)}; {dedupe_txt}{cross_txt}{unknown_txt}"
    )
    inputs = (ROADS_INPUT, "area")
    out = [Indicator("road_density_km_per_km2", total_km / area_km2, "km/km²", scope, method, inputs, params)]
    for c in present:
        out.append(
            Indicator(
                f"road_density_{_indicator_slug(c)}_km_per_km2",
                by_class[c] / area_km2,
                "km/km²",
                scope,
                f"as road_density_km_per_km2, class {c} only",
                inputs,
                params | {"road_class": c, "length_km": by_class[c]},
            )
        )
    out.append(Indicator("road_length_km", total_km, "km", scope, method, inputs, params))
    return out


# --------------------------------------------------------------------------- junctions


@dataclass(frozen=True)
class StreetNodes:
    """Street-network nodes for the intersection and dead-end indicators (metric CRS).

    ``degree``: street segments per node (self-loops once, as OSMnx's ``street_count``);
    ``dead_end``: degree-1 nodes inside the area; ``junction_*``: consolidated junctions
    (clusters of degree ≥ 3 nodes) with their merged degree and centroid, inside flag.
    """

    degree: np.ndarray
    node_inside: np.ndarray
    junction_degree: np.ndarray
    junction_inside: np.ndarray
    raw_junctions_inside: int
    summary: dict

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
    ``area_m`` is a polygon in ``crs``.
    """
    city = city_roads(roads, include_internal=include_internal).copy()
    city["drive"] = pd.array(np.ones(len(city), dtype=bool), dtype="boolean")
    net = build_network(city, "drive", crs, keep_all_components=True)
    n = net.n_nodes
    u, v = net.edge_u, net.edge_v
    degree = net.node_degree()
    node_inside = shapely.contains_xy(area_m, net.node_x, net.node_y)

    junction = np.flatnonzero(degree >= 3)
    label = np.arange(len(junction))
    if consolidate_m > 0 and len(junction) > 1:
        xy = np.column_stack([net.node_x[junction], net.node_y[junction]])
        pairs = cKDTree(xy).query_pairs(r=consolidate_m, output_type="ndarray")
        if len(pairs):
            adj = sp.coo_array(
                (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(junction), len(junction))
            )
            _, label = connected_components(adj, directed=False)
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
    )


def _junction_inputs(
    roads: gpd.GeoDataFrame | None, area: AreaLike | None, crs: pyproj.CRS, include_internal: bool
) -> tuple[shapely.Geometry | None, str | None]:
    """(area in crs, None) or (None, what to supply)."""
    if not _has_roads(roads):
        return None, ROADS_INPUT
    if len(city_roads(roads, include_internal=include_internal)) == 0:
        return (
            None,
            f"{ROADS_INPUT} (with city-road classes: {', '.join(city_road_classes(include_internal=include_internal))})",
        )
    area_m = _area_metric(area, crs)
    if area_m is None:
        return None, "built-up area polygon"
    return area_m, None


def _street_node_setup(
    roads: gpd.GeoDataFrame | None, area: AreaLike | None, crs: pyproj.CRS | str, consolidate_m: float,
    include_internal: bool,
) -> tuple[pyproj.CRS, dict[str, Any], shapely.Geometry | None, StreetNodes | None]:
    """Shared start of the node indicators: metric CRS, parameters, area in metres, street nodes.

    Without usable inputs the nodes are None and ``params["missing"]`` names what to supply.
    """
    crs = _metric(crs)
    if consolidate_m < 0:
        raise KmgisError(f"consolidate_m must be ≥ 0, got {consolidate_m}")
    params: dict[str, Any] = {
        "consolidate_m": consolidate_m,
        "include_internal": include_internal,
        "crs": _crs_text(crs),
    }
    area_m, missing = _junction_inputs(roads, area, crs, include_internal)
    if area_m is None:
        return crs, params | {"missing": missing or ROADS_INPUT}, None, None
    nodes = street_nodes(roads, area_m, crs, consolidate_m=consolidate_m, include_internal=include_internal)
    return crs, params, area_m, nodes


def street_node_indicators(
    roads: gpd.GeoDataFrame | None,
    area: AreaLike | None,
    crs: pyproj.CRS | str,
    *,
    consolidate_m: float = 10.0,
    include_internal: bool = False,
    scope: str = "built-up area",
) -> list[Indicator]:
    """[:func:`intersection_density`, :func:`dead_end_share`] from one :func:`street_nodes` computation."""
    crs, params, area_m, nodes = _street_node_setup(roads, area, crs, consolidate_m, include_internal)
    return [_intersection_density_of(nodes, area_m, crs, dict(params), consolidate_m, scope),
            _dead_end_share_of(nodes, crs, dict(params), consolidate_m, scope)]


def intersection_density(
    roads: gpd.GeoDataFrame | None,
    area: AreaLike | None,
    crs: pyproj.CRS | str,
    *,
    consolidate_m: float = 10.0,
    include_internal: bool = False,
    scope: str = "built-up area",
) -> Indicator:
    """``intersection_density_per_km2``: consolidated intersections inside ``area`` per km².

    Intersections are junctions of the city-road street network with merged degree ≥ 3
    (see :func:`street_nodes`: junction nodes within ``consolidate_m`` metres merge, single
    linkage), counted when the junction's centroid lies inside ``area``.  Give roads
    beyond the area (a halo) so that degrees at its edge are right.  Divided roads are not
    de-duplicated here: a street crossing a divided road with carriageways farther apart
    than ``consolidate_m`` makes two intersections.  Note that OSMnx's ``tolerance`` is a
    buffer *radius* (nodes up to 2 × tolerance apart merge), ours a distance.
    """
    return street_node_indicators(roads, area, crs, consolidate_m=consolidate_m, include_internal=include_internal,
                                  scope=scope)[0]


def dead_end_share(
    roads: gpd.GeoDataFrame | None,
    area: AreaLike | None,
    crs: pyproj.CRS | str,
    *,
    consolidate_m: float = 10.0,
    include_internal: bool = False,
    scope: str = "built-up area",
) -> Indicator:
    """``dead_end_share_pct``: dead ends as a share (%) of the street-network nodes in ``area``.

    Nodes are those of a simplified street network: degree-1 nodes (dead ends) plus the
    consolidated intersections of :func:`intersection_density` (degree-2 nodes, where
    one way merely continues another, are not street nodes).  Share = dead ends ÷ (dead
    ends + intersections) × 100, both inside ``area``.  Ends of roads cut by the data's
    extent look like dead ends: give roads with a halo around the area.
    """
    return street_node_indicators(roads, area, crs, consolidate_m=consolidate_m, include_internal=include_internal,
                                  scope=scope)[1]


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
        f"in {_crs_text(crs)}"
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
        f"network inside the area × 100 (junctions merged within {consolidate_m:g} m), in {_crs_text(crs)}"
    )
    value = 100.0 * nodes.dead_ends / total if total else None
    if value is None:
        return no_data(
            ind, unit, scope, "roads (no street-network nodes inside the area)", method=method, **params
        )
    return Indicator(ind, value, unit, scope, method, (ROADS_INPUT, "area"), params)
