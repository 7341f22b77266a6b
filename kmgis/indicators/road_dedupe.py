"""Road lines that count once although drawn twice: divided carriageways and cross-class duplicates.

* **Divided roads count once.**  A divided road mapped as two one-way ways (one per
  carriageway) would count twice; :func:`divided_carriageway_pairs` finds such pairs and
  flags one side of each to be discounted.  It needs ``oneway``: rows with unknown
  ``oneway`` (<NA>, e.g. every row of the Kunming road layer) are never paired, so a
  divided road digitised as two lines in such a layer counts twice.
* **A road digitised in two class layers counts once.**  Lines of a lower class that run
  within ``cross_class_gap_m`` (default 11 m) of, and parallel to, a line of a higher
  class are the same road drawn twice; :func:`cross_class_duplicates` finds those
  stretches (sampled every 10 m) and :func:`kmgis.indicators.roads.road_density`
  discounts them from the lower class.

Both rest on one sampling machinery (:func:`_parallel_cover`): each line is sampled every
:data:`SAMPLE_STEP_M` metres and each sample's nearest parallel neighbour line is found.
All lengths and distances are metres, in a projected metric CRS.

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

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components, dijkstra

from kmgis.errors import KmgisError
from kmgis.geom import projected_crs
from kmgis.indicators.road_layer import (
    CLASS_RANK,
    ROAD_INDICATORS,
    city_road_classes,
    line_parts_m,
    oneway_sign,
)

_TANGENT_HALF_M = 0.5  # local direction from the points ±0.5 m along the line

SAMPLE_STEP_M = 10.0
"""Spacing (m) of the points sampled along one-way ways to test carriageway pairing."""

PARALLEL_TOLERANCE_DEG = 30.0
"""Two ways are parallel at a sample when their local directions differ by at most this
angle (same direction) or by at least 180° minus it (opposite direction)."""

_END_EPS_M = 0.01  # a foot point closer than this to a line end is "at the end"

CROSS_CLASS_GAP_M = 11.0
"""Default ``max_gap_m`` of :func:`cross_class_duplicates` (chosen from the Kunming gap
histogram, see there)."""


# --------------------------------------------------------------------------- parallel-cover sampling


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



@dataclass(frozen=True)
class _Samples:
    """Points sampled along line parts (metric), in part order then along each part."""

    part: np.ndarray  # part of each sample
    pos: np.ndarray  # distance (m) along its part
    weight: np.ndarray  # length (m) the sample stands for
    seg: np.ndarray  # segment of :class:`_Segments` holding the sample (non-decreasing)
    x: np.ndarray  # coordinates (m)
    y: np.ndarray

    @staticmethod
    def along(segs: _Segments, sampled: np.ndarray, step_m: float) -> _Samples:
        """Every ``sampled`` part cut into equal intervals of at most ``step_m`` metres, one
        sample at the middle of each interval."""
        length = segs.part_len
        s_line = np.flatnonzero(sampled & (length > 0))
        n = np.maximum(1, np.ceil(length[s_line] / step_m)).astype(np.int64)
        s_part = np.repeat(s_line, n)
        k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        seg_w = (length[s_line] / n)[np.repeat(np.arange(len(s_line)), n)]
        s_pos = (k + 0.5) * seg_w
        s_seg, sx, sy = segs.locate(s_part, s_pos)
        return _Samples(s_part, s_pos, seg_w, s_seg, sx, sy)


def _sample_segment_pairs(
    segs: _Segments, smp: _Samples, partner_ok: PartnerRule, partners: np.ndarray | None, max_gap_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """(sample, segment) candidate pairs: the segments' bounding boxes within ``max_gap_m`` metres
    (shapely STRtree), the pair of parts allowed by ``partner_ok``, the segment on a ``partners`` part."""
    g = max_gap_m
    x1, y1 = segs.x0 + segs.dx, segs.y0 + segs.dy
    lo_xy = np.minimum(segs.x0, x1), np.minimum(segs.y0, y1)
    hi_xy = np.maximum(segs.x0, x1), np.maximum(segs.y0, y1)
    first_s = np.searchsorted(smp.seg, np.arange(len(segs.part)), side="left")
    n_s = np.searchsorted(smp.seg, np.arange(len(segs.part)), side="right") - first_s
    has = np.flatnonzero(n_s > 0)
    cand = np.arange(len(segs.part)) if partners is None else np.flatnonzero(partners[segs.part])
    grown = shapely.box(lo_xy[0][cand] - g, lo_xy[1][cand] - g, hi_xy[0][cand] + g, hi_xy[1][cand] + g)
    own = shapely.box(lo_xy[0][has], lo_xy[1][has], hi_xy[0][has], hi_xy[1][has])
    qa, qc = shapely.STRtree(grown).query(own)
    a, c = has[qa], cand[qc]
    keep = partner_ok(segs.part[a], segs.part[c])
    a, c = a[keep], c[keep]
    # every sample of the first segment against the second
    cnt = n_s[a]
    rep = np.repeat(np.arange(len(a)), cnt)
    s_idx = first_s[a][rep] + (np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    return s_idx, c[rep]


def _nearest_interior_feet(
    segs: _Segments, smp: _Samples, s_idx: np.ndarray, c: np.ndarray, max_gap_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per sample and candidate part, the nearest point (foot) within ``max_gap_m`` metres, kept
    when it is interior to the part (not at its end).

    Returns (sample, part, gap m, foot position m along the part); empty arrays when none.
    """
    j = segs.part[c]
    # point–segment distance and foot point
    w = np.clip(
        ((smp.x[s_idx] - segs.x0[c]) * segs.dx[c] + (smp.y[s_idx] - segs.y0[c]) * segs.dy[c]) / segs.length[c] ** 2,
        0.0,
        1.0,
    )
    gap = np.hypot(smp.x[s_idx] - segs.x0[c] - w * segs.dx[c], smp.y[s_idx] - segs.y0[c] - w * segs.dy[c])
    near = gap <= max_gap_m
    s_idx, c, j, w, gap = s_idx[near], c[near], j[near], w[near], gap[near]
    if len(s_idx) == 0:
        return s_idx, j, gap, w
    # the nearest point of each candidate part (its nearest segment), interior to the part
    order = np.lexsort((c, gap, j, s_idx))
    s_idx, c, j, w, gap = s_idx[order], c[order], j[order], w[order], gap[order]
    first = np.r_[True, (s_idx[1:] != s_idx[:-1]) | (j[1:] != j[:-1])]
    s_idx, c, j, w, gap = s_idx[first], c[first], j[first], w[first], gap[first]
    t = segs.start[c] + w * segs.length[c]
    interior = (t > _END_EPS_M) & (t < segs.part_len[j] - _END_EPS_M)
    return s_idx[interior], j[interior], gap[interior], t[interior]


