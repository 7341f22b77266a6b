"""Coordinate reference systems for Kunming: metric CRS choice, GCJ-02, plausibility checks.

Units, unless a docstring says otherwise:

* lon/lat are decimal **degrees** (WGS84, EPSG:4326, x = lon, y = lat);
* projected coordinates and distances are **metres**;
* bounds are ``(minx, miny, maxx, maxy)``.

GCJ-02 ("Mars coordinates", 火星坐标) is the obfuscated lon/lat system that Chinese map
providers (Amap/高德, Tencent, Google China tiles) publish.  At Kunming a GCJ-02 point lies
about +0.0014° lon / -0.0030° lat from the true WGS84 point (at 102.71°E 25.04°N: about
145 m east and 330 m south, 360 m in all).  Files holding GCJ-02 numbers are usually labelled EPSG:4326 anyway, so this
module treats "GCJ-02" as *numbers* inside a GeoDataFrame labelled EPSG:4326.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike
from pyproj.exceptions import CRSError, ProjError

from kmgis.errors import KmgisError
from kmgis.geom import crs_label
from kmgis.model import WGS84

DEFAULT_METRIC_CRS = "EPSG:32648"
"""WGS84 / UTM zone 48N: the default metric CRS for Kunming (102–108°E)."""

CGCS2000_GK_CM102 = "EPSG:4543"
"""CGCS2000 / 3-degree Gauss-Kruger CM 102E (zone 100.5–103.5°E, no zone prefix in x)."""

YUNNAN_BOUNDS: tuple[float, float, float, float] = (97.5, 21.1, 106.2, 29.3)
"""Rough lon/lat box of Yunnan province (degrees): the default expected region."""

GK_ZONE_MARGIN_DEG = 0.5
"""How far (degrees of longitude) data may reach outside a 3-degree Gauss-Kruger zone."""

# CGCS2000 3-degree Gauss-Kruger EPSG families: first code -> central meridian 75°E, +3° per code.
_GK3_FAMILIES = (4534, 4513)  # "CM nnnE" (no zone prefix) and "zone nn" (zone prefix in x)
_GK3_COUNT = 21  # CM 75°E .. 135°E

# GCJ-02 constants (the standard public formula): Krasovsky 1940 ellipsoid.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
_CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)  # lon/lat degrees; outside: no offset

Bounds = tuple[float, float, float, float]


# --------------------------------------------------------------------------- metric CRS


def _is_gdf_like(obj: object) -> bool:
    """True for a GeoDataFrame or GeoSeries."""
    return isinstance(obj, (gpd.GeoDataFrame, gpd.GeoSeries))


def _wgs84_bounds(gdf: gpd.GeoDataFrame | gpd.GeoSeries, name: str = "layer") -> Bounds:
    """Bounds of ``gdf`` in WGS84 degrees (lon/lat), whatever its CRS."""
    if gdf.crs is None:
        raise KmgisError(f"layer {name!r} has no CRS; set one with --crs")
    b = np.asarray(gdf.total_bounds, dtype=float)
    if not np.all(np.isfinite(b)):
        raise KmgisError(f"layer {name!r} is empty or has no valid coordinates")
    crs = pyproj.CRS.from_user_input(gdf.crs)
    if crs.equals(WGS84, ignore_axis_order=True):
        return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
    try:
        tr = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
        out = tr.transform_bounds(*b, densify_pts=21)
    except (ProjError, CRSError) as exc:
        raise KmgisError(
            f"layer {name!r}: bounds {tuple(np.round(b, 4))} cannot be transformed from "
            f"{crs_label(crs)} to WGS84 ({exc}); check its CRS"
        ) from exc
    if not all(math.isfinite(v) for v in out):
        raise KmgisError(
            f"layer {name!r}: bounds {tuple(np.round(b, 4))} are outside the valid area of "
            f"{crs_label(crs)}; check its CRS"
        )
    return (float(out[0]), float(out[1]), float(out[2]), float(out[3]))


def _as_bounds(bounds_or_gdf: Sequence[float] | gpd.GeoDataFrame | gpd.GeoSeries) -> Bounds:
    """WGS84 bounds (degrees) of a layer, or checked ``(minx, miny, maxx, maxy)`` degrees."""
    if _is_gdf_like(bounds_or_gdf):
        return _wgs84_bounds(bounds_or_gdf)  # type: ignore[arg-type]
    try:
        vals = [float(v) for v in bounds_or_gdf]  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise KmgisError(
            f"bounds must be (minx, miny, maxx, maxy) in WGS84 degrees or a GeoDataFrame, got {bounds_or_gdf!r}"
        ) from exc
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
        raise KmgisError(f"bounds must be 4 finite numbers (minx, miny, maxx, maxy), got {bounds_or_gdf!r}")
    minx, miny, maxx, maxy = vals
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise KmgisError(
            f"bounds {tuple(vals)} are not WGS84 lon/lat degrees (minx <= maxx in ±180, miny <= maxy in ±90)"
        )
    return (minx, miny, maxx, maxy)


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone containing ``lon``/``lat`` (degrees).

    326zz in the northern hemisphere (lat >= 0), 327zz in the southern; zones are the
    regular 6° ones (the Norway/Svalbard exceptions are ignored).
    """
    zone = int(math.floor((lon + 180.0) / 6.0)) + 1
    zone = min(max(zone, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


def _gk3_zone(epsg: int | None) -> tuple[int, float] | None:
    """(family start code, central meridian in degrees) for a CGCS2000 3° GK code, else None."""
    if epsg is None:
        return None
    for start in _GK3_FAMILIES:
        if start <= epsg < start + _GK3_COUNT:
            return start, 75.0 + 3.0 * (epsg - start)
    return None


def metric_crs(
    bounds_or_gdf: Sequence[float] | gpd.GeoDataFrame | gpd.GeoSeries,
    prefer: str | int | pyproj.CRS | None = None,
) -> pyproj.CRS:
    """The projected metric CRS (units: metres) to use for data with these bounds.

    ``bounds_or_gdf`` is either WGS84 bounds ``(minx, miny, maxx, maxy)`` in degrees, or a
    GeoDataFrame/GeoSeries in any CRS (its bounds are transformed to WGS84).

    ``prefer`` ``None`` or ``"auto"``: the WGS84 UTM zone of the bounds' centre
    (EPSG:326zz north / 327zz south); for Kunming (102.2–103.7°E) that is EPSG:32648.
    Otherwise ``prefer`` is any CRS pyproj understands (``"EPSG:4543"``, ``4543``, a
    :class:`pyproj.CRS`) and is returned as given, but a :class:`KmgisError` is raised if
    it is not projected (e.g. geographic), or if it is a CGCS2000 3-degree Gauss-Kruger
    zone (such as EPSG:4543, 100.5–103.5°E) and the data reaches more than 0.5° of
    longitude outside that zone.
    """
    minx, miny, maxx, maxy = _as_bounds(bounds_or_gdf)
    cx, cy = (minx + maxx) / 2.0, (miny + maxy) / 2.0
    auto = pyproj.CRS.from_epsg(utm_epsg(cx, cy))
    if prefer is None or (isinstance(prefer, str) and prefer.strip().lower() == "auto"):
        return auto
    try:
        crs = pyproj.CRS.from_user_input(prefer)
    except CRSError as exc:
        raise KmgisError(f"unknown CRS {prefer!r} for the metric CRS: {exc}") from exc
    label = crs_label(crs)
    if crs.is_geographic or not crs.is_projected:
        raise KmgisError(
            f"metric CRS {label} ({crs.name}) is not projected (units are not metres); "
            f"use a projected CRS such as {crs_label(auto)} or {CGCS2000_GK_CM102}"
        )
    gk = _gk3_zone(crs.to_epsg())
    if gk is not None:
        start, cm = gk
        west, east = cm - 1.5, cm + 1.5
        if minx < west - GK_ZONE_MARGIN_DEG or maxx > east + GK_ZONE_MARGIN_DEG:
            code = crs.to_epsg() or start
            step = 1 if maxx > east + GK_ZONE_MARGIN_DEG else -1
            alt = code + step
            alt_txt = (
                f"EPSG:{alt} for the CM {cm + 3 * step:g}°E zone"
                if start <= alt < start + _GK3_COUNT
                else "another Gauss-Kruger zone"
            )
            raise KmgisError(
                f"metric CRS {label} ({crs.name}) covers {west:g}–{east:g}°E, but the data spans "
                f"{minx:.2f}–{maxx:.2f}°E (more than {GK_ZONE_MARGIN_DEG:g}° outside the zone); "
                f"use {alt_txt}, or UTM ({crs_label(auto)})"
            )
    return crs


def to_metric(gdf: gpd.GeoDataFrame, crs: str | int | pyproj.CRS, name: str = "layer") -> gpd.GeoDataFrame:
    """``gdf.to_crs(crs)``, with a clear :class:`KmgisError` if ``gdf`` has no CRS.

    ``crs`` is normally the result of :func:`metric_crs` (units: metres).
    """
    if gdf.crs is None:
        raise KmgisError(f"layer {name!r} has no CRS; set one with --crs")
    return gdf.to_crs(crs)


# --------------------------------------------------------------------------- GCJ-02


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS84 (degrees) at WGS84 ``lon``/``lat`` (degrees); 0 outside China."""
    x = lon - 105.0
    y = lat - 35.0
    pi = math.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0

    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _GCJ_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrt_magic * np.cos(rad_lat) * pi)

    minlon, minlat, maxlon, maxlat = _CHINA_BOX
    inside = (lon >= minlon) & (lon <= maxlon) & (lat >= minlat) & (lat <= maxlat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _float_pair(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``lon`` / ``lat`` (degrees) as float arrays broadcast together."""
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return lon_a, lat_a


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → GCJ-02 with the standard public formula (vectorised; degrees in, degrees out).

    ``lon``/``lat`` are scalars or array-likes (broadcast together); the result is two float
    arrays of the broadcast shape (0-d for scalars).  Points outside the rough China box
    (lon 72.004–137.8347, lat 0.8293–55.8271) are returned unchanged; NaN stays NaN.
    """
    lon_a, lat_a = _float_pair(lon, lat)
    dlon, dlat = _gcj_offset(lon_a, lat_a)
    return np.asarray(lon_a + dlon), np.asarray(lat_a + dlat)


def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike, tol_deg: float = 1e-9, max_iter: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS84 by fixed-point iteration of :func:`wgs84_to_gcj02` (degrees; vectorised).

    Iterates ``w ← w − (gcj(w) − g)`` until the residual ``|gcj(w) − g|`` is below
    ``tol_deg`` degrees in lon and lat for every point (1e-9° is about 0.1 mm), at most
    ``max_iter`` times; typically 3–4 iterations.  Points outside the China box come back
    unchanged; NaN stays NaN.  If some points have not converged after ``max_iter`` a
    :class:`RuntimeWarning` is issued and the last estimate is returned.
    """
    g_lon, g_lat = _float_pair(lon, lat)
    shape = g_lon.shape
    g_lon, g_lat = g_lon.ravel(), g_lat.ravel()
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    active = np.flatnonzero(np.isfinite(g_lon) & np.isfinite(g_lat))
    for _ in range(max_iter):
        if active.size == 0:
            break
        f_lon, f_lat = wgs84_to_gcj02(w_lon[active], w_lat[active])
        r_lon = f_lon - g_lon[active]
        r_lat = f_lat - g_lat[active]
        w_lon[active] -= r_lon
        w_lat[active] -= r_lat
        active = active[(np.abs(r_lon) >= tol_deg) | (np.abs(r_lat) >= tol_deg)]
    if active.size:
        warnings.warn(
            f"gcj02_to_wgs84: {active.size} point(s) did not converge to {tol_deg:g}° in {max_iter} iterations",
            RuntimeWarning,
            stacklevel=2,
        )
    return w_lon.reshape(shape), w_lat.reshape(shape)


XYFunc = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _map_xy(coords: np.ndarray, func: XYFunc) -> np.ndarray:
    """Apply ``func(lon, lat) -> (lon, lat)`` to columns 0/1 of an (N, 2|3) array, keeping z."""
    out = coords.copy()
    out[:, 0], out[:, 1] = func(coords[:, 0], coords[:, 1])
    return out


def _require_wgs84_label(gdf: gpd.GeoDataFrame, what: str) -> None:
    """Raise :class:`KmgisError` unless ``gdf`` is labelled EPSG:4326 (lon/lat degrees)."""
    if gdf.crs is None:
        raise KmgisError(f"{what}: the layer has no CRS; it must be labelled EPSG:4326 (lon/lat)")
    if not pyproj.CRS.from_user_input(gdf.crs).equals(WGS84, ignore_axis_order=True):
        raise KmgisError(
            f"{what}: the layer is in {crs_label(pyproj.CRS.from_user_input(gdf.crs))}, but GCJ-02 "
            "conversion needs lon/lat labelled EPSG:4326; reproject it first"
        )


def _convert_gdf(gdf: gpd.GeoDataFrame, func: XYFunc, what: str) -> gpd.GeoDataFrame:
    """Copy of ``gdf`` (labelled EPSG:4326) with ``func`` applied to every lon/lat (degrees)."""
    _require_wgs84_label(gdf, what)
    geoms = gdf.geometry.values
    new = shapely.transform(np.asarray(geoms), lambda c: _map_xy(c, func), include_z=None)
    out = gdf.copy()
    out[gdf.geometry.name] = gpd.GeoSeries(new, index=gdf.index, crs=WGS84)
    return out.set_crs(WGS84, allow_override=True)


def gdf_gcj02_to_wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Copy of ``gdf`` with every coordinate converted GCJ-02 → WGS84 (degrees).

    ``gdf`` must be labelled EPSG:4326 (GCJ-02 numbers are conventionally labelled so),
    else :class:`KmgisError`.  All geometry types are converted in one vectorised
    ``shapely.transform`` call over the active geometry column; z values are kept.  The
    result is labelled EPSG:4326.
    """
    return _convert_gdf(gdf, gcj02_to_wgs84, "GCJ-02 → WGS84")


def gdf_wgs84_to_gcj02(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Copy of ``gdf`` with every coordinate converted WGS84 → GCJ-02 (degrees).

    Same rules as :func:`gdf_gcj02_to_wgs84`; the result is labelled EPSG:4326 although its
    numbers are GCJ-02.
    """
    return _convert_gdf(gdf, wgs84_to_gcj02, "WGS84 → GCJ-02")


# --------------------------------------------------------------------------- plausibility


def _intersects(a: Bounds, b: Bounds) -> bool:
    """True if the boxes ``a`` and ``b`` (same units) overlap or touch."""
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _fmt_bounds(b: Sequence[float]) -> str:
    """Bounds (degrees) as ``lon a–b, lat c–d`` for messages."""
    return f"lon {b[0]:.4g}–{b[2]:.4g}, lat {b[1]:.4g}–{b[3]:.4g}"


def _looks_swapped(b: Sequence[float], region: Bounds) -> bool:
    """True if bounds ``b`` (x=lon, y=lat as read) miss ``region`` but hit it with x/y swapped."""
    swapped = (b[1], b[0], b[3], b[2])
    return not _intersects(tuple(b), region) and _intersects(swapped, region)  # type: ignore[arg-type]


def _swap_xy(coords: np.ndarray) -> np.ndarray:
    """Coordinates with columns 0 and 1 (x and y) exchanged."""
    out = coords.copy()
    out[:, 0], out[:, 1] = coords[:, 1], coords[:, 0]
    return out


def swap_lonlat_if_needed(gdf: gpd.GeoDataFrame, region_bounds: Bounds = YUNNAN_BOUNDS) -> gpd.GeoDataFrame:
    """``gdf`` with x and y swapped if it is geographic and only the swapped data hits ``region_bounds``.

    ``region_bounds`` is a lon/lat box in degrees.  Returns ``gdf`` itself (not a copy) when
    no swap is needed, so ``result is gdf`` tells whether anything changed.
    """
    if gdf.crs is None or not pyproj.CRS.from_user_input(gdf.crs).is_geographic or gdf.empty:
        return gdf
    b = np.asarray(gdf.total_bounds, dtype=float)
    if not np.all(np.isfinite(b)) or not _looks_swapped(b, region_bounds):
        return gdf
    out = gdf.copy()
    new = shapely.transform(np.asarray(gdf.geometry.values), _swap_xy, include_z=None)
    out[gdf.geometry.name] = gpd.GeoSeries(new, index=gdf.index, crs=gdf.crs)
    return out


def _segments_and_points(geoms: np.ndarray) -> np.ndarray:
    """Reference geometries as short pieces for a nearest-distance index.

    Polygons contribute their boundary rings, lines themselves, both split into 2-point
    segments (so the spatial index is effective); points are kept as points.
    """
    parts = shapely.get_parts(geoms[~shapely.is_missing(geoms)])
    parts = parts[~shapely.is_empty(parts)]
    types = shapely.get_type_id(parts)
    is_poly = types == 3
    lines = np.concatenate(
        [shapely.get_parts(shapely.boundary(parts[is_poly])), parts[(types == 1) | (types == 2)]]
    )
    pts = parts[types == 0]
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    same = idx[1:] == idx[:-1]
    segs = shapely.linestrings(np.stack([coords[:-1][same], coords[1:][same]], axis=1))
    return np.concatenate([segs, pts])


def _median_distance_m(
    lon: np.ndarray, lat: np.ndarray, transformer: pyproj.Transformer, tree: shapely.STRtree
) -> float:
    """Median distance (metres) from lon/lat points to the nearest geometry in ``tree`` (metric CRS)."""
    x, y = transformer.transform(lon, lat)
    _, dist = tree.query_nearest(shapely.points(x, y), return_distance=True, all_matches=False)
    return float(np.median(dist))


def _check_gcj02(gdf: gpd.GeoDataFrame, name: str, reference: gpd.GeoDataFrame, max_vertices: int) -> None:
    """Raise :class:`KmgisError` if ``gdf`` looks like GCJ-02 read as WGS84 (check 5 of
    :func:`check_plausible`)."""
    if reference.crs is None:
        raise KmgisError(f"reference layer for {name!r} has no CRS; set one with --crs")
    ref = reference.to_crs(WGS84)
    layer = (
        gdf
        if pyproj.CRS.from_user_input(gdf.crs).equals(WGS84, ignore_axis_order=True)
        else gdf.to_crs(WGS84)
    )
    coords = shapely.get_coordinates(np.asarray(layer.geometry.values))
    if len(coords) == 0 or ref.empty:
        return
    if len(coords) > max_vertices:
        rng = np.random.default_rng(0)
        coords = coords[rng.choice(len(coords), size=max_vertices, replace=False)]
    metric = metric_crs(_wgs84_bounds(ref, "reference"))
    to_m = pyproj.Transformer.from_crs(WGS84, metric, always_xy=True)
    ref_m = ref.to_crs(metric)
    pieces = _segments_and_points(np.asarray(ref_m.geometry.values))
    if len(pieces) == 0:
        return
    tree = shapely.STRtree(pieces)
    d_read = _median_distance_m(coords[:, 0], coords[:, 1], to_m, tree)
    w_lon, w_lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
    d_conv = _median_distance_m(w_lon, w_lat, to_m, tree)
    if d_read - d_conv > 100.0 and d_conv * 2.0 <= d_read:
        raise KmgisError(
            f"layer {name!r} looks like GCJ-02 (Amap/Tencent 'Mars' coordinates) read as WGS84: the median "
            f"distance of {len(coords)} of its vertices to the reference boundaries is {d_read:.0f} m as read "
            f"but {d_conv:.1f} m after GCJ-02 → WGS84; convert it with kmgis.crs.gdf_gcj02_to_wgs84"
        )


def check_plausible(
    gdf: gpd.GeoDataFrame,
    name: str,
    region_bounds: Bounds = YUNNAN_BOUNDS,
    reference: gpd.GeoDataFrame | None = None,
    max_vertices: int = 2000,
) -> None:
    """Raise :class:`KmgisError` (one line naming ``name``) if layer ``gdf`` is implausibly placed.

    ``region_bounds`` is the expected lon/lat box in WGS84 degrees (default: Yunnan).
    Checks, in order:

    1. ``gdf.crs`` is None;
    2. geographic CRS, data misses the region but would hit it with x and y swapped
       (swapped lon/lat);
    3. geographic CRS but coordinates beyond ±180/±90 (projected metres labelled as
       degrees);
    4. the data's bounds, transformed to WGS84, do not intersect ``region_bounds`` (wrong
       CRS or data from elsewhere); the message gives both boxes;
    5. if ``reference`` (a layer known to be true WGS84, e.g. county boundaries) is given:
       GCJ-02 read as WGS84.  Up to ``max_vertices`` of the layer's vertices (fixed random
       sample) are compared to the reference's boundary lines in a metric CRS: the median
       distance in metres as read vs. after :func:`gcj02_to_wgs84`.  It flags when the
       converted version is closer by more than 100 m *and* by at least a factor 2.
       **Only meaningful when the layer itself is boundary-like**, i.e. its vertices should
       lie on the reference's boundaries (the same or nested administrative units); for
       roads, POIs etc. the distances are unrelated to the datum, so the check neither
       flags nor clears such layers reliably.

    An empty layer passes checks 2–5.  Returns None when the layer looks plausible.
    """
    if gdf.crs is None:
        raise KmgisError(f"layer {name!r} has no CRS; set one with --crs")
    b = np.asarray(gdf.total_bounds, dtype=float)
    if gdf.empty or not np.all(np.isfinite(b)):
        return
    crs = pyproj.CRS.from_user_input(gdf.crs)
    label = crs_label(crs)
    region = tuple(float(v) for v in region_bounds)
    if crs.is_geographic:
        if _looks_swapped(b, region):  # type: ignore[arg-type]
            raise KmgisError(
                f"layer {name!r} ({label}) has x {b[0]:.4g}–{b[2]:.4g}, y {b[1]:.4g}–{b[3]:.4g}: lon and lat "
                f"look swapped (expected {_fmt_bounds(region)}); swap the coordinates to x=lon, y=lat"
            )
        if np.any(np.abs(b[[0, 2]]) > 180.0) or np.any(np.abs(b[[1, 3]]) > 90.0):
            raise KmgisError(
                f"layer {name!r} is labelled {label} (degrees) but its coordinates reach "
                f"x {b[0]:.6g}–{b[2]:.6g}, y {b[1]:.6g}–{b[3]:.6g}, beyond ±180/±90: they look like projected "
                f"metres; set the real CRS with --crs (e.g. {DEFAULT_METRIC_CRS})"
            )
    wb = _wgs84_bounds(gdf, name)
    if not _intersects(wb, region):  # type: ignore[arg-type]
        hint = ""
        if crs.is_projected and np.all(np.abs(b[[0, 2]]) <= 180.0) and np.all(np.abs(b[[1, 3]]) <= 90.0):
            hint = f"; its numbers (x {b[0]:.4g}–{b[2]:.4g}, y {b[1]:.4g}–{b[3]:.4g}) look like degrees: try --crs {WGS84}"
        raise KmgisError(
            f"layer {name!r} ({label}) lies at {_fmt_bounds(wb)} (WGS84), which does not intersect the "
            f"expected region {_fmt_bounds(region)}: wrong CRS or data from elsewhere{hint}"
        )
    if reference is not None:
        _check_gcj02(gdf, name, reference, max_vertices)
