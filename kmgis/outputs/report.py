"""The county report a planner hands on: ``report.html`` (self-contained) and ``report.pdf``.

Built only from what a run wrote (``scorecard.csv``, ``run.json`` and its GeoPackage), like
the web map, so it can be redrawn without recomputing and always agrees with the files.
Chinese first, English beside it:

1. the targets met / missed / without data, with their plan clauses;
2. the key figures (every indicator with a value), formatted by unit (:mod:`kmgis.outputs.numbers`);
3. static maps of the main layers (:mod:`kmgis.outputs.static_maps`, PNG inside the HTML);
4. what is without data and what to supply;
5. method and data sources: files with SHA-256, licences, CRS, parameters, versions;
6. the known limits of the data (the catalogue's ``limits`` of each layer used) and of the run.

The HTML needs nothing from the network (no script, no font, no image from outside).  The
PDF is printed from it by headless Chromium (:mod:`kmgis.outputs.pdf`).
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kmgis.config import CatalogEntry, load_catalog
from kmgis.errors import KmgisError
from kmgis.outputs.files import write_text
from kmgis.outputs.numbers import format_value
from kmgis.outputs.pdf import find_chromium, print_pdf
from kmgis.outputs.static_maps import Figure, figures

REPORT_CSS = """
@page { size: A4; margin: 14mm 12mm 16mm 12mm; }
body { font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Source Han Sans SC", "Microsoft YaHei",
       sans-serif; font-size: 10.5pt; color: #222; margin: 1.5em auto; max-width: 60em; }
h1 { font-size: 17pt; margin: 0 0 .2em; } h2 { font-size: 13pt; margin: 1.3em 0 .4em; border-bottom: 2px solid #2166ac; }
h3 { font-size: 11pt; margin: 1em 0 .3em; }
.en { color: #555; font-weight: normal; } .meta { color: #555; font-size: 9pt; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; margin: .3em 0 .8em; }
th, td { border: 1px solid #ccc; padding: 3px 5px; vertical-align: top; text-align: left; }
th { background: #f0f0f0; } td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr { page-break-inside: avoid; }
.met { background: #c8e6c9; } .missed { background: #ffcdd2; } .nodata { background: #e0e0e0; }
.counts span { display: inline-block; padding: 4px 10px; margin-right: 6px; border-radius: 3px; font-weight: bold; }
figure { margin: .6em 0 1em; page-break-inside: avoid; text-align: center; }
figure img { max-width: 100%; max-height: 190mm; } figcaption { font-size: 9pt; color: #333; }
.small { font-size: 8.5pt; color: #444; } code { font-size: 8.5pt; }
@media print { body { margin: 0; max-width: none; } h2 { page-break-after: avoid; } .pagebreak { page-break-before: always; } }
"""
STATUS = {"yes": ("met", "达标 met"), "no": ("missed", "未达标 missed"), "no data": ("nodata", "无数据 no data")}
"""Scorecard ``meets`` → (CSS class, text)."""


@dataclass
class RunFiles:
    """What a run wrote, read back: its folder, scorecard, run record and GeoPackage."""

    out_dir: Path
    card: pd.DataFrame
    run: dict
    gpkg: Path

    @property
    def title(self) -> str:
        recipe = self.run.get("recipe") or {}
        return str(recipe.get("name") or recipe.get("id") or self.out_dir.name)


def read_run_files(out_dir: Path, gpkg_name: str = "indicators.gpkg") -> RunFiles:
    """Read ``scorecard.csv`` (values as numbers) and ``run.json`` of a run folder.

    Raises
    ------
    KmgisError
        When either file is missing (run the recipe first).
    """
    out_dir = Path(out_dir)
    missing = [n for n in ("scorecard.csv", "run.json") if not (out_dir / n).is_file()]
    if missing:
        raise KmgisError(f"{out_dir}: no {', '.join(missing)}; run the recipe first")
    card = pd.read_csv(out_dir / "scorecard.csv", encoding="utf-8-sig", keep_default_na=False, na_values=[""])
    card["value"] = pd.to_numeric(card["value"], errors="coerce")
    run = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    return RunFiles(out_dir, card, run, out_dir / gpkg_name)


def _e(text: object) -> str:
    return html.escape("" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text))


def _col(row: pd.Series, name: str) -> str:
    v = row.get(name, "")
    return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)


def _label(row: pd.Series) -> str:
    zh, en = _col(row, "label_zh"), _col(row, "label_en")
    ind = _col(row, "indicator")
    return f"{_e(zh)} <span class=en>{_e(en)}</span><br><code>{_e(ind)}</code>" if zh or en else f"<code>{_e(ind)}</code>"


def _value(row: pd.Series) -> str:
    unit = _col(row, "unit")
    value = format_value(row.get("value"), unit)
    return value if value == "no data" else f"{value} {_e(unit)}"


def targeted_rows(card: pd.DataFrame) -> pd.DataFrame:
    """The scorecard rows that carry a numeric target (``>=`` / ``<=``), judged met / missed / no data.

    A scorecard without a ``comparison`` column (the metro run's) takes every row with a judgement
    (``meets`` other than ``—``); one neither met nor missed (e.g. ``see data_warning``) counts as no data.
    """
    if "comparison" in card.columns:
        return card[card["comparison"].astype(str).isin([">=", "<="])]
    return card[~card["meets"].astype(str).isin(["—", "", "nan"])]


def status_counts(card: pd.DataFrame) -> dict[str, int]:
    """Targets met, missed and without data.

    >>> card = pd.DataFrame({"comparison": [">=", ">=", "<=", "report", ">="],
    ...                      "meets": ["yes", "no", "no", "—", "no data"]})
    >>> status_counts(card)
    {'yes': 1, 'no': 2, 'no data': 1}
    """
    meets = targeted_rows(card)["meets"].astype(str)
    return {"yes": int((meets == "yes").sum()), "no": int((meets == "no").sum()),
            "no data": int((~meets.isin(["yes", "no"])).sum())}


def _target_text(r: pd.Series) -> str:
    cmp = _col(r, "comparison")
    return f"{_e(cmp)} {format_value(r.get('target'), _col(r, 'unit'))}".strip() if cmp else _e(_col(r, "target"))


def _clause(r: pd.Series) -> str:
    return " · ".join(_e(x) for x in (_col(r, "clause"), _col(r, "year")) if x)


def _judged_table(judged: pd.DataFrame) -> str:
    """Targets met or missed (missed first), one row each with the clause."""
    rows = []
    for _, r in judged.sort_values("meets", key=lambda s: s.map({"no": 0, "yes": 1}), kind="stable").iterrows():
        css, text = STATUS[str(r["meets"])]
        rows.append(f'<tr><td>{_label(r)}</td><td class=num>{_value(r)}</td><td class=num>{_target_text(r)}</td>'
                    f'<td class="{css}">{text}</td><td class=small>{_clause(r)}<br>{_e(_col(r, "scope"))}</td></tr>')
    return ("<table><thead><tr><th>指标 indicator</th><th>数值 value</th><th>目标 target</th><th>结论 status</th>"
            f"<th>依据条款 plan clause</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _no_data_targets(empty: pd.DataFrame) -> str:
    """Targets without data, grouped by clause and target (a family of indicators shares one line)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for _, r in empty.iterrows():
        name = f"{_col(r, 'label_zh')} {_col(r, 'label_en')}".strip() or _col(r, "indicator")
        if pd.notna(r.get("value")):  # a value not judged (e.g. metro: see data_warning)
            name += f" = {format_value(r.get('value'), _col(r, 'unit'))} {_col(r, 'unit')} ({_col(r, 'meets')})"
        groups.setdefault((_clause(r), _target_text(r)), []).append(_e(name))
    rows = "".join(f"<tr><td class=small>{'; '.join(dict.fromkeys(names))}</td><td class=num>{target}</td>"
                   f"<td class=small>{clause}</td></tr>" for (clause, target), names in groups.items())
    return ("<h3>无数据或未判定的目标 <span class=en>Targets without data or not judged</span></h3><table><thead><tr><th>指标 indicators</th>"
            f"<th>目标 target</th><th>依据条款 plan clause</th></tr></thead><tbody>{rows}</tbody></table>")


def targets_section(card: pd.DataFrame) -> str:
    """Counts of met / missed / no data; the judged targets with their clauses; those without data, grouped."""
    counts = status_counts(card)
    badges = "".join(f'<span class="{STATUS[k][0]}">{STATUS[k][1]}: {n}</span>' for k, n in counts.items())
    targeted = targeted_rows(card)
    judged = targeted[targeted["meets"].astype(str).isin(["yes", "no"])]
    empty = targeted[~targeted["meets"].astype(str).isin(["yes", "no"])]
    parts = [f"<h2>目标达成情况 <span class=en>Targets</span></h2><p class=counts>{badges}</p>"]
    if len(judged):
        parts.append(_judged_table(judged))
    if len(empty):
        parts.append(_no_data_targets(empty))
    if not len(targeted):
        parts.append("<p>本次运行无规划目标 No plan targets in this run's scope.</p>")
    return "".join(parts)


def key_figures_section(card: pd.DataFrame) -> str:
    """Every indicator with a value (first row per indicator), formatted by its unit."""
    ok = card[card["value"].notna()].drop_duplicates("indicator")
    rows = "".join(f"<tr><td>{_label(r)}</td><td class=num>{_value(r)}</td>"
                   f"<td class=small>{_e(_col(r, 'definition'))}</td></tr>" for _, r in ok.iterrows())
    return ("<h2>主要指标 <span class=en>Key figures</span></h2>"
            "<table><thead><tr><th>指标 indicator</th><th>数值 value</th><th>定义 definition</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def no_data_section(card: pd.DataFrame, run: dict) -> str:
    """Indicators without a value, grouped by what to supply (``missing`` in ``run.json``)."""
    empty = card[card["value"].isna()].drop_duplicates("indicator")
    if not len(empty):
        return ""
    missing = {i.get("indicator"): i.get("missing") or "" for i in run.get("indicators") or []}
    groups: dict[str, list[str]] = {}
    for ind in empty["indicator"]:
        groups.setdefault(missing.get(ind) or "see the scorecard's method column", []).append(str(ind))
    items = "".join(f"<li><b>{_e(need)}</b><br><span class=small>{len(ids)} indicators: "
                    f"{_e(', '.join(ids))}</span></li>" for need, ids in sorted(groups.items()))
    return (f"<h2>无数据 <span class=en>Without data</span></h2><p>{len(empty)} 项指标无数据，需补充以下数据 "
            f"<span class=en>{len(empty)} indicators have no value; to compute them, supply:</span></p><ul>{items}</ul>")


def figures_section(figures: list[Figure]) -> str:
    """The static maps, inlined as PNG data (nothing fetched)."""
    if not figures:
        return ""
    parts = []
    for f in figures:
        data = base64.b64encode(f.png).decode("ascii")
        parts.append(f'<figure><img alt="{_e(f.caption_en)}" src="data:image/png;base64,{data}">'
                     f"<figcaption>{_e(f.caption_zh)} <span class=en>{_e(f.caption_en)}</span></figcaption></figure>")
    return "<h2 class=pagebreak>地图 <span class=en>Maps</span></h2>" + "".join(parts)


def input_entries(item: dict, catalog: dict[str, CatalogEntry]) -> list[CatalogEntry]:
    """The catalogue entries of one of ``run.json``'s inputs (``layer`` may join several: ``a + b``)."""
    names = (n.strip() for n in str(item.get("layer", "")).split(" + "))
    return [catalog[n] for n in names if n in catalog]


def _input_rows(run: dict, catalog: dict[str, CatalogEntry]) -> str:
    """One row per input: layer and what it is (the catalogue's description, with its date), file, SHA-256, licence."""
    rows = []
    for i in run.get("inputs") or []:
        path = i.get("path")
        name = Path(path).name if path else i.get("source", "")
        sha = i.get("sha256") or ""
        about = "; ".join(e.description for e in input_entries(i, catalog) if e.description)
        rows.append(f"<tr><td><code>{_e(i.get('layer'))}</code><br><span class=small>{_e(about)}</span></td>"
                    f"<td>{_e(name)}</td>"
                    f"<td class=small><code>{_e(sha)}</code></td><td class=small>{_e(i.get('licence'))}"
                    f"{'<br>' + _e(i.get('note')) if i.get('note') else ''}</td></tr>")
    return "".join(rows)


def portable_command(command: str) -> str:
    """``command`` with absolute paths cut to their file names (a report names files, not a machine's folders).

    >>> portable_command("kmgis run /srv/plans/recipes/jinning.yaml")
    'kmgis run jinning.yaml'
    """
    return " ".join(Path(t).name if t.startswith(("/", "~")) or re.match(r"^[A-Za-z]:\\", t) else t
                    for t in str(command or "").split())


def sources_section(run: dict, catalog: dict[str, CatalogEntry]) -> str:
    """Inputs with SHA-256 and licence, the metric CRS, the recipe's parameters and the library versions."""
    recipe = run.get("recipe") or {}
    params = recipe.get("parameters") or {}
    prow = "".join(f"<tr><td><code>{_e(k)}</code></td><td>{_e(json.dumps(v, ensure_ascii=False))}</td></tr>"
                   for k, v in params.items() if v is not None)
    versions = ", ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items())
    built_up = (run.get("built_up") or {}).get("method")
    return (
        "<h2 class=pagebreak>方法与数据来源 <span class=en>Method and data sources</span></h2>"
        f"<p>命令 command: <code>{_e(portable_command(run.get('command')))}</code> · 配方校验 recipe SHA-256: "
        f"<code>{_e(run.get('recipe_sha256'))}</code><br>计算坐标系 metric CRS: {_e(run.get('metric_crs'))} · "
        "存储与地图 storage and maps: WGS84 (EPSG:4326)</p>"
        + (f"<p><b>建成区 built-up area:</b> {_e(built_up)}</p>" if built_up else "")
        + "<h3>输入数据 <span class=en>Inputs</span></h3><table><thead><tr><th>图层 layer</th><th>文件 file</th>"
        f"<th>SHA-256</th><th>许可 licence</th></tr></thead><tbody>{_input_rows(run, catalog)}</tbody></table>"
        + ("<h3>参数 <span class=en>Parameters</span></h3><table><tbody>" + prow + "</tbody></table>" if prow else "")
        + "<p class=small>每项指标的定义、方法和参数见 scorecard.csv / scorecard.xlsx。Each indicator's definition, "
        f"method and parameters are in scorecard.csv / scorecard.xlsx.<br>软件版本 versions: {_e(versions)}</p>")


def run_limits(run: dict, card: pd.DataFrame, catalog: dict[str, CatalogEntry]) -> list[str]:
    """The known limits: the catalogue's ``limits`` of each input layer, then the run's own warnings."""
    out: list[str] = []
    for i in run.get("inputs") or []:
        for entry in input_entries(i, catalog):
            out.extend(x for x in entry.limits if x not in out)
    warning = run.get("data_warning")
    if warning:
        out.append(f"本次运行的数据警告 Data warning of this run: {warning}")
    if "method" in card.columns:
        unverified = card["method"].astype(str).str.startswith("verified: false").sum()
        if unverified:
            out.append(f"{unverified} 行依据未经核实的标准数值 {unverified} scorecard rows rest on values of a standard "
                       "whose text was not verified (marked 'verified: false' in their method).")
    return out


def limits_section(run: dict, card: pd.DataFrame, catalog: dict[str, CatalogEntry]) -> str:
    """The known limits as a list (nothing when there are none)."""
    items = "".join(f"<li>{_e(x)}</li>" for x in run_limits(run, card, catalog))
    return f"<h2>已知局限 <span class=en>Known limits</span></h2><ul>{items}</ul>" if items else ""


def report_html(files: RunFiles, figures: list[Figure]) -> str:
    """The whole report page (self-contained HTML, A4 print styles)."""
    recipe = files.run.get("recipe") or {}
    catalog = load_catalog()  # once: the inputs' descriptions and limits
    scope = recipe.get("scope")
    head = (f"<h1>{_e(files.title)} — 规划指标报告 <span class=en>planning indicator report</span></h1>"
            f"<p class=meta>配方 recipe <code>{_e(recipe.get('id', files.out_dir.name))}</code>"
            + (f" · 范围 scope: {_e(scope)}" if scope else "")
            + " · kmgis " + _e((files.run.get("versions") or {}).get("kmgis", "")) + "</p>")
    body = (head + targets_section(files.card) + figures_section(figures) + key_figures_section(files.card)
            + no_data_section(files.card, files.run) + sources_section(files.run, catalog) + limits_section(files.run, files.card, catalog))
    return (f'<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8"><title>{_e(files.title)} — kmgis report'
            f"</title><style>{REPORT_CSS}</style></head><body>{body}</body></html>\n")


def write_report(out_dir: Path, *, gpkg_name: str = "indicators.gpkg", pdf: bool = True) -> tuple[list[Path], str]:
    """Write ``report.html`` (and ``report.pdf``) into a run folder from the files the run wrote.

    Returns the files written and a note: empty, or why no PDF was printed (not asked for, or
    no Chromium); the HTML is always written, and a PDF of an earlier run is then removed.
    """
    files = read_run_files(out_dir, gpkg_name)
    page = report_html(files, figures(files.gpkg))
    html_path = write_text(page, Path(out_dir) / "report.html")
    pdf_path = Path(out_dir) / "report.pdf"
    if pdf:
        try:
            return [html_path, print_pdf(html_path, pdf_path)], ""
        except KmgisError as exc:
            if find_chromium() is not None:
                raise
            why = str(exc)
    else:
        why = "report.pdf not asked for"
    pdf_path.unlink(missing_ok=True)  # an older PDF would disagree with the new report.html
    return [html_path], why
