"""The recipe map: a recipe's results as one layered web map that opens offline (DESIGN §7).

:func:`draw_map` reads only what ``kmgis run`` wrote in ``maps/<id>/`` — ``indicators.gpkg``,
``scorecard.csv`` and ``run.json`` — and writes ``maps/<id>/map.html`` atomically, so a map
can be redrawn (other tiles, another facility category) without recomputing.  It is drawn
with the one builder, :class:`kmgis.outputs.maps.WebMap`.

Layers, one toggleable group each (only those in the GeoPackage): county boundary, built-up
area, roads by GB/T 51328 class, green space, parks, facilities by category (clustered when
many), the access grid coloured by walking minutes to the nearest facility of a chosen
category, the cells with a complete life circle, and ``dianchi_zones`` / ``isochrones`` when a
GeoPackage holds them.  Legends (Chinese + English, with units), tooltips with values, and
the scorecard as a collapsible panel.

At city scale (more than ``road_dissolve_min`` road lines, e.g. the central city's ~46k)
roads are merged into one multi-line per class: nothing is dropped, but hovering a road then
shows its class totals, not the single line.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyproj
import shapely
from offlinefolium.plugins import MarkerCluster

from kmgis.config import load_layers_yaml
from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.geom import html_text, spatial_layers
from kmgis.indicators.lifecircle_levels import LEVELS
from kmgis.model import WGS84
from kmgis.outputs.lifecircle_levels_map import add_level_gaps
from kmgis.outputs.maps import (
    MINUTE_COLOURS,
    NODATA_COLOUR,
    PANE_Z,
    SIMPLIFY_M,
    ZONE_COLOURS,
    MapInfo,
    WebMap,
    budget_bytes,
    check_tiles,
    geojson_of,
    json_scalar,
    layer_options,
    legend_note,
    legend_row,
    swatch_dot,
    swatch_fill,
    swatch_line,
    tooltip_columns,
)
from kmgis.outputs.numbers import format_value
from kmgis.outputs.park_service_map import add_park_service
from kmgis.outputs.transit_map import add_metro_lines, add_station_catchments, add_stations
from kmgis.outputs.walkability_map import add_walkability_grid

ROAD_DISSOLVE_MIN = 20_000  # more road lines than this: merge roads into one multi-line per class
CLUSTER_MIN = 100  # more facilities than this: cluster them (Leaflet.markercluster)

# GB/T 51328-2018 road classes: colour and line width (px), widest first.
ROAD_STYLE: dict[str, dict] = {
    "expressway": {"color": "#7a0177", "weight": 5.0},
    "arterial": {"color": "#d7301f", "weight": 3.5},
    "sub-arterial": {"color": "#fc8d59", "weight": 2.5},
    "branch": {"color": "#2b8cbe", "weight": 1.5},
    "internal": {"color": "#8c8c8c", "weight": 1.0},
    "path": {"color": "#41ab5d", "weight": 1.0, "dashArray": "4 3"},
}
_OTHER_ROAD = {"color": "#555555", "weight": 1.0}
BOUNDARY_COLOUR = "#252525"
"""The unit boundary's dashed outline."""
BUILT_UP_FILL, BUILT_UP_EDGE = "#fec44f", "#d95f0e"
"""The built-up area's fill and outline."""
FACILITY_COLOURS = ["#e41a1c", "#ff7f00", "#984ea3", "#a65628", "#f781bf", "#377eb8", "#4daf4a", "#00b3b3"]
ISOCHRONE_COLOURS = ["#3f007d", "#54278f", "#6a51a3", "#807dba", "#9e9ac8", "#bcbddc"]

