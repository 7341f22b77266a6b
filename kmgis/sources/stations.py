"""Metro stations and the lines' station sequences: CSV tables into the ``stations`` layer and a line table.

Two tables, as a metro-map app or a planning office keeps them:

* a **station table** (:func:`read_station_table`): one row per station with lon/lat (often
  GCJ-02, the Amap/高德 datum, converted here with :func:`kmgis.crs.gcj02_to_wgs84`), a name, a
  Chinese name, the lines serving it (``;``-separated) and an id; read into the ``stations``
  layer of :mod:`kmgis.model` (WGS84 points);
* a **line table** (:func:`read_line_sequences`): one row per line record with its name, its
  colour and the ids of its stations in order (separated by blanks, commas or semicolons).

A line record may hold a branch joined after its last station (the MetroMan table stores lines
1 and 2 of Kunming as one sequence, with the line-1 branch to 昆明南火车站 appended after
大学城南).  ``branches`` rebuilds it: ``{line: {first station of the branch: station it leaves
from}}`` cuts the sequence before that station and starts a new piece at the station the branch
leaves from.  The result's ``sequences`` column holds the pieces; ``station_ids`` the order read.

Catalogue layers (``layers/catalog.yaml``) use the reader ``station_table``: kind ``stations``
maps the columns with ``fields`` (``lon``, ``lat``, ``name``, ``name_zh``, ``lines``,
``source_id``; each ``from:`` a column, or a ``value:`` constant for the text columns) and
``source_crs: GCJ-02`` converts the datum; kind ``metro_lines`` maps ``line``, ``stations`` and
``colour`` and may give ``branches`` (:func:`read_station_layer`).

Reading errors (missing file or column, undecodable text, bad coordinates) reuse the messages
of the POI-table reader (:mod:`kmgis.sources.poi`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from kmgis.config import CatalogEntry, resolve_path
from kmgis.crs import gcj02_to_wgs84
from kmgis.errors import KmgisError
from kmgis.model import WGS84, conform
from kmgis.sources.poi import _coordinates, _read_csv, _require_column

_ID_SPLIT = re.compile(r"[\s,;]+")
_TEXT_COLUMNS = ("name", "name_zh", "lines")


def _optional_text(df: pd.DataFrame, column: str | None) -> np.ndarray:
    """Column ``column`` stripped (None where blank or when the column is absent or not asked for)."""
    if column is None or column not in df.columns:
        return np.full(len(df), None, dtype=object)
    col = df[column].astype(object)
    col = col.map(lambda v: v.strip() if isinstance(v, str) else v)
    return col.where(col.notna() & (col != ""), None).to_numpy(dtype=object)


def read_station_table(
    path: str | Path,
    *,
    lon: str = "lon",
    lat: str = "lat",
    gcj02: bool = False,
    name: str | None = "name",
    name_zh: str | None = "name_zh",
    lines: str | None = "lines",
    source_id: str | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a CSV station table into the ``stations`` layer (WGS84 points, conformed).

    Parameters
    ----------
    path : the CSV file.
    lon, lat : the longitude / latitude columns (decimal degrees).
    gcj02 : the numbers are GCJ-02 (Amap/高德, MetroMan): convert them to WGS84.
    name, name_zh, lines : the columns of the name (pinyin or local), the Chinese name and the
        lines serving the station (``;``-separated, kept as text); absent columns stay empty.
    source_id : a column of station ids; default ``"<file name>:<data row>"``.  Repeated ids
        are an error.
    encoding : the text encoding; None tries UTF-8 (with or without BOM), then GB18030/GBK.

    Returns
    -------
    GeoDataFrame
        The ``stations`` layer; read statistics in ``attrs["station_stats"]``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "st.csv"
    >>> _ = f.write_text("id,name_zh,lines,lon,lat\\n7,白云路,2号线,102.723932,25.065964\\n", encoding="utf-8")
    >>> st = read_station_table(f, gcj02=True, source_id="id")
    >>> st.loc[0, "name_zh"], st.loc[0, "source_id"], round(float(st.geometry.x[0]), 4), round(float(st.geometry.y[0]), 4)
    ('白云路', '7', 102.7225, 25.0689)
    """
    path = Path(path)
    df, used = _read_csv(path, encoding)
    x, y = _coordinates(df, lon, lat, path)
    if gcj02:
        x, y = gcj02_to_wgs84(x, y)
    if source_id is not None:
        ids = _require_column(df, source_id, "station id", path).astype(str).str.strip()
        dup = sorted(set(ids[ids.duplicated()]))
        if dup:
            raise KmgisError(f"station table {path}: station id(s) {dup[:8]} appear more than once in {source_id!r}")
    else:
        ids = pd.Series([f"{path.name}:{i + 1}" for i in range(len(df))], index=df.index)
    out = gpd.GeoDataFrame(
        {"name": _optional_text(df, name), "name_zh": _optional_text(df, name_zh),
         "lines": _optional_text(df, lines), "source_id": ids.to_numpy(dtype=object)},
        geometry=shapely.points(np.asarray(x), np.asarray(y)), crs=WGS84,
    )
    out = conform("stations", out)
    out.attrs["station_stats"] = {"file": str(path), "encoding": used, "gcj02_converted": bool(gcj02),
                                  "rows_read": int(len(df))}
    return out


def _split_ids(text: object) -> tuple[str, ...]:
    """Station ids of a sequence cell (blanks, commas or semicolons between them)."""
    if not isinstance(text, str):
        return ()
    return tuple(t for t in _ID_SPLIT.split(text.strip()) if t)


