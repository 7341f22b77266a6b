"""Built-up area (建成区, ``built_up_area_km2``): official layer, else land use + buildings, else roads.

Units: lengths and distances in metres, areas in km² (``area_km2``), road length density
in km of centreline per km² (km/km²).  All geometry work is done in a metric CRS
(:func:`kmgis.crs.metric_crs`, EPSG:32648 for Kunming unless told otherwise); patches are
returned in WGS84.

Sources, in order of preference (:func:`built_up_area`):

1. an **official built-up layer** supplied by the user (the planning office's 建成区): used
   as is, clipped to the unit;
2. **land use + buildings** (OSM ``landuse`` in :data:`URBAN_LANDUSE` and building
   footprints buffered by ``building_buffer_m``), closed and filled
   (:func:`built_up_from_landuse`);
3. **road length density** (:func:`built_up_from_roads`) where there is no land use —
   the only source for Kunming offline.

Road-derived built-up area is circular with road density
-----------------------------------------------------------
The road-derived patch is made of cells where roads are dense, so the road density
measured inside it (``road_density_km_per_km2``) is biased upward: part of what it
measures is the rule that drew the patch.  Internal (compound) roads are used by default
because in Kunming's road layer they are what marks residential compounds, campuses and
factories as built up; that makes the bias stronger for indicators that include them.
The ``method`` text of every road-derived patch says so.  An official built-up layer
should replace it whenever one is available.

Central city (several units)
----------------------------
For several units (e.g. the central city 五华, 盘龙, 官渡, 西山, 呈贡) the boundaries are
merged and processed as one area, so the closing joins patches across district lines;
the result is **one contiguous patch**: the connected patch that contains the centre
point (the Yunnan provincial government on 五华山, 102.7094 E 25.0464 N, in
``layers/seats.yaml: centres``) — i.e. the union of every candidate patch that touches or
overlaps the main patch after closing.  Separate satellites (the 长水 airport, villages)
are not added.

Calibration of the road-based defaults (real data, 2026-11)
-----------------------------------------------------------
Published figures (the only figures used for the calibration):

* 昆明 (city, all districts) built-up area **456.15 km²** in 2021, per MOHURD's
  《2021年城市建设统计年鉴》, quoted at https://www.bs178.com/tuijian/16777357901187473.html
  and http://china-citytour.net/lm-1/10642.html;
* **435.81 km²** at the end of 2018: https://m.tftnews.com/news5998876;
* "416 km²" in 2019 (Xinhua Silk Road):
  https://eglobaltravelmedia.com.au/2019/09/26/xinhua-silk-road-kunming-steadily-promotes-construction-of-regional-intl-center/;
* a Kunming transport annual report (c. 2016, web address not known)
  defines 主城(建成区) of 五华/盘龙/官渡/西山 as **335.23 km²** and 中心城(建成区), which
  adds 呈贡 and the airport area, as **412 km²**;
* county seats: only old or indirect figures — 嵩明 town "城区面积8平方公里, 常住人口3.5万"
  (undated, c. 2004–2010: http://97616.net/vjingdian_3879.html); 宜良 2010: green land
  350万 m² at a green ratio of 36.8 % (http://bodypridespa.com/htm/2010/0827/63112.html),
  which implies ≈ 9.5 km²; 石林 county town green land 98.02万 m² at 24 %
  (http://ynsl.com/public/protal/zh-CHS/topic-200-14919.html, year unclear), implying
  ≈ 4.1 km².  No current (≈ 2020) county-seat built-up figure for Kunming's counties
  was found.

Measured with the defaults below on ``kunming_roads_kust.gpkg`` (roads of each unit plus
a 2 km halo; seat points from ``layers/seats.yaml``; "largest" where the unit has no seat
point):

=========================  ==========  ===============================================
unit                       km²         rule
=========================  ==========  ===============================================
central city (5 units)     441.2       contains 五华山 point; one Polygon, 呈贡 joined
五华 wuhua                  57.9        largest (no seat point)
盘龙 panlong                58.7        largest (no seat point)
官渡 guandu                 113.8       contains seat
西山 xishan                 87.7        contains seat
东川 dongchuan              22.2        contains seat
呈贡 chenggong              110.6       contains seat
晋宁 jinning                12.4        contains seat
富民 fumin                  5.7         largest (no seat point)
宜良 yiliang                12.0        largest (no seat point)
石林 shilin                 20.8        contains seat
嵩明 songming               11.3        largest (no seat point)
禄劝 luquan                 3.1         contains seat
寻甸 xundian                12.5        largest (no seat point)
安宁 anning                 47.3        largest (no seat point)
=========================  ==========  ===============================================

The central-city patch (441 km²) is −3 % from the 2021 city figure (456.15 km², which
also counts 东川, 晋宁 and the airport) and +7 % from 中心城 412 km² (c. 2016).  Stated
margin: ±25 % of 456.15 km².  The county seats (3–21 km², 47 for the industrial city
安宁) sit at or above the old county-seat figures (4–9.5 km²), as growth since then
would make them; 禄劝 (3.1 km²) is small because the road layer maps little of that town.

Sensitivity (central city, other defaults fixed): threshold 7.5 → 479 km²; **8.5 →
309 km²**, because the thin built-up link along the 官渡–呈贡 lakeshore breaks and 呈贡 is
no longer part of the contiguous patch (309 km² is then the main city alone, comparable to
主城 335.23 km²); closing 200 m → 423, 300 m → 483; window 250 m (no smoothing) → 523 with
many one-cell ribbons along rural roads; fill holes 0 → 437, 5 km² → 454.  The threshold
of 8 km/km² over a 750 m window was chosen as the value that (a) reproduces the published
central-city figure, (b) keeps 呈贡 joined to the main city as it is on the ground, and
(c) stops ribbons along single rural roads (one road through a 750 m window is
≈ 1.3 km/km²; a dual carriageway with side roads ≈ 5).

Timing (:func:`built_up_area`, roads already loaded, best of 3 on a 2-core machine):
Jinning (1,339 km², 4,943 roads incl. 2 km halo) 0.09 s; central city (3,276 km², 46,861
roads incl. halo) 0.54 s.  Reading the whole-city road layer takes ≈ 0.6 s more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.geom import is_empty_layer, polygon_parts
from kmgis.indicators.builtup_grid import (
    CELL_M,
    mask_to_geometry,
    road_density_grid,
    unit_metric_crs,
    unit_polygon_m,
    window_cells,
)
from kmgis.indicators.result import Indicator, Result, no_data
from kmgis.model import WGS84

INDICATOR = "built_up_area_km2"
UNIT = "km²"

# ---- road-density defaults (calibrated, see the module docstring)
# CELL_M (250 m, the side of the square grid cells) is defined in kmgis.indicators.builtup_grid
WINDOW_M = 750.0
"""Side of the square moving window over which cell density is averaged, metres (3 × 3 cells)."""
THRESHOLD_KM_PER_KM2 = 8.0
"""Cells whose window road density is at least this (km/km²) are built up."""
CLOSING_M = 250.0
"""Morphological closing distance, metres: gaps narrower than 2 × this are bridged."""
OPENING_M = 150.0
"""Morphological opening distance after the closing, metres: strips narrower than 2 × this are removed."""
FILL_HOLES_KM2 = 1.0
"""Holes smaller than this (km²) are filled: parks, campuses, ponds enclosed by the city."""
MIN_PATCH_KM2 = 0.5
"""Patches smaller than this (km²) are dropped (hamlets)."""

# ---- land-use defaults
URBAN_LANDUSE: tuple[str, ...] = (
    "residential", "commercial", "industrial", "retail", "construction", "education", "institutional",
)
"""OSM ``landuse`` values counted as urban (built-up) land use."""
BUILDING_BUFFER_M = 20.0
"""Buildings are buffered by this (metres): the building plus its plot/yard."""
LANDUSE_CLOSING_M = 50.0
LANDUSE_FILL_HOLES_KM2 = 0.25
LANDUSE_MIN_PATCH_KM2 = 0.05

SEAT_SNAP_M = 1000.0
"""A seat point outside every patch takes the nearest patch within this distance (metres)."""

CIRCULARITY = (
    "circular with road density: the patch is derived from road presence, so road density measured "
    "inside it is biased upward; an official built-up layer should replace it"
)

ROAD_PARAMS: dict[str, Any] = {
    "cell_m": CELL_M,
    "window_m": WINDOW_M,
    "threshold_km_per_km2": THRESHOLD_KM_PER_KM2,
    "closing_m": CLOSING_M,
    "opening_m": OPENING_M,
    "fill_holes_km2": FILL_HOLES_KM2,
    "min_patch_km2": MIN_PATCH_KM2,
    "classes": None,
}
"""Keyword parameters of :func:`built_up_from_roads` and their defaults."""

LANDUSE_PARAMS: dict[str, Any] = {
    "urban_landuse": URBAN_LANDUSE,
    "building_buffer_m": BUILDING_BUFFER_M,
    "closing_m": LANDUSE_CLOSING_M,
    "fill_holes_km2": LANDUSE_FILL_HOLES_KM2,
    "min_patch_km2": LANDUSE_MIN_PATCH_KM2,
}
"""Keyword parameters of :func:`built_up_from_landuse` and their defaults."""

MISSING = (
    "an official built-up area layer (recipe layers.built_up), or OSM land use / buildings "
    "(layers.osm), or a roads layer with road_class (layers.roads)"
)


# --------------------------------------------------------------------------- helpers


def _unit_series(unit_m: shapely.Geometry, crs: pyproj.CRS) -> gpd.GeoSeries:
    """The (already metric) unit geometry as a one-row GeoSeries labelled with its CRS."""
    return gpd.GeoSeries([unit_m], crs=crs)


def _empty_patches(crs: Any = WGS84) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "patch_id": np.array([], dtype="int64"),
            "area_km2": np.array([], dtype="float64"),
            "method": np.array([], dtype="object"),
        },
        geometry=gpd.GeoSeries([], crs=crs),
        crs=crs,
    )


def _fill_small_holes(polys: np.ndarray, max_hole_m2: float) -> np.ndarray:
    """Each polygon with its interior rings of area < ``max_hole_m2`` (m²) removed, i.e. filled."""
    if max_hole_m2 <= 0 or len(polys) == 0:
        return polys
    out = np.empty(len(polys), dtype=object)
    for i, p in enumerate(polys):
        rings = list(p.interiors)
        keep = [r for r in rings if shapely.Polygon(r).area >= max_hole_m2]
        out[i] = p if len(keep) == len(rings) else shapely.Polygon(p.exterior, keep)
    return out


def _closing(geom: shapely.Geometry, closing_m: float) -> shapely.Geometry:
    """Morphological closing: buffer by +``closing_m`` then by −``closing_m`` (metres)."""
    if closing_m <= 0 or geom.is_empty:
        return geom
    return shapely.buffer(shapely.buffer(geom, closing_m, quad_segs=8), -closing_m, quad_segs=8)


def _opening(geom: shapely.Geometry, opening_m: float) -> shapely.Geometry:
    """Morphological opening: buffer by −``opening_m`` then +``opening_m`` (metres).

    Removes strips narrower than 2 × ``opening_m`` (ribbons along single roads).
    """
    if opening_m <= 0 or geom.is_empty:
        return geom
    return shapely.buffer(shapely.buffer(geom, -opening_m, quad_segs=8), opening_m, quad_segs=8)


def _finish_patches(
    geom: shapely.Geometry,
    unit_m: shapely.Geometry,
    crs: pyproj.CRS,
    *,
    closing_m: float,
    opening_m: float,
    fill_holes_km2: float,
    min_patch_km2: float,
    method: str,
) -> gpd.GeoDataFrame:
    """Close, open, fill small holes, clip to the unit, split into patches, drop small ones.

    ``geom`` and ``unit_m`` are in the metric ``crs``.  Returns WGS84 patches with
    ``patch_id``, ``area_km2`` (measured in the metric CRS) and ``method``, sorted by area
    (largest first; ties by the south-west corner), so order and ids are deterministic.
    """
    shaped = _opening(_closing(geom, closing_m), opening_m)
    polys = _fill_small_holes(polygon_parts(shaped), fill_holes_km2 * 1e6)
    if len(polys) == 0:
        return _empty_patches()
    parts = polygon_parts(shapely.intersection(shapely.union_all(polys), unit_m))
    if len(parts) == 0:
        return _empty_patches()
    area_km2 = shapely.area(parts) / 1e6
    keep = area_km2 >= min_patch_km2
    parts, area_km2 = parts[keep], area_km2[keep]
    if len(parts) == 0:
        return _empty_patches()
    b = shapely.bounds(parts)
    order = np.lexsort((b[:, 1], b[:, 0], -area_km2))
    out = gpd.GeoDataFrame(
        {"patch_id": np.arange(len(parts), dtype="int64"), "area_km2": area_km2[order], "method": method},
        geometry=gpd.GeoSeries(parts[order], crs=crs),
        crs=crs,
    )
    return out.to_crs(WGS84)


def built_up_from_roads(
    roads: gpd.GeoDataFrame,
    unit_boundary: Any,
    crs: Any = None,
    *,
    cell_m: float = CELL_M,
    window_m: float = WINDOW_M,
    threshold_km_per_km2: float = THRESHOLD_KM_PER_KM2,
    closing_m: float = CLOSING_M,
    opening_m: float = OPENING_M,
    fill_holes_km2: float = FILL_HOLES_KM2,
    min_patch_km2: float = MIN_PATCH_KM2,
    classes: Iterable[str] | None = None,
) -> gpd.GeoDataFrame:
    """Candidate built-up patches derived from road length density (WGS84 GeoDataFrame).

    Steps (all in the metric ``crs``, metres):

    1. road length per ``cell_m`` square cell (:func:`road_density_grid`; exact cut of
       every segment at the grid lines);
    2. density averaged over a ``window_m`` square window centred on each cell (rounded to
       an odd number of cells; ``window_m`` = ``cell_m`` means no smoothing), so a single
       road through open country (≈ 1.3 km/km² over 750 m) does not pass while a street
       grid does;
    3. cells with window density ≥ ``threshold_km_per_km2`` (km/km²) are kept;
    4. morphological closing (buffer +``closing_m`` then −``closing_m``), then opening
       (−``opening_m`` then +``opening_m``: removes ribbons narrower than 2 × ``opening_m``);
    5. holes smaller than ``fill_holes_km2`` filled;
    6. clipped to the unit boundary; patches smaller than ``min_patch_km2`` dropped.

    ``roads`` should cover the unit plus a halo (e.g. 2 km) so that cells at the border see
    the roads beyond it.  ``classes``: road classes to count (None = all, the default:
    internal roads mark built-up compounds in office road layers).

    **Circularity:** the patch is derived from road presence, so any road density measured
    inside it is biased upward; the ``method`` column says so, and an official built-up
    layer should replace it.

    Returns columns ``patch_id`` (0 = largest), ``area_km2`` (km², measured in ``crs``),
    ``method``; empty when nothing passes.  Defaults are calibrated on Kunming's road
    layer (module docstring).
    """
    crs = unit_metric_crs(unit_boundary, crs)
    unit_m = unit_polygon_m(unit_boundary, crs)
    k = window_cells(window_m, cell_m)
    grid = road_density_grid(roads, unit_boundary, crs, cell_m=cell_m, classes=classes, margin_cells=k // 2)
    cls = "all classes" if classes is None else "classes " + ", ".join(sorted(set(classes)))
    method = (
        f"derived from roads ({cls}): road length per {cell_m:g} m cell averaged over a "
        f"{k * cell_m:g} m window, cells ≥ {threshold_km_per_km2:g} km/km² kept, closed by "
        f"{closing_m:g} m and opened by {opening_m:g} m (buffer ±), holes < {fill_holes_km2:g} km² "
        f"filled, clipped to the unit, patches < {min_patch_km2:g} km² dropped; {CIRCULARITY}"
    )
    geom = mask_to_geometry(grid, grid.passing(threshold_km_per_km2, k))
    return _finish_patches(
        geom,
        unit_m,
        crs,
        closing_m=closing_m,
        opening_m=opening_m,
        fill_holes_km2=fill_holes_km2,
        min_patch_km2=min_patch_km2,
        method=method,
    )


# --------------------------------------------------------------------------- land use + buildings


def built_up_from_landuse(
    landuse: gpd.GeoDataFrame | None,
    buildings: gpd.GeoDataFrame | None,
    unit_boundary: Any,
    crs: Any = None,
    *,
    urban_landuse: Iterable[str] = URBAN_LANDUSE,
    building_buffer_m: float = BUILDING_BUFFER_M,
    closing_m: float = LANDUSE_CLOSING_M,
    fill_holes_km2: float = LANDUSE_FILL_HOLES_KM2,
    min_patch_km2: float = LANDUSE_MIN_PATCH_KM2,
) -> gpd.GeoDataFrame:
    """Candidate built-up patches from urban land use and buildings (WGS84 GeoDataFrame).

    Urban land use = ``landuse`` rows whose ``landuse`` value (case-insensitive) is in
    ``urban_landuse``; each building footprint is buffered by ``building_buffer_m`` metres
    (the building plus its plot).  Their union is closed by ``closing_m`` metres (buffer
    +/−, bridging streets and yards narrower than 2 × ``closing_m``), holes smaller than
    ``fill_holes_km2`` km² are filled, the result is clipped to the unit and patches under
    ``min_patch_km2`` km² are dropped.  Either layer may be None or empty.  OSM land use is
    often incomplete, so the patch is the *mapped* built-up area.

    Returns columns ``patch_id`` (0 = largest), ``area_km2`` (km²), ``method``.
    """
    crs = unit_metric_crs(unit_boundary, crs)
    unit_m = unit_polygon_m(unit_boundary, crs)
    wanted = sorted({str(v).strip().lower() for v in urban_landuse})
    pieces: list[np.ndarray] = []
    if not is_empty_layer(landuse):
        if "landuse" not in landuse.columns:
            raise KmgisError("built-up area: the landuse layer has no 'landuse' column")
        vals = landuse["landuse"].astype("string").str.strip().str.lower()
        lu = landuse[vals.isin(wanted).fillna(False).to_numpy()]
        if len(lu):
            g = np.asarray(lu.geometry.to_crs(crs).values, dtype=object)
            pieces.append(shapely.make_valid(g))
    if not is_empty_layer(buildings):
        g = np.asarray(buildings.geometry.to_crs(crs).values, dtype=object)
        pieces.append(shapely.buffer(shapely.make_valid(g), building_buffer_m, quad_segs=4))
    method = (
        f"derived from land use ({', '.join(wanted)}) and buildings buffered by {building_buffer_m:g} m: "
        f"union closed by {closing_m:g} m (buffer ±), holes < {fill_holes_km2:g} km² filled, clipped to "
        f"the unit, patches < {min_patch_km2:g} km² dropped; mapped land use only (OSM is often incomplete)"
    )
    if not pieces:
        return _empty_patches()
    geoms = np.concatenate(pieces)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    polys = polygon_parts(shapely.union_all(geoms)) if len(geoms) else np.array([], dtype=object)
    if len(polys) == 0:
        return _empty_patches()
    return _finish_patches(
        shapely.union_all(polys),
        unit_m,
        crs,
        closing_m=closing_m,
        opening_m=0.0,
        fill_holes_km2=fill_holes_km2,
        min_patch_km2=min_patch_km2,
        method=method,
    )


# --------------------------------------------------------------------------- selection


def select_patch(patches: gpd.GeoDataFrame, seat_point_wgs84: tuple[float, float] | None) -> gpd.GeoDataFrame:
    """The one patch of the county seat: one row of ``patches`` (same CRS) with a ``rule`` column.

    ``seat_point_wgs84``: (lon, lat) in WGS84 degrees, or None.  Rules, in order:

    1. the patch containing the seat point;
    2. else the patch nearest to it if within :data:`SEAT_SNAP_M` (1,000 m; seat points
       from encyclopaedias are often only good to 0.5–2 km);
    3. else (or with no seat point) the largest patch.

    ``rule`` states which rule applied (with the distance in metres where relevant) and is
    appended to ``method``.  Distances are measured in the metric CRS of the patches
    (:func:`kmgis.crs.metric_crs`).  An empty ``patches`` gives an empty frame.
    """
    if len(patches) == 0:
        out = patches.iloc[0:0].copy()
        out["rule"] = np.array([], dtype=object)
        return out
    crs = metric_crs(patches)
    pm = patches.to_crs(crs)
    area = shapely.area(np.asarray(pm.geometry.values, dtype=object))
    largest = int(np.argmax(area))
    if seat_point_wgs84 is None:
        i, rule = largest, "largest patch (no seat point given)"
    else:
        lon, lat = (float(v) for v in seat_point_wgs84)
        pt = gpd.GeoSeries([shapely.Point(lon, lat)], crs=WGS84).to_crs(crs).iloc[0]
        dist = shapely.distance(np.asarray(pm.geometry.values, dtype=object), pt)
        j = int(np.argmin(dist))
        where = f"seat point ({lon:.5f}, {lat:.5f})"
        if dist[j] == 0:
            i, rule = j, f"patch containing the {where}"
        elif dist[j] <= SEAT_SNAP_M:
            i, rule = j, f"patch nearest to the {where}, {dist[j]:.0f} m away (≤ {SEAT_SNAP_M:g} m)"
        else:
            i, rule = largest, (
                f"largest patch: the {where} is {dist[j]:.0f} m from the nearest patch (> {SEAT_SNAP_M:g} m)"
            )
    out = patches.iloc[[i]].copy()
    out["rule"] = rule
    out["method"] = out["method"].astype(str) + "; selected: " + rule
    return out


# --------------------------------------------------------------------------- top level


def _merge_params(defaults: Mapping[str, Any], given: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """``defaults`` updated with the non-None values of ``given``; unknown keys are an error."""
    out = dict(defaults)
    for key, value in (given or {}).items():
        if key not in defaults:
            raise KmgisError(
                f"built-up area: unknown {what} parameter {key!r}; expected one of {', '.join(defaults)}"
            )
        if value is not None:
            out[key] = value
    return out


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, (tuple, set, frozenset)) else v) for k, v in params.items()}


def _official_patch(official: gpd.GeoDataFrame, unit_m: shapely.Geometry, crs: pyproj.CRS) -> gpd.GeoDataFrame:
    if official.crs is None:
        raise KmgisError("built-up area: the official built-up layer has no CRS")
    g = np.asarray(official.geometry.to_crs(crs).values, dtype=object)
    g = shapely.make_valid(g[~(shapely.is_missing(g) | shapely.is_empty(g))])
    polys = polygon_parts(shapely.intersection(shapely.union_all(g), unit_m)) if len(g) else np.array([])
    if len(polys) == 0:
        return _empty_patches()
    geom = shapely.union_all(polys)
    method = "official built-up layer supplied by the user, clipped to the unit (all its parts kept)"
    out = gpd.GeoDataFrame(
        {"patch_id": [0], "area_km2": [float(geom.area) / 1e6], "method": [method]},
        geometry=gpd.GeoSeries([geom], crs=crs),
        crs=crs,
    ).to_crs(WGS84)
    out["rule"] = "official layer: all parts inside the unit"
    return out


@dataclass(frozen=True)
class _FoundPatch:
    """The built-up patch found from one source, before it is recorded."""

    patch: gpd.GeoDataFrame  # one row (WGS84) with ``rule``
    source: str  # official, landuse or roads
    inputs: tuple[str, ...]  # the model layers used
    params: dict[str, Any]  # the source's parameter values
    candidates: gpd.GeoDataFrame  # every candidate patch (WGS84)


def _from_official(official: gpd.GeoDataFrame, unit_m: shapely.Geometry, crs: pyproj.CRS) -> _FoundPatch | None:
    """The official layer's parts inside the unit, or None when there are none."""
    patch = _official_patch(official, unit_m, crs)
    return _FoundPatch(patch, "official", ("built_up",), {}, patch) if len(patch) else None


