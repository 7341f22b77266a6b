"""The command line on real data: `kmgis layers`, `kmgis demo`, and clear one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import yaml
from conftest import require_data

from kmgis.config import PROJECT_ROOT


def run_kmgis(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "kmgis.cli", *args], capture_output=True, text=True, env=full_env,
        cwd=cwd or PROJECT_ROOT, timeout=300,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("kmgis: error: ")
    for n in needles:
        assert n in lines[0], lines[0]


def test_layers_lists_units_roads_and_osm_samples():
    data = require_data()
    proc = run_kmgis("layers", "--data", str(data))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for name in ("五华区", "盘龙区", "官渡区", "西山区", "东川区", "呈贡区", "晋宁区", "富民县", "宜良县",
                 "石林彝族自治县", "嵩明县", "禄劝彝族苗族自治县", "寻甸回族彝族自治县", "安宁市"):
        assert name in out
    assert "area_km2" in out and "1338.6" in out  # 晋宁 area, as in PROVENANCE.md
    for cls in ("arterial", "sub-arterial", "branch", "internal"):
        assert cls in out
    assert "3719.9" in out  # arterial km of the whole city (PROVENANCE.md: 3,720 km)
    assert "osm_sample_helsinki" in out and "facilities" in out


def test_demo_writes_a_real_result(tmp_path):
    data = require_data()
    proc = run_kmgis("demo", "--data", str(data), "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "demo"
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert len(run["inputs"]["kunming_roads"]["sha256"]) == 64
    assert run["network"]["nodes"] > 3000
    nodes = gpd.read_file(out / "jinning_walk.gpkg", layer="nodes")
    assert nodes.crs.to_epsg() == 4326
    assert nodes["walk_min_to_seat"].notna().all()
    assert nodes["walk_min_to_seat"].min() < 2  # the seat snaps onto the network
    assert (out / "network_summary.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # BOM for Excel
    assert not list(out.glob("*.tmp*"))


def test_demo_without_data_runs_on_the_osm_sample(tmp_path):
    from kmgis.outputs.travel_times import write_demo
    from kmgis.workflows.demo import run_demo

    res = run_demo(None, progress=False)
    write_demo(res, tmp_path)
    assert "OSM sample" in res.source
    assert res.network["nodes"] > 1000
    nodes = gpd.read_file(tmp_path / "demo" / "osm_sample_walk.gpkg", layer="nodes")
    assert nodes["walk_m_to_seat"].max() > 500


# ----------------------------------------------------------------------------- bad input


def test_missing_data_directory(tmp_path):
    assert_one_line_error(run_kmgis("demo", "--data", str(tmp_path / "nope"), "--out", str(tmp_path)),
                          "data directory", "does not exist")


def test_unknown_county(tmp_path):
    data = require_data()
    assert_one_line_error(run_kmgis("demo", "--data", str(data), "--unit", "atlantis", "--out", str(tmp_path)),
                          "unknown county-level unit 'atlantis'", "jinning")


def _layers_copy(tmp_path: Path, edit) -> Path:
    layers = tmp_path / "layers"
    shutil.copytree(PROJECT_ROOT / "layers", layers)
    cat = yaml.safe_load((layers / "catalog.yaml").read_text(encoding="utf-8"))
    edit(cat)
    (layers / "catalog.yaml").write_text(yaml.safe_dump(cat, allow_unicode=True), encoding="utf-8")
    return layers


def test_field_mapping_naming_a_missing_column(tmp_path):
    data = require_data()

    def edit(cat):
        cat["layers"]["kunming_roads"]["fields"]["road_class"]["from"] = "road_klass"

    layers = _layers_copy(tmp_path, edit)
    proc = run_kmgis("demo", "--data", str(data), "--out", str(tmp_path), env={"KMGIS_LAYERS": str(layers)})
    assert_one_line_error(proc, "kunming_roads", "'road_klass'", "not in the file")


def test_layer_in_the_wrong_crs(tmp_path, jinning_roads):
    # a real clip of the road layer written with metres' CRS label (UTM 48N) on degree numbers
    data = tmp_path / "data"
    data.mkdir()
    bad = jinning_roads.head(200)[["road_class", "geometry"]].replace({"road_class": {"sub-arterial": "secondary"}})
    bad.set_crs("EPSG:32648", allow_override=True).to_file(data / "kunming_roads_kust.gpkg", layer="roads")
    proc = run_kmgis("demo", "--data", str(data), "--out", str(tmp_path))
    assert_one_line_error(proc, "kunming_roads")
    assert not (tmp_path / "demo" / "run.json").exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupted_osm_file(tmp_path, osm_sample_path, damage):
    raw = osm_sample_path.read_bytes()
    bad = tmp_path / f"{damage}.osm.pbf"
    bad.write_bytes({"truncated": raw[: len(raw) // 2], "garbage": os.urandom(4096), "empty": b""}[damage])
    proc = run_kmgis("demo", "--osm", str(bad), "--out", str(tmp_path / "out"))
    assert_one_line_error(proc, bad.name)
    assert not (tmp_path / "out" / "demo" / "run.json").exists()


def test_indicators_lists_the_registry():
    import io

    import pandas as pd

    from kmgis.indicators import registry

    proc = run_kmgis("indicators", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(io.StringIO(proc.stdout))
    assert table["indicator"].tolist() == [s.id for s in registry.SPECS]
    row = table.set_index("indicator").loc["road_length_km"]
    assert row["label_zh"] == "道路长度" and row["unit"] == "km"
