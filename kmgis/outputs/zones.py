"""Outputs of the Dianchi zones and the site check: files, the site map, and the printed text/JSON.

* :func:`write_dianchi`: ``OUT/dianchi/zones.gpkg`` (layer ``dianchi_zones``, WGS84), ``zones.csv``
  (UTF-8 with BOM) and ``map.html``, each written atomically under an output lock;
* :func:`format_zone_table`: the zone summary ``kmgis dianchi`` prints;
* :func:`format_text`, :func:`format_json`: the report of ``kmgis check-site``;
* :func:`check_map_path`, :func:`write_site_map`: the optional ``--map`` of ``kmgis check-site``.

They only read results (:class:`~kmgis.indicators.dianchi.ZoneSet`, the check-site result dict).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kmgis.errors import KmgisError
from kmgis.indicators.dianchi import ZoneSet
from kmgis.outputs.files import output_lock, safe_output_dir, write_csv, write_text
from kmgis.outputs.qgis_styles import write_styled_gpkg
from kmgis.outputs.zones_map import site_map_html, zones_map_html
from kmgis.workflows.check_site import SiteCheck

OUTPUT_NAME = "dianchi"
"""The folder under ``--out`` that ``kmgis dianchi`` writes."""


# --------------------------------------------------------------------------- kmgis dianchi


@dataclass
class DianchiFiles:
    """What :func:`write_dianchi` wrote: the output folder and the files, in writing order."""

    out_dir: Path
    files: list[Path]


def write_dianchi(zones: ZoneSet, out_root: Path, *, write_map: bool = True) -> DianchiFiles:
    """Write ``OUT/dianchi/zones.gpkg`` (layer ``dianchi_zones``), ``zones.csv`` and ``map.html``.

    Everything is prepared before the folder is created; each file is written atomically while
    the folder is locked against a second run.  ``write_map=False`` skips the map.
    """
    gdf = zones.gdf()
    table = zones.table()
    html_page = zones_map_html(zones) if write_map else None
    out = safe_output_dir(Path(out_root), OUTPUT_NAME)
    with output_lock(out):
        files = [write_styled_gpkg({"dianchi_zones": gdf}, out / "zones.gpkg"), write_csv(table, out / "zones.csv")]
        if html_page is not None:
            files.append(write_text(html_page, out / "map.html"))
    return DianchiFiles(out, files)


def format_zone_table(zones: ZoneSet) -> str:
    """The printed summary: each zone's status and area (km²) next to the published figure."""
    lines = [f"{'zone':<20} {'status':<12} {'area km²':>10} {'published km²':>14} {'diff':>7}  name"]
    for z in zones.zones:
        status = ("official" if not z.approximate else "approximate") if z.derived else "NOT DERIVED"
        area = "—" if z.area_km2 is None else f"{z.area_km2:,.2f}"
        pub = "—" if not z.published_km2 else f"{z.published_km2:,.2f}"
        diff = ("" if z.area_km2 is None or not z.published_km2
                else f"{100.0 * (z.area_km2 - z.published_km2) / z.published_km2:+.1f}%")
        lines.append(f"{z.id:<20} {status:<12} {area:>10} {pub:>14} {diff:>7}  {z.name_zh} / {z.name_en}")
        if not z.derived:
            lines.append(f"{'':<20} {z.missing}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- kmgis check-site


def _feature_text(f: dict[str, Any]) -> list[str]:
    """The lines of one checked feature: verdict, reasons, the table of layers and their controls."""
    area = f" {f['area_m2']:,.1f} m²" if f["area_m2"] is not None else ""
    out = ["", f"feature {f['feature']} \"{f['label']}\" ({f['geometry_type']}{area}, at {f['lon']}, {f['lat']}): "
               f"{f['verdict'].upper()}"]
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
    return out


def format_text(result: dict[str, Any]) -> str:
    """The check-site report as text: input, verdict and exit code, unavailable layers, each feature."""
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
        out += _feature_text(f)
    return "\n".join(out)


def format_json(result: dict[str, Any]) -> str:
    """The check-site result as indented JSON (non-ASCII kept readable)."""
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


def write_site_map(check: SiteCheck, target: Path) -> Path:
    """Write the map of a site check to ``target`` (checked by :func:`check_map_path`), atomically."""
    return write_text(site_map_html(check.result, check.site, check.zones, check.layers), Path(target))
