"""Study areas: a unit's boundary plus a halo, so paths across its border are not cut."""

from __future__ import annotations

import geopandas as gpd
import pyproj
import shapely

from kmgis.errors import KmgisError
from kmgis.model import WGS84

DEFAULT_HALO_M = 2000.0


def with_halo(boundary: gpd.GeoDataFrame | gpd.GeoSeries, halo_m: float, crs: pyproj.CRS | str) -> shapely.Geometry:
    """The union of ``boundary`` buffered by ``halo_m`` metres (in ``crs``), as a WGS84 polygon."""
    if len(boundary) == 0:
        raise KmgisError("study area: the boundary layer is empty")
    if halo_m < 0:
        raise KmgisError(f"study area: halo must be ≥ 0 m, got {halo_m}")
    geom = gpd.GeoSeries(boundary.geometry, crs=boundary.crs).to_crs(crs).union_all()
    if halo_m:
        geom = shapely.buffer(geom, halo_m, quad_segs=8)
    return gpd.GeoSeries([geom], crs=crs).to_crs(WGS84).iloc[0]


def select_intersecting(gdf: gpd.GeoDataFrame, area: shapely.Geometry) -> gpd.GeoDataFrame:
    """Rows of ``gdf`` (WGS84) whose geometry intersects ``area``, whole (not cut), in input order."""
    idx = gdf.sindex.query(area, predicate="intersects")
    return gdf.iloc[sorted(idx)]
