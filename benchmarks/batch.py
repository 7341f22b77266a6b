"""The full batch: the 14 unit recipes + central-city with ``run_batch``, 1 and 2 workers.

    python -m benchmarks.batch [--data DIR] [--workers 1,2]

Each batch runs in a fresh Python process (a ``-c`` script that imports only kmgis, started
through a small launcher process) calling ``kmgis.batch.run_batch(paths, data, out,
workers=W)`` with a temporary output folder, so the peak memory a recipe reports
(``ru_maxrss``) is not inflated by the benchmark's own earlier suites.  Other recipes in ``recipes/`` (e.g. ``metro.yaml``,
``samples/``) are not part of the batch.  Nothing is asserted.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, Goal, Section, fmt_s, log, md_table, suite_main, unit_ids


def batch_paths() -> tuple[list[Path], list[str]]:
    """The 14 unit recipes + central-city (sorted by file name, like ``recipes/*.yaml``) and what was left out."""
    wanted = {*unit_ids(), "central-city"}
    paths = sorted(p for p in (ROOT / "recipes").glob("*.yaml") if p.stem in wanted)
    other = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "recipes").rglob("*.yaml") if p not in paths)
    missing = sorted(wanted - {p.stem for p in paths})
    if missing:
        other.append(f"missing: {', '.join(missing)}")
    return paths, other


# The batch runs in a fresh interpreter that imports only kmgis (a `-c` script, so the spawned pool
# workers do not re-import a benchmark module as their __main__), started through a small launcher
# process: Linux carries a process's ru_maxrss over exec from the memory of the process that forked
# it, so a child forked straight from this (large) benchmark process would report this process's
# peak as its own.
_LAUNCH = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"
_CHILD = """
import json, resource, sys, time
from pathlib import Path


def hwm_mb():
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    cfg = json.loads(sys.argv[1])
    t0 = time.perf_counter()
    from kmgis.batch import run_batch, run_one
    out = {"import_s": time.perf_counter() - t0, "import_mb": hwm_mb(),
           "maxrss_start_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if cfg["mode"] == "probe":  # kmgis.batch imports the workflows and writers: what run_one has before its timer
        out |= {"pipeline_import_s": out["import_s"], "pipeline_import_mb": out["import_mb"]}
    if cfg["mode"] == "batch":
        from dataclasses import asdict
        t0 = time.perf_counter()
        res = run_batch([Path(p) for p in cfg["paths"]], Path(cfg["data"]), Path(cfg["out"]), workers=cfg["workers"])
        out |= {"wall_s": time.perf_counter() - t0, "results": [asdict(r) for r in res], "hwm_mb": hwm_mb()}
    else:
        cold = run_one(cfg["recipe"], cfg["data"], str(Path(cfg["out"]) / "cold"))
        warm = run_one(cfg["recipe"], cfg["data"], str(Path(cfg["out"]) / "warm"))
        out |= {"recipe": Path(cfg["recipe"]).stem, "cold_s": cold["seconds"], "warm_s": warm["seconds"],
                "cold_status": cold["status"], "warm_status": warm["status"]}
    Path(cfg["result"]).write_text(json.dumps(out), encoding="utf-8")


if __name__ == "__main__":
    main()
"""


def _child_process(cfg: dict, tag: str) -> tuple[dict, float]:
    """Run ``_CHILD`` with ``cfg`` (plus a temporary ``out`` and ``result``) via the launcher; its JSON and wall time."""
    tmp = Path(tempfile.mkdtemp(prefix=f"kmgis-bench-batch-{tag}-"))
    try:
        result = tmp / "result.json"
        cfg = cfg | {"out": str(tmp / "out"), "result": str(result)}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _LAUNCH, sys.executable, "-c", _CHILD, json.dumps(cfg)],
                              cwd=tmp, capture_output=True, text=True)
        outer = time.perf_counter() - t0
        if proc.returncode != 0 or not result.is_file():
            raise RuntimeError(f"batch child ({tag}) failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
        return json.loads(result.read_text(encoding="utf-8")), outer
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _one(workers: int, data: Path, paths: list[Path]) -> dict:
    out, outer = _child_process({"mode": "batch", "workers": workers, "data": str(data),
                                 "paths": [str(p) for p in paths]}, f"w{workers}")
    out["process_s"] = outer
    return out


def run(data: Path, workers: str = "1,2") -> Section:
    counts = [int(w) for w in workers.split(",")]
    paths, other = batch_paths()
    lines: list[str] = []
    say = lines.append
    runs_by_w = {}
    for w in counts:
        log(f"batch: {len(paths)} recipes with {w} worker(s)")
        runs_by_w[w] = _one(w, data, paths)
    log("batch: probe (a fresh interpreter: import, one recipe cold then warm)")
    probe, _ = _child_process({"mode": "probe", "recipe": str(ROOT / "recipes" / "songming.yaml"),
                               "data": str(data)}, "probe")
    say(f"Recipes: {len(paths)} ({', '.join(p.stem for p in paths)}); not in the batch: "
        f"{', '.join(other) if other else 'none'}.  One run per worker count, each in a fresh process with a "
        "temporary output folder (removed afterwards).")
    say("")
    w1 = counts[0]
    rows = []
    for w in counts:
        r = runs_by_w[w]
        ok = sum(x["status"] == "ok" for x in r["results"])
        peak = max(x["peak_mb"] for x in r["results"])
        rows.append([str(w), fmt_s(r["wall_s"]), fmt_s(r["process_s"]), f"{runs_by_w[w1]['wall_s'] / r['wall_s']:.2f}",
                     f"{runs_by_w[w1]['wall_s'] / r['wall_s'] / (w / w1):.0%}", f"{ok} / {len(r['results'])}",
                     f"{peak:,.0f}"])
    lines.extend(md_table(["workers", "`run_batch` wall s", "process wall s (incl. start-up)", f"speed-up vs {w1}",
                           "efficiency", "ok", "max peak MB"], rows))
    say("")
    hdr = ["recipe"]
    for w in counts:
        hdr += [f"s ({w} w)", f"peak MB ({w} w)"]
    hdr += ["status", "built-up km²", "road density km/km²"]
    per = []
    last = runs_by_w[counts[-1]]["results"]
    for i, p in enumerate(paths):
        row = [p.stem]
        for w in counts:
            x = runs_by_w[w]["results"][i]
            row += [fmt_s(x["seconds"]), f"{x['peak_mb']:,.0f}"]
        x = last[i]
        status = x["status"] if x["status"] == "ok" else f"{x['status']}: {x['message'][:80]}"
        row += [status, f"{x['built_up_km2']:.2f}" if x.get("built_up_km2") else "–",
                f"{x['road_density_km_per_km2']:.3f}" if x.get("road_density_km_per_km2") is not None else "–"]
        per.append(row)
    lines.extend(md_table(hdr, per))
    say("")
    top = max(last, key=lambda x: x["seconds"])
    sum1 = sum(x["seconds"] for x in runs_by_w[w1]["results"])
    say(f"- Peak memory is each result's `peak_mb` (`ru_maxrss`).  With 1 worker every recipe runs in the batch's "
        "own process, so a row shows the high-water mark so far (the last row's value is the batch's peak; the "
        f"process's own `VmHWM` at the end: {runs_by_w[w1]['hwm_mb']:,.0f} MB).  With 2 workers `run_batch` "
        "uses a process pool with `max_tasks_per_child=1`, which Python starts with the *spawn* method: every "
        "recipe runs in a fresh interpreter, so each row is that recipe's own peak, including "
        f"~{probe['pipeline_import_mb']:.0f} MB for Python + `import kmgis.batch` (the workflows and writers) (measured in a fresh "
        "interpreter).")
    if len(counts) > 1:
        w2 = counts[-1]
        r1, r2 = runs_by_w[w1], runs_by_w[w2]
        sum2 = sum(x["seconds"] for x in r2["results"])
        say(f"- Scaling: {r1['wall_s'] / r2['wall_s']:.2f}× with {w2} workers.  What bounds it, measured:")
        say(f"  - every recipe is a cold start with `max_tasks_per_child=1`: a new interpreter and "
            f"`import kmgis.batch` (the workflows and writers) ({probe['pipeline_import_s']:.2f} s in a fresh interpreter; `run_one` imports "
            "it before its timer starts, so it is not in the recipe's time), then a first run that pays the "
            "remaining lazy imports and caches: "
            f"{probe['recipe']} took {probe['cold_s']:.2f} s cold vs {probe['warm_s']:.2f} s warm in the same "
            f"process.  With 1 worker only the first recipe is cold.  The recipes' own times add up to "
            f"{fmt_s(sum1)} s with 1 worker and {fmt_s(sum2)} s with {w2} ({sum2 - sum1:+.1f} s), plus "
            f"{len(paths)} interpreter start-ups + imports of ~{probe['pipeline_import_s']:.1f} s shared by the "
            f"{w2} workers.")
        say(f"  - the longest recipe ({top['recipe']}, {fmt_s(top['seconds'])} s with {w2} workers) is a floor; "
            f"{w2} perfectly balanced warm workers could at best reach {fmt_s(max(sum1 / w2, top['seconds']))} s.")
        say("  - the 2 cores were shared with other sessions' test runs (see the load averages), so a second "
            "worker did not always have a core of its own.")
    goals = []
    if len(counts) > 1:
        goals.append(Goal(f"batch of {len(paths)} recipes: scaling from {w1} to {counts[-1]} workers",
                          f"{runs_by_w[w1]['wall_s'] / runs_by_w[counts[-1]]['wall_s']:.2f}× "
                          f"({fmt_s(runs_by_w[w1]['wall_s'])} s → {fmt_s(runs_by_w[counts[-1]]['wall_s'])} s)",
                          None))
    return Section("4. Full batch: 14 unit recipes + central-city, `run_batch` with 1 and 2 workers", lines, goals)


def main(argv: list[str] | None = None) -> int:
    def extra(p):
        p.add_argument("--workers", default="1,2", help="comma-separated worker counts, the first is the reference (1,2)")

    return suite_main(argv, "python -m benchmarks.batch", __doc__, run, extra)


if __name__ == "__main__":
    sys.exit(main())
