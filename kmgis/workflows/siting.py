"""The siting workflow (``kmgis site``): where to put N new facilities of a category in a recipe's area.

Composes :func:`~kmgis.workflows.recipe.run_recipe` (the walk network, the built-up residents,
the facilities, the built-up patch and the study area) with the pure
:func:`kmgis.indicators.siting.siting`; candidates are a file of points or a grid of the
built-up area (cell centres moved onto the nearest road).  Writes nothing: the
:class:`SitingResults` go to :func:`kmgis.outputs.siting.write_siting`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pyproj

from kmgis.crs import gdf_gcj02_to_wgs84
from kmgis.errors import KmgisError
from kmgis.indicators.lifecircle import select_categories
from kmgis.indicators.result import Result
from kmgis.indicators.siting import EXISTING, grid_candidates, siting
from kmgis.sources.user import read_vector
from kmgis.workflows.recipe import run_recipe


@dataclass
class SitingResults:
    """A siting run: ``result`` (records + layers ``sites``, ``candidates``, ``coverage_curve``), the
    candidates (metric CRS) and the parameters; nothing written yet."""

    recipe_id: str
    category: str
    result: Result
    candidates: gpd.GeoDataFrame
    crs: pyproj.CRS
    params: dict = field(default_factory=dict)


def read_candidates(path: str | Path, *, gcj02: bool = False) -> gpd.GeoDataFrame:
    """Candidate sites from a vector file of points (GeoJSON, GeoPackage, Shapefile…), WGS84 out.

    ``gcj02``: the file's lon/lat are GCJ-02 (Amap, Tencent), converted to WGS84.  Non-point
    geometries, or none, are a one-line :class:`KmgisError`.
    """
    gdf = read_vector(Path(path), name="candidates")
    if len(gdf) == 0:
        raise KmgisError(f"candidates: {path} holds no features")
    kinds = set(gdf.geom_type.dropna())
    if kinds - {"Point"} or gdf.geometry.is_empty.any() or gdf.geometry.isna().any():
        raise KmgisError(f"candidates: {path} must hold points only, found {', '.join(sorted(kinds)) or 'none'}")
    gdf = gdf.to_crs("EPSG:4326")
    return gdf_gcj02_to_wgs84(gdf) if gcj02 else gdf


def check_siting_args(category: str, count: int, candidates: str | Path | None, grid_m: float | None,
                      existing: str, distance_m: float) -> None:
    """The cheap checks, before any data is read (one-line :class:`KmgisError`)."""
    select_categories([category])
    if (candidates is None) == (grid_m is None):
        raise KmgisError("siting: give either a candidates file or a grid cell size (one of them)")
    if grid_m is not None and not grid_m > 0:
        raise KmgisError(f"siting: the grid cell size must be positive, got {grid_m} m")
    if not count > 0:
        raise KmgisError(f"siting: the number of sites must be at least 1, got {count}")
    if existing not in EXISTING:
        raise KmgisError(f"siting: existing must be one of {', '.join(EXISTING)}, got {existing!r}")
    if not distance_m > 0:
        raise KmgisError(f"siting: the distance must be positive, got {distance_m} m")
    if candidates is not None and not Path(candidates).is_file():
        raise KmgisError(f"candidates: file not found: {candidates}")


def site(recipe_path: str | Path, data: Path | None, category: str, count: int, candidates: str | Path | None = None,
         grid_m: float | None = None, existing: str = "keep", distance_m: float = 1200.0, *, gcj02: bool = False,
         target_pct: float | None = None, progress: bool = False) -> SitingResults:
    """Site ``count`` new facilities of ``category`` for a recipe (nothing written).

    Parameters
    ----------
    recipe_path : a recipe YAML (``recipes/jinning.yaml``).
    data : the data directory, or None.
    category : facility category (``layers/facilities.yaml``).
    count : sites to choose.
    candidates : a vector file of candidate points, or None with ``grid_m``.
    grid_m : grid cell size over the built-up area, m (cell centres moved onto the roads).
    existing : ``"keep"`` (existing facilities' residents count as covered) or ``"none"``.
    distance_m : coverage distance, m of walking.
    gcj02 : the candidates file is in GCJ-02.
    target_pct : also the fewest sites reaching this share (%) of residents.
    progress : show the recipe's progress bar.
    """
    check_siting_args(category, count, candidates, grid_m, existing, distance_m)
    cands = read_candidates(candidates, gcj02=gcj02) if candidates is not None else None
    rec = run_recipe(recipe_path, data, progress=progress)
    if rec.network is None:
        raise KmgisError(f"recipe {rec.recipe.id}: no roads, so no walk network to site on")
    if cands is None:
        if rec.built_up is None or len(rec.built_up) == 0:
            raise KmgisError(f"recipe {rec.recipe.id}: no built-up area to lay the candidate grid on")
        cands = grid_candidates(rec.network, rec.built_up, rec.crs, float(grid_m))
    cands = cands.to_crs(rec.crs)
    res = siting(rec.network, rec.residents, cands, category=category, count=count,
                 facilities=rec.layers.get("facilities"), existing=existing, distance_m=distance_m,
                 area=rec.boundary, target_pct=target_pct, max_snap_m=rec.recipe.parameters.max_snap_m)
    params = {"recipe": rec.recipe.id, "category": category, "count": count, "existing": existing,
              "distance_m": distance_m, "candidates": str(candidates) if candidates is not None else f"grid {grid_m:g} m",
              "grid": cands.attrs.get("grid")}
    return SitingResults(rec.recipe.id, category, res, cands, rec.crs, params)
