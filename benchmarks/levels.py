"""GB 50180-2018 life-circle levels and the plan's life circle on the central city: kmgis vs NetworkX vs pandana.

    python -m benchmarks.levels [--data DIR] [--seed 42] [--repeats 5]

Issue #14 ("Performance"): all levels × all facility types for the central city's ~96,000
resident points in under 1 s once the network and the residents' snap are built, compared
with NetworkX and pandana on the same work.

Inputs: the central city as ``kmgis run recipes/central-city.yaml`` makes it
(:func:`benchmarks.common.central_city`: 5 units + 2 km halo, the Kunming road layer, resident
points per unit, the walk network).  Kunming has no facility POIs offline, so stand-in
facilities are placed on network nodes with a fixed seed, one set per category of
``layers/facilities.yaml`` (:data:`FACILITY_COUNTS`), as a ``facilities`` layer (WGS84 points,
``category``), so that the real kmgis functions run end to end.

The work (one multi-source search per category and function, as kmgis runs it):

* ``lifecircle_levels(net, residents, facilities)``: the 5/10/15-minute levels (300/500/1,000 m),
  each required category's share, the complete levels and the 15-minute level per walking
  group; one search per category, cut off at the largest distance any level or group uses it at;
* ``lifecircle(net, residents, facilities)``: the plan's 15-minute circle (8 categories ×
  1,200 m / 1,000 m / 1,500 m, and the complete circle); one search per category at 1,500 m.

Engines:

* **kmgis**: the two calls above, after the network is built (CSR included) and the residents
  snapped once (``snap_points`` caches per point set, so the indicators' own call should be
  free: the calls to the snapping code are counted).  Searches are counted by wrapping
  ``scipy.sparse.csgraph.dijkstra`` as ``kmgis.network.search`` calls it, in counted runs
  before and after the timed ones (which run unwrapped), with a breakdown of the time.
  Median of ``--repeats`` after a warm-up;
* **kmgis, what-if**: the same with ``kmgis.network.snap._SNAP_CACHE_SIZE`` set to 16 for that
  run only (the shipped 8 cannot hold the residents and the 8 facility sets);
* **kmgis, node model**: ``node_distances(snap_nodes(facility nodes), cutoff)`` read at each
  resident's nearest node, the same searches and shares: the engines' model, which must equal
  NetworkX;
* **NetworkX**: ``nx.Graph`` of the same edges, residents on their nearest node (cKDTree), per
  category and function ``multi_source_dijkstra_path_length(cutoff)``, then the same shares;
* **pandana**: ``Network`` (contraction hierarchies) + ``precompute(1500)`` + ``get_node_ids``
  once, then per category and function ``set_pois`` + ``nearest_pois``, then the shares.

Also timed: ``snap_points`` of the residents on a fresh network (its index build included), and
the residents → metres step (``resident_xy``) against pyproj on the coordinate arrays.
Nothing is asserted: the agreement is printed.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pyproj
import shapely
from scipy.spatial import cKDTree

import kmgis.indicators.lifecircle as km_lc
import kmgis.indicators.lifecircle_levels as km_lv
import kmgis.network.search as km_search
import kmgis.network.snap as km_snap
from benchmarks.common import (
    Goal,
    Section,
    Timing,
    compare,
    dict_to_array,
    fmt_s,
    fresh,
    log,
    md_table,
    nx_graph,
    quiet_fds,
    suite_main,
)
from benchmarks.common import central_city as load_central_city
from kmgis.errors import KmgisError
from kmgis.indicators.greenspace import population_weights, resident_xy, share_pct
from kmgis.indicators.lifecircle import FACILITY_CATEGORIES, lifecircle, select_categories, walk_speed
from kmgis.indicators.lifecircle_levels import GROUP_KMH, GROUP_LEVEL, LEVELS, _plan, lifecircle_levels
from kmgis.model import WGS84, conform
from kmgis.network import DEFAULT_MAX_SNAP_M, node_distances, snap_nodes, snap_points

REPEATS = 5  # kmgis, after one warm-up
REPEATS_NX = 3
REPEATS_PANDANA = 3  # queries only (the contraction hierarchies are built once)
TOL_M = 0.01
GOAL_S = 1.0  # issue #14: levels × types for the 96k residents under 1 s after network and snap
SNAP_GOAL_S = 0.57  # issue #14 / suite 1 (0.571 s on 2026-11-23): snap_points of the residents
CITY_RESIDENTS_M, CITY_KM2 = 3.76, 441  # the central city's residents (millions) and area (km²) the counts are sized for

#: stand-in facilities per category (network nodes, drawn with the seed), sized for a central city of
#: ~3.76 M residents on ~441 km²: residents per facility in the comments
FACILITY_COUNTS: dict[str, int] = {
    "school": 450,  # primary + middle schools, ~8,400 residents each
    "kindergarten": 700,  # ~5,400
    "clinic": 1200,  # clinics, community health centres, hospitals: ~3,100
    "elderly_care": 250,  # nursing homes / assisted living: ~15,000
    "market": 1000,  # food markets and supermarkets: ~3,800
    "sports": 600,  # sports centres, pitches, fitness grounds: ~6,300
    "culture": 300,  # libraries, community and arts centres, museums: ~12,500
    "bus_stop": 1500,  # ~3.4 per km² (real stops are denser; capped at 1,500)
    "convenience": 1500,  # capped at 1,500 (real counts are higher); neither function reads it
}

# the plan's circle with lifecircle()'s defaults: 15 min at layers/speeds.yaml's walking speed, bands
CIRCLE_MINUTES = 15.0
CIRCLE_BANDS = (1000.0, 1500.0)


# --------------------------------------------------------------------------- the work


def level_plan():
    """What ``lifecircle_levels`` measures with its defaults (levels, distances, groups, cut-offs)."""
    return _plan(LEVELS, None, None, GROUP_KMH, GROUP_LEVEL, DEFAULT_MAX_SNAP_M)


def circle_limits() -> tuple[float, list[float]]:
    """The circle's time distance (m) and bands, as ``lifecircle`` derives them from its defaults."""
    return CIRCLE_MINUTES * 60.0 * walk_speed(None) / 3.6, list(CIRCLE_BANDS)