def _nearest_parallel(
    segs: _Segments,
    smp: _Samples,
    feet: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    sign: np.ndarray | None,
    tolerance_deg: float,
) -> _Cover:
    """The nearest parallel part of each sample among its ``feet`` (sample, part, gap m, foot
    position m); with ``sign``, the sample is covered only when that part runs opposite."""
    s_idx, j, gap, t = feet
    i = smp.part[s_idx]
    cos = np.einsum("ij,ij->i", segs.tangent(i, smp.pos[s_idx]), segs.tangent(j, t))
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
    return _Cover(smp.part[s_idx], smp.weight[s_idx], np.column_stack([smp.x[s_idx], smp.y[s_idx]]), j, gap)


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
    sampled = np.ones(len(lines), dtype=bool) if sampled is None else np.asarray(sampled, dtype=bool)
    if len(lines) < 2 or not sampled.any():
        return _Cover.empty()
    segs = _Segments.of(lines)
    smp = _Samples.along(segs, sampled, step_m)
    s_idx, c = _sample_segment_pairs(segs, smp, partner_ok, partners, max_gap_m)
    feet = _nearest_interior_feet(segs, smp, s_idx, c, max_gap_m)
    if len(feet[0]) == 0:
        return _Cover.empty()
    return _nearest_parallel(segs, smp, feet, sign, tolerance_deg)


