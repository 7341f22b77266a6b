"""Writing a recipe's results: scorecard (CSV + HTML), GeoPackage, run.json and the web map.

Everything is written atomically into ``out_root/<recipe id>/`` under a lock, so a failed
or interrupted run keeps the previous complete results.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import geopandas as gpd

from kmgis.model import WGS84
from kmgis.outputs.files import (
    output_lock,
    safe_output_dir,
    scorecard_html,
    write_csv,
    write_json,
    write_text,
)
from kmgis.outputs.maps import check_tiles
from kmgis.outputs.qgis_styles import write_styled_gpkg
from kmgis.outputs.recipe_map import draw_map
from kmgis.outputs.report import write_report
from kmgis.outputs.workbook import write_scorecard_xlsx
from kmgis.workflows.common import package_versions
from kmgis.workflows.recipe import RecipeResults, recipe_sha256


def gpkg_layers(results: RecipeResults) -> dict[str, gpd.GeoDataFrame]:
    """The layers of ``indicators.gpkg`` (WGS84): boundary, built-up patch, model layers, access grid."""
    out = {"boundary": results.boundary.to_crs(WGS84)}
    if results.built_up_km2 is not None:
        out["built_up"] = results.built_up.to_crs(WGS84)
    for name in ("roads", "green", "parks", "facilities"):
        g = results.layers.get(name)
        if g is not None and len(g):
            out[name] = g.drop(columns=[c for c in ("osm_node_ids",) if c in g.columns])
    if results.access_grid is not None and len(results.access_grid):
        out["access_grid"] = results.access_grid.to_crs(WGS84)
    if results.level_gap_grid is not None and len(results.level_gap_grid):
        out["level_gap_grid"] = results.level_gap_grid.to_crs(WGS84)
    for name, layer in results.indicators.layers.items():  # derived by indicators (park service areas, …)
        if name != "built_up" and layer is not None and len(layer):
            out[name] = layer.to_crs(WGS84)
    return out


def run_record(results: RecipeResults, timings_s: dict[str, float]) -> dict:
    """``run.json``: the recipe, inputs with SHA-256, CRS, parameters, every indicator, versions, timings."""
    bu = results.indicators["built_up_area_km2"]
    return {
        "command": f"kmgis run {results.recipe_path}",
        "recipe": results.recipe.model_dump(mode="json"),
        "recipe_sha256": recipe_sha256(results),
        "inputs": results.inputs,
        "metric_crs": results.crs.to_string(),
        "built_up": {"method": bu.method, "params": bu.params},
        "population": results.population_info,
        "network": results.network.summary if results.network is not None else None,
        "indicators": [{"indicator": i.indicator, "value": i.value if i.has_value else None, "status": i.status,
                        "unit": i.unit, "params": i.params, "missing": i.missing} for i in results.indicators],
        "versions": package_versions(),
        "timings_s": timings_s,
    }


def write_recipe(results: RecipeResults, out_root: Path, *, tiles: str = "osm", pdf: bool = True) -> list[Path]:
    """Write ``out_root/<id>/``; return the paths.

    Files: ``scorecard.csv`` / ``.html`` / ``.xlsx``, ``indicators.gpkg`` (QGIS styles inside),
    ``run.json``, ``map.html``, ``report.html`` and, with ``pdf`` and Chromium installed,
    ``report.pdf``.  Without Chromium the PDF is skipped and ``run.json`` says why
    (``report_pdf``).
    """
    check_tiles(tiles)
    recipe = results.recipe
    out_dir = safe_output_dir(Path(out_root), recipe.id)
    with contextlib.ExitStack() as lock:
        lock.enter_context(output_lock(out_dir))
        files = [
            write_csv(results.scorecard, out_dir / "scorecard.csv"),
            write_text(scorecard_html(results.scorecard, f"{recipe.name} — kmgis scorecard",
                                      f"recipe {recipe.id}; scope {recipe.scope}"), out_dir / "scorecard.html"),
            write_scorecard_xlsx(results.scorecard, out_dir / "scorecard.xlsx", title=f"{recipe.name} — kmgis scorecard"),
            write_styled_gpkg(gpkg_layers(results), out_dir / "indicators.gpkg"),
        ]
        record = run_record(results, results.timings_s)
        files.append(write_json(record, out_dir / "run.json"))
        files.append(draw_map(out_dir, tiles=tiles).path)  # from the files just written (atomic)
        report_files, why_no_pdf = write_report(out_dir, pdf=pdf)
        files.extend(report_files)
        if why_no_pdf:
            write_json(record | {"report_pdf": why_no_pdf}, out_dir / "run.json")
    return files