def searches(plan) -> list[tuple[str, str, float]]:
    """``(function, category, cut-off m)`` of every multi-source search the two calls run, in order."""
    reach, bands = circle_limits()
    work = [("levels", c, plan.cutoff(c)) for c in plan.categories]
    return work + [("circle", c, max([reach, *bands])) for c in select_categories()]


def level_shares(plan, pop: np.ndarray, dist: dict[str, np.ndarray]) -> dict[str, float]:
    """``lifecircle_levels``' values from per-resident distances per category (its rules, its ids)."""
    out: dict[str, float] = {}
    for lid, spec in plan.specs.items():
        d = plan.dist[lid]
        covered = np.ones(len(pop), dtype=bool)
        for cat in spec.required:
            within = dist[cat] <= d
            covered &= within
            out[f"level_{lid}_{cat}_pct"] = share_pct(pop, within)
        out[f"level_{lid}_complete_pct"] = share_pct(pop, covered)
    spec = plan.group_level
    for group, d in plan.groups.items():
        covered = np.ones(len(pop), dtype=bool)
        for cat in spec.required:
            covered &= dist[cat] <= d
        out[f"level_{spec.id}_complete_{group}_pct"] = share_pct(pop, covered)
    return out


def circle_shares(pop: np.ndarray, dist: dict[str, np.ndarray]) -> dict[str, float]:
    """``lifecircle``'s values from per-resident distances per category."""
    reach, bands = circle_limits()
    out: dict[str, float] = {}
    covered = np.ones(len(pop), dtype=bool)
    for cat in select_categories():
        out[f"lifecircle_{cat}_pct"] = share_pct(pop, dist[cat] <= reach)
        for b in bands:
            out[f"lifecircle_{cat}_{b:g}m_pct"] = share_pct(pop, dist[cat] <= b)
        covered &= dist[cat] <= reach
    out["lifecircle_complete_pct"] = share_pct(pop, covered)
    return out


def all_shares(plan, pop: np.ndarray, dist: dict[tuple[str, str], np.ndarray]) -> dict[str, float]:
    lv = {c: d for (fn, c), d in dist.items() if fn == "levels"}
    ci = {c: d for (fn, c), d in dist.items() if fn == "circle"}
    return level_shares(plan, pop, lv) | circle_shares(pop, ci)


def stand_in_facilities(net, seed: int) -> tuple[gpd.GeoDataFrame, dict[str, np.ndarray]]:
    """One set of network nodes per category (``default_rng(seed)``, file order) as a facilities layer."""
    if set(FACILITY_COUNTS) != set(FACILITY_CATEGORIES):
        raise KmgisError(f"benchmarks.levels: FACILITY_COUNTS {sorted(FACILITY_COUNTS)} do not match "
                         f"layers/facilities.yaml {sorted(FACILITY_CATEGORIES)}")
    rng = np.random.default_rng(seed)
    nodes = {c: rng.choice(net.n_nodes, size=FACILITY_COUNTS[c], replace=False) for c in FACILITY_CATEGORIES}
    cats = np.concatenate([[c] * len(v) for c, v in nodes.items()])
    idx = np.concatenate(list(nodes.values()))
    gdf = gpd.GeoDataFrame({"category": cats, "source_id": [f"node:{i}" for i in idx]},
                           geometry=shapely.points(net.node_x[idx], net.node_y[idx]), crs=net.crs).to_crs(WGS84)
    return conform("facilities", gdf), nodes


# --------------------------------------------------------------------------- counting


#: the kmgis internals timed in the counted runs: (module, attribute, key, argument whose length is recorded);
#: each is looked up by that name at call time, so replacing the module attribute sees every call
_COUNTED = (
    (km_search, "dijkstra", "dijkstra", None),  # scipy's Dijkstra as kmgis.network.search calls it: one per search
    (km_snap, "_snap_xy", "snap", 1),  # a snap computed (not served from the network's cache): its points
    (km_lc, "resident_xy", "project", 0),  # the residents → metres (geopandas to_crs), once per call
    (km_lv, "resident_xy", "project", 0),
    (km_search, "_same_edge_distances", "same_edge", 1),  # targets and sources on one edge (pandas merge)
)


@contextlib.contextmanager
def counting(stats: dict[str, list]) -> Iterator[None]:
    """Record the calls of :data:`_COUNTED`: ``stats[key]`` gets (length of the argument, or 0; seconds)
    per call."""
    saved = [(mod, name, getattr(mod, name)) for mod, name, _, _ in _COUNTED]

    def wrap(fn, key, arg):
        def timed_call(*a, **k):
            t0 = time.perf_counter()
            out = fn(*a, **k)
            stats.setdefault(key, []).append((0 if arg is None else len(a[arg]), time.perf_counter() - t0))
            return out
        return timed_call

    for (mod, name, key, arg), (_, _, fn) in zip(_COUNTED, saved, strict=True):
        setattr(mod, name, wrap(fn, key, arg))
    try:
        yield
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)


