"""Map layers of park service-radius coverage: parks by size class, their straight-line service areas, and
the residents the buffer counts as served who cannot walk there (the gap).

Drawn with the one map builder (:class:`kmgis.outputs.maps.WebMap`) from what
:func:`kmgis.indicators.park_service.park_service_coverage` returns: its layers
``park_service_parks`` (merged parks with ``park_class``, ``area_m2``, ``radius_m``) and
``park_service_areas`` (one service area per class), and its per-resident table joined to the
resident points (``park_service_straight_class``, ``park_service_walk_class``,
``park_service_straight_m``, ``park_service_walk_m``).  All text goes through the builder
(tooltips via ``textContent``, legends escaped).
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np

from kmgis.outputs.maps import (
    NODATA_COLOUR,
    WebMap,
    geojson_of,
    layer_options,
    legend_note,
    legend_row,
    swatch_dot,
    swatch_fill,
)

AREA_Z = 362
"""Drawing rank of the service areas (above the access grid, 360, under the green space, 370)."""
PARK_Z = 376
"""Drawing rank of the classed parks (just above the parks layer, 375)."""
RESIDENT_Z = 428
"""Drawing rank of the resident points (under the facilities, 430)."""
CLASS_COLOURS = ["#006d2c", "#74c476", "#bae4b3", "#238b45"]
"""Colours of the size classes, in the order of the classes (largest radius first)."""
STATUS_COLOURS = {"both": "#2171b5", "straight_only": "#d7301f", "neither": "#525252"}
STATUS_LABELS = {"both": "直线与步行均覆盖 covered on foot and in a straight line",
                 "straight_only": "仅直线覆盖 covered in a straight line only (the gap)",
                 "neither": "均未覆盖 not covered"}


def _class_colours(parks: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> dict[str, str]:
    """Class name → colour, classes in the service areas' order (then any other named class)."""
    names = list(dict.fromkeys([*areas.get("park_class", []), *parks.get("park_class", [])]))
    names = [n for n in names if isinstance(n, str) and n]
    return {n: CLASS_COLOURS[i % len(CLASS_COLOURS)] for i, n in enumerate(names)}


def add_park_service(wm: WebMap, parks: gpd.GeoDataFrame, areas: gpd.GeoDataFrame,
                     residents: gpd.GeoDataFrame | None = None) -> list[object]:
    """Add the service areas, the classed parks and (given residents) the coverage of each resident.

    Parameters
    ----------
    wm : the map being built.
    parks : ``park_service_parks`` (any CRS): ``park_class`` (``""``: below every class), ``area_m2``, ``radius_m``.
    areas : ``park_service_areas``: ``park_class``, ``radius_m``, ``parks``, ``area_km2``.
    residents : resident points with the per-resident columns of ``park_service_coverage``, or None.

    Returns
    -------
    list
        The groups added (for tests and legends).
    """
    colours = _class_colours(parks, areas)
    groups = []
    if len(areas):
        lay = areas.sort_values("radius_m", ascending=False)
        opts = layer_options(AREA_Z, style={"color": "#31a354", "weight": 1, "fillOpacity": 0.12},
                             title="公园服务半径范围（直线） park service area (straight line)",
                             tip=[["规模分级 class", "park_class", "", None], ["服务半径 radius", "radius_m", "m", 0],
                                  ["公园数 parks", "parks", "", 0], ["面积 area", "area_km2", "km²", 2]])
        opts |= {"colorKey": "park_class", "colors": colours}
        fg = wm.add_layer("公园服务半径范围 Park service areas (straight line)",
                          geojson_of(wm.prepare(lay, "park_service_areas"),
                                     {"park_class": None, "radius_m": 0, "parks": 0, "area_km2": 2}), opts,
                          show=False)  # large buffers: on request, so the map opens readable
        rows = [legend_row(swatch_fill(colours.get(r.park_class, NODATA_COLOUR), 0.25),
                           f"{r.park_class}: {r.radius_m:g} m, {int(r.parks)} parks, {r.area_km2:,.2f} km²")
                for r in lay.itertuples()]
        wm.add_legend(fg, "公园服务半径 Park service radius", rows,
                      note="buffers of the park outlines, as the indicator is officially measured")
        groups.append(fg)
    if len(parks):
        groups.append(_add_parks(wm, parks, colours))
    if residents is not None and len(residents) and "park_service_straight_class" in residents.columns:
        groups.append(_add_residents(wm, residents))
    return groups


