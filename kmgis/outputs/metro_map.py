"""The map of a metro or isochrone run: ``map.html`` from ``isochrones.gpkg`` and ``run.json``.

Built on the pieces of the map builder of :mod:`kmgis.outputs.maps` (its offline map class
:class:`~kmgis.outputs.maps.OfflineMap`, with Leaflet embedded, raw HTML and the tile check), so
the page renders without a network; its layers are folium GeoJSON layers with folium tooltips.  Layers: the
isochrones (one per budget, the shortest on top), the member units, the major roads, the
member seats coloured by the band their time falls in, the origins; a legend with the data
warning in red when there is one.  All text from the data is escaped
(:func:`kmgis.geom.html_text`), braces included, so no template engine can read it.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import offlinefolium as folium
import pandas as pd
import shapely

from kmgis.errors import KmgisError
from kmgis.geom import html_text, spatial_layers
from kmgis.model import WGS84
from kmgis.outputs.files import write_text
from kmgis.outputs.maps import TILES, OfflineMap, RawHtml, check_tiles

ISO_COLOURS = ["#3f007d", "#6a51a3", "#9e9ac8", "#cbc9e2", "#dadaeb", "#f2f0f7"]
"""Fill colours of the isochrones, shortest budget first."""
BEYOND_COLOUR = "#d7301f"
"""A member seat whose time is beyond the largest budget."""
NO_TIME_COLOUR = "#969696"
"""A member seat without a time (outside the data, not connected)."""

_DEFAULT_CRS = "EPSG:32648"
_UNITS_SIMPLIFY_M = 50.0
_ROADS_SIMPLIFY_M = 20.0

Band = tuple[float, str, float]  # (minutes, colour, area km²)


def _member_colour(minutes: float, bands: list[Band]) -> str:
    """The colour of the smallest isochrone band holding ``minutes`` (``bands`` ascending:
    (minutes, colour, area)); beyond the largest band, or no time, their own colours."""
    if not np.isfinite(minutes):
        return NO_TIME_COLOUR
    return next((c for m, c, _ in bands if minutes <= m), BEYOND_COLOUR)


def _read_results(out_dir: Path) -> tuple[dict[str, gpd.GeoDataFrame], dict]:
    """The layers of ``isochrones.gpkg`` and ``run.json`` (empty when absent)."""
    gpkg = out_dir / "isochrones.gpkg"
    if not gpkg.is_file():
        raise KmgisError(f"{gpkg} not found: run the isochrones first")
    names = spatial_layers(gpkg)
    layers = {n: gpd.read_file(gpkg, layer=n, engine="pyogrio") for n in names}
    run_json = out_dir / "run.json"
    run = json.loads(run_json.read_text(encoding="utf-8")) if run_json.is_file() else {}
    return layers, run


def _present(layers: dict[str, gpd.GeoDataFrame], name: str) -> bool:
    return name in layers and len(layers[name]) > 0


def _slim(gdf: gpd.GeoDataFrame, crs: str, tol_m: float) -> gpd.GeoDataFrame:
    """Simplified by ``tol_m`` metres in ``crs``, back in WGS84, coordinates to 1e-6 degrees."""
    g = gdf.to_crs(crs)
    if tol_m > 0:
        g = g.set_geometry(g.geometry.simplify(tol_m))
    g = g.to_crs(WGS84)
    return g.set_geometry(shapely.set_precision(g.geometry.values, 1e-6))


def _props(gdf: gpd.GeoDataFrame, cols: list[str]) -> gpd.GeoDataFrame:
    """Only ``cols`` (those present) and the geometry; text escaped, missing text blank."""
    out = gdf[[c for c in cols if c in gdf.columns] + [gdf.geometry.name]].copy()
    for c in out.columns:
        if c != out.geometry.name and out[c].dtype == object:
            out[c] = out[c].map(lambda v: html_text(v) if v is not None and v == v else "")
    return out


def _bands(iso_layer: gpd.GeoDataFrame) -> list[Band]:
    """(minutes, colour, area km²) of each isochrone, shortest first."""
    rows = []
    for i, (_, r) in enumerate(iso_layer.sort_values("minutes").iterrows()):
        rows.append((float(r["minutes"]), ISO_COLOURS[min(i, len(ISO_COLOURS) - 1)], float(r["area_km2"])))
    return rows


def _add_isochrones(fmap: folium.Map, iso_layer: gpd.GeoDataFrame, bands: list[Band], crs: str,
                    simplify_m: float) -> None:
    colour_of = {m: c for m, c, _ in bands}
    for _, r in iso_layer.sort_values("minutes", ascending=False).iterrows():  # the shortest on top
        row = gpd.GeoDataFrame([r], geometry=iso_layer.geometry.name, crs=iso_layer.crs)
        one = _props(_slim(row, crs, simplify_m),
                     ["minutes", "area_km2", "mode", "band", "centre", "data_warning"])
        fg = folium.FeatureGroup(name=html_text(f"等时圈 {r['minutes']:g} min isochrone"))
        colour = colour_of[float(r["minutes"])]
        tip = [c for c in ["minutes", "area_km2", "mode", "band", "data_warning"] if c in one.columns]
        folium.GeoJson(one.to_json(),
                       style_function=lambda _f, c=colour: {"color": c, "weight": 1.5, "fillColor": c,
                                                            "fillOpacity": 0.18},
                       tooltip=folium.GeoJsonTooltip(fields=tip)).add_to(fg)
        fg.add_to(fmap)


def _add_units(fmap: folium.Map, units: gpd.GeoDataFrame, crs: str) -> None:
    u = _props(_slim(units, crs, _UNITS_SIMPLIFY_M), ["name_zh", "unit_id", "role"])
    fg = folium.FeatureGroup(name="成员县区 Member units")
    folium.GeoJson(u.to_json(), style_function=lambda _f: {"color": "#252525", "weight": 1.5, "fill": False,
                                                          "dashArray": "6 4"},
                   tooltip=folium.GeoJsonTooltip(fields=["name_zh", "unit_id", "role"])).add_to(fg)
    fg.add_to(fmap)


def _add_major_roads(fmap: folium.Map, roads: gpd.GeoDataFrame, crs: str) -> None:
    mr = _props(_slim(roads, crs, _ROADS_SIMPLIFY_M), ["road_class"])
    fg = folium.FeatureGroup(name="快速路与主干路 Expressways and arterials (in the data)", show=False)
    folium.GeoJson(mr.to_json(), style_function=lambda f: {
        "color": "#7a0177" if f["properties"].get("road_class") == "expressway" else "#d7301f",
        "weight": 2.5 if f["properties"].get("road_class") == "expressway" else 1.5}).add_to(fg)
    fg.add_to(fmap)


def _add_members(fmap: folium.Map, members: gpd.GeoDataFrame, run: dict, bands: list[Band]) -> None:
    """Member seats, coloured by the band of their time in the run's ``within_band``."""
    time_cols = [c for c in members.columns if "_min_" in c and not c.startswith("unit_entry")]
    cols = ["name_zh", "unit", "role", *time_cols, *[c for c in members.columns if c.startswith("within_")],
            "seat_kind", "data_warning"]
    mp = _props(members, cols)
    t_col = f"{run.get('mode', 'drive')}_min_{run.get('within_band') or 'free'}"
    t_min = (pd.to_numeric(members[t_col], errors="coerce") if t_col in members.columns
             else pd.Series(np.nan, members.index))
    mp["colour"] = [_member_colour(v, bands) for v in t_min]
    fg = folium.FeatureGroup(name="成员驻地 Member seats (coloured by travel time)")
    folium.GeoJson(mp.to_json(),
                   marker=folium.CircleMarker(radius=7, fill=True, fill_opacity=0.95, weight=1.5),
                   style_function=lambda f: {"color": "#000000", "fillColor": f["properties"]["colour"]},
                   tooltip=folium.GeoJsonTooltip(fields=[c for c in cols if c in mp.columns])).add_to(fg)
    fg.add_to(fmap)