@contextlib.contextmanager
def snap_cache_size(size: int) -> Iterator[None]:
    """What-if only: ``kmgis.network.snap._SNAP_CACHE_SIZE`` set to ``size`` for the block."""
    saved = km_snap._SNAP_CACHE_SIZE
    km_snap._SNAP_CACHE_SIZE = size
    try:
        yield
    finally:
        km_snap._SNAP_CACHE_SIZE = saved


def repeat(fn: Callable[[], Any], repeats: int, warmup: bool = True) -> tuple[Timing, Any]:
    """Median of ``repeats`` timed runs after an optional warm-up (garbage collected before each)."""
    if warmup:
        fn()
    out, times = None, []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return Timing(float(np.median(times)), times), out


def _span(t: Timing) -> str:
    return f"{fmt_s(t.median_s)} ({fmt_s(min(t.runs_s))}–{fmt_s(max(t.runs_s))})"


# --------------------------------------------------------------------------- engines


def kmgis_calls(net, residents, facilities) -> dict[str, Any]:
    """The two indicator calls as a user makes them; each timed."""
    t0 = time.perf_counter()
    lv = lifecircle_levels(net, residents, facilities)
    t1 = time.perf_counter()
    ci = lifecircle(net, residents, facilities)
    t2 = time.perf_counter()
    return {"levels": lv, "circle": ci, "levels_s": t1 - t0, "circle_s": t2 - t1}


def kmgis_stage(net0, residents, facilities, xy: np.ndarray, repeats: int) -> dict[str, Any]:
    """Network copy + CSR + the residents snapped once, then warm-up (counted) + ``repeats`` timed
    runs of both calls, then one more counted run (the steady state)."""
    net = fresh(net0)
    t0 = time.perf_counter()
    net.csr("length_m")
    t1 = time.perf_counter()
    snapped = snap_points(net, xy)
    t2 = time.perf_counter()
    first: dict[str, list] = {}
    gc.collect()
    with counting(first):
        a = time.perf_counter()
        kmgis_calls(net, residents, facilities)
        first["total"] = [(0, time.perf_counter() - a)]
    runs: list[dict[str, Any]] = []
    for _ in range(repeats):
        gc.collect()
        a = time.perf_counter()
        r = kmgis_calls(net, residents, facilities)
        r["total_s"] = time.perf_counter() - a
        runs.append(r)
    steady: dict[str, list] = {}
    gc.collect()
    with counting(steady):
        a = time.perf_counter()
        kmgis_calls(net, residents, facilities)
        steady["total"] = [(0, time.perf_counter() - a)]
    return {"csr_s": t1 - t0, "snap_s": t2 - t1, "snapped": snapped, "runs": runs, "first": first,
            "steady": steady, "total": Timing(float(np.median([r["total_s"] for r in runs])),
                                              [r["total_s"] for r in runs]),
            "levels": Timing(float(np.median([r["levels_s"] for r in runs])), [r["levels_s"] for r in runs]),
            "circle": Timing(float(np.median([r["circle_s"] for r in runs])), [r["circle_s"] for r in runs]),
            "result": runs[-1]}


def fresh_snap(net0, xy: np.ndarray, repeats: int) -> dict[str, Timing]:
    """``snap_points`` of the residents on a cache-free network copy (its segment index built in the
    call), then the index build and the snap apart."""
    def total():
        snap_points(fresh(net0), xy)

    def build():
        km_snap._segments(fresh(net0))

    indexed = fresh(net0)
    km_snap._segments(indexed)
    out = {"total": repeat(total, repeats)[0], "build": repeat(build, repeats)[0]}
    out["snap"] = repeat(lambda: km_snap._snap_xy(indexed, xy, DEFAULT_MAX_SNAP_M), repeats)[0]
    return out


def node_model(net, fac_nodes: dict[str, np.ndarray], res_node: np.ndarray, work, plan, pop
               ) -> tuple[dict[tuple[str, str], np.ndarray], dict[str, float]]:
    """kmgis on the engines' model: facility nodes as sources, read at the residents' nearest nodes."""
    dist = {}
    for fn, cat, cutoff in work:
        dist[(fn, cat)] = node_distances(net, snap_nodes(net, fac_nodes[cat]), cutoff=cutoff)[res_node]
    return dist, all_shares(plan, pop, dist)


def networkx_run(g: nx.Graph, n: int, fac_nodes: dict[str, np.ndarray], res_node: np.ndarray, work, plan, pop
                 ) -> tuple[dict[tuple[str, str], np.ndarray], dict[str, float], list[float]]:
    dist, per = {}, []
    for fn, cat, cutoff in work:
        a = time.perf_counter()
        d = nx.multi_source_dijkstra_path_length(g, set(fac_nodes[cat].tolist()), cutoff=cutoff, weight="length")
        dist[(fn, cat)] = dict_to_array(d, n)[res_node]
        per.append(time.perf_counter() - a)
    return dist, all_shares(plan, pop, dist), per


def pandana_setup(net, xy: np.ndarray, max_m: float) -> dict[str, Any]:
    import pandana
    import pandas as pd

    with quiet_fds():  # pandana prints its contraction progress from C++
        t0 = time.perf_counter()
        pn = pandana.Network(pd.Series(net.node_x), pd.Series(net.node_y), pd.Series(net.edge_u),
                             pd.Series(net.edge_v), pd.DataFrame({"length": net.edge_length_m}), twoway=True)
        t1 = time.perf_counter()
        pn.precompute(max_m)
        t2 = time.perf_counter()
        ids = pn.get_node_ids(pd.Series(xy[:, 0]), pd.Series(xy[:, 1])).to_numpy()
        t3 = time.perf_counter()
    return {"pn": pn, "ids": ids, "init_s": t1 - t0, "precompute_s": t2 - t1, "node_ids_s": t3 - t2}


