"""The county report (HTML + PDF), the workbooks beside it, and the number formats they share.

Acceptance of issue 16 for Jinning, the central city and the metro circle: ``report.pdf``
opens (``pdfinfo``), is A4, embeds a CJK font, carries the scorecard's figures as text and its
pages render (``pdftoppm``); ``scorecard.xlsx`` reads back with the values of
``scorecard.csv``.  The PDF is printed by Debian's Chromium: without it the PDF tests fail in
CI (``CI=true``) and are skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml
from conftest import run_and_write

from kmgis.config import PROJECT_ROOT
from kmgis.errors import KmgisError
from kmgis.indicators import registry
from kmgis.outputs.numbers import UNIT_DECIMALS, format_value, unit_decimals
from kmgis.outputs.report import read_run_files, report_html, status_counts, write_report

POPPLER = all(shutil.which(t) for t in ("pdfinfo", "pdftotext", "pdftoppm", "pdffonts"))


def _need_pdf_tools():
    missing = [t for t in ("chromium", "pdfinfo") if not shutil.which(t)]
    if missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{', '.join(missing)} missing (CI installs chromium and poppler-utils in .ci/run)")
        pytest.skip(f"{', '.join(missing)} not installed")


@pytest.fixture(scope="module")
def reports(recipe_runs, data_dir, tmp_path_factory):
    """report.pdf of Jinning and the central city (from the session's runs) and of a metro run."""
    _need_pdf_tools()
    _, runs = recipe_runs
    out = {rid: runs[rid].out_dir for rid in ("jinning", "central-city")}
    for d in out.values():
        write_report(d)  # the session's runs wrote report.html only
    tmp = tmp_path_factory.mktemp("metro_report")
    raw = yaml.safe_load((PROJECT_ROOT / "recipes" / "metro.yaml").read_text(encoding="utf-8"))
    raw["budgets_min"] = [30, 60]  # fewer polygons, same report
    recipe = tmp / "metro.yaml"
    recipe.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    out["metro"] = run_and_write(recipe, data_dir, tmp / "out", pdf=True).out_dir
    return out


def _pdftotext(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("rid", ["jinning", "central-city", "metro"])
def test_report_pdf_opens_with_chinese_text_and_the_scorecard(reports, rid, tmp_path):
    pdf = reports[rid] / "report.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert 2 <= pages <= 12, info
    assert "A4" in info
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"WenQuanYi|NotoSansCJK|NotoSerifCJK|SourceHan", fonts), fonts  # Chinese in a CJK font
    text = _pdftotext(pdf)
    for heading in ("目标达成情况", "Targets", "地图", "Maps", "方法与数据来源", "已知局限", "Known limits"):
        assert heading in text, heading
    card = read_run_files(reports[rid], "isochrones.gpkg" if rid == "metro" else "indicators.gpkg").card
    counts = status_counts(card)
    assert f"met: {counts['yes']}" in text and f"missed: {counts['no']}" in text
    for _, row in card[card["value"].notna()].drop_duplicates("indicator").head(6).iterrows():
        assert format_value(row["value"], row["unit"]) in text, (row["indicator"], row["value"])
    subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "2", "-png", str(pdf), str(tmp_path / "p")], check=True)
    shots = sorted(tmp_path.glob("p-*.png"))
    assert len(shots) == 2 and all(p.stat().st_size > 5_000 for p in shots)


def test_report_shows_jinning_road_density_missed_with_its_clause(reports):
    files = read_run_files(reports["jinning"])
    row = files.card[(files.card["indicator"] == "road_density_km_per_km2") & (files.card["comparison"] == ">=")]
    assert row["meets"].iloc[0] == "no" and row["value"].iloc[0] < 8.5
    page = (reports["jinning"] / "report.html").read_text(encoding="utf-8")
    missed = page[page.index("未达标 missed</td>") - 900: page.index("未达标 missed</td>")]
    assert f"{row['value'].iloc[0]:.2f} km/km²" in missed and ">= 8.50" in missed.replace("&gt;", ">")
    assert "县城路网密度" in page or "路网密度" in page
    assert page.count('src="data:image/png;base64,') == 3  # unit, roads by class, walkability grid
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)  # nothing from the network
    assert str(PROJECT_ROOT.parent) not in page  # file names, not the folders of the machine that ran it