def _add_origins(fmap: folium.Map, origins: gpd.GeoDataFrame) -> None:
    op = _props(origins, ["name", "source", "snap_m"])
    fg = folium.FeatureGroup(name="起点 Origin")
    folium.GeoJson(op.to_json(), marker=folium.CircleMarker(radius=8, fill=True, fill_opacity=1, weight=2),
                   style_function=lambda f: {"color": "#000000", "fillColor": "#fee08b"},
                   tooltip=folium.GeoJsonTooltip(fields=["name", "source"])).add_to(fg)
    fg.add_to(fmap)


def _legend_html(run: dict, iso_layer: gpd.GeoDataFrame, bands: list[Band], with_members: bool) -> str:
    """The legend: title, data warning and check messages (red), each band's area, member colours, method."""
    legend = ['<div style="position:fixed;bottom:24px;left:12px;z-index:1000;background:#fff;'
              'padding:8px 10px;border:1px solid #999;font:12px sans-serif;max-width:340px">',
              f"<b>{html_text((run.get('recipe') or {}).get('name', 'isochrones'))}</b><br>"]
    warning = str(run.get("data_warning") or "")
    if warning:
        legend.append(f'<div style="color:#b10026;font-weight:bold;margin:4px 0">⚠ {html_text(warning)}'
                      '</div>')
        check = run.get("data_check") or {}
        for msg in (check.get("messages") or [])[1:]:
            legend.append(f'<div style="color:#b10026;font-size:11px">{html_text(msg)}</div>')
    mode = run.get("mode", "drive")
    band = (iso_layer["band"].iloc[0] if "band" in iso_layer.columns and len(iso_layer) else "")
    legend.append(f"<div>{html_text(mode)} time, band {html_text(band)} 出行时间</div>")
    for m, c, a in bands:
        legend.append(f'<div><span style="display:inline-block;width:14px;height:10px;background:{c};'
                      f'opacity:.7;border:1px solid {c}"></span> ≤ {m:g} min 分钟: {a:,.1f} km²</div>')
    if with_members and bands:
        legend.append('<div style="margin-top:4px">● 成员驻地 member seats: the colour of the band their '
                      f'time falls in; <span style="color:{BEYOND_COLOUR}">●</span> beyond '
                      f'{bands[-1][0]:g} min; '
                      f'<span style="color:{NO_TIME_COLOUR}">●</span> no time (outside data, not connected)'
                      '</div>')
    method = run.get("isochrone_method") or "reached roads buffered and unioned; small holes filled"
    legend.append(f'<div style="font-size:11px;color:#555">{html_text(method)}</div></div>')
    return "".join(legend)


