"""The one web-map builder: layered folium maps that open offline (DESIGN §7).

Every kmgis map is drawn with :class:`WebMap`::

    wm = WebMap(bounds, tiles="osm", title="晋宁区 — kmgis map", metric=metric_crs, simplify_m=SIMPLIFY_M)
    g = wm.prepare(parks, "parks")                    # simplified in metres, WGS84, 6 decimals
    fg = wm.add_layer("公园 Parks", geojson_of(g, {"name": None, "area_m2": 0}),
                      layer_options(PANE_Z["parks"], style={"color": "#238b45"}, title="公园 park",
                                    tip=[["名称 name", "name", "", None], ["面积 area", "area_m2", "m²", 0]]))
    wm.add_legend(fg, "公园 Parks", [legend_row(swatch_fill("#238b45"), "公园 park")])
    wm.set_panel("<b>scorecard</b>…")                  # optional top-left panel (HTML, already escaped)
    info = wm.save(out_dir / "map.html", budget=COUNTY_BUDGET_BYTES)   # atomic; a MapInfo

The builder's API: :class:`WebMap` (``prepare``, ``group``, ``add_layer``, ``add_geojson``,
``add_legend``, ``set_panel``, ``render``, ``save``) → :class:`MapInfo`; layer data
:func:`prepare_layer`, :func:`geojson_of`, :func:`layer_options`, :func:`tooltip_columns`;
legends :func:`swatch_line`, :func:`swatch_fill`, :func:`swatch_dot`, :func:`legend_row`,
:func:`legend_note`; text :func:`js_json`, :func:`format_number` (and :func:`kmgis.geom.html_text`);
tiles and size :func:`check_tiles`, :func:`budget_bytes`; folium pieces :class:`OfflineMap`,
:class:`RawHtml`, :class:`MapScript`.  The old private names (``_Map``, ``_Raw``, ``_Script``,
``_prepare``, ``_geojson``, ``_clean``, ``_sw_*``, ``_row``, ``esc``) remain as aliases.

The page is a folium map built with ``offlinefolium`` (folium 0.20 with Leaflet and the
plugins' JavaScript/CSS embedded): no ``<script src>`` or ``<link href>`` points to the
internet, so it renders without a network (base tiles simply do not appear).  Only Leaflet
itself (and Leaflet.markercluster when a map clusters points) is embedded: the jQuery,
Bootstrap and Font Awesome that folium loads by default are not used here.

Layers are one toggleable FeatureGroup each, drawn in the browser from embedded GeoJSON by a
small script (``kmgis.layer``): a style, optional colours by a property (steps or categories),
a Leaflet pane per drawing rank (:data:`PANE_Z`) and a tooltip of chosen properties with units.
A legend (bottom right, each section shown while its layers are on), an optional panel (top
left) and the layer control complete the page.

Size: :meth:`WebMap.prepare` simplifies a layer in a metric CRS (tolerance in metres per
layer, :data:`SIMPLIFY_M`), reprojects to WGS84 and rounds to 6 decimals (≈ 0.1 m);
:func:`geojson_of` keeps only the properties a tooltip shows.

Safety: data text never reaches HTML as markup.  Tooltips are built in the browser with
``textContent``; legends and panels are escaped with :func:`kmgis.geom.html_text`; GeoJSON is
embedded as JSON with ``<``, ``>`` and ``&`` escaped (:func:`js_json`); and nothing from the
data goes through folium's Jinja templates (which render their output a second time, so
``{{ … }}`` in a name would be evaluated): layer data and panels are emitted as raw text, and
layer names (which do pass through folium) have their braces turned into entities.

The recipe map itself (:func:`kmgis.outputs.recipe_map.draw_map`) lives in
:mod:`kmgis.outputs.recipe_map`; ``draw_map`` and ``MapInfo`` stay importable from here for now.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import geopandas as gpd
import numpy as np
import offlinefolium as folium
import pandas as pd
import pyproj
import shapely
from branca.element import Element, MacroElement

from kmgis.errors import KmgisError
from kmgis.geom import html_text
from kmgis.model import WGS84
from kmgis.outputs.files import write_text

DECIMALS = 6  # ≈ 0.1 m

TILES = {"osm": "OpenStreetMap", "carto": "CartoDB positron", "none": None}
_CARTO_URL = "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png"
_CARTO_ATTR = ('&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors '
               '&copy; <a href="https://carto.com/attributions">CARTO</a>')
_REFUSED_TILES = {"amap", "gaode", "autonavi", "tianditu", "baidu", "tencent", "qq"}

# Simplification tolerance per layer, metres in the map's metric CRS (0 = none).
SIMPLIFY_M: dict[str, float] = {
    "boundary": 20.0, "built_up": 5.0, "roads": 3.0, "parks": 2.0, "green": 3.0, "facilities": 0.0,
    "access_grid": 0.0, "complete": 0.0, "dianchi_zones": 10.0, "isochrones": 20.0,
}
COLLAPSE_CONTROL_OVER = 8  # more overlays than this: the layer control opens on hover
CITY_BUDGET_BYTES = 15 * 2**20  # a recipe of several units (the central city)
COUNTY_BUDGET_BYTES = 8 * 2**20  # one county-level unit, or a sample

# shared palettes
MINUTE_COLOURS = ["#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027"]  # ≤ breaks…, then >
NODATA_COLOUR = "#bdbdbd"
ZONE_COLOURS = ["#08519c", "#3182bd", "#6baed6", "#9ecae1", "#c6dbef", "#756bb1"]

# drawing order (Leaflet pane z-index; overlayPane is 400, markers 600, tooltips 650)
PANE_Z = {"access_grid": 360, "complete": 365, "green": 370, "parks": 375, "dianchi_zones": 380, "isochrones": 385,
          "built_up": 390, "roads": 400, "boundary": 420, "facilities": 430}

# tooltip labels and units of columns other commands write (dianchi zones, isochrones)
TIP_LABELS = {"name_zh": ("名称", ""), "name_en": ("name", ""), "zone_id": ("分区 zone", ""),
              "scheme": ("方案 scheme", ""), "grade": ("等级 grade", ""), "area_km2": ("面积 area", "km²"),
              "approximate": ("近似 approximate", ""), "controls_zh": ("管控", ""), "controls_en": ("controls", ""),
              "minutes": ("时间 time", "min 分钟"), "time_min": ("时间 time", "min 分钟"), "mode": ("方式 mode", ""),
              "centre": ("中心 centre", "")}
TIP_CHARS = 200  # longer texts are trimmed in tooltips

OFFLINE_NOTE = "kmgis · 离线地图 offline map (底图需联网 base tiles need internet) · WGS84"

LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"


@dataclass
class MapInfo:
    """What a map's :meth:`WebMap.save` wrote.

    Attributes
    ----------
    path : Path
        The HTML file.
    size_bytes, budget_bytes : int
        Its size, and the size it should stay under.
    seconds : float
        Time taken to draw and write it.
    overlays : list of str
        The names of the toggleable layers, in the order of the layer control.
    notes : list of str
        What the map did that a reader should know (merged roads, clustered points, tiles).
    """

    path: Path
    size_bytes: int
    budget_bytes: int
    seconds: float
    overlays: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def within_budget(self) -> bool:
        return self.size_bytes <= self.budget_bytes

    def summary(self) -> str:
        mb, budget = self.size_bytes / 2**20, self.budget_bytes / 2**20
        flag = "" if self.within_budget else " — OVER BUDGET"
        return f"{self.path} ({mb:.1f} MB of {budget:.0f} MB budget{flag}; {len(self.overlays)} layers; {self.seconds:.1f} s)"


# --------------------------------------------------------------------------- text


esc = html_text  # the name the map modules used before kmgis.geom.html_text


def js_json(obj: object) -> str:
    """JSON to embed inside ``<script>``: compact, and no ``<``, ``>``, ``&`` that could close the script.

    >>> js_json({"a": "</script>"})
    '{"a":"\\\\u003c/script\\\\u003e"}'
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(a, b)
    return text


