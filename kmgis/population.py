"""Residents as weighted points: raster cells, or county totals spread over residential proxies.

Every function here is pure (no globals written, inputs not modified) and returns points in
WGS84 (EPSG:4326) with a float column ``population`` (**persons** per point).

Two ways to get the points (DESIGN §3, "where data is thin, derive and say how"):

* :func:`population_from_raster`: a population raster (WorldPop, GHS-POP, a planning
  office grid) in any CRS; each cell whose centre lies inside the boundary becomes a point at
  the cell centre carrying the cell value (persons per cell).
* :func:`population_dasymetric`: a known total (e.g. the 2023 resident figure of a
  county-level unit, :func:`unit_population`) spread over residential proxies, in this
  order of preference: residential buildings (floor area), residential land use (area),
  internal and branch road length (the offline Kunming case).  The total is preserved
  **exactly** (see :func:`_apportion`).

:func:`population_points` chooses between them and returns a provenance dict that goes into
the output (``run.json``), :func:`residents_in` counts persons inside a polygon.

Units: lengths and cell sizes in **metres** (of the metric CRS ``crs``), areas in **m²**,
population in **persons**, lon/lat in degrees.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from kmgis.config import catalog_entry, resolve_path, unit_id, units_table
from kmgis.errors import KmgisError
from kmgis.geom import projected_crs, sha256_file
from kmgis.model import WGS84

POPULATION_LAYER = "kunming_population"
"""Catalogue entry (``layers/catalog.yaml``) of the resident table per county-level unit."""

POPULATION_YEAR = 2023
POPULATION_COLUMN = "resident_population_2023"
POPULATION_SOURCE = "Kunming Municipal Bureau of Statistics, 2023"
"""Citation of the year-end 2023 resident population (常住人口) table."""

RESIDENTIAL_BUILDINGS: frozenset[str] = frozenset(
    {
        "residential", "apartments", "house", "detached", "semidetached_house", "terrace",
        "bungalow", "dormitory", "farm",
        "yes",  # untagged building (OSM's generic value); in Kunming most buildings are tagged so
    }
)
"""``building`` values counted as dwellings (plus missing values, i.e. untagged buildings).

``farm`` is OSM's farmhouse (a dwelling; farm outbuildings are ``farm_auxiliary``)."""

NON_RESIDENTIAL_BUILDINGS: frozenset[str] = frozenset(
    {
        # work and trade
        "commercial", "retail", "office", "industrial", "warehouse", "supermarket", "kiosk", "hotel",
        "manufacture",
        # public services
        "school", "university", "college", "kindergarten", "hospital", "civic", "government", "public",
        "fire_station", "sports_hall", "stadium", "grandstand", "sports_centre", "museum",
        # worship
        "religious", "church", "chapel", "cathedral", "temple", "mosque", "shrine", "monastery",
        # transport and storage
        "train_station", "transportation", "parking", "garage", "garages", "carport", "hangar",
        "service", "storage_tank", "silo", "water_tower", "transformer_tower",
        # farm and outbuildings
        "barn", "cowshed", "stable", "sty", "greenhouse", "farm_auxiliary", "shed",
        # not (yet / any more) a building people live in
        "construction", "ruins", "roof", "bridge", "toilets", "pavilion", "bunker", "military",
        "gatehouse",
    }
)
"""Clearly non-residential ``building`` values, excluded from the buildings proxy.

Documentation of the rule rather than its definition: the proxy counts **only** the values
of :data:`RESIDENTIAL_BUILDINGS` and untagged buildings; any other value (these and rarer
ones such as ``hut`` or ``cabin``) is excluded and counted in the method text."""

ROAD_PROXY_CLASSES: tuple[str, ...] = ("internal", "branch")
"""Road classes (``road_class`` of the model) whose length stands in for dwellings:
compound-internal roads (内部道路) and branch streets (支路) are where people live;
arterials and sub-arterials carry traffic through."""

PROXIES: tuple[str, ...] = ("buildings", "landuse", "roads")
"""Dasymetric proxies in order of preference."""

Boundary = gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry


# --------------------------------------------------------------------------- helpers


