"""Siting: where to put N new facilities of a category (maximal covering, set covering).

DESIGN §4b, issue #15.  The **maximal covering location problem** (MCLP) picks ``count``
candidate sites maximising the residents within ``distance_m`` of walking (network) of a
chosen site; with ``existing="keep"`` the residents already within that distance of an
existing facility of the category count as covered and give no gain, with ``"none"`` the
siting starts from nothing (green field).  **Set covering** gives the fewest sites that
reach a target share of the residents.

Coverage sets: a virtual node per candidate joined to its edge's ends (snap distance +
along-edge offset), bounded Dijkstra runs (``scipy.sparse.csgraph.dijkstra(indices=…,
limit=distance_m)``) from batches of candidates; a resident's distance is the best of its
edge's two ends plus its along-edge offset and snap distance, or the direct along-edge walk
when the candidate lies on the same edge.  The result is a sparse candidate × resident
matrix.

Solvers: **greedy with lazy evaluation** (a priority queue of upper bounds, ties broken by
the lowest candidate id), which gives the ranked sites and the coverage curve N = 1…count
(at least (1 − 1/e) of the optimum); an **exact** mixed-integer solve with PuLP/CBC when the
instance fits (residents with the same covering candidates merged into one demand; at most
``EXACT_MAX_NNZ`` non-zeros and ``EXACT_MAX_CANDIDATES`` candidates, within
``EXACT_TIME_S``), else the **LP relaxation** as an upper bound (up to ``LP_MAX_NNZ``), else the
greedy guarantee greedy ÷ (1 − 1/e).  The reported gap is (bound − greedy) ÷ bound.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pulp
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from kmgis.errors import KmgisError
from kmgis.indicators.greenspace import (
    AreaLike,
    area_geometry,
    population_weights,
    resident_xy,
    residents_scope,
)
from kmgis.indicators.lifecircle import grid_cells, select_categories
from kmgis.indicators.result import Indicator, Result
from kmgis.model import WGS84
from kmgis.network import DEFAULT_MAX_SNAP_M, Network, Snapped, nearest_distance, snap_points

EXACT_MAX_NNZ = 200_000  # exact MIP: at most this many non-zeros in the reduced coverage matrix …
EXACT_MAX_CANDIDATES = 5_000  # … and this many candidates
EXACT_TIME_S = 60.0  # CBC time limit (s); an unproven solve falls back to the LP bound
LP_MAX_NNZ = 3_000_000  # LP relaxation bound up to this many non-zeros; beyond: the greedy guarantee
_BATCH_CELLS = 4_000_000  # entries of one dense batch of distances (candidates × nodes or residents)
_GUARANTEE = 1.0 - 1.0 / math.e
_INPUTS = ("facilities", "population", "roads")
EXISTING = ("keep", "none")


@dataclass(frozen=True)
class Coverage:
    """Which residents each candidate reaches.

    Attributes
    ----------
    matrix : (candidates × residents) CSR; a stored entry = the resident is within
        ``distance_m`` of the candidate; its value is the walking distance, m (explicit zeros kept).
    distance_m : the coverage distance, m.
    """

    matrix: sp.csr_array
    distance_m: float

    @property
    def pattern(self) -> sp.csr_array:
        """The same sparsity with every stored value 1.0 (for sums of weights)."""
        m = self.matrix
        return sp.csr_array((np.ones(len(m.indices)), m.indices, m.indptr), shape=m.shape)


@dataclass(frozen=True)
class Greedy:
    """The greedy ranking: ``sites`` (candidate ids in order), ``gains`` (weight each adds)."""

    sites: np.ndarray
    gains: np.ndarray

    @property
    def curve(self) -> np.ndarray:
        """Cumulative weight covered after N = 1…len(sites)."""
        return np.cumsum(self.gains)


@dataclass(frozen=True)
class Exact:
    """A PuLP/CBC solve: ``method`` ``"exact"`` (proven optimal, ``sites`` set), ``"lp_relaxation"``
    (``objective`` an upper bound, no sites), or ``"greedy_guarantee"`` (bound = greedy ÷ (1 − 1/e))."""

    method: str
    objective: float
    sites: np.ndarray
    seconds: float = 0.0


@dataclass(frozen=True)
class SetCover:
    """Fewest sites reaching a target: ``sites``; ``method`` ``"exact"`` or ``"greedy"``;
    ``lower_bound`` the fewest sites possible (equal to ``len(sites)`` when exact); ``reached``
    False when even every candidate misses the target."""

    sites: np.ndarray
    method: str
    lower_bound: int
    reached: bool


# --------------------------------------------------------------------------- coverage sets


def _candidate_graph(net: Network, cands: Snapped) -> sp.csr_array:
    """The walk CSR (``n + 1`` rows, last = spare) plus one row per candidate, with arcs to its
    edge's ends costing snap distance + along-edge offset (m), in traversable directions."""
    base = net.csr("length_m")
    n1, k = base.shape[0], len(cands)
    e, p, s = cands.edge, cands.pos_m, cands.snap_m
    length = net.edge_length_m[e]
    to_u = net.edge_backward[e] | (p == 0)
    to_v = net.edge_forward[e] | (p == length)
    rows = np.r_[np.flatnonzero(to_u), np.flatnonzero(to_v)]
    heads = np.r_[net.edge_u[e][to_u], net.edge_v[e][to_v]]
    w = np.r_[(s + p)[to_u], (s + length - p)[to_v]]
    order = np.lexsort((w, heads, rows))
    rows, heads, w = rows[order], heads[order], w[order]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (heads[1:] != heads[:-1])] if len(rows) else rows.astype(bool)
    rows, heads, w = rows[first], heads[first], w[first]
    counts = np.bincount(rows, minlength=k)
    indptr = np.r_[base.indptr, base.indptr[-1] + np.cumsum(counts)]
    n = n1 + k
    return sp.csr_array((np.r_[base.data, w], np.r_[base.indices, heads], indptr), shape=(n, n))


