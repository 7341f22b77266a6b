"""Helpers shared by the benchmark suites: timing, machine facts, Markdown, the central-city inputs.

The timing, comparison and NetworkX helpers live in :mod:`benchmarks.network` (the first
benchmark) and are re-exported here, so that every suite measures the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.network import (
    Timing,
    compare,
    cpu_model,
    describe,
    dict_to_array,
    nproc,
    nx_graph,
    quiet_fds,
    timed,
)
from kmgis.config import data_dir
from kmgis.errors import KmgisError

__all__ = [
    "ROOT", "METRIC_CRS", "Timing", "timed", "quiet_fds", "cpu_model", "nproc", "nx_graph", "dict_to_array",
    "compare", "describe", "Section", "Goal", "log", "median", "runs", "fmt_s", "md_table", "versions",
    "machine_lines", "memory_total_gb", "load_average", "resolve_data", "suite_main", "unit_ids",
    "CentralCity", "central_city", "fresh", "stopwatch",
]

ROOT = Path(__file__).resolve().parent.parent
METRIC_CRS = "EPSG:32648"  # UTM 48N, the metric CRS of the whole-city network (as benchmarks.network)
_VERSIONED = ("kmgis", "numpy", "scipy", "shapely", "geopandas", "pandas", "pyogrio", "networkx", "osmnx", "pandana")


# --------------------------------------------------------------------------- results


@dataclasses.dataclass
class Goal:
    """A performance goal of the issue and whether this run met it."""

    text: str
    measured: str
    met: bool | None  # None: not measurable in this run (e.g. pandana missing)


@dataclasses.dataclass
class Section:
    """One suite's Markdown report, its goals and when it ran."""

    title: str
    lines: list[str]
    goals: list[Goal] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    load_before: tuple[float, float, float] | None = None
    load_after: tuple[float, float, float] | None = None

    def markdown(self) -> str:
        head = [f"## {self.title}", ""]
        tail = [""]
        if self.load_before and self.load_after:
            tail.append(
                f"Suite wall time {self.seconds:.1f} s; load average (1/5/15 min) "
                f"{_load_text(self.load_before)} before, {_load_text(self.load_after)} after."
            )
            tail.append("")
        return "\n".join(head + self.lines + tail)