def _as_wgs84_geometry(boundary: Boundary, what: str = "boundary") -> shapely.Geometry:
    """The union of ``boundary`` as one (Multi)Polygon in WGS84 degrees.

    GeoDataFrames/GeoSeries are reprojected from their CRS (which they must have); a bare
    shapely geometry is taken to be WGS84 lon/lat.
    """
    if isinstance(boundary, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if boundary.crs is None:
            raise KmgisError(f"{what}: the layer has no CRS; label it (e.g. EPSG:4326)")
        geom = boundary.geometry.to_crs(WGS84).union_all()
    elif isinstance(boundary, shapely.Geometry):
        geom = boundary
    else:
        raise KmgisError(f"{what}: expected a GeoDataFrame, GeoSeries or shapely polygon, got {type(boundary).__name__}")
    if geom is None or geom.is_empty:
        raise KmgisError(f"{what}: empty geometry")
    if shapely.get_type_id(geom) not in (3, 6, 7):
        raise KmgisError(f"{what}: expected a polygon, got {geom.geom_type}")
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polys = shapely.get_parts(geom)
    polys = polys[np.isin(shapely.get_type_id(polys), (3, 6))]
    if len(polys) == 0:
        raise KmgisError(f"{what}: no polygon area")
    return shapely.union_all(polys) if len(polys) > 1 else polys[0]


def _to_crs_geom(geom: shapely.Geometry, src: Any, dst: Any) -> shapely.Geometry:
    """One geometry from CRS ``src`` to CRS ``dst``."""
    return gpd.GeoSeries([geom], crs=src).to_crs(dst).iloc[0]


def _layer_in(layer: gpd.GeoDataFrame, area_wgs84: shapely.Geometry, crs: pyproj.CRS, what: str) -> gpd.GeoDataFrame:
    """Rows of ``layer`` intersecting ``area_wgs84`` (via the spatial index), projected to ``crs``."""
    if layer.crs is None:
        raise KmgisError(f"{what}: the layer has no CRS; label it (e.g. EPSG:4326)")
    ok = ~(layer.geometry.isna() | layer.geometry.is_empty)
    layer = layer[ok.to_numpy()]
    if layer.empty:
        return layer.to_crs(crs)
    area = _to_crs_geom(area_wgs84, WGS84, layer.crs) if not pyproj.CRS(layer.crs).equals(WGS84) else area_wgs84
    idx = np.sort(layer.sindex.query(area, predicate="intersects"))
    return layer.iloc[idx].to_crs(crs)


def _apportion(total: float, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` (persons) in proportion to ``weights`` so that the parts add up exactly.

    Largest-remainder apportionment on a binary grid: every part is an integer multiple of
    ``q = 2**-k``, with ``k`` the largest integer such that ``total / q < 2**52``.  Then
    every partial sum is a multiple of ``q`` below ``2**52 q`` and is exactly representable,
    so the parts add up to ``total`` **exactly in any summation order** (numpy pairwise,
    pandas, ``math.fsum``, a Python loop) whenever ``total`` is itself a multiple of ``q``
    (any integer total is).  Each part deviates from ``total * w / sum(w)`` by less than
    ``q`` (about 1e-10 persons for a county of 350,000 residents).
    """
    weights = np.asarray(weights, dtype=float)
    if total == 0 or len(weights) == 0:
        return np.zeros(len(weights))
    _, e = math.frexp(total)  # total < 2**e
    k = 52 - e
    units = round(math.ldexp(total, k))  # exact integer count of q-steps
    quota = weights / weights.sum() * units
    base = np.floor(quota).astype(np.int64)
    frac = quota - base
    rem = units - int(base.sum())
    if rem > 0:  # give one q to the largest remainders (ties: lower index first)
        order = np.lexsort((np.arange(len(frac)), -frac))
        base[order[:rem]] += 1
    elif rem < 0:  # float rounding pushed the floors over: take back from the smallest remainders
        cand = np.flatnonzero(base > 0)
        order = cand[np.lexsort((cand, frac[cand]))]
        base[order[:-rem]] -= 1
    return np.ldexp(base.astype(float), -k)


def _check_total(total: float) -> float:
    """``total`` as a float number of persons (finite, ≥ 0), else :class:`KmgisError`."""
    try:
        value = float(total)
    except (TypeError, ValueError):
        raise KmgisError(f"population total must be a number of persons, got {total!r}") from None
    if not math.isfinite(value) or value < 0:
        raise KmgisError(f"population total must be a finite number ≥ 0 persons, got {total!r}")
    return value


def _points_frame(x: np.ndarray, y: np.ndarray, src_crs: Any, population: np.ndarray, **columns: np.ndarray) -> gpd.GeoDataFrame:
    """Points from coordinates in ``src_crs``, reprojected to WGS84, with ``population`` and extra columns."""
    if len(x):
        tr = pyproj.Transformer.from_crs(src_crs, WGS84, always_xy=True)
        lon, lat = tr.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    else:
        lon = lat = np.empty(0)
    data = {"population": np.asarray(population, dtype=float), **{k: np.asarray(v) for k, v in columns.items()}}
    return gpd.GeoDataFrame(data, geometry=gpd.points_from_xy(lon, lat), crs=WGS84)


# --------------------------------------------------------------------------- unit totals


def unit_population(unit: str) -> tuple[int, dict[str, Any]]:
    """The year-end 2023 resident population (常住人口, **persons**) of a county-level unit.

    ``unit`` is a unit id, adcode, Chinese or English name (see :func:`kmgis.config.unit_id`).
    The table is the catalogue entry ``kunming_population`` (``layers/population.csv``, from
    the Kunming Municipal Bureau of Statistics).  Returns ``(residents, provenance)``, where
    provenance holds ``source`` (citation), ``year``, ``file``, ``sha256``, ``unit_id``,
    ``adcode`` and ``name_zh``.  Unknown units, or units without a row (the neighbours
    outside Kunming), raise :class:`KmgisError`.
    """
    uid = unit_id(unit)
    row_unit = units_table()[uid]
    entry = catalog_entry(POPULATION_LAYER)
    path = resolve_path(entry.path, None)
    if not path.is_file():
        raise KmgisError(f"{POPULATION_LAYER}: population table not found: {path}")
    table = pd.read_csv(path, dtype={"adcode": str}, encoding="utf-8-sig")
    if not {"adcode", POPULATION_COLUMN} <= set(table.columns):
        raise KmgisError(f"{path}: expected columns 'adcode' and {POPULATION_COLUMN!r}, got {list(table.columns)}")
    rows = table[table["adcode"] == str(row_unit["adcode"])]
    if len(rows) != 1:
        raise KmgisError(
            f"{path}: no single {POPULATION_YEAR} resident figure for {uid} ({row_unit['name_zh']}, adcode "
            f"{row_unit['adcode']}); the table covers Kunming's 14 county-level units"
        )
    value = rows[POPULATION_COLUMN].iloc[0]
    if pd.isna(value) or float(value) < 0 or float(value) != int(float(value)):
        raise KmgisError(f"{path}: invalid {POPULATION_COLUMN} {value!r} for {uid}")
    provenance = {
        "source": POPULATION_SOURCE,
        "year": POPULATION_YEAR,
        "layer": POPULATION_LAYER,
        "file": str(path),
        "sha256": sha256_file(path),
        "unit_id": uid,
        "adcode": str(row_unit["adcode"]),
        "name_zh": row_unit["name_zh"],
    }
    if "urbanization_rate_2023_pct" in rows.columns and pd.notna(rows["urbanization_rate_2023_pct"].iloc[0]):
        provenance["urbanization_rate_pct"] = float(rows["urbanization_rate_2023_pct"].iloc[0])
    return int(float(value)), provenance


# --------------------------------------------------------------------------- raster


def _read_raster_window(path: Path, area: shapely.Geometry, band: int) -> tuple[Any, Any, Any, Any, Any]:
    """The cells of ``band`` in the window of the raster at ``path`` that covers ``area`` (WGS84).

    The window is the area's bounds in the raster CRS plus one cell on each side, cut to the
    raster.  Returns ``(masked values, window transform, raster CRS, nodata, window)``; the
    window's ``row_off`` / ``col_off`` place its cells in the full raster.  rasterio is
    imported here, on first use (it is slow to import).
    """
    import rasterio
    import rasterio.errors
    import rasterio.warp
    import rasterio.windows
    from affine import Affine

    name = str(path)
    try:
        src_ctx = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise KmgisError(f"{name}: cannot read raster: {str(exc).splitlines()[0]}") from None
    with src_ctx as src:
        if src.crs is None:
            raise KmgisError(
                f"{name}: raster has no CRS; assign one (e.g. gdal_edit.py -a_srs EPSG:4326 {path.name})"
            )
        if not 1 <= band <= src.count:
            raise KmgisError(f"{name}: band {band} does not exist (the raster has {src.count} band(s))")
        full = rasterio.windows.Window(0, 0, src.width, src.height)
        bounds = rasterio.warp.transform_bounds(WGS84, src.crs, *area.bounds, densify_pts=101)
        win = rasterio.windows.from_bounds(*bounds, transform=src.transform)
        win = rasterio.windows.Window(win.col_off - 1, win.row_off - 1, win.width + 2, win.height + 2)
        win = win.round_offsets(op="floor").round_lengths(op="ceil")
        try:
            win = win.intersection(full)
        except rasterio.errors.WindowError:
            win = None
        if win is None or win.width <= 0 or win.height <= 0:
            raise KmgisError(
                f"{name}: the raster (bounds {tuple(round(v, 4) for v in src.bounds)} in {src.crs}) does "
                "not cover the boundary"
            )
        data = src.read(band, window=win, masked=True)
        transform = src.transform @ Affine.translation(win.col_off, win.row_off)
        return data, transform, src.crs, src.nodata, win


def _cell_centres_inside(
    data: np.ma.MaskedArray, transform: Any, raster_crs: Any, area: shapely.Geometry
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The unmasked cells: ``(rows, cols, values, lon, lat, inside)``.

    ``rows`` / ``cols`` index the window, ``lon`` / ``lat`` (degrees) are the cell centres in
    WGS84 and ``inside`` says whether a centre lies strictly inside ``area`` (WGS84).
    """
    values = np.ma.getdata(data).astype(float)
    valid = ~np.ma.getmaskarray(data)
    rows, cols = np.nonzero(valid)
    cx = transform.a * (cols + 0.5) + transform.b * (rows + 0.5) + transform.c
    cy = transform.d * (cols + 0.5) + transform.e * (rows + 0.5) + transform.f
    if len(cx):
        lon, lat = pyproj.Transformer.from_crs(raster_crs, WGS84, always_xy=True).transform(cx, cy)
        shapely.prepare(area)
        inside = shapely.contains_xy(area, lon, lat)
    else:
        lon = lat = np.empty(0)
        inside = np.zeros(0, dtype=bool)
    return rows, cols, values[rows, cols], lon, lat, inside


def population_from_raster(path: str | os.PathLike, boundary: Boundary, *, band: int = 1) -> gpd.GeoDataFrame:
    """Raster cells as points: one WGS84 point per cell whose centre lies inside ``boundary``.

    ``path`` is any raster GDAL reads (GeoTIFF, …) holding **persons per cell**, in any CRS
    (it must declare one).  ``boundary`` is a polygon layer or shapely polygon (WGS84).
    Only the window of the raster covering the boundary is read.  A cell belongs to the
    boundary when its centre, transformed to WGS84, lies strictly inside the WGS84 boundary
    (so the output points are inside it too).

    Cells equal to the raster's nodata value (or masked by its mask band) are dropped, and
    so are cells of value 0.  NaN, ±inf or negative cells inside the boundary that are not
    nodata are an error naming the file and the count.

    Returns
    -------
    GeoDataFrame
        WGS84 points with ``population`` (persons per cell), ``row`` and ``col`` (cell
        indices in the full raster); ``attrs``: ``method`` (text), ``cell_size`` (x, y in
        raster CRS units) and ``raster_crs``.
    """
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise KmgisError(f"{name}: population raster not found")
    area = _as_wgs84_geometry(boundary)
    data, transform, raster_crs, nodata, win = _read_raster_window(path, area, band)
    rows, cols, vals, lon, lat, inside = _cell_centres_inside(data, transform, raster_crs, area)
    bad = inside & ~(np.isfinite(vals) & (vals >= 0))
    if bad.any():
        n_nan = int((bad & np.isnan(vals)).sum())
        raise KmgisError(
            f"{name}: {int(bad.sum())} cell(s) inside the boundary are NaN, infinite or negative but not nodata "
            f"({n_nan} NaN; nodata={nodata}); set the raster's nodata value or fix those cells"
        )
    keep = inside & (vals > 0)
    pop = vals[keep]
    out = gpd.GeoDataFrame(
        {
            "population": pop,
            "row": (rows[keep] + int(win.row_off)).astype(np.int64),
            "col": (cols[keep] + int(win.col_off)).astype(np.int64),
        },
        geometry=gpd.points_from_xy(lon[keep], lat[keep]),
        crs=WGS84,
    )
    out.attrs["method"] = f"raster cells as points: {path.name}, {len(out)} cells, sum {math.fsum(pop):,.1f}"
    out.attrs["cell_size"] = (abs(transform.a), abs(transform.e))
    out.attrs["raster_crs"] = raster_crs.to_string()
    return out


# --------------------------------------------------------------------------- dasymetric proxies


def _building_weights(
    buildings: gpd.GeoDataFrame, area: shapely.Geometry, area_m: shapely.Geometry, crs: pyproj.CRS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """Residential buildings with a representative point inside the area: (x, y, floor m², note)."""
    b = _layer_in(buildings, area, crs, "buildings")
    if b.empty:
        return None
    geoms = b.geometry.to_numpy()
    poly = np.isin(shapely.get_type_id(geoms), (3, 6))
    kind = b["building"] if "building" in b.columns else pd.Series(pd.NA, index=b.index)
    kind = kind.astype("string").str.strip().str.lower()
    residential = (kind.isna() | kind.isin(RESIDENTIAL_BUILDINGS)).to_numpy(bool)
    levels = pd.to_numeric(b["levels"], errors="coerce").to_numpy(float) if "levels" in b.columns else np.ones(len(b))
    levels = np.where(np.isfinite(levels) & (levels > 0), levels, 1.0)
    pts = shapely.point_on_surface(geoms)
    shapely.prepare(area_m)
    inside = shapely.contains(area_m, pts)
    floor_m2 = shapely.area(geoms) * levels
    keep = poly & residential & inside & (floor_m2 > 0)
    if not keep.any():
        return None
    excluded = int((poly & inside & ~residential).sum())
    x, y = shapely.get_x(pts[keep]), shapely.get_y(pts[keep])
    note = (
        f"footprint m² × levels (default 1) of {int(keep.sum()):,} residential or untagged buildings; "
        f"{excluded:,} other buildings excluded"
    )
    return x, y, floor_m2[keep], note


def _grid_polygons(parts: np.ndarray, cell_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid cells (aligned on multiples of ``cell_m``) overlapping each polygon's bounds.

    Returns (ix, iy, part index, cell boxes), one row per (cell, polygon) candidate pair.
    """
    b = shapely.bounds(parts)
    i0, j0 = np.floor(b[:, 0] / cell_m).astype(np.int64), np.floor(b[:, 1] / cell_m).astype(np.int64)
    i1, j1 = np.floor(b[:, 2] / cell_m).astype(np.int64), np.floor(b[:, 3] / cell_m).astype(np.int64)
    nx, ny = i1 - i0 + 1, j1 - j0 + 1
    n = nx * ny
    part = np.repeat(np.arange(len(parts)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    ix = i0[part] + k % nx[part]
    iy = j0[part] + k // nx[part]
    boxes = shapely.box(ix * cell_m, iy * cell_m, (ix + 1) * cell_m, (iy + 1) * cell_m)
    return ix, iy, part, boxes


def _landuse_weights(
    landuse: gpd.GeoDataFrame, area: shapely.Geometry, area_m: shapely.Geometry, crs: pyproj.CRS, cell_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """Residential land use inside the area, per grid cell: (x, y, m², note)."""
    if "landuse" not in landuse.columns:
        raise KmgisError("landuse: the layer has no 'landuse' column")
    lu = landuse[landuse["landuse"].astype("string").str.strip().str.lower().eq("residential").fillna(False).to_numpy()]
    lu = _layer_in(lu, area, crs, "landuse")
    geoms = lu.geometry.to_numpy()
    geoms = geoms[np.isin(shapely.get_type_id(geoms), (3, 6))] if len(geoms) else geoms
    if len(geoms) == 0:
        return None
    geoms = shapely.make_valid(geoms)
    res = shapely.intersection(shapely.union_all(geoms), area_m)
    parts = shapely.get_parts(res)
    parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)]
    if len(parts) == 0:
        return None
    ix, iy, part, boxes = _grid_polygons(parts, cell_m)
    shapely.prepare(parts)
    full = shapely.contains(parts[part], boxes)
    pieces = np.where(full, boxes, None)
    partial = ~full & shapely.intersects(parts[part], boxes)
    pieces[partial] = shapely.intersection(boxes[partial], parts[part[partial]])
    a = np.where(full, cell_m * cell_m, 0.0)
    a[partial] = shapely.area(pieces[partial])
    keep = a > 0
    ix, iy, pieces, a = ix[keep], iy[keep], pieces[keep], a[keep]
    x, y, w = _per_cell(ix, iy, a, cell_m, res, pieces)
    return x, y, w, f"{math.fsum(a) / 1e6:,.3f} km² on {len(w):,} cells of {cell_m:g} m"


def _per_cell(
    ix: np.ndarray, iy: np.ndarray, w: np.ndarray, cell_m: float, inside: shapely.Geometry, pieces: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum weights per grid cell; place each cell's point at its centre when the centre lies
    inside ``inside``, else on its largest piece (``pieces``: the proxy geometry in that cell)."""
    order = np.lexsort((w, iy, ix))  # by cell, then weight ascending: last of a group is the largest
    ix, iy, w, pieces = ix[order], iy[order], w[order], pieces[order]
    new = np.ones(len(ix), dtype=bool)
    new[1:] = (ix[1:] != ix[:-1]) | (iy[1:] != iy[:-1])
    group = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    last = np.append(starts[1:] - 1, len(ix) - 1)
    weight = np.bincount(group, weights=w)
    cx, cy = (ix[starts] + 0.5) * cell_m, (iy[starts] + 0.5) * cell_m
    shapely.prepare(inside)
    centre_ok = shapely.contains_xy(inside, cx, cy)
    if not centre_ok.all():
        alt = shapely.point_on_surface(pieces[last[~centre_ok]])
        cx[~centre_ok], cy[~centre_ok] = shapely.get_x(alt), shapely.get_y(alt)
    return cx, cy, weight


def _split_on_grid(lines: np.ndarray, cell_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut line geometries exactly at the grid lines (multiples of ``cell_m``), vectorised.

    Returns, per piece: cell column ``ix``, cell row ``iy``, length (m), and the piece's
    midpoint ``(mx, my)``.  Each straight segment is split at every vertical and horizontal
    grid line it crosses (parameters ``t`` along the segment), so each piece lies in one cell.
    """
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    same = idx[1:] == idx[:-1]
    x0, y0 = coords[:-1, 0][same], coords[:-1, 1][same]
    x1, y1 = coords[1:, 0][same], coords[1:, 1][same]
    dx, dy = x1 - x0, y1 - y0
    n = len(x0)
    ts = [np.zeros(n), np.ones(n)]
    segs = [np.arange(n), np.arange(n)]
    for a0, a1, da in ((x0, x1, dx), (y0, y1, dy)):
        k0 = np.floor(np.minimum(a0, a1) / cell_m).astype(np.int64)
        k1 = np.floor(np.maximum(a0, a1) / cell_m).astype(np.int64)
        cnt = k1 - k0  # grid lines k0+1 .. k1 lie strictly inside or at the segment's far end
        seg = np.repeat(np.arange(n), cnt)
        k = k0[seg] + 1 + np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        ts.append(np.clip((k * cell_m - a0[seg]) / da[seg], 0.0, 1.0))
        segs.append(seg)
    t = np.concatenate(ts)
    seg = np.concatenate(segs)
    order = np.lexsort((t, seg))
    t, seg = t[order], seg[order]
    nxt = seg[1:] == seg[:-1]
    s, ta, tb = seg[:-1][nxt], t[:-1][nxt], t[1:][nxt]
    length = (tb - ta) * np.hypot(dx[s], dy[s])
    keep = length > 0
    s, ta, tb, length = s[keep], ta[keep], tb[keep], length[keep]
    tm = (ta + tb) / 2.0
    mx, my = x0[s] + tm * dx[s], y0[s] + tm * dy[s]
    ix = np.floor(mx / cell_m).astype(np.int64)
    iy = np.floor(my / cell_m).astype(np.int64)
    return ix, iy, length, mx, my


def _clip_lines(lines: np.ndarray, area_m: shapely.Geometry) -> np.ndarray:
    """``lines`` cut to the polygon ``area_m``: lines inside are kept whole, crossing ones intersected."""
    shapely.prepare(area_m)
    inside = shapely.contains(area_m, lines)
    crossing = ~inside & shapely.intersects(area_m, lines)
    clipped = shapely.intersection(lines[crossing], area_m)
    parts = shapely.get_parts(np.concatenate([lines[inside], clipped]))
    return parts[np.isin(shapely.get_type_id(parts), (1, 2)) & (shapely.length(parts) > 0)]


def _road_weights(
    roads: gpd.GeoDataFrame, area: shapely.Geometry, area_m: shapely.Geometry, crs: pyproj.CRS, cell_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """Internal + branch road length inside the area, per grid cell: (x, y, metres, note)."""
    if "road_class" not in roads.columns:
        raise KmgisError("roads: the layer has no 'road_class' column (see kmgis.model)")
    sel = roads[roads["road_class"].isin(ROAD_PROXY_CLASSES).to_numpy()]
    r = _layer_in(sel, area, crs, "roads")
    if r.empty:
        return None
    lines = _clip_lines(r.geometry.to_numpy(), area_m)
    if len(lines) == 0:
        return None
    ix, iy, length, mx, my = _split_on_grid(lines, cell_m)
    if len(length) == 0:
        return None
    # a cell whose centre lies outside the area gets the midpoint of its longest road piece
    cx, cy, weight = _per_cell(ix, iy, length, cell_m, area_m, shapely.points(mx, my))
    note = f"{math.fsum(length) / 1000:,.1f} km on {len(weight):,} cells of {cell_m:g} m"
    return cx, cy, weight, note


def _zoned_apportion(
    total: float, x: np.ndarray, y: np.ndarray, weight: np.ndarray, metric: pyproj.CRS,
    urban_area: Boundary | None, urban_share: float | None,
) -> tuple[np.ndarray, str]:
    """Apportion ``total`` by ``weight``, in two zones (urban / rural) when both are given."""
    if urban_area is None or urban_share is None:
        return _apportion(total, weight), ""
    if not 0.0 <= float(urban_share) <= 1.0:
        raise KmgisError(f"population: urban share must be within 0–1, got {urban_share!r}")
    urban_m = _to_crs_geom(_as_wgs84_geometry(urban_area, "urban area"), WGS84, metric)
    inside = shapely.contains_xy(urban_m, x, y)
    w_in, w_out = float(weight[inside].sum()), float(weight[~inside].sum())
    if w_in <= 0 or w_out <= 0:
        return _apportion(total, weight), "urban/rural split not applied (one zone has no proxy)"
    urban = float(round(total * float(urban_share)))
    pop = np.empty(len(weight))
    pop[inside] = _apportion(urban, weight[inside])
    pop[~inside] = _apportion(total - urban, weight[~inside])
    return pop, (f"two zones: {urban:,.0f} urban residents ({float(urban_share):.2%}) in the built-up patches, "
                 f"{total - urban:,.0f} outside")


def population_dasymetric(
    boundary: Boundary,
    total: float,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    landuse: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    crs: Any,
    cell_m: float = 100.0,
    urban_area: Boundary | None = None,
    urban_share: float | None = None,
) -> gpd.GeoDataFrame:
    """Spread ``total`` residents (persons) over residential proxies inside ``boundary``.

    With ``urban_area`` (WGS84 polygons: the unit's built-up patches) and ``urban_share``
    (0–1: the official urbanization rate), the spread is two-zone: ``round(total ×
    urban_share)`` urban residents over the proxy weight inside the urban area, the rest over
    the weight outside it (each zone proportional to its own weight).  Without them, or when
    either zone has no proxy weight, one zone.

    Proxies, the first one that has any weight inside the boundary wins:

    1. ``buildings`` (model layer): dwellings (``building`` in :data:`RESIDENTIAL_BUILDINGS`,
       or untagged) whose representative point lies inside the boundary; weight = footprint
       area (m², in ``crs``) × ``levels`` (missing or ≤ 0 → 1); one point per building, on it.
    2. ``landuse`` (model layer): ``landuse == "residential"`` polygons cut to the boundary;
       weight = residential area (m²) in each ``cell_m`` grid cell.
    3. ``roads`` (model layer): ``road_class`` internal or branch, cut to the boundary;
       weight = their length (m) in each ``cell_m`` grid cell (lines are cut exactly at the
       grid lines).

    The grid is aligned on multiples of ``cell_m`` metres in the projected metric CRS
    ``crs`` (e.g. EPSG:32648).  A cell's point is its centre when that lies inside the
    boundary (and, for land use, inside the residential area), else a point on the proxy
    inside the cell, so every point is inside the boundary.

    Returns WGS84 points with ``population`` (persons) and ``weight`` (the proxy quantity:
    m of road, m² of land or m² of floor area); ``population`` is ``total × weight / Σ
    weight``, apportioned so that it sums to ``total`` exactly (:func:`_apportion`).
    ``attrs`` holds ``method`` (text), ``proxy``, ``cell_m`` and ``crs``.  No proxy inside the
    boundary is a :class:`KmgisError`.
    """
    total = _check_total(total)
    if not (isinstance(cell_m, (int, float)) and math.isfinite(cell_m) and cell_m > 0):
        raise KmgisError(f"population: cell size must be > 0 m, got {cell_m!r}")
    metric = projected_crs(crs, "population")
    area = _as_wgs84_geometry(boundary)
    area_m = _to_crs_geom(area, WGS84, metric)
    proxy, (x, y, weight, note), skipped = _first_proxy(
        {"buildings": buildings, "landuse": landuse, "roads": roads}, area, area_m, metric, float(cell_m)
    )
    pop, zone_note = _zoned_apportion(total, x, y, weight, metric, urban_area, urban_share)
    if zone_note:
        note = f"{note}; {zone_note}"
    out = _points_frame(x, y, metric, pop, weight=weight)
    crs_label = metric.to_string()
    what = {"buildings": "residential floor area", "landuse": "residential land area",
            "roads": f"{'+'.join(ROAD_PROXY_CLASSES)} road length"}[proxy]
    method = f"dasymetric: {total:,.0f} residents spread by {what} ({note}; {crs_label})"
    if skipped:
        method += "; " + "; ".join(skipped)
    out.attrs.update(
        {"method": method, "proxy": proxy, "cell_m": None if proxy == "buildings" else float(cell_m), "crs": crs_label}
    )
    return out


def _first_proxy(
    layers: dict[str, gpd.GeoDataFrame | None], area: shapely.Geometry, area_m: shapely.Geometry,
    metric: pyproj.CRS, cell_m: float,
) -> tuple[str, tuple[np.ndarray, np.ndarray, np.ndarray, str], list[str]]:
    """The first proxy of :data:`PROXIES` with weight inside the area.

    ``layers`` maps proxy name → layer (None: not given); ``area`` is WGS84, ``area_m`` the
    same in ``metric``; ``cell_m`` the grid size (m).  Returns ``(proxy name, (x, y, weight,
    note), notes on the proxies given but skipped)``; none usable is a :class:`KmgisError`.
    """
    skipped: list[str] = []
    for name in PROXIES:
        layer = layers[name]
        if layer is None:
            continue
        if name == "buildings":
            result = _building_weights(layer, area, area_m, metric)
        elif name == "landuse":
            result = _landuse_weights(layer, area, area_m, metric, cell_m)
        else:
            result = _road_weights(layer, area, area_m, metric, cell_m)
        if result is not None and float(np.sum(result[2])) > 0:
            return name, result, skipped
        skipped.append(f"{name} given but none usable inside the boundary")
    given = ", ".join(skipped) if skipped else "no proxy layer given"
    raise KmgisError(
        f"population: no residential proxy inside the boundary ({given}); supply a population raster, "
        f"buildings, residential land use, or roads with classes {' / '.join(ROAD_PROXY_CLASSES)}"
    )


# --------------------------------------------------------------------------- choice and use


def population_points(
    boundary: Boundary,
    unit_or_total: str | float,
    *,
    raster: str | os.PathLike | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    landuse: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    crs: Any,
    cell_m: float = 100.0,
    band: int = 1,
    scale_raster_to_total: bool = False,
    urban_area: Boundary | None = None,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Resident points for ``boundary``: from ``raster`` if given, else dasymetric.

    ``urban_area`` (WGS84 built-up patches of the unit): with a unit whose table row has an
    urbanization rate, the dasymetric spread puts that share of residents in the urban area
    (two zones, see :func:`population_dasymetric`).

    ``unit_or_total`` is a unit id/name (its 2023 resident total from :func:`unit_population`)
    or a number of persons (a user-supplied total).  With a raster, its cell values are used
    as they are (the total is only recorded as ``census_total`` for comparison) unless
    ``scale_raster_to_total`` rescales them to the total (exactly, like the dasymetric path).
    ``crs`` is the projected metric CRS of the dasymetric grid; ``cell_m`` its cell size (m).

    Returns ``(points, info)``; ``info`` has ``method`` (text), ``proxy`` (``raster``,
    ``buildings``, ``landuse`` or ``roads``), ``cell_m`` (grid size in m; the raster's cell
    size in its CRS units for rasters; None for buildings), ``total`` (persons on the
    points), ``source`` (citation of the total or the raster file), ``n_points`` and, when
    known, ``census_total``, ``year``, ``unit_id``, ``file`` and ``sha256``.
    """
    if isinstance(unit_or_total, str):
        census, prov = unit_population(unit_or_total)
        info: dict[str, Any] = {"source": prov["source"], "census_total": census, "year": prov["year"],
                                "unit_id": prov["unit_id"], "table_sha256": prov["sha256"]}
        urban_share = prov["urbanization_rate_pct"] / 100 if "urbanization_rate_pct" in prov else None
    elif isinstance(unit_or_total, (int, float, np.integer, np.floating)) and not isinstance(unit_or_total, bool):
        census = _check_total(unit_or_total)
        info = {"source": "user-supplied total", "census_total": census}
        urban_share = None
    else:
        raise KmgisError(f"population: expected a unit id/name or a total of persons, got {unit_or_total!r}")
    if raster is not None:
        pts = population_from_raster(raster, boundary, band=band)
        method = pts.attrs["method"]
        if scale_raster_to_total:
            if len(pts) == 0 or pts["population"].sum() <= 0:
                raise KmgisError(f"{raster}: no populated cells inside the boundary to scale to {census:,.0f}")
            raw = math.fsum(pts["population"])
            pts = pts.assign(population=_apportion(float(census), pts["population"].to_numpy()))
            method += f"; scaled ×{census / raw:.4f} to the total {census:,.0f} ({info['source']})"
        path = Path(raster)
        info.update(
            {
                "method": method,
                "proxy": "raster",
                "cell_m": float(pts.attrs["cell_size"][0]),
                "raster_crs": pts.attrs["raster_crs"],
                "source": str(path) if not scale_raster_to_total else f"{path}; total: {info['source']}",
                "file": str(path),
                "sha256": sha256_file(path),
            }
        )
    else:
        pts = population_dasymetric(boundary, census, buildings=buildings, landuse=landuse, roads=roads, crs=crs,
                                    cell_m=cell_m, urban_area=urban_area if urban_share is not None else None,
                                    urban_share=urban_share)
        info.update({"method": pts.attrs["method"], "proxy": pts.attrs["proxy"], "cell_m": pts.attrs["cell_m"],
                     "crs": pts.attrs["crs"]})
    info["total"] = math.fsum(pts["population"])
    info["n_points"] = len(pts)
    ordered = {k: info[k] for k in ("method", "proxy", "cell_m", "total", "source")}
    ordered.update({k: v for k, v in info.items() if k not in ordered})
    return pts, ordered


def residents_in(points: gpd.GeoDataFrame, polygon: Boundary) -> float:
    """Persons on ``points`` (column ``population``) strictly inside ``polygon`` (WGS84).

    ``polygon`` is a shapely (Multi)Polygon in WGS84 degrees or a polygon layer (reprojected).
    Points exactly on the polygon's boundary are not counted.
    """
    if "population" not in points.columns:
        raise KmgisError("residents_in: the points have no 'population' column")
    if points.empty:
        return 0.0
    if points.crs is None:
        raise KmgisError("residents_in: the points have no CRS")
    area = _as_wgs84_geometry(polygon, "residents_in polygon")
    pts = points.geometry if pyproj.CRS(points.crs).equals(WGS84) else points.geometry.to_crs(WGS84)
    shapely.prepare(area)
    inside = shapely.contains_xy(area, pts.x.to_numpy(), pts.y.to_numpy())
    return float(math.fsum(points["population"].to_numpy(float)[inside]))