def _same_edge_pairs(net: Network, cands: Snapped, res: Snapped, distance_m: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candidate, resident, metres) of the pairs on one edge, walked directly along it, within ``distance_m``."""
    c = pd.DataFrame({"edge": cands.edge, "p": cands.pos_m, "s": cands.snap_m}).reset_index(names="cand")
    r = pd.DataFrame({"edge": res.edge, "q": res.pos_m, "t": res.snap_m}).reset_index(names="res")
    pairs = c.merge(r[r["edge"] >= 0], on="edge")
    edge = pairs["edge"].to_numpy()
    delta = pairs["q"].to_numpy() - pairs["p"].to_numpy()
    allowed = np.where(delta >= 0, net.edge_forward[edge], net.edge_backward[edge])
    d = np.abs(delta) + pairs["s"].to_numpy() + pairs["t"].to_numpy()
    ok = allowed & (d <= distance_m)
    return pairs["cand"].to_numpy()[ok], pairs["res"].to_numpy()[ok], d[ok]


def _resident_batch(net: Network, node_d: np.ndarray, res: Snapped, idx: np.ndarray) -> np.ndarray:
    """(batch × residents ``idx``) walking distance, m, through the better end of each resident's edge."""
    e, q, t = res.edge[idx], res.pos_m[idx], res.snap_m[idx]
    length = net.edge_length_m[e]
    via_u = np.where(net.edge_forward[e] | (q == 0), node_d[:, net.edge_u[e]] + q, np.inf)
    via_v = np.where(net.edge_backward[e] | (q == length), node_d[:, net.edge_v[e]] + (length - q), np.inf)
    return np.minimum(via_u, via_v) + t


