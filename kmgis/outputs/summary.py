"""After a batch: all units side by side.

``summary.csv`` and ``summary.xlsx`` (the table), ``index.html`` (the table with formatted
numbers, met / missed colours and links to each unit's map, report and workbook, and an SVG
choropleth) and ``report.html`` / ``report.pdf`` (the same, then each unit's targets).  The
pages load nothing from the network.  Built only from what the recipes wrote
(``maps/<id>/scorecard.csv`` and ``indicators.gpkg``), so they can be redrawn without
recomputing.
"""

from __future__ import annotations

import html
from pathlib import Path

import geopandas as gpd
import pandas as pd

from kmgis.errors import KmgisError
from kmgis.indicators import registry
from kmgis.outputs.files import write_csv, write_text
from kmgis.outputs.numbers import format_value
from kmgis.outputs.pdf import find_chromium, print_pdf
from kmgis.outputs.report import (
    REPORT_CSS,
    STATUS,
    read_run_files,
    status_counts,
    targeted_rows,
    targets_section,
)
from kmgis.outputs.svg_map import SVG_CSS, choropleth_svg
from kmgis.outputs.workbook import write_summary_xlsx

# indicators shown side by side (those with values offline come first)
SUMMARY_INDICATORS = [
    "built_up_area_km2", "population_built_up", "road_density_km_per_km2", "intersection_density_per_km2",
    "dead_end_share_pct", "green_ratio_pct", "park_m2_per_person", "green_300m_pct", "park_500m_pct",
    "lifecircle_complete_pct", "level_15min_complete_pct", "park_service_walk_pct", "station_800m_walk_pct",
    "station_800m_straight_pct",
]
registry.check_ids(SUMMARY_INDICATORS, "kmgis.outputs.summary")  # an undeclared id fails at import


def _header(column: str) -> str:
    """A table header: the registry's Chinese and English label and unit above the id, for indicator columns."""
    if column not in SUMMARY_INDICATORS:
        return html.escape(column)
    s = registry.spec(column)
    return f"{html.escape(s.zh)}<br>{html.escape(s.en)} ({html.escape(s.unit)})<br><code>{html.escape(column)}</code>"


def unit_cards(out_root: Path, recipe_ids: list[str]) -> dict[str, pd.DataFrame]:
    """The scorecard of each recipe that wrote a unit's scorecard (values as written, text), read once.

    Recipes without ``scorecard.csv``, and the metro circle's (no ``comparison`` column: not a
    unit's scorecard), are left out.
    """
    cards = {}
    for rid in recipe_ids:
        path = Path(out_root) / rid / "scorecard.csv"
        if path.is_file():
            card = pd.read_csv(path, encoding="utf-8-sig", dtype={"value": str})
            if "comparison" in card.columns:
                cards[rid] = card
    return cards


