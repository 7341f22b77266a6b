"""Map layer of the GB 50180-2018 life-circle gap grid (:func:`kmgis.indicators.lifecircle_levels.level_gap_grid`).

One overlay per level: the grid cells coloured by how many of the level's required facility
categories are missing within its walking distance (0 green … 3 or more red), the tooltip naming
them — the gap map planners otherwise draw by hand.  Drawn with the one builder,
:class:`kmgis.outputs.maps.WebMap`::

    grid = level_gap_grid(network, facilities, built_up, crs)
    add_level_gaps(wm, grid, "15min")
"""

from __future__ import annotations

import folium
import geopandas as gpd

from kmgis.errors import KmgisError
from kmgis.indicators.lifecircle_levels import LEVELS
from kmgis.outputs.maps import (
    NODATA_COLOUR,
    PANE_Z,
    WebMap,
    geojson_of,
    layer_options,
    legend_row,
    swatch_fill,
)

#: cell colours by the number of required categories missing: 0, 1, 2, 3 or more
GAP_COLOURS = ["#1a9850", "#fee08b", "#fc8d59", "#d73027"]
NONE_MISSING = "无 none"


def add_level_gaps(wm: WebMap, grid: gpd.GeoDataFrame, level: str = "15min", *,
                   show: bool = True) -> folium.FeatureGroup | None:
    """Draw the gap grid of one life-circle ``level`` (``5min``, ``10min``, ``15min``) into ``wm``.

    Returns the overlay's group, or None when the grid holds no data for the level (no facilities
    layer: a note is added to ``wm.notes`` instead of a map of "everything missing").
    """
    col, n_col = f"missing_{level}", f"n_missing_{level}"
    levels = [c[len("missing_"):] for c in grid.columns if c.startswith("missing_")]
    if col not in grid.columns:
        raise KmgisError(f"gap grid: no level {level!r}; it has {', '.join(levels) or 'none'}")
    info = grid.attrs.get("level_gap_grid", {})
    spec = LEVELS.get(level)
    zh, en = (spec.zh, spec.en) if spec else (level, level)
    if grid[n_col].isna().all():
        wm.notes.append(f"{zh} gap grid: no facilities layer, nothing drawn")
        return None
    lay = grid[[col, n_col, grid.geometry.name]].copy()
    lay[col] = lay[col].where(lay[col].astype(str) != "", NONE_MISSING)
    g = wm.prepare(lay, "access_grid")
    distance = (info.get("distance_m") or {}).get(level, spec.distance_m if spec else None)  # attrs lost on file
    reach = f"{distance:g} m" if isinstance(distance, (int, float)) else "the level's distance"
    title = f"{zh} 缺项 Missing within {reach} ({en})"
    fg = wm.add_layer(
        title, geojson_of(g, {col: None, n_col: 0}),
        layer_options(PANE_Z["access_grid"], style={"color": "#ffffff", "weight": 0.3, "fillOpacity": 0.45},
                      by={"key": n_col, "breaks": [0, 1, 2], "colors": GAP_COLOURS, "nodata": NODATA_COLOUR},
                      title=f"{zh} {en}", tip=[["缺项 missing", col, "", None], ["数量 count", n_col, "", 0]]),
        show=show)
    rows = [legend_row(swatch_fill(GAP_COLOURS[0], 0.7), "齐全 every required category"),
            legend_row(swatch_fill(GAP_COLOURS[1], 0.7), "缺 1 missing one"),
            legend_row(swatch_fill(GAP_COLOURS[2], 0.7), "缺 2 missing two"),
            legend_row(swatch_fill(GAP_COLOURS[3], 0.7), "缺 ≥ 3 missing three or more")]
    required = list((info.get("required") or {}).get(level, spec.required if spec else ()))
    unmapped = len((info.get("not_mapped") or {}).get(level, ()))
    absent = [c for c in info.get("categories_without_facilities", []) if c in required]
    note = (f"GB 50180-2018: walking distance {reach} on the walk network from each cell's centre to the "
            f"nearest facility of each required category ({', '.join(required)})"
            + (f"; {unmapped} required type(s) have no kmgis category and are not assessed" if unmapped else "")
            + (f"; nothing mapped: {', '.join(absent)}" if absent else ""))
    wm.add_legend(fg, f"{zh} 缺项 Gaps ({en})", rows, note=note)
    return fg