def coverage_matrix(net: Network, candidates: Snapped, residents: Snapped, distance_m: float) -> Coverage:
    """Residents within ``distance_m`` (m, walking) of each candidate, as a sparse matrix.

    Parameters
    ----------
    net : the walk network.
    candidates : snapped candidate sites (every one reached: see :func:`siting`).
    residents : snapped residents; unreached ones are covered by no candidate.
    distance_m : coverage distance, m.

    Returns
    -------
    Coverage
        (candidates × residents) CSR of walking distances (m) ≤ ``distance_m``: bounded
        Dijkstra runs from a virtual node per candidate, in batches, plus the direct walk
        along a shared edge.
    """
    if not candidates.reached.all():
        raise KmgisError("coverage: every candidate must be snapped to the network")
    k, m = len(candidates), len(residents)
    graph = _candidate_graph(net, candidates)
    n1 = net.n_nodes + 1
    idx = np.flatnonzero(residents.reached)
    batch = max(1, _BATCH_CELLS // max(n1, len(idx), 1))
    cand_rows, res_cols, dists = [], [], []
    for lo in range(0, k, batch):
        rows = np.arange(lo, min(k, lo + batch))
        node_d = dijkstra(graph, directed=True, indices=n1 + rows, limit=distance_m)[:, :net.n_nodes]
        d = _resident_batch(net, node_d, residents, idx)
        r, c = np.nonzero(d <= distance_m)
        cand_rows.append(rows[r])
        res_cols.append(idx[c])
        dists.append(d[r, c])
    same = _same_edge_pairs(net, candidates, residents, distance_m)
    rows, cols, vals = (np.concatenate([*a, b]) for a, b in zip((cand_rows, res_cols, dists), same, strict=True))
    order = np.lexsort((vals, cols, rows))  # per (candidate, resident): the shortest first
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])] if len(rows) else rows.astype(bool)
    rows, cols, vals = rows[first], cols[first], vals[first]
    indptr = np.r_[0, np.cumsum(np.bincount(rows.astype(np.int64), minlength=k))]
    return Coverage(sp.csr_array((vals, cols.astype(np.int64), indptr), shape=(k, m)), float(distance_m))


# --------------------------------------------------------------------------- solvers


