"""Excel workbooks (kmgis.outputs.workbook): the Jinning scorecard on real data, the metro
scorecard's few columns, the batch summary, reproducible bytes and the unknown-unit error."""

from __future__ import annotations

import math
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from kmgis.errors import KmgisError
from kmgis.indicators import registry
from kmgis.outputs.files import write_csv
from kmgis.outputs.summary import summary_table
from kmgis.outputs.workbook import (
    DEFINITIONS_SHEET,
    MEETS_FILL,
    SCORECARD_SHEET,
    SUMMARY_SHEET,
    write_scorecard_xlsx,
    write_summary_xlsx,
)
from kmgis.workflows.metro import _metro_scorecard

HEADER_ROW = 2  # row 1 holds the title


@pytest.fixture(scope="module")
def jinning_card(jinning_results) -> pd.DataFrame:
    """The Jinning recipe's scorecard (real data; the session's run)."""
    return jinning_results.scorecard


@pytest.fixture(scope="module")
def jinning_book(jinning_card: pd.DataFrame, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The scorecard workbook and the scorecard.csv written beside it, read back with pandas."""
    out = tmp_path_factory.mktemp("workbook") / "jinning"
    out.mkdir()
    csv = pd.read_csv(write_csv(jinning_card, out / "scorecard.csv"), encoding="utf-8-sig")
    return write_scorecard_xlsx(jinning_card, out / "scorecard.xlsx", title="晋宁区 Jinning — scorecard"), csv


def _columns(ws, header_row: int = HEADER_ROW) -> dict[str, int]:
    """English column id (the header's last word) → column number."""
    return {str(c.value).split()[-1]: c.column for c in ws[header_row] if c.value is not None}


def _rgb(cell) -> str:
    return str(cell.fill.fgColor.rgb)[-6:].upper()


def _assert_number_cell(cell, expected: float) -> None:
    if pd.isna(expected):
        assert cell.value is None, f"{cell.coordinate}: {cell.value!r} where the CSV has no value"
    else:
        assert isinstance(cell.value, (int, float)), f"{cell.coordinate}: {cell.value!r} is not a number"
        assert math.isclose(cell.value, expected, rel_tol=0, abs_tol=1e-9), cell.coordinate


def test_scorecard_values_equal_the_csv(jinning_book):
    path, csv = jinning_book
    ws = openpyxl.load_workbook(path)[SCORECARD_SHEET]
    col = _columns(ws)
    assert ws.max_row - HEADER_ROW == len(csv) > 50
    for i, row in csv.iterrows():
        r = HEADER_ROW + 1 + i
        assert ws.cell(r, col["indicator"]).value == row["indicator"]
        _assert_number_cell(ws.cell(r, col["value"]), row["value"])
        _assert_number_cell(ws.cell(r, col["target"]), row["target"])
        if pd.isna(row["value"]):
            assert ws.cell(r, col["status"]).value == "no data"
    assert csv["value"].isna().any() and csv["value"].notna().any()  # both cases were checked


def test_number_formats_follow_the_unit(jinning_book):
    path, csv = jinning_book
    ws = openpyxl.load_workbook(path)[SCORECARD_SHEET]
    col = _columns(ws)
    expected = {"persons": "#,##0", "km/km²": "#,##0.00", "km²": "#,##0.00", "%": "#,##0.0"}
    seen = set()
    for i, row in csv.iterrows():
        cell = ws.cell(HEADER_ROW + 1 + i, col["value"])
        if row["unit"] in expected and cell.value is not None:
            assert cell.number_format == expected[row["unit"]], (row["indicator"], cell.number_format)
            seen.add(row["unit"])
    assert seen == set(expected)
    road = csv.index[csv["indicator"] == "road_density_km_per_km2"][0]
    assert ws.cell(HEADER_ROW + 1 + road, col["target"]).number_format == "#,##0.00"


def test_meets_cells_are_coloured(jinning_book):
    path, csv = jinning_book
    ws = openpyxl.load_workbook(path)[SCORECARD_SHEET]
    col = _columns(ws)
    assert (csv["meets"] == "no").any() and (csv["meets"] == "no data").any()
    for i, row in csv.iterrows():
        cell = ws.cell(HEADER_ROW + 1 + i, col["meets"])
        if row["meets"] == "no":
            assert _rgb(cell) == "FFCDD2"
        elif row["meets"] in MEETS_FILL:
            assert _rgb(cell) == MEETS_FILL[row["meets"]]
        else:
            assert cell.fill.fill_type is None


def test_scorecard_sheet_layout(jinning_book):
    path, _ = jinning_book
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [SCORECARD_SHEET, DEFINITIONS_SHEET]
    ws = wb[SCORECARD_SHEET]
    headers = [c.value for c in ws[HEADER_ROW]]
    for h in ("指标 indicator", "数值 value", "单位 unit", "目标值 target", "达标 meets", "状态 status"):
        assert h in headers
    assert ws["A1"].value == "晋宁区 Jinning — scorecard"
    assert ws.freeze_panes == "B3"
    assert ws.auto_filter.ref == f"A2:{openpyxl.utils.get_column_letter(len(headers))}{ws.max_row}"
    assert all(8 <= ws.column_dimensions[openpyxl.utils.get_column_letter(j)].width <= 80
               for j in range(1, len(headers) + 1))
    assert wb.properties.title == "晋宁区 Jinning — scorecard"


def test_definitions_sheet_has_one_row_per_scorecard_row(jinning_book):
    path, csv = jinning_book
    ws = openpyxl.load_workbook(path)[DEFINITIONS_SHEET]
    col = _columns(ws)
    assert ws.max_row - HEADER_ROW == len(csv)
    for name in ("indicator", "label_zh", "label_en", "unit", "definition", "target", "clause", "source", "method",
                 "parameters"):
        assert name in col, name
    assert "定义 definition" in [c.value for c in ws[HEADER_ROW]]
    assert ws.freeze_panes == "B3"
    for i, row in csv.iterrows():
        r = HEADER_ROW + 1 + i
        assert ws.cell(r, col["indicator"]).value == row["indicator"]
        assert ws.cell(r, col["definition"]).value == row["definition"]
        assert ws.cell(r, col["definition"]).alignment.wrap_text


def test_rerun_is_byte_identical_and_atomic(jinning_card, jinning_book, tmp_path):
    first, _ = jinning_book
    again = write_scorecard_xlsx(jinning_card, tmp_path / "scorecard.xlsx", title="晋宁区 Jinning — scorecard")
    assert again.read_bytes() == first.read_bytes()
    write_scorecard_xlsx(jinning_card, again, title="晋宁区 Jinning — scorecard")  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scorecard.xlsx"]  # no temp file left


def test_metro_scorecard_writes_only_its_columns(tmp_path):
    members = pd.DataFrame({"member": list("ABCDEFGHI"), "within_60": ["yes"] * 7 + ["no"] * 2})
    isochrones = pd.DataFrame({"minutes": [30.0, 60.0], "area_km2": [502.875, 1589.32]})
    card = _metro_scorecard(members, isochrones, 60.0, "")
    card.loc[2, "value"] = float("nan")
    ws = openpyxl.load_workbook(write_scorecard_xlsx(card, tmp_path / "metro.xlsx", title="metro"))[SCORECARD_SHEET]
    col = _columns(ws)
    assert set(col) == {"indicator", "value", "unit", "target", "meets", "data_warning"}
    members_row, area_row, empty_row = HEADER_ROW + 1, HEADER_ROW + 2, HEADER_ROW + 3
    assert ws.cell(members_row, col["unit"]).value == "of 9 members"
    assert (ws.cell(members_row, col["value"]).value, ws.cell(members_row, col["target"]).value) == (7, 9)
    assert ws.cell(members_row, col["value"]).number_format == "#,##0"
    assert _rgb(ws.cell(members_row, col["meets"])) == MEETS_FILL["no"]
    assert ws.cell(area_row, col["value"]).value == pytest.approx(502.875, abs=1e-9)
    assert ws.cell(area_row, col["value"]).number_format == "#,##0.00"
    assert ws.cell(area_row, col["target"]).value == "—"
    assert ws.cell(empty_row, col["value"]).value is None
    assert openpyxl.load_workbook(tmp_path / "metro.xlsx")[DEFINITIONS_SHEET].max_row == HEADER_ROW + len(card)


def test_summary_workbook(tmp_path):
    table = pd.DataFrame({
        "recipe": ["jinning", "chenggong"], "scope": ["county-seat built-up area", "built-up area"],
        "population_built_up": ["24574.373", ""], "road_density_km_per_km2": ["5.987", "7.25"],
        "green_300m_pct": [float("nan"), "81.5"],
        "targets_met": [0, 2], "targets_missed": [1, 0], "targets_no_data": [8, 0],
        "missed": ["T1-road-density-county-seat", ""],
    })
    wb = openpyxl.load_workbook(write_summary_xlsx(table, tmp_path / "summary.xlsx"))
    assert wb.sheetnames == [SUMMARY_SHEET, DEFINITIONS_SHEET]
    ws = wb[SUMMARY_SHEET]
    col = {str(c.value).split()[-1]: c.column for c in ws[1]}
    road = registry.spec("road_density_km_per_km2")
    assert ws.cell(1, col["road_density_km_per_km2"]).value == f"{road.zh}\n{road.en} ({road.unit})\nroad_density_km_per_km2"
    assert ws.cell(1, col["recipe"]).value == "县区 recipe"
    assert ws.cell(2, col["population_built_up"]).value == pytest.approx(24574.373, abs=1e-9)
    assert ws.cell(2, col["population_built_up"]).number_format == "#,##0"
    assert ws.cell(3, col["population_built_up"]).value is None
    assert ws.cell(3, col["road_density_km_per_km2"]).value == pytest.approx(7.25)
    assert ws.cell(3, col["road_density_km_per_km2"]).number_format == "#,##0.00"
    assert (ws.cell(2, col["green_300m_pct"]).value, ws.cell(3, col["green_300m_pct"]).number_format) == (None, "#,##0.0")
    assert _rgb(ws.cell(2, col["targets_missed"])) == MEETS_FILL["no"]
    assert _rgb(ws.cell(3, col["targets_met"])) == MEETS_FILL["yes"]
    assert ws.cell(3, col["targets_missed"]).fill.fill_type is None  # zero missed: not coloured
    assert ws.freeze_panes == "B2"
    defs = wb[DEFINITIONS_SHEET]
    rows = [[c.value for c in r] for r in defs.iter_rows(min_row=2)]
    assert [r[0] for r in rows] == ["population_built_up", "road_density_km_per_km2", "green_300m_pct"]
    assert rows[1][3:] == [road.unit, road.definition]


def test_summary_of_the_written_jinning_scorecard(jinning_book, tmp_path):
    path, csv = jinning_book
    table = summary_table(path.parents[1], ["jinning"])
    ws = openpyxl.load_workbook(write_summary_xlsx(table, tmp_path / "summary.xlsx"))[SUMMARY_SHEET]
    col = {str(c.value).split()[-1]: c.column for c in ws[1]}
    value = csv.set_index("indicator")["value"]
    assert ws.cell(2, col["road_density_km_per_km2"]).value == pytest.approx(value["road_density_km_per_km2"],
                                                                           abs=1e-9)
    assert ws.cell(2, col["targets_missed"]).value == int((csv["meets"] == "no").sum())


def test_unknown_unit_raises_and_writes_nothing(tmp_path):
    card = pd.DataFrame({"indicator": ["x_length"], "value": [1.0], "unit": ["furlongs"], "target": [""],
                         "meets": ["—"]})
    with pytest.raises(KmgisError, match="furlongs"):
        write_scorecard_xlsx(card, tmp_path / "bad.xlsx", title="bad")
    assert list(tmp_path.iterdir()) == []
