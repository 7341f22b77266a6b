"""Writers of the travel-time runs: the demo's walking times, the metro circle and isochrones.

Each writer only reads a workflow's result and writes the same files the run always wrote,
atomically and under the output folder's lock (:mod:`kmgis.outputs.files`):

- :func:`write_demo`: ``OUT/demo/<name>_walk.gpkg``, ``network_summary.csv``, ``run.json``;
- :func:`write_metro`: ``OUT/<recipe id>/isochrones.gpkg``, ``members.csv``, ``circle_1_5h.csv``
  (UTF-8 with BOM), ``run.json`` and ``map.html``;
- :func:`write_isochrone`: ``OUT/<name>/isochrones.gpkg``, ``run.json`` and ``map.html``.

``run.json`` gets the run's timings: the workflow's stages, then ``write`` (and for a metro
run ``map``, written again once the map is drawn).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kmgis.outputs.files import output_lock, safe_output_dir, write_csv, write_json
from kmgis.outputs.maps import check_tiles
from kmgis.outputs.metro_map import write_isochrone_map
from kmgis.outputs.qgis_styles import write_styled_gpkg
from kmgis.outputs.report import write_report
from kmgis.outputs.workbook import write_scorecard_xlsx
from kmgis.workflows.common import Stages
from kmgis.workflows.demo import DemoResult
from kmgis.workflows.isochrone import IsochroneResults
from kmgis.workflows.metro import MetroResults

DEMO_FOLDER = "demo"


@dataclass
class Written:
    """What a writer wrote.

    Attributes
    ----------
    out_dir : Path
        The output folder.
    files : list of Path
        The files written, in the order written.
    timings_s : dict of str to float
        Seconds per stage: the workflow's, then the writer's (``write``, ``map``).
    """

    out_dir: Path
    files: list[Path]
    timings_s: dict[str, float]


def write_demo(result: DemoResult, out_root: Path, *, progress: bool = False) -> Written:
    """Write the demo into ``out_root/demo/``: the GeoPackage (boundary, edges, nodes, seat), the
    network summary (CSV, UTF-8 with BOM) and ``run.json``."""
    out_dir = safe_output_dir(out_root, DEMO_FOLDER)
    stages = Stages(["write"], show=progress)
    try:
        with output_lock(out_dir):
            files = [write_styled_gpkg(result.layers, out_dir / f"{result.name}_walk.gpkg"),
                     write_csv(result.by_class, out_dir / "network_summary.csv")]
            stages.done("write")
            timings = result.timings_s | stages.timings_s
            files.append(write_json(result.run | {"timings_s": timings}, out_dir / "run.json"))
    finally:
        stages.close()
    return Written(out_dir, files, timings)


def write_metro(result: MetroResults, out_root: Path, *, tiles: str = "osm",
                progress: bool = False, pdf: bool = True) -> Written:
    """Write a metro run into ``out_root/<recipe id>/``.

    ``isochrones.gpkg`` (layers isochrones, members, origins, units, major_roads),
    ``members.csv``, ``circle_1_5h.csv`` and ``scorecard.csv`` (UTF-8 with BOM),
    ``scorecard.xlsx``, ``run.json``, ``map.html`` (base ``tiles``: osm, carto or none),
    ``report.html`` and, with ``pdf`` and Chromium installed, ``report.pdf``.
    """
    tiles = check_tiles(tiles)
    out_dir = safe_output_dir(out_root, result.recipe_id)
    stages = Stages(["write", "map", "report"], show=progress)
    title = f"{result.run.get('recipe', {}).get('name', result.recipe_id)} — kmgis scorecard"
    try:
        with output_lock(out_dir):
            files = [write_styled_gpkg(result.layers, out_dir / "isochrones.gpkg"),
                     write_csv(result.members, out_dir / "members.csv"),
                     write_csv(result.circle, out_dir / "circle_1_5h.csv"),
                     write_csv(result.scorecard, out_dir / "scorecard.csv"),
                     write_scorecard_xlsx(result.scorecard, out_dir / "scorecard.xlsx", title=title)]
            stages.done("write")
            files.append(write_json(result.run | {"timings_s": result.timings_s | stages.timings_s},
                                    out_dir / "run.json"))
            files.append(write_isochrone_map(out_dir, tiles=tiles))  # from the files just written
            stages.done("map")
            report_files, why_no_pdf = write_report(out_dir, gpkg_name="isochrones.gpkg", pdf=pdf)
            files.extend(report_files)
            stages.done("report")
            timings = result.timings_s | stages.timings_s
            write_json(result.run | {"timings_s": timings} | ({"report_pdf": why_no_pdf} if why_no_pdf else {}),
                       out_dir / "run.json")
    finally:
        stages.close()
    return Written(out_dir, files, timings)


def write_isochrone(result: IsochroneResults, out_root: Path, *, tiles: str = "osm",
                    progress: bool = False) -> Written:
    """Write an isochrone run into ``out_root/<result.name>/``: ``isochrones.gpkg`` (layers
    isochrones, origins, major_roads), ``run.json`` and ``map.html`` (base ``tiles``)."""
    tiles = check_tiles(tiles)
    out_dir = safe_output_dir(out_root, result.name)
    stages = Stages(["write", "map"], show=progress)
    try:
        with output_lock(out_dir):
            files = [write_styled_gpkg(result.layers, out_dir / "isochrones.gpkg")]
            stages.done("write")
            files.append(write_json(result.run | {"timings_s": result.timings_s | stages.timings_s},
                                    out_dir / "run.json"))
            files.append(write_isochrone_map(out_dir, tiles=tiles))
            stages.done("map")
    finally:
        stages.close()
    return Written(out_dir, files, result.timings_s | stages.timings_s | {"search_s": result.search_s})
