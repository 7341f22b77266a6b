"""Readers for the Dianchi (滇池) zones and the site check: protection polygons, river lines, a DEM.

Everything here reads files and hands back plain data (WGS84 GeoDataFrames, or a DEM as arrays);
the zones themselves are computed by :mod:`kmgis.indicators.dianchi`.

* :func:`read_polygon_entry`: a catalogue layer of polygons (any kind, incl. ``protection``);
* :func:`read_polygon_file`: a polygon layer given on the command line (``--basin``);
* :func:`read_rivers`: named inflow-river lines from an OSM file or a line layer (``--rivers``);
* :func:`read_dem`: a DEM raster as an elevation array, its validity mask, transform and CRS (``--dem``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from kmgis.config import CatalogEntry, resolve_path
from kmgis.crs import check_plausible, gdf_gcj02_to_wgs84
from kmgis.errors import KmgisError
from kmgis.model import WGS84
from kmgis.sources import load_layer
from kmgis.sources.user import apply_field_mapping, read_vector

DEM_MAX_CELLS = 1_000_000
"""A DEM with more cells is read at a coarser resolution (average) for the watershed."""

_NAME_COLUMNS = ("name", "name:zh", "NAME", "Name", "名称")


# --------------------------------------------------------------------------- polygons


def read_polygon_entry(entry: CatalogEntry, data: Path | None) -> gpd.GeoDataFrame:
    """A catalogue layer of polygons (any kind, incl. ``protection``) in WGS84 with mapped fields.

    ``file`` layers are read directly (the model has no ``protection`` layer): CRS from the file
    or the entry, GCJ-02 converted, plausibility checked, invalid polygons repaired; the entry's
    ``fields`` give extra columns (e.g. ``category``, ``name``, ``controls``).  Features with no
    polygonal part are dropped.
    """
    if entry.reader != "file":
        gdf = load_layer(entry, data)
        if not isinstance(gdf, gpd.GeoDataFrame):
            raise KmgisError(f"{entry.name}: reader {entry.reader!r} does not give polygons")
        return gdf
    path = resolve_path(entry.path, data)
    gdf = read_vector(path, layer=entry.layer, encoding=entry.encoding, assume_crs=entry.crs, name=entry.name)
    if entry.source_crs == "GCJ-02":
        gdf = gdf_gcj02_to_wgs84(gdf)
    check_plausible(gdf, entry.name)
    gdf = gdf.to_crs(WGS84)
    attrs = apply_field_mapping(gdf, entry.fields, entry.name)
    out = gpd.GeoDataFrame(attrs, geometry=dissolved_polygons(gdf.geometry.values), crs=WGS84, index=gdf.index)
    return out[~out.geometry.is_empty & out.geometry.notna()].reset_index(drop=True)


def dissolved_polygons(geoms: Any) -> np.ndarray:
    """Valid polygonal parts of each geometry, dissolved into one (invalid ones repaired; others → empty).

    Unlike :func:`kmgis.geom.polygonal` (which keeps a valid Polygon or MultiPolygon as it is and
    gives None where nothing is polygonal), every geometry here is rebuilt as the union of its
    polygon parts (normalised rings, overlapping parts merged) and a geometry with no polygonal
    part becomes an empty Polygon: the zone geometries and GeoPackages depend on these exact
    coordinates, so the two are not interchangeable.
    """
    arr = np.asarray(geoms, dtype=object)
    out = []
    for g in arr:
        if g is None or g.is_empty:
            out.append(shapely.Polygon())
            continue
        if not g.is_valid:
            g = shapely.make_valid(g)
        parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
        out.append(shapely.union_all(parts) if parts else shapely.Polygon())
    return np.asarray(out, dtype=object)


def read_polygon_file(path: Path, what: str) -> gpd.GeoDataFrame:
    """The polygons of a vector file given by the user (e.g. ``--basin``), WGS84, one row per feature.

    ``what`` names the input in error messages; a file without any polygon is an error.
    """
    gdf = read_vector(Path(path), name=what)
    check_plausible(gdf, what)
    gdf = gdf.to_crs(WGS84)
    geoms = dissolved_polygons(gdf.geometry.values)
    keep = np.array([not g.is_empty for g in geoms], dtype=bool)
    if not keep.any():
        raise KmgisError(f"{what}: {path} holds no polygons")
    return gpd.GeoDataFrame(geometry=list(geoms[keep]), crs=WGS84)


# --------------------------------------------------------------------------- rivers


def read_rivers(path: Path, names: list[str], waterway: list[str]) -> tuple[gpd.GeoDataFrame, str]:
    """Named inflow-river lines (WGS84) from an OSM file (.osm.pbf/.osm) or a vector line layer.

    A line is kept when its name contains one of ``names``; ``waterway`` lists the OSM
    ``waterway=*`` values read from an OSM file.  Returns the lines (column ``name``) and a
    description of where they came from.
    """
    path = Path(path)
    if not path.exists():
        raise KmgisError(f"--rivers: file not found: {path}")
    if path.is_dir():
        raise KmgisError(f"--rivers: {path} is a folder, expected a file")
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith((".osm.pbf", ".pbf", ".osm", ".osm.bz2")):
        gdf = _osm_waterways(path, waterway)
        what = f"OSM waterway={'|'.join(waterway)} in {path.name}"
    else:
        gdf = _named_lines(path)
        what = f"lines of {path.name}"
    if len(gdf) == 0:
        return gdf, what
    keep = gdf["name"].fillna("").astype(str).map(lambda n: any(k in n for k in names))
    return gdf[keep].reset_index(drop=True), what


def _named_lines(path: Path) -> gpd.GeoDataFrame:
    """The lines of a vector layer with their name (the first name-like column), WGS84."""
    gdf = read_vector(path, name="--rivers")
    check_plausible(gdf, "--rivers")
    gdf = gdf.to_crs(WGS84)
    col = next((c for c in _NAME_COLUMNS if c in gdf.columns), None)
    if col is None:
        raise KmgisError(f"--rivers: {path} has no name column (name, name:zh, NAME or 名称) to pick the main rivers")
    gdf = gpd.GeoDataFrame({"name": gdf[col].astype("object")}, geometry=gdf.geometry.values, crs=WGS84)
    return gdf[gdf.geom_type.isin(["LineString", "MultiLineString"])]


def _osm_waterways(path: Path, waterway: list[str]) -> gpd.GeoDataFrame:
    """Ways tagged ``waterway=<one of waterway>`` of an OSM file as WGS84 lines with their (Chinese) name."""
    import osmium

    names, geoms = [], []
    filt = osmium.filter.TagFilter(*(("waterway", w) for w in waterway)).enable_for(osmium.osm.WAY)
    try:
        fp = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations().with_filter(filt)
        for way in fp:
            if not way.is_way():
                continue
            coords = [(n.lon, n.lat) for n in way.nodes if n.location.valid()]
            if len(coords) < 2:
                continue
            names.append(way.tags.get("name:zh") or way.tags.get("name") or "")
            geoms.append(shapely.LineString(coords))
    except RuntimeError as exc:
        raise KmgisError(f"--rivers: cannot read OSM file {path}: {str(exc).splitlines()[0]}") from None
    return gpd.GeoDataFrame({"name": names}, geometry=geoms, crs=WGS84)


# --------------------------------------------------------------------------- DEM


@dataclass
class DemGrid:
    """A DEM as arrays: elevation (metres, NaN where missing), the valid cells, the affine transform, the CRS."""

    elevation_m: np.ndarray
    valid: np.ndarray
    transform: Any
    crs: Any
    source: str


def read_dem(dem_path: Path, max_cells: int = DEM_MAX_CELLS) -> DemGrid:
    """Band 1 of a DEM raster (rasterio) as a :class:`DemGrid`.

    A DEM with more than ``max_cells`` cells is read at a coarser resolution (average of the
    cells merged), so the watershed stays quick; the transform follows the resampling.
    Missing file, unreadable raster or no CRS → one-line :class:`KmgisError` naming ``--dem``.
    """
    import rasterio
    from rasterio.enums import Resampling

    dem_path = Path(dem_path)
    if not dem_path.is_file():
        raise KmgisError(f"--dem: file not found: {dem_path}")
    try:
        src = rasterio.open(dem_path)
    except rasterio.errors.RasterioIOError as exc:
        raise KmgisError(f"--dem: cannot read {dem_path}: {str(exc).splitlines()[0]}") from None
    with src:
        if src.crs is None:
            raise KmgisError(f"--dem: {dem_path} declares no CRS")
        scale = max(1.0, math.sqrt(src.width * src.height / max_cells))
        h, w = max(1, int(src.height / scale)), max(1, int(src.width / scale))
        band = src.read(1, out_shape=(h, w), resampling=Resampling.average, masked=True)
        transform = src.transform @ src.transform.scale(src.width / w, src.height / h)
        crs = src.crs
    elev = np.asarray(band.filled(np.nan), dtype="float64")
    valid = np.isfinite(elev) & ~np.ma.getmaskarray(band)
    return DemGrid(elev, valid, transform, crs, f"--dem: {dem_path}")
