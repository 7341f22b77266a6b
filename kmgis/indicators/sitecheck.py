"""The red-line site check (pure): how a site relates to protection layers, and the verdict.

Per layer: relation (inside / overlaps / outside), overlap area in m² and % of the site,
distance in metres from the site to the layer's boundary, the controls and the approximate
flag.  Verdict: ``conflict`` (exit code 3), ``caution`` (within ``caution_m`` of a boundary, or
inside a zone whose controls call for caution; exit 0) or ``clear`` (exit 0) — always naming the
layers that could not be checked.  All geometry is in EPSG:32648 (metres); the site and the
layers come in as data (:class:`~kmgis.sources.site.Site`, :class:`Layer`), nothing is read here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import shapely

from kmgis.errors import KmgisError
from kmgis.sources.site import METRIC_CRS, Site

DEFAULT_CAUTION_M = 200.0
MAX_CAUTION_M = 50_000.0


@dataclass
class Layer:
    """One protection layer to check: its geometry (metric, metres) and how a site relates to it.

    ``kind`` is ``dianchi_zone`` or ``protection``; ``mode`` is ``keep_out`` (a site inside is
    ``effect_inside``) or ``stay_within`` (a site not wholly inside is a conflict).
    """

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
    """A protection layer that could not be checked, and what to supply."""

    id: str
    name_zh: str
    name_en: str
    supply: str


def check_caution_m(caution_m: float) -> float:
    """``caution_m`` (metres) when it lies in 0–50,000, else a one-line :class:`KmgisError`."""
    if not (0 <= caution_m <= MAX_CAUTION_M) or math.isnan(caution_m):
        raise KmgisError(f"--caution-m must be between 0 and 50000 m, got {caution_m:g}")
    return caution_m


def relate(site: shapely.Geometry, zone: shapely.Geometry) -> dict[str, Any]:
    """Relation, overlap (m², % of the site) and distance to the zone boundary (m), metric inputs."""
    areal = site.geom_type in ("Polygon", "MultiPolygon")
    intersects = site.intersects(zone)
    overlap = site.intersection(zone).area if (areal and intersects) else (0.0 if areal else None)
    if areal and intersects and overlap == 0.0:
        intersects = False  # a site that only touches the zone's boundary shares no area: outside, 0 m away
    inside = intersects and zone.covers(site)
    relation = "inside" if inside else ("overlaps" if intersects else "outside")
    site_area = site.area if areal else None
    pct = (100.0 * overlap / site_area) if (areal and site_area) else None
    dist = float(site.distance(zone.boundary))
    return {"relation": relation, "overlap_m2": overlap, "overlap_pct": pct, "distance_m": dist,
            "site_area_m2": site_area}


def _effect(layer: Layer, rel: dict[str, Any], site: shapely.Geometry, caution_m: float) -> tuple[str, str]:
    """The effect of one layer on one site feature (``none``/``caution``/``conflict``) and the reason."""
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


def _feature_rows(geom: shapely.Geometry, layers: list[Layer], unavailable: list[Unavailable],
                  caution_m: float) -> tuple[list[dict[str, Any]], list[str], int]:
    """One site feature against every layer: the rows, the reasons and the worst rank."""
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
    return rows, reasons, frank


def check_site(site: Site, layers: list[Layer], unavailable: list[Unavailable],
               caution_m: float = DEFAULT_CAUTION_M) -> dict[str, Any]:
    """The check result (JSON-ready): per feature, per layer, and the overall verdict.

    Parameters
    ----------
    site : the site's features (``site.metric`` in EPSG:32648 metres, ``site.gdf`` WGS84 with ``label``).
    layers : the protection layers to check (metric geometries).
    unavailable : the layers that could not be checked (listed, never counted as clear).
    caution_m : a site within this distance (metres) of a zone boundary gets a caution.

    Returns
    -------
    dict
        ``verdict`` (clear/caution/conflict), ``exit_code`` (3 for a conflict, else 0), the features
        with their rows per layer (areas in m², distances in m), the unavailable and approximate layers.
    """
    check_caution_m(caution_m)
    features = []
    worst = 0
    for i, geom in enumerate(site.metric.values):
        rows, reasons, frank = _feature_rows(geom, layers, unavailable, caution_m)
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
