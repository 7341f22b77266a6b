"""kmgis: spatial-planning indicators for Kunming (昆明市) from open map data.

A library first: every indicator works on plain GeoDataFrames and returns a
:class:`Result` (records with a numeric ``value`` and a ``status``, per-feature values
index-aligned with the input, ``to_frame()`` for the tidy table).  Lengths and areas are
computed in a projected metric CRS (EPSG:32648 for Kunming unless given); storage is WGS84.

>>> import geopandas as gpd, shapely, kmgis
>>> roads = gpd.GeoDataFrame({"road_class": ["arterial", "branch"]}, crs="EPSG:32648",
...     geometry=[shapely.LineString([(0, 500), (2000, 500)]), shapely.LineString([(500, 0), (500, 2000)])])
>>> area = gpd.GeoSeries([shapely.box(0, 0, 1000, 1000)], crs="EPSG:32648")
>>> res = kmgis.road_density(roads, area)
>>> res.to_frame()[["indicator", "value", "status"]].round(3).to_dict("records")[0]
{'indicator': 'road_density_km_per_km2', 'value': 2.0, 'status': 'ok'}
>>> kmgis.spec("road_density_km_per_km2").zh
'路网密度'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kmgis._version import __version__

if TYPE_CHECKING:  # the same names, for type checkers and IDEs
    from kmgis.crs import gcj02_to_wgs84, gdf_gcj02_to_wgs84, metric_crs, wgs84_to_gcj02
    from kmgis.errors import KmgisError
    from kmgis.indicators import Indicator, Result
    from kmgis.indicators.builtup import built_up_area
    from kmgis.indicators.greenspace import green_access, green_ratio, park_access, park_per_person
    from kmgis.indicators.isochrones import isochrone_polygons
    from kmgis.indicators.junctions import dead_end_share, intersection_density, street_node_indicators
    from kmgis.indicators.lifecircle import access_grid, lifecircle
    from kmgis.indicators.registry import SPECS as INDICATORS
    from kmgis.indicators.registry import IndicatorSpec, spec
    from kmgis.indicators.residents import residents_in_area
    from kmgis.indicators.roads import road_density
    from kmgis.indicators.sitecheck import check_site
    from kmgis.network import Network, build_network, nearest_distance, node_distances, snap_points
    from kmgis.outputs.recipe import write_recipe
    from kmgis.population import population_points
    from kmgis.sources.osm import read_osm_file, read_overpass
    from kmgis.sources.poi import read_poi_table
    from kmgis.workflows.check_site import run_check_site
    from kmgis.workflows.recipe import RecipeResults, run_recipe

# Public name → (module, name).  Loaded on first use, so ``import kmgis`` (and the ``kmgis``
# command's start) stays fast; every name is importable as ``from kmgis import road_density``.
_API: dict[str, tuple[str, str]] = {
    "INDICATORS": ("kmgis.indicators.registry", "SPECS"),
    "Indicator": ("kmgis.indicators", "Indicator"),
    "IndicatorSpec": ("kmgis.indicators.registry", "IndicatorSpec"),
    "KmgisError": ("kmgis.errors", "KmgisError"),
    "Network": ("kmgis.network", "Network"),
    "RecipeResults": ("kmgis.workflows.recipe", "RecipeResults"),
    "Result": ("kmgis.indicators", "Result"),
    "access_grid": ("kmgis.indicators.lifecircle", "access_grid"),
    "build_network": ("kmgis.network", "build_network"),
    "built_up_area": ("kmgis.indicators.builtup", "built_up_area"),
    "check_site": ("kmgis.indicators.sitecheck", "check_site"),
    "dead_end_share": ("kmgis.indicators.junctions", "dead_end_share"),
    "gcj02_to_wgs84": ("kmgis.crs", "gcj02_to_wgs84"),
    "gdf_gcj02_to_wgs84": ("kmgis.crs", "gdf_gcj02_to_wgs84"),
    "green_access": ("kmgis.indicators.greenspace", "green_access"),
    "green_ratio": ("kmgis.indicators.greenspace", "green_ratio"),
    "intersection_density": ("kmgis.indicators.junctions", "intersection_density"),
    "isochrone_polygons": ("kmgis.indicators.isochrones", "isochrone_polygons"),
    "lifecircle": ("kmgis.indicators.lifecircle", "lifecircle"),
    "metric_crs": ("kmgis.crs", "metric_crs"),
    "nearest_distance": ("kmgis.network", "nearest_distance"),
    "node_distances": ("kmgis.network", "node_distances"),
    "park_access": ("kmgis.indicators.greenspace", "park_access"),
    "park_per_person": ("kmgis.indicators.greenspace", "park_per_person"),
    "population_points": ("kmgis.population", "population_points"),
    "read_osm_file": ("kmgis.sources.osm", "read_osm_file"),
    "read_overpass": ("kmgis.sources.osm", "read_overpass"),
    "read_poi_table": ("kmgis.sources.poi", "read_poi_table"),
    "residents_in_area": ("kmgis.indicators.residents", "residents_in_area"),
    "road_density": ("kmgis.indicators.roads", "road_density"),
    "run_check_site": ("kmgis.workflows.check_site", "run_check_site"),
    "run_recipe": ("kmgis.workflows.recipe", "run_recipe"),
    "snap_points": ("kmgis.network", "snap_points"),
    "spec": ("kmgis.indicators.registry", "spec"),
    "street_node_indicators": ("kmgis.indicators.junctions", "street_node_indicators"),
    "wgs84_to_gcj02": ("kmgis.crs", "wgs84_to_gcj02"),
    "write_recipe": ("kmgis.outputs.recipe", "write_recipe"),
}


def __getattr__(name: str) -> Any:
    if name in _API:
        module, attr = _API[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kmgis' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "INDICATORS",
    "Indicator",
    "IndicatorSpec",
    "KmgisError",
    "Network",
    "RecipeResults",
    "Result",
    "__version__",
    "access_grid",
    "build_network",
    "built_up_area",
    "check_site",
    "dead_end_share",
    "gcj02_to_wgs84",
    "gdf_gcj02_to_wgs84",
    "green_access",
    "green_ratio",
    "intersection_density",
    "isochrone_polygons",
    "lifecircle",
    "metric_crs",
    "nearest_distance",
    "node_distances",
    "park_access",
    "park_per_person",
    "population_points",
    "read_osm_file",
    "read_overpass",
    "read_poi_table",
    "residents_in_area",
    "road_density",
    "run_check_site",
    "run_recipe",
    "snap_points",
    "spec",
    "street_node_indicators",
    "wgs84_to_gcj02",
    "write_recipe",
]
