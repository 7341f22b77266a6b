"""The roads layer and the area as inputs of the road indicators: city-road classes, one-way
signs, line parts and the area in a metric CRS.

* **City roads** are the rows of the ``roads`` layer whose ``road_class`` has
  ``city_road: true`` in ``layers/road_classes.yaml`` (expressway, arterial, sub-arterial,
  branch — GB/T 51328 快速路/主干路/次干路/支路).  Compound-internal roads (``internal``,
  内部道路) are added only when asked (``include_internal=True``); paths never count.
* The class table is read once, when this module is imported (:data:`ROAD_CLASSES`);
  the indicators read no YAML when they run.

Lengths are metres, in the projected metric CRS the caller gives (checked with
:func:`kmgis.geom.projected_crs`).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.geom import is_empty_layer, projected_crs
from kmgis.model import ROAD_CLASSES as MODEL_ROAD_CLASSES
from kmgis.model import WGS84, normalise_road_classes

AreaLike = shapely.Geometry | gpd.GeoSeries | gpd.GeoDataFrame
"""An area: a shapely (Multi)Polygon in WGS84, or a GeoSeries/GeoDataFrame in any CRS."""

ROADS_INPUT = "roads"
"""Name of the roads layer in the records' ``inputs`` and ``missing``."""

ROAD_INDICATORS = "road indicators"
"""What needs a metric CRS, in the error message of :func:`kmgis.geom.projected_crs`."""

ROAD_CLASSES: dict[str, dict[str, Any]] = MODEL_ROAD_CLASSES
"""``layers/road_classes.yaml: classes`` (read at import, :mod:`kmgis.model`), highest class first."""

CLASS_RANK: dict[str, int] = {name: k for k, name in enumerate(ROAD_CLASSES)}


def city_road_classes(*, include_internal: bool = False) -> list[str]:
    """The ``road_class`` values counted as city roads, in ``road_classes.yaml`` order.

    Parameters
    ----------
    include_internal : bool
        Append ``internal`` (compound-internal roads, 内部道路).

    Returns
    -------
    list of str
        The class names (``city_road: true``), e.g. expressway, arterial, sub-arterial, branch.
    """
    out = [name for name, spec in ROAD_CLASSES.items() if spec.get("city_road")]
    if include_internal:
        out.append("internal")
    return out


def indicator_slug(road_class: str) -> str:
    """``sub-arterial`` → ``sub_arterial`` (ASCII ids with underscores)."""
    return road_class.replace("-", "_").replace(" ", "_")


def metric_crs_of(crs: pyproj.CRS | str | None, area: AreaLike | None, roads: gpd.GeoDataFrame | None) -> pyproj.CRS:
    """``crs`` checked to be metric; None: the area's own CRS if it is metric, else its UTM zone (else the
    roads'): EPSG:32648 in Kunming."""
    if crs is None:
        if area is None and is_empty_layer(roads):
            raise KmgisError("road indicators: give a metric crs (e.g. EPSG:32648) when there is no area and no roads")
        base = roads if area is None else area
        if isinstance(base, shapely.Geometry):
            base = gpd.GeoSeries([base], crs=WGS84)
        own = pyproj.CRS.from_user_input(base.crs) if base.crs is not None else None
        metric = own is not None and own.is_projected and {a.unit_name for a in own.axis_info} <= {"metre", "meter"}
        crs = own if metric else metric_crs(base)
    return projected_crs(crs, ROAD_INDICATORS)


def has_road_classes(roads: gpd.GeoDataFrame | None) -> bool:
    """True for a roads layer with rows and a ``road_class`` column."""
    return not is_empty_layer(roads) and "road_class" in roads.columns