# --------------------------------------------------------------------------- divided carriageways


@dataclass(frozen=True)
class DividedCarriageways:
    """What :func:`divided_carriageways` found (``discount`` and ``paired`` are index-aligned)."""

    discount: pd.Series  # the ways to discount (the second carriageway of each pair)
    paired: pd.Series  # ways with ≥ min_overlap of their length beside an opposite carriageway
    pairs: int  # divided road stretches (connected groups of paired ways)
    candidates: int  # one-way ways examined
    conflicts: int  # pair links between ways put on the same side (odd cycles); 0 normally


def divided_carriageways(
    roads: gpd.GeoDataFrame, crs: pyproj.CRS, max_gap_m: float, min_overlap: float
) -> DividedCarriageways:
    """The divided-road pairs of ``roads`` and the ways to discount (see :func:`divided_carriageway_pairs`).

    Parameters
    ----------
    roads : GeoDataFrame
        The roads layer (any CRS) with ``road_class`` and, for any pair to be found, ``oneway``.
    crs : pyproj.CRS
        Projected metric CRS (checked by the caller).
    max_gap_m : float
        Largest distance (m) between the two carriageways.
    min_overlap : float
        Share (0–1] of a way's length that must lie beside an opposite carriageway.
    """
    n_rows = len(roads)
    false = pd.Series(np.zeros(n_rows, dtype=bool), index=roads.index)
    none = DividedCarriageways(false, false.copy(), 0, 0, 0)
    if n_rows == 0 or "road_class" not in roads.columns:
        return none
    sign = oneway_sign(roads)
    classes = city_road_classes(include_internal=True)
    cls = roads["road_class"].astype(object).to_numpy()
    cand = (sign != 0) & pd.Series(cls).isin(classes).to_numpy()
    n_cand = int(cand.sum())
    if n_cand < 2:
        return DividedCarriageways(false, false.copy(), 0, n_cand, 0)
    cand_pos = np.flatnonzero(cand)
    lines, part_row = line_parts_m(roads.iloc[cand_pos], crs)
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

    # links between a paired way and the ways beside it
    a, b = row[cover.sample_part], row[cover.partner_part]
    link = paired[a]
    a, b = a[link], b[link]
    if len(a) == 0:
        return DividedCarriageways(false, pd.Series(paired, index=roads.index), 0, n_cand, 0)
    flag, n_groups, conflicts = _discounted_side(a, b, paired, row_len)
    return DividedCarriageways(
        pd.Series(flag, index=roads.index),
        pd.Series(paired, index=roads.index),
        n_groups,
        n_cand,
        conflicts,
    )


def _discounted_side(
    a: np.ndarray, b: np.ndarray, paired: np.ndarray, row_len: np.ndarray
) -> tuple[np.ndarray, int, int]:
    """The paired ways to discount, given the links ``a`` – ``b`` (row positions) between ways.

    The linked ways form groups (a divided road, however its two carriageways are split
    into ways); the two sides of a group are the two colours of a breadth-first
    colouring (parity of the BFS depth).  Per group, the paired ways of the side with
    less total length ``row_len`` (m) are flagged; on a tie the side without the group's
    lowest row (the "second" carriageway).

    Returns (flag per row, number of groups, links between ways of the same colour).
    """
    n_rows = len(paired)
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

    comp_index = np.searchsorted(comp_ids, comp[inv_pos])
    side_len = np.zeros((len(comp_ids), 2))
    np.add.at(side_len, (comp_index, parity[inv_pos]), row_len[inv_pos])
    discount_side = np.where(side_len[:, 1] <= side_len[:, 0], 1, 0)
    flag = np.zeros(n_rows, dtype=bool)
    flag[inv_pos] = (parity[inv_pos] == discount_side[comp_index]) & paired[inv_pos]
    return flag, int(len(comp_ids)), conflicts


