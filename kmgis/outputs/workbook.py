"""Excel workbooks for planners (openpyxl): one recipe's scorecard, and the batch summary.

* :func:`write_scorecard_xlsx`: sheet ``scorecard 指标`` (one row per scorecard row, values and
  targets stored as numbers with the unit's decimals, the ``meets`` cell coloured) and sheet
  ``definitions 定义`` (the long texts: definition, clause, source, method, parameters);
* :func:`write_summary_xlsx`: the side-by-side table of ``kmgis batch`` (``maps/summary.csv``),
  with the registry's labels and units above the indicator columns, and a definitions sheet.

Numbers keep their full stored precision; only the display format (:func:`kmgis.outputs.numbers.excel_format`)
rounds: persons whole, shares one decimal, densities and km² two.  A unit without a format is an
error naming the unit (:class:`~kmgis.errors.KmgisError`), never an arbitrary precision.

Files are written atomically (:func:`kmgis.outputs.files.atomic_path`).  The workbook's
created/modified stamps and the zip entries' times are a fixed :data:`WORKBOOK_TIME`, so the
same table gives a byte-identical file on every run.
"""

from __future__ import annotations

import io
import math
import unicodedata
import zipfile
from collections.abc import Iterable
from datetime import datetime
from numbers import Integral, Number, Real
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from kmgis.errors import KmgisError
from kmgis.indicators import registry
from kmgis.outputs.files import atomic_path
from kmgis.outputs.numbers import excel_format

WORKBOOK_TIME = datetime(1980, 1, 1)
"""The workbook's created/modified time and every zip entry's time (fixed: reruns are byte-identical)."""

SCORECARD_SHEET = "scorecard 指标"
DEFINITIONS_SHEET = "definitions 定义"
SUMMARY_SHEET = "summary 汇总"

MEETS_FILL: dict[str, str] = {
    "yes": "C8E6C9",
    "no": "FFCDD2",
    "no data": "E0E0E0",
    "see data_warning": "FFE0B2",
}
"""Fill colour (RGB hex) of the ``meets`` cell: met green, missed red, no data grey, caveat amber."""

HEADERS: dict[str, str] = {
    "indicator": "指标 indicator", "label_zh": "中文名称 label_zh", "label_en": "名称 label_en",
    "value": "数值 value", "unit": "单位 unit", "comparison": "比较 comparison", "target": "目标值 target",
    "meets": "达标 meets", "status": "状态 status", "scope": "范围 scope", "target_id": "目标编号 target_id",
    "year": "目标年 year", "data_warning": "数据提示 data_warning", "definition": "定义 definition",
    "clause": "依据条款 clause", "source": "数据来源 source", "method": "方法 method",
    "parameters": "参数 parameters", "recipe": "县区 recipe", "targets_met": "达标数 targets_met",
    "targets_missed": "未达标数 targets_missed", "targets_no_data": "无数据数 targets_no_data",
    "missed": "未达标目标 missed",
}
"""Header text of a known column: the Chinese name beside the English id (else the column name)."""

_LONG_TEXT = ("definition", "clause", "source", "method", "parameters", "data_warning")
_SCORECARD_ORDER = ("indicator", "label_zh", "label_en", "value", "unit", "comparison", "target", "meets",
                    "status", "scope", "target_id", "year", "data_warning")
_DEFINITION_ORDER = ("indicator", "label_zh", "label_en", "unit", "definition", "comparison", "target",
                     "target_id", "clause", "source", "method", "parameters", "data_warning")
_NUMBER_COLUMNS = ("value", "target")  # formatted with the row's unit
_COUNT_COLUMNS = ("targets_met", "targets_missed", "targets_no_data")
_COUNT_FILL = {"targets_met": "yes", "targets_missed": "no", "targets_no_data": "no data"}
_MAX_WIDTH = {"text": 48, "long": 80}  # column widths (characters)
_HEADER_WIDTH = 24  # widest summary indicator column (its three-line header wraps)
_HEADER_FILL = PatternFill("solid", fgColor="FFF0F0F0")
_BOLD = Font(bold=True)
_WRAP = Alignment(wrap_text=True, vertical="top")


# --------------------------------------------------------------------------- cell values


def _missing(x: object) -> bool:
    """None, NaN, NA and blank text are missing (an empty cell)."""
    if x is None or x is pd.NA or x is pd.NaT:
        return True
    if isinstance(x, str):
        return not x.strip()
    return isinstance(x, float) and math.isnan(x)


