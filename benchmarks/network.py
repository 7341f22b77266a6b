"""Nearest-facility walk distance on the whole city's network: kmgis vs NetworkX vs pandana.

    python -m benchmarks.network [--facilities 500] [--cutoff 1200] [--seed 42] [--data DIR]

One run on the walk network built from the Kunming road layer (catalogue ``kunming_roads``,
``build_network(roads, "walk", "EPSG:32648")``).  N facility nodes are drawn with
``numpy.random.default_rng(seed)``; the distance from every node to the nearest facility,
within the cut-off, is computed by

* **kmgis**: ``snap_points`` of the facility node coordinates, then ``node_distances``
  (one scipy ``csgraph.dijkstra`` from a virtual super-source, on the cached CSR);
* **NetworkX**: ``multi_source_dijkstra_path_length`` on an ``nx.Graph`` built from the same
  edge list (the shortest of parallel edges kept);
* **pandana** (if installed): contraction hierarchies, ``Network`` + ``precompute`` +
  ``set_pois`` + ``nearest_pois``.

Times are medians of several repeats (``time.perf_counter``); graph building is timed
apart from searching.  The results are compared and the differences printed.  Nothing is
asserted: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import datetime as dt
import gc
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import shapely

from kmgis.config import catalog_entry, data_dir
from kmgis.errors import KmgisError
from kmgis.network import Network, build_network, node_distances, snap_nodes, snap_points
from kmgis.sources import load_layer

METRIC_CRS = "EPSG:32648"  # UTM 48N, the metric CRS for Kunming
TOLERANCE_M = 0.01
REPEATS_FAST = 5
REPEATS_SLOW = 3  # NetworkX, graph builds, pandana's contraction
_VERSIONED = ("kmgis", "numpy", "scipy", "shapely", "geopandas", "pandas", "networkx", "pandana")


# --------------------------------------------------------------------------- helpers


@dataclasses.dataclass
class Timing:
    """Median and individual runs of one timed step, in seconds."""

    median_s: float
    runs_s: list[float]

    def __add__(self, other: Timing) -> Timing:
        runs = [a + b for a, b in zip(self.runs_s, other.runs_s, strict=False)]
        return Timing(self.median_s + other.median_s, runs)

    def runs(self) -> str:
        return ", ".join(f"{r:.4f}" for r in self.runs_s)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[Timing, Any]:
    """Run ``fn`` ``repeats`` times (garbage collected before each run); median time and last result."""
    runs: list[float] = []
    result = None
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        runs.append(time.perf_counter() - t0)
    return Timing(float(np.median(runs)), runs), result


@contextlib.contextmanager
def quiet_fds() -> Iterator[None]:
    """Silence writes of C/C++ code to file descriptors 1 and 2 (pandana's CH progress lines)."""
    sys.stdout.flush()
    sys.stderr.flush()
    libc = ctypes.CDLL(None)
    saved = (os.dup(1), os.dup(2))
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        libc.fflush(None)
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def nproc() -> int:
    """CPUs this process may use (what ``nproc`` prints)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def versions() -> dict[str, str]:
    """Python and library versions (kmgis.workflows.common.package_versions over this benchmark's list)."""
    from kmgis.workflows.common import package_versions

    return package_versions(tuple(_VERSIONED))


def nx_graph(net: Network) -> nx.Graph:
    """An undirected ``nx.Graph`` of the network's edge list; parallel edges keep the minimum length."""
    a = np.minimum(net.edge_u, net.edge_v)
    b = np.maximum(net.edge_u, net.edge_v)
    w = net.edge_length_m
    order = np.lexsort((w, b, a))
    a, b, w = a[order], b[order], w[order]
    first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])]
    g = nx.Graph()
    g.add_nodes_from(range(net.n_nodes))
    g.add_weighted_edges_from(zip(a[first].tolist(), b[first].tolist(), w[first].tolist(), strict=True), weight="length")
    return g


def dict_to_array(dist: dict[int, float], n: int) -> np.ndarray:
    out = np.full(n, np.inf)
    out[np.fromiter(dist.keys(), dtype=np.int64, count=len(dist))] = np.fromiter(dist.values(), dtype=float, count=len(dist))
    return out


def compare(ref: np.ndarray, other: np.ndarray, tol: float = TOLERANCE_M) -> dict[str, Any]:
    """Reached sets and distance differences of ``other`` against ``ref`` (``inf`` = not reached)."""
    r_ref, r_oth = np.isfinite(ref), np.isfinite(other)
    both = r_ref & r_oth
    diff = other[both] - ref[both]
    absd = np.abs(diff)
    return {
        "reached_ref": int(r_ref.sum()),
        "reached_other": int(r_oth.sum()),
        "only_ref": int((r_ref & ~r_oth).sum()),
        "only_other": int((r_oth & ~r_ref).sum()),
        "max_abs_m": float(absd.max()) if len(absd) else 0.0,
        "mean_abs_m": float(absd.mean()) if len(absd) else 0.0,
        "mean_signed_m": float(diff.mean()) if len(diff) else 0.0,
        "over_tol": int((absd > tol).sum()),
        "agree": bool(not (r_ref ^ r_oth).any() and (absd <= tol).all()),
    }