def divided_carriageway_pairs(
    roads: gpd.GeoDataFrame,
    crs: pyproj.CRS | str,
    *,
    max_gap_m: float = 40.0,
    min_overlap: float = 0.6,
) -> pd.Series:
    """Flag the second carriageway of divided roads mapped as two one-way ways.

    Parameters
    ----------
    roads : GeoDataFrame
        The roads layer (any CRS) with ``road_class`` and ``oneway``.
    crs : pyproj.CRS or str
        Projected metric CRS for the distances.
    max_gap_m : float
        Largest distance (m) between the two carriageways.
    min_overlap : float
        Share (0–1] of a way's length that must lie beside an opposite carriageway.

    Returns
    -------
    pandas.Series of bool
        Aligned to ``roads.index``: True for the ways to discount.

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
    crs = projected_crs(crs, ROAD_INDICATORS)
    if max_gap_m <= 0:
        raise KmgisError(f"max_gap_m must be positive, got {max_gap_m}")
    if not 0 < min_overlap <= 1:
        raise KmgisError(f"min_overlap must be in (0, 1], got {min_overlap}")
    return divided_carriageways(roads, crs, max_gap_m, min_overlap).discount


# --------------------------------------------------------------------------- cross-class duplicates


@dataclass(frozen=True)
class CrossClassSamples:
    """Covered samples of :func:`cross_class_samples`, with the row of each part."""

    cover: _Cover
    part_row: np.ndarray  # row position in ``roads`` of each part

    @property
    def sample_row(self) -> np.ndarray:
        """Row position in ``roads`` of each covered sample."""
        return self.part_row[self.cover.sample_part]


def cross_class_samples(
    roads: gpd.GeoDataFrame,
    crs: pyproj.CRS,
    max_gap_m: float,
    parallel_deg: float,
    sample_m: float,
    within: shapely.Geometry | None = None,
) -> CrossClassSamples:
    """Covered samples of the lower-class lines (see :func:`cross_class_duplicates`).

    Parameters
    ----------
    roads : GeoDataFrame
        The roads layer (any CRS) with ``road_class``.
    crs : pyproj.CRS
        Projected metric CRS (checked by the caller).
    max_gap_m, parallel_deg, sample_m : float
        Largest gap (m), parallel tolerance (degrees), sample spacing (m).
    within : shapely geometry in ``crs``, optional
        Only lines touching it are sampled.
    """
    n_rows = len(roads)
    none = CrossClassSamples(_Cover.empty(), np.array([], int))
    if n_rows == 0 or "road_class" not in roads.columns:
        return none
    eligible = city_road_classes(include_internal=True)  # paths (footways, sidewalks) never
    cls = roads["road_class"].astype(object).to_numpy()
    cand = pd.Series(cls).isin(eligible).to_numpy()
    if len(set(cls[cand])) < 2:
        return none
    cand_pos = np.flatnonzero(cand)
    lines, part_row = line_parts_m(roads.iloc[cand_pos], crs)
    row = cand_pos[part_row]
    rank = np.array([CLASS_RANK[c] for c in cls[row]], dtype=np.int64)
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
    return CrossClassSamples(cover, row)


def check_cross_class_params(max_gap_m: float, parallel_deg: float, sample_m: float) -> None:
    """Raise :class:`KmgisError` unless gap (m) > 0, 0 < parallel tolerance (degrees) < 90, sample (m) > 0."""
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

    Parameters
    ----------
    roads : GeoDataFrame
        The roads layer (any CRS) with ``road_class``.
    crs : pyproj.CRS or str
        Projected metric CRS for the distances.
    max_gap_m, parallel_deg, sample_m : float
        Largest gap (m), parallel tolerance (degrees), sample spacing (m); see below.

    Returns
    -------
    pandas.Series of float
        Duplicate length (m) of each row, aligned to ``roads.index``.

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
    crs = projected_crs(crs, ROAD_INDICATORS)
    check_cross_class_params(max_gap_m, parallel_deg, sample_m)
    res = cross_class_samples(roads, crs, max_gap_m, parallel_deg, sample_m)
    out = np.bincount(res.sample_row, weights=res.cover.sample_weight, minlength=len(roads))
    return pd.Series(out[: len(roads)], index=roads.index, dtype=float)