def _add_parks(wm: WebMap, parks: gpd.GeoDataFrame, colours: dict[str, str]) -> object:
    """The merged parks coloured by size class; parks below every class grey."""
    lay = parks.copy()
    lay["park_class"] = lay["park_class"].fillna("").astype(str)
    opts = layer_options(PARK_Z, style={"color": "#00441b", "weight": 1, "fillColor": NODATA_COLOUR,
                                        "fillOpacity": 0.6},
                         title="公园（按规模分级） park by size class",
                         tip=[["规模分级 class", "park_class", "", None], ["面积 area", "area_m2", "m²", 0],
                              ["服务半径 radius", "radius_m", "m", 0]])
    opts |= {"colorKey": "park_class", "colors": colours}
    fg = wm.add_layer("公园规模分级 Parks by size class",
                      geojson_of(wm.prepare(lay, "park_service_parks"), {"park_class": None, "area_m2": 0,
                                                                          "radius_m": 0}), opts)
    rows = [legend_row(swatch_fill(c, 0.6), f"{n}: {int((lay['park_class'] == n).sum())}") for n, c in colours.items()]
    below = int((lay["park_class"] == "").sum())
    rows.append(legend_row(swatch_fill(NODATA_COLOUR, 0.6), f"below every class 未达分级: {below}"))
    wm.add_legend(fg, "公园规模 Park size class", rows)
    return fg


def coverage_status(residents: gpd.GeoDataFrame) -> np.ndarray:
    """``both`` / ``straight_only`` / ``neither`` per resident, from the covering-class columns.

    >>> import pandas as pd
    >>> coverage_status(pd.DataFrame({"park_service_straight_class": ["a", "a", ""],
    ...                               "park_service_walk_class": ["a", "", ""]})).tolist()
    ['both', 'straight_only', 'neither']
    """
    s = residents["park_service_straight_class"].fillna("").astype(str).to_numpy() != ""
    w = residents["park_service_walk_class"].fillna("").astype(str).to_numpy() != ""
    return np.where(w, "both", np.where(s, "straight_only", "neither"))


def _add_residents(wm: WebMap, residents: gpd.GeoDataFrame) -> object:
    """Resident points coloured by coverage: on foot, in a straight line only (the gap), neither."""
    lay = residents.copy()
    lay["status"] = coverage_status(lay)
    for col in ("park_service_straight_m", "park_service_walk_m"):
        if col in lay.columns:
            lay[col] = [None if not (isinstance(v, float) and math.isfinite(v)) else v for v in lay[col]]
    props = {"status": None, "population": 0, "park_service_straight_m": 0, "park_service_walk_m": 0}
    props = {k: v for k, v in props.items() if k in lay.columns}
    opts = layer_options(RESIDENT_Z, style={"radius": 3, "color": "#ffffff", "weight": 0.5, "fillOpacity": 0.9},
                         title="居民点 resident point",
                         tip=[["覆盖 coverage", "status", "", None], ["人口 population", "population", "persons", 0],
                              ["直线距离 straight", "park_service_straight_m", "m", 0],
                              ["步行距离 walk", "park_service_walk_m", "m", 0]])
    opts |= {"colorKey": "status", "colors": STATUS_COLOURS}
    fg = wm.add_layer("公园服务覆盖（居民） Park service coverage of residents",
                      geojson_of(wm.prepare(lay, "park_service_residents"), props), opts, show=False)
    rows = [legend_row(swatch_dot(STATUS_COLOURS[k]), f"{STATUS_LABELS[k]}: {int((lay['status'] == k).sum()):,}")
            for k in STATUS_COLOURS]
    wm.add_legend(fg, "公园服务覆盖 Park service coverage", [*rows, legend_note(
        "walking distances beyond a class's radius are not searched (blank)")])
    return fg
