"""QGIS styles inside every GeoPackage kmgis writes: drag the file into QGIS and see the map.

QGIS applies a layer's *default style* from the GeoPackage's own ``layer_styles`` table (the
table its "Save as Default → Datasource Database" writes; one row per layer, ``useAsDefault``
= 1).  :func:`write_styled_gpkg` (used by every kmgis writer) calls :func:`style_gpkg` on each GeoPackage,
on the temporary file before it is renamed into place, so a file appears styled or not at all.

* :func:`layer_qml`: the QML of one layer, chosen by its name, columns and geometry —
  roads (any line layer with ``road_class``) categorized by GB/T 51328 class (colours, widths
  and drawing order of the web map: arterials over branches); facilities, Dianchi zones, park
  classes and metro lines categorized; isochrones, the access grid, the gap grids and the
  walkability grid graduated on the field the web map colours by; the boundary as an outline;
  built-up area, green space and parks as fills; point layers (members, origins, seat,
  stations, sites) as simple markers; any other layer a single symbol for its geometry.
* :func:`field_alias`: Chinese + English field names with units (``道路等级 road class``,
  ``长度 length (m)``), from :data:`FIELD_ALIASES` and the indicator registry.
* :func:`write_layer_styles`: the ``layer_styles`` table QGIS creates, with sqlite3.

Colours are the web maps' own (:mod:`kmgis.outputs.recipe_map`, :mod:`kmgis.outputs.maps` and
the other ``*_map`` modules), imported, never copied.
"""

from __future__ import annotations

import contextlib
import math
import re
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.indicators import registry
from kmgis.indicators.lifecircle_levels import LEVELS
from kmgis.model import ROAD_CLASSES
from kmgis.outputs.files import write_gpkg
from kmgis.outputs.gaps_map import OVER_BINS_M, OVER_COLOURS
from kmgis.outputs.lifecircle_levels_map import GAP_COLOURS
from kmgis.outputs.maps import MINUTE_COLOURS, NODATA_COLOUR, ZONE_COLOURS
from kmgis.outputs.park_service_map import CLASS_COLOURS
from kmgis.outputs.recipe_map import (
    _GREEN_LAYERS,
    _OTHER_ROAD,
    BOUNDARY_COLOUR,
    BUILT_UP_EDGE,
    BUILT_UP_FILL,
    FACILITY_COLOURS,
    ISOCHRONE_COLOURS,
    ROAD_STYLE,
    yaml_labels,
)
from kmgis.outputs.siting_map import CANDIDATE_COLOUR, SITE_COLOUR
from kmgis.outputs.transit_map import OTHER_COLOUR
from kmgis.outputs.walkability_map import BREAKS as WALK_BREAKS
from kmgis.outputs.walkability_map import COLOURS as WALK_COLOURS

QGIS_VERSION = "3.22.0"
"""The QML format written (read by QGIS 3.22 and later)."""
STYLE_TIME = "2000-01-01T00:00:00.000Z"
"""``update_time`` of every style row: fixed, so a rerun writes identical rows.  QGIS picks a
layer's style by ``useAsDefault`` first; the time only orders styles that are not the default
(a style a planner saves later as default unsets ours and wins)."""
STYLE_DESCRIPTION = "kmgis: colours as on the kmgis web map; 中英文字段别名 Chinese/English field aliases"
"""The colours :mod:`kmgis.outputs.recipe_map` draws inline (``_add_boundary``, ``_add_built_up``)."""
WHITE = "255,255,255,255"  # outlines of markers and grid cells, as on the web map
_DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
_GEOMETRY_CODE = {"point": 0, "line": 1, "polygon": 2}
_OTHER_LABEL = "其他 other"

