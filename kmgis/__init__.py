"""kmgis: spatial-planning indicators for Kunming (昆明市) from open map data.

A library first: every indicator works on plain GeoDataFrames and returns a
:class:`Result` (records with a numeric ``value`` and a ``status``, per-feature values
index-aligned with the input, ``to_frame()`` for the tidy table).  Lengths and areas are
computed in a projected metric CRS (EPSG:32648 for Kunming unless given); storage is WGS84.

>>> import kmgis
>>> sorted(kmgis.__all__)[:3]
['Indicator', 'IndicatorSpec', 'Network']
"""

from kmgis._version import __version__
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