def _summary_rows(cards: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per recipe: headline indicator values and the count of targets met / missed / no data."""
    rows = []
    for rid, card in cards.items():
        first = card.drop_duplicates("indicator").set_index("indicator")
        row: dict = {"recipe": rid, "scope": first["scope"].iloc[0] if len(first) else ""}
        for ind in SUMMARY_INDICATORS:
            row[ind] = first["value"].get(ind, "")
        counts = status_counts(card)
        row["targets_met"], row["targets_missed"], row["targets_no_data"] = counts["yes"], counts["no"], counts["no data"]
        targeted = targeted_rows(card)
        row["missed"] = "; ".join(sorted(set(targeted.loc[targeted["meets"] == "no", "target_id"])))
        rows.append(row)
    return pd.DataFrame(rows)


def summary_table(out_root: Path, recipe_ids: list[str]) -> pd.DataFrame:
    """One row per recipe: headline indicator values and the count of targets met / missed / no data."""
    return _summary_rows(_some_cards(out_root, recipe_ids))


def _some_cards(out_root: Path, recipe_ids: list[str]) -> dict[str, pd.DataFrame]:
    """:func:`unit_cards`, or a one-line error when no recipe wrote one."""
    cards = unit_cards(out_root, recipe_ids)
    if not cards:
        raise KmgisError(f"{out_root}: no scorecard.csv of the recipes {recipe_ids}; run them first")
    return cards


def _numeric(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def summary_status(cards: dict[str, pd.DataFrame]) -> dict[tuple[str, str], str]:
    """``{(recipe, indicator): "yes" | "no" | "no data"}`` for the summary's indicators that carry targets.

    An indicator with several targets (the plan's and a national standard's) is ``no`` when
    any is missed, ``yes`` when all with data are met.
    """
    out: dict[tuple[str, str], str] = {}
    for rid, card in cards.items():
        targeted = targeted_rows(card)
        targeted = targeted[targeted["indicator"].isin(SUMMARY_INDICATORS)]
        for ind, meets in targeted.groupby("indicator")["meets"]:
            judged = set(meets)
            out[(rid, str(ind))] = "no" if "no" in judged else "yes" if "yes" in judged else "no data"
    return out


def units_frame(out_root: Path, recipe_ids: list[str]) -> gpd.GeoDataFrame | None:
    """The boundary of each single-unit recipe (column ``recipe``), or None when there is none."""
    frames = []
    for rid in recipe_ids:
        gpkg = Path(out_root) / rid / "indicators.gpkg"
        if not gpkg.is_file():
            continue
        b = gpd.read_file(gpkg, layer="boundary")
        if len(b) == 1:
            frames.append(b.assign(recipe=rid)[["recipe", "geometry"]])
    if not frames:
        return None
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


def choropleth_section(out_root: Path, table: pd.DataFrame, indicator: str, *, link: str) -> str:
    """The SVG choropleth of ``indicator`` over the single-unit recipes (each unit links to ``<id>/<link>``)."""
    units = units_frame(out_root, list(table["recipe"]))
    if units is None:
        return "<p>无单一县区的边界 No single-unit boundaries to draw.</p>"
    s = registry.spec(indicator)
    values = dict(zip(table["recipe"], _numeric(table[indicator]), strict=True))
    title = f"{s.zh} {s.en} ({s.unit})"
    return choropleth_svg(units, values, unit=s.unit, title=title,
                          links={r: f"{r}/{link}" for r in units["recipe"]})


def _cell(rid: str, column: str, value: object, status: dict[tuple[str, str], str]) -> str:
    if column not in SUMMARY_INDICATORS:
        return f"<td>{html.escape('' if pd.isna(value) else str(value))}</td>"
    css = STATUS.get(status.get((rid, column), ""), ("", ""))[0]
    cls = f' class="num {css}"' if css else ' class="num"'
    return f"<td{cls}>{format_value(value, registry.spec(column).unit)}</td>"


def _links(out_root: Path, rid: str) -> str:
    """Links to the files a unit's run wrote (only those that exist)."""
    names = [("report.html", "report"), ("report.pdf", "pdf"), ("map.html", "map"), ("scorecard.xlsx", "xlsx"),
             ("scorecard.csv", "csv")]
    e = html.escape(rid)
    return "<br>".join(f'<a href="{e}/{f}">{label}</a>' for f, label in names if (Path(out_root) / rid / f).is_file())


def table_html(table: pd.DataFrame, status: dict[tuple[str, str], str], *, out_root: Path | None = None) -> str:
    """The side-by-side table: formatted numbers, target cells coloured met / missed; with ``out_root``,
    links to each unit's files."""
    cols = [c for c in table.columns if c != "recipe"]
    links = out_root is not None
    head = ("<th>recipe</th>" + ("<th>outputs</th>" if links else "")
            + "".join(f"<th>{_header(c)}</th>" for c in cols))
    body = []
    for _, r in table.iterrows():
        rid = str(r["recipe"])
        cells = "".join(_cell(rid, c, r[c], status) for c in cols)
        out = f"<td style='white-space:nowrap'>{_links(out_root, rid)}</td>" if out_root is not None else ""
        body.append(f"<tr><td><b>{html.escape(rid)}</b></td>{out}{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_LEGEND = ('<p class=small><span class="met">&nbsp;达标 met&nbsp;</span> <span class="missed">&nbsp;未达标 missed'
           '&nbsp;</span> <span class="nodata">&nbsp;无数据 no data&nbsp;</span> — the cell\'s plan or standard '
           "targets (layers/targets.yaml); targets_met / missed / no_data count all numeric targets of the "
           "recipe's scope.</p>")


PRINT_COLUMNS = 6
"""Columns per table in the combined report (the wide summary is split so each part fits A4)."""


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{REPORT_CSS}{SVG_CSS} body {{ max-width: none; }} table {{ font-size: 8.5pt; }}</style></head>"
            f"<body>{body}</body></html>\n")