def _from_landuse(
    landuse: gpd.GeoDataFrame | None,
    buildings: gpd.GeoDataFrame | None,
    unit_m: shapely.Geometry,
    crs: pyproj.CRS,
    landuse_params: Mapping[str, Any] | None,
    seat_point: tuple[float, float] | None,
) -> _FoundPatch | None:
    """The seat's patch of :func:`built_up_from_landuse`, or None when no patch passes."""
    p = _merge_params(LANDUSE_PARAMS, landuse_params, "land-use")
    cands = built_up_from_landuse(landuse, buildings, _unit_series(unit_m, crs), crs, **p)
    if not len(cands):
        return None
    inputs = tuple(n for n, g in (("landuse", landuse), ("buildings", buildings)) if not is_empty_layer(g))
    return _FoundPatch(select_patch(cands, seat_point), "landuse", inputs, p, cands)


def _from_roads(
    roads: gpd.GeoDataFrame,
    unit_m: shapely.Geometry,
    crs: pyproj.CRS,
    road_params: Mapping[str, Any] | None,
    seat_point: tuple[float, float] | None,
) -> _FoundPatch | None:
    """The seat's patch of :func:`built_up_from_roads`, or None when no cell passes."""
    p = _merge_params(ROAD_PARAMS, road_params, "road")
    cands = built_up_from_roads(roads, _unit_series(unit_m, crs), crs, **p)
    if not len(cands):
        return None
    return _FoundPatch(select_patch(cands, seat_point), "roads", ("roads",), p, cands)