def pandana_run(pd_state: dict[str, Any], net, fac_nodes: dict[str, np.ndarray], work, plan, pop
                ) -> tuple[dict[tuple[str, str], np.ndarray], dict[str, float], list[float]]:
    import pandas as pd

    pn, ids = pd_state["pn"], pd_state["ids"]
    node_index = pd.RangeIndex(net.n_nodes)
    dist, per = {}, []
    with quiet_fds():
        for fn, cat, cutoff in work:
            a = time.perf_counter()
            name = f"{fn}_{cat}"
            fac = fac_nodes[cat]
            pn.set_pois(name, cutoff, 1, pd.Series(net.node_x[fac]), pd.Series(net.node_y[fac]))
            col = pn.nearest_pois(cutoff, name, num_pois=1, max_distance=np.inf)[1]
            d = col.to_numpy(dtype=float) if col.index.equals(node_index) else col.reindex(node_index).to_numpy(float)
            dist[(fn, cat)] = d[ids]
            per.append(time.perf_counter() - a)
    return dist, all_shares(plan, pop, dist), per


# --------------------------------------------------------------------------- report helpers


def _values(result) -> dict[str, float]:
    return {rec.indicator: float(rec.value) for rec in result}


def _kmgis_distances(res: dict[str, Any], work) -> dict[tuple[str, str], np.ndarray]:
    lv, ci = res["levels"].per_feature, res["circle"].per_feature
    return {(fn, c): (lv[f"levels_dist_m_{c}"] if fn == "levels" else ci[f"dist_m_{c}"]).to_numpy(float)
            for fn, c, _ in work}


def _n(stats: dict[str, list], key: str) -> int:
    return len(stats.get(key, []))


def _sec(stats: dict[str, list], key: str) -> float:
    return float(sum(s for _, s in stats.get(key, [])))


def _snap_counts(stats: dict[str, list], n_res: int) -> str:
    snaps = stats.get("snap", [])
    res = [s for k, s in snaps if k == n_res]
    fac = [(k, s) for k, s in snaps if k != n_res]
    return (f"{_n(stats, 'dijkstra')} Dijkstra searches ({fmt_s(_sec(stats, 'dijkstra'))} s); the residents "
            f"snapped {len(res)}× ({fmt_s(sum(res))} s), facility sets snapped {len(fac)}× "
            f"({sum(k for k, _ in fac):,} points, {fmt_s(sum(s for _, s in fac))} s)")


def _breakdown(stats: dict[str, list]) -> str:
    """Where one counted run of the two calls spent its time."""
    parts = (("`dijkstra` (the searches)", "dijkstra"), ("snaps computed", "snap"),
             ("residents → metres (`resident_xy`: geopandas `to_crs`)", "project"),
             ("same-edge pairs (`_same_edge_distances`: a pandas merge per search)", "same_edge"))
    total = _sec(stats, "total")
    rest = total - sum(_sec(stats, k) for _, k in parts)
    return (f"{fmt_s(total)} s = " + ", ".join(f"{what} {fmt_s(_sec(stats, k))} s ({_n(stats, k)}×)"
                                              for what, k in parts)
            + f", the rest (facility subsets and their projection, super-source arcs, `point_distances`, shares, "
            f"rows, per-resident tables) {fmt_s(rest)} s")


def direct_xy(residents: gpd.GeoDataFrame, crs) -> np.ndarray:
    """Resident points → metres without new geometries: pyproj on the coordinate arrays (points only)."""
    tr = pyproj.Transformer.from_crs(residents.crs, crs, always_xy=True)
    c = shapely.get_coordinates(residents.geometry.to_numpy())
    x, y = tr.transform(c[:, 0], c[:, 1])
    return np.column_stack([x, y])


def _max_share_diff(a: dict[str, float], b: dict[str, float]) -> float:
    return max(abs(a[k] - b[k]) for k in a)


# --------------------------------------------------------------------------- the suite


