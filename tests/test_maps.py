"""Web maps without a browser: size budgets of all 16 maps, nothing loaded from the internet,
hostile names escaped in the HTML source, redrawing from results, one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kmgis.config import PROJECT_ROOT
from kmgis.errors import KmgisError
from kmgis.outputs.maps import COUNTY_BUDGET_BYTES, check_tiles, js_json
from kmgis.outputs.recipe_map import draw_map

sys.path.insert(0, str(Path(__file__).parent / "browser"))
from map_fixtures import IMG, JINJA, JINJA_CODE, SCRIPT, hostile_results  # noqa: E402

EXTERNAL = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)


def kmgis(*args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kmgis.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ}, timeout=300)


@pytest.fixture(scope="module")
def all_maps(recipe_runs):
    """Every unit recipe and the OSM sample, run once for the session (conftest.recipe_runs)."""
    return recipe_runs


def test_every_recipe_draws_a_map_within_budget(all_maps):
    out, done = all_maps
    from kmgis.config import data_dir

    if data_dir(None) is not None:
        assert len(done) == 16, sorted(done)
    sizes = {}
    for rid, res in done.items():
        page = res.out_dir / "map.html"
        assert page in res.files and page.is_file()
        size = page.stat().st_size
        budget = 15 * 2**20 if rid == "central-city" else COUNTY_BUDGET_BYTES
        assert size <= budget, (rid, size)
        sizes[rid] = round(size / 2**20, 2)
    print("map sizes (MB):", sizes)


def test_maps_load_nothing_from_the_internet(all_maps):
    for res in all_maps[1].values():
        text = (res.out_dir / "map.html").read_text(encoding="utf-8")
        assert not EXTERNAL.search(text), (res.recipe_id, EXTERNAL.search(text).group(0)[:120])
        assert "L.map(" in text and "L.control.layers(" in text  # Leaflet and folium's code are inline
        assert "leaflet-control-layers" in text  # Leaflet's CSS too


def test_maps_hold_the_layers_legends_and_scorecard(all_maps):
    done = all_maps[1]
    sample = (done["osm-sample"].out_dir / "map.html").read_text(encoding="utf-8")
    for name in ("County boundary", "Built-up area", "Roads: branch", "Parks", "Green space", "Facilities: bus stop",
                 "Walk minutes to", 'id="kmgis-legend"', 'id="kmgis-scorecard"', "markerClusterGroup",
                 "达标 met", "未达标 missed"):
        assert name in sample, name
    if "jinning" in done:
        jinning = (done["jinning"].out_dir / "map.html").read_text(encoding="utf-8")
        for name in ("County boundary", "Built-up area", "Roads: arterial", "Roads: internal", "晋宁区"):
            assert name in jinning, name


def test_central_city_roads_are_merged_by_class(all_maps):
    done = all_maps[1]
    if "central-city" not in done:
        pytest.skip("no Kunming data folder")
    info = draw_map(done["central-city"].out_dir)
    assert any("merged into one multi-line per class" in n for n in info.notes)
    assert {"道路 主干路 Roads: arterial", "道路 内部道路 Roads: internal"} <= set(info.overlays)
    assert info.within_budget


def test_redraw_from_results_only(all_maps, tmp_path):
    """`kmgis map` needs only indicators.gpkg, scorecard.csv and run.json, and rewrites map.html."""
    import shutil

    src = all_maps[1]["osm-sample"].out_dir
    dst = tmp_path / "osm-sample"
    dst.mkdir()
    for name in ("indicators.gpkg", "scorecard.csv", "run.json"):
        shutil.copy(src / name, dst / name)
    proc = kmgis("map", "recipes/samples/osm-sample.yaml", "--out", str(tmp_path), "--tiles", "none",
                 "--category", "bus_stop", "--simplify", "roads=10")
    assert proc.returncode == 0, proc.stderr
    assert "map.html" in proc.stdout and "of 8 MB budget" in proc.stdout
    text = (dst / "map.html").read_text(encoding="utf-8")
    assert "tile.openstreetmap.org" not in text and "Walk minutes to bus stop" in text
    assert not list(dst.glob(".*.tmp*"))  # written atomically


def test_map_without_results_is_a_one_line_error(tmp_path):
    proc = kmgis("map", "recipes/jinning.yaml", "--out", str(tmp_path))
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "indicators.gpkg not found" in lines[0] and "run `kmgis run recipes/jinning.yaml` first" in lines[0]


@pytest.mark.parametrize("tiles", ["amap", "Tianditu", "gaode"])
def test_gcj02_tiles_are_refused(tiles, tmp_path):
    with pytest.raises(KmgisError, match="GCJ-02"):
        check_tiles(tiles)
    proc = kmgis("map", "recipes/jinning.yaml", "--out", str(tmp_path), "--tiles", tiles)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "GCJ-02" in proc.stderr


def test_hostile_names_are_escaped_in_the_html_source(tmp_path):
    info = draw_map(hostile_results(tmp_path / "hostile"), tiles="none")
    assert {"滇池保护分区 Dianchi zones", "等时圈 Isochrones", "公园 Parks", "步行至中小学时间 Walk minutes to primary and "
            "middle school", "完整15分钟生活圈 Complete 15-min life circle"} <= set(info.overlays)
    text = info.path.read_text(encoding="utf-8")
    assert "禁止" * 100 + "…" in text and "禁止" * 101 not in text  # long texts trimmed
    assert SCRIPT not in text and "<img src=x" not in text  # never markup, anywhere
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in text  # inside the layers' JSON
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # in the scorecard panel and legend
    # no template engine evaluated the names: {{ 7*7 }} stays as written, and no path leaked
    assert f'"name":"{JINJA}"' in text and f'"name":"{JINJA_CODE}"' in text
    assert os.getcwd() not in text
    assert js_json(IMG)[1:-1] in text  # as JSON text, quotes and angle brackets escaped