def _recorded(found: _FoundPatch, base: dict[str, Any], tried: list[str], scope: str) -> Result:
    """The ``built_up_area_km2`` record (km²) of a found patch, the patch (with ``source``) as layer ``built_up``."""
    cands = found.candidates
    n, total = len(cands), float(cands["area_km2"].sum())
    patch = found.patch.copy()
    patch["source"] = found.source
    rec = dict(base, source=found.source, **_jsonable(found.params), rule=str(patch["rule"].iloc[0]),
               candidate_patches=n, candidate_total_km2=total, sources_without_patch=list(tried))
    ind = Indicator(INDICATOR, float(patch["area_km2"].iloc[0]), UNIT, scope,
                    str(patch["method"].iloc[0]), found.inputs, rec)
    patch = patch.reset_index(drop=True)
    patch.attrs["candidates"] = cands  # every candidate patch (WGS84), e.g. the towns of a county
    return Result([ind], layers={"built_up": patch})


def _not_found(base: dict[str, Any], tried: list[str], scope: str) -> Result:
    """A ``no data`` record naming what to supply and the sources tried; an empty ``built_up`` layer."""
    why = f"; tried: {', '.join(tried)}" if tried else ""
    ind = no_data(INDICATOR, UNIT, scope, MISSING, method=f"not computed: no usable input{why}", **base)
    empty = _empty_patches()
    empty["rule"] = np.array([], dtype=object)
    empty["source"] = np.array([], dtype=object)
    return Result([ind], layers={"built_up": empty})