def area_polygon_m(area: AreaLike | None, crs: pyproj.CRS) -> shapely.Geometry | None:
    """``area`` as one prepared polygon in the metric ``crs`` (coordinates in metres).

    Parameters
    ----------
    area : shapely geometry in WGS84 (lon/lat degrees), or GeoSeries/GeoDataFrame in any CRS
        The area; only its polygonal parts count.
    crs : pyproj.CRS
        The projected metric CRS.

    Returns
    -------
    shapely.Geometry or None
        The (Multi)Polygon in ``crs``; None for a missing, empty or zero-area geometry.
    """
    if area is None:
        return None
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        if len(area) == 0:
            return None
        if area.crs is None:
            raise KmgisError("area has no CRS; set one (the built-up area is normally WGS84)")
        geom = gpd.GeoSeries(area.geometry, crs=area.crs).to_crs(crs).union_all()
    else:
        if not isinstance(area, shapely.Geometry):
            raise KmgisError(
                f"area must be a shapely (Multi)Polygon in WGS84 or a GeoDataFrame, got {type(area)}"
            )
        if area.is_empty:
            return None
        minx, miny, maxx, maxy = area.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise KmgisError(f"area polygon is not in WGS84 lon/lat degrees (bounds {area.bounds})")
        geom = gpd.GeoSeries([area], crs=WGS84).to_crs(crs).iloc[0]
    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = shapely.get_parts(geom)
    geom = shapely.union_all(parts[shapely.get_type_id(parts) == 3])
    if geom.is_empty or geom.area <= 0:
        return None
    shapely.prepare(geom)
    return geom


def oneway_sign(roads: gpd.GeoDataFrame) -> np.ndarray:
    """+1 (travel along the geometry), -1 (against it), 0 two-way or unknown, per row (int8)."""
    if "oneway" not in roads.columns:
        return np.zeros(len(roads), dtype=np.int8)
    ow = pd.to_numeric(roads["oneway"], errors="coerce").astype("Float64").fillna(0).to_numpy(dtype=float)
    return np.where(ow > 0, 1, np.where(ow < 0, -1, 0)).astype(np.int8)


def line_parts_m(roads: gpd.GeoDataFrame, crs: pyproj.CRS) -> tuple[np.ndarray, np.ndarray]:
    """Single LineString parts of every row in the metric ``crs`` and the row position of each part.

    Empty and zero-length parts are dropped.
    """
    geoms = np.asarray(roads.geometry.to_crs(crs).values)
    parts, row = shapely.get_parts(geoms, return_index=True)
    keep = ~shapely.is_empty(parts) & (shapely.length(parts) > 0)
    return parts[keep], row[keep]


def city_roads(roads: gpd.GeoDataFrame, *, include_internal: bool = False) -> gpd.GeoDataFrame:
    """The rows of ``roads`` counted as city roads (index kept, input order).

    City roads are the classes with ``city_road: true`` in ``layers/road_classes.yaml``
    (expressway, arterial, sub-arterial, branch); ``include_internal=True`` adds the
    ``internal`` class (compound-internal roads, 内部道路).  Paths never count.
    """
    if not has_road_classes(roads):
        return roads.iloc[0:0] if roads is not None else gpd.GeoDataFrame(geometry=[], crs=WGS84)
    return roads[roads["road_class"].isin(city_road_classes(include_internal=include_internal))]


def road_indicator_inputs(
    roads: gpd.GeoDataFrame | None, area: AreaLike | None, crs: pyproj.CRS, include_internal: bool
) -> tuple[gpd.GeoDataFrame | None, shapely.Geometry | None, str | None]:
    """The city roads and the area in ``crs`` (metres), or what to supply.

    Returns
    -------
    (city roads, area polygon in metres, None) when both are usable, else
    (None, None, what to supply): the roads layer, city-road classes, or the built-up area polygon.
    """
    if not has_road_classes(roads):
        return None, None, ROADS_INPUT
    roads, _ = normalise_road_classes(roads)
    city = city_roads(roads, include_internal=include_internal)
    if len(city) == 0:
        classes = ", ".join(city_road_classes(include_internal=include_internal))
        return None, None, f"{ROADS_INPUT} (with city-road classes: {classes})"
    area_m = area_polygon_m(area, crs)
    if area_m is None:
        return None, None, "built-up area polygon"
    return city, area_m, None
