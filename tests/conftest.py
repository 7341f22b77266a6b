"""Shared fixtures: the real Kunming data (../shared/data or $KMGIS_DATA), clipped small."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pytest

DATA = Path(os.environ.get("KMGIS_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
METRIC = "EPSG:32648"


def require_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real data folder {DATA} is missing")
    return DATA


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return require_data()


@pytest.fixture(scope="session")
def kunming_units(data_dir: Path) -> gpd.GeoDataFrame:
    from kmgis.config import catalog_entry
    from kmgis.sources import load_layer

    return load_layer(catalog_entry("kunming_units"), data_dir)


@pytest.fixture(scope="session")
def jinning_boundary(kunming_units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return kunming_units[kunming_units["unit_id"] == "jinning"].reset_index(drop=True)


@pytest.fixture(scope="session")
def jinning_roads(data_dir: Path, jinning_boundary: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The Kunming road layer within Jinning + 2 km halo (real data, whole lines)."""
    from kmgis.config import catalog_entry
    from kmgis.geom import with_halo
    from kmgis.sources import load_layer

    area = with_halo(jinning_boundary, 2000, METRIC)
    return load_layer(catalog_entry("kunming_roads"), data_dir, clip=area)


@pytest.fixture(scope="session")
def jinning_walk(jinning_roads: gpd.GeoDataFrame):
    from kmgis.network import build_network

    return build_network(jinning_roads, "walk", METRIC)


@pytest.fixture(scope="session")
def osm_sample_path() -> Path:
    from kmgis.config import catalog_entry, resolve_path

    return resolve_path(catalog_entry("osm_sample_helsinki").path, None)


def unit_recipes() -> list[Path]:
    """The county-level and central-city recipes (recipes/*.yaml without the metro circle)."""
    import yaml

    from kmgis.config import PROJECT_ROOT

    paths = sorted((PROJECT_ROOT / "recipes").glob("*.yaml"))
    return [p for p in paths if (yaml.safe_load(p.read_text(encoding="utf-8")) or {}).get("kind") != "metro"]


@dataclass
class RecipeRun:
    """What one recipe run computed and wrote (the CLI's path: workflow, then writer)."""

    recipe_id: str
    out_dir: Path
    scorecard: object
    files: list[Path]


def run_and_write(path: Path, data: Path | None, out: Path, *, pdf: bool = False) -> RecipeRun:
    """Run a recipe file and write its results as ``kmgis run`` does (the PDF report only with ``pdf``:
    tests/test_report.py prints the ones it checks)."""
    from kmgis.batch import run_recipe_file

    rid, out_dir, card, _, files = run_recipe_file(path, data, out, progress=False, pdf=pdf)
    return RecipeRun(rid, out_dir, card, files)


@pytest.fixture(scope="session")
def jinning_results(data_dir: Path):
    """The Jinning recipe computed once per session (RecipeResults, nothing written); tests must not change it."""
    from kmgis.config import PROJECT_ROOT
    from kmgis.workflows.recipe import run_recipe

    return run_recipe(PROJECT_ROOT / "recipes" / "jinning.yaml", data_dir, progress=False)


@pytest.fixture(scope="session")
def recipe_runs(tmp_path_factory):
    """Every unit recipe and the OSM sample run once per session: (output folder, {id: RecipeRun}).

    Run as ``kmgis run recipes/ --workers 2 --no-pdf`` does (kmgis.batch, two processes; the PDF
    reports are printed in tests/test_report.py); each scorecard is read back from its scorecard.csv.
    """
    import pandas as pd

    from kmgis.batch import run_batch
    from kmgis.config import PROJECT_ROOT, data_dir

    data = data_dir(None)
    out = tmp_path_factory.mktemp("recipe_runs")
    paths = (unit_recipes() if data is not None else []) + [PROJECT_ROOT / "recipes/samples/osm-sample.yaml"]
    results = run_batch(paths, data, out, workers=2, pdf=False)
    failed = [f"{r.recipe}: {r.message}" for r in results if r.status != "ok"]
    assert not failed, failed
    runs = {}
    for r in results:
        folder = Path(r.out_dir)
        card = pd.read_csv(folder / "scorecard.csv", encoding="utf-8-sig")
        runs[r.recipe] = RecipeRun(r.recipe, folder, card, sorted(folder.iterdir()))
    return out, runs


_FILE_EVENTS = {"open", "os.listdir", "os.scandir", "os.mkdir", "os.remove", "os.rename", "shutil.copyfile"}
_WATCH: dict = {"on": False, "seen": [], "hooked": False}


def _audit(event: str, args: tuple) -> None:
    if _WATCH["on"] and event in _FILE_EVENTS:
        _WATCH["seen"].append((event, args[0] if args else None))


@contextlib.contextmanager
def no_file_access():
    """Record every file-system access (Python audit events) inside the block; fail if there was any."""
    if not _WATCH["hooked"]:
        sys.addaudithook(_audit)  # stays for the process; records only while a block is on
        _WATCH["hooked"] = True
    _WATCH["seen"] = []
    _WATCH["on"] = True
    try:
        yield
    finally:
        _WATCH["on"] = False
    assert _WATCH["seen"] == [], f"touched the file system: {_WATCH['seen'][:5]}"
