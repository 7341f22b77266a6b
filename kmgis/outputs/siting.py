"""Writing a siting run: ``OUT/<recipe id>/siting-<category>/``.

* ``sites.gpkg``: layers ``sites`` (the chosen sites in greedy order: rank, residents added,
  cumulative coverage) and ``candidates`` (every candidate: residents within reach, greedy
  rank, in the exact solution);
* ``coverage_curve.csv`` (UTF-8 with BOM): persons and % covered after N = 1…count sites;
* ``indicators.csv`` (UTF-8 with BOM): the records (covered %, gain, gap, …);
* ``map.html``: the sites in greedy order, the candidates and the coverage curve (offline).

Every file is written atomically (:mod:`kmgis.outputs.files`) under the folder's lock.
"""

from __future__ import annotations

from pathlib import Path

from kmgis.outputs.files import output_lock, safe_output_dir, write_csv
from kmgis.outputs.qgis_styles import write_styled_gpkg
from kmgis.outputs.siting_map import write_siting_map
from kmgis.workflows.siting import SitingResults


def siting_dir(out: Path, recipe_id: str, category: str) -> Path:
    """``OUT/<recipe id>/siting-<category>/`` (created; names checked to stay inside ``out``)."""
    return safe_output_dir(safe_output_dir(Path(out), recipe_id), f"siting-{category}")


def write_siting(results: SitingResults, out: Path, *, tiles: str = "osm") -> list[Path]:
    """Write ``sites.gpkg``, ``coverage_curve.csv``, ``indicators.csv`` and ``map.html``; returns the paths."""
    folder = siting_dir(out, results.recipe_id, results.category)
    layers = results.result.layers
    with output_lock(folder):
        return [
            write_styled_gpkg({"sites": layers["sites"], "candidates": layers["candidates"]}, folder / "sites.gpkg"),
            write_csv(layers["coverage_curve"], folder / "coverage_curve.csv"),
            write_csv(results.result.to_frame(), folder / "indicators.csv"),
            write_siting_map(layers["sites"], layers["candidates"], layers["coverage_curve"], results.category,
                             folder / "map.html", tiles=tiles).path,
        ]