def _number(x: object) -> float | int | str | None:
    """A cell value: a number if ``x`` is one (or numeric text), None if missing, else the text.

    >>> _number("3.5"), _number(""), _number(float("nan")), _number("—"), _number(7)
    (3.5, None, None, '—', 7)
    """
    if _missing(x):
        return None
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, Integral):
        return int(x)
    try:
        f = float(x) if isinstance(x, Real) else float(str(x).strip())
    except ValueError:
        return str(x)
    if math.isnan(f):
        return None
    return f if math.isfinite(f) else str(x)  # Excel has no inf: shown as text


def _year(x: object) -> int | str | None:
    """A target year as a whole number (CSV reads it back as ``2025.0``)."""
    v = _number(x)
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _text(x: object) -> str | None:
    return None if _missing(x) else str(x)


def _display_len(text: str) -> int:
    """Width of ``text`` in Excel characters (CJK and full-width characters count twice)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# --------------------------------------------------------------------------- sheet layout


def _header_row(ws: Worksheet, row: int, headers: list[str]) -> None:
    for j, text in enumerate(headers, start=1):
        cell = ws.cell(row=row, column=j, value=text)
        cell.font = _BOLD
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def _fit_columns(ws: Worksheet, columns: list[str], first_row: int, *, long: Iterable[str] = ()) -> None:
    """Column widths from the longest line of each column (capped; long texts wider and wrapped)."""
    long = set(long)
    for j, col in enumerate(columns, start=1):
        cells = [ws.cell(row=i, column=j) for i in range(first_row, ws.max_row + 1)]
        widest = max((_display_len(line) for c in cells if c.value is not None
                      for line in str(c.value if not isinstance(c.value, float) else f"{c.value:,.3f}").split("\n")),
                     default=8)
        cap = _MAX_WIDTH["long" if col in long else "text"]
        ws.column_dimensions[get_column_letter(j)].width = min(max(widest + 2, 8), cap)


def _finish_table(ws: Worksheet, header_row: int, n_rows: int, n_cols: int) -> None:
    """Freeze the header row and first column, add an autofilter, and print-fit to the page width."""
    ws.freeze_panes = ws.cell(row=header_row + 1, column=2)
    last = get_column_letter(n_cols)
    ws.auto_filter.ref = f"A{header_row}:{last}{header_row + max(n_rows, 1)}"
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _title_row(ws: Worksheet, title: str) -> None:
    ws.cell(row=1, column=1, value=title).font = Font(bold=True, size=14)


def _fill(key: str) -> PatternFill | None:
    rgb = MEETS_FILL.get(key)
    return PatternFill("solid", fgColor="FF" + rgb) if rgb else None


def _columns(card: pd.DataFrame, order: Iterable[str], *, extra: bool) -> list[str]:
    """The columns of ``card`` in ``order``; with ``extra``, then any other column (not long texts)."""
    cols = [c for c in order if c in card.columns]
    if extra:
        cols += [c for c in card.columns if c not in cols and c not in _LONG_TEXT]
    return cols


# --------------------------------------------------------------------------- scorecard


def _scorecard_sheet(ws: Worksheet, card: pd.DataFrame, title: str) -> None:
    """Sheet 1: the scorecard table, numbers as numbers formatted per row's unit, ``meets`` coloured."""
    cols = _columns(card, _SCORECARD_ORDER, extra=True)
    _title_row(ws, title)
    _header_row(ws, 2, [HEADERS.get(c, str(c)) for c in cols])
    for i, (_, row) in enumerate(card.iterrows(), start=3):
        fmt = excel_format(row["unit"]) if "unit" in cols else None  # unknown unit: KmgisError, not swallowed
        for j, col in enumerate(cols, start=1):
            raw = row[col]
            if col in _NUMBER_COLUMNS:
                value = _number(raw)
            elif col == "year":
                value = _year(raw)
            else:
                value = raw if isinstance(raw, Number) and not _missing(raw) else _text(raw)
            cell = ws.cell(row=i, column=j, value=value)
            if col in _NUMBER_COLUMNS and fmt and isinstance(value, (int, float)):
                cell.number_format = fmt
            elif col == "meets" and (fill := _fill(str(raw))):
                cell.fill = fill
            elif col == "data_warning":
                cell.alignment = _WRAP
    _fit_columns(ws, cols, 2)
    _finish_table(ws, 2, len(card), len(cols))