FIELD_ALIASES: dict[str, tuple[str, str, str]] = {
    # field: (中文, English, unit).  Indicator ids are labelled by the registry, not here.
    "road_class": ("道路等级", "road class", ""), "highway": ("OSM道路类型", "OSM highway", ""),
    "oneway": ("单行", "one-way", ""), "maxspeed_kmh": ("限速", "speed limit", "km/h"),
    "walk": ("可步行", "walkable", ""), "drive": ("可通车", "drivable", ""), "osm_id": ("OSM编号", "OSM id", ""),
    "length_m": ("长度", "length", "m"), "time_s": ("通行时间", "travel time", "s"), "u": ("起点节点", "from node", ""),
    "v": ("终点节点", "to node", ""), "forward": ("正向可通行", "passable forward", ""),
    "backward": ("反向可通行", "passable backward", ""), "degree": ("节点度", "node degree", ""),
    "walk_m_to_seat": ("步行至驻地距离", "walk to the seat", "m"),
    "walk_min_to_seat": ("步行至驻地时间", "walk to the seat", "min"), "name": ("名称", "name", ""),
    "name_zh": ("中文名称", "name (Chinese)", ""), "name_en": ("英文名称", "name (English)", ""),
    "unit_id": ("县区编号", "county-level unit id", ""), "unit": ("县区", "county-level unit", ""),
    "adcode": ("行政区划代码", "administrative code", ""), "role": ("角色", "role", ""),
    "patch_id": ("斑块编号", "patch id", ""), "area_km2": ("面积", "area", "km²"), "area_m2": ("面积", "area", "m²"),
    "nh_area_km2": ("步行邻域面积", "walk-neighbourhood area", "km²"), "method": ("方法", "method", ""),
    "rule": ("规则", "rule", ""), "source": ("来源", "source", ""), "source_id": ("来源编号", "source id", ""),
    "kind": ("类型", "kind", ""), "category": ("设施类别", "facility category", ""),
    "cell_id": ("网格编号", "cell id", ""), "cell": ("网格", "cell", ""), "minutes": ("时间", "time", "min"),
    "mode": ("方式", "travel mode", ""), "band": ("时段", "time band", ""), "centre": ("中心", "centre", ""),
    "buffer_m": ("缓冲", "buffer", "m"), "reached_km": ("可达道路长度", "roads reached", "km"),
    "fill_holes_km2": ("填洞阈值", "holes filled up to", "km²"),
    "filled_holes_km2": ("已填洞面积", "holes filled", "km²"), "data_warning": ("数据提示", "data warning", ""),
    "zone_id": ("分区", "zone", ""), "scheme": ("方案", "scheme", ""), "grade": ("等级", "grade", ""),
    "approximate": ("近似", "approximate", ""), "assumed": ("假设", "assumed", ""),
    "published_km2": ("公布面积", "published area", "km²"), "published_source": ("公布来源", "published source", ""),
    "effect_inside": ("区内效力", "effect inside", ""), "controls_zh": ("管控要求", "controls (Chinese)", ""),
    "controls_en": ("管控要求(英文)", "controls (English)", ""), "clause": ("条款", "clause", ""),
    "residents": ("人口", "residents", "persons"), "population": ("人口", "residents", "persons"),
    "unreached": ("不可达人口", "residents unreached", "persons"), "distance_m": ("距离", "distance", "m"),
    "over_m": ("超出标准距离", "beyond the standard distance", "m"), "gained": ("新增覆盖", "gained", "persons"),
    "lost": ("失去覆盖", "lost", "persons"), "intersections": ("交叉口数", "intersections", ""),
    "reach_cells": ("邻域网格数", "cells in the walk neighbourhood", ""),
    "population_density_per_km2": ("人口密度", "population density", "persons/km²"),
    "daily_living_score": ("日常生活设施得分", "daily-living score", "of 3"),
    "access_fresh_food_market": ("500米内生鲜市场", "fresh-food market within 500 m", ""),
    "access_convenience": ("500米内便利店", "convenience store within 500 m", ""),
    "access_pt_any": ("500米内公交", "public transport within 500 m", ""), "sampled": ("已抽样", "sampled", ""),
    "z_intersection_density": ("交叉口密度z值", "intersection density", "z"),
    "z_population_density": ("人口密度z值", "population density", "z"),
    "z_daily_living": ("日常生活z值", "daily living", "z"),
    "walkability_index": ("步行指数", "walkability (GHSCI)", "z"),
    "walkability_index_2c": ("两项步行指数", "walkability, 2 components (not GHSCI)", "z"),
    "walkability_index_25city": ("步行指数(25城参照)", "walkability vs 25 cities", "z"),
    "park_class": ("公园分级", "park class", ""), "radius_m": ("服务半径", "service radius", "m"),
    "parks": ("公园数", "parks", ""), "lines": ("线路", "lines", ""), "line": ("线路", "line", ""),
    "colour": ("颜色", "colour", ""), "links": ("站间连线", "station links", ""),
    "stations": ("车站数", "stations", ""), "km_straight": ("直线长度", "straight length", "km"),
    "inside_area": ("位于区内", "inside the area", ""), "snap_m": ("吸附距离", "snap distance", "m"),
    "seat_lon": ("驻地经度", "seat longitude", "°"), "seat_lat": ("驻地纬度", "seat latitude", "°"),
    "seat_kind": ("驻地类型", "seat kind", ""), "within_60": ("60分钟内", "within 60 min", ""),
    "within_90": ("90分钟内", "within 90 min", ""), "straight_km": ("直线距离", "straight distance", "km"),
    "rank": ("顺序", "rank", ""), "candidate_id": ("候选点编号", "candidate id", ""),
    "residents_added": ("新增覆盖人口", "residents added", "persons"),
    "residents_covered": ("累计覆盖人口", "residents covered", "persons"), "covered_pct": ("覆盖率", "covered", "%"),
    "residents_within": ("覆盖范围内人口", "residents within reach", "persons"),
    "greedy_rank": ("贪心顺序", "greedy rank", ""), "in_exact": ("精确解入选", "in the exact solution", ""),
}
_ALIAS_PATTERNS = (  # field families: (regular expression, function of the match → (中文, English, unit))
    (re.compile(r"(drive|walk)_min_(free|peak)"), lambda m: ("行车时间" if m[1] == "drive" else "步行时间",
                                                             f"{m[1]} time ({m[2]} flow)", "min")),
    (re.compile(r"walk_min_(\w+)"), lambda m: (f"步行至{_facility(m[1])[0]}时间", f"walk to {_facility(m[1])[1]}",
                                                "min")),
    (re.compile(r"complete_(\d+)min"), lambda m: (f"完整{m[1]}分钟生活圈", f"complete {m[1]}-min life circle", "")),
    (re.compile(r"missing_(\w+)"), lambda m: (f"{_level(m[1])[0]}缺项", f"missing ({_level(m[1])[1]})", "")),
    (re.compile(r"n_missing_(\w+)"), lambda m: (f"{_level(m[1])[0]}缺项数",
                                                 f"required categories missing ({_level(m[1])[1]})", "")),
    (re.compile(r"(effective|route)_kmh_free"), lambda m: ("平均速度", f"{m[1]} speed (free flow)", "km/h")),
    (re.compile(r"route_km_free"), lambda m: ("路线长度", "route length (free flow)", "km")),
    (re.compile(r"unit_entry_min_free"), lambda m: ("进入县区时间", "time to enter the unit (free flow)", "min")),
)