def log(msg: str) -> None:
    """Progress to stderr (the report goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else float("nan")


def runs(values: Sequence[float], digits: int = 3) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def fmt_s(seconds: float) -> str:
    """Seconds with a precision that suits their size."""
    if not np.isfinite(seconds):
        return "–"
    if seconds >= 100:
        return f"{seconds:,.0f}"
    if seconds >= 10:
        return f"{seconds:.1f}"
    if seconds >= 1:
        return f"{seconds:.2f}"
    if seconds >= 0.01:
        return f"{seconds:.3f}"
    return f"{seconds:.4f}"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] | None = None) -> list[str]:
    """A Markdown table; ``right``: indices of right-aligned (numeric) columns (default: all but the first)."""
    right = set(range(1, len(headers))) if right is None else set(right)
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def stopwatch() -> Callable[[], float]:
    """``lap()`` returns the seconds since the previous lap (or the start)."""
    last = [time.perf_counter()]

    def lap() -> float:
        now = time.perf_counter()
        out, last[0] = now - last[0], now
        return out

    return lap


def fresh(net):
    """A copy of a Network with empty caches (CSR, STRtree), to time their construction."""
    return dataclasses.replace(net)


# --------------------------------------------------------------------------- machine


def versions() -> dict[str, str]:
    """Python and library versions (kmgis.workflows.common.package_versions over this benchmark's list)."""
    from kmgis.workflows.common import package_versions

    return package_versions(tuple(_VERSIONED))


def memory_total_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def load_average() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def _load_text(load: tuple[float, float, float] | None) -> str:
    return "n/a" if load is None else " / ".join(f"{x:.2f}" for x in load)


def git_state() -> str:
    """The commit of the checkout and the uncommitted changes to the code and layers that were measured."""
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "kmgis", "layers", "recipes"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    changed = sorted(line[3:] for line in dirty if line.strip())
    if not changed:
        return f"commit {head}, clean"
    return f"commit {head} + uncommitted changes in {', '.join(changed)} (measured as they were)"


def machine_lines() -> list[str]:
    mem = memory_total_gb()
    v = versions()
    return [
        f"- date: {dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec='seconds')}",
        f"- machine: nproc {nproc()}; CPU {cpu_model()}; memory {mem:.1f} GiB; "
        f"{platform.system()} {platform.release()}" if mem else f"- machine: nproc {nproc()}; CPU {cpu_model()}",
        f"- load average (1/5/15 min) at the start: {_load_text(load_average())}",
        "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- kmgis checkout: {git_state()}",
    ]


# --------------------------------------------------------------------------- data


def resolve_data(arg: str | None) -> Path:
    data = data_dir(arg)
    if data is None:
        raise KmgisError("no Kunming data directory: pass --data DIR or set KMGIS_DATA")
    return data


def unit_ids() -> list[str]:
    """Kunming's 14 county-level units (``layers/units.yaml`` → ``units``; neighbours excluded)."""
    from kmgis.config import load_layers_yaml

    return list(load_layers_yaml("units")["units"])


def suite_main(
    argv: list[str] | None, prog: str, doc: str, run: Callable[..., Section],
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Command line of one suite: ``--data DIR`` (+ ``extra`` options); prints the section."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.strip().splitlines()[0])
    parser.add_argument("--data", default=None, help="Kunming data directory (default: $KMGIS_DATA or ../shared/data)")
    if extra:
        extra(parser)
    args = vars(parser.parse_args(argv))
    header = machine_lines()
    try:
        data = resolve_data(args.pop("data"))
        section = run_section(run, data, **args)
    except KmgisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(header))
    print()
    print(section.markdown())
    return 0


def run_section(run: Callable[..., Section], data: Path, **kwargs: Any) -> Section:
    """Run a suite, recording its wall time and the load average before and after."""
    before = load_average()
    t0 = time.perf_counter()
    gc.collect()
    section = run(data, **kwargs)
    section.seconds = time.perf_counter() - t0
    section.load_before, section.load_after = before, load_average()
    return section


# --------------------------------------------------------------------------- the central city


@dataclasses.dataclass
class CentralCity:
    """The central city's inputs as ``kmgis run recipes/central-city.yaml`` makes them."""

    recipe: Any
    boundary: Any  # GeoDataFrame of the 5 units (WGS84)
    crs: Any
    roads: Any  # the Kunming road layer clipped to the units + halo (WGS84)
    built_up: Any  # the built-up patch (WGS84 GeoDataFrame, with attrs["candidates"])
    residents: Any  # resident points (WGS84), all units
    net: Any  # walk Network
    timings: dict[str, float]
    population_method: str
    population_proxy: str


def central_city(data: Path) -> CentralCity:
    """Load the central city as the pipeline does (public kmgis API, same calls as ``run_recipe``).

    Boundary of the recipe's units, metric CRS, study area = units + halo, the Kunming road
    layer clipped to it, the road-derived built-up patch around the provincial-government
    centre (its candidate patches give the urban zone of the two-zone population), resident
    points per unit (``population_points``, roads proxy, the recipe's cell size) and the walk
    network.
    """
    import geopandas as gpd
    import pandas as pd

    from kmgis.config import catalog_entry, load_layers_yaml, load_recipe
    from kmgis.crs import metric_crs
    from kmgis.geom import with_halo
    from kmgis.indicators.builtup import built_up_area
    from kmgis.model import WGS84
    from kmgis.network import build_network
    from kmgis.population import population_points
    from kmgis.sources import load_layer

    lap = stopwatch()
    t: dict[str, float] = {}
    recipe = load_recipe(ROOT / "recipes" / "central-city.yaml")
    params = recipe.parameters
    units = load_layer(catalog_entry("kunming_units"), data)
    boundary = units[units["unit_id"].isin(recipe.units)].reset_index(drop=True)
    crs = metric_crs(boundary, prefer=None if params.metric_crs == "auto" else params.metric_crs)
    area = with_halo(boundary, params.halo_m, crs)
    t["boundary"] = lap()
    roads = load_layer(catalog_entry(recipe.layers.roads), data, clip=area)
    t["roads layer (clipped)"] = lap()
    centre = load_layers_yaml("seats")["centres"]["yunnan_provincial_government"]
    bu_params = {k: v for k, v in params.builtup.model_dump().items() if v is not None}
    built_up = built_up_area(boundary, roads=roads, seat_point=(float(centre["lon"]), float(centre["lat"])),
                             crs=crs, scope="central-city built-up area",
                             road_params=bu_params or None).layers["built_up"]
    t["built-up area"] = lap()
    urban = built_up.attrs.get("candidates")
    frames, method, proxy = [], "", ""
    for uid in recipe.units:  # each unit's own total over its own area, as run_recipe does
        one = boundary[boundary["unit_id"] == uid]
        urban_one = None
        if urban is not None and len(urban):
            urban_one = urban.to_crs(WGS84).union_all().intersection(one.union_all())
            urban_one = None if urban_one.is_empty else urban_one
        pts, info = population_points(one, uid, crs=crs, cell_m=params.population_cell_m, urban_area=urban_one,
                                      roads=roads)
        frames.append(pts)
        method = method or info["method"]
        proxy = proxy or str(info.get("proxy"))
    residents = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=WGS84)
    t["resident points"] = lap()
    net = build_network(roads, "walk", crs, walk_kmh=params.walk_kmh)
    t["walk network (build_network)"] = lap()
    return CentralCity(recipe, boundary, crs, roads, built_up, residents, net, t, method, proxy)