def describe(label: str, c: dict[str, Any], tol: float = TOLERANCE_M) -> str:
    verdict = "AGREE" if c["agree"] else "DIFFER"
    return (
        f"{label}: {verdict} (tolerance {tol} m) - reached {c['reached_ref']:,} vs {c['reached_other']:,} nodes "
        f"(only first {c['only_ref']}, only second {c['only_other']}); on nodes both reached: "
        f"max |diff| {c['max_abs_m']:.6f} m, mean |diff| {c['mean_abs_m']:.6f} m, "
        f"mean (second - first) {c['mean_signed_m']:+.6f} m, {c['over_tol']} node(s) over tolerance"
    )


# --------------------------------------------------------------------------- the benchmark


def run(n_facilities: int, cutoff: float, seed: int, data: Path | None) -> list[str]:
    """Run the benchmark; return the report lines (Markdown)."""
    t_run = time.perf_counter()
    lines: list[str] = []
    say = lines.append

    # ---- shared: the road layer and the kmgis network (its edge list feeds every engine)
    entry = catalog_entry("kunming_roads")
    t_load, roads = timed(lambda: load_layer(entry, data), 1)
    t_graph, net = timed(lambda: build_network(roads, "walk", METRIC_CRS), REPEATS_SLOW)
    n = net.n_nodes
    if not 0 < n_facilities <= n:
        raise KmgisError(f"--facilities must be between 1 and {n:,} (the network's nodes)")
    rng = np.random.default_rng(seed)
    fac = rng.choice(n, size=n_facilities, replace=False)
    fac_xy = np.column_stack([net.node_x[fac], net.node_y[fac]])

    # ---- kmgis
    copies = [net] + [dataclasses.replace(net) for _ in range(REPEATS_FAST - 1)]  # fresh, empty caches
    it = iter(copies)
    t_csr, csr = timed(lambda: next(it).csr("length_m"), len(copies))  # run 1 is net's first csr() call
    it = iter(copies)
    t_tree, _ = timed(lambda: next(it).edge_tree(), len(copies))
    t_snap, snapped = timed(lambda: snap_points(net, fac_xy), REPEATS_FAST)
    t_search, d_km = timed(lambda: node_distances(net, snapped, cutoff=cutoff), REPEATS_FAST)
    t_snap_search, _ = timed(lambda: node_distances(net, snap_points(net, fac_xy), cutoff=cutoff), REPEATS_FAST)
    d_km_nodes = node_distances(net, snap_nodes(net, fac), cutoff=cutoff)  # exact node sources, for the checks

    # ---- NetworkX
    t_nx_build, g = timed(lambda: nx_graph(net), REPEATS_SLOW)
    sources = set(fac.tolist())
    t_nx_search, nx_res = timed(
        lambda: nx.multi_source_dijkstra_path_length(g, sources, cutoff=cutoff, weight="length"), REPEATS_SLOW
    )
    d_nx = dict_to_array(nx_res, n)
    nx_edges = g.number_of_edges()

    # ---- pandana
    pdn: dict[str, Any] = {}
    try:
        import pandana
        import pandas as pd
    except ImportError as exc:
        pdn["skipped"] = f"pandana not importable ({exc}); `pip install -e '.[bench]'`"
    else:
        x, y = pd.Series(net.node_x), pd.Series(net.node_y)
        edge_from, edge_to = pd.Series(net.edge_u), pd.Series(net.edge_v)
        weights = pd.DataFrame({"length": net.edge_length_m})
        init_runs, pre_runs = [], []
        pn = None
        for _ in range(REPEATS_SLOW):
            pn = None
            gc.collect()
            with quiet_fds():
                t0 = time.perf_counter()
                pn = pandana.Network(x, y, edge_from, edge_to, weights, twoway=True)
                t1 = time.perf_counter()
                pn.precompute(cutoff)
                t2 = time.perf_counter()
            init_runs.append(t1 - t0)
            pre_runs.append(t2 - t1)
        assert pn is not None
        fx, fy = pd.Series(fac_xy[:, 0]), pd.Series(fac_xy[:, 1])
        set_runs, near_runs = [], []
        res = None
        for k in range(REPEATS_FAST):
            gc.collect()
            with quiet_fds():
                t0 = time.perf_counter()
                pn.set_pois(f"fac{k}", cutoff, 1, fx, fy)
                t1 = time.perf_counter()
                res = pn.nearest_pois(cutoff, f"fac{k}", num_pois=1, max_distance=np.inf)
                t2 = time.perf_counter()
            set_runs.append(t1 - t0)
            near_runs.append(t2 - t1)
        mapped = pn.get_node_ids(fx, fy).to_numpy()
        pdn = {
            "init": Timing(float(np.median(init_runs)), init_runs),
            "precompute": Timing(float(np.median(pre_runs)), pre_runs),
            "set_pois": Timing(float(np.median(set_runs)), set_runs),
            "nearest_pois": Timing(float(np.median(near_runs)), near_runs),
            "query": Timing(float(np.median(np.add(set_runs, near_runs))), list(np.add(set_runs, near_runs))),
            "dist": res[1].to_numpy(dtype=float),
            "mapped_ok": int((mapped == fac).sum()),
        }
        del pn

    # ---- the table
    km_build, km_search = t_csr.median_s, t_search.median_s
    rows = [
        ("kmgis: CSR + scipy Dijkstra (headline)", "CSR", km_build, km_search),
        ("kmgis incl. snapping", "CSR + STRtree", km_build + t_tree.median_s, t_snap_search.median_s),
        ("NetworkX multi_source_dijkstra", "nx.Graph", t_nx_build.median_s, t_nx_search.median_s),
    ]
    if "skipped" not in pdn:
        rows.append(
            ("pandana CH nearest_pois", "init + precompute", pdn["init"].median_s + pdn["precompute"].median_s,
             pdn["query"].median_s)
        )
    say(f"## Nearest of {n_facilities} facility nodes (seed {seed}), cut-off {cutoff:g} m, walk network of Kunming")
    say("")
    say("| engine | build | build s | search s | build + search s | search / kmgis | (build + search) / kmgis |")
    say("|---|---|---:|---:|---:|---:|---:|")
    for name, what, build, search in rows:
        say(
            f"| {name} | {what} | {build:.4f} | {search:.4f} | {build + search:.4f} | "
            f"{search / km_search:.2f} | {(build + search) / (km_build + km_search):.2f} |"
        )
    say("")
    say("Median of repeats; ratios > 1 mean slower than kmgis.  The edge list itself (roads layer → "
        "`build_network`) is shared by all engines and timed apart below.")
    say("")

    # ---- details
    say("### Timings in detail (s; median, then the individual runs)")
    say("")
    say(f"- shared: load roads layer {t_load.median_s:.3f}; `build_network` walk {t_graph.median_s:.3f} ({t_graph.runs()})")
    say(f"- kmgis CSR build: first `net.csr()` call {t_csr.runs_s[0]:.4f}, median {t_csr.median_s:.4f} ({t_csr.runs()})")
    say(f"- kmgis STRtree build (for snapping): {t_tree.median_s:.4f} ({t_tree.runs()})")
    say(f"- kmgis `snap_points` of {n_facilities} points: {t_snap.median_s:.4f} ({t_snap.runs()})")
    say(f"- kmgis `node_distances`, cached CSR: {t_search.median_s:.4f} ({t_search.runs()})")
    say(f"- kmgis search incl. snapping: {t_snap_search.median_s:.4f} ({t_snap_search.runs()})")
    say(f"- NetworkX graph build: {t_nx_build.median_s:.4f} ({t_nx_build.runs()})")
    say(f"- NetworkX `multi_source_dijkstra_path_length`: {t_nx_search.median_s:.4f} ({t_nx_search.runs()})")
    if "skipped" in pdn:
        say(f"- pandana: skipped, {pdn['skipped']}")
    else:
        say(f"- pandana `Network(...)` init (contraction hierarchies + KD-tree): {pdn['init'].median_s:.4f} "
            f"({pdn['init'].runs()})")
        say(f"- pandana `precompute({cutoff:g})`: {pdn['precompute'].median_s:.4f} ({pdn['precompute'].runs()})")
        say(f"- pandana `set_pois`: {pdn['set_pois'].median_s:.4f} ({pdn['set_pois'].runs()})")
        say(f"- pandana `nearest_pois`: {pdn['nearest_pois'].median_s:.4f} ({pdn['nearest_pois'].runs()})")
        say(f"- pandana query (`set_pois` + `nearest_pois`): {pdn['query'].median_s:.4f}; "
            f"query + precompute: {pdn['query'].median_s + pdn['precompute'].median_s:.4f}")
    say("")

    # ---- graph, machine, versions
    self_loops = int((net.edge_u == net.edge_v).sum())
    say("### Graph")
    say("")
    say(f"- nodes {n:,}; edges {net.n_edges:,} ({self_loops} self-loops); CSR arcs {csr.nnz:,} "
        f"(both directions, self-loops dropped, parallel arcs collapsed to the shortest)")
    say(f"- nx.Graph edges {nx_edges:,}" + ("" if "skipped" in pdn else f"; pandana given all {net.n_edges:,} edges, twoway=True"))
    say(f"- build summary: components {net.summary.get('components')}, dropped nodes {net.summary.get('dropped_nodes')}, "
        f"node policy {net.summary.get('node_policy')}")
    say("")
    v = versions()
    say("### Machine and versions")
    say("")
    say(f"- {dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec='seconds')}; nproc {nproc()}; "
        f"CPU {cpu_model()}; {platform.system()} {platform.release()}")
    say("- " + ", ".join(f"{k} {val}" for k, val in v.items()))
    if "skipped" not in pdn:
        say("- kmgis and NetworkX run on one thread; pandana's contraction and queries use OpenMP "
            f"(up to {nproc()} threads here)")
    say("")

    # ---- agreement
    say("### Agreement")
    say("")
    say("- " + describe("kmgis (snap_points, as timed) vs NetworkX", compare(d_km, d_nx)))
    incident = (net.edge_u[snapped.edge] == fac) | (net.edge_v[snapped.edge] == fac)
    off = np.flatnonzero(snapped.reached & ~incident)
    if len(off):
        details = []
        for i in off[:5]:
            e = snapped.edge[i]
            along = min(snapped.pos_m[i], net.edge_length_m[e] - snapped.pos_m[i])
            pt = shapely.points(fac_xy[i])
            details.append(
                f"node {fac[i]} → edge {e} (u {net.edge_u[e]}, v {net.edge_v[e]}, {net.edge_length_m[e]:.1f} m; "
                f"point {shapely.distance(pt, net.edge_geometry[e]):.3f} m from it, {along:.1f} m from its nearer end)"
            )
        say(f"  - {len(off)} of {n_facilities} facility points snapped to an edge not incident to their node "
            f"(a tie at 0 m: the node lies on another line's interior, which is no junction under the "
            f"'{net.summary.get('node_policy')}' node policy): " + "; ".join(details))
    unreached = int((~snapped.reached).sum())
    if unreached:
        say(f"  - {unreached} facility point(s) did not snap")
    say("- " + describe("kmgis (snap_nodes, exact node sources) vs NetworkX", compare(d_km_nodes, d_nx)))
    if "skipped" not in pdn:
        d_pd = pdn["dist"]
        say(f"- pandana mapped {pdn['mapped_ok']} of {n_facilities} facility points to their own node (KD-tree)")
        say("- " + describe("kmgis (snap_nodes) vs pandana", compare(d_km_nodes, d_pd)))
        # pandana 0.8 (graphalg.cpp): weight*1000 → unsigned int (truncated to whole millimetres);
        # result = float(distance_mm) / 1000.0f, a float32
        mm_net = dataclasses.replace(net, edge_length_m=np.floor(net.edge_length_m * 1000.0))
        d_mm = np.round(node_distances(mm_net, snap_nodes(mm_net, fac), cutoff=cutoff * 1000.0))
        emul = np.full(n, np.inf)
        ok = np.isfinite(d_mm)
        emul[ok] = (d_mm[ok].astype(np.float32) / np.float32(1000.0)).astype(float)
        say("- " + describe("emulated pandana (kmgis on weights truncated to whole mm, result float32 mm / 1000) "
                            "vs pandana", compare(emul, d_pd, tol=0.0), tol=0.0))
        emul64 = np.where(ok, d_mm / 1000.0, np.inf)
        say(f"  - the float32 step alone: max |float64 mm / 1000 - pandana| = "
            f"{compare(emul64, d_pd)['max_abs_m']:.2e} m; the millimetre truncation of each edge weight: "
            f"max |kmgis - emulated float64| = {compare(d_km_nodes, emul64)['max_abs_m']:.6f} m")
    say("")
    say(f"Whole run {time.perf_counter() - t_run:.1f} s.")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.network", description=__doc__.splitlines()[0])
    parser.add_argument("--facilities", type=int, default=500, metavar="N", help="facility nodes to draw (500)")
    parser.add_argument("--cutoff", type=float, default=1200.0, metavar="M", help="search cut-off in metres (1200)")
    parser.add_argument("--seed", type=int, default=42, help="numpy default_rng seed (42)")
    parser.add_argument("--data", default=None, help="Kunming data directory (default: $KMGIS_DATA or ../shared/data)")
    args = parser.parse_args(argv)
    if args.cutoff <= 0:
        parser.error("--cutoff must be positive")
    try:
        data = data_dir(args.data)
        if data is None:
            raise KmgisError("no Kunming data directory: pass --data DIR or set KMGIS_DATA")
        lines = run(args.facilities, args.cutoff, args.seed, data)
    except KmgisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