def _definitions_sheet(ws: Worksheet, card: pd.DataFrame, title: str) -> None:
    """Sheet 2: one row per scorecard row with the long texts, wrapped."""
    cols = _columns(card, _DEFINITION_ORDER, extra=False)
    _title_row(ws, title)
    _header_row(ws, 2, [HEADERS.get(c, str(c)) for c in cols])
    for i, (_, row) in enumerate(card.iterrows(), start=3):
        for j, col in enumerate(cols, start=1):
            value = _number(row[col]) if col == "target" else _text(row[col])
            cell = ws.cell(row=i, column=j, value=value)
            cell.alignment = _WRAP
            if col == "target" and isinstance(value, (int, float)) and "unit" in cols:
                cell.number_format = excel_format(row["unit"])
    _fit_columns(ws, cols, 2, long=_LONG_TEXT)
    _finish_table(ws, 2, len(card), len(cols))


def _check_card(card: pd.DataFrame, what: str) -> None:
    if "indicator" not in card.columns:
        raise KmgisError(f"{what}: no 'indicator' column (columns: {', '.join(map(str, card.columns))})")


def write_scorecard_xlsx(card: pd.DataFrame, path: Path, *, title: str) -> Path:
    """Write one recipe's scorecard as an Excel workbook (``.xlsx``), atomically.

    Sheet ``scorecard 指标``: the title in row 1, headers in row 2 (Chinese name beside the
    column id, e.g. ``数值 value``), one row per scorecard row.  ``value`` and ``target`` are
    numeric cells in the row's unit (km/km², %, persons, …) shown with the unit's decimals
    (:func:`~kmgis.outputs.numbers.excel_format`); a value without data (NaN) is an empty cell
    (its ``status`` reads ``no data``).  The ``meets`` cell is green (yes), red (no), grey
    (no data).  Header row and first column are frozen; the table has an autofilter.
    Sheet ``definitions 定义``: per row the indicator, labels, unit, definition, target,
    clause, source, method and parameters, wrapped.  Columns missing from ``card`` are left
    out (the metro scorecard has only indicator, value, unit, target, meets, data_warning).

    Parameters
    ----------
    card : pandas.DataFrame
        The scorecard (``RecipeResults.scorecard``, or ``maps/<id>/scorecard.csv`` read back).
    path : Path
        The ``.xlsx`` to write; its folder must exist.
    title : str
        Shown in row 1 of each sheet and as the workbook title.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    KmgisError
        A row's unit has no number format (the message names the unit), or no ``indicator`` column.

    Examples
    --------
    >>> import tempfile, openpyxl
    >>> card = pd.DataFrame({"indicator": ["road_density_km_per_km2"], "value": [5.987], "unit": ["km/km²"],
    ...                      "target": [8.5], "meets": ["no"]})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = write_scorecard_xlsx(card, Path(d) / "scorecard.xlsx", title="Jinning 晋宁区")
    ...     ws = openpyxl.load_workbook(p)["scorecard 指标"]
    ...     ws["B3"].value, ws["B3"].number_format, ws["E3"].fill.fgColor.rgb
    (5.987, '#,##0.00', 'FFFFCDD2')
    """
    _check_card(card, f"scorecard workbook {path}")
    wb = Workbook()
    _scorecard_sheet(wb.active, card, title)
    wb.active.title = SCORECARD_SHEET
    _definitions_sheet(wb.create_sheet(DEFINITIONS_SHEET), card, title)
    return _save(wb, Path(path), title)


# --------------------------------------------------------------------------- batch summary


def _indicator_spec(column: str) -> registry.IndicatorSpec | None:
    """The registry entry of an indicator column, None for the other columns (recipe, counts, …)."""
    if column in HEADERS:
        return None
    try:
        return registry.spec(column)
    except KmgisError:
        return None


def _summary_header(column: str, spec: registry.IndicatorSpec | None) -> str:
    if spec is None:
        return HEADERS.get(column, str(column))
    return f"{spec.zh}\n{spec.en} ({spec.unit})\n{column}"