def _row_gains(pattern: sp.csr_array, weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Sum of ``weights`` over each row's residents (the same summation for every call)."""
    out = np.zeros(len(rows))
    for k, j in enumerate(rows):
        lo, hi = pattern.indptr[j], pattern.indptr[j + 1]
        if hi > lo:
            out[k] = np.add.reduceat(weights[pattern.indices[lo:hi]], [0])[0]
    return out


def greedy_mclp(coverage: Coverage, weights: np.ndarray, count: int) -> Greedy:
    """Greedy maximal covering with lazy evaluation.

    Parameters
    ----------
    coverage : the coverage sets (:func:`coverage_matrix`).
    weights : persons per resident (0 for residents already covered), persons.
    count : sites to choose (≤ the number of candidates).

    Returns
    -------
    Greedy
        Each step takes the candidate of largest marginal gain (persons), ties to the lowest
        candidate id; stale gains in a heap are upper bounds, recomputed only when on top.
    """
    pattern = coverage.pattern
    w = np.asarray(weights, dtype=float).copy()
    k = pattern.shape[0]
    heap = [(-g, j) for j, g in enumerate(_row_gains(pattern, w, np.arange(k)))]
    heapq.heapify(heap)
    sites, gains = [], []
    while heap and len(sites) < count:
        _, j = heapq.heappop(heap)
        g = _row_gains(pattern, w, np.array([j]))[0]
        if heap and (-g, j) > heap[0]:
            heapq.heappush(heap, (-g, j))
            continue
        sites.append(j)
        gains.append(g)
        w[pattern.indices[pattern.indptr[j]:pattern.indptr[j + 1]]] = 0.0
    return Greedy(np.array(sites, dtype=np.int64), np.array(gains, dtype=float))


def demand_groups(coverage: Coverage, weights: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Residents with positive weight and at least one candidate, merged by identical covering sets.

    Returns ``(covering candidate ids per group, summed weight per group in persons)``, groups in
    order of first resident.
    """
    by_res = coverage.pattern.T.tocsr()
    by_res.sort_indices()
    w = np.asarray(weights, dtype=float)
    groups: dict[bytes, int] = {}
    sets: list[np.ndarray] = []
    sums: list[float] = []
    for i in np.flatnonzero((np.diff(by_res.indptr) > 0) & (w > 0)):
        cands = by_res.indices[by_res.indptr[i]:by_res.indptr[i + 1]]
        key = cands.tobytes()
        g = groups.get(key)
        if g is None:
            groups[key] = len(sets)
            sets.append(cands)
            sums.append(0.0)
            g = len(sets) - 1
        sums[g] += w[i]
    return sets, np.array(sums, dtype=float)


def _mclp_problem(k: int, sets: list[np.ndarray], group_w: np.ndarray, count: int, integer: bool
                  ) -> tuple[pulp.LpProblem, list[pulp.LpVariable]]:
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{j}", 0, 1, cat=pulp.LpBinary if integer else pulp.LpContinuous) for j in range(k)]
    y = [pulp.LpVariable(f"y{g}", 0, 1) for g in range(len(sets))]
    prob += pulp.lpSum(float(wg) * yg for wg, yg in zip(group_w, y, strict=True))
    for yg, cands in zip(y, sets, strict=True):
        prob += yg <= pulp.lpSum(x[j] for j in cands)
    prob += pulp.lpSum(x) == count
    return prob, x


def fits_exact(coverage: Coverage) -> bool:
    """The size rule of the exact solve: ≤ ``EXACT_MAX_CANDIDATES`` candidates and ≤ ``EXACT_MAX_NNZ``
    stored entries in the coverage matrix."""
    return coverage.matrix.shape[0] <= EXACT_MAX_CANDIDATES and coverage.matrix.nnz <= EXACT_MAX_NNZ


def exact_mclp(coverage: Coverage, weights: np.ndarray, count: int, greedy_value: float | None = None,
               *, method: str = "auto", time_limit_s: float = EXACT_TIME_S) -> Exact:
    """The optimum of the MCLP (persons covered), or an upper bound when too big.

    Parameters
    ----------
    coverage, weights, count : as :func:`greedy_mclp` (weights in persons).
    greedy_value : the greedy objective (persons), for the greedy-guarantee bound.
    method : ``"auto"`` (exact if :func:`fits_exact`, else LP if ≤ ``LP_MAX_NNZ``, else the
        guarantee), ``"exact"`` or ``"lp_relaxation"``.
    time_limit_s : CBC time limit, s; an unproven exact solve falls back to the LP bound.

    Returns
    -------
    Exact
        Objective in persons, from CBC (single thread: deterministic).
    """
    t0 = time.perf_counter()
    nnz = coverage.matrix.nnz
    if method == "auto":
        method = "exact" if fits_exact(coverage) else "lp_relaxation" if nnz <= LP_MAX_NNZ else "greedy_guarantee"
    if method == "greedy_guarantee":
        return Exact(method, float(greedy_value or 0.0) / _GUARANTEE, np.zeros(0, dtype=np.int64))
    sets, group_w = demand_groups(coverage, weights)
    k = coverage.matrix.shape[0]
    if method == "exact":
        prob, x = _mclp_problem(k, sets, group_w, count, integer=True)
        prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, threads=1))
        if prob.sol_status == pulp.LpSolutionOptimal:
            sites = np.array([j for j in range(k) if (x[j].value() or 0) > 0.5], dtype=np.int64)
            return Exact("exact", float(pulp.value(prob.objective) or 0.0), sites, time.perf_counter() - t0)
    prob, _ = _mclp_problem(k, sets, group_w, count, integer=False)
    prob.solve(pulp.PULP_CBC_CMD(msg=False, threads=1))
    return Exact("lp_relaxation", float(pulp.value(prob.objective) or 0.0), np.zeros(0, dtype=np.int64),
                 time.perf_counter() - t0)


def set_cover(coverage: Coverage, weights: np.ndarray, target: float, *, exact: bool | None = None,
              time_limit_s: float = EXACT_TIME_S) -> SetCover:
    """The fewest candidate sites covering at least ``target`` weight (persons).

    Parameters
    ----------
    coverage, weights : as :func:`greedy_mclp`.
    target : persons to cover (beyond those already covered, whose weight is 0).
    exact : force (True) or refuse (False) the MIP; None: when :func:`fits_exact`.
    time_limit_s : CBC time limit, s.

    Returns
    -------
    SetCover
        Exact: the minimum count.  Greedy: greedy sites until the target, with the lower
        bound ⌈LP relaxation⌉ (the LP within ``LP_MAX_NNZ``, else 1).
    """
    k = coverage.matrix.shape[0]
    if target <= 0:
        return SetCover(np.zeros(0, dtype=np.int64), "exact", 0, True)
    greedy = greedy_mclp(coverage, weights, k)
    hit = np.flatnonzero(greedy.curve >= target - 1e-9)
    if not len(hit):
        return SetCover(greedy.sites, "greedy", k, False)
    n_greedy = int(hit[0]) + 1
    sets, group_w = demand_groups(coverage, weights)
    use_exact = fits_exact(coverage) if exact is None else exact
    integer = use_exact
    if not use_exact and coverage.matrix.nnz > LP_MAX_NNZ:
        return SetCover(greedy.sites[:n_greedy], "greedy", 1, True)
    prob = pulp.LpProblem("set_cover", pulp.LpMinimize)
    cat = pulp.LpBinary if integer else pulp.LpContinuous
    x = [pulp.LpVariable(f"x{j}", 0, 1, cat=cat) for j in range(k)]
    y = [pulp.LpVariable(f"y{g}", 0, 1) for g in range(len(sets))]
    prob += pulp.lpSum(x)
    for yg, cands in zip(y, sets, strict=True):
        prob += yg <= pulp.lpSum(x[j] for j in cands)
    prob += pulp.lpSum(float(wg) * yg for wg, yg in zip(group_w, y, strict=True)) >= float(target) - 1e-9
    prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, threads=1))
    if integer and prob.sol_status == pulp.LpSolutionOptimal:
        sites = np.array([j for j in range(k) if (x[j].value() or 0) > 0.5], dtype=np.int64)
        return SetCover(sites, "exact", len(sites), True)
    bound = math.ceil(float(pulp.value(prob.objective) or 0.0) - 1e-6) if not integer else 1
    return SetCover(greedy.sites[:n_greedy], "greedy", max(1, bound), True)


# --------------------------------------------------------------------------- candidates and the indicator


def grid_candidates(net: Network, area: AreaLike, crs: pyproj.CRS | str, cell_m: float,
                    max_snap_m: float = DEFAULT_MAX_SNAP_M) -> gpd.GeoDataFrame:
    """Candidate sites on a grid: the centres of ``cell_m`` cells overlapping ``area``, moved onto
    their nearest edge (within ``max_snap_m``, m), kept when that point lies in the area.

    Returns a GeoDataFrame in ``crs`` (metric) with ``cell_id``; ``attrs["grid"]`` counts the
    cells and those dropped (no road within ``max_snap_m`` or outside the area).
    """
    geom = area_geometry(area, crs)
    if geom is None:
        raise KmgisError("siting grid: the area is missing or empty")
    _, cx, cy = grid_cells(geom, cell_m)
    snapped = snap_points(net, np.c_[cx, cy], max_snap_m)
    ok = np.flatnonzero(snapped.reached)
    pts = shapely.line_interpolate_point(net.edge_geometry[snapped.edge[ok]], snapped.pos_m[ok])
    shapely.prepare(geom)
    inside = shapely.covers(geom, pts)
    out = gpd.GeoDataFrame({"cell_id": ok[inside]}, geometry=pts[inside], crs=crs).reset_index(drop=True)
    out.attrs["grid"] = {"cell_m": float(cell_m), "cells": int(len(cx)), "unsnapped": int(len(cx) - len(ok)),
                         "outside_area": int((~inside).sum())}
    return out


def _check_candidates(net: Network, candidates: gpd.GeoDataFrame, area: AreaLike, count: int,
                      max_snap_m: float) -> Snapped:
    """Snapped candidates, or a one-line error: none, ``count`` out of range, outside the area, unsnapped."""
    if candidates is None or len(candidates) == 0:
        raise KmgisError("siting: no candidate sites (give a file of points or a grid)")
    if not (isinstance(count, int | np.integer) and 0 < count <= len(candidates)):
        raise KmgisError(f"siting: the number of sites must be 1…{len(candidates)} (the candidates), got {count}")
    if candidates.crs is None:
        raise KmgisError("siting: the candidate sites have no CRS")
    xy = resident_xy(candidates, net.crs)
    geom = area_geometry(area, net.crs)
    if geom is not None:
        pts = shapely.points(xy)
        outside = np.flatnonzero(~shapely.covers(geom.buffer(1.0), pts))
        if len(outside):
            raise KmgisError(f"siting: {len(outside)} candidate(s) outside the study area (rows "
                             f"{', '.join(map(str, outside[:5]))}{'…' if len(outside) > 5 else ''})")
    snapped = snap_points(net, xy, max_snap_m)
    far = np.flatnonzero(~snapped.reached)
    if len(far):
        raise KmgisError(f"siting: {len(far)} candidate(s) farther than {max_snap_m:g} m from any road (rows "
                         f"{', '.join(map(str, far[:5]))}{'…' if len(far) > 5 else ''})")
    return snapped


def _existing_cover(net: Network, res: Snapped, facilities: gpd.GeoDataFrame | None, category: str,
                    distance_m: float, max_snap_m: float) -> tuple[np.ndarray, int]:
    """Residents within ``distance_m`` (m) of an existing facility of ``category``, and how many there are."""
    if facilities is None or len(facilities) == 0 or "category" not in facilities.columns:
        return np.zeros(len(res), dtype=bool), 0
    pts = facilities[facilities["category"] == category]
    if len(pts) == 0:
        return np.zeros(len(res), dtype=bool), 0
    sources = snap_points(net, pts, max_snap_m)
    return nearest_distance(net, res, sources, cutoff=distance_m) <= distance_m, int(len(pts))


def siting(
    network: Network,
    residents: gpd.GeoDataFrame,
    candidates: gpd.GeoDataFrame,
    *,
    category: str,
    count: int,
    facilities: gpd.GeoDataFrame | None = None,
    existing: str = "keep",
    distance_m: float = 1200.0,
    area: AreaLike = None,
    target_pct: float | None = None,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    exact: str = "auto",
) -> Result:
    """Maximal covering siting of ``count`` new facilities of ``category`` (and optionally set covering).

    Parameters
    ----------
    network : the walk network.
    residents : population points (any CRS, ``population`` in persons).
    candidates : candidate sites (points, any CRS), e.g. :func:`grid_candidates`.
    category : facility category of ``layers/facilities.yaml``.
    count : sites to choose, 1…len(candidates).
    facilities : the ``facilities`` layer (its ``category`` rows are the existing facilities).
    existing : ``"keep"`` (residents already covered give no gain) or ``"none"`` (green field).
    distance_m : coverage distance, m of walking.
    area : the study area (candidates outside it are an error), any CRS; None: not checked.
    target_pct : with a value, also the fewest sites reaching this share (%) of residents.
    max_snap_m : maximum snap distance, m.
    exact : ``"auto"``, ``"exact"``, ``"lp_relaxation"`` or ``"greedy_guarantee"`` (:func:`exact_mclp`).

    Returns
    -------
    Result
        ``siting_<c>_covered_pct`` (% of residents covered after ``count`` greedy sites, existing
        included), ``siting_<c>_gain_residents`` (persons), ``siting_<c>_gap_pct`` ((bound − greedy)
        ÷ bound, %), with ``target_pct`` also ``siting_<c>_sites_for_target``; layers ``sites``
        (WGS84 points: rank, residents added), ``candidates`` and ``coverage_curve`` (a table).
    """
    cat = select_categories([category])[0]
    if existing not in EXISTING:
        raise KmgisError(f"siting: existing must be one of {', '.join(EXISTING)}, got {existing!r}")
    if not distance_m > 0:
        raise KmgisError(f"siting: the distance must be positive, got {distance_m} m")
    if residents is None or len(residents) == 0:
        raise KmgisError("siting: no residents (supply population points)")
    snapped = _check_candidates(network, candidates, area, count, max_snap_m)
    pop = population_weights(residents)
    res = snap_points(network, resident_xy(residents, network.crs), max_snap_m)
    covered0, n_existing = (_existing_cover(network, res, facilities, cat, distance_m, max_snap_m)
                            if existing == "keep" else (np.zeros(len(pop), dtype=bool), 0))
    cov = coverage_matrix(network, snapped, res, distance_m)
    w = np.where(covered0, 0.0, pop)
    greedy = greedy_mclp(cov, w, count)
    bound = exact_mclp(cov, w, count, float(greedy.gains.sum()), method=exact)
    total, base = float(pop.sum()), float(pop[covered0].sum())
    params = {"distance_m": float(distance_m), "count": int(count), "existing": existing,
              "existing_facilities": n_existing, "candidates": int(len(candidates)),
              "coverage_nnz": int(cov.matrix.nnz), "bound_method": bound.method, "bound_residents": bound.objective,
              "existing_covered_residents": base, "max_snap_m": max_snap_m,
              "residents_unsnapped": int((~res.reached).sum())}
    rows = _records(cat, greedy, bound, total, base, params, residents_scope(pop))
    if target_pct is not None:
        rows.append(_target_row(cat, cov, w, total, base, target_pct, params, residents_scope(pop)))
    layers = _layers(candidates, cov, w, greedy, bound, total, base)
    return Result(rows, layers=layers)


def _records(cat: str, greedy: Greedy, bound: Exact, total: float, base: float, params: dict,
             scope: str) -> list[Indicator]:
    gain = float(greedy.gains.sum())
    gap = 0.0 if bound.objective <= 0 else max(0.0, (bound.objective - gain) / bound.objective * 100.0)
    how = (f"greedy maximal covering (lazy evaluation, ties to the lowest candidate id) of {params['count']} "
           f"sites within {params['distance_m']:g} m walk; existing facilities: {params['existing']}")
    what = {"exact": "the exact optimum (PuLP/CBC)", "lp_relaxation": "the LP-relaxation upper bound",
            "greedy_guarantee": "the greedy guarantee greedy ÷ (1 − 1/e)"}[bound.method]
    return [
        Indicator(f"siting_{cat}_covered_pct", (base + gain) / total * 100.0 if total > 0 else math.nan, "%", scope,
                  how, _INPUTS, params | {"covered_residents": base + gain}),
        Indicator(f"siting_{cat}_gain_residents", gain, "persons", scope, how, _INPUTS, params),
        Indicator(f"siting_{cat}_gap_pct", gap, "%", scope, f"(bound − greedy) ÷ bound, bound = {what}", _INPUTS,
                  params | {"exact_sites": bound.sites.tolist()}),
    ]


def _target_row(cat: str, cov: Coverage, w: np.ndarray, total: float, base: float, target_pct: float,
                params: dict, scope: str) -> Indicator:
    if not 0 < target_pct <= 100:
        raise KmgisError(f"siting: the target share must be in (0, 100] %, got {target_pct}")
    sc = set_cover(cov, w, target_pct / 100.0 * total - base)
    return Indicator(f"siting_{cat}_sites_for_target", len(sc.sites) if sc.reached else math.nan, "sites", scope,
                     f"fewest sites reaching {target_pct:g} % of residents within {params['distance_m']:g} m walk "
                     f"({sc.method}{'' if sc.reached else '; not reachable with every candidate'})", _INPUTS,
                     params | {"target_pct": target_pct, "set_cover_method": sc.method,
                               "set_cover_lower_bound": sc.lower_bound, "set_cover_sites": sc.sites.tolist()})


def _layers(candidates: gpd.GeoDataFrame, cov: Coverage, w: np.ndarray, greedy: Greedy, bound: Exact,
            total: float, base: float) -> dict:
    """``sites`` (greedy order), ``candidates`` and ``coverage_curve`` (persons, %)."""
    geom = candidates.geometry.to_crs(WGS84).reset_index(drop=True)
    covered = base + greedy.curve
    sites = gpd.GeoDataFrame({"rank": np.arange(1, len(greedy.sites) + 1), "candidate_id": greedy.sites,
                              "residents_added": greedy.gains, "residents_covered": covered,
                              "covered_pct": covered / total * 100.0 if total > 0 else np.nan},
                             geometry=geom.iloc[greedy.sites].to_numpy(), crs=WGS84)
    reach = _row_gains(cov.pattern, w, np.arange(cov.matrix.shape[0]))
    cands = gpd.GeoDataFrame({"candidate_id": np.arange(len(geom)), "residents_within": reach,
                              "greedy_rank": 0, "in_exact": np.isin(np.arange(len(geom)), bound.sites)},
                             geometry=geom.to_numpy(), crs=WGS84)
    cands.loc[greedy.sites, "greedy_rank"] = np.arange(1, len(greedy.sites) + 1)
    curve = pd.DataFrame({"sites": np.arange(1, len(greedy.sites) + 1), "residents_added": greedy.gains,
                          "residents_covered": covered,
                          "covered_pct": covered / total * 100.0 if total > 0 else np.nan})
    return {"sites": sites, "candidates": cands, "coverage_curve": curve}