def format_number(v: object, digits: int = 2) -> str:
    """A number with thousands separators and at most ``digits`` decimals (trailing zeros dropped).

    Anything that is not a finite number comes back as its text.

    >>> format_number("12345.600", 2), format_number("no data"), format_number(250.0, 0), format_number(120, 2)
    ('12,345.6', 'no data', '250', '120')
    """
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(x):
        return str(v)
    text = f"{x:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text  # only decimals lose their trailing zeros


# --------------------------------------------------------------------------- tiles and size


def check_tiles(tiles: str) -> str:
    """The tile key (``osm``, ``carto``, ``none``).

    Raises
    ------
    KmgisError
        A one-line error for other keys; Amap/Tianditu/Baidu tiles are refused because they are not WGS84.
    """
    key = str(tiles).strip().lower()
    if key in TILES:
        return key
    if key in _REFUSED_TILES:
        raise KmgisError(f"--tiles {tiles}: Amap/Tianditu/Baidu tiles are in GCJ-02/CGCS2000-shifted coordinates and "
                         "would misplace the WGS84 layers by hundreds of metres; use osm, carto or none")
    raise KmgisError(f"--tiles {tiles}: unknown base tiles; use osm, carto or none")


def budget_bytes(recipe: dict | None) -> int:
    """Size budget of a recipe's map: 15 MB for a recipe of several units (the central city), else 8 MB."""
    units = (recipe or {}).get("units") or []
    return CITY_BUDGET_BYTES if len(units) > 1 else COUNTY_BUDGET_BYTES