Symbol = tuple[str, list[tuple[str, dict[str, str]]]]
"""A symbol: its QGIS type (marker, line, fill) and its symbol layers (class, properties)."""


# --------------------------------------------------------------------------- aliases


def _facility(category: str) -> tuple[str, str]:
    return _facility_labels().get(category, (category, category))


@lru_cache(maxsize=1)
def _facility_labels() -> dict[str, tuple[str, str]]:
    return yaml_labels("facilities", "categories")


def _level(level: str) -> tuple[str, str]:
    spec = LEVELS.get(level)
    return (spec.zh, spec.en) if spec else (level, level)


@lru_cache(maxsize=512)
def field_alias(field: str) -> str | None:
    """The Chinese + English name of a field with its unit, or None for a field kmgis does not label.

    :data:`FIELD_ALIASES` first, then the indicator registry (a field named by an indicator id),
    then the field families (``walk_min_<category>``, ``n_missing_<level>``, …).

    >>> field_alias("road_class"), field_alias("length_m")
    ('道路等级 road class', '长度 length (m)')
    >>> field_alias("intersection_density_per_km2")
    '交叉口密度 intersection density (intersections/km²)'
    >>> field_alias("walk_min_school"), field_alias("no_such_field")
    ('步行至中小学时间 walk to primary and middle school (min)', None)
    """
    label = FIELD_ALIASES.get(field)
    if label is None:
        spec = indicator_spec(field)
        label = (spec.zh, spec.en, spec.unit) if spec is not None else None
    for pattern, make in _ALIAS_PATTERNS:
        if label is None and (m := pattern.fullmatch(field)):
            label = make(m)
    if label is None:
        return None
    zh, en, unit = label
    return f"{zh} {en}" + (f" ({unit})" if unit else "")


def indicator_spec(field: str) -> registry.IndicatorSpec | None:
    """The registry entry of an indicator id, or None when ``field`` is not one (no error)."""
    try:
        return registry.spec(field)
    except KmgisError:
        return None


# --------------------------------------------------------------------------- symbols


def qgis_colour(hex_colour: str, alpha: float = 1.0) -> str:
    """A web colour ``#rrggbb`` as QGIS writes it, ``r,g,b,a`` (``alpha`` 0–1 → 0–255).

    >>> qgis_colour("#ff8000", 0.5)
    '255,128,0,128'
    """
    h = hex_colour.lstrip("#")
    if not re.fullmatch(r"[0-9a-fA-F]{6}", h):
        raise KmgisError(f"colour {hex_colour!r}: expected #rrggbb")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{round(255 * alpha)}"


def _dash(dash: str | None) -> dict[str, str]:
    """A web ``dashArray`` ("4 3") as QGIS custom-dash properties (pixels)."""
    if not dash:
        return {"use_custom_dash": "0"}
    return {"use_custom_dash": "1", "customdash": ";".join(dash.split()), "customdash_unit": "Pixel"}


def line_symbol(colour: str, width_px: float, *, alpha: float = 1.0, dash: str | None = None,
                outline: bool = False) -> Symbol:
    """A simple line (``outline``: drawn as a polygon's outline only, in a fill symbol)."""
    props = {"line_color": qgis_colour(colour, alpha), "line_width": f"{width_px:g}", "line_width_unit": "Pixel",
             "line_style": "solid", "capstyle": "round", "joinstyle": "round", **_dash(dash)}
    return ("fill" if outline else "line", [("SimpleLine", props)])


def fill_symbol(fill: str, fill_alpha: float, edge: str | None = None, edge_px: float = 1.0,
                *, edge_rgba: str | None = None) -> Symbol:
    """A simple fill: ``fill`` at ``fill_alpha`` with an outline ``edge`` (or ``edge_rgba``) of ``edge_px``."""
    props = {"color": qgis_colour(fill, fill_alpha), "style": "solid",
             "outline_color": edge_rgba or qgis_colour(edge or fill), "outline_style": "solid",
             "outline_width": f"{edge_px:g}", "outline_width_unit": "Pixel", "joinstyle": "round"}
    return ("fill", [("SimpleFill", props)])


