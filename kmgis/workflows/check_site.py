"""The red-line site check (``kmgis check-site``): does a proposed site respect the protection layers?

Composes the pieces, writes nothing:

* the site (:func:`kmgis.sources.site.read_site`: file, WKT or ``lon,lat[,radius_m]``, checked);
* the protection layers (:func:`protection_layers`): the Dianchi zones of
  :mod:`kmgis.workflows.dianchi` (approximate unless official), and every catalogue layer of kind
  ``protection`` (ecological red line, permanent basic farmland, urban development boundary,
  drinking-water source zones, other user layers); the categories of ``layers/dianchi_zones.yaml``
  → ``protection_categories`` with no registered layer are reported as *not available* with what
  to supply, never as clear;
* the verdict (:func:`kmgis.indicators.sitecheck.check_site`).

The text/JSON report and the optional map are made by :mod:`kmgis.outputs.zones`.
All geometry is computed in EPSG:32648 (metres).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from kmgis.config import CatalogEntry, load_catalog, load_layers_yaml
from kmgis.errors import KmgisError
from kmgis.indicators.dianchi import ZoneSet, source_url
from kmgis.indicators.sitecheck import DEFAULT_CAUTION_M, Layer, Unavailable, check_caution_m, check_site
from kmgis.sources.dianchi import read_polygon_entry
from kmgis.sources.site import DEFAULT_MAX_MB, METRIC_CRS, Site, read_site
from kmgis.workflows.dianchi import RULES_NAME, dianchi_zones


@dataclass
class SiteCheck:
    """A site check: the JSON-ready ``result`` (:func:`~kmgis.indicators.sitecheck.check_site`) and
    what it was computed from (the site, the Dianchi zones, the protection layers), for a map."""

    result: dict[str, Any]
    site: Site
    zones: ZoneSet
    layers: list[Layer]


def _zone_layers(zones: ZoneSet) -> tuple[list[Layer], list[Unavailable]]:
    """The Dianchi zones that count for a site (effect not ``none``): derived → layers, else unavailable."""
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
    return layers, missing


def _catalogue_layers(entry: CatalogEntry, data: Path | None, rules: dict[str, Any],
                      categories: dict[str, dict[str, Any]], covered: set[str]) -> tuple[list[Layer], list[Unavailable]]:
    """One catalogue layer of kind ``protection``: a layer per category (metric), or unavailable if unreadable."""
    try:
        gdf = read_polygon_entry(entry, data)
    except KmgisError as exc:
        return [], [Unavailable(entry.name, entry.name, entry.description or entry.name, f"cannot read: {exc}")]
    layers = []
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
    return layers, []


def protection_layers(data: Path | None, *, zones: ZoneSet | None = None, rivers: Path | None = None,
                      basin: Path | None = None, dem: Path | None = None) -> tuple[list[Layer], list[Unavailable], ZoneSet]:
    """The Dianchi zones plus catalogue layers of kind ``protection``, and what is not available.

    Parameters
    ----------
    data : the data directory.
    zones : the Dianchi zones (default: derived now, with ``rivers``, ``basin`` and ``dem``).

    Returns
    -------
    (layers, unavailable, zones)
        Layers in EPSG:32648 (metres); the unavailable layers say what to supply.
    """
    if zones is None:
        zones = dianchi_zones(data, rivers=rivers, basin=basin, dem=dem)
    rules = load_layers_yaml(RULES_NAME)
    layers, missing = _zone_layers(zones)
    categories: dict[str, dict[str, Any]] = dict(rules.get("protection_categories") or {})
    covered: set[str] = set()
    for entry in load_catalog().values():
        if entry.kind != "protection":
            continue
        got, failed = _catalogue_layers(entry, data, rules, categories, covered)
        layers += got
        missing += failed
    for cat, rule in categories.items():
        if cat not in covered:
            missing.append(Unavailable(cat, rule.get("name_zh", cat), rule.get("name_en", cat),
                                       f"supply: register the official {rule.get('name_zh', cat)} polygons in layers/catalog.yaml "
                                       f"as kind: protection with fields: {{category: {{value: {cat}}}}}"))
    return layers, missing, zones


def run_check_site(site_arg: str, data: Path | None, *, crs: str | None = None, gcj02: bool = False,
                   layer: str | None = None, max_mb: float = DEFAULT_MAX_MB, make_valid: bool = False,
                   caution_m: float = DEFAULT_CAUTION_M, rivers: Path | None = None,
                   basin: Path | None = None, dem: Path | None = None) -> SiteCheck:
    """Validate the parameters and the site, gather the protection layers and check the site.

    Parameters
    ----------
    site_arg : a site file, WKT, or ``lon,lat[,radius_m]``.
    data : the data directory.
    crs, gcj02, layer, max_mb, make_valid : how to read the site (:func:`kmgis.sources.site.read_site`).
    caution_m : caution distance to a zone boundary, metres (0–50,000).
    rivers, basin, dem : optional inputs of the Dianchi zones.

    Returns
    -------
    SiteCheck
        The result (verdict, exit code, rows per feature and layer) and its inputs; nothing written.
    """
    check_caution_m(caution_m)
    site = read_site(site_arg, crs=crs, gcj02=gcj02, layer=layer, max_mb=max_mb, make_valid=make_valid)
    layers, unavailable, zones = protection_layers(data, rivers=rivers, basin=basin, dem=dem)
    result = check_site(site, layers, unavailable, caution_m)
    return SiteCheck(result, site, zones, layers)