# --------------------------------------------------------------------------- folium pieces


class RawHtml(Element):
    """Text emitted as is (never rendered as a template)."""

    def __init__(self, text: str):
        super().__init__()
        self._name = "KmgisRaw"
        self._text = text

    def render(self, **kwargs) -> str:
        return self._text


class MapScript(MacroElement):
    """JavaScript appended to the page's script when rendered (after its parent's own script).

    ``make(element)`` returns the code; ``element._parent.get_name()`` is the JavaScript name of
    the folium object it was added to.
    """

    def __init__(self, make: Callable[[MacroElement], str]):
        super().__init__()
        self._name = "KmgisScript"
        self._make = make

    def render(self, **kwargs) -> None:
        self.get_root().script.add_child(RawHtml(self._make(self)), name=self.get_name())


class OfflineMap(folium.Map):
    """offlinefolium's Map embedding Leaflet only (no jQuery, Bootstrap, Font Awesome: unused here)."""

    default_js = [("leaflet", LEAFLET_JS)]
    default_css = [("leaflet_css", LEAFLET_CSS)]


_Raw, _Script, _Map = RawHtml, MapScript, OfflineMap  # the names before the builder's public API


_CSS = """<style>
.kmgis-panel { background: rgba(255,255,255,0.94); border-radius: 5px; box-shadow: 0 1px 5px rgba(0,0,0,0.4);
  padding: 6px 8px; font: 12px/1.35 "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; color: #222; }
.kmgis-panel summary { cursor: pointer; font-size: 13px; }
.kmgis-scroll { max-height: 55vh; max-width: 46vw; overflow: auto; margin-top: 4px; }
#kmgis-legend { max-height: 45vh; overflow: auto; max-width: 300px; }
#kmgis-legend h4 { margin: 6px 0 2px; font-size: 12px; }
#kmgis-legend .row { display: flex; align-items: center; gap: 6px; margin: 1px 0; }
.kmgis-sw { display: inline-block; width: 22px; flex: none; }
.kmgis-sw.fill { height: 12px; border: 1px solid rgba(0,0,0,0.35); }
.kmgis-sw.dot { width: 10px; height: 10px; border-radius: 50%; border: 1px solid #fff; box-shadow: 0 0 0 1px #555; margin: 0 6px; }
.kmgis-note { color: #666; font-size: 11px; margin: 4px 0 0; max-width: 290px; }
#kmgis-scorecard table { border-collapse: collapse; }
#kmgis-scorecard th, #kmgis-scorecard td { border-bottom: 1px solid #ddd; padding: 2px 5px; text-align: left; vertical-align: top; }
#kmgis-scorecard .met td.st { background: #c8e6c9; }
#kmgis-scorecard .missed td.st { background: #ffcdd2; }
#kmgis-scorecard .nodata td { color: #888; }
#kmgis-scorecard .id { color: #888; font-size: 10px; }
.kmgis-tip th { text-align: left; padding-right: 6px; font-weight: normal; color: #555; }
.kmgis-tip td { font-weight: bold; }
</style>"""