def _extent(layers: dict[str, gpd.GeoDataFrame]) -> tuple[float, float, float, float]:
    """(west, south, east, north) degrees of the isochrones and the member units."""
    x0, y0, x1, y1 = layers["isochrones"].total_bounds
    if _present(layers, "units"):
        ux0, uy0, ux1, uy1 = layers["units"].total_bounds
        x0, y0, x1, y1 = min(x0, ux0), min(y0, uy0), max(x1, ux1), max(y1, uy1)
    return x0, y0, x1, y1


def write_isochrone_map(out_dir: Path, *, tiles: str = "osm", simplify_m: float = 20.0) -> Path:
    """Write ``out_dir/map.html`` from ``isochrones.gpkg`` and ``run.json`` (offline-capable, text escaped).

    Parameters
    ----------
    out_dir : Path
        A metro or isochrone run's output folder.
    tiles : str
        Base tiles: ``osm``, ``carto`` or ``none`` (:func:`kmgis.outputs.maps.check_tiles`).
    simplify_m : float
        Simplification of the isochrones, metres in the run's metric CRS.

    Returns
    -------
    Path
        The map, written atomically.
    """
    out_dir = Path(out_dir)
    layers, run = _read_results(out_dir)
    tile_layer = TILES[check_tiles(tiles)]
    crs = run.get("metric_crs") or _DEFAULT_CRS
    x0, y0, x1, y1 = _extent(layers)
    fmap = OfflineMap(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=9, tiles=tile_layer,
                      control_scale=True)
    fmap.fit_bounds([[y0, x0], [y1, x1]])
    iso_layer = layers["isochrones"]
    bands = _bands(iso_layer)
    _add_isochrones(fmap, iso_layer, bands, crs, simplify_m)
    if _present(layers, "units"):
        _add_units(fmap, layers["units"], crs)
    if _present(layers, "major_roads"):
        _add_major_roads(fmap, layers["major_roads"], crs)
    if _present(layers, "members"):
        _add_members(fmap, layers["members"], run, bands)
    if _present(layers, "origins"):
        _add_origins(fmap, layers["origins"])
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.get_root().html.add_child(RawHtml(_legend_html(run, iso_layer, bands, _present(layers, "members"))))
    return write_text(fmap.get_root().render(), out_dir / "map.html")
