"""Maps of the Dianchi zones and of a checked site (standalone HTML pages that open offline).

Drawn on :class:`kmgis.outputs.maps.OfflineMap` (offlinefolium's map embedding Leaflet only), one
toggleable FeatureGroup per layer with a tooltip.  All text from the rules and the user (zone
names, controls, site labels) is escaped with :func:`kmgis.geom.html_text` — folium renders its
templates a second time, so braces are turned into entities too.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import offlinefolium as folium
import shapely

from kmgis.geom import html_text
from kmgis.indicators.dianchi import ZoneSet
from kmgis.indicators.sitecheck import Layer
from kmgis.model import WGS84
from kmgis.outputs.maps import OfflineMap
from kmgis.sources.site import METRIC_CRS, Site

ZONE_COLOURS = {
    "dianchi_water": "#1f78b4", "g2013_zone1": "#e31a1c", "g2013_zone2": "#fd8d3c", "g2013_zone2_rivers": "#fd8d3c",
    "g2013_zone3": "#fed976", "g2023_core": "#b2182b", "g2023_buffer": "#ef8a62", "g2023_green": "#1a9850",
    "dianchi_basin": "#666666",
}
"""Colour per zone id (others: grey)."""

SHOWN_ZONES = {"dianchi_water", "g2013_zone1", "g2013_zone2", "g2023_core", "g2023_buffer"}
"""The zones switched on when a map opens (the others are listed in the layer control)."""

_NOTE_STYLE = "position:fixed;bottom:8px;left:8px;z-index:9999;max-width:46%;background:#fff;padding:6px;"


def add_zone_layers(fmap: Any, zones: ZoneSet, *, show: set[str] | None = None, simplify_m: float = 10.0) -> None:
    """One toggleable layer per derived zone, with an escaped tooltip (name, area in km², controls).

    ``show`` lists the zone ids switched on (None: all); geometries are simplified by
    ``simplify_m`` metres in the zones' metric CRS (0: not simplified).
    """
    for z in zones.derived():
        tag = "approximate" if z.approximate else "official"
        geom = z.geometry.simplify(simplify_m) if simplify_m else z.geometry
        gj = gpd.GeoSeries([geom], crs=zones.crs).to_crs(WGS84)
        props = {
            "zone": html_text(f"{z.name_zh} — {z.name_en}"),
            "status": html_text(f"{tag}; {z.area_km2:,.2f} km²"
                                + (f" (published {z.published_km2:g} km²)" if z.published_km2 else "")),
            "controls": html_text(f"{z.controls_zh} / {z.controls_en}"),
        }
        feature = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(gj.iloc[0])}]}
        colour = ZONE_COLOURS.get(z.id, "#888888")
        group = folium.FeatureGroup(name=html_text(f"{z.name_zh} {z.name_en} [{tag}]"),
                                    show=(show is None or z.id in show))
        folium.GeoJson(feature, style_function=lambda _f, c=colour: {"color": c, "weight": 1.5, "fillColor": c,
                                                                    "fillOpacity": 0.25},
                       tooltip=folium.GeoJsonTooltip(fields=["zone", "status", "controls"],
                                                     aliases=["zone", "status", "controls"])).add_to(group)
        group.add_to(fmap)


def zones_map_html(zones: ZoneSet, title: str = "滇池保护分区 Dianchi protection zones") -> str:
    """A standalone layered map of the derived zones (HTML text, all text escaped)."""
    lake = gpd.GeoSeries([zones.get("dianchi_water").geometry or shapely.Point(0, 0)], crs=zones.crs)
    c = lake.to_crs(WGS84).iloc[0].centroid
    fmap = OfflineMap(location=[c.y, c.x], zoom_start=10, tiles="OpenStreetMap", control_scale=True)
    add_zone_layers(fmap, zones, show=SHOWN_ZONES)
    folium.LayerControl(collapsed=False).add_to(fmap)
    note = ("All zones are APPROXIMATE (derived from a simplified OSM lake outline and assumed distances, "
            "see layers/dianchi_zones.yaml) unless marked official. "
            + " | ".join(zones.notes))
    fmap.get_root().html.add_child(folium.Element(
        f'<div style="{_NOTE_STYLE}font:12px sans-serif;border:1px solid #999"><b>{html_text(title)}</b><br>'
        f"{html_text(note)}</div>"))
    return fmap.get_root().render()


def _add_protection_layers(fmap: Any, layers: list[Layer]) -> None:
    """One layer per catalogue protection layer (the Dianchi zones are drawn by :func:`add_zone_layers`)."""
    for layer in layers:
        if layer.kind != "protection":
            continue
        g = gpd.GeoSeries([layer.geometry.simplify(5)], crs=METRIC_CRS).to_crs(WGS84).iloc[0]
        group = folium.FeatureGroup(name=html_text(f"{layer.name_zh} {layer.name_en}"))
        folium.GeoJson({"type": "Feature", "properties": {"name": html_text(layer.name_zh)},
                        "geometry": shapely.geometry.mapping(g)},
                       style_function=lambda _f: {"color": "#6a3d9a", "weight": 1.5, "fillOpacity": 0.2},
                       tooltip=folium.GeoJsonTooltip(fields=["name"])).add_to(group)
        group.add_to(fmap)


def site_map_html(result: dict[str, Any], site: Site, zones: ZoneSet, layers: list[Layer]) -> str:
    """A standalone map: the Dianchi zones, other protection layers and the site with its verdict (all text escaped)."""
    c = shapely.union_all(np.asarray(site.gdf.geometry.values)).centroid
    fmap = OfflineMap(location=[c.y, c.x], zoom_start=13, tiles="OpenStreetMap", control_scale=True)
    add_zone_layers(fmap, zones, show=SHOWN_ZONES)
    _add_protection_layers(fmap, layers)
    site_group = folium.FeatureGroup(name=html_text(f"site: {result['site']['input']}"))
    for f, geom in zip(result["features"], site.gdf.geometry.values, strict=True):
        props = {"site": html_text(f"feature {f['feature']}: {f['label']}"),
                 "verdict": html_text(f"{f['verdict']}: " + "; ".join(f["reasons"]))}
        folium.GeoJson({"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)},
                       style_function=lambda _f: {"color": "#000000", "weight": 3, "fillOpacity": 0.1},
                       marker=folium.CircleMarker(radius=7, color="#000000", fill=True),
                       tooltip=folium.GeoJsonTooltip(fields=["site", "verdict"])).add_to(site_group)
    site_group.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    minx, miny, maxx, maxy = site.gdf.total_bounds
    pad = 0.01
    fmap.fit_bounds([[miny - pad, minx - pad], [maxy + pad, maxx + pad]])
    note = f"verdict: {result['verdict_text']}. Dianchi zones are approximate unless official."
    fmap.get_root().html.add_child(folium.Element(
        f'<div style="{_NOTE_STYLE}font:12px sans-serif;border:1px solid #999">{html_text(note)}</div>'))
    return fmap.get_root().render()