def run(data: Path, seed: int = 42, repeats: int = REPEATS) -> Section:
    log("levels: loading the central city (roads, built-up area, residents, walk network)")
    cc = load_central_city(data)
    net0, residents = cc.net, cc.residents
    n = net0.n_nodes
    plan = level_plan()
    work = searches(plan)
    facilities, fac_nodes = stand_in_facilities(net0, seed)
    pop = population_weights(residents)
    t_xy = time.perf_counter()
    xy = resident_xy(residents, net0.crs)  # the exact array the indicators snap (same cache key)
    t_xy = time.perf_counter() - t_xy
    n_res = len(xy)
    lonlat = shapely.get_coordinates(residents.geometry.to_numpy())
    inside_bu = shapely.contains_xy(cc.built_up.union_all(), lonlat[:, 0], lonlat[:, 1])
    proj_t = {"resident_xy": repeat(lambda: resident_xy(residents, net0.crs), repeats)[0],
              "direct": repeat(lambda: direct_xy(residents, net0.crs), repeats)[0]}
    same_xy = bool(np.array_equal(direct_xy(residents, net0.crs), xy))

    log(f"levels: snap_points on fresh networks ×{repeats}")
    snap_t = fresh_snap(net0, xy, repeats)
    log(f"levels: kmgis lifecircle_levels + lifecircle ×{repeats} (after a warm-up)")
    km = kmgis_stage(net0, residents, facilities, xy, repeats)
    log("levels: kmgis, what-if: snap cache of 16 point sets")
    with snap_cache_size(16):
        km16 = kmgis_stage(net0, residents, facilities, xy, repeats)

    log(f"levels: NetworkX ×{REPEATS_NX}")
    t0 = time.perf_counter()
    g = nx_graph(net0)
    t_graph = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, res_node = cKDTree(np.column_stack([net0.node_x, net0.node_y])).query(xy)
    t_kd = time.perf_counter() - t0
    nx_t, (nx_dist, nx_shares, _) = repeat(lambda: networkx_run(g, n, fac_nodes, res_node, work, plan, pop),
                                           REPEATS_NX, warmup=False)

    log(f"levels: kmgis node model ×{repeats}")
    net_nm = fresh(net0)
    net_nm.csr("length_m")
    nm_t, (nm_dist, nm_shares) = repeat(lambda: node_model(net_nm, fac_nodes, res_node, work, plan, pop), repeats)

    pd_skip, pd_state, pd_t, pd_dist, pd_shares = "", None, None, {}, {}
    try:
        import pandana  # noqa: F401
    except ImportError as exc:
        pd_skip = f"pandana not importable ({exc}); `pip install -e '.[bench]'`"
    else:
        log("levels: pandana (contraction hierarchies once, then the queries)")
        pd_state = pandana_setup(net0, xy, max(c for _, _, c in work))
        pd_t, (pd_dist, pd_shares, _) = repeat(lambda: pandana_run(pd_state, net0, fac_nodes, work, plan, pop),
                                               REPEATS_PANDANA)
    return _report({
        "cc": cc, "net0": net0, "seed": seed, "plan": plan, "work": work, "pop": pop, "n_res": n_res, "t_xy": t_xy,
        "snap_t": snap_t, "km": km, "km16": km16, "t_graph": t_graph, "t_kd": t_kd, "res_node": res_node,
        "nx_t": nx_t, "nx_dist": nx_dist, "nx_shares": nx_shares, "nm_t": nm_t, "nm_dist": nm_dist,
        "nm_shares": nm_shares, "pd_skip": pd_skip, "pd_state": pd_state, "pd_t": pd_t, "pd_dist": pd_dist,
        "pd_shares": pd_shares, "inside_bu": inside_bu, "proj_t": proj_t, "same_xy": same_xy, "xy": xy,
    })


