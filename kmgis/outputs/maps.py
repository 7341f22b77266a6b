"""Layered web maps of a recipe's results, that open offline (DESIGN §7).

:func:`draw_map` reads only what ``kmgis run`` wrote in ``maps/<id>/`` — ``indicators.gpkg``,
``scorecard.csv`` and ``run.json`` — and writes ``maps/<id>/map.html`` atomically, so a map
can be redrawn (other tiles, another facility category) without recomputing.

The page is a folium map built with ``offlinefolium`` (folium 0.20 with Leaflet and the
plugins' JavaScript/CSS embedded): no ``<script src>`` or ``<link href>`` points to the
internet, so it renders without a network (base tiles simply do not appear).  Only Leaflet
itself (and Leaflet.markercluster when facilities are clustered) is embedded: the jQuery,
Bootstrap and Font Awesome that folium loads by default are not used here.

Layers, one toggleable FeatureGroup each (only those in the GeoPackage): county boundary,
built-up area, roads by GB/T 51328 class, parks, green space, facilities by category
(clustered when many), the access grid coloured by walking minutes to the nearest facility
of a chosen category, the cells with a complete life circle, and ``dianchi_zones`` /
``isochrones`` when a GeoPackage holds them.  Legends (Chinese + English, with units),
tooltips with values, and the scorecard as a collapsible panel.

Size: every layer is simplified in the recipe's metric CRS (tolerance in metres per layer,
:data:`SIMPLIFY_M`), reprojected to WGS84, rounded to 6 decimals (≈ 0.1 m) and carries only
the properties its tooltip shows.  At city scale (more than ``road_dissolve_min`` road
lines, e.g. the central city's ~46k) roads are merged into one multi-line per class:
nothing is dropped, but hovering a road then shows its class totals, not the single line.

Safety: data text never reaches HTML as markup.  Tooltips are built in the browser with
``textContent``; legends and the scorecard panel are escaped with :func:`html.escape`;
GeoJSON is embedded as JSON with ``<``, ``>`` and ``&`` escaped; and nothing from the data
goes through folium's Jinja templates (which render their output a second time, so
``{{ … }}`` in a name would be evaluated): layer data and panels are emitted as raw text,
and layer names (which do pass through folium) have their braces turned into entities.
"""

from __future__ import annotations

import html
import json
import math
import os
import time
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

WGS84 = "EPSG:4326"
DECIMALS = 6  # ≈ 0.1 m

TILES = {"osm": "OpenStreetMap", "carto": "CartoDB positron", "none": None}
_CARTO_URL = "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png"
_CARTO_ATTR = ('&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors '
               '&copy; <a href="https://carto.com/attributions">CARTO</a>')
_REFUSED_TILES = {"amap", "gaode", "autonavi", "tianditu", "baidu", "tencent", "qq"}

# Simplification tolerance per layer, metres in the recipe's metric CRS (0 = none).
SIMPLIFY_M: dict[str, float] = {
    "boundary": 20.0, "built_up": 5.0, "roads": 3.0, "parks": 2.0, "green": 3.0, "facilities": 0.0,
    "access_grid": 0.0, "complete": 0.0, "dianchi_zones": 10.0, "isochrones": 20.0,
}
ROAD_DISSOLVE_MIN = 20_000  # more road lines than this: merge roads into one multi-line per class
CLUSTER_MIN = 100  # more facilities than this: cluster them (Leaflet.markercluster)
COLLAPSE_CONTROL_OVER = 8  # more overlays than this: the layer control opens on hover
CITY_BUDGET_BYTES = 15 * 2**20  # a recipe of several units (the central city)
COUNTY_BUDGET_BYTES = 8 * 2**20  # one county-level unit, or a sample

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
FACILITY_COLOURS = ["#e41a1c", "#ff7f00", "#984ea3", "#a65628", "#f781bf", "#377eb8", "#4daf4a", "#00b3b3"]
MINUTE_COLOURS = ["#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027"]  # ≤ breaks…, then >
NODATA_COLOUR = "#bdbdbd"
ZONE_COLOURS = ["#08519c", "#3182bd", "#6baed6", "#9ecae1", "#c6dbef", "#756bb1"]

LEAFLET_JS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
LEAFLET_CSS = "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"


@dataclass
class MapInfo:
    """What :func:`draw_map` wrote."""

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


# --------------------------------------------------------------------------- text safety


def esc(text: object) -> str:
    """Text → HTML text: escaped, and braces as entities (so no template engine can read ``{{ }}``)."""
    return html.escape(str(text), quote=True).replace("{", "&#123;").replace("}", "&#125;")