def index_html(out_root: Path, table: pd.DataFrame, status: dict[tuple[str, str], str], chart: str) -> str:
    """The batch index page: the table (with links) and the choropleth; nothing from the network."""
    return _page("kmgis — all units 全部县区", "<h1>各县区指标对比 <span class=en>All units side by side</span></h1>"
                 + _LEGEND + table_html(table, status, out_root=out_root) + chart
                 + '<p class=small><a href="report.html">汇总报告 combined report</a>'
                 + (' · <a href="report.pdf">PDF</a>' if (Path(out_root) / "report.pdf").is_file() else "")
                 + ' · <a href="summary.xlsx">summary.xlsx</a> · <a href="summary.csv">summary.csv</a></p>')


def combined_report_html(out_root: Path, table: pd.DataFrame, status: dict[tuple[str, str], str], chart: str) -> str:
    """The combined report: the table and choropleth, then each unit's targets (from its own files)."""
    cols = [c for c in table.columns if c not in ("recipe", "scope")]
    per_page = [cols[i:i + PRINT_COLUMNS] for i in range(0, len(cols), PRINT_COLUMNS)]  # A4 is narrow
    parts = ["<h1>昆明市各县区规划指标汇总报告 <span class=en>Kunming units: combined indicator report</span></h1>",
             _LEGEND, *(table_html(table[["recipe", *chunk]], status) for chunk in per_page), chart]
    for rid in table["recipe"]:
        try:
            files = read_run_files(Path(out_root) / str(rid))
        except KmgisError:
            continue
        parts.append(f"<div class=pagebreak></div><h1>{html.escape(files.title)} <span class=en>"
                     f"<code>{html.escape(str(rid))}</code></span></h1>{targets_section(files.card)}"
                     f"<p class=small>全文见 full report: {html.escape(str(rid))}/report.html</p>")
    return _page("kmgis — combined report 汇总报告", "".join(parts))


def write_summary(out_root: Path, recipe_ids: list[str], *, indicator: str = "road_density_km_per_km2",
                  pdf: bool = True) -> list[Path]:
    """Write ``summary.csv``, ``summary.xlsx``, ``index.html``, ``report.html`` (and ``report.pdf``) into ``out_root``.

    The PDF needs Chromium (:mod:`kmgis.outputs.pdf`); without it only the HTML is written.
    """
    cards = _some_cards(out_root, recipe_ids)  # each scorecard read once, for the table and the colours
    table = _summary_rows(cards)
    if indicator not in table.columns:
        raise KmgisError(f"unknown summary indicator {indicator!r}; choose one of {', '.join(SUMMARY_INDICATORS)}")
    out = Path(out_root)
    status = summary_status(cards)
    chart = choropleth_section(out, table, indicator, link="report.html")
    files = [write_csv(table, out / "summary.csv"), write_summary_xlsx(table, out / "summary.xlsx")]
    report = write_text(combined_report_html(out, table, status, chart), out / "report.html")
    files.append(report)
    if pdf and find_chromium() is not None:
        files.append(print_pdf(report, out / "report.pdf"))
    else:
        (out / "report.pdf").unlink(missing_ok=True)
    files.append(write_text(index_html(out, table, status, chart), out / "index.html"))  # links what exists
    return files