def _report(v: dict[str, Any]) -> Section:  # noqa: PLR0915 - one linear report
    lines: list[str] = []
    say = lines.append
    cc, net0, plan, work, km, km16 = v["cc"], v["net0"], v["plan"], v["work"], v["km"], v["km16"]
    n_res, pop, snap_t, nx_t, nm_t, pd_t = v["n_res"], v["pop"], v["snap_t"], v["nx_t"], v["nm_t"], v["pd_t"]
    n_search = len(work)
    n_lv = sum(1 for fn, _, _ in work if fn == "levels")
    km_res = km["result"]
    km_vals = _values(km_res["levels"]) | _values(km_res["circle"])
    km_dist = _kmgis_distances(km_res, work)
    steady_dij = len(km["steady"].get("dijkstra", []))
    built_km2 = float(cc.built_up.to_crs(cc.crs).area.sum() / 1e6)
    counts = ", ".join(f"{c} {k:,}" for c, k in FACILITY_COUNTS.items())
    reach, bands = circle_limits()
    n_rows_lv, n_rows_ci = len(_values(km_res["levels"])), len(_values(km_res["circle"]))

    inside = v["inside_bu"]
    say(f"Central city walk network: {net0.n_nodes:,} nodes, {net0.n_edges:,} edges; **{n_res:,} resident points** "
        f"({pop.sum() / 1e6:.2f} M persons over the 5 units; `population_points` per unit, {cc.population_proxy} "
        f"proxy, {cc.recipe.parameters.population_cell_m:g} m cells), of which {pop[inside].sum() / 1e6:.2f} M "
        f"persons ({100 * inside.mean():.0f} % of the points) inside the road-derived built-up patch of "
        f"{built_km2:,.0f} km².  **Stand-in facilities** (Kunming has no POIs offline): network nodes drawn with "
        f"`default_rng({v['seed']})` per category of `layers/facilities.yaml` (file order; a node may hold several "
        f"categories), uniformly over the whole network (units + 2 km halo, as suite 1), in numbers sized for "
        f"that city of ~{CITY_RESIDENTS_M} M residents on ~{CITY_KM2} km²: {counts} "
        f"({sum(FACILITY_COUNTS.values()):,} points; bus stops and convenience stores capped at 1,500, real "
        "counts are higher), given to kmgis as a WGS84 `facilities` layer (`conform`, `category`).  Distances, "
        "shares and their cost depend on these stand-ins, not on Kunming's real facilities.")
    say("")
    say(f"The work: `lifecircle_levels` (levels {', '.join(f'{k} {d:g} m' for k, d in plan.dist.items())}; "
        f"the {plan.group_level.id} level per group at {', '.join(f'{g} {d:g} m' for g, d in plan.groups.items())}; "
        f"{n_rows_lv} values) runs **{n_lv} searches** (one per required category, cut-offs "
        f"{', '.join(f'{c} {d:g}' for fn, c, d in work if fn == 'levels')} m); `lifecircle` (the plan's circle: "
        f"{len(select_categories())} categories × {reach:g} / {' / '.join(f'{b:g}' for b in bands)} m + complete; "
        f"{n_rows_ci} values) runs **{n_search - n_lv} searches** at {max([reach, *bands]):g} m.  Together "
        f"**{n_search} multi-source searches** (counted: {steady_dij} calls of scipy's `dijkstra` per run) for "
        f"{n_rows_lv + n_rows_ci} values; `convenience` is placed but neither function reads it.  Every engine runs "
        f"the same {n_search} searches (same source nodes, same cut-offs) and computes the same "
        f"{n_rows_lv + n_rows_ci} shares.")
    say("")

    # ---- main table
    km_t = km["total"]
    rows = [
        ["kmgis `lifecircle_levels` + `lifecircle` (as shipped)", f"CSR {fmt_s(km['csr_s'])} + `snap_points` "
         f"{fmt_s(km['snap_s'])}", _span(km_t), fmt_s(km_t.median_s / n_search), "1.00"],
        ["kmgis, what-if: snap cache of 16 point sets", "as above", _span(km16["total"]),
         fmt_s(km16["total"].median_s / n_search), f"{km16['total'].median_s / km_t.median_s:.2f}"],
        ["kmgis node model (`node_distances` at the nearest node)", "CSR + cKDTree (as NetworkX)", _span(nm_t),
         fmt_s(nm_t.median_s / n_search), f"{nm_t.median_s / km_t.median_s:.2f}"],
        ["NetworkX `multi_source_dijkstra_path_length`", f"nx.Graph {fmt_s(v['t_graph'])} + cKDTree nearest node "
         f"{fmt_s(v['t_kd'])}", _span(nx_t), fmt_s(nx_t.median_s / n_search), f"{nx_t.median_s / km_t.median_s:.2f}"],
    ]
    pd_state = v["pd_state"]
    if pd_t is not None:
        rows.append(["pandana `set_pois` + `nearest_pois`", f"`Network` (CH) {fmt_s(pd_state['init_s'])} + "
                     f"`precompute({max(c for _, _, c in work):g})` {fmt_s(pd_state['precompute_s'])} + "
                     f"`get_node_ids` {fmt_s(pd_state['node_ids_s'])}", _span(pd_t), fmt_s(pd_t.median_s / n_search),
                     f"{pd_t.median_s / km_t.median_s:.2f}"])
    else:
        rows.append(["pandana", v["pd_skip"], "–", "–", "–"])
    lines.extend(md_table(["engine", "one-time work, not counted (s)", f"{n_search} searches + shares: median "
                           "(min–max) s", f"per search (÷ {n_search}) s", "time / kmgis's"], rows, right=range(2, 5)))
    say("")
    say(f"Medians (min–max) of {len(km_t.runs_s)} runs after a warm-up (kmgis, its what-if and its node model), "
        f"{len(nx_t.runs_s)} runs without warm-up (NetworkX) and {len(pd_t.runs_s) if pd_t else '–'} after a warm-up "
        "(pandana; its contraction hierarchies built once).  Last column: time / kmgis as shipped (> 1: slower "
        "than kmgis); the other way round, kmgis / NetworkX = "
        f"{km_t.median_s / nx_t.median_s:.2f}" + (f", kmgis / pandana = {km_t.median_s / pd_t.median_s:.2f}"
                                                   if pd_t is not None else "") + ".  "
        "kmgis's time is the two calls as a user makes them: projecting the residents (once per call), the "
        "snap-cache look-ups, snapping the facility sets, the searches, the shares, the rows and the per-resident "
        "tables.  The engines' time is their searches, reading the residents' nodes and the shares.  Not counted: "
        f"loading the inputs, `build_network`, the residents → metres once ({fmt_s(v['t_xy'])} s), the one-time "
        "work in the table.  kmgis and NetworkX run on one thread; pandana uses OpenMP (2 threads here).")
    say("")

    # ---- snapping and the cache
    steady_res = sum(1 for k, _ in km["steady"].get("snap", []) if k == n_res)
    say("### Snapping, the snap cache and where kmgis's time goes")
    say("")
    say(f"- `snap_points` of the {n_res:,} residents on a fresh network (segment index built in the call): "
        f"{_span(snap_t['total'])} s; apart: the index build {_span(snap_t['build'])} s, the snap with the index "
        f"built {_span(snap_t['snap'])} s (medians of {len(snap_t['total'].runs_s)} after a warm-up).  In the "
        f"kmgis stage the residents were snapped once, on a fresh copy, before the calls "
        f"({fmt_s(km['snap_s'])} s, index included).")
    say(f"- The first two calls after that snap (the warm-up, counted): {_snap_counts(km['first'], n_res)}.")
    say(f"- Every later pair of calls (counted): {_snap_counts(km['steady'], n_res)}.")
    if steady_res:
        say(f"- **So the residents' snap is not free inside the indicators.**  `snap_points` keeps the "
            f"{km_snap._SNAP_CACHE_SIZE} most recently *inserted* point sets per network (first in, first out: a "
            f"hit does not refresh an entry), while each call snaps {len(select_categories())} facility sets "
            "besides the residents (9 sets): the 8th facility set evicts the residents, the residents' snap evicts "
            "the first facility set, which is snapped again and evicts the next, and so on.  With room for 16 point "
            "sets (the what-if row: `kmgis.network.snap._SNAP_CACHE_SIZE` set to 16 for that run only, nothing "
            f"else changed): {_snap_counts(km16['steady'], n_res)}; total {_span(km16['total'])} s.  A larger "
            "cache or a least-recently-used policy in `kmgis/network/snap.py` would make the indicators' own snap "
            "free, as intended.")
    say(f"- Where one pair of calls spends its time (counted run, as shipped): {_breakdown(km['steady'])}.")
    say(f"- The same with the 16-set cache: {_breakdown(km16['steady'])}.")
    pt = v["proj_t"]
    say(f"- The residents → metres step alone: `resident_xy` (geopandas `to_crs`, which builds {n_res:,} new "
        f"points) {_span(pt['resident_xy'])} s per call; pyproj on the coordinate arrays (`Transformer.transform` "
        f"of `get_coordinates`, no new geometries) {_span(pt['direct'])} s, bit-identical: {v['same_xy']} (so the "
        "snap cache key would not change).  A not-yet-made option for kmgis, measured here only to size the "
        "headroom.")
    say("")

    # ---- timings in detail
    say("### Timings in detail (s; median, then the runs)")
    say("")
    for key, what in (("levels", "`lifecircle_levels`"), ("circle", "`lifecircle`"), ("total", "both")):
        say(f"- kmgis {what}: {fmt_s(km[key].median_s)} ({km[key].runs()}); what-if cache 16: "
            f"{fmt_s(km16[key].median_s)} ({km16[key].runs()})")
    dij = [s for _, s in km["steady"].get("dijkstra", [])]
    if dij:
        say(f"- kmgis `dijkstra` per search (counted run): median {fmt_s(float(np.median(dij)))}, min "
            f"{fmt_s(min(dij))}, max {fmt_s(max(dij))}; CSR build {fmt_s(km['csr_s'])} (once per network)")
    say(f"- kmgis node model ({n_search} × `node_distances(snap_nodes(…))` + read at the nearest node + shares): "
        f"{fmt_s(nm_t.median_s)} ({nm_t.runs()})")
    say(f"- NetworkX ({n_search} × `multi_source_dijkstra_path_length` + shares): {fmt_s(nx_t.median_s)} "
        f"({nx_t.runs()}); one-time: nx.Graph {fmt_s(v['t_graph'])}, cKDTree + nearest node of every resident "
        f"{fmt_s(v['t_kd'])}")
    if pd_t is not None:
        say(f"- pandana ({n_search} × (`set_pois` + `nearest_pois`) + shares): {fmt_s(pd_t.median_s)} "
            f"({pd_t.runs()}); one-time: `Network(...)` (contraction hierarchies + KD-tree) "
            f"{fmt_s(pd_state['init_s'])}, `precompute` {fmt_s(pd_state['precompute_s'])}, `get_node_ids` "
            f"{fmt_s(pd_state['node_ids_s'])}")
    else:
        say(f"- pandana: skipped, {v['pd_skip']}")
    say(f"- shared: walk `build_network` {cc.timings['walk network (build_network)']:.2f}, resident points "
        f"{cc.timings['resident points']:.2f}, residents → metres (first call) {v['t_xy']:.3f}")
    say("")

    # ---- agreement
    say("### Agreement")
    say("")
    nx_dist, nm_dist, pd_dist = v["nx_dist"], v["nm_dist"], v["pd_dist"]
    nx_shares, nm_shares, pd_shares = v["nx_shares"], v["nm_shares"], v["pd_shares"]
    replica = all_shares(plan, pop, km_dist)
    same_replica = set(replica) == set(km_vals) and all(replica[k] == km_vals[k] for k in km_vals)
    say(f"- The benchmark's shares (the functions' rules, `share_pct`) from kmgis's own per-resident distances "
        f"reproduce its {len(km_vals)} values: **{'IDENTICAL' if same_replica else 'DIFFER'}** (so every engine's "
        "shares below are computed the kmgis way).")
    consistent = all(
        np.array_equal(np.where(km_dist[("levels", c)] <= cut, km_dist[("levels", c)], np.inf),
                       np.where(km_dist[("circle", c)] <= cut, km_dist[("circle", c)], np.inf))
        for fn, c, cut in work if fn == "levels")
    say(f"- kmgis's two calls agree with each other: each category's `levels_dist_m_` equals `dist_m_` within the "
        f"levels' cut-off: {consistent}")
    cmp_nm = {k: compare(nx_dist[k], nm_dist[k], TOL_M) for k in nx_dist}
    ok = all(c["agree"] for c in cmp_nm.values())
    say(f"- kmgis node model vs NetworkX, the {n_search} searches × {n_res:,} residents: "
        f"**{'EQUAL' if ok else 'DIFFER'}** (tolerance {TOL_M} m; max |diff| "
        f"{max(c['max_abs_m'] for c in cmp_nm.values()):.2e} m; reached only by one: "
        f"{sum(c['only_ref'] + c['only_other'] for c in cmp_nm.values()):,}); shares: max |diff| "
        f"{_max_share_diff(nx_shares, nm_shares):.2e} percentage points")
    if pd_dist:
        cmp_pd = {k: compare(nx_dist[k], pd_dist[k], TOL_M) for k in nx_dist}
        same_node = int((pd_state["ids"] == v["res_node"]).sum())
        say(f"- pandana vs NetworkX: max |diff| {max(c['max_abs_m'] for c in cmp_pd.values()):.4f} m, "
            f"{sum(c['over_tol'] for c in cmp_pd.values()):,} resident-search pairs over {TOL_M} m, reached only "
            f"by pandana {sum(c['only_other'] for c in cmp_pd.values()):,}, only by NetworkX "
            f"{sum(c['only_ref'] for c in cmp_pd.values()):,} (pandana truncates edge weights to whole millimetres "
            f"and returns float32); shares: max |diff| {_max_share_diff(nx_shares, pd_shares):.2e} percentage "
            f"points; pandana put {same_node:,} of {n_res:,} residents on the cKDTree's node")
    snapped = km["snapped"]
    cmp_km = [compare(nx_dist[k], km_dist[k], TOL_M) for k in nx_dist]
    diff = np.concatenate([km_dist[k][np.isfinite(km_dist[k]) & np.isfinite(nx_dist[k])]
                           - nx_dist[k][np.isfinite(km_dist[k]) & np.isfinite(nx_dist[k])] for k in nx_dist])
    xy, res_node = v["xy"], v["res_node"]
    d_node = np.hypot(xy[:, 0] - net0.node_x[res_node], xy[:, 1] - net0.node_y[res_node])
    say(f"- kmgis as shipped (residents on the nearest point of the nearest edge within "
        f"{snapped.max_snap_m:g} m, snap distance and along-edge offset walked) vs the nearest-node model "
        f"(NetworkX; nothing walked to the node, no snap limit): different models by design, not errors.  "
        f"Over the {n_search} searches: reached by kmgis only {sum(c['only_other'] for c in cmp_km):,}, by "
        f"NetworkX only {sum(c['only_ref'] for c in cmp_km):,} resident-search pairs; "
        f"where both reach, kmgis − NetworkX median {np.median(diff):+.1f} m (p5 {np.percentile(diff, 5):+.1f}, "
        f"p95 {np.percentile(diff, 95):+.1f}): a resident is {np.median(snapped.snap_m[snapped.reached]):.0f} m "
        f"(median) from the nearest edge, which kmgis walks, and {np.median(d_node):.0f} m from the nearest node, "
        f"which NetworkX does not; {int((~snapped.reached).sum()):,} residents lie more than "
        f"{snapped.max_snap_m:g} m from any edge (never covered in kmgis).  Shares: max |diff| "
        f"{_max_share_diff(km_vals, nx_shares):.2f} percentage points; kmgis lower on "
        f"{sum(km_vals[k] < nx_shares[k] for k in km_vals)}, higher on {sum(km_vals[k] > nx_shares[k] for k in km_vals)} "
        f"of the {len(km_vals)} values (table below).")
    say("")
    hdr = ["value (%)", "kmgis (as shipped)", "kmgis node model", "NetworkX", "pandana", "kmgis − NetworkX"]
    trows = []
    for k in km_vals:
        trows.append([f"`{k}`", f"{km_vals[k]:.2f}", f"{nm_shares[k]:.2f}", f"{nx_shares[k]:.2f}",
                      f"{pd_shares[k]:.2f}" if pd_shares else "–", f"{km_vals[k] - nx_shares[k]:+.2f}"])
    lines.extend(md_table(hdr, trows))
    say("")

    # ---- goals
    met = km_t.median_s < GOAL_S
    goals = [
        Goal(f"levels + life circle < {GOAL_S:g} s after network and snap (`lifecircle_levels` + `lifecircle`, "
             f"{n_res:,} residents, {n_search} searches)",
             f"{fmt_s(km_t.median_s)} s ({fmt_s(min(km_t.runs_s))}–{fmt_s(max(km_t.runs_s))}; "
             f"{fmt_s(km_t.median_s / n_search)} s per search)"
             + (f"; the residents re-snapped {steady_res}× per pair of calls (snap cache of "
                f"{km_snap._SNAP_CACHE_SIZE} sets evicts them; with 16 sets: {fmt_s(km16['total'].median_s)} s)"
                if steady_res else "; the residents' snap served from the cache"), met),
        Goal(f"snap of the {n_res:,} residents < {SNAP_GOAL_S} s (fresh network, index build included)",
             f"{fmt_s(snap_t['total'].median_s)} s ({fmt_s(min(snap_t['total'].runs_s))}–"
             f"{fmt_s(max(snap_t['total'].runs_s))})", snap_t["total"].median_s < SNAP_GOAL_S),
        Goal(f"levels + life circle: kmgis vs NetworkX on the same {n_search} searches + shares",
             f"{nx_t.median_s / km_t.median_s:.2f}× (NetworkX {fmt_s(nx_t.median_s)} s / kmgis "
             f"{fmt_s(km_t.median_s)} s; node model alone {nx_t.median_s / nm_t.median_s:.1f}×); node model EQUAL: "
             f"{ok}", None),
    ]
    if pd_t is not None:
        goals.append(Goal(f"levels + life circle: kmgis vs pandana on the same {n_search} searches + shares",
                          f"{pd_t.median_s / km_t.median_s:.2f}× (pandana {fmt_s(pd_t.median_s)} s after its "
                          f"contraction {fmt_s(pd_state['init_s'])} s + precompute; node model alone "
                          f"{pd_t.median_s / nm_t.median_s:.1f}×)", None))
    else:
        goals.append(Goal("levels + life circle: kmgis vs pandana", v["pd_skip"], None))
    return Section("6. GB 50180 life-circle levels + the plan's life circle, central city", lines, goals)


def main(argv: list[str] | None = None) -> int:
    def extra(p):
        p.add_argument("--seed", type=int, default=42, help="numpy default_rng seed of the stand-in facilities (42)")
        p.add_argument("--repeats", type=int, default=REPEATS, help=f"kmgis timed runs after the warm-up ({REPEATS})")

    return suite_main(argv, "python -m benchmarks.levels", __doc__, run, extra)


if __name__ == "__main__":
    sys.exit(main())
