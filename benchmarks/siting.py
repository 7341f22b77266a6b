"""Green-field clinic siting (maximal covering): greedy vs exact (PuLP/CBC) vs spopt, Jinning and the central city.

    python -m benchmarks.siting [--data DIR] [--grid 500] [--max-n 20] [--distance 1200]

Issue #15 item 3.  Instances: Jinning as ``kmgis run recipes/jinning.yaml`` makes it
(:func:`kmgis.workflows.recipe.run_recipe`: built-up residents, walk network) and the central
city (:func:`benchmarks.common.central_city`, residents inside the built-up patch); candidates
on a ``--grid`` m grid of the built-up area moved onto the roads (``grid_candidates``);
``existing="none"`` (green field: Kunming has no clinic POIs offline); coverage within
``--distance`` m of walking.

Timed: the coverage matrix (bounded Dijkstra batches; peak Python-side memory by tracemalloc),
greedy for N = 1…``--max-n`` (one run gives every N: greedy is nested), the exact MIP
(``exact_mclp(method="exact")``, CBC single thread, 120 s limit) and spopt's ``MCLP`` on the same
instance (residents with identical covering sets merged into one weighted demand, which keeps
the objective and spopt's dense cost matrix small) for N in ``N_TIMED``.  Printed: the coverage
curve N = 1…max-n (greedy, and exact where solved) and the gap.
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pulp

from benchmarks.common import ROOT, Goal, Section, central_city, fmt_s, log, md_table, suite_main
from kmgis.indicators.siting import coverage_matrix, demand_groups, exact_mclp, greedy_mclp, grid_candidates
from kmgis.model import WGS84
from kmgis.network import snap_points

N_TIMED = (1, 5, 10, 20)
EXACT_LIMIT_S = 120.0


def _instances(data: Path) -> list[tuple[str, object, object, object]]:
    """(name, network, residents, built-up) of Jinning and the central city."""
    from kmgis.workflows.recipe import run_recipe

    log("siting: Jinning (run_recipe)")
    jin = run_recipe(ROOT / "recipes" / "jinning.yaml", data, progress=False)
    log("siting: central city")
    cc = central_city(data)
    bu = cc.built_up.to_crs(WGS84).union_all()
    inside = cc.residents[cc.residents.within(bu)]
    return [("Jinning", jin.network, jin.residents, jin.built_up), ("central city", cc.net, inside, cc.built_up)]


def _spopt(sets: list[np.ndarray], group_w: np.ndarray, k: int, n: int) -> tuple[float, float]:
    from spopt.locate import MCLP

    cost = np.full((len(sets), k), 2.0)
    for g, cands in enumerate(sets):
        cost[g, cands] = 0.0
    t0 = time.perf_counter()
    model = MCLP.from_cost_matrix(cost, group_w, service_radius=1.0, p_facilities=n)
    model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=EXACT_LIMIT_S, threads=1))
    return float(model.problem.objective.value()), time.perf_counter() - t0


def _one(name: str, net, residents, built_up, grid_m: float, max_n: int, distance_m: float) -> tuple[list, list, dict]:
    t0 = time.perf_counter()
    cands = grid_candidates(net, built_up, net.crs, grid_m)
    t_grid = time.perf_counter() - t0
    w = residents["population"].to_numpy(float)
    tracemalloc.start()
    t0 = time.perf_counter()
    res = snap_points(net, residents)
    cov = coverage_matrix(net, snap_points(net, cands), res, distance_m)
    t_cov = time.perf_counter() - t0
    peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    t0 = time.perf_counter()
    greedy = greedy_mclp(cov, w, min(max_n, len(cands)))
    t_greedy = time.perf_counter() - t0
    sets, group_w = demand_groups(cov, w)
    info = {"instance": name, "residents": len(w), "persons": w.sum(), "candidates": len(cands), "nnz": cov.matrix.nnz,
            "groups": len(sets), "t_grid": t_grid, "t_cov": t_cov, "peak_mb": peak_mb, "t_greedy": t_greedy}
    timed, curve = [], []
    exact_at = {}
    for n in N_TIMED:
        if n > len(cands):
            continue
        tg = time.perf_counter()
        g = greedy_mclp(cov, w, n)
        tg = time.perf_counter() - tg
        ex = exact_mclp(cov, w, n, method="exact", time_limit_s=EXACT_LIMIT_S)
        sp_obj, sp_s = _spopt(sets, group_w, len(cands), n)
        gain = g.gains.sum()
        exact_at[n] = ex
        timed.append([name, n, len(cands), f"{tg:.3f}", f"{ex.seconds:.2f} ({ex.method})", f"{sp_s:.2f}",
                      f"{gain:,.0f}", f"{ex.objective:,.0f}", f"{sp_obj:,.0f}",
                      f"{(ex.objective - gain) / ex.objective * 100:.2f}" if ex.objective else "–"])
        log(f"siting {name} N={n}: greedy {gain:,.0f} in {tg:.3f} s, {ex.method} {ex.objective:,.0f} in "
            f"{ex.seconds:.1f} s, spopt {sp_obj:,.0f} in {sp_s:.1f} s")
    total = w.sum()
    for n, (add, cum) in enumerate(zip(greedy.gains, greedy.curve, strict=True), start=1):
        ex = exact_at.get(n)
        curve.append([name, n, f"{add:,.0f}", f"{cum:,.0f}", f"{cum / total * 100:.2f}",
                      f"{ex.objective / total * 100:.2f} ({ex.method})" if ex else ""])
    return timed, curve, info


def run(data: Path, grid: float = 500.0, max_n: int = 20, distance: float = 1200.0) -> Section:
    lines: list[str] = []
    timed_all, curve_all, infos = [], [], []
    for name, net, residents, built_up in _instances(data):
        timed, curve, info = _one(name, net, residents, built_up, grid, max_n, distance)
        timed_all += timed
        curve_all += curve
        infos.append(info)
    lines.append(f"Green-field clinic siting, {distance:g} m walk, candidates on a {grid:g} m grid of the built-up "
                 "area (moved onto the roads); CBC single thread, exact limit "
                 f"{EXACT_LIMIT_S:g} s; spopt on the merged demands (same objective).")
    lines.append("")
    lines += md_table(["instance", "resident points", "persons", "candidates", "coverage nnz", "demand groups",
                       "grid s", "coverage s", "coverage peak MB", f"greedy N={max_n} s"],
                      [[i["instance"], f"{i['residents']:,}", f"{i['persons']:,.0f}", i["candidates"], f"{i['nnz']:,}",
                        f"{i['groups']:,}", fmt_s(i["t_grid"]), fmt_s(i["t_cov"]), f"{i['peak_mb']:.0f}",
                        f"{i['t_greedy']:.3f}"] for i in infos])
    lines.append("")
    lines += md_table(["instance", "N", "candidates", "greedy s", "exact s", "spopt s", "greedy persons",
                       "exact persons", "spopt persons", "gap %"], timed_all)
    lines.append("")
    lines.append("Coverage curve (greedy; exact where solved), % of the built-up residents:")
    lines.append("")
    lines += md_table(["instance", "N", "added", "covered", "covered %", "exact %"], curve_all)
    goals = [Goal("exact = spopt objective", ", ".join(f"{r[0]} N={r[1]}: {r[7]} vs {r[8]}" for r in timed_all),
                  all(r[7] == r[8] for r in timed_all))]
    return Section("8. Siting: maximal covering, greedy vs exact vs spopt", lines, goals)


def main(argv: list[str] | None = None) -> int:
    def extra(p) -> None:
        p.add_argument("--grid", type=float, default=500.0, help="candidate grid, m (default 500)")
        p.add_argument("--max-n", type=int, default=20, help="largest number of sites (default 20)")
        p.add_argument("--distance", type=float, default=1200.0, help="coverage distance, m (default 1200)")

    return suite_main(argv, "python -m benchmarks.siting", __doc__, run, extra)


if __name__ == "__main__":
    sys.exit(main())
