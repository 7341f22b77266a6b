"""Road length per grid cell for the road-derived built-up area (:mod:`kmgis.indicators.builtup`).

The unit boundary in a metric CRS, the grid of road centreline length per square cell
(:func:`road_density_grid`, exact cut of every segment at the grid lines), the density
over a moving window (:class:`RoadGrid`) and the passing cells as one geometry
(:func:`mask_to_geometry`).  Lengths and distances in metres, densities in km of
centreline per km² (km/km²).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.geom import is_empty_layer
from kmgis.model import WGS84

CELL_M = 250.0
"""Side of the square grid cells, metres (calibrated, see :mod:`kmgis.indicators.builtup`)."""

_REL_EPS = 1e-9  # relative tolerance of the density threshold (float noise of the cell split)


# --------------------------------------------------------------------------- the unit boundary


def unit_geometry(boundary: Any) -> tuple[shapely.Geometry, Any]:
    """(union geometry, its CRS) of a GeoDataFrame/GeoSeries, or of a bare geometry taken as WGS84."""
    if isinstance(boundary, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if len(boundary) == 0:
            raise KmgisError("built-up area: the unit boundary is empty")
        if boundary.crs is None:
            raise KmgisError("built-up area: the unit boundary has no CRS")
        return boundary.geometry.union_all(), boundary.crs
    if isinstance(boundary, shapely.Geometry):
        if boundary.is_empty:
            raise KmgisError("built-up area: the unit boundary is empty")
        return boundary, WGS84
    raise KmgisError(
        "built-up area: the unit boundary must be a GeoDataFrame, GeoSeries or shapely geometry, "
        f"got {type(boundary).__name__}"
    )


def unit_metric_crs(boundary: Any, crs: Any) -> pyproj.CRS:
    """The metric CRS: ``crs`` if given (checked), else the UTM zone of the boundary."""
    geom, src = unit_geometry(boundary)
    return metric_crs(gpd.GeoSeries([geom], crs=src), crs)


def unit_polygon_m(boundary: Any, crs: pyproj.CRS) -> shapely.Geometry:
    """The unit boundary as one valid geometry in the metric ``crs`` (coordinates in metres)."""
    geom, src = unit_geometry(boundary)
    out = gpd.GeoSeries([geom], crs=src).to_crs(crs).iloc[0]
    return out if out.is_valid else shapely.make_valid(out)


# --------------------------------------------------------------------------- road-density grid


@dataclass(frozen=True)
class RoadGrid:
    """Road centreline length per square cell of a grid in a metric CRS.

    ``x0``/``y0``: west/south edge of cell (row 0, column 0), metres; ``cell_m``: cell side,
    metres; ``length_m``: array (rows south → north, columns west → east) of road length
    inside each cell, metres; ``crs``: the metric CRS.
    """

    x0: float
    y0: float
    cell_m: float
    length_m: np.ndarray
    crs: pyproj.CRS

    @property
    def density_km_per_km2(self) -> np.ndarray:
        """Road length density of each cell, km of road per km² of cell."""
        return self.length_m / (self.cell_m * self.cell_m) * 1000.0

    def window_density_km_per_km2(self, window_cells: int = 1) -> np.ndarray:
        """Road density (km/km²) over the ``window_cells`` × ``window_cells`` block centred on each cell.

        ``window_cells`` is odd; 1 gives each cell's own density.  Cells beyond the grid
        count as road-free.  Computed with an integral image (cumulative sums).
        """
        k = int(window_cells)
        if k < 1 or k % 2 == 0:
            raise KmgisError(f"built-up area: the density window must be an odd number of cells, got {k}")
        if k == 1:
            return self.density_km_per_km2
        h = k // 2
        ny, nx = self.length_m.shape
        s = np.zeros((ny + 2 * h + 1, nx + 2 * h + 1))
        s[1 + h : 1 + h + ny, 1 + h : 1 + h + nx] = self.length_m
        s = s.cumsum(axis=0).cumsum(axis=1)
        total = s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]
        return total / (k * k * self.cell_m * self.cell_m) * 1000.0

    def passing(self, threshold_km_per_km2: float, window_cells: int = 1) -> np.ndarray:
        """Boolean mask of cells whose (window) density is ≥ ``threshold_km_per_km2`` (km/km²).

        A relative 1e-9 is allowed for the float noise of the cell split, so a cell exactly
        at the threshold passes.
        """
        d = self.window_density_km_per_km2(window_cells)
        return d >= threshold_km_per_km2 * (1.0 - _REL_EPS)

    def cells(self, mask: np.ndarray | None = None) -> gpd.GeoDataFrame:
        """Cells (all with road, or those in ``mask``) as squares with ``road_km`` and density (metric CRS)."""
        sel = (self.length_m > 0) if mask is None else np.asarray(mask, dtype=bool)
        rows, cols = np.nonzero(sel)
        x = self.x0 + cols * self.cell_m
        y = self.y0 + rows * self.cell_m
        return gpd.GeoDataFrame(
            {
                "row": rows,
                "col": cols,
                "road_km": self.length_m[rows, cols] / 1000.0,
                "density_km_per_km2": self.density_km_per_km2[rows, cols],
            },
            geometry=gpd.GeoSeries(shapely.box(x, y, x + self.cell_m, y + self.cell_m), crs=self.crs),
            crs=self.crs,
        )


def _segments(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All 2-point segments (ax, ay, bx, by) of line geometries (multi-part allowed)."""
    parts = shapely.get_parts(geoms)
    parts = parts[~shapely.is_empty(parts)]
    types = shapely.get_type_id(parts)
    lines = parts[(types == 1) | (types == 2)]
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    if len(coords) < 2:
        e = np.array([], dtype=float)
        return e, e, e, e
    same = idx[1:] == idx[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    return a[:, 0], a[:, 1], b[:, 0], b[:, 1]


def _crossings(g0: np.ndarray, g1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(segment index, t in [0, 1]) of every crossing of integer grid lines by segments g0 → g1.

    ``g0``/``g1`` are one coordinate of the segment ends in cell units.
    """
    i0, i1 = np.floor(g0), np.floor(g1)
    n = np.abs(i1 - i0).astype(np.int64)
    total = int(n.sum())
    if total == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=float)
    seg = np.repeat(np.arange(len(g0)), n)
    start = np.cumsum(n) - n
    k = np.arange(total) - np.repeat(start, n)  # 0 .. n-1 within each segment
    line = np.minimum(i0, i1)[seg] + 1 + k  # the grid line crossed
    t = (line - g0[seg]) / (g1[seg] - g0[seg])
    return seg, t


def road_density_grid(
    roads: gpd.GeoDataFrame,
    unit_boundary: Any,
    crs: Any = None,
    *,
    cell_m: float = CELL_M,
    classes: Iterable[str] | None = None,
    margin_cells: int = 0,
) -> RoadGrid:
    """Road length per ``cell_m`` × ``cell_m`` metre cell over the unit's bounding box.

    Parameters
    ----------
    roads : GeoDataFrame
        Model roads in any CRS (only ``road_class`` in ``classes`` if given, else all rows).
    unit_boundary : GeoDataFrame, GeoSeries or shapely geometry (WGS84)
        The unit; the grid covers its bounding box.
    crs : pyproj.CRS, str or None
        Metric CRS (None: :func:`kmgis.crs.metric_crs` of the boundary).
    cell_m : float
        Cell side, metres.
    classes : iterable of str, optional
        Road classes to count (None: all).
    margin_cells : int
        Extra cells on every side (for moving windows at the unit's edge — pass roads
        with a halo so they have data).

    Returns
    -------
    RoadGrid
        Road length per cell in metres; see :attr:`RoadGrid.density_km_per_km2` for km/km².

    Notes
    -----
    The grid is aligned to multiples of ``cell_m`` in the metric CRS, so neighbouring
    units share cells.  Every road segment is cut exactly at the grid lines, vectorised:
    the crossings of all segments with the vertical and horizontal grid lines are computed
    at once in numpy, sorted along each segment, and each piece's length is added to the
    cell holding its midpoint (``np.bincount``).  A line lying wholly in one cell counts
    its full length there; a piece lying on a cell edge goes to the cell north/east of
    it.  Road outside the grid is ignored.
    """
    if not cell_m > 0:
        raise KmgisError(f"built-up area: cell_m must be > 0 m, got {cell_m}")
    crs = unit_metric_crs(unit_boundary, crs)
    minx, miny, maxx, maxy = unit_polygon_m(unit_boundary, crs).bounds
    x0 = (np.floor(minx / cell_m) - margin_cells) * cell_m
    y0 = (np.floor(miny / cell_m) - margin_cells) * cell_m
    nx = max(int(np.ceil((maxx - x0) / cell_m)), 1) + margin_cells
    ny = max(int(np.ceil((maxy - y0) / cell_m)), 1) + margin_cells
    empty = RoadGrid(float(x0), float(y0), float(cell_m), np.zeros((ny, nx)), crs)
    if is_empty_layer(roads):
        return empty
    if roads.crs is None:
        raise KmgisError("built-up area: the roads layer has no CRS")
    sel = roads
    if classes is not None:
        if "road_class" not in roads.columns:
            raise KmgisError("built-up area: road classes were given but the roads layer has no road_class column")
        sel = roads[roads["road_class"].isin(set(classes))]
    geoms = np.asarray(sel.geometry.to_crs(crs).values, dtype=object)
    if len(geoms) == 0:
        return empty
    geoms = geoms[shapely.intersects(geoms, shapely.box(x0, y0, x0 + nx * cell_m, y0 + ny * cell_m))]
    ax, ay, bx, by = _segments(geoms)
    if len(ax) == 0:
        return empty
    length = _cell_lengths_m((ax, ay, bx, by), float(x0), float(y0), cell_m, (ny, nx))
    return RoadGrid(float(x0), float(y0), float(cell_m), length, crs)


def _cell_lengths_m(
    segments: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    x0: float,
    y0: float,
    cell_m: float,
    shape: tuple[int, int],
) -> np.ndarray:
    """Length (m) of the segments (ax, ay, bx, by; metres) in each cell of the grid with south-west
    corner (``x0``, ``y0``), cells of ``cell_m`` metres, ``shape`` (rows, columns)."""
    ax, ay, bx, by = segments
    ny, nx = shape
    gx0, gy0 = (ax - x0) / cell_m, (ay - y0) / cell_m
    gx1, gy1 = (bx - x0) / cell_m, (by - y0) / cell_m
    seg_len = np.hypot(bx - ax, by - ay)
    sx, tx = _crossings(gx0, gx1)
    sy, ty = _crossings(gy0, gy1)
    nseg = len(ax)
    seg = np.concatenate([np.arange(nseg), np.arange(nseg), sx, sy])
    t = np.concatenate([np.zeros(nseg), np.ones(nseg), tx, ty])
    order = np.lexsort((t, seg))
    seg, t = seg[order], t[order]
    same = seg[1:] == seg[:-1]
    s, ta, dt = seg[:-1][same], t[:-1][same], np.diff(t)[same]
    pos = dt > 0
    s, ta, dt = s[pos], ta[pos], dt[pos]
    tm = ta + dt / 2.0
    cx = np.floor(gx0[s] + (gx1[s] - gx0[s]) * tm).astype(np.int64)
    cy = np.floor(gy0[s] + (gy1[s] - gy0[s]) * tm).astype(np.int64)
    inside = (cx >= 0) & (cx < nx) & (cy >= 0) & (cy < ny)
    flat = cy[inside] * nx + cx[inside]
    return np.bincount(flat, weights=(dt * seg_len[s])[inside], minlength=nx * ny).reshape(ny, nx)


def window_cells(window_m: float, cell_m: float) -> int:
    """The odd number of cells nearest to ``window_m`` / ``cell_m`` (both metres; at least 1; even rounds up)."""
    if not window_m > 0:
        raise KmgisError(f"built-up area: window_m must be > 0 m, got {window_m}")
    k = max(int(round(window_m / cell_m)), 1)
    return k if k % 2 == 1 else k + 1


def mask_to_geometry(grid: RoadGrid, mask: np.ndarray) -> shapely.Geometry:
    """Union of the cells in ``mask`` (metric CRS), built from horizontal runs of cells."""
    if not mask.any():
        return shapely.Polygon()
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)
    rows, c_start = np.nonzero(d == 1)  # row-major order: k-th start pairs with k-th end
    _, c_end = np.nonzero(d == -1)
    c = grid.cell_m
    boxes = shapely.box(grid.x0 + c_start * c, grid.y0 + rows * c, grid.x0 + c_end * c, grid.y0 + (rows + 1) * c)
    return shapely.union_all(boxes)
