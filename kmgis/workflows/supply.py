"""Gaps and what-if on a recipe's study area: :func:`run_recipe` + the pure supply functions (nothing written).

* :func:`gaps`: residents of the built-up area beyond the standard walking distance of a
  facility category, and the cells where they live (:func:`kmgis.indicators.supply.service_gaps`);
* :func:`whatif`: facilities added (points) or removed (ids) and the coverage before / after
  (:class:`kmgis.indicators.scenario.Scenario`: one search from the new facilities only).

The distance: ``level`` (a GB 50180 level of ``layers/lifecircle_levels.yaml``, e.g. ``15min``
→ its ``distance_m``), else ``distance_m``, else the plan's 15 minutes at 4.8 km/h (1,200 m).
Write the results with :mod:`kmgis.outputs.supply`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from kmgis.crs import gcj02_to_wgs84
from kmgis.errors import KmgisError
from kmgis.indicators.lifecircle import select_categories
from kmgis.indicators.lifecircle_levels import LEVELS
from kmgis.indicators.result import Result
from kmgis.indicators.scenario import Scenario
from kmgis.indicators.supply import DEFAULT_GAP_M, service_gaps
from kmgis.model import WGS84
from kmgis.sources.user import read_vector
from kmgis.workflows.recipe import RecipeResults, run_recipe

_LONLAT = re.compile(r"^\s*(-?\d+(?:\.\d*)?)\s*,\s*(-?\d+(?:\.\d*)?)\s*(?:,\s*([A-Za-z_]+)\s*)?$")


def gap_distance(distance_m: float | None = None, level: str | None = None) -> tuple[float, str]:
    """The standard distance (m) and how it was chosen: a GB 50180 ``level``, else ``distance_m``, else 1,200 m."""
    if level is not None:
        if level not in LEVELS:
            raise KmgisError(f"unknown life-circle level {level!r}; known: {', '.join(LEVELS)}")
        return float(LEVELS[level].distance_m), f"GB 50180 level {level}"
    if distance_m is None:
        return DEFAULT_GAP_M, "the plan's 15 min at 4.8 km/h"
    if not np.isfinite(distance_m) or distance_m <= 0:
        raise KmgisError(f"--distance must be a positive number of metres, got {distance_m}")
    return float(distance_m), "given"


@dataclass
class GapResults:
    """A recipe's gap analysis: the recipe run, the category, the distance (m) and the :class:`Result`."""

    recipe: RecipeResults
    category: str
    distance_m: float
    basis: str
    result: Result


def _network(res: RecipeResults) -> None:
    if res.network is None:
        raise KmgisError(f"recipe {res.recipe.id}: no walk network (no roads in the study area)")


def gaps(recipe_path: str | Path, data: Path | None, category: str, *, distance_m: float | None = None,
         level: str | None = None, cell_m: float = 100.0, progress: bool = False) -> GapResults:
    """Residents beyond the standard walking distance of ``category`` in a recipe's built-up area.

    The category and distance are checked before the recipe runs (one-line errors, nothing computed).
    """
    select_categories([category])
    dist, basis = gap_distance(distance_m, level)
    res = run_recipe(recipe_path, data, progress=progress)
    _network(res)
    area = res.built_up if res.built_up_km2 is not None else res.boundary
    result = service_gaps(res.network, res.residents, res.layers.get("facilities"), category, distance_m=dist,
                          area=area, crs=res.crs, cell_m=cell_m)
    return GapResults(res, category, dist, basis, result)


# --------------------------------------------------------------------------- what-if