def js_json(obj: object) -> str:
    """JSON to embed inside ``<script>``: compact, and no ``<``, ``>``, ``&`` that could close the script."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(a, b)
    return text


# --------------------------------------------------------------------------- tiles


def check_tiles(tiles: str) -> str:
    """The tile key (osm, carto, none), or a one-line error for others (Amap/Tianditu are not WGS84)."""
    key = str(tiles).strip().lower()
    if key in TILES:
        return key
    if key in _REFUSED_TILES:
        raise KmgisError(f"--tiles {tiles}: Amap/Tianditu/Baidu tiles are in GCJ-02/CGCS2000-shifted coordinates and "
                         "would misplace the WGS84 layers by hundreds of metres; use osm, carto or none")
    raise KmgisError(f"--tiles {tiles}: unknown base tiles; use osm, carto or none")


def budget_bytes(recipe: dict | None) -> int:
    """Size budget of a map: 15 MB for a recipe of several units (the central city), else 8 MB."""
    units = (recipe or {}).get("units") or []
    return CITY_BUDGET_BYTES if len(units) > 1 else COUNTY_BUDGET_BYTES


# --------------------------------------------------------------------------- folium pieces


class _Raw(Element):
    """Text emitted as is (never rendered as a template)."""

    def __init__(self, text: str):
        super().__init__()
        self._name = "KmgisRaw"
        self._text = text

    def render(self, **kwargs) -> str:
        return self._text


class _Script(MacroElement):
    """JavaScript appended to the page's script when rendered (after its parent's own script)."""

    def __init__(self, make):
        super().__init__()
        self._name = "KmgisScript"
        self._make = make

    def render(self, **kwargs) -> None:
        self.get_root().script.add_child(_Raw(self._make(self)), name=self.get_name())


class _Map(folium.Map):
    """offlinefolium's Map embedding Leaflet only (no jQuery, Bootstrap, Font Awesome: unused here)."""

    default_js = [("leaflet", LEAFLET_JS)]
    default_css = [("leaflet_css", LEAFLET_CSS)]


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

# tooltips of layers other commands write (first those present, in this order), labels and units
_EXTRA_TIP = {
    "dianchi_zones": ["name_zh", "name_en", "zone_id", "scheme", "grade", "area_km2", "approximate", "controls_zh",
                      "controls_en"],
    "isochrones": ["name", "centre", "minutes", "time_min", "mode", "area_km2"],
}
_TIP_LABEL = {"name_zh": ("名称", ""), "name_en": ("name", ""), "zone_id": ("分区 zone", ""), "scheme": ("方案 scheme", ""),
              "grade": ("等级 grade", ""), "area_km2": ("面积 area", "km²"), "approximate": ("近似 approximate", ""),
              "controls_zh": ("管控", ""), "controls_en": ("controls", ""), "minutes": ("时间 time", "min 分钟"),
              "time_min": ("时间 time", "min 分钟"), "mode": ("方式 mode", ""), "centre": ("中心 centre", "")}
_TIP_CHARS = 200

# drawing order (Leaflet pane z-index; overlayPane is 400, markers 600, tooltips 650)
_Z = {"access_grid": 360, "complete": 365, "green": 370, "parks": 375, "dianchi_zones": 380, "isochrones": 385,
      "built_up": 390, "roads": 400, "boundary": 420, "facilities": 430}


# --------------------------------------------------------------------------- geometry and data


def _clean(v):
    """A JSON-ready scalar, or None for missing values and blank strings."""
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


def _prepare(gdf: gpd.GeoDataFrame, metric, tol_m: float) -> gpd.GeoDataFrame:
    """Simplify in the metric CRS, back to WGS84, drop empties, round to 6 decimals."""
    g = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if tol_m > 0 and len(g):
        m = g.geometry.to_crs(metric)
        lines = m.geom_type.isin(["LineString", "MultiLineString"]).to_numpy()
        geoms = m.values.copy()  # lines cannot turn invalid: plain Douglas-Peucker, much faster on big layers
        geoms[lines] = shapely.simplify(geoms[lines], tol_m, preserve_topology=False)
        geoms[~lines] = shapely.simplify(geoms[~lines], tol_m, preserve_topology=True)
        g = g.set_geometry(gpd.GeoSeries(geoms, index=g.index, crs=metric).to_crs(WGS84))
    elif g.crs is not None and pyproj.CRS(g.crs) != pyproj.CRS(WGS84):
        g = g.to_crs(WGS84)
    geoms = shapely.transform(g.geometry.values, lambda c: np.round(c, DECIMALS))
    g = g.set_geometry(gpd.GeoSeries(geoms, index=g.index, crs=WGS84))
    return g[~g.geometry.is_empty]


