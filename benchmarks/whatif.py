"""Incremental what-if on the central city: adding 3 facilities vs a full recomputation.

    python -m benchmarks.whatif [--data DIR] [--seed 42] [--repeats 5]

Issue #15 item 2: once the network is built and the stored distances exist (a
:class:`kmgis.indicators.scenario.Scenario` built with one search per category), adding 3
facilities runs **one search from the 3 new facilities only** and takes the elementwise minimum
with the stored distances — goal < 100 ms.  The reference is a full recomputation: one
multi-source search from all facilities of the category plus the 3 (``nearest_distance``),
which must give the same distances (to 1e-9 m).

Inputs: the central city (:func:`benchmarks.common.central_city`: roads, residents, walk
network).  Stand-in facilities: ``benchmarks.levels.FACILITY_COUNTS["clinic"]`` network nodes
drawn with the seed (Kunming has no facility POIs offline), and 3 more nodes as the new ones.
Searches cut off at 1,500 m (the life circle's widest band) and without a cut-off.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from benchmarks.common import Goal, Section, fmt_s, log, md_table, suite_main
from benchmarks.common import central_city as load_central_city
from benchmarks.levels import FACILITY_COUNTS, repeat
from kmgis.indicators.scenario import Scenario
from kmgis.model import WGS84
from kmgis.network import nearest_distance, snap_points

REPEATS = 5
GOAL_S = 0.100
CATEGORY = "clinic"
CUTOFFS = (1500.0, np.inf)


def node_points(net, nodes: np.ndarray, category: str) -> gpd.GeoDataFrame:
    """Network nodes as a WGS84 facilities layer of ``category``."""
    return gpd.GeoDataFrame({"category": [category] * len(nodes), "source_id": [f"node:{n}" for n in nodes]},
                            geometry=shapely.points(net.node_x[nodes], net.node_y[nodes]), crs=net.crs).to_crs(WGS84)


def _one(net, residents, base: gpd.GeoDataFrame, new: gpd.GeoDataFrame, cutoff: float, repeats: int) -> dict:
    """Build time, incremental add (fresh scenario copy per run), full recomputation, equality."""
    t0 = time.perf_counter()
    sc = Scenario(net, residents, base, categories=[CATEGORY], cutoff_m=cutoff)
    build_s = time.perf_counter() - t0
    stored = sc.after[CATEGORY].copy()

    def incremental():
        sc.after[CATEGORY] = stored.copy()  # the stored distances as built (copy not timed apart: ~1 ms)
        sc.facilities = sc.facilities[~sc.facilities["added"]]
        sc.add(new, CATEGORY)
        return sc.after[CATEGORY]

    everything = gpd.GeoDataFrame(pd.concat([base, new], ignore_index=True), crs=WGS84)
    targets = sc.targets

    def full():
        return nearest_distance(net, targets, snap_points(net, everything), cutoff=cutoff)

    inc_t, inc = repeat(incremental, repeats)
    full_t, ref = repeat(full, repeats)
    both = np.isfinite(inc) & np.isfinite(ref)
    equal = bool(np.array_equal(np.isfinite(inc), np.isfinite(ref)) and
                 (np.abs(inc[both] - ref[both]).max(initial=0.0) <= 1e-9))
    return {"build_s": build_s, "inc": inc_t, "full": full_t, "equal": equal,
            "max_diff": float(np.abs(inc[both] - ref[both]).max(initial=0.0)),
            "changed": int((inc < stored).sum())}


def run(data: Path, seed: int = 42, repeats: int = REPEATS) -> Section:
    log("whatif: loading the central city (roads, built-up area, residents, walk network)")
    cc = load_central_city(data)
    net, residents = cc.net, cc.residents
    net.csr("length_m")
    rng = np.random.default_rng(seed)
    nodes = rng.choice(net.n_nodes, size=FACILITY_COUNTS[CATEGORY] + 3, replace=False)
    base, new = node_points(net, nodes[:-3], CATEGORY), node_points(net, nodes[-3:], CATEGORY)
    snap_points(net, residents.to_crs(net.crs).geometry)  # the residents' snap index, as a recipe run has built it
    rows, goals = [], []
    for cutoff in CUTOFFS:
        log(f"whatif: cut-off {cutoff:g} m")
        r = _one(net, residents, base, new, cutoff, repeats)
        rows.append([f"{cutoff:g} m", fmt_s(r["build_s"]), f"{r['inc'].median_s * 1000:.1f}",
                     f"{r['full'].median_s * 1000:.1f}", f"{r['full'].median_s / r['inc'].median_s:.1f}×",
                     f"{r['changed']:,}", "EQUAL" if r["equal"] else f"DIFFER ({r['max_diff']:.2e} m)"])
        goals.append(Goal(f"add 3 facilities incrementally < {GOAL_S * 1000:g} ms (cut-off {cutoff:g} m, "
                          f"{len(residents):,} residents, {len(base)} + 3 {CATEGORY})",
                          f"{r['inc'].median_s * 1000:.1f} ms ({min(r['inc'].runs_s) * 1000:.1f}–"
                          f"{max(r['inc'].runs_s) * 1000:.1f}); full recomputation "
                          f"{r['full'].median_s * 1000:.1f} ms; equal: {r['equal']}",
                          r["inc"].median_s < GOAL_S and r["equal"]))
    lines = [f"Central city: {net.n_nodes:,} nodes, {net.n_edges:,} edges; {len(residents):,} resident points; "
             f"{len(base)} stand-in {CATEGORY} facilities (network nodes, seed {seed}) + 3 new.  Median of "
             f"{repeats} runs after a warm-up.", ""]
    lines += md_table(["cut-off", "scenario build s (1 search)", "add 3, incremental ms", "full recomputation ms",
                       "speed-up", "residents nearer", "incremental vs full"], rows)
    return Section("7. What-if: adding 3 facilities incrementally, central city", lines, goals)


def main(argv: list[str] | None = None) -> int:
    def extra(p):
        p.add_argument("--seed", type=int, default=42, help="numpy default_rng seed of the stand-in facilities (42)")
        p.add_argument("--repeats", type=int, default=REPEATS, help=f"timed runs after the warm-up ({REPEATS})")

    return suite_main(argv, "python -m benchmarks.whatif", __doc__, run, extra)


if __name__ == "__main__":
    sys.exit(main())
