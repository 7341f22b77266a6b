"""POI tables (CSV: lon/lat + category or Amap type code) into the ``facilities`` layer.

A POI table is what Chinese web-map exports look like: one row per point of interest with
longitude/latitude columns (often GCJ-02, the Amap/高德 datum), a name and either a
category of ``layers/facilities.yaml`` or a 6-digit Amap POI type code (高德 POI 分类编码).

* **Encoding**: UTF-8, UTF-8 with BOM (Excel) or GBK/GB18030 (Chinese Excel, old tools).
  ``encoding=None`` tries UTF-8 (BOM accepted) first, then GB18030 (a superset of GBK).
* **Datum**: ``gcj02=True`` converts the numbers with :func:`kmgis.crs.gcj02_to_wgs84`.
* **Category**: from a column holding a category key of ``facilities.yaml`` (``school``,
  ``kindergarten``, … case-insensitive) or its Chinese label (``幼儿园``, or one part of a
  label such as ``超市`` of ``菜市场/超市``); any other value
  is an error that lists them.  Or, with ``typecode=COLUMN``, from Amap type codes: a code
  belongs to the category whose ``amap_typecodes`` prefix it starts with (longest prefix
  wins).  Amap writes several codes as ``"141202|141203"``: the first code that matches a
  category is used.  Rows whose codes match no category are *dropped*, counted in a
  :class:`PoiTableWarning` and in ``gdf.attrs["poi_stats"]``.  When ``typecode`` is given,
  the ``category`` column is not used.
* **Coordinates**: a missing, non-numeric or out-of-range (beyond ±180° / ±90°) lon/lat is
  an error naming the file and the first rows (data row numbers, 1 = first row below the
  header, with the file line in brackets for a table without line breaks inside fields).

The result is the ``facilities`` layer (WGS84, :func:`kmgis.model.conform`); read statistics
are in ``gdf.attrs["poi_stats"]``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from kmgis.config import load_layers_yaml
from kmgis.crs import gcj02_to_wgs84
from kmgis.errors import KmgisError
from kmgis.model import WGS84, conform

AUTO_ENCODINGS: tuple[str, ...] = ("utf-8-sig", "gb18030")
"""Encodings tried in turn when ``encoding=None`` (UTF-8 with or without BOM, then GBK/GB18030)."""

_SHOW_ROWS = 5
_CODE_SPLIT = re.compile(r"[|;,/\s]+")


class PoiTableWarning(UserWarning):
    """Rows of a POI table were dropped (Amap type codes outside the facility categories)."""


# --------------------------------------------------------------------------- categories


def facility_categories() -> dict[str, dict]:
    """The categories of ``layers/facilities.yaml`` in file order (key → its entry)."""
    return dict(load_layers_yaml("facilities")["categories"])


def amap_prefixes() -> list[tuple[str, str]]:
    """(prefix, category) pairs of ``facilities.yaml``, longest prefix first."""
    pairs = [
        (str(code), cat) for cat, entry in facility_categories().items() for code in entry.get("amap_typecodes") or []
    ]
    return sorted(pairs, key=lambda p: -len(p[0]))


def category_of_typecode(code: object) -> str | None:
    """The facility category of an Amap type code (``"141204"`` → ``"kindergarten"``), else None.

    ``code`` may hold several codes separated by ``|`` (Amap's multi-type POIs); the first
    that matches a category wins.  Codes read as numbers lose their leading zero
    (``60400``): 5-digit codes are zero-padded back to 6 digits.
    """
    if code is None or (isinstance(code, float) and np.isnan(code)):
        return None
    prefixes = amap_prefixes()
    for part in _CODE_SPLIT.split(str(code).strip()):
        part = part.removesuffix(".0")
        if not part.isdigit():
            continue
        if len(part) == 5:
            part = "0" + part
        if len(part) != 6:
            continue
        for prefix, cat in prefixes:
            if part.startswith(prefix):
                return cat
    return None


def _category_lookup() -> dict[str, str]:
    """Accepted spellings (lower-case key, Chinese label) → category key."""
    out: dict[str, str] = {}
    for key, entry in facility_categories().items():
        out[key.lower()] = key
        zh = str(entry.get("zh") or "").strip()
        if zh:
            out[zh] = key
            for part in zh.split("/"):  # "菜市场/超市": each part alone too
                out.setdefault(part.strip(), key)
    return out


# --------------------------------------------------------------------------- reading


def _rows_text(idx: Sequence[int]) -> str:
    """'data rows 2, 7 (file lines 3, 8)' for the first few positional row indices."""
    idx = list(idx)
    shown = idx[:_SHOW_ROWS]
    more = f" and {len(idx) - len(shown)} more" if len(idx) > len(shown) else ""
    rows = ", ".join(str(i + 1) for i in shown)
    lines = ", ".join(str(i + 2) for i in shown)
    word = "row" if len(idx) == 1 else "rows"
    return f"data {word} {rows}{more} (file line{'s' if len(shown) > 1 else ''} {lines})"


def _read_csv(path: Path, encoding: str | None) -> tuple[pd.DataFrame, str]:
    """The table as strings (column names stripped) and the encoding that decoded it."""
    if not path.is_file():
        raise KmgisError(f"POI table {path}: file not found")
    tried = [encoding] if encoding else list(AUTO_ENCODINGS)
    for enc in tried:
        try:
            df = pd.read_csv(path, dtype=str, encoding=enc, keep_default_na=False, na_values=[""])
        except UnicodeDecodeError:
            continue
        except LookupError:
            raise KmgisError(f"POI table {path}: unknown text encoding {enc!r} (try utf-8 or gbk)") from None
        except pd.errors.EmptyDataError:
            raise KmgisError(f"POI table {path}: the file is empty (expected a CSV with a header row)") from None
        except pd.errors.ParserError as exc:
            raise KmgisError(f"POI table {path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
        df.columns = [str(c).strip() for c in df.columns]
        return df, enc
    hint = "give the file's encoding (e.g. encoding='gbk')" if encoding is None else "try encoding=None (auto)"
    raise KmgisError(f"POI table {path}: cannot decode the text as {' or '.join(tried)}; {hint}")


def _require_column(df: pd.DataFrame, col: str, what: str, path: Path) -> pd.Series:
    """Column ``col`` of ``df``, else :class:`KmgisError` naming ``what`` and the columns there are."""
    if col not in df.columns:
        cols = ", ".join(df.columns) or "none"
        raise KmgisError(f"POI table {path}: no {what} column {col!r} (columns: {cols})")
    return df[col]


def _coordinates(df: pd.DataFrame, lon: str, lat: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(lon, lat)`` in degrees, else :class:`KmgisError` naming the rows with missing, non-numeric or
    out-of-range values."""
    x = pd.to_numeric(_require_column(df, lon, "longitude", path).str.strip(), errors="coerce").to_numpy(float)
    y = pd.to_numeric(_require_column(df, lat, "latitude", path).str.strip(), errors="coerce").to_numpy(float)
    missing = df[lon].isna().to_numpy() | df[lat].isna().to_numpy()
    non_numeric = ~missing & ~(np.isfinite(x) & np.isfinite(y))
    with np.errstate(invalid="ignore"):
        out_of_range = ~missing & ~non_numeric & ((np.abs(x) > 180) | (np.abs(y) > 90))
    problems = []
    for mask, what in ((missing, "missing"), (non_numeric, "non-numeric"), (out_of_range, "out-of-range")):
        if mask.any():
            problems.append(f"{what} {lon}/{lat} in {_rows_text(np.flatnonzero(mask))}")
    if problems:
        hint = " (values beyond ±180/±90 look like projected metres: give lon/lat degrees)" if out_of_range.any() else ""
        raise KmgisError(f"POI table {path}: " + "; ".join(problems) + hint)
    return x, y


def _typecode_categories(
    df: pd.DataFrame, typecode: str, path: Path
) -> tuple[pd.Series, np.ndarray, dict[str, int], str]:
    """Categories from the Amap type codes in column ``typecode``.

    Returns ``(category per row, rows kept, {unmatched code: rows}, what the categories
    came from)``; rows whose codes match no category are dropped with a
    :class:`PoiTableWarning` (pointing at the caller of :func:`read_poi_table`).
    """
    codes = _require_column(df, typecode, "Amap type code", path)
    uniq = pd.unique(codes.fillna(""))
    cat_of = {c: category_of_typecode(c) for c in uniq}
    cats = codes.fillna("").map(cat_of)
    keep = cats.notna().to_numpy()
    unmatched: dict[str, int] = {}
    if not keep.all():
        counts = codes[~keep].fillna("<empty>").value_counts()
        unmatched = {str(k): int(v) for k, v in counts.items()}
        top = ", ".join(f"{k} ×{v}" for k, v in list(unmatched.items())[:8])
        warnings.warn(
            f"POI table {path}: {int((~keep).sum())} of {len(df)} rows dropped: their Amap type codes match "
            f"no category of layers/facilities.yaml ({top}{', …' if len(unmatched) > 8 else ''})",
            PoiTableWarning,
            stacklevel=3,
        )
    return cats, keep, unmatched, f"Amap type codes in column {typecode!r}"


def _column_categories(df: pd.DataFrame, category: str, path: Path) -> tuple[pd.Series, str]:
    """Categories from column ``category`` (a key of ``facilities.yaml`` or its Chinese label).

    Returns ``(category per row, what the categories came from)``; any other value is a
    :class:`KmgisError` listing the values and the first rows.
    """
    raw = _require_column(df, category, "category", path)
    lookup = _category_lookup()
    cleaned = raw.fillna("").str.strip()
    cats = cleaned.map(lambda v: lookup.get(v, lookup.get(v.lower())))
    bad = cats.isna().to_numpy()
    if bad.any():
        values = sorted({v or "<empty>" for v in cleaned[bad]})
        shown = ", ".join(repr(v) for v in values[:10]) + (", …" if len(values) > 10 else "")
        raise KmgisError(
            f"POI table {path}: unknown {category!r} value(s) {shown} in {_rows_text(np.flatnonzero(bad))}; "
            f"expected one of {', '.join(facility_categories())} (layers/facilities.yaml) or their Chinese "
            f"labels, or read Amap codes with typecode=COLUMN"
        )
    return cats, f"column {category!r}"


def _names_and_ids(
    df: pd.DataFrame, path: Path, name: str | None, source_id: str | None
) -> tuple[pd.Series, pd.Series]:
    """The name column (None where absent) and the POI ids (column ``source_id``, else ``<file>:<row>``)."""
    if name is not None and name in df.columns:
        names = df[name]
    else:
        names = pd.Series(None, index=df.index, dtype=object)
    if source_id is not None:
        ids = _require_column(df, source_id, "id", path)
    else:
        ids = pd.Series([f"{path.name}:{i + 1}" for i in range(len(df))], index=df.index)
    return names, ids


def read_poi_table(
    path: str | Path,
    *,
    lon: str = "lon",
    lat: str = "lat",
    gcj02: bool = False,
    category: str | None = "category",
    typecode: str | None = None,
    name: str | None = "name",
    encoding: str | None = None,
    source_id: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a CSV POI table into the ``facilities`` layer (WGS84 points, conformed).

    Parameters
    ----------
    path : the CSV file.
    lon, lat : the longitude / latitude columns (decimal degrees).
    gcj02 : the numbers are GCJ-02 (Amap/高德, Tencent): convert them to WGS84.
    category : the column holding a ``facilities.yaml`` category (key or Chinese label);
        used when ``typecode`` is None.
    typecode : the column holding 6-digit Amap type codes; categories come from the codes'
        prefixes in ``facilities.yaml`` (``amap_typecodes``); rows matching none are dropped
        and counted (:class:`PoiTableWarning`, ``attrs["poi_stats"]``).
    name : the name column (optional: absent → names left empty).
    encoding : the text encoding; None tries UTF-8 (with or without BOM), then GB18030/GBK.
    source_id : a column of POI ids (e.g. Amap ``id``); default ``"<file name>:<data row>"``.

    Returns
    -------
    GeoDataFrame
        The ``facilities`` layer; read statistics in ``attrs["poi_stats"]``.

    Raises :class:`KmgisError` for a missing file or column, undecodable text, bad
    coordinates (naming the first rows) or category values outside ``facilities.yaml``.
    """
    path = Path(path)
    df, used_encoding = _read_csv(path, encoding)
    x, y = _coordinates(df, lon, lat, path)
    n_rows = len(df)
    keep = np.ones(n_rows, dtype=bool)
    unmatched: dict[str, int] = {}
    if typecode is not None:
        cats, keep, unmatched, source = _typecode_categories(df, typecode, path)
    elif category is not None:
        cats, source = _column_categories(df, category, path)
    else:
        raise KmgisError(
            f"POI table {path}: give a category column (category=...) or an Amap type-code column (typecode=...)"
        )
    if gcj02:
        x, y = gcj02_to_wgs84(x, y)
    names, ids = _names_and_ids(df, path, name, source_id)
    out = gpd.GeoDataFrame(
        {
            "category": cats.to_numpy()[keep],
            "name": names.to_numpy()[keep],
            "source_id": ids.to_numpy()[keep],
        },
        geometry=shapely.points(np.asarray(x)[keep], np.asarray(y)[keep]),
        crs=WGS84,
    )
    out = conform("facilities", out)
    out.attrs["poi_stats"] = {
        "file": str(path),
        "encoding": used_encoding,
        "gcj02_converted": bool(gcj02),
        "category_from": source,
        "rows_read": int(n_rows),
        "rows_kept": int(keep.sum()),
        "rows_dropped_unmatched_typecode": int((~keep).sum()),
        "unmatched_typecodes": unmatched,
        "per_category": {k: int(v) for k, v in out["category"].value_counts().items()},
    }
    return out