# Browser side: layers from embedded GeoJSON, tooltips built with textContent (never innerHTML),
# styles by property (step colours), panes for drawing order, panels as Leaflet controls.
_JS = """<script>
var kmgis = (function () {
  function fmt(v, d) {
    if (v === null || v === undefined || v === '') return null;
    if (typeof v === 'boolean') return v ? '是 yes' : '否 no';
    if (typeof v === 'number') {
      if (!isFinite(v)) return null;
      return d === null || d === undefined ? String(v)
        : v.toLocaleString('en-US', {maximumFractionDigits: d, minimumFractionDigits: 0});
    }
    return String(v);
  }
  function tip(p, o) {
    var box = document.createElement('div'); box.className = 'kmgis-tip';
    if (o.title) { var b = document.createElement('b'); b.textContent = o.title; box.appendChild(b); }
    var t = document.createElement('table'); box.appendChild(t);
    (o.tip || []).forEach(function (r) {
      var v = r[1] === null ? r[2] : fmt(p[r[1]], r[3]);
      if (v === null) return;
      if (r[1] !== null && r[2]) v = v + ' ' + r[2];
      var tr = t.insertRow(), th = document.createElement('th');
      th.textContent = r[0]; tr.appendChild(th); tr.insertCell().textContent = v;
    });
    return box;
  }
  function step(v, by) {
    if (typeof v === 'boolean') v = v ? 1 : 0;
    if (typeof v !== 'number' || !isFinite(v)) return by.nodata;
    for (var i = 0; i < by.breaks.length; i++) if (v <= by.breaks[i]) return by.colors[i];
    return by.colors[by.colors.length - 1];
  }
  function pane(map, name, z) {
    if (!map.getPane(name)) map.createPane(name).style.zIndex = z;
    return name;
  }
  function layer(map, parent, data, o) {
    var pn = pane(map, 'kmgis-' + o.z, o.z);
    function style(f) {
      var s = Object.assign({}, o.style || {});
      if (o.by) {
        var c = step(f.properties[o.by.key], o.by); s.fillColor = c; if (o.by.line) s.color = c;
      }
      if (o.colorKey && o.colors) { var c2 = o.colors[f.properties[o.colorKey]]; if (c2) { s.fillColor = c2; s.color = s.color || c2; } }
      return s;
    }
    var g = L.geoJson(data, {
      pane: pn,
      style: style,
      pointToLayer: function (f, ll) { return L.circleMarker(ll, Object.assign({pane: pn}, style(f))); },
      onEachFeature: function (f, l) {
        if (o.tip) l.bindTooltip(function () { return tip(f.properties || {}, o); }, {sticky: true});
      }
    });
    if (parent.addLayers) parent.addLayers(g.getLayers()); else g.addTo(parent);
    return g;
  }
  function panels(map) {
    [['kmgis-scorecard', 'topleft'], ['kmgis-legend', 'bottomright']].forEach(function (x) {
      var el = document.getElementById(x[0]);
      if (!el) return;
      var c = L.control({position: x[1]});
      c.onAdd = function () {
        L.DomEvent.disableClickPropagation(el); L.DomEvent.disableScrollPropagation(el);
        el.style.display = ''; return el;
      };
      c.addTo(map);
    });
    function sync() {
      document.querySelectorAll('#kmgis-legend [data-groups]').forEach(function (s) {
        var on = s.getAttribute('data-groups').split(' ').some(function (g) { return window[g] && map.hasLayer(window[g]); });
        s.style.display = on ? '' : 'none';
      });
    }
    map.on('overlayadd overlayremove', sync); sync();
  }
  return {layer: layer, panels: panels};
})();
</script>"""


# --------------------------------------------------------------------------- layer data


def json_scalar(v: object) -> bool | int | float | str | None:
    """A JSON-ready scalar, or None for missing values, non-finite numbers and blank strings.

    >>> json_scalar(float("nan")), json_scalar(np.int64(3)), json_scalar("  ")
    (None, 3, None)
    """
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, str):
        return v if v.strip() else None
    return str(v)


def prepare_layer(gdf: gpd.GeoDataFrame, metric: pyproj.CRS | str | None, tol_m: float) -> gpd.GeoDataFrame:
    """A layer ready to draw: simplified by ``tol_m`` metres in ``metric``, in WGS84, no empties, 6 decimals.

    Lines are simplified with plain Douglas-Peucker (they cannot turn invalid, and it is much
    faster on big layers), polygons and points preserving topology.  With ``tol_m`` 0 the
    geometry is only reprojected and rounded.
    """
    g = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if tol_m > 0 and len(g):
        m = g.geometry.to_crs(metric)
        lines = m.geom_type.isin(["LineString", "MultiLineString"]).to_numpy()
        geoms = m.values.copy()
        geoms[lines] = shapely.simplify(geoms[lines], tol_m, preserve_topology=False)
        geoms[~lines] = shapely.simplify(geoms[~lines], tol_m, preserve_topology=True)
        g = g.set_geometry(gpd.GeoSeries(geoms, index=g.index, crs=metric).to_crs(WGS84))
    elif g.crs is not None and pyproj.CRS(g.crs) != pyproj.CRS(WGS84):
        g = g.to_crs(WGS84)
    geoms = shapely.transform(g.geometry.values, lambda c: np.round(c, DECIMALS))
    g = g.set_geometry(gpd.GeoSeries(geoms, index=g.index, crs=WGS84))
    return g[~g.geometry.is_empty]


