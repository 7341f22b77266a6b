"""Map layer of the GHSCI walkability grid (:func:`kmgis.indicators.walkability.walkability_index`).

Drawn with the one map builder (:class:`kmgis.outputs.maps.WebMap`): the cells coloured by the
walkability index (sum of z-scores, diverging around the area's mean 0), or — when the daily-living
component is absent (no facilities) — by the two-component index, labelled as **not** the GHSCI
index; cells not sampled (fewer residents than the threshold, or a centre far from the network)
are grey.  The tooltip gives the components with their units.  All text goes through the builder.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from kmgis.outputs.maps import NODATA_COLOUR, WebMap, geojson_of, layer_options, legend_row, swatch_fill

WALKABILITY_Z = 358
"""Drawing rank of the grid (just under the access grid, 360)."""
BREAKS = [-3.0, -1.5, -0.5, 0.5, 1.5, 3.0]
"""Class limits in z units (a value ≤ a limit takes its colour; above the last, the last colour)."""
COLOURS = ["#b2182b", "#ef8a62", "#fddbc7", "#f7f7f7", "#d1e5f0", "#67a9cf", "#2166ac"]
"""Red (less walkable than the area's mean) to blue (more walkable)."""

_TIP = [["交叉口密度 intersections", "intersection_density_per_km2", "/km²", 1],
        ["人口密度 population density", "population_density_per_km2", "persons/km² 人/平方公里", 0],
        ["日常生活设施 daily living", "daily_living_score", "of 3", 0],
        ["步行指数 walkability (GHSCI)", "walkability_index", "z", 2],
        ["两项指数 2-component (not GHSCI)", "walkability_index_2c", "z", 2],
        ["25城参照 vs 25 cities", "walkability_index_25city", "z", 2],
        ["居民 residents", "population", "", 0]]


def add_walkability_grid(wm: WebMap, grid: gpd.GeoDataFrame, *, show: bool = False) -> object | None:
    """Add the walkability grid as one toggleable layer with a legend; returns its group (None if empty).

    Parameters
    ----------
    wm : the map being built.
    grid : ``layers["walkability_grid"]`` of the walkability Result (WGS84 cells).
    show : switched on when the map opens.
    """
    if grid is None or len(grid) == 0:
        return None
    ghsci = bool(np.isfinite(grid["walkability_index"].to_numpy(dtype=float)).any())
    key = "walkability_index" if ghsci else "walkability_index_2c"
    if not np.isfinite(grid[key].to_numpy(dtype=float)).any():
        return None
    title = ("步行指数 Walkability (GHSCI, z)" if ghsci
             else "步行指数(两项, 非GHSCI) Walkability, 2 components — NOT the GHSCI index (z)")
    g = wm.prepare(grid, "walkability_grid")
    props = {c: d for _, c, _, d in _TIP} | {"sampled": None}
    fg = wm.add_layer(
        title, geojson_of(g, props),
        layer_options(WALKABILITY_Z, style={"color": "#ffffff", "weight": 0.3, "fillOpacity": 0.55},
                      by={"key": key, "breaks": BREAKS, "colors": COLOURS, "nodata": NODATA_COLOUR},
                      title=title, tip=_TIP),
        show=show)
    lows = ["≤", *(f"{b:g} –" for b in BREAKS)]
    rows = [legend_row(swatch_fill(COLOURS[i], 0.7), f"{lows[i]} {BREAKS[i]:g}") for i in range(len(BREAKS))]
    rows.append(legend_row(swatch_fill(COLOURS[-1], 0.7), f"> {BREAKS[-1]:g}"))
    rows.append(legend_row(swatch_fill(NODATA_COLOUR, 0.7), "未抽样 not sampled (no residents / off the network)"))
    note = ("sum of z-scores of 1 km walk-neighbourhood intersection density, population density"
            + (" and daily-living score (0–3 within 500 m)" if ghsci else
               "; the daily-living score is absent (no facilities), so this is NOT the GHSCI index")
            + "; z against this area's own cells: 0 = the area's mean")
    wm.add_legend(fg, title, rows, note=note)
    return fg