def marker_symbol(colour: str, size_px: float, *, edge_px: float = 1.0) -> Symbol:
    """A circle of ``size_px`` (diameter) filled with ``colour``, white outline, as the web map's dots."""
    props = {"name": "circle", "color": qgis_colour(colour, 0.95), "outline_color": WHITE,
             "outline_style": "solid", "outline_width": f"{edge_px:g}", "outline_width_unit": "Pixel",
             "size": f"{size_px:g}", "size_unit": "Pixel", "scale_method": "diameter"}
    return ("marker", [("SimpleMarker", props)])


def _symbol_element(symbol: Symbol, name: str, level: int = 0) -> ET.Element:
    kind, layers = symbol
    el = ET.Element("symbol", {"type": kind, "name": name, "alpha": "1", "clip_to_extent": "1", "force_rhr": "0"})
    for cls, props in layers:
        lay = ET.SubElement(el, "layer", {"class": cls, "enabled": "1", "locked": "0", "pass": str(level)})
        opts = ET.SubElement(lay, "Option", {"type": "Map"})
        for k, v in props.items():
            ET.SubElement(opts, "Option", {"name": k, "type": "QString", "value": v})
    return el


# --------------------------------------------------------------------------- renderers


def single_renderer(symbol: Symbol) -> ET.Element:
    """QGIS's single-symbol renderer."""
    el = ET.Element("renderer-v2", {"type": "singleSymbol", "symbollevels": "0", "forceraster": "0",
                                    "enableorderby": "0"})
    ET.SubElement(el, "symbols").append(_symbol_element(symbol, "0"))
    return el


def categorized_renderer(field: str, categories: list[tuple[str, str, Symbol]], *,
                         top_first: bool = False) -> ET.Element:
    """Categories ``(value, label, symbol)`` of ``field`` (value ``""``: every other value and NULL).

    ``top_first``: symbol levels on, the first category drawn last (on top), the last first.
    """
    el = ET.Element("renderer-v2", {"type": "categorizedSymbol", "attr": field,
                                    "symbollevels": "1" if top_first else "0", "forceraster": "0",
                                    "enableorderby": "0"})
    cats, syms = ET.SubElement(el, "categories"), ET.SubElement(el, "symbols")
    for i, (value, label, symbol) in enumerate(categories):
        ET.SubElement(cats, "category", {"value": value, "symbol": str(i), "label": label, "render": "true"})
        syms.append(_symbol_element(symbol, str(i), len(categories) - i if top_first else 0))
    return el


def graduated_renderer(field: str, ranges: list[tuple[float, float, str, Symbol]], *,
                       top_first: bool = False) -> ET.Element:
    """Ranges ``(lower, upper, label, symbol)`` of the numeric ``field`` (a value v with lower < v ≤ upper;
    the first range also takes its lower bound).  ``top_first`` as in :func:`categorized_renderer`."""
    el = ET.Element("renderer-v2", {"type": "graduatedSymbol", "attr": field, "graduatedMethod": "GraduatedColor",
                                    "symbollevels": "1" if top_first else "0", "forceraster": "0",
                                    "enableorderby": "0"})
    rng, syms = ET.SubElement(el, "ranges"), ET.SubElement(el, "symbols")
    for i, (lower, upper, label, symbol) in enumerate(ranges):
        ET.SubElement(rng, "range", {"lower": f"{lower:.15g}", "upper": f"{upper:.15g}", "symbol": str(i),
                                     "label": label, "render": "true"})
        syms.append(_symbol_element(symbol, str(i), len(ranges) - i if top_first else 0))
    method = ET.SubElement(el, "classificationMethod", {"id": "Custom"})
    ET.SubElement(method, "labelFormat", {"format": "%1 - %2", "labelprecision": "4", "trimtrailingzeroes": "1"})
    return el


def _numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce")


def _steps(values: pd.Series, breaks: list[float], colours: list[str], symbol, label) -> list:
    """Graduated ranges of the web map's steps: a value ≤ ``breaks[i]`` takes ``colours[i]``, above the
    last break the last colour.  The outer bounds stretch to the data (QGIS needs finite bounds)."""
    v = _numbers(values).to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    span = max(1.0, breaks[-1] - breaks[0])
    low = min(float(v.min()) if len(v) else breaks[0], breaks[0] - span)
    high = max(float(v.max()) if len(v) else breaks[-1], breaks[-1] + span)
    bounds = [low, *breaks, high]
    n = min(len(colours), len(bounds) - 1)
    return [(bounds[i], bounds[i + 1], label(i, bounds[i], bounds[i + 1], i == n - 1), symbol(colours[i]))
            for i in range(n)]


# --------------------------------------------------------------------------- the layers