def geojson_of(gdf: gpd.GeoDataFrame, props: dict[str, int | None] | None = None) -> dict:
    """A FeatureCollection of ``gdf`` (WGS84) carrying only the properties in ``props``.

    Parameters
    ----------
    gdf : GeoDataFrame
        A prepared layer (:func:`prepare_layer`).
    props : dict
        Column → decimals to round floats to (0 gives integers), or None to keep values as
        they are.  Missing values and blank strings are left out of a feature's properties.
    """
    props = props or {}
    cols = [c for c in props if c in gdf.columns]
    features = []
    values = {c: gdf[c].tolist() for c in cols}
    for i, geom in enumerate(gdf.geometry.values):
        p = {}
        for c in cols:
            v = json_scalar(values[c][i])
            if v is None:
                continue
            d = props[c]
            if d is not None and isinstance(v, float):
                v = round(v, d)
                if d == 0:
                    v = int(v)
            p[c] = v
        features.append({"type": "Feature", "properties": p, "geometry": shapely.geometry.mapping(geom)})
    return {"type": "FeatureCollection", "features": features}


_clean, _prepare, _geojson = json_scalar, prepare_layer, geojson_of  # the names before the public API


def layer_options(z: int, *, style: dict | None = None, by: dict | None = None, title: str | None = None,
                  tip: list[list] | None = None) -> dict:
    """How the browser draws a layer (the options of :meth:`WebMap.add_geojson`).

    Parameters
    ----------
    z : int
        Drawing rank: the z-index of the Leaflet pane the layer goes into (:data:`PANE_Z`).
    style : dict, optional
        Leaflet path options (``color``, ``weight``, ``fillColor``, ``fillOpacity``, ``dashArray``,
        ``radius`` for points, …).
    by : dict, optional
        Colour by a number: ``{"key": property, "breaks": [b1, …], "colors": [c1, …, c_last],
        "nodata": colour, "line": bool}``; a value ≤ ``b_i`` takes ``c_i``, above the last break
        ``c_last``; ``line`` colours the outline too.  (Colour by category: add ``colorKey``
        and ``colors`` ({value: colour}) to the returned dict.)
    title : str, optional
        The tooltip's bold first line.
    tip : list of [label, property or None, unit or text, decimals or None], optional
        The tooltip's rows; with property None the row shows the third item as a constant.
    """
    opts: dict = {"z": z}
    for key, value in (("style", style), ("by", by), ("title", title), ("tip", tip)):
        if value is not None:
            opts[key] = value
    return opts


def tooltip_columns(gdf: gpd.GeoDataFrame, preferred: Iterable[str] = (), *, labels: dict | None = None,
                    max_fields: int = 9, max_chars: int = TIP_CHARS) -> tuple[gpd.GeoDataFrame, dict, list[list]]:
    """A tooltip made from a layer's own columns (text, boolean and numeric ones).

    The ``preferred`` columns present come first (all such columns when none is present), at
    most ``max_fields``; long texts are trimmed to ``max_chars`` characters and "…".

    Returns
    -------
    (GeoDataFrame, dict, list)
        A copy of ``gdf`` with trimmed texts, the ``props`` for :func:`geojson_of` (floats to 2
        decimals) and the ``tip`` rows for :func:`layer_options` (labels and units from ``labels``,
        default :data:`TIP_LABELS`).
    """
    labels = TIP_LABELS if labels is None else labels
    lay = gdf.copy()
    gcol = lay.geometry.name
    texts = [c for c in lay.columns if c != gcol and (pd.api.types.is_string_dtype(lay[c])
                                                     or pd.api.types.is_object_dtype(lay[c]))]
    simple = [c for c in lay.columns if c != gcol and (c in texts or pd.api.types.is_bool_dtype(lay[c])
                                                      or pd.api.types.is_numeric_dtype(lay[c]))]
    first = [c for c in preferred if c in simple]
    shown = (first or simple)[:max_fields]
    for c in shown:
        if c in texts:
            lay[c] = lay[c].map(lambda v: v[:max_chars] + "…" if isinstance(v, str) and len(v) > max_chars else v)
    props = {c: (2 if pd.api.types.is_float_dtype(lay[c]) else None) for c in shown}
    tip = [[labels.get(c, (c, ""))[0], c, labels.get(c, (c, ""))[1], props[c]] for c in shown]
    return lay, props, tip