def built_up_area(
    unit_boundary: Any,
    *,
    roads: gpd.GeoDataFrame | None = None,
    landuse: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    official: gpd.GeoDataFrame | None = None,
    seat_point: tuple[float, float] | None = None,
    crs: Any = None,
    scope: str = "built-up area of the unit",
    road_params: Mapping[str, Any] | None = None,
    landuse_params: Mapping[str, Any] | None = None,
) -> Result:
    """The built-up patch of a unit and the ``built_up_area_km2`` indicator (km²).

    Source, in order, the first that is given (non-empty) and yields a patch:

    1. ``official``: an official built-up layer (any CRS) — clipped to the unit, all its
       parts kept (an official 建成区 may have several parts);
    2. ``landuse`` and/or ``buildings`` (model layers): :func:`built_up_from_landuse`
       with ``landuse_params`` (keys of :data:`LANDUSE_PARAMS`);
    3. ``roads``: :func:`built_up_from_roads` with ``road_params`` (keys of
       :data:`ROAD_PARAMS`; None values mean the default, so a recipe's
       ``parameters.builtup`` can be passed as is).

    For sources 2 and 3 one patch is kept with :func:`select_patch` and ``seat_point``.
    Several units (the central city) are merged and processed as one area, so the result is
    one contiguous patch: the union of all candidate patches that touch or overlap the
    patch around the seat/centre after closing.

    Parameters
    ----------
    unit_boundary : GeoDataFrame, GeoSeries or shapely geometry (WGS84)
        The unit(s).
    roads, landuse, buildings, official : GeoDataFrame or None
        The sources above.
    seat_point : (lon, lat) in WGS84 degrees, optional
        The county seat, or for the central city the centre point.
    crs : pyproj.CRS, str or None
        Metric CRS (None: UTM zone of the boundary).
    scope : str
        Text for the record's ``scope``.
    road_params, landuse_params : mapping, optional
        Parameters of the road and land-use sources.

    Returns
    -------
    Result
        ``layers["built_up"]`` is the patch, a one-row WGS84 GeoDataFrame (columns
        ``patch_id``, ``area_km2``, ``method``, ``rule``, ``source``; ``attrs["candidates"]``
        every candidate patch), and the one record ``built_up_area_km2`` (km²) has ``params`` recording
        the source, every parameter value, the seat point, the selection rule, the metric
        CRS and the number and total area (km²) of candidate patches.  With no usable input
        the record is ``no data`` naming what to supply, and the patch frame is empty.
    """
    mcrs = unit_metric_crs(unit_boundary, crs)
    unit_m = unit_polygon_m(unit_boundary, mcrs)
    base: dict[str, Any] = {
        "metric_crs": mcrs.to_string(),
        "seat_point_wgs84": list(seat_point) if seat_point is not None else None,
        "seat_snap_m": SEAT_SNAP_M,
    }
    tried: list[str] = []
    found = None
    if not is_empty_layer(official):
        found = _from_official(official, unit_m, mcrs)
        if found is None:
            tried.append("official (nothing inside the unit)")
    if found is None and not (is_empty_layer(landuse) and is_empty_layer(buildings)):
        found = _from_landuse(landuse, buildings, unit_m, mcrs, landuse_params, seat_point)
        if found is None:
            tried.append("landuse/buildings (no patch)")
    if found is None and not is_empty_layer(roads):
        found = _from_roads(roads, unit_m, mcrs, road_params, seat_point)
        if found is None:
            tried.append("roads (no cell passed the threshold)")
    if found is None:
        return _not_found(base, tried, scope)
    return _recorded(found, base, tried, scope)
