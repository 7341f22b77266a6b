"""Many recipes at once: parallel processes on one machine, or a dask.distributed cluster.

Each recipe is one task (`run_one`): it reads only its own units (+ halo) from the data
directory, so a worker's memory is bounded by the county, not the city.  A failed recipe is
reported in the summary and does not stop the others.  With a process pool every recipe
runs in a fresh process (``max_tasks_per_child=1``), so the peak resident memory reported is
that recipe's own; on dask it is the worker process's peak so far.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from kmgis.config import MetroRecipe, load_recipe
from kmgis.errors import KmgisError
from kmgis.outputs.files import safe_output_dir
from kmgis.outputs.recipe import write_recipe
from kmgis.outputs.travel_times import write_metro
from kmgis.workflows.metro import run_metro
from kmgis.workflows.recipe import run_recipe


@dataclass
class TaskResult:
    """Outcome of one recipe in a batch."""

    recipe: str
    path: str
    status: str  # "ok" or "failed"
    seconds: float
    peak_mb: float
    message: str = ""
    out_dir: str = ""
    built_up_km2: float | None = None
    road_density_km_per_km2: float | None = None


def _peak_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_recipe_file(path: Path, data: Path | None, out_root: Path, *, progress: bool = False, tiles: str = "osm",
                    pdf: bool = True) -> tuple[str, Path, pd.DataFrame, float | None, list[Path]]:
    """Run one recipe file and write its results.

    Returns (recipe id, output folder, scorecard, built-up area km², files written).  A metro
    recipe (``kind: metro``) goes to the metro workflow and its writer, any other to the
    recipe workflow and :func:`kmgis.outputs.recipe.write_recipe`.  The output folder is
    checked before the computation, so a bad ``--out`` fails at once.  ``pdf``: print
    ``report.pdf`` (with Chromium) beside ``report.html``.
    """
    recipe = load_recipe(path)
    safe_output_dir(out_root, recipe.id)
    if isinstance(recipe, MetroRecipe):
        metro = run_metro(path, data, progress=progress)
        written = write_metro(metro, out_root, tiles=tiles, progress=progress, pdf=pdf)
        return metro.recipe_id, Path(written.out_dir), metro.scorecard, metro.built_up_km2, list(written.files)
    res = run_recipe(path, data, progress=progress)
    files = write_recipe(res, out_root, tiles=tiles, pdf=pdf)
    return recipe.id, files[0].parent, res.scorecard, res.built_up_km2, files


def run_one(path: str, data: str | None, out_root: str, pdf: bool = True) -> dict:
    """Run one recipe; never raises (a failure is a result).  Returns a TaskResult as a dict."""
    t0 = time.perf_counter()
    p = Path(path)
    try:
        data_dir = Path(data) if data else None
        recipe_id, out_dir, card, built_up_km2, _ = run_recipe_file(p, data_dir, Path(out_root), pdf=pdf)
    except KmgisError as exc:
        return asdict(TaskResult(p.stem, path, "failed", round(time.perf_counter() - t0, 2), _peak_mb(), str(exc)))
    except Exception as exc:  # noqa: BLE001 - a crash in one recipe must not stop the batch
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return asdict(TaskResult(p.stem, path, "failed", round(time.perf_counter() - t0, 2), _peak_mb(),
                                 f"unexpected error: {last}"))
    dens = card.loc[card["indicator"] == "road_density_km_per_km2", "value"].dropna()
    density = float(dens.iloc[0]) if len(dens) else None
    return asdict(TaskResult(recipe_id, path, "ok", round(time.perf_counter() - t0, 2), _peak_mb(), "",
                             str(out_dir), built_up_km2, density))


def run_batch(
    paths: list[Path],
    data: Path | None,
    out_root: Path,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    on_result: Callable[[TaskResult], None] | None = None,
    pdf: bool = True,
) -> list[TaskResult]:
    """Run recipes in parallel; results in the order of ``paths``.

    ``scheduler``: None (local processes, ``workers`` of them, each recipe in a fresh one),
    ``"local"`` (a dask ``LocalCluster`` with ``workers`` workers) or ``"tcp://HOST:PORT"``
    (an existing dask.distributed scheduler; the workers must see the same data directory
    and output folder paths).  ``pdf``: print each recipe's ``report.pdf`` (with Chromium).
    """
    if workers < 1:
        raise KmgisError(f"--workers must be ≥ 1, got {workers}")
    args = [(str(p), str(data) if data else None, str(out_root), pdf) for p in paths]
    results: dict[int, TaskResult] = {}

    def done(i: int, raw: dict) -> None:
        results[i] = TaskResult(**raw)
        if on_result:
            on_result(results[i])

    if scheduler:
        _run_dask(args, scheduler, workers, done)
    else:
        # a fresh interpreter per recipe ("spawn", one task per child): the reported peak memory is
        # that recipe's own (a forked child would inherit the parent's peak reading)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, max_tasks_per_child=1) as pool:
            futures = {pool.submit(run_one, *a): i for i, a in enumerate(args)}
            for fut in as_completed(futures):
                done(futures[fut], fut.result())
    return [results[i] for i in range(len(args))]


def _run_dask(args: list[tuple], scheduler: str, workers: int, done: Callable[[int, dict], None]) -> None:
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:
        raise KmgisError("--scheduler needs dask.distributed: pip install 'distributed'") from None
    cluster = None
    try:
        if scheduler == "local":
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        elif scheduler.startswith("tcp://"):
            try:
                client = Client(scheduler, timeout="10s")
            except OSError as exc:
                raise KmgisError(f"dask scheduler {scheduler} could not be reached ({exc})") from None
        else:
            raise KmgisError(f"--scheduler must be 'local' or tcp://HOST:PORT, got {scheduler!r}")
        with client:
            futures = [client.submit(run_one, *a, pure=False, key=f"kmgis-{i}-{Path(a[0]).stem}")
                       for i, a in enumerate(args)]
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in dask_completed(futures):
                done(index[fut.key], fut.result())
    finally:
        if cluster is not None:
            cluster.close()