def test_report_figures_follow_the_layers(reports):
    city = (reports["central-city"] / "report.html").read_text(encoding="utf-8")
    metro = (reports["metro"] / "report.html").read_text(encoding="utf-8")
    assert city.count("data:image/png;base64,") == 4 and "地铁站点与步行服务范围" in city
    assert metro.count("data:image/png;base64,") == 1 and "驾车等时圈" in metro
    assert "road data lacks expressways" in metro  # the run's data warning is a known limit


@pytest.mark.parametrize("rid", ["jinning", "central-city", "metro"])
def test_scorecard_xlsx_reads_back_as_the_csv(reports, rid):
    csv = pd.read_csv(reports[rid] / "scorecard.csv", encoding="utf-8-sig")
    ws = openpyxl.load_workbook(reports[rid] / "scorecard.xlsx")["scorecard 指标"]
    header = [c.value for c in ws[2]]
    col = header.index("数值 value") + 1
    values = [ws.cell(row=r, column=col).value for r in range(3, 3 + len(csv))]
    expected = pd.to_numeric(csv["value"], errors="coerce")
    got = np.array([np.nan if v is None else float(v) for v in values])
    np.testing.assert_allclose(got, expected.to_numpy(dtype=float), rtol=0, atol=1e-9, equal_nan=True)
    assert ws.cell(row=3 + len(csv), column=col).value is None  # no extra rows


def test_report_is_identical_on_rerun_and_pdf_skipped_without_chromium(recipe_runs, monkeypatch):
    out_dir = recipe_runs[1]["yiliang"].out_dir if "yiliang" in recipe_runs[1] else recipe_runs[1]["jinning"].out_dir
    first = (out_dir / "report.html").read_bytes()
    (out_dir / "report.pdf").write_bytes(b"%PDF stale")
    monkeypatch.setenv("KMGIS_CHROMIUM", str(out_dir / "no-such-chromium"))
    files, why = write_report(out_dir)
    assert [f.name for f in files] == ["report.html"] and "Chromium" in why
    assert not (out_dir / "report.pdf").exists()  # a stale PDF never sits beside a newer report.html
    assert (out_dir / "report.html").read_bytes() == first


def test_report_without_run_files_is_a_one_line_error(tmp_path):
    with pytest.raises(KmgisError, match="no scorecard.csv, run.json; run the recipe first"):
        read_run_files(tmp_path)


def test_every_registered_unit_has_a_number_format():
    units = {s.unit for s in registry.SPECS}
    assert units <= set(UNIT_DECIMALS), units - set(UNIT_DECIMALS)
    assert unit_decimals("persons") == 0 and unit_decimals("%") == 1 and unit_decimals("km/km²") == 2
    with pytest.raises(KmgisError, match="no number format for unit 'furlongs'"):
        format_value(1.0, "furlongs")
    assert format_value(3758158.116, "persons") == "3,758,158"
    assert format_value(float("nan"), "%") == "no data"


def test_report_html_escapes_hostile_labels(recipe_runs):
    files = read_run_files(recipe_runs[1]["osm-sample"].out_dir)
    files.card.loc[0, "label_en"] = "<script>alert(1)</script>"
    page = report_html(files, [])
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def test_kmgis_report_redraws_from_the_results(recipe_runs, capsys):
    from kmgis.cli import main

    out, runs = recipe_runs
    page = runs["jinning"].out_dir / "report.html"
    before = page.read_bytes()
    page.unlink()
    assert main(["report", str(PROJECT_ROOT / "recipes" / "jinning.yaml"), "--out", str(out), "--no-pdf"]) == 0
    assert page.read_bytes() == before  # the same report from the same files
    assert f"wrote {page}" in capsys.readouterr().out


@pytest.mark.parametrize("rid", ["jinning", "central-city", "metro"])
def test_every_layer_carries_its_qgis_style(reports, rid):
    import sqlite3

    from kmgis.geom import spatial_layers

    gpkg = reports[rid] / ("isochrones.gpkg" if rid == "metro" else "indicators.gpkg")
    with sqlite3.connect(gpkg) as con:
        styled = {name: qml for name, qml in con.execute(
            "SELECT f_table_name, styleQML FROM layer_styles WHERE useAsDefault = 1")}
    layers = spatial_layers(gpkg)
    assert len(layers) >= (3 if rid == "jinning" else 4) and set(layers) <= set(styled), (layers, sorted(styled))
    assert all("<renderer-v2" in styled[name] and "<aliases>" in styled[name] for name in layers)
