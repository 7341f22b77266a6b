"""Crash safety: an interrupted run leaves the previous results intact and no partial file under a
final name; two runs on one output folder at once are refused, not interleaved."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kmgis.config import PROJECT_ROOT
from kmgis.errors import KmgisError
from kmgis.outputs.files import output_lock

RECIPE = PROJECT_ROOT / "recipes" / "central-city.yaml"  # the longest recipe (several seconds)
FINAL = ("scorecard.csv", "scorecard.html", "scorecard.xlsx", "indicators.gpkg", "run.json", "map.html", "report.html")


def _digests(folder: Path) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in FINAL if (folder / n).exists()}


def _start(out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kmgis.cli", "run", str(RECIPE), "--out", str(out), "--quiet",
                             "--no-pdf"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def finished(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("crash")
    proc = _start(out)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
@pytest.mark.parametrize("delay_s", [1.5, 4.0])
def test_interrupted_rerun_keeps_previous_results(finished, sig, delay_s):
    folder = finished / "central-city"
    before = _digests(folder)
    assert set(before) == set(FINAL)
    proc = _start(finished)
    time.sleep(delay_s)
    proc.send_signal(sig)
    code = proc.wait(timeout=120)
    if code == 0:
        pytest.skip("the run finished before the signal")  # nothing interrupted on a fast machine
    if sig == signal.SIGINT:
        assert code == 130 and "Traceback" not in proc.stderr.read()
    after = _digests(folder)
    assert set(after) == set(FINAL)
    # every final file is complete (the old one or a whole new one: writes are temp file + rename)
    import json

    import geopandas as gpd
    import pandas as pd

    json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert len(pd.read_csv(folder / "scorecard.csv", encoding="utf-8-sig")) > 10
    assert len(gpd.list_layers(folder / "indicators.gpkg")) >= 3
    for page in ("scorecard.html", "map.html", "report.html"):
        assert (folder / page).read_text(encoding="utf-8").rstrip().endswith("</html>")
    # what a SIGKILL leaves is only hidden temporary files, removed by the next run
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name]
    assert all(not n.endswith(FINAL) for n in leftovers)


def test_second_concurrent_run_is_refused(tmp_path):
    out = tmp_path / "x"
    out.mkdir()
    with output_lock(out), pytest.raises(KmgisError, match="another kmgis run is writing"), output_lock(out):
        pass


def test_concurrent_cli_runs_one_refused(data_dir, tmp_path):
    a, b = _start(tmp_path), None
    time.sleep(1.0)
    b = _start(tmp_path)
    codes = (a.wait(timeout=600), b.wait(timeout=600))
    errs = a.stderr.read() + b.stderr.read()
    if codes == (0, 0):
        pytest.skip("the first run finished before the second started")
    assert sorted(codes) == [0, 2], (codes, errs)
    assert "another kmgis run is writing" in errs
    assert set(_digests(tmp_path / "central-city")) == set(FINAL)


def test_stale_temporary_files_are_removed_under_the_lock(tmp_path):
    stale = tmp_path / ".scorecard.csv.abc123.tmp.csv"
    stale.write_text("half")
    with output_lock(tmp_path):
        assert not stale.exists()
    assert os.listdir(tmp_path) == [".kmgis.lock"]