# --------------------------------------------------------------------------- legends


def swatch_line(style: dict) -> str:
    """A legend swatch for a line style (``color``, ``weight``, ``dashArray``)."""
    dash = " dashed" if style.get("dashArray") else " solid"
    w = max(1.0, float(style.get("weight", 1)))
    return f'<span class="kmgis-sw" style="border-top:{w:.1f}px{dash} {style["color"]}"></span>'


def swatch_fill(colour: str, opacity: float = 0.6, border: str | None = None) -> str:
    """A legend swatch for a fill: ``colour`` (``#rrggbb``) at ``opacity``, with an optional border colour."""
    rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    b = f";border-color:{border}" if border else ""
    return f'<span class="kmgis-sw fill" style="background:rgba({rgb[0]},{rgb[1]},{rgb[2]},{opacity}){b}"></span>'


def swatch_dot(colour: str) -> str:
    """A legend swatch for a point symbol."""
    return f'<span class="kmgis-sw dot" style="background:{colour}"></span>'


def legend_row(swatch: str, label: str) -> str:
    """One legend row: a swatch and its label (escaped)."""
    return f'<div class="row">{swatch}<span>{html_text(label)}</span></div>'


def legend_note(text: str) -> str:
    """A small grey note (escaped), under a legend section or a panel."""
    return f'<p class="kmgis-note">{html_text(text)}</p>'


_sw_line, _sw_fill, _sw_dot, _row = swatch_line, swatch_fill, swatch_dot, legend_row  # the names before


# --------------------------------------------------------------------------- the builder


