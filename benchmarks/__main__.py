"""Run the benchmark suites on the real Kunming data and write ``benchmarks/RESULTS.md``.

    python -m benchmarks [--data DIR] [--suites accessibility,road_density,isochrone,batch,snapping,levels,whatif,siting] [--out FILE | --no-write]

Suites (each also runs alone, ``python -m benchmarks.<suite>``, printing its section):

1. ``accessibility``: all residents → nearest facility, central city, 10 facility sets
   (kmgis vs NetworkX vs pandana vs the per-origin OSMnx idiom);
2. ``road_density``: road density of the 14 units' built-up areas (kmgis vs OSMnx ``basic_stats``);
3. ``isochrone``: a 60-minute drive isochrone on the whole city's network (kmgis vs ``nx.ego_graph``);
4. ``batch``: the 14 unit recipes + central-city with ``run_batch``, 1 and 2 workers;
5. ``snapping``: ``snap_points`` of the central city's and Jinning's residents, the previous
   implementation (STRtree + GEOS) vs today's (segment index + numpy), times and equality;
6. ``levels``: the GB 50180 life-circle levels + the plan's life circle for the central city's residents
   (``lifecircle_levels`` + ``lifecircle``, 16 multi-source searches, stand-in facilities) after the network
   and the residents' snap are built (kmgis vs NetworkX vs pandana on the same searches);
7. ``whatif``: adding 3 facilities to a scenario of the central city's residents incrementally (one search from
   the new facilities, min with the stored distances) vs a full recomputation, times and equality;
8. ``siting``: green-field clinic siting (maximal covering) for Jinning and the central city, grid
   candidates, N = 1…20: greedy vs exact (PuLP/CBC) vs spopt, the coverage curve and the gap.

``python -m benchmarks.network`` (the first benchmark, nearest of 500 facility nodes on the
whole city's walk network) is separate and not run here.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from benchmarks.common import (
    ROOT,
    Goal,
    Section,
    fmt_s,
    log,
    machine_lines,
    md_table,
    resolve_data,
    run_section,
)
from kmgis.errors import KmgisError

SUITES = ("accessibility", "road_density", "isochrone", "batch", "snapping", "levels", "whatif", "siting")
TITLES = {
    "accessibility": "1. All residents → nearest facility, central city",
    "road_density": "2. Road density, the 14 units' built-up areas",
    "isochrone": "3. 60-minute drive isochrone, whole city's network",
    "batch": "4. Full batch",
    "snapping": "5. Snapping residents onto the walk network",
    "levels": "6. GB 50180 life-circle levels + the plan's life circle, central city",
    "whatif": "7. What-if: adding 3 facilities incrementally, central city",
    "siting": "8. Siting: maximal covering, greedy vs exact vs spopt",
}


def _suite(name: str):
    import importlib

    return importlib.import_module(f"benchmarks.{name}").run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.strip().splitlines()[0])
    parser.add_argument("--data", default=None, help="Kunming data directory (default: $KMGIS_DATA or ../shared/data)")
    parser.add_argument("--suites", default=",".join(SUITES), help=f"comma-separated, any of {', '.join(SUITES)}")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS.md"), help="Markdown report (RESULTS.md)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write the report")
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.suites.split(",") if s.strip()]
    bad = [s for s in names if s not in SUITES]
    if bad:
        parser.error(f"unknown suite(s) {bad}; choose from {', '.join(SUITES)}")
    try:
        data = resolve_data(args.data)
    except KmgisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    header = machine_lines()
    t0 = time.perf_counter()
    sections: list[Section] = []
    for name in names:
        log(f"suite {name}")
        try:
            sections.append(run_section(_suite(name), data))
        except Exception as exc:  # noqa: BLE001 - one failing suite must not lose the others' results
            log(f"suite {name} FAILED: {exc}")
            sections.append(Section(TITLES[name] + " (FAILED)",
                                    ["```", "".join(traceback.format_exception(exc)).rstrip(), "```"],
                                    [Goal(f"{name} suite ran", f"failed: {exc}", False)]))
    total = time.perf_counter() - t0

    out: list[str] = ["# kmgis benchmark results", ""]
    out.append("Written by `python -m benchmarks` (one run, the real Kunming data).  **Timings are noisy**: the "
               "machine has 2 cores and other sessions were running tests on it at the same time (see the load "
               "averages, which count runnable processes: above 2 means the cores were oversubscribed).  Times "
               "are medians of repeats where repeats are affordable, and ratios are taken within one run; read "
               "them as ± 20–50 %, not to the digit.  Nothing here is asserted in the tests.")
    out.append("")
    out.append("## Machine and versions")
    out.append("")
    out.extend(header)
    out.append(f"- whole run: {fmt_s(total)} s; suites: " + ", ".join(f"{s.title.split(' ')[0]} {fmt_s(s.seconds)} s"
                                                                     for s in sections))
    out.append("")
    out.append("## Goals")
    out.append("")
    rows = []
    for s in sections:
        for g in s.goals:
            met = "– (no goal set)" if g.met is None else ("**yes**" if g.met else "**no**")
            rows.append([s.title.split(" ")[0], g.text, g.measured, met])
    out.extend(md_table(["suite", "goal", "measured (ratio = other engine's time / kmgis's)", "met"], rows,
                        right=()))
    out.append("")
    for s in sections:
        out.append(s.markdown())
    text = "\n".join(out).rstrip() + "\n"
    print(text)
    if not args.no_write:
        Path(args.out).write_text(text, encoding="utf-8")
        log(f"wrote {args.out} ({fmt_s(total)} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
