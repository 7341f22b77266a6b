"""The map of ``kmgis gaps`` (``OUT/<recipe id>/gaps_<category>.html``), on the one builder.

The grid cells whose residents lie beyond the standard walking distance of a facility category,
coloured by how far beyond (metres over), with the residents and the mean distance as tooltip —
the 补短板 map planners draw by hand.  Offline like every kmgis map.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np

from kmgis.model import WGS84
from kmgis.outputs.maps import (
    PANE_Z,
    MapInfo,
    WebMap,
    format_number,
    geojson_of,
    layer_options,
    legend_row,
    swatch_fill,
)

#: metres over the standard distance: upper bounds of the colour classes (the last: unreached / beyond)
OVER_BINS_M = (250.0, 500.0, 1000.0, np.inf)
OVER_COLOURS = ("#fee08b", "#fdae61", "#f46d43", "#a50026")


def _over_class(over_m: np.ndarray, unreached: np.ndarray) -> np.ndarray:
    k = np.searchsorted(np.asarray(OVER_BINS_M), np.nan_to_num(over_m, nan=np.inf), side="left")
    return np.where(unreached, len(OVER_BINS_M) - 1, np.minimum(k, len(OVER_BINS_M) - 1)).astype(str)


def write_gaps_map(cells: gpd.GeoDataFrame, category: str, distance_m: float, path: Path, *,
                   tiles: str = "osm") -> MapInfo:
    """Draw the gap cells of one ``category`` (beyond ``distance_m`` m) into ``path`` (atomic)."""
    g = cells.to_crs(WGS84).copy()
    reached = g["residents"].to_numpy(float) > g["unreached"].to_numpy(float)
    g["over_class"] = _over_class(g["over_m"].to_numpy(float), ~reached)
    wm = WebMap(g.total_bounds if len(g) else (102.6, 24.9, 102.8, 25.1), tiles=tiles,
                title=f"kmgis gaps {category}")
    props = {"cell": None, "residents": 0, "unreached": 0, "distance_m": 0, "over_m": 0, "over_class": None}
    tip = [["网格 cell", "cell", "", None], ["缺口人口 residents beyond", "residents", "persons", 0],
           ["其中不可达 of them unreached", "unreached", "persons", 0],
           ["平均距离 mean distance", "distance_m", "m", 0], ["超出 over", "over_m", "m", 0]]
    opts = layer_options(PANE_Z["access_grid"], style={"color": "#ffffff", "weight": 0.3, "fillOpacity": 0.7},
                         title=f"服务缺口 gap: {category}", tip=tip)
    opts |= {"colorKey": "over_class", "colors": {str(k): c for k, c in enumerate(OVER_COLOURS)}}
    fg = wm.add_layer(f"服务缺口 Residents beyond {distance_m:g} m of a {category}", geojson_of(g, props), opts)
    lower = (0.0, *OVER_BINS_M[:-1])
    rows = [legend_row(swatch_fill(c, 0.7), f"+{format_number(lo, 0)}–{format_number(hi, 0)} m" if np.isfinite(hi)
                       else f"> +{format_number(lo, 0)} m, or no path") for c, lo, hi in zip(OVER_COLOURS, lower,
                                                                                             OVER_BINS_M, strict=True)]
    wm.add_legend(fg, f"服务缺口 Gap ({category}, {format_number(float(g['residents'].sum()), 0)} persons)", rows,
                  note="cells of the built-up area whose residents walk farther than the standard distance")
    return wm.save(path)