def _roads(gdf: gpd.GeoDataFrame) -> ET.Element:
    """Roads by GB/T 51328 class: the web map's colours and widths, highest class drawn on top."""
    cls = gdf["road_class"]
    present = set(cls.dropna().astype(str))
    order = [c for c in ROAD_CLASSES if c in present] + sorted(present - set(ROAD_CLASSES))
    cats = []
    for c in order:
        style = ROAD_STYLE.get(c, _OTHER_ROAD)
        label = f"{ROAD_CLASSES.get(c, {}).get('zh', '')} {c}".strip()
        symbol = line_symbol(style["color"], style["weight"], alpha=0.9, dash=style.get("dashArray"))
        cats.append((c, label, symbol))
    if cls.isna().any():
        cats.append(("", _OTHER_LABEL, line_symbol(_OTHER_ROAD["color"], _OTHER_ROAD["weight"], alpha=0.9)))
    return categorized_renderer("road_class", cats, top_first=True)


def _boundary(gdf: gpd.GeoDataFrame) -> ET.Element:
    """County-level units: the dashed outline of the web map, no fill."""
    return single_renderer(line_symbol(BOUNDARY_COLOUR, 2.5, dash="8 4", outline=True))


def _built_up(gdf: gpd.GeoDataFrame) -> ET.Element:
    return single_renderer(fill_symbol(BUILT_UP_FILL, 0.3, BUILT_UP_EDGE, 2.0))


def _green(gdf: gpd.GeoDataFrame, key: str) -> ET.Element:
    colour = next(spec[2] for spec in _GREEN_LAYERS if spec[0] == key)
    return single_renderer(fill_symbol(colour, 0.45, colour, 1.0))


def _facilities(gdf: gpd.GeoDataFrame) -> ET.Element:
    """Facilities by category in facilities.yaml order, the web map's colours (others grey)."""
    labels = _facility_labels()
    cats = gdf["category"]
    present = set(cats.dropna().astype(str))
    order = [c for c in labels if c in present] + sorted(present - set(labels))
    out = []
    for i, c in enumerate(order):
        zh, en = labels.get(c, ("", c))
        colour = FACILITY_COLOURS[i % len(FACILITY_COLOURS)] if c in labels else OTHER_COLOUR
        out.append((c, f"{zh} {en}".strip(), marker_symbol(colour, 10)))
    if cats.isna().any():
        out.append(("", _OTHER_LABEL, marker_symbol(OTHER_COLOUR, 10)))
    return categorized_renderer("category", out)


def _grid_symbol(alpha: float):
    return lambda colour: fill_symbol(colour, alpha, edge_px=0.3, edge_rgba=WHITE)


def _access_grid(gdf: gpd.GeoDataFrame) -> ET.Element | None:
    """Walking minutes to the first category with values (the web map's default), its breaks and colours."""
    cats = [c[len("walk_min_"):] for c in gdf.columns if c.startswith("walk_min_")]
    with_values = [c for c in cats if _numbers(gdf[f"walk_min_{c}"]).notna().any()]
    if not cats:
        return None
    field = f"walk_min_{(with_values or cats)[0]}"
    complete = next((c for c in gdf.columns if re.fullmatch(r"complete_\d+min", c)), None)
    minutes = float(complete[len("complete_"):-3]) if complete else 15.0
    breaks = sorted({5.0, 10.0, minutes, 20.0, 30.0})[: len(MINUTE_COLOURS) - 1]

    def label(i, lo, hi, last):
        return f"> {lo:g} min 分钟" if last else f"{max(lo, 0):g}–{hi:g} min 分钟"

    return graduated_renderer(field, _steps(gdf[field], breaks, MINUTE_COLOURS, _grid_symbol(0.4), label))


def _level_gaps(gdf: gpd.GeoDataFrame) -> ET.Element | None:
    """Required categories missing in the largest life circle with data (0 green … ≥ 3 red)."""
    levels = [lv for lv in LEVELS if f"n_missing_{lv}" in gdf.columns]
    with_values = [lv for lv in levels if gdf[f"n_missing_{lv}"].notna().any()]
    if not levels:
        return None
    field = f"n_missing_{(with_values or levels)[-1]}"
    names = ["齐全 every required category", "缺 1 missing one", "缺 2 missing two", "缺 ≥ 3 missing three or more"]
    return graduated_renderer(field, _steps(gdf[field], [0, 1, 2], GAP_COLOURS, _grid_symbol(0.45),
                                            lambda i, lo, hi, last: names[i]))


def _gap_cells(gdf: gpd.GeoDataFrame) -> ET.Element:
    """Metres beyond the standard walking distance, the classes of ``kmgis gaps``' map."""
    breaks = [b for b in OVER_BINS_M if math.isfinite(b)]

    def label(i, lo, hi, last):
        return f"> +{breaks[-1]:,.0f} m" if last else f"+{max(lo, 0):,.0f}–{hi:,.0f} m"

    ranges = _steps(gdf["over_m"], breaks, list(OVER_COLOURS), _grid_symbol(0.7), label)
    return graduated_renderer("over_m", ranges)


