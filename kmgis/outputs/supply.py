"""Writing gaps and what-if results into ``OUT/<recipe id>/``, atomically under the folder's lock.

* gaps: ``gaps_<category>.gpkg`` (layer ``gap_cells``, WGS84) and ``gaps_<category>.csv``
  (UTF-8 with BOM: ``cell``, ``residents``, ``distance_m``, ``over_m``, ``unreached``);
* what-if: ``whatif.csv`` (per category: residents and % within the distance before / after,
  gained, lost, changed cells) and ``whatif_cells.gpkg`` (layer ``changed_cells``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

from kmgis.outputs.files import output_lock, safe_output_dir, write_csv
from kmgis.outputs.gaps_map import write_gaps_map
from kmgis.outputs.qgis_styles import write_styled_gpkg
from kmgis.workflows.supply import GapResults, WhatIfResults

GAP_COLUMNS = ["cell", "residents", "distance_m", "over_m", "unreached"]


def gap_table(res: GapResults) -> pd.DataFrame:
    """The CSV table of the gap cells: cell, residents (persons), distance_m, over_m (m, rounded to 0.1), unreached."""
    cells = res.result.layers["gap_cells"]
    table = pd.DataFrame(cells[GAP_COLUMNS])
    return table.round({"residents": 1, "distance_m": 1, "over_m": 1, "unreached": 1})


def write_gaps(res: GapResults, out_root: Path) -> list[Path]:
    """Write ``OUT/<id>/gaps_<category>.gpkg``, ``.csv`` and the map ``.html``; return the paths."""
    out_dir = safe_output_dir(Path(out_root), res.recipe.recipe.id)
    with contextlib.ExitStack() as lock:
        lock.enter_context(output_lock(out_dir))
        cells = res.result.layers["gap_cells"]
        distance_m = float(res.result[0].params["distance_m"])
        return [write_styled_gpkg({"gap_cells": cells}, out_dir / f"gaps_{res.category}.gpkg"),
                write_csv(gap_table(res), out_dir / f"gaps_{res.category}.csv"),
                write_gaps_map(cells, res.category, distance_m, out_dir / f"gaps_{res.category}.html").path]


def write_whatif(res: WhatIfResults, out_root: Path) -> list[Path]:
    """Write ``OUT/<id>/whatif.csv`` and ``whatif_cells.gpkg`` (when cells changed); return the paths."""
    out_dir = safe_output_dir(Path(out_root), res.recipe.recipe.id)
    table = res.coverage.round({"residents_before": 1, "residents_after": 1, "pct_before": 2, "pct_after": 2,
                                "gained": 1, "lost": 1})
    with contextlib.ExitStack() as lock:
        lock.enter_context(output_lock(out_dir))
        files = [write_csv(table, out_dir / "whatif.csv")]
        if len(res.changed_cells):
            files.append(write_styled_gpkg({"changed_cells": res.changed_cells}, out_dir / "whatif_cells.gpkg"))
        return files
