"""Map layers of rail transit: metro stations (Chinese name, lines), the lines and the stations' catchments.

Drawn with the one map builder (:class:`kmgis.outputs.maps.WebMap`): the stations as dots coloured by
their line (transfer stations dark), with a tooltip of the Chinese name, the name, the lines and the
distance to the walk network; the catchments of :func:`kmgis.indicators.transit.station_coverage`
(``station_catchments``: walk and straight line per distance) as toggleable polygons.  All text goes
through the builder (tooltips via ``textContent``, legends escaped).
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from kmgis.outputs.maps import (
    WebMap,
    geojson_of,
    layer_options,
    legend_row,
    prepare_layer,
    swatch_dot,
    swatch_fill,
    swatch_line,
)

STATION_Z = 435
"""Drawing rank of the stations (above facilities, 430)."""
CATCHMENT_Z = 383
"""Drawing rank of the catchments (between the Dianchi zones and the isochrones)."""
TRANSFER_COLOUR = "#252525"
"""Stations served by several lines."""
OTHER_COLOUR = "#636363"
"""Stations whose line has no colour."""
WALK_COLOURS = {500.0: "#08519c", 800.0: "#6baed6"}
STRAIGHT_COLOURS = {500.0: "#d94801", 800.0: "#fd8d3c"}
CATCHMENT_SIMPLIFY_M = 5.0

_TIP = [["站名", "name_zh", "", None], ["name", "name", "", None], ["线路 lines", "lines", "", None],
        ["距路网 to the walk network", "snap_m", "m", 0]]


def _line_key(lines: object) -> str:
    """The colour key of a station: its line (``1号线/2号线``), ``transfer`` or ``other``."""
    if not isinstance(lines, str) or not lines.strip():
        return "other"
    parts = [p.strip() for p in lines.split(";") if p.strip()]
    return parts[0] if len(parts) == 1 else "transfer"


def add_stations(wm: WebMap, stations: gpd.GeoDataFrame, *, line_colours: dict[str, str] | None = None,
                 name: str = "地铁站 Metro stations") -> object:
    """Add the stations as one toggleable layer with a legend; returns its group.

    Parameters
    ----------
    wm : the map being built.
    stations : the ``stations`` layer (``name``, ``name_zh``, ``lines``; optional ``snap_m``, e.g. the
        ``metro_stations`` layer of :func:`~kmgis.indicators.transit.station_coverage`).
    line_colours : line record name → ``#rrggbb`` (the line table's ``colour``); other lines grey.
    name : the layer's name in the layer control.
    """
    colours = dict(line_colours or {})
    g = wm.prepare(stations, "stations").copy()
    g["line_key"] = g["lines"].map(_line_key) if "lines" in g.columns else "other"
    palette = {k: colours.get(k, OTHER_COLOUR) for k in pd.unique(g["line_key"])} | {"transfer": TRANSFER_COLOUR}
    props = {c: (0 if c == "snap_m" else None) for c in ("name_zh", "name", "lines", "snap_m", "line_key")}
    opts = layer_options(STATION_Z, style={"radius": 6, "color": "#ffffff", "weight": 1.5, "fillColor": OTHER_COLOUR,
                                           "fillOpacity": 0.95}, title="地铁站 metro station", tip=_TIP)
    opts |= {"colorKey": "line_key", "colors": palette}
    fg = wm.add_layer(name, geojson_of(g, props), opts)
    counts = g["line_key"].value_counts()
    keys = [k for k in colours if k in counts.index] + sorted(set(counts.index) - set(colours) - {"transfer"})
    rows = [legend_row(swatch_dot(palette[k]), f"{k}: {counts[k]}") for k in keys]
    if "transfer" in counts.index:
        rows.append(legend_row(swatch_dot(TRANSFER_COLOUR), f"换乘站 transfer: {counts['transfer']}"))
    wm.add_legend(fg, f"{name} ({len(g)})", rows,
                  note="station label positions (not entrances), GCJ-02 converted to WGS84")
    return fg


def add_metro_lines(wm: WebMap, metro_lines: gpd.GeoDataFrame, *, name: str = "地铁线路 Metro lines (straight links)"
                    ) -> object:
    """Add the line records (the ``metro_lines`` layer of :func:`~kmgis.indicators.transit.metro_network_km`:
    straight station-to-station links) in their colours, with the line name and its straight km; returns the group."""
    g = wm.prepare(metro_lines, "metro_lines").copy()
    g["colour_key"] = g["line"].astype(str)
    palette = {k: (c if isinstance(c, str) and c else OTHER_COLOUR) for k, c in zip(g["line"], g["colour"], strict=True)}
    opts = layer_options(STATION_Z - 1, style={"weight": 3, "opacity": 0.85},  # colour: colorKey below
                         title="地铁线路 metro line", tip=[["线路 line", "line", "", None],
                                                        ["直线长度 straight links", "km_straight", "km", 2]])
    opts |= {"colorKey": "colour_key", "colors": palette}
    fg = wm.add_layer(name, geojson_of(g, {"line": None, "km_straight": 2, "colour_key": None}), opts)
    rows = [legend_row(swatch_line({"color": palette[k], "weight": 3}), f"{k}: {km:,.1f} km")
            for k, km in zip(g["line"], g["km_straight"], strict=True)]
    wm.add_legend(fg, name, rows, note="straight station-to-station links: a lower bound of route length")
    return fg


def add_station_catchments(wm: WebMap, catchments: gpd.GeoDataFrame) -> list:
    """Add each catchment (``distance_m``, ``method``: walk / straight) as a toggleable layer; returns the groups.

    Walk catchments are filled (the built-up cells within the distance on foot), straight-line ones
    drawn as dashed outlines; only the largest distance is switched on.
    """
    groups, rows = [], []
    largest = float(catchments["distance_m"].max()) if len(catchments) else 0.0
    for _, row in catchments.sort_values(["method", "distance_m"], ascending=[True, False]).iterrows():
        d, walk = float(row["distance_m"]), row["method"] == "walk"
        colour = (WALK_COLOURS if walk else STRAIGHT_COLOURS).get(d, "#756bb1")
        style = ({"color": colour, "weight": 0.5, "fillColor": colour, "fillOpacity": 0.3} if walk
                 else {"color": colour, "weight": 2, "dashArray": "6 4", "fill": False})
        label = f"站点{d:g}米{'步行' if walk else '直线'} {'walk' if walk else 'straight line'} {d:g} m"
        one = gpd.GeoDataFrame([row], geometry=catchments.geometry.name, crs=catchments.crs)
        lay = prepare_layer(one, wm.metric, CATCHMENT_SIMPLIFY_M if wm.metric is not None else 0.0)
        tip = [["覆盖 catchment", None, label, None], ["面积 area", "area_km2", "km²", 2]]
        fg = wm.add_layer(f"地铁{label}", geojson_of(lay, {"area_km2": 2}),
                          layer_options(CATCHMENT_Z, style=style, title="地铁站覆盖 station catchment", tip=tip),
                          show=walk and d == largest)
        groups.append(fg)
        rows.append(legend_row(swatch_fill(colour, 0.3, colour) if walk else swatch_line(style),
                               f"{label}: {row['area_km2']:,.2f} km²"))
    if groups:
        wm.add_legend(groups, "地铁站覆盖 Station catchments (built-up area)", rows,
                      note="walk: cells whose centre is within the distance on the road network; straight: buffers")
    return groups
