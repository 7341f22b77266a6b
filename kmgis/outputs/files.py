"""Writing outputs atomically: GeoPackage, CSV (UTF-8 with BOM for Excel), JSON.

Every writer writes to a temporary file in the destination folder and renames it into
place (``os.replace``), so a failed or interrupted run never leaves a half-written file
under a final name.  Output names are checked to stay inside the output folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from kmgis.errors import KmgisError
from kmgis.outputs.numbers import format_value


def safe_output_dir(root: Path, name: str) -> Path:
    """``root/name``, refusing names that escape ``root`` (``..``, absolute paths, separators)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith("."):
        raise KmgisError(f"output name {name!r} is not a plain folder name")
    root = Path(root).resolve()
    if root.exists() and not root.is_dir():
        raise KmgisError(f"output folder {root} is a file, not a folder")
    out = (root / name).resolve()
    if out.parent != root:
        raise KmgisError(f"output name {name!r} leaves the output folder {root}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KmgisError(f"cannot create output folder {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK):
        raise KmgisError(f"output folder {out} is not writable")
    return out


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` only on success."""
    final = Path(final)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp" + final.suffix, dir=final.parent)
    os.close(fd)
    os.unlink(tmp)  # writers (GDAL) want to create the file themselves
    try:
        yield Path(tmp)
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def output_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on an output folder for one run.

    A second run writing to the same folder at the same time is refused with a clear
    message (not interleaved).  Under the lock, temporary files left by an interrupted run
    (``.NAME.*.tmp*``, never under a final name) are removed.
    """
    import fcntl

    out_dir = Path(out_dir)
    fd = os.open(out_dir / ".kmgis.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise KmgisError(f"another kmgis run is writing to {out_dir}; wait for it to finish") from None
    try:
        for stale in out_dir.glob(".*.tmp*"):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def write_gpkg(layers: dict[str, gpd.GeoDataFrame], path: Path, *,
               style: Callable[[Path, dict[str, gpd.GeoDataFrame]], object] | None = None) -> Path:
    """Write several layers into one GeoPackage, atomically (all layers or none).

    ``style(tmp_path, layers)`` runs on the temporary file after the layers are written and
    before it takes the final name (kmgis's writers pass
    :func:`kmgis.outputs.qgis_styles.style_gpkg` through
    :func:`~kmgis.outputs.qgis_styles.write_styled_gpkg`), so the final name only ever holds a
    complete, styled GeoPackage.
    """
    with atomic_path(path) as tmp:
        for name, gdf in layers.items():
            gdf.to_file(tmp, layer=name, driver="GPKG", engine="pyogrio")
        if layers and style is not None:
            style(tmp, layers)
    return Path(path)


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """CSV in UTF-8 with a BOM (opens correctly in Excel on Chinese Windows), atomically."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
    return Path(path)


def write_json(data: Any, path: Path) -> Path:
    """Pretty JSON (UTF-8, non-ASCII kept readable), atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    return Path(path)


_MEETS_STYLE = {"yes": "meets-yes", "no": "meets-no", "no data": "meets-nodata"}


def _cell_text(row: pd.Series, column: str) -> str:
    """A scorecard cell as text: value and target formatted by unit; a value without data reads ``no data``."""
    if column == "value" and row.get("status") == "no data":
        return "no data"
    if column in ("value", "target") and str(row.get(column, "")).strip() not in ("", "nan"):
        return format_value(row[column], str(row.get("unit", "")), strict=False)
    return "" if column == "target" and pd.isna(row.get(column)) else str(row[column])


def scorecard_html(card: pd.DataFrame, title: str, subtitle: str = "") -> str:
    """A standalone HTML page of a scorecard (no scripts, all text escaped)."""
    import html

    cols = ["label_zh", "label_en", "indicator", "value", "unit", "comparison", "target", "meets", "scope", "clause",
            "method", "source"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for _, row in card.iterrows():
        cls = _MEETS_STYLE.get(str(row["meets"]), "")
        cells = "".join(f"<td>{html.escape(_cell_text(row, c))}</td>" for c in cols)
        body.append(f'<tr class="{cls}">{cells}</tr>')
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; }}
th {{ background: #f0f0f0; }}
tr.meets-yes td:nth-child(8) {{ background: #c8e6c9; }}
tr.meets-no td:nth-child(8) {{ background: #ffcdd2; }}
tr.meets-nodata td {{ color: #777; }}
</style></head><body>
<h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>
<p>达标 meets: yes / no; — = reported without a numeric target; no data = input layer missing (the method column names what to supply).</p>
<table><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table></body></html>
"""


def write_text(text: str, path: Path) -> Path:
    """A UTF-8 text file, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