def _summary_sheet(ws: Worksheet, table: pd.DataFrame, specs: dict[str, registry.IndicatorSpec | None]) -> None:
    """The summary table: indicator values as numbers in their unit's format, target counts coloured."""
    cols = list(table.columns)
    _header_row(ws, 1, [_summary_header(c, specs[c]) for c in cols])
    formats = {c: excel_format(s.unit) for c, s in specs.items() if s is not None}
    numeric = {c: pd.to_numeric(table[c], errors="coerce") for c in cols if c in formats or c in _COUNT_COLUMNS}
    for i in range(len(table)):
        for j, col in enumerate(cols, start=1):
            if col in numeric:
                v = numeric[col].iloc[i]
                value = None if pd.isna(v) else (int(v) if col in _COUNT_COLUMNS else float(v))
            else:
                value = _text(table[col].iloc[i])
            cell = ws.cell(row=i + 2, column=j, value=value)
            if col in formats and value is not None:
                cell.number_format = formats[col]
            elif col in _COUNT_FILL and value and (fill := _fill(_COUNT_FILL[col])):
                cell.fill = fill
    _fit_columns(ws, cols, 2)
    lines = 1
    for j, col in enumerate(cols, start=1):  # headers of indicator columns: three lines, wrapped
        if specs[col] is not None:
            dim = ws.column_dimensions[get_column_letter(j)]
            words = [_display_len(t) for t in ws.cell(row=1, column=j).value.split("\n")]
            dim.width = max(dim.width, min(max(words) + 2, _HEADER_WIDTH))
            lines = max(lines, sum(math.ceil(w / (dim.width - 2)) for w in words))
    ws.row_dimensions[1].height = 15 * lines
    _finish_table(ws, 1, len(table), len(cols))


def _summary_definitions(ws: Worksheet, specs: dict[str, registry.IndicatorSpec | None]) -> None:
    """One row per indicator column: id, labels, unit, definition."""
    cols = ["indicator", "label_zh", "label_en", "unit", "definition"]
    _header_row(ws, 1, [HEADERS[c] for c in cols])
    rows = [(c, s.zh, s.en, s.unit, s.definition) for c, s in specs.items() if s is not None]
    for i, values in enumerate(rows, start=2):
        for j, value in enumerate(values, start=1):
            ws.cell(row=i, column=j, value=value).alignment = _WRAP
    _fit_columns(ws, cols, 1, long=("definition",))
    _finish_table(ws, 1, len(rows), len(cols))


def write_summary_xlsx(table: pd.DataFrame, path: Path) -> Path:
    """Write the batch summary (all units side by side) as an Excel workbook, atomically.

    Sheet ``summary 汇总``: one row per recipe.  Each indicator column (a column the registry
    declares) has the registry's Chinese and English label and unit above its id, and its
    values as numbers (the table's text from ``scorecard.csv`` converted; blank = empty cell)
    in the unit's format (persons whole, % one decimal, km/km² two).  ``targets_met`` cells
    above zero are green, ``targets_missed`` red, ``targets_no_data`` grey.  Header row and
    recipe column frozen, autofilter.  Sheet ``definitions 定义``: each indicator column's
    labels, unit and definition.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`kmgis.outputs.summary.summary_table` (columns recipe, scope, indicator ids,
        targets_met, targets_missed, targets_no_data, missed).
    path : Path
        The ``.xlsx`` to write; its folder must exist.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    KmgisError
        An indicator's unit has no number format (the message names the unit).

    Examples
    --------
    >>> import tempfile, openpyxl
    >>> table = pd.DataFrame({"recipe": ["jinning"], "population_built_up": ["24574.373"],
    ...                       "targets_met": [0], "targets_missed": [1]})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     ws = openpyxl.load_workbook(write_summary_xlsx(table, Path(d) / "summary.xlsx"))["summary 汇总"]
    ...     ws["B2"].value, ws["B2"].number_format, ws["D2"].fill.fgColor.rgb
    (24574.373, '#,##0', 'FFFFCDD2')
    """
    specs = {c: _indicator_spec(str(c)) for c in table.columns}
    wb = Workbook()
    _summary_sheet(wb.active, table, specs)
    wb.active.title = SUMMARY_SHEET
    _summary_definitions(wb.create_sheet(DEFINITIONS_SHEET), specs)
    return _save(wb, Path(path), "kmgis summary 各县区指标对比")


# --------------------------------------------------------------------------- writing


def _save(wb: Workbook, path: Path, title: str) -> Path:
    """Save ``wb`` to ``path`` atomically and reproducibly (fixed stamps and zip entry times)."""
    wb.properties.title = title
    wb.properties.creator = "kmgis"
    wb.properties.created = wb.properties.modified = WORKBOOK_TIME
    buf = io.BytesIO()
    ExcelWriter(wb, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED)).save()  # save_workbook stamps "now"
    with atomic_path(path) as tmp, zipfile.ZipFile(buf) as src, \
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=WORKBOOK_TIME.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return path
