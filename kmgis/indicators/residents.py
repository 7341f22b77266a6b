"""Residents of an area: the population denominator of the per-person indicators."""

from __future__ import annotations

import geopandas as gpd
import shapely

from kmgis.geom import is_empty_layer
from kmgis.indicators.result import Indicator, Result, no_data
from kmgis.population import residents_in

RESIDENTS_INPUT = ("population", "built_up")


def residents_in_area(residents: gpd.GeoDataFrame | None, area: shapely.Geometry | gpd.GeoDataFrame | None, *,
                      scope: str = "built-up area", method: str = "population points inside the area") -> Result:
    """``population_built_up``: persons on the population points strictly inside ``area`` (persons).

    Parameters
    ----------
    residents : population points (column ``population``, persons; any CRS).
    area : the built-up area, a WGS84 shapely (Multi)Polygon or a polygon layer.
    scope, method : texts for the record (the workflow names how the points were made).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> pts = gpd.GeoDataFrame({"population": [10.0, 5.0]},
    ...                        geometry=gpd.points_from_xy([102.70, 102.90], [25.00, 25.00]), crs="EPSG:4326")
    >>> residents_in_area(pts, shapely.box(102.6, 24.9, 102.8, 25.1))["population_built_up"].value
    10.0
    """
    ind = "population_built_up"
    if area is None:
        return Result([no_data(ind, "persons", scope, "built-up area: supply or derive it")])
    if is_empty_layer(residents):
        return Result([no_data(ind, "persons", scope, "residents: supply population points")])
    return Result([Indicator(ind, residents_in(residents, area), "persons", scope, method, RESIDENTS_INPUT)])