def _walkability(gdf: gpd.GeoDataFrame) -> ET.Element | None:
    """The walkability index (sum of z-scores), or the two-component index when it is absent."""
    ghsci = "walkability_index" in gdf.columns and _numbers(gdf["walkability_index"]).notna().any()
    field = "walkability_index" if ghsci else "walkability_index_2c"
    if field not in gdf.columns:
        return None

    def label(i, lo, hi, last):
        return f"> {lo:g}" if last else (f"≤ {hi:g}" if i == 0 else f"{lo:g} – {hi:g}")

    return graduated_renderer(field, _steps(gdf[field], WALK_BREAKS, WALK_COLOURS, _grid_symbol(0.55), label))


def _isochrones(gdf: gpd.GeoDataFrame) -> ET.Element | None:
    """Isochrones graduated by minutes (up to six bands), the shortest drawn on top."""
    gcol = gdf.geometry.name
    field = next((c for c in ("minutes", "time_min", "contour_min", "contour") if c in gdf.columns), None)
    field = field or next((c for c in gdf.columns if c != gcol and pd.api.types.is_numeric_dtype(gdf[c])), None)
    if field is None:
        return None
    vals = sorted(float(v) for v in _numbers(gdf[field]).dropna().unique())[:6]
    if not vals:
        return single_renderer(fill_symbol(ISOCHRONE_COLOURS[0], 0.12, edge_px=1.5))
    top = max(vals[-1], float(_numbers(gdf[field]).max()))
    bounds = [min(0.0, vals[0]), *vals[:-1], top]
    ranges = [(bounds[i], bounds[i + 1], f"≤ {vals[i]:g} min 分钟",
               fill_symbol(ISOCHRONE_COLOURS[i], 0.12, ISOCHRONE_COLOURS[i], 1.5)) for i in range(len(vals))]
    return graduated_renderer(field, ranges, top_first=True)


def _dianchi_zones(gdf: gpd.GeoDataFrame) -> ET.Element | None:
    """Dianchi zones by zone, the web map's colours in order of area (largest first, drawn first)."""
    field = next((c for c in ("zone_id", "zone", "grade", "level", "name") if c in gdf.columns), None)
    if field is None or not len(gdf):
        return None
    lay = gdf
    if gdf.crs is not None:  # the web map's order: largest zone first
        area = gdf.geometry.to_crs(metric_crs(gdf)).area.to_numpy()
        lay = gdf.assign(_area=area).sort_values("_area", ascending=False, kind="stable")
    zones = [str(z) for z in pd.unique(lay[field].dropna())][:24]
    cats = []
    for i, z in enumerate(zones):
        row = lay[lay[field].astype(str) == z].iloc[0]
        name = " ".join(str(row[c]) for c in ("name_zh", "name_en") if c in lay.columns and pd.notna(row[c]))
        colour = ZONE_COLOURS[i % len(ZONE_COLOURS)]
        cats.append((z, f"{name} ({z})" if name else z, fill_symbol(colour, 0.15, ZONE_COLOURS[0], 1.5)))
    cats.reverse()  # the smallest zone drawn last, on top
    return categorized_renderer(field, cats, top_first=True)


def _park_classes(gdf: gpd.GeoDataFrame, alpha: float) -> ET.Element | None:
    """Park service: parks or their service areas by size class (largest radius first); others grey."""
    if "park_class" not in gdf.columns:
        return None
    by_radius = gdf.sort_values("radius_m", ascending=False) if "radius_m" in gdf.columns else gdf
    classes = [c for c in (str(v) for v in pd.unique(by_radius["park_class"].dropna())) if c]  # "": no class
    cats = [(c, c, fill_symbol(CLASS_COLOURS[i % len(CLASS_COLOURS)], alpha)) for i, c in enumerate(classes)]
    cats.append(("", "未达分级 below every class", fill_symbol(NODATA_COLOUR, alpha)))
    return categorized_renderer("park_class", cats)