def parse_points(spec: str, *, category: str | None = None, gcj02: bool = False) -> gpd.GeoDataFrame:
    """Points to add: ``LON,LAT[,CATEGORY]`` (WGS84 degrees) or a vector file of points (``category``
    column, else ``category``); GCJ-02 input converted with ``gcj02``.  Returns WGS84 points with ``category``."""
    m = _LONLAT.match(spec)
    if m:
        lon, lat, cat = float(m.group(1)), float(m.group(2)), m.group(3) or category
        gdf = gpd.GeoDataFrame({"category": [cat]}, geometry=[shapely.Point(lon, lat)], crs=WGS84)
    else:
        gdf = read_vector(Path(spec), assume_crs="EPSG:4326", name="--add").to_crs(WGS84)
        if not (gdf.geom_type == "Point").all():
            raise KmgisError(f"--add {spec}: expected points, got {sorted(set(gdf.geom_type))}")
        if "category" not in gdf.columns:
            gdf["category"] = category
        gdf = gdf[["category", "geometry"]]
    if gdf["category"].isna().any():
        raise KmgisError(f"--add {spec}: no category: give LON,LAT,CATEGORY, a 'category' column or --category")
    select_categories(sorted(set(gdf["category"].astype(str))))
    if gcj02:
        x, y = gcj02_to_wgs84(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy())
        gdf = gdf.set_geometry(gpd.points_from_xy(x, y, crs=WGS84))
    return gdf.reset_index(drop=True)


def check_inside(points: gpd.GeoDataFrame, area: gpd.GeoDataFrame, recipe_id: str) -> None:
    """Refuse points outside the recipe's study area (a lon/lat swap or a GCJ-02 shift shows here)."""
    inside = points.geometry.within(area.to_crs(WGS84).union_all())
    if not inside.all():
        bad = points[~inside].geometry.iloc[0]
        raise KmgisError(f"--add: {int((~inside).sum())} point(s) outside the study area of recipe {recipe_id} "
                         f"(first at {bad.x:.5f},{bad.y:.5f}; LON,LAT in WGS84 degrees, --gcj02 for Amap)")


@dataclass
class WhatIfResults:
    """A what-if run: the recipe run, the scenario, the coverage table and the changed cells (WGS84)."""

    recipe: RecipeResults
    scenario: Scenario
    distance_m: float
    basis: str
    coverage: pd.DataFrame
    changed_cells: gpd.GeoDataFrame
    added: list[str]
    removed: list[str]


def whatif(recipe_path: str | Path, data: Path | None, *, add: gpd.GeoDataFrame | None = None,
           remove: list[str] | None = None, distance_m: float | None = None, level: str | None = None,
           progress: bool = False) -> WhatIfResults:
    """Add ``add`` (WGS84 points with ``category``) and remove facility ids ``remove``; coverage before/after.

    The scenario holds only the categories touched (one search each, then one search per added
    category from the new points).  Points outside the study area are refused.
    """
    dist, basis = gap_distance(distance_m, level)
    add = add if add is not None else gpd.GeoDataFrame({"category": []}, geometry=[], crs=WGS84)
    remove = [str(r) for r in remove or []]
    if len(add) == 0 and not remove:
        raise KmgisError("what-if: nothing to do: give --add and/or --remove")
    select_categories(sorted(set(add["category"].astype(str))) or None)
    res = run_recipe(recipe_path, data, progress=progress)
    _network(res)
    if len(add):
        check_inside(add, res.boundary, res.recipe.id)
    facilities = res.layers.get("facilities")
    ids = Scenario.ids_of(facilities)
    missing = sorted(set(remove) - set(ids))
    if missing:
        raise KmgisError(f"--remove: no facility with id {missing[:5]} in recipe {res.recipe.id} "
                         f"(ids are the facilities' source_id, e.g. {', '.join(ids[:3]) or 'none'})")
    cats = sorted(set(add["category"].astype(str)) | set(Scenario.categories_of(facilities, remove)))
    sc = Scenario(res.network, res.residents, facilities, categories=cats)
    added = []
    for cat in cats:
        pts = add[add["category"].astype(str) == cat]
        added += sc.add(pts, cat) if len(pts) else []
    if remove:
        sc.remove(remove)
    cells = [sc.changed_cells(dist, c, crs=res.crs).assign(category=c) for c in sc.categories]
    changed = gpd.GeoDataFrame(pd.concat(cells, ignore_index=True), crs=WGS84)
    return WhatIfResults(res, sc, dist, basis, sc.coverage(dist), changed, added, remove)