# green and parks: (key, (group name, tooltip title), colour, properties, tooltip rows)
_GREEN_LAYERS = (
    ("green", ("绿地 Green space", "绿地 green space"), "#74c476", {"kind": None, "name": None, "area_m2": 0},
     [["类型 kind", "kind", "", None], ["名称 name", "name", "", None], ["面积 area", "area_m2", "m²", 0]]),
    ("parks", ("公园 Parks", "公园 park"), "#238b45", {"name": None, "area_m2": 0},
     [["名称 name", "name", "", None], ["面积 area", "area_m2", "m²", 0]]),
)
# tooltips of the layers other commands write into the same GeoPackage: these columns first, when present
_OTHER_TIP = {
    "dianchi_zones": ["name_zh", "name_en", "zone_id", "scheme", "grade", "area_km2", "approximate", "controls_zh",
                      "controls_en"],
    "isochrones": ["name", "centre", "minutes", "time_min", "mode", "area_km2"],
}
_APPROXIMATE = ('<p class="kmgis-note">近似 approximate: derived from the regulation\'s rules, '
                "not official boundaries</p>")
# scorecard `meets` → (row class, status text)
_STATUS = {"yes": ("met", "✔ 达标 met"), "no": ("missed", "✘ 未达标 missed"), "no data": ("nodata", "无数据 no data")}
# the scorecard values the built-up area's tooltip shows
_HEADLINE = ["built_up_area_km2", "population_built_up", "road_density_km_per_km2", "intersection_density_per_km2",
             "dead_end_share_pct", "green_ratio_pct", "park_m2_per_person", "green_300m_pct", "park_500m_pct",
             "lifecircle_complete_pct"]


def draw_map(
    out_dir: Path,
    *,
    tiles: str = "osm",
    category: str | None = None,
    simplify_m: dict[str, float] | None = None,
    road_dissolve_min: int = ROAD_DISSOLVE_MIN,
    cluster_min: int = CLUSTER_MIN,
) -> MapInfo:
    """Draw ``out_dir/map.html`` from ``out_dir``'s indicators.gpkg, scorecard.csv and run.json.

    Parameters
    ----------
    out_dir : Path
        A recipe's results folder (``maps/<id>/``).
    tiles : str
        Base tiles: ``osm``, ``carto`` or ``none``.
    category : str, optional
        The facility category the access grid is coloured by (default: the first with values).
    simplify_m : dict, optional
        Tolerances in metres per layer, overriding :data:`kmgis.outputs.maps.SIMPLIFY_M`.
    road_dissolve_min, cluster_min : int
        Above this many road lines, roads are merged per class; above this many facilities,
        they are clustered.

    Returns
    -------
    MapInfo
        The page written, its size against the budget, the layers and notes.
    """
    t0 = time.perf_counter()
    tiles = check_tiles(tiles)
    out_dir = Path(out_dir)
    tol = _tolerances(simplify_m)
    layers, card, run = read_results(out_dir)
    layers = {k: v for k, v in layers.items() if len(v)}
    if not layers:
        raise KmgisError(f"{out_dir / 'indicators.gpkg'}: no layer with features to draw")
    metric = _metric_crs(run, layers)
    recipe = run.get("recipe") or {}
    extent = (layers.get("boundary") if "boundary" in layers else next(iter(layers.values()))).to_crs(WGS84)
    title = f"{recipe.get('name') or recipe.get('id') or out_dir.name} — kmgis map"
    wm = WebMap(extent.total_bounds, tiles=tiles, title=title, metric=metric, simplify_m=tol, started=t0)
    if "boundary" in layers:
        _add_boundary(wm, layers["boundary"])
    if "built_up" in layers:
        _add_built_up(wm, layers["built_up"], card, run)
    for spec in _GREEN_LAYERS:
        if spec[0] in layers:
            _add_green(wm, layers[spec[0]], *spec)
    if "roads" in layers:
        _add_roads(wm, layers["roads"], road_dissolve_min)
    if "facilities" in layers:
        _add_facilities(wm, layers["facilities"], cluster_min)
    if "access_grid" in layers:
        _add_access_grid(wm, layers["access_grid"], category, recipe)
    if "park_service_parks" in layers and "park_service_areas" in layers:
        add_park_service(wm, layers["park_service_parks"], layers["park_service_areas"])
    if "walkability_grid" in layers:
        add_walkability_grid(wm, layers["walkability_grid"])
    _add_transit(wm, layers)
    if "level_gap_grid" in layers:
        for level in LEVELS:
            add_level_gaps(wm, layers["level_gap_grid"], level, show=False)
    if "dianchi_zones" in layers:
        _add_dianchi_zones(wm, layers["dianchi_zones"])
    if "isochrones" in layers:
        _add_isochrones(wm, layers["isochrones"])
    wm.set_panel(_scorecard_panel(card, run))
    return wm.save(out_dir / "map.html", budget=budget_bytes(recipe))