def _metro_lines(gdf: gpd.GeoDataFrame) -> ET.Element | None:
    """Metro lines in their own colours (the line table's ``colour``), others grey."""
    if "line" not in gdf.columns:
        return None
    cats = []
    for line, colour in zip(gdf["line"].astype(str), gdf.get("colour", pd.Series(None, index=gdf.index)),
                            strict=True):
        ok = isinstance(colour, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", colour)
        if line not in [c[0] for c in cats]:
            cats.append((line, line, line_symbol(colour if ok else OTHER_COLOUR, 3.0, alpha=0.85)))
    return categorized_renderer("line", cats)


_POINTS: dict[str, tuple[str, float]] = {  # point layer → (colour, diameter in pixels)
    "members": (ISOCHRONE_COLOURS[0], 12), "origins": (SITE_COLOUR, 16), "seat": (SITE_COLOUR, 16),
    "metro_stations": (OTHER_COLOUR, 10), "stations": (OTHER_COLOUR, 10), "sites": (SITE_COLOUR, 16),
    "candidates": (CANDIDATE_COLOUR, 6), "nodes": (OTHER_COLOUR, 3),
}
_LAYERS = {  # layer name → (geometry, builder); a builder returning None falls back to the default
    "boundary": ("polygon", _boundary), "units": ("polygon", _boundary), "built_up": ("polygon", _built_up),
    "green": ("polygon", lambda g: _green(g, "green")), "parks": ("polygon", lambda g: _green(g, "parks")),
    "facilities": ("point", lambda g: _facilities(g) if "category" in g.columns else None),
    "access_grid": ("polygon", _access_grid), "level_gap_grid": ("polygon", _level_gaps),
    "gap_cells": ("polygon", lambda g: _gap_cells(g) if "over_m" in g.columns else None),
    "walkability_grid": ("polygon", _walkability),
    "isochrones": ("polygon", _isochrones), "dianchi_zones": ("polygon", _dianchi_zones),
    "park_service_parks": ("polygon", lambda g: _park_classes(g, 0.6)),
    "park_service_areas": ("polygon", lambda g: _park_classes(g, 0.12)),
    "metro_lines": ("line", _metro_lines),
}


def default_renderer(geometry: str) -> ET.Element:
    """The style of any other layer: a grey marker, line or translucent fill."""
    if geometry == "point":
        return single_renderer(marker_symbol(OTHER_COLOUR, 8))
    if geometry == "line":
        return single_renderer(line_symbol(_OTHER_ROAD["color"], _OTHER_ROAD["weight"]))
    return single_renderer(fill_symbol(NODATA_COLOUR, 0.35, OTHER_COLOUR, 1.0))


def layer_renderer(name: str, gdf: gpd.GeoDataFrame, geometry: str) -> ET.Element:
    """The renderer of a layer: by name (:data:`_LAYERS`, :data:`_POINTS`), roads by ``road_class``, else
    :func:`default_renderer`."""
    if geometry == "line" and "road_class" in gdf.columns:
        return _roads(gdf)
    if geometry == "point" and name in _POINTS:
        colour, size = _POINTS[name]
        return single_renderer(marker_symbol(colour, size))
    if name in _LAYERS and _LAYERS[name][0] == geometry:
        renderer = _LAYERS[name][1](gdf)
        if renderer is not None:
            return renderer
    return default_renderer(geometry)


def geometry_kind(gdf: gpd.GeoDataFrame, type_name: str | None = None) -> str:
    """``point``, ``line`` or ``polygon``: from the GeoPackage's geometry type name, else the data.

    >>> geometry_kind(gpd.GeoDataFrame(geometry=[]), "MULTILINESTRING")
    'line'
    """
    name = (type_name or "").upper()
    if name in ("", "GEOMETRY", "GEOMETRYCOLLECTION") and len(gdf):
        name = str(gdf.geometry.geom_type.dropna().iloc[0]).upper() if gdf.geometry.notna().any() else ""
    if "POINT" in name:
        return "point"
    if "LINE" in name or (name.endswith("CURVE") and "POLYGON" not in name):
        return "line"
    return "polygon"


def layer_qml(name: str, gdf: gpd.GeoDataFrame, geometry_type: str | None = None) -> str:
    """The QGIS style (QML text) of layer ``name``: its renderer, field aliases and geometry type.

    ``geometry_type``: the GeoPackage's type name (``MULTIPOLYGON``); else taken from the data.

    >>> import shapely
    >>> roads = gpd.GeoDataFrame({"road_class": ["branch", "arterial"]},
    ...                          geometry=[shapely.LineString([(0, 0), (1, 1)])] * 2, crs=4326)
    >>> root = ET.fromstring(layer_qml("roads", roads))
    >>> [c.get("value") for c in root.iter("category")]
    ['arterial', 'branch']
    >>> root.find("aliases/alias").get("name")
    '道路等级 road class'
    """
    geometry = geometry_kind(gdf, geometry_type)
    root = ET.Element("qgis", {"version": QGIS_VERSION, "styleCategories": "Symbology|Fields"})
    root.append(layer_renderer(name, gdf, geometry))
    aliases = ET.SubElement(root, "aliases")
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    for index, column in enumerate(columns, start=1):  # QGIS lists the GeoPackage's fid first
        alias = field_alias(str(column))
        if alias:
            ET.SubElement(aliases, "alias", {"field": str(column), "index": str(index), "name": alias})
    ET.SubElement(root, "layerGeometryType").text = str(_GEOMETRY_CODE[geometry])
    ET.indent(root)
    return f"{_DOCTYPE}\n{ET.tostring(root, encoding='unicode')}\n"


# --------------------------------------------------------------------------- the layer_styles table

_CREATE_TABLE = """CREATE TABLE "layer_styles" ( "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
 "f_table_catalog" TEXT(256), "f_table_schema" TEXT(256), "f_table_name" TEXT(256),
 "f_geometry_column" TEXT(256), "styleName" TEXT(30), "styleQML" TEXT, "styleSLD" TEXT,
 "useAsDefault" BOOLEAN, "description" TEXT, "owner" TEXT(30), "ui" TEXT(30),
 "update_time" DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"""
# GDAL's feature-count triggers, as on every table it creates (QGIS creates layer_styles through GDAL)
_TRIGGERS = """CREATE TRIGGER "trigger_{op}_feature_count_layer_styles" AFTER {OP} ON "layer_styles" BEGIN
 UPDATE gpkg_ogr_contents SET feature_count = feature_count {sign} 1
 WHERE lower(table_name) = lower('layer_styles'); END"""


def geometry_columns(gpkg_path: Path) -> dict[str, tuple[str, str]]:
    """``{table: (geometry column, geometry type name)}`` from the GeoPackage's ``gpkg_geometry_columns``."""
    with contextlib.closing(sqlite3.connect(Path(gpkg_path))) as con:
        try:
            rows = con.execute("SELECT table_name, column_name, geometry_type_name FROM gpkg_geometry_columns")
            return {str(t): (str(c), str(g)) for t, c, g in rows}
        except sqlite3.DatabaseError as exc:
            raise KmgisError(f"{gpkg_path}: not a GeoPackage ({exc})") from None


def _create_styles_table(con: sqlite3.Connection) -> None:
    """``layer_styles`` as QGIS creates it (through GDAL): registered in ``gpkg_contents`` as attributes,
    its feature count in ``gpkg_ogr_contents`` kept by triggers."""
    if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'layer_styles'").fetchone():
        return
    con.execute(_CREATE_TABLE)
    last = con.execute("SELECT max(last_change) FROM gpkg_contents").fetchone()[0] or STYLE_TIME
    con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, min_x, "
                "min_y, max_x, max_y, srs_id) VALUES ('layer_styles', 'attributes', 'layer_styles', '', ?, NULL, "
                "NULL, NULL, NULL, 0)", (last,))
    if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'gpkg_ogr_contents'").fetchone():
        con.execute("INSERT INTO gpkg_ogr_contents (table_name, feature_count) VALUES ('layer_styles', 0)")
        for op, sign in (("insert", "+"), ("delete", "-")):
            con.execute(_TRIGGERS.format(op=op, OP=op.upper(), sign=sign))