def rebuild_branches(line: str, ids: Sequence[str], branches: Mapping[str, str]) -> tuple[tuple[str, ...], ...]:
    """The pieces of one line's sequence after cutting it before each branch's first station.

    ``branches`` maps the first station of a branch to the station it leaves from; both must be
    in the sequence, the branch's first station after its start, else :class:`KmgisError`.

    >>> rebuild_branches("1", ["a", "b", "c", "d", "e"], {"d": "b"})
    (('a', 'b', 'c'), ('b', 'd', 'e'))
    """
    pieces: list[list[str]] = [[]]
    for sid in ids:
        if sid in branches and pieces[-1]:
            start = branches[sid]
            if start not in ids[: ids.index(sid)]:
                raise KmgisError(f"line {line!r}: the branch starting at station {sid!r} leaves from {start!r}, "
                                 "which is not an earlier station of the line's sequence")
            pieces.append([start])
        pieces[-1].append(sid)
    unknown = sorted(set(branches) - set(ids))
    if unknown:
        raise KmgisError(f"line {line!r}: branch station(s) {unknown} are not in its sequence")
    return tuple(tuple(p) for p in pieces if p)


def read_line_sequences(
    path: str | Path,
    *,
    line: str = "line",
    stations: str = "station_ids_in_order",
    colour: str | None = "colour",
    branches: Mapping[str, Mapping[str, str]] | None = None,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read a CSV of line records: name, colour and station ids in order.

    Parameters
    ----------
    path : the CSV file.
    line, stations, colour : the columns of the line name, the station ids in order (blanks,
        commas or semicolons between them) and the line colour (optional).
    branches : ``{line: {first station id of a branch: station id it leaves from}}``, for a branch
        stored joined after another station of the same record (see the module text).
    encoding : the text encoding; None tries UTF-8 (with or without BOM), then GB18030/GBK.

    Returns
    -------
    DataFrame
        One row per line record: ``line``, ``colour``, ``station_ids`` (tuple of str, as read) and
        ``sequences`` (tuple of pieces, each a tuple of str; one piece without branches).
        ``attrs["branches"]`` records the rebuilds applied.  A repeated line name, an empty
        sequence or a ``branches`` entry naming an unknown line is a :class:`KmgisError`.
    """
    path = Path(path)
    df, _ = _read_csv(path, encoding)
    names = _require_column(df, line, "line name", path).fillna("").astype(str).str.strip()
    seqs = _require_column(df, stations, "station sequence", path).map(_split_ids)
    dup = sorted(set(names[names.duplicated()]))
    if dup or (names == "").any():
        raise KmgisError(f"line table {path}: line names must be present and unique (repeated: {dup})")
    empty = names[seqs.map(len) < 2].tolist()
    if empty:
        raise KmgisError(f"line table {path}: line(s) {empty} list fewer than two stations in {stations!r}")
    branches = {str(k): {str(a): str(b) for a, b in v.items()} for k, v in (branches or {}).items()}
    unknown = sorted(set(branches) - set(names))
    if unknown:
        raise KmgisError(f"line table {path}: branches given for unknown line(s) {unknown}; lines: {', '.join(names)}")
    pieces = [rebuild_branches(n, list(s), branches.get(n, {})) for n, s in zip(names, seqs, strict=True)]
    out = pd.DataFrame({"line": names.to_numpy(dtype=object), "colour": _optional_text(df, colour),
                        "station_ids": seqs.to_numpy(dtype=object), "sequences": pieces})
    out.attrs["branches"] = branches
    out.attrs["file"] = str(path)
    return out


def _column(entry: CatalogEntry, key: str, default: str | None) -> str | None:
    """The source column a catalogue field maps to ``key`` (``from:``), else ``default``."""
    rule = entry.fields.get(key)
    if rule is None:
        return default
    if rule.from_ is None or rule.values is not None:
        raise KmgisError(f"{entry.name}: field {key!r} must name a source column (from: COLUMN) for reader "
                         "station_table")
    return rule.from_


def read_station_layer(entry: CatalogEntry, data: Path | None, *,
                       clip: shapely.Geometry | None = None) -> gpd.GeoDataFrame | pd.DataFrame:
    """Read a catalogue layer of reader ``station_table``: kind ``stations`` or ``metro_lines``.

    Stations are converted from GCJ-02 when ``source_crs: GCJ-02``; ``clip`` (WGS84) keeps the
    stations inside it (line tables are read whole: a line's length needs all its stations).
    Constant text fields (``value:``) fill ``name``, ``name_zh`` or ``lines``.
    """
    path = resolve_path(entry.path, data)
    if entry.kind == "metro_lines":
        return read_line_sequences(path, line=_column(entry, "line", "line"),
                                   stations=_column(entry, "stations", "station_ids_in_order"),
                                   colour=_column(entry, "colour", "colour"), branches=entry.branches,
                                   encoding=entry.encoding)
    if entry.kind != "stations":
        raise KmgisError(f"{entry.name}: reader station_table reads kind stations or metro_lines, not {entry.kind!r}")
    constants = {k: r.value for k, r in entry.fields.items() if k in _TEXT_COLUMNS and r.value is not None}
    cols = {k: (None if k in constants else _column(entry, k, k)) for k in _TEXT_COLUMNS}
    out = read_station_table(path, lon=_column(entry, "lon", "lon"), lat=_column(entry, "lat", "lat"),
                             gcj02=entry.source_crs == "GCJ-02", source_id=_column(entry, "source_id", None),
                             encoding=entry.encoding, **cols)
    for key, value in constants.items():
        out[key] = str(value)
    if clip is not None:
        out = out[shapely.intersects_xy(clip, out.geometry.x.to_numpy(), out.geometry.y.to_numpy())]
        out = out.reset_index(drop=True)
    return out