def _geojson(gdf: gpd.GeoDataFrame, props: dict[str, int | None] | None = None) -> dict:
    """FeatureCollection with only ``props`` (column → decimals or None), null values left out."""
    props = props or {}
    cols = [c for c in props if c in gdf.columns]
    features = []
    values = {c: gdf[c].tolist() for c in cols}
    for i, geom in enumerate(gdf.geometry.values):
        p = {}
        for c in cols:
            v = _clean(values[c][i])
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


def _read_results(out_dir: Path) -> tuple[dict[str, gpd.GeoDataFrame], pd.DataFrame | None, dict]:
    import pyogrio

    gpkg = out_dir / "indicators.gpkg"
    if not gpkg.is_file():
        raise KmgisError(f"{gpkg} not found: run `kmgis run` on the recipe first")
    try:
        names = [str(n) for n, _ in pyogrio.list_layers(gpkg)]
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


def _metric_crs(run: dict, layers: dict[str, gpd.GeoDataFrame]):
    if run.get("metric_crs"):
        try:
            return pyproj.CRS.from_user_input(run["metric_crs"])
        except pyproj.exceptions.CRSError:
            pass
    from kmgis.crs import metric_crs

    base = layers.get("boundary")
    if base is None or not len(base):
        base = next(iter(layers.values()))
    return metric_crs(base)


def _facility_labels() -> dict[str, tuple[str, str]]:
    try:
        from kmgis.config import load_layers_yaml

        cats = load_layers_yaml("facilities").get("categories", {})
        return {k: (str(v.get("zh", k)), str(v.get("en", k))) for k, v in cats.items()}
    except KmgisError:
        return {}


def _road_labels() -> dict[str, str]:
    try:
        from kmgis.config import load_layers_yaml

        return {k: str(v.get("zh", k)) for k, v in load_layers_yaml("road_classes").get("classes", {}).items()}
    except KmgisError:
        return {}


# --------------------------------------------------------------------------- legends and scorecard


def _sw_line(style: dict) -> str:
    dash = " dashed" if style.get("dashArray") else " solid"
    w = max(1.0, float(style.get("weight", 1)))
    return f'<span class="kmgis-sw" style="border-top:{w:.1f}px{dash} {style["color"]}"></span>'


def _sw_fill(colour: str, opacity: float = 0.6, border: str | None = None) -> str:
    rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    b = f";border-color:{border}" if border else ""
    return f'<span class="kmgis-sw fill" style="background:rgba({rgb[0]},{rgb[1]},{rgb[2]},{opacity}){b}"></span>'


def _sw_dot(colour: str) -> str:
    return f'<span class="kmgis-sw dot" style="background:{colour}"></span>'


def _row(swatch: str, label: str) -> str:
    return f'<div class="row">{swatch}<span>{esc(label)}</span></div>'


def _fmt_num(v, digits: int = 2) -> str:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f"{x:,.{digits}f}".rstrip("0").rstrip(".") if math.isfinite(x) else str(v)


_STATUS = {"yes": ("met", "✔ 达标 met"), "no": ("missed", "✘ 未达标 missed"), "no data": ("nodata", "无数据 no data")}


def _scorecard_panel(card: pd.DataFrame | None, run: dict) -> str:
    recipe = run.get("recipe") or {}
    title = recipe.get("name") or recipe.get("id") or "kmgis"
    if card is None or not len(card):
        return (f'<div id="kmgis-scorecard" class="kmgis-panel" style="display:none"><b>{esc(title)}</b>'
                '<p class="kmgis-note">no scorecard.csv beside the map</p></div>')
    counts = card["meets"].value_counts()
    head = (f"<b>{esc(title)}</b> · 记分卡 scorecard: 达标 met {int(counts.get('yes', 0))} · "
            f"未达标 missed {int(counts.get('no', 0))} · 无数据 no data {int(counts.get('no data', 0))}")
    rows = []
    for _, r in card.iterrows():
        cls, status = _STATUS.get(r.get("meets", ""), ("", r.get("meets", "") or "—"))
        value = r.get("value", "")
        digits = 0 if r.get("unit", "") == "persons" else 3
        value_txt = value if value in ("", "no data") else f"{_fmt_num(value, digits)} {r.get('unit', '')}"
        target = ""
        if r.get("target", ""):
            sign = {">=": "≥", "<=": "≤"}.get(r.get("comparison", ""), r.get("comparison", ""))
            year = f" ({r['year']})" if r.get("year", "") else ""
            target = f"{sign} {_fmt_num(r['target'], 3)} {r.get('unit', '')}{year}"
        label = f"{r.get('label_zh', '')} {r.get('label_en', '')}".strip() or r.get("indicator", "")
        hover = r.get("clause", "") or r.get("definition", "")
        ids = " · ".join(x for x in (r.get("indicator", ""), r.get("target_id", "")) if x)
        rows.append(
            f'<tr class="{cls}" title="{esc(hover)}"><td>{esc(label)}<br><span class="id">{esc(ids)}'
            f'</span></td><td>{esc(value_txt)}</td><td>{esc(target)}</td><td class="st">{esc(status)}</td></tr>'
        )
    note = f"recipe {recipe.get('id', '')}; scope {recipe.get('scope', '')}; hover a row for the plan clause"
    return (
        '<div id="kmgis-scorecard" class="kmgis-panel" style="display:none"><details>'
        f"<summary>{head}</summary><div class=\"kmgis-scroll\"><table><thead><tr><th>指标 indicator</th>"
        "<th>数值 value</th><th>目标 target</th><th>达标 met?</th></tr></thead><tbody>"
        + "".join(rows)
        + f'</tbody></table><p class="kmgis-note">{esc(note)}</p></div></details></div>'
    )