def write_layer_styles(gpkg_path: Path, styles: Mapping[str, str]) -> None:
    """Store ``styles`` (layer name → QML) as each layer's default QGIS style in the GeoPackage.

    Writes the ``layer_styles`` table QGIS itself writes (created when absent, registered in
    ``gpkg_contents`` as ``attributes`` so the file stays a valid GeoPackage): one row per layer,
    ``f_table_catalog`` and ``f_table_schema`` empty, ``f_geometry_column`` the layer's geometry
    column (``gpkg_geometry_columns``), ``styleName`` the layer name, ``useAsDefault`` 1 (any
    other default of the layer is unset; a row of the same name replaced), ``update_time``
    :data:`STYLE_TIME`.

    Raises
    ------
    KmgisError
        The file is not a GeoPackage, or has no layer of one of the names.
    """
    path = Path(gpkg_path)
    if not path.is_file():
        raise KmgisError(f"{path}: no such GeoPackage")
    geom = geometry_columns(path)
    with contextlib.closing(sqlite3.connect(path)) as con, con:
        tables = {str(r[0]) for r in con.execute("SELECT table_name FROM gpkg_contents")}
        unknown = [n for n in styles if n not in tables]
        if unknown:
            raise KmgisError(f"{path}: no layer {', '.join(map(repr, unknown))} to style")
        _create_styles_table(con)
        for name, qml in styles.items():
            column = geom.get(name, ("", ""))[0]
            key = (name, column)
            con.execute("UPDATE layer_styles SET useAsDefault = 0 WHERE f_table_schema = '' AND f_table_name = ? "
                        "AND f_geometry_column = ?", key)
            con.execute("DELETE FROM layer_styles WHERE f_table_schema = '' AND f_table_name = ? AND "
                        "f_geometry_column = ? AND styleName = ?", (*key, name))
            con.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                        "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, owner, ui, "
                        "update_time) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, '', NULL, ?)",
                        (*key, name, qml, STYLE_DESCRIPTION, STYLE_TIME))


def style_gpkg(gpkg_path: Path, layers: Mapping[str, gpd.GeoDataFrame]) -> dict[str, str]:
    """Give every spatial layer of ``layers`` (just written to ``gpkg_path``) its QGIS default style.

    Returns the QML written per layer; layers without geometry in the file are left unstyled.
    """
    geom = geometry_columns(gpkg_path)
    styles = {name: layer_qml(name, gdf, geom[name][1]) for name, gdf in layers.items() if name in geom}
    write_layer_styles(gpkg_path, styles)
    return styles


def write_styled_gpkg(layers: dict[str, gpd.GeoDataFrame], path: Path) -> Path:
    """Write ``layers`` into the GeoPackage ``path`` atomically, each with its QGIS default style.

    :func:`kmgis.outputs.files.write_gpkg` with :func:`style_gpkg`: the styles go into the
    file's ``layer_styles`` table before it takes its final name.
    """
    return write_gpkg(layers, path, style=style_gpkg)