def _tolerances(simplify_m: dict[str, float] | None) -> dict[str, float]:
    """The default tolerances per layer with the caller's overrides, each checked to be metres ≥ 0."""
    tol = dict(SIMPLIFY_M)
    for k, v in (simplify_m or {}).items():
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise KmgisError(f"simplify {k}={v}: the tolerance must be a number of metres ≥ 0")
        tol[k] = float(v)
    return tol


# --------------------------------------------------------------------------- reading results back


def read_results(out_dir: Path) -> tuple[dict[str, gpd.GeoDataFrame], pd.DataFrame | None, dict]:
    """The layers of ``out_dir/indicators.gpkg``, its scorecard.csv (or None) and its run.json (or {})."""
    gpkg = out_dir / "indicators.gpkg"
    if not gpkg.is_file():
        raise KmgisError(f"{gpkg} not found: run `kmgis run` on the recipe first")
    try:
        names = spatial_layers(gpkg)
        layers = {n: gpd.read_file(gpkg, layer=n, engine="pyogrio") for n in names}
    except Exception as exc:  # a damaged or foreign file
        raise KmgisError(f"{gpkg}: cannot read the GeoPackage ({str(exc).splitlines()[0]})") from None
    card = None
    csv = out_dir / "scorecard.csv"
    if csv.is_file():
        card = pd.read_csv(csv, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    run: dict = {}
    js = out_dir / "run.json"
    if js.is_file():
        try:
            run = json.loads(js.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise KmgisError(f"{js}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return layers, card, run


def _metric_crs(run: dict, layers: dict[str, gpd.GeoDataFrame]) -> pyproj.CRS:
    """The run's metric CRS (run.json), else the one chosen for the boundary (or the first layer)."""
    if run.get("metric_crs"):
        try:
            return pyproj.CRS.from_user_input(run["metric_crs"])
        except pyproj.exceptions.CRSError:
            pass
    base = layers.get("boundary")
    if base is None or not len(base):
        base = next(iter(layers.values()))
    return metric_crs(base)


def yaml_labels(name: str, section: str) -> dict[str, tuple[str, str]]:
    """(Chinese, English) label of each entry of ``layers/<name>.yaml``'s ``section``; {} without the file."""
    try:
        entries = load_layers_yaml(name).get(section, {})
    except KmgisError:
        return {}
    return {k: (str(v.get("zh", k)), str(v.get("en", k))) for k, v in entries.items()}


# --------------------------------------------------------------------------- layers


def _add_boundary(wm: WebMap, boundary: gpd.GeoDataFrame) -> None:
    """The county-level units' outlines, with name, code and area."""
    b = boundary.copy()
    b["area_km2"] = b.geometry.to_crs(wm.metric).area / 1e6
    g = wm.prepare(b, "boundary")
    style = {"color": BOUNDARY_COLOUR, "weight": 2.5, "fill": False, "dashArray": "8 4"}
    fg = wm.add_layer(
        "县区边界 County boundary",
        geojson_of(g, {"name_zh": None, "name_en": None, "unit_id": None, "adcode": None, "area_km2": 1}),
        layer_options(PANE_Z["boundary"], style=style, title="县级行政区 county-level unit",
                      tip=[["名称 name", "name_zh", "", None], ["name", "name_en", "", None], ["id", "unit_id", "", None],
                           ["行政区划代码 adcode", "adcode", "", None], ["面积 area", "area_km2", "km²", 1]]))
    wm.add_legend(fg, "边界 Boundary", [legend_row(swatch_line({"color": BOUNDARY_COLOUR, "weight": 2.5, "dashArray": "8 4"}),
                                                   "县级行政区 county-level unit")])


def _add_built_up(wm: WebMap, built_up: gpd.GeoDataFrame, card: pd.DataFrame | None, run: dict) -> None:
    """The built-up area; its tooltip carries the scorecard's headline values, its legend the method."""
    bu = built_up.copy()
    bu["area_km2"] = bu.geometry.to_crs(wm.metric).area / 1e6
    g = wm.prepare(bu, "built_up")
    colour, edge = BUILT_UP_FILL, BUILT_UP_EDGE
    method = str((run.get("built_up") or {}).get("method", "")).split(";")[0]
    fg = wm.add_layer(
        "建成区 Built-up area", geojson_of(g, {"patch_id": None, "area_km2": 2}),
        layer_options(PANE_Z["built_up"], style={"color": edge, "weight": 2, "fillColor": colour, "fillOpacity": 0.3},
                      title="建成区 built-up area", tip=[["面积 area", "area_km2", "km²", 2], *_headline_rows(card)]))
    area = float(bu["area_km2"].sum())
    wm.add_legend(fg, "建成区 Built-up area",
                  [legend_row(swatch_fill(colour, 0.45, edge), f"建成区 built-up area: {area:,.2f} km²")],
                  note=method or None)


def _headline_rows(card: pd.DataFrame | None) -> list[list]:
    """Tooltip rows of the built-up area: the scorecard's headline values (constant rows)."""
    if card is None:
        return []
    rows = []
    one = card.drop_duplicates("indicator").set_index("indicator")
    for ind in _HEADLINE:
        if ind in one.index and one.loc[ind, "value"] not in ("", "no data"):
            r = one.loc[ind]
            rows.append([f"{r['label_zh']} {r['label_en']}", None, f"{format_value(r['value'], r['unit'], strict=False)} {r['unit']}"])
    return rows


def _add_green(wm: WebMap, layer: gpd.GeoDataFrame, key: str, label: tuple[str, str], colour: str,
               props: dict, tip: list[list]) -> None:
    """Green space or parks (:data:`_GREEN_LAYERS`), with their count and hectares in the legend."""
    g = wm.prepare(layer, key)
    fg = wm.add_layer(label[0], geojson_of(g, props),
                      layer_options(PANE_Z[key], style={"color": colour, "weight": 1, "fillColor": colour,
                                                        "fillOpacity": 0.45}, title=label[1], tip=tip))
    ha = layer.geometry.to_crs(wm.metric).area.sum() / 1e4
    wm.add_legend(fg, label[0], [legend_row(swatch_fill(colour, 0.45, colour), f"{label[1]}: {len(g):,}, {ha:,.1f} ha")])


def _add_roads(wm: WebMap, roads: gpd.GeoDataFrame, dissolve_min: int) -> None:
    """One group per road class (widest first, drawn on top), merged per class above ``dissolve_min`` lines."""
    zh = {k: v[0] for k, v in yaml_labels("road_classes", "classes").items()}
    has_class = "road_class" in roads.columns
    cls_col = roads["road_class"].fillna("other") if has_class else pd.Series("other", index=roads.index)
    lengths = roads.geometry.to_crs(wm.metric).length / 1000.0
    dissolve = len(roads) > dissolve_min
    if dissolve:
        wm.notes.append(f"roads: {len(roads):,} lines > {dissolve_min:,}: merged into one multi-line per class "
                        "(all classes kept; hover shows class totals)")
    order = [c for c in ROAD_STYLE if (cls_col == c).any()] + sorted(set(cls_col) - set(ROAD_STYLE))
    groups, rows = [], []
    for rank, cls in enumerate(order):
        style = ROAD_STYLE.get(cls, _OTHER_ROAD)
        km = float(lengths[cls_col == cls].sum())
        label_zh = zh.get(cls, "")
        data = _road_class_data(wm, roads[cls_col == cls], cls, km, dissolve)
        fg = wm.add_layer(" ".join(f"道路 {label_zh} Roads: {cls}".split()), data["geojson"],
                          layer_options(PANE_Z["roads"] + len(order) - rank, style=dict(style, opacity=0.9),
                                        title=f"{label_zh} {cls}".strip(), tip=data["tip"]))
        groups.append(fg)
        rows.append(legend_row(swatch_line(style), f"{label_zh} {cls}: {km:,.1f} km".strip()))
    wm.add_legend(groups, "道路 Roads (GB/T 51328 class, km in map)", rows, note=wm.notes[-1] if dissolve else None)


def _road_class_data(wm: WebMap, sel: gpd.GeoDataFrame, cls: str, km: float, dissolve: bool) -> dict:
    """The GeoJSON and tooltip of one road class: every line, or one merged multi-line with class totals."""
    if dissolve:
        merged = shapely.line_merge(shapely.multilinestrings(sel.geometry.to_crs(wm.metric).values))
        sel = gpd.GeoDataFrame({"road_class": [cls], "length_km": [km], "lines": [len(sel)]},
                               geometry=gpd.GeoSeries([merged], crs=wm.metric).to_crs(WGS84), crs=WGS84)
        props = {"length_km": 1, "lines": 0}
        tip = [["长度 length", "length_km", "km", 1], ["线段 lines", "lines", "", 0]]
    else:
        props = {"name": None, "highway": None}
        tip = [["名称 name", "name", "", None], ["OSM highway", "highway", "", None]]
    return {"geojson": geojson_of(wm.prepare(sel, "roads"), props), "tip": tip}


def _add_facilities(wm: WebMap, fac: gpd.GeoDataFrame, cluster_min: int) -> None:
    """One group per facility category (facilities.yaml order), clustered above ``cluster_min`` points."""
    labels = yaml_labels("facilities", "categories")
    has_cat = "category" in fac.columns
    cats = fac["category"].fillna("other").astype(str) if has_cat else pd.Series("other", index=fac.index)
    order = [c for c in labels if (cats == c).any()] + sorted(set(cats) - set(labels))
    cluster = len(fac) > cluster_min
    if cluster:
        wm.notes.append(f"facilities: {len(fac):,} points > {cluster_min}: clustered")
    groups, rows = [], []
    for i, cat in enumerate(order):
        zh_en = labels.get(cat, ("", cat))
        label = " ".join(f"{zh_en[0]} {zh_en[1]}".split())
        colour = FACILITY_COLOURS[i % len(FACILITY_COLOURS)] if cat in labels else "#636363"
        g = wm.prepare(fac[cats == cat], "facilities")
        fg = wm.group(" ".join(f"设施 {zh_en[0]} Facilities: {zh_en[1]}".split()))
        groups.append(fg)
        parent = fg
        if cluster:
            parent = MarkerCluster(control=False, options={"maxClusterRadius": 40, "disableClusteringAtZoom": 16,
                                                           "showCoverageOnHover": False})
            parent.add_to(fg)
        wm.add_geojson(parent, geojson_of(g, {"name": None}),
                       layer_options(PANE_Z["facilities"], style={"radius": 5, "color": "#ffffff", "weight": 1,
                                                                  "fillColor": colour, "fillOpacity": 0.95},
                                     title=label, tip=[["名称 name", "name", "", None]]))
        rows.append(legend_row(swatch_dot(colour), f"{label}: {len(g):,}"))
    wm.add_legend(groups, "设施 Facilities (count)", rows, note=wm.notes[-1] if cluster else None)


# --------------------------------------------------------------------------- access grid


def _access_category(grid: gpd.GeoDataFrame, cats: list[str], category: str | None) -> str | None:
    """The category the grid is coloured by: the one asked for, else the first with values."""
    if category is not None and category not in cats:
        raise KmgisError(f"--category {category}: the access grid has no walk_min_{category}; "
                         f"choose one of {', '.join(cats)}")
    if category is None:
        with_values = [c for c in cats if grid[f"walk_min_{c}"].notna().any()]
        category = (with_values or cats or [None])[0]
    return category


def _add_access_grid(wm: WebMap, grid: gpd.GeoDataFrame, category: str | None, recipe: dict) -> None:
    """The access grid coloured by walking minutes to ``category``, and the complete life circle's cells."""
    labels = yaml_labels("facilities", "categories")
    cats = [c[len("walk_min_"):] for c in grid.columns if c.startswith("walk_min_")]
    complete_col = next((c for c in grid.columns if c.startswith("complete_") and c.endswith("min")), None)
    params = recipe.get("parameters") or {}
    minutes = float(params.get("lifecircle_minutes") or 15)
    category = _access_category(grid, cats, category)
    if category is None:
        return
    g = wm.prepare(grid, "access_grid")
    zh_en = labels.get(category, (category, category))
    breaks = sorted({5.0, 10.0, minutes, 20.0, 30.0})[: len(MINUTE_COLOURS) - 1]
    colours = MINUTE_COLOURS[: len(breaks) + 1]
    props = {f"walk_min_{c}": 1 for c in cats} | ({complete_col: None} if complete_col else {})
    tip = [[f"{labels.get(c, (c, c))[0]} {labels.get(c, (c, c))[1]}", f"walk_min_{c}", "min 分钟", 1] for c in cats]
    if complete_col:
        tip.append([f"完整{minutes:g}分钟生活圈 complete {minutes:g}-min circle", complete_col, "", None])
    fg = wm.add_layer(
        f"步行至{zh_en[0]}时间 Walk minutes to {zh_en[1]}", geojson_of(g, props),
        layer_options(PANE_Z["access_grid"], style={"color": "#ffffff", "weight": 0.3, "fillOpacity": 0.4},
                      by={"key": f"walk_min_{category}", "breaks": breaks, "colors": colours, "nodata": NODATA_COLOUR},
                      title="步行可达网格 access grid (walking minutes 步行分钟)", tip=tip))
    lows = [0.0, *breaks]
    rows = [legend_row(swatch_fill(colours[i], 0.7), f"{lows[i]:g}–{breaks[i]:g} min 分钟") for i in range(len(breaks))]
    rows.append(legend_row(swatch_fill(colours[len(breaks)], 0.7), f"> {breaks[-1]:g} min 分钟"))
    rows.append(legend_row(swatch_fill(NODATA_COLOUR, 0.7), "未达/无设施 unreached or none"))
    cell = params.get("access_grid_cell_m")
    note = (f"walking minutes from each {cell:g} m cell's centre to the nearest {zh_en[1]} on the walk network"
            if isinstance(cell, (int, float)) else
            f"walking minutes from each cell's centre to the nearest {zh_en[1]} on the walk network")
    if complete_col and not grid[complete_col].astype(bool).any():
        empty = [labels.get(c, (c, c))[1] for c in cats if grid[f"walk_min_{c}"].isna().all()]
        note += (f"; 完整{minutes:g}分钟生活圈 complete {minutes:g}-min circle: no cell has every category "
                 f"within {minutes:g} min" + (f" (none reached: {', '.join(empty)})" if empty else ""))
    wm.add_legend(fg, f"步行至{zh_en[0]} Walk to {zh_en[1]}", rows, note=note)
    if complete_col and grid[complete_col].astype(bool).any():
        _add_complete_circle(wm, grid[grid[complete_col].astype(bool)], minutes)


def _add_complete_circle(wm: WebMap, done: gpd.GeoDataFrame, minutes: float) -> None:
    """The cells with every facility category within ``minutes``, merged into one outline."""
    area_km2 = float(done.geometry.to_crs(wm.metric).area.sum() / 1e6)
    merged = shapely.union_all(done.geometry.to_crs(wm.metric).values)
    comp = gpd.GeoDataFrame({"cells": [len(done)], "area_km2": [area_km2]},
                            geometry=gpd.GeoSeries([merged], crs=wm.metric).to_crs(WGS84), crs=WGS84)
    g = wm.prepare(comp, "complete")
    fg = wm.add_layer(
        f"完整{minutes:g}分钟生活圈 Complete {minutes:g}-min life circle", geojson_of(g, {"cells": 0, "area_km2": 2}),
        layer_options(PANE_Z["complete"], style={"color": "#08306b", "weight": 2, "fillColor": "#2171b5",
                                                 "fillOpacity": 0.08},
                      title=f"完整{minutes:g}分钟生活圈 complete {minutes:g}-minute life circle",
                      tip=[["网格 cells", "cells", "", 0], ["面积 area", "area_km2", "km²", 2]]))
    wm.add_legend(fg, "完整生活圈 Complete life circle",
                  [legend_row(swatch_fill("#2171b5", 0.15, "#08306b"),
                              f"every category within {minutes:g} min 分钟: {area_km2:,.2f} km²")])


# --------------------------------------------------------------------------- layers of other commands


def _add_dianchi_zones(wm: WebMap, zones: gpd.GeoDataFrame) -> None:
    """Dianchi protection zones (``kmgis dianchi``), coloured by zone, largest drawn first."""
    lay, props, tip = tooltip_columns(zones, _OTHER_TIP["dianchi_zones"])
    opts: dict = {"z": PANE_Z["dianchi_zones"], "title": "滇池保护分区 Dianchi protection zone", "tip": tip}
    rows = []
    lay = lay.assign(_area=lay.geometry.to_crs(wm.metric).area).sort_values("_area", ascending=False)
    zcol = next((c for c in ("zone_id", "zone", "grade", "level", "name") if c in lay.columns), None)
    opts["style"] = {"color": "#08519c", "weight": 1.5, "fillOpacity": 0.15}
    if zcol is not None:
        lay[zcol] = lay[zcol].map(lambda v: None if v is None or v is pd.NA or v != v else str(v))
        zones_seen = list(pd.unique(lay[zcol].dropna()))[:24]
        cmap = {z: ZONE_COLOURS[i % len(ZONE_COLOURS)] for i, z in enumerate(zones_seen)}
        opts["colorKey"], opts["colors"] = zcol, cmap
        props.setdefault(zcol, None)
        for z, c in cmap.items():
            row = lay[lay[zcol] == z].iloc[0]
            name = " ".join(str(row[n]) for n in ("name_zh", "name_en") if n in lay.columns and json_scalar(row[n]))
            rows.append(legend_row(swatch_fill(c, 0.3, c), f"{name} ({z})" if name else z))
    if "approximate" in lay.columns and lay["approximate"].fillna(False).astype(bool).any():
        rows.append(_APPROXIMATE)
    fg = wm.add_layer("滇池保护分区 Dianchi zones", geojson_of(wm.prepare(lay, "dianchi_zones"), props), opts)
    wm.add_legend(fg, "滇池保护分区 Dianchi zones", rows)


def _add_isochrones(wm: WebMap, isochrones: gpd.GeoDataFrame) -> None:
    """Isochrones (``kmgis isochrone``), coloured by minutes, the shortest time on top."""
    lay, props, tip = tooltip_columns(isochrones, _OTHER_TIP["isochrones"])
    opts: dict = {"z": PANE_Z["isochrones"], "title": "等时圈 isochrone", "tip": tip}
    rows = []
    mcol = next((c for c in ("minutes", "time_min", "contour_min", "contour") if c in lay.columns), None)
    if mcol is None:
        gcol = lay.geometry.name
        mcol = next((c for c in lay.columns if c != gcol and pd.api.types.is_numeric_dtype(lay[c])), None)
    opts["style"] = {"color": "#54278f", "weight": 1.5, "fillOpacity": 0.12}
    if mcol is not None:
        lay = lay.sort_values(mcol, ascending=False)
        props.setdefault(mcol, 1)
        vals = sorted(float(v) for v in lay[mcol].dropna().unique())[:6]
        colours = ISOCHRONE_COLOURS[: max(1, len(vals))]
        opts["by"] = {"key": mcol, "breaks": vals or [0.0], "colors": colours + [colours[-1]],
                      "nodata": NODATA_COLOUR, "line": True}
        rows = [legend_row(swatch_fill(colours[i], 0.3, colours[i]), f"≤ {v:g} min 分钟") for i, v in enumerate(vals)]
    fg = wm.add_layer("等时圈 Isochrones", geojson_of(wm.prepare(lay, "isochrones"), props), opts)
    wm.add_legend(fg, "等时圈 Isochrones", rows)


# --------------------------------------------------------------------------- scorecard panel


def _scorecard_panel(card: pd.DataFrame | None, run: dict) -> str:
    """The scorecard as a collapsible table: counts in the summary line, one row per target."""
    recipe = run.get("recipe") or {}
    title = recipe.get("name") or recipe.get("id") or "kmgis"
    if card is None or not len(card):
        return f"<b>{html_text(title)}</b>" + legend_note("no scorecard.csv beside the map")
    counts = card["meets"].value_counts()
    head = (f"<b>{html_text(title)}</b> · 记分卡 scorecard: 达标 met {int(counts.get('yes', 0))} · "
            f"未达标 missed {int(counts.get('no', 0))} · 无数据 no data {int(counts.get('no data', 0))}")
    rows = [_scorecard_row(r) for _, r in card.iterrows()]
    note = f"recipe {recipe.get('id', '')}; scope {recipe.get('scope', '')}; hover a row for the plan clause"
    return (
        f"<details><summary>{head}</summary><div class=\"kmgis-scroll\"><table><thead><tr><th>指标 indicator</th>"
        "<th>数值 value</th><th>目标 target</th><th>达标 met?</th></tr></thead><tbody>"
        + "".join(rows)
        + f"</tbody></table>{legend_note(note)}</div></details>"
    )


def _scorecard_row(r: pd.Series) -> str:
    """One scorecard row: label and ids, value, target and status (hover: the plan clause)."""
    cls, status = _STATUS.get(r.get("meets", ""), ("", r.get("meets", "") or "—"))
    value = r.get("value", "")
    value_txt = value if value in ("", "no data") else f"{format_value(value, r.get('unit', ''), strict=False)} {r.get('unit', '')}"
    if r.get("status", "") == "no data":  # scorecards since the status column: the value cell is empty
        value_txt = "no data"
    target = ""
    if r.get("target", ""):
        sign = {">=": "≥", "<=": "≤"}.get(r.get("comparison", ""), r.get("comparison", ""))
        year = f" ({r['year']})" if r.get("year", "") else ""
        target = f"{sign} {format_value(r['target'], r.get('unit', ''), strict=False)} {r.get('unit', '')}{year}"
    label = f"{r.get('label_zh', '')} {r.get('label_en', '')}".strip() or r.get("indicator", "")
    hover = r.get("clause", "") or r.get("definition", "")
    ids = " · ".join(x for x in (r.get("indicator", ""), r.get("target_id", "")) if x)
    return (f'<tr class="{cls}" title="{html_text(hover)}"><td>{html_text(label)}<br><span class="id">'
            f'{html_text(ids)}</span></td><td>{html_text(value_txt)}</td><td>{html_text(target)}</td>'
            f'<td class="st">{html_text(status)}</td></tr>')


def _add_transit(wm: WebMap, layers: dict[str, gpd.GeoDataFrame]) -> None:
    """Metro station catchments (walk filled, straight dashed), the lines' straight links, the stations."""
    if "station_catchments" in layers:
        add_station_catchments(wm, layers["station_catchments"])
    lines = layers.get("metro_lines")
    if lines is not None:
        add_metro_lines(wm, lines)
    if "metro_stations" in layers:
        colours = dict(zip(lines["line"], lines["colour"], strict=True)) if lines is not None else None
        add_stations(wm, layers["metro_stations"], line_colours=colours)