# --------------------------------------------------------------------------- the map


def _headline_rows(card: pd.DataFrame | None) -> list[list]:
    """Tooltip rows of the built-up area: the scorecard's headline values (constant rows)."""
    if card is None:
        return []
    keep = ["built_up_area_km2", "population_built_up", "road_density_km_per_km2", "intersection_density_per_km2",
            "dead_end_share_pct", "green_ratio_pct", "park_m2_per_person", "green_300m_pct", "park_500m_pct",
            "lifecircle_complete_pct"]
    rows = []
    one = card.drop_duplicates("indicator").set_index("indicator")
    for ind in keep:
        if ind in one.index and one.loc[ind, "value"] not in ("", "no data"):
            r = one.loc[ind]
            digits = 0 if r["unit"] == "persons" else 2
            rows.append([f"{r['label_zh']} {r['label_en']}", None, f"{_fmt_num(r['value'], digits)} {r['unit']}"])
    return rows


def draw_map(
    out_dir: Path,
    *,
    tiles: str = "osm",
    category: str | None = None,
    simplify_m: dict[str, float] | None = None,
    road_dissolve_min: int = ROAD_DISSOLVE_MIN,
    cluster_min: int = CLUSTER_MIN,
) -> MapInfo:
    """Draw ``out_dir/map.html`` from ``out_dir``'s indicators.gpkg, scorecard.csv and run.json."""
    t0 = time.perf_counter()
    tiles = check_tiles(tiles)
    out_dir = Path(out_dir)
    tol = dict(SIMPLIFY_M)
    for k, v in (simplify_m or {}).items():
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
            raise KmgisError(f"simplify {k}={v}: the tolerance must be a number of metres ≥ 0")
        tol[k] = float(v)
    layers, card, run = _read_results(out_dir)
    layers = {k: v for k, v in layers.items() if len(v)}
    if not layers:
        raise KmgisError(f"{out_dir / 'indicators.gpkg'}: no layer with features to draw")
    metric = _metric_crs(run, layers)
    recipe = run.get("recipe") or {}
    params = recipe.get("parameters") or {}
    notes: list[str] = []

    extent = (layers.get("boundary") if "boundary" in layers else next(iter(layers.values()))).to_crs(WGS84)
    x0, y0, x1, y1 = extent.total_bounds
    m = _Map(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=11, tiles=None, control_scale=True)
    view = js_json([[round(float(y0), 6), round(float(x0), 6)], [round(float(y1), 6), round(float(x1), 6)]])
    # the final view before any layer is added (no animated zoom that re-clips the drawn layers afterwards)
    _Script(lambda el: f"{el._parent.get_name()}.fitBounds({view}, {{animate: false}});\n").add_to(m)
    if tiles == "osm":
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap").add_to(m)
    elif tiles == "carto":  # CARTO asks for an API key now: taken from $CARTO_API_KEY when set
        key = os.environ.get("CARTO_API_KEY", "").strip()
        url = _CARTO_URL + (f"?key={quote(key)}" if key else "")
        if not key:
            notes.append("tiles carto: no CARTO_API_KEY set; CARTO may refuse tiles without a key (use osm or none)")
        folium.TileLayer(url, attr=_CARTO_ATTR, name="CartoDB Positron", subdomains="abcd", max_zoom=20).add_to(m)
    root = m.get_root()
    title = f"{recipe.get('name') or recipe.get('id') or out_dir.name} — kmgis map"
    root.header.add_child(_Raw(f"<title>{esc(title)}</title>" + _CSS + _JS), name="kmgis_head")
    mname = m.get_name()
    overlays: list[str] = []
    legend: list[str] = []

    def group(name: str, show: bool = True):
        fg = folium.FeatureGroup(name=esc(name), show=show)
        fg.add_to(m)
        overlays.append(name)
        return fg

    def add(parent, data: dict, opts: dict) -> None:
        payload = js_json(data)
        options = js_json(opts)
        _Script(lambda el: f"kmgis.layer({mname}, {el._parent.get_name()}, {payload}, {options});\n").add_to(parent)

    # ---- boundary
    if "boundary" in layers:
        b = layers["boundary"].copy()
        b["area_km2"] = b.geometry.to_crs(metric).area / 1e6
        g = _prepare(b, metric, tol["boundary"])
        fg = group("县区边界 County boundary")
        style = {"color": "#252525", "weight": 2.5, "fill": False, "dashArray": "8 4"}
        add(fg, _geojson(g, {"name_zh": None, "name_en": None, "unit_id": None, "adcode": None, "area_km2": 1}),
            {"z": _Z["boundary"], "style": style, "title": "县级行政区 county-level unit",
             "tip": [["名称 name", "name_zh", "", None], ["name", "name_en", "", None], ["id", "unit_id", "", None],
                     ["行政区划代码 adcode", "adcode", "", None], ["面积 area", "area_km2", "km²", 1]]})
        legend.append(f'<div data-groups="{fg.get_name()}"><h4>边界 Boundary</h4>'
                      + _row(_sw_line({"color": "#252525", "weight": 2.5, "dashArray": "8 4"}),
                             "县级行政区 county-level unit") + "</div>")

    # ---- built-up area
    if "built_up" in layers:
        bu = layers["built_up"].copy()
        bu["area_km2"] = bu.geometry.to_crs(metric).area / 1e6
        g = _prepare(bu, metric, tol["built_up"])
        fg = group("建成区 Built-up area")
        colour, edge = "#fec44f", "#d95f0e"
        method = str((run.get("built_up") or {}).get("method", "")).split(";")[0]
        add(fg, _geojson(g, {"patch_id": None, "area_km2": 2}),
            {"z": _Z["built_up"], "style": {"color": edge, "weight": 2, "fillColor": colour, "fillOpacity": 0.3},
             "title": "建成区 built-up area",
             "tip": [["面积 area", "area_km2", "km²", 2], *_headline_rows(card)]})
        area = float(bu["area_km2"].sum())
        legend.append(f'<div data-groups="{fg.get_name()}"><h4>建成区 Built-up area</h4>'
                      + _row(_sw_fill(colour, 0.45, edge), f"建成区 built-up area: {area:,.2f} km²")
                      + (f'<p class="kmgis-note">{esc(method)}</p>' if method else "") + "</div>")

    # ---- green and parks
    for key, label, colour, props, tip in (
        ("green", ("绿地 Green space", "绿地 green space"), "#74c476", {"kind": None, "name": None, "area_m2": 0},
         [["类型 kind", "kind", "", None], ["名称 name", "name", "", None], ["面积 area", "area_m2", "m²", 0]]),
        ("parks", ("公园 Parks", "公园 park"), "#238b45", {"name": None, "area_m2": 0},
         [["名称 name", "name", "", None], ["面积 area", "area_m2", "m²", 0]]),
    ):
        if key not in layers:
            continue
        g = _prepare(layers[key], metric, tol[key])
        fg = group(label[0])
        add(fg, _geojson(g, props), {"z": _Z[key], "style": {"color": colour, "weight": 1, "fillColor": colour,
                                                               "fillOpacity": 0.45}, "title": label[1], "tip": tip})
        ha = layers[key].geometry.to_crs(metric).area.sum() / 1e4
        legend.append(f'<div data-groups="{fg.get_name()}"><h4>{esc(label[0])}</h4>'
                      + _row(_sw_fill(colour, 0.45, colour), f"{label[1]}: {len(g):,}, {ha:,.1f} ha") + "</div>")

    # ---- roads by class
    if "roads" in layers:
        roads = layers["roads"]
        zh = _road_labels()
        cls_col = roads["road_class"].fillna("other") if "road_class" in roads.columns else pd.Series("other", index=roads.index)
        lengths = roads.geometry.to_crs(metric).length / 1000.0
        dissolve = len(roads) > road_dissolve_min
        if dissolve:
            notes.append(f"roads: {len(roads):,} lines > {road_dissolve_min:,}: merged into one multi-line per class "
                         "(all classes kept; hover shows class totals)")
        order = [c for c in ROAD_STYLE if (cls_col == c).any()] + sorted(set(cls_col) - set(ROAD_STYLE))
        groups, rows = [], []
        for rank, cls in enumerate(order):  # widest class first in the control, and drawn on top
            sel = roads[cls_col == cls]
            style = ROAD_STYLE.get(cls, _OTHER_ROAD)
            km = float(lengths[cls_col == cls].sum())
            label_zh = zh.get(cls, "")
            if dissolve:
                merged = shapely.line_merge(shapely.multilinestrings(sel.geometry.to_crs(metric).values))
                sel = gpd.GeoDataFrame({"road_class": [cls], "length_km": [km], "lines": [len(sel)]},
                                       geometry=gpd.GeoSeries([merged], crs=metric).to_crs(WGS84), crs=WGS84)
                props = {"length_km": 1, "lines": 0}
                tip = [["长度 length", "length_km", "km", 1], ["线段 lines", "lines", "", 0]]
            else:
                props = {"name": None, "highway": None}
                tip = [["名称 name", "name", "", None], ["OSM highway", "highway", "", None]]
            g = _prepare(sel, metric, tol["roads"])
            fg = group(" ".join(f"道路 {label_zh} Roads: {cls}".split()))
            groups.append(fg.get_name())
            add(fg, _geojson(g, props), {"z": _Z["roads"] + len(order) - rank, "style": dict(style, opacity=0.9),
                                          "title": f"{label_zh} {cls}".strip(), "tip": tip})
            rows.append(_row(_sw_line(style), f"{label_zh} {cls}: {km:,.1f} km".strip()))
        legend.append(f'<div data-groups="{" ".join(groups)}"><h4>道路 Roads (GB/T 51328 class, km in map)</h4>'
                      + "".join(rows)
                      + (f'<p class="kmgis-note">{esc(notes[-1])}</p>' if dissolve else "") + "</div>")

    # ---- facilities by category
    if "facilities" in layers:
        fac = layers["facilities"]
        labels = _facility_labels()
        cats = fac["category"].fillna("other").astype(str) if "category" in fac.columns else pd.Series("other", index=fac.index)
        order = [c for c in labels if (cats == c).any()] + sorted(set(cats) - set(labels))
        cluster = len(fac) > cluster_min
        if cluster:
            from offlinefolium.plugins import MarkerCluster
            notes.append(f"facilities: {len(fac):,} points > {cluster_min}: clustered")
        groups, rows = [], []
        for i, cat in enumerate(order):
            zh_en = labels.get(cat, ("", cat))
            label = " ".join(f"{zh_en[0]} {zh_en[1]}".split())
            colour = FACILITY_COLOURS[i % len(FACILITY_COLOURS)] if cat in labels else "#636363"
            g = _prepare(fac[cats == cat], metric, tol["facilities"])
            fg = group(" ".join(f"设施 {zh_en[0]} Facilities: {zh_en[1]}".split()))
            groups.append(fg.get_name())
            parent = fg
            if cluster:
                parent = MarkerCluster(control=False, options={"maxClusterRadius": 40, "disableClusteringAtZoom": 16,
                                                               "showCoverageOnHover": False})
                parent.add_to(fg)
            add(parent, _geojson(g, {"name": None}),
                {"z": _Z["facilities"], "style": {"radius": 5, "color": "#ffffff", "weight": 1, "fillColor": colour,
                                                   "fillOpacity": 0.95},
                 "title": label, "tip": [["名称 name", "name", "", None]]})
            rows.append(_row(_sw_dot(colour), f"{label}: {len(g):,}"))
        legend.append(f'<div data-groups="{" ".join(groups)}"><h4>设施 Facilities (count)</h4>' + "".join(rows)
                      + (f'<p class="kmgis-note">{esc(notes[-1])}</p>' if cluster else "") + "</div>")

    # ---- access grid
    if "access_grid" in layers:
        grid = layers["access_grid"]
        labels = _facility_labels()
        cols = [c for c in grid.columns if c.startswith("walk_min_")]
        cats = [c[len("walk_min_"):] for c in cols]
        complete_col = next((c for c in grid.columns if c.startswith("complete_") and c.endswith("min")), None)
        minutes = float(params.get("lifecircle_minutes") or 15)
        if category is not None and category not in cats:
            raise KmgisError(f"--category {category}: the access grid has no walk_min_{category}; "
                             f"choose one of {', '.join(cats)}")
        if category is None:
            with_values = [c for c in cats if grid[f"walk_min_{c}"].notna().any()]
            category = (with_values or cats or [None])[0]
        if category is not None:
            g = _prepare(grid, metric, tol["access_grid"])
            zh_en = labels.get(category, (category, category))
            breaks = sorted({5.0, 10.0, minutes, 20.0, 30.0})[: len(MINUTE_COLOURS) - 1]
            colours = MINUTE_COLOURS[: len(breaks) + 1]
            props = {c: 1 for c in cols} | ({complete_col: None} if complete_col else {})
            tip = [[f"{labels.get(c, (c, c))[0]} {labels.get(c, (c, c))[1]}", f"walk_min_{c}", "min 分钟", 1] for c in cats]
            if complete_col:
                tip.append([f"完整{minutes:g}分钟生活圈 complete {minutes:g}-min circle", complete_col, "", None])
            fg = group(f"步行至{zh_en[0]}时间 Walk minutes to {zh_en[1]}")
            add(fg, _geojson(g, props),
                {"z": _Z["access_grid"], "style": {"color": "#ffffff", "weight": 0.3, "fillOpacity": 0.4},
                 "by": {"key": f"walk_min_{category}", "breaks": breaks, "colors": colours, "nodata": NODATA_COLOUR},
                 "title": "步行可达网格 access grid (walking minutes 步行分钟)", "tip": tip})
            lows = [0.0, *breaks]
            rows = [_row(_sw_fill(colours[i], 0.7), f"{lows[i]:g}–{breaks[i]:g} min 分钟") for i in range(len(breaks))]
            rows.append(_row(_sw_fill(colours[len(breaks)], 0.7), f"> {breaks[-1]:g} min 分钟"))
            rows.append(_row(_sw_fill(NODATA_COLOUR, 0.7), "未达/无设施 unreached or none"))
            cell = (run.get("recipe") or {}).get("parameters", {}).get("access_grid_cell_m")
            note = (f"walking minutes from each {cell:g} m cell's centre to the nearest {zh_en[1]} on the walk network"
                    if isinstance(cell, (int, float)) else
                    f"walking minutes from each cell's centre to the nearest {zh_en[1]} on the walk network")
            if complete_col and not grid[complete_col].astype(bool).any():
                empty = [labels.get(c, (c, c))[1] for c in cats if grid[f"walk_min_{c}"].isna().all()]
                note += (f"; 完整{minutes:g}分钟生活圈 complete {minutes:g}-min circle: no cell has every category "
                         f"within {minutes:g} min" + (f" (none reached: {', '.join(empty)})" if empty else ""))
            legend.append(f'<div data-groups="{fg.get_name()}"><h4>步行至{esc(zh_en[0])} Walk to {esc(zh_en[1])}</h4>'
                          + "".join(rows) + f'<p class="kmgis-note">{esc(note)}</p></div>')
            if complete_col and grid[complete_col].astype(bool).any():
                done = grid[grid[complete_col].astype(bool)]
                area_km2 = float(done.geometry.to_crs(metric).area.sum() / 1e6)
                merged = shapely.union_all(done.geometry.to_crs(metric).values)
                comp = gpd.GeoDataFrame({"cells": [len(done)], "area_km2": [area_km2]},
                                        geometry=gpd.GeoSeries([merged], crs=metric).to_crs(WGS84), crs=WGS84)
                g = _prepare(comp, metric, tol["complete"])
                fg = group(f"完整{minutes:g}分钟生活圈 Complete {minutes:g}-min life circle")
                add(fg, _geojson(g, {"cells": 0, "area_km2": 2}),
                    {"z": _Z["complete"], "style": {"color": "#08306b", "weight": 2, "fillColor": "#2171b5",
                                                     "fillOpacity": 0.08},
                     "title": f"完整{minutes:g}分钟生活圈 complete {minutes:g}-minute life circle",
                     "tip": [["网格 cells", "cells", "", 0], ["面积 area", "area_km2", "km²", 2]]})
                legend.append(f'<div data-groups="{fg.get_name()}"><h4>完整生活圈 Complete life circle</h4>'
                              + _row(_sw_fill("#2171b5", 0.15, "#08306b"),
                                     f"every category within {minutes:g} min 分钟: {area_km2:,.2f} km²") + "</div>")

    # ---- Dianchi zones and isochrones (written by other commands into the same GeoPackage)
    for key, title in (("dianchi_zones", ("滇池保护分区 Dianchi zones", "滇池保护分区 Dianchi protection zone")),
                       ("isochrones", ("等时圈 Isochrones", "等时圈 isochrone"))):
        if key not in layers:
            continue
        lay = layers[key].copy()
        gcol = lay.geometry.name
        texts = [c for c in lay.columns if c != gcol and (pd.api.types.is_string_dtype(lay[c])
                                                         or pd.api.types.is_object_dtype(lay[c]))]
        simple = [c for c in lay.columns if c != gcol and (c in texts or pd.api.types.is_bool_dtype(lay[c])
                                                          or pd.api.types.is_numeric_dtype(lay[c]))]
        first = [c for c in _EXTRA_TIP.get(key, []) if c in simple]
        shown = (first or simple)[:9]
        for c in shown:  # long texts (methods, controls) trimmed for the tooltip
            if c in texts:
                lay[c] = lay[c].map(lambda v: v[:_TIP_CHARS] + "…" if isinstance(v, str) and len(v) > _TIP_CHARS else v)
        props = {c: (2 if pd.api.types.is_float_dtype(lay[c]) else None) for c in shown}
        tip = [[_TIP_LABEL.get(c, (c, ""))[0], c, _TIP_LABEL.get(c, (c, ""))[1], props[c]] for c in shown]
        opts: dict = {"z": _Z[key], "title": title[1], "tip": tip}
        rows = []
        if key == "isochrones":
            mcol = next((c for c in ("minutes", "time_min", "contour_min", "contour") if c in lay.columns), None)
            if mcol is None:
                mcol = next((c for c in simple if pd.api.types.is_numeric_dtype(lay[c])), None)
            opts["style"] = {"color": "#54278f", "weight": 1.5, "fillOpacity": 0.12}
            if mcol is not None:
                lay = lay.sort_values(mcol, ascending=False)  # the shortest time on top
                props.setdefault(mcol, 1)
                vals = sorted(float(v) for v in lay[mcol].dropna().unique())[:6]
                colours = ["#3f007d", "#54278f", "#6a51a3", "#807dba", "#9e9ac8", "#bcbddc"][: max(1, len(vals))]
                opts["by"] = {"key": mcol, "breaks": vals or [0.0], "colors": colours + [colours[-1]],
                              "nodata": NODATA_COLOUR, "line": True}
                rows = [_row(_sw_fill(colours[i], 0.3, colours[i]), f"≤ {v:g} min 分钟") for i, v in enumerate(vals)]
        else:
            lay = lay.assign(_area=lay.geometry.to_crs(metric).area).sort_values("_area", ascending=False)
            zcol = next((c for c in ("zone_id", "zone", "grade", "level", "name") if c in lay.columns), None)
            opts["style"] = {"color": "#08519c", "weight": 1.5, "fillOpacity": 0.15}
            if zcol is not None:
                lay[zcol] = lay[zcol].map(lambda v: None if v is None or v is pd.NA or v != v else str(v))
                zones = [z for z in pd.unique(lay[zcol].dropna())][:24]
                cmap = {z: ZONE_COLOURS[i % len(ZONE_COLOURS)] for i, z in enumerate(zones)}
                opts["colorKey"], opts["colors"] = zcol, cmap
                props.setdefault(zcol, None)
                for z, c in cmap.items():
                    row = lay[lay[zcol] == z].iloc[0]
                    name = " ".join(str(row[n]) for n in ("name_zh", "name_en") if n in lay.columns and _clean(row[n]))
                    rows.append(_row(_sw_fill(c, 0.3, c), f"{name} ({z})" if name else z))
            if "approximate" in lay.columns and lay["approximate"].fillna(False).astype(bool).any():
                rows.append('<p class="kmgis-note">近似 approximate: derived from the regulation\'s rules, '
                            "not official boundaries</p>")
        g = _prepare(lay, metric, tol[key])
        fg = group(title[0])
        add(fg, _geojson(g, props), opts)
        legend.append(f'<div data-groups="{fg.get_name()}"><h4>{esc(title[0])}</h4>' + "".join(rows) + "</div>")

    folium.LayerControl(collapsed=len(overlays) > COLLAPSE_CONTROL_OVER).add_to(m)
    note = "kmgis · 离线地图 offline map (底图需联网 base tiles need internet) · WGS84"
    legend_html = ('<div id="kmgis-legend" class="kmgis-panel" style="display:none"><b>图例 Legend</b>'
                   + "".join(legend) + f'<p class="kmgis-note">{esc(note)}</p></div>')
    root.html.add_child(_Raw(_scorecard_panel(card, run) + legend_html), name="kmgis_panels")
    _Script(lambda el: f"kmgis.panels({mname});\n").add_to(m)

    from kmgis.outputs.files import write_text

    page = root.render()
    path = write_text(page, out_dir / "map.html")
    size = path.stat().st_size
    return MapInfo(path, size, budget_bytes(recipe), round(time.perf_counter() - t0, 2), overlays, notes)