class WebMap:
    """One offline web map being built: tiles, toggleable GeoJSON layers, a legend, a panel.

    Parameters
    ----------
    bounds : (west, south, east, north)
        The initial view, in WGS84 degrees.
    tiles : str
        Base tiles: ``osm``, ``carto`` (key from ``$CARTO_API_KEY``) or ``none`` (:func:`check_tiles`).
    title : str
        The page title (escaped).
    metric : CRS, optional
        The metric CRS :meth:`prepare` simplifies in.
    simplify_m : dict, optional
        Tolerance in metres per layer key (default :data:`SIMPLIFY_M`; keys not listed: none).
    started : float, optional
        ``time.perf_counter()`` when the work began (for :attr:`MapInfo.seconds`); default now.

    Attributes
    ----------
    map : OfflineMap
        The folium map (for plugins: add them to a :meth:`group`).
    overlays, notes : list of str
        The layer names so far, and notes for the reader (become :class:`MapInfo` fields).
    """

    def __init__(self, bounds: Iterable[float], *, tiles: str = "osm", title: str = "kmgis map",
                 metric: pyproj.CRS | str | None = None, simplify_m: dict[str, float] | None = None,
                 zoom_start: int = 11, started: float | None = None):
        self.started = time.perf_counter() if started is None else started
        self.metric = metric
        self.simplify_m = dict(SIMPLIFY_M if simplify_m is None else simplify_m)
        self.overlays: list[str] = []
        self.notes: list[str] = []
        self._legend: list[str] = []
        self._panel = ""
        self._page: str | None = None
        x0, y0, x1, y1 = bounds
        self.map = OfflineMap(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=zoom_start, tiles=None,
                              control_scale=True)
        view = js_json([[round(float(y0), 6), round(float(x0), 6)], [round(float(y1), 6), round(float(x1), 6)]])
        # the final view before any layer is added (no animated zoom that re-clips the drawn layers afterwards)
        MapScript(lambda el: f"{el._parent.get_name()}.fitBounds({view}, {{animate: false}});\n").add_to(self.map)
        self._add_tiles(check_tiles(tiles))
        self.map.get_root().header.add_child(RawHtml(f"<title>{html_text(title)}</title>" + _CSS + _JS),
                                             name="kmgis_head")

    def _add_tiles(self, tiles: str) -> None:
        if tiles == "osm":
            folium.TileLayer("OpenStreetMap", name="OpenStreetMap").add_to(self.map)
        elif tiles == "carto":  # CARTO asks for an API key now: taken from $CARTO_API_KEY when set
            key = os.environ.get("CARTO_API_KEY", "").strip()
            url = _CARTO_URL + (f"?key={quote(key)}" if key else "")
            if not key:
                self.notes.append("tiles carto: no CARTO_API_KEY set; CARTO may refuse tiles without a key "
                                  "(use osm or none)")
            folium.TileLayer(url, attr=_CARTO_ATTR, name="CartoDB Positron", subdomains="abcd",
                             max_zoom=20).add_to(self.map)

    def prepare(self, gdf: gpd.GeoDataFrame, key: str) -> gpd.GeoDataFrame:
        """``gdf`` ready to draw (:func:`prepare_layer`) with the tolerance of layer ``key``."""
        return prepare_layer(gdf, self.metric, self.simplify_m.get(key, 0.0))

    def group(self, name: str, *, show: bool = True) -> folium.FeatureGroup:
        """A new toggleable overlay named ``name`` (escaped), listed in the layer control."""
        fg = folium.FeatureGroup(name=html_text(name), show=show)
        fg.add_to(self.map)
        self.overlays.append(name)
        return fg

    def add_geojson(self, parent, data: dict, options: dict) -> None:
        """Draw ``data`` (GeoJSON, :func:`geojson_of`) into ``parent`` (a group or a marker cluster).

        ``options`` (:func:`layer_options`) give the pane, style, colours and tooltip.
        """
        payload, opts, name = js_json(data), js_json(options), self.map.get_name()
        MapScript(lambda el: f"kmgis.layer({name}, {el._parent.get_name()}, {payload}, {opts});\n").add_to(parent)

    def add_layer(self, name: str, data: dict, options: dict, *, show: bool = True) -> folium.FeatureGroup:
        """A new overlay ``name`` holding ``data`` drawn with ``options``; returns its group (for the legend)."""
        fg = self.group(name, show=show)
        self.add_geojson(fg, data, options)
        return fg

    def add_legend(self, groups, title: str, rows: Iterable[str], note: str | None = None) -> None:
        """A legend section, shown while any of ``groups`` (a group or a list of them) is on.

        ``rows`` are HTML (:func:`legend_row`, :func:`legend_note`); ``title`` and ``note`` are text.
        """
        groups = groups if isinstance(groups, (list, tuple)) else [groups]
        names = " ".join(g if isinstance(g, str) else g.get_name() for g in groups)
        self._legend.append(f'<div data-groups="{names}"><h4>{html_text(title)}</h4>' + "".join(rows)
                            + (legend_note(note) if note else "") + "</div>")

    def set_panel(self, inner_html: str) -> None:
        """The top-left panel (e.g. a scorecard): ``inner_html`` is HTML whose text is already escaped."""
        self._panel = f'<div id="kmgis-scorecard" class="kmgis-panel" style="display:none">{inner_html}</div>'

    def render(self, note: str = OFFLINE_NOTE) -> str:
        """The page: adds the layer control, the legend (with ``note`` at its foot) and the panel once."""
        if self._page is None:
            folium.LayerControl(collapsed=len(self.overlays) > COLLAPSE_CONTROL_OVER).add_to(self.map)
            legend = ('<div id="kmgis-legend" class="kmgis-panel" style="display:none"><b>图例 Legend</b>'
                      + "".join(self._legend) + legend_note(note) + "</div>")
            root = self.map.get_root()
            root.html.add_child(RawHtml(self._panel + legend), name="kmgis_panels")
            name = self.map.get_name()
            MapScript(lambda el: f"kmgis.panels({name});\n").add_to(self.map)
            self._page = root.render()
        return self._page

    def save(self, path: Path, *, budget: int = COUNTY_BUDGET_BYTES) -> MapInfo:
        """Write the page to ``path`` atomically; what was written, against a size ``budget`` in bytes."""
        path = write_text(self.render(), Path(path))
        return MapInfo(path, path.stat().st_size, budget, round(time.perf_counter() - self.started, 2),
                       list(self.overlays), list(self.notes))
