"""Green space indicators: mapped green ratio, park area per person, walking access to green and parks.

DESIGN §4:

* ``green_ratio_pct`` — area of the union of ``green`` polygons inside the built-up area ÷
  built-up area × 100.  OSM does not map most private green inside housing plots, so this
  is the **mapped** green ratio (a lower bound).
* ``park_m2_per_person`` — union area of public ``parks`` inside the built-up area ÷ the
  residents of the built-up area (``population`` of the points inside it).
* ``green_300m_pct`` / ``park_500m_pct`` — population share whose **walking-network**
  distance to the nearest green space ≥ 400 m² / park ≥ 0.5 ha (``layers/facilities.yaml``
  ``min_area_m2``) is ≤ 300 m / 500 m.

Access rules (decisions, also written into each indicator's ``method``/``params``):

* Polygons are repaired (``make_valid``) and **overlapping or touching polygons are merged**
  before the minimum area is tested: a park drawn as a ``leisure=park`` with a
  ``leisure=garden`` inside, or a green strip split into touching pieces, is one space.
  Isolated polygons are kept exactly as given.
* Access points are park entrances where supplied (an entrance belongs to the polygon it
  lies on or within ``entrance_tolerance_m``), else the exterior ring sampled every
  ``spacing_m`` (equal steps ≤ ``spacing_m``, starting at the ring's first vertex).  Inner
  rings (holes) are not access points.
* One multi-source search over **all** access points (:func:`kmgis.network.nearest_distance`
  with ``cutoff=max_m``); access points snap to the nearest edge like residents (the snap
  distance is walked).  Never one search per resident or per park.
* A resident point **inside** a qualifying polygon has distance 0 (it is in the green space).
* Residents farther than ``max_snap_m`` from the network (and not inside a polygon) are not
  covered; they stay in the denominator and are counted in ``params``.

Areas and lengths are computed in the metric CRS given (``crs``, or the network's CRS).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from kmgis.config import load_layers_yaml
from kmgis.errors import KmgisError
from kmgis.geom import is_empty_layer, polygonal, projected_crs
from kmgis.indicators.result import Indicator, Result, no_data
from kmgis.model import WGS84
from kmgis.network import DEFAULT_MAX_SNAP_M, Network, nearest_distance, snap_points

AreaLike = gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | None

# Defaults read once, at import, from the packaged layers/facilities.yaml (DESIGN §4): green
# spaces ≥ 400 m², parks ≥ 0.5 ha; the OSM tag rules name what to supply.  Workflows pass a
# user's own values as arguments; nothing here reads a file at call time.
_FACILITY_TABLE = load_layers_yaml("facilities")
GREEN_MIN_AREA_M2 = float(_FACILITY_TABLE["green"]["min_area_m2"])
PARK_MIN_AREA_M2 = float(_FACILITY_TABLE["parks"]["min_area_m2"])

RESIDENTS_MISSING = (
    "residents: supply population points (kmgis.population: a population raster such as WorldPop/GHS-POP, "
    "or county totals spread over residential proxies)"
)
BUILT_UP_MISSING = (
    "built-up area: supply the official built-up area as a layer, or derive it (built_up_area_km2, DESIGN §4)"
)


def _osm_rule_text(rules: dict[str, list[str]]) -> str:
    return ", ".join(f"{key}={'/'.join(str(v) for v in values)}" for key, values in rules.items())


GREEN_MISSING = (f"green: supply OSM ({_osm_rule_text(_FACILITY_TABLE['green']['osm'])}) via --osm FILE or a "
                 "green layer in the catalogue")
PARKS_MISSING = (f"parks: supply OSM ({_osm_rule_text(_FACILITY_TABLE['parks']['osm'])}, not access=private) via "
                 "--osm FILE or a parks layer in the catalogue")


# --------------------------------------------------------------------------- helpers


def _metric(crs: pyproj.CRS | str) -> pyproj.CRS:
    return projected_crs(crs, "green-space indicators")


def area_geometry(area: AreaLike, crs: pyproj.CRS | str) -> shapely.Geometry | None:
    """One polygonal geometry in the metric ``crs`` from a GeoDataFrame/GeoSeries (any CRS) or a
    shapely geometry (taken as WGS84 lon/lat); None when absent or empty."""
    if area is None:
        return None
    crs = _metric(crs)
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        if len(area) == 0:
            return None
        if area.crs is None:
            raise KmgisError("area layer has no CRS")
        geoms = np.asarray(area.to_crs(crs).geometry.values if isinstance(area, gpd.GeoDataFrame)
                           else area.to_crs(crs).values)
    else:
        geoms = np.asarray(gpd.GeoSeries([area], crs=WGS84).to_crs(crs).values)
    geoms = polygonal(geoms)
    geoms = geoms[~shapely.is_missing(geoms)]
    if len(geoms) == 0:
        return None
    out = shapely.union_all(geoms)
    return None if out.is_empty else out


def layer_polygons(layer: gpd.GeoDataFrame | gpd.GeoSeries, crs: pyproj.CRS | str) -> np.ndarray:
    """A layer's geometries in the metric ``crs``, repaired, polygonal part only, aligned with its
    rows (None where a row has no polygon)."""
    if layer.crs is None:
        raise KmgisError("polygon layer has no CRS")
    gs = layer.geometry if isinstance(layer, gpd.GeoDataFrame) else layer
    return polygonal(np.asarray(gs.to_crs(_metric(crs)).values))


def merge_touching(geoms: np.ndarray) -> np.ndarray:
    """Merge polygons that overlap or touch (connected groups); isolated ones are returned unchanged.

    Order: groups in the order of their first member.
    """
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    if n <= 1:
        return geoms
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    adj = coo_array((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(n, n))
    _, label = connected_components(adj, directed=False)
    sizes = np.bincount(label)
    _, first = np.unique(label, return_index=True)
    out = []
    for lab in label[np.sort(first)]:
        members = np.flatnonzero(label == lab) if sizes[lab] > 1 else None
        out.append(geoms[first[lab]] if members is None else shapely.union_all(geoms[members]))
    return np.asarray(out, dtype=object)


def population_weights(residents: gpd.GeoDataFrame) -> np.ndarray:
    """The ``population`` column as floats (NaN → 0); a clear error when it is missing or negative."""
    if "population" not in residents.columns:
        raise KmgisError("residents: no 'population' column (persons per point) in the population points")
    pop = pd.to_numeric(residents["population"], errors="coerce").to_numpy(dtype=float)
    pop = np.where(np.isfinite(pop), pop, 0.0)
    if (pop < 0).any():
        raise KmgisError(f"residents: {int((pop < 0).sum())} point(s) have a negative population")
    return pop


def resident_xy(residents: gpd.GeoDataFrame, crs: pyproj.CRS | str) -> np.ndarray:
    """Resident x/y (m) in the metric ``crs``; non-point geometries use a representative point."""
    if residents.crs is None:
        raise KmgisError("residents have no CRS")
    geom = residents.geometry
    if len(geom) and (geom.geom_type == "Point").all():  # points: project the coordinate arrays, no new geometries
        xy = shapely.get_coordinates(np.asarray(geom.values))
        x, y = pyproj.Transformer.from_crs(geom.crs, crs, always_xy=True).transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])
    geom = geom.to_crs(crs)
    if len(geom):
        geom = geom.representative_point()
    return shapely.get_coordinates(np.asarray(geom.values)).reshape(-1, 2)


def residents_scope(pop: np.ndarray) -> str:
    return f"residents supplied ({len(pop)} points, {pop.sum():,.0f} persons)"


def share_pct(pop: np.ndarray, covered: np.ndarray) -> float:
    """Population share (%) of the covered points."""
    return float(pop[covered].sum() / pop.sum() * 100.0)


# --------------------------------------------------------------------------- ratio and per person


def green_ratio(green: gpd.GeoDataFrame | None, area: AreaLike, crs: pyproj.CRS | str) -> Result:
    """``green_ratio_pct``: union of green polygons inside the area (the built-up area) ÷ its area × 100.

    Parameters
    ----------
    green : the ``green`` layer (polygons, any CRS).
    area : the built-up area: a GeoDataFrame/GeoSeries (any CRS, all rows unioned) or a
        shapely geometry in WGS84.
    crs : the projected metric CRS for areas (m²).  No minimum area applies.

    Returns
    -------
    Result with one record, ``green_ratio_pct`` (%).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> area = gpd.GeoSeries([shapely.box(0, 0, 100, 100)], crs="EPSG:32648")
    >>> green = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 50, 50)], crs="EPSG:32648")
    >>> green_ratio(green, area, "EPSG:32648")["green_ratio_pct"].value
    25.0
    """
    return Result([_green_ratio(green, area, crs)])


def _green_ratio(green: gpd.GeoDataFrame | None, built_up: AreaLike, crs: pyproj.CRS | str) -> Indicator:
    ind, unit = "green_ratio_pct", "%"
    area = area_geometry(built_up, crs)
    if area is None:
        return no_data(ind, unit, "built-up area", BUILT_UP_MISSING)
    if is_empty_layer(green):
        return no_data(ind, unit, "built-up area", GREEN_MISSING)
    union, n_used = _union_inside(layer_polygons(green, crs), area)
    built_m2 = float(area.area)
    green_m2 = float(union.area)
    return Indicator(
        ind,
        green_m2 / built_m2 * 100.0,
        unit,
        f"built-up area ({built_m2 / 1e6:.3f} km²)",
        "mapped green ratio: area of the union of green polygons (layers/facilities.yaml green tags) inside the "
        "built-up area ÷ built-up area × 100; OSM does not map most private green inside housing plots, so "
        "this is a lower bound of the true green ratio",
        ("green", "built_up"),
        {"crs": pyproj.CRS.from_user_input(crs).to_string(), "built_up_km2": round(built_m2 / 1e6, 6),
         "green_m2": round(green_m2, 3), "green_polygons_used": n_used},
    )


def _union_inside(geoms: np.ndarray, area: shapely.Geometry) -> tuple[shapely.Geometry, int]:
    geoms = geoms[~shapely.is_missing(geoms)]
    shapely.prepare(area)
    hit = geoms[shapely.intersects(geoms, area)]
    if len(hit) == 0:
        return shapely.Polygon(), 0
    return shapely.union_all(shapely.intersection(hit, area)), len(hit)


def park_per_person(
    parks: gpd.GeoDataFrame | None,
    area: AreaLike,
    residents: gpd.GeoDataFrame | None,
    crs: pyproj.CRS | str,
    *,
    min_area_m2: float = 0.0,
) -> Result:
    """``park_m2_per_person``: union area of public parks inside the area (built-up) ÷ its residents (m²/person).

    Residents of the area: the summed ``population`` of the points inside it (or on its
    boundary).  ``min_area_m2`` (default 0: every public park counts) drops smaller parks
    (after merging touching ones) before the union.  ``crs``: projected metric CRS.
    Returns a Result with one record, ``park_m2_per_person``.
    """
    return Result([_park_per_person(parks, area, residents, crs, min_area_m2)])


def _park_per_person(parks: gpd.GeoDataFrame | None, built_up: AreaLike, residents: gpd.GeoDataFrame | None,
                     crs: pyproj.CRS | str, min_area_m2: float) -> Indicator:
    ind, unit = "park_m2_per_person", "m²/person"
    area = area_geometry(built_up, crs)
    if area is None:
        return no_data(ind, unit, "built-up area", BUILT_UP_MISSING)
    if is_empty_layer(parks):
        return no_data(ind, unit, "built-up area", PARKS_MISSING)
    if is_empty_layer(residents):
        return no_data(ind, unit, "built-up area", RESIDENTS_MISSING)
    geoms = layer_polygons(parks, crs)
    geoms = merge_touching(geoms[~shapely.is_missing(geoms)])
    small = shapely.area(geoms) < min_area_m2
    union, n_used = _union_inside(geoms[~small], area)
    pop = population_weights(residents)
    xy = resident_xy(residents, crs)
    shapely.prepare(area)
    inside = shapely.intersects_xy(area, xy[:, 0], xy[:, 1])
    persons = float(pop[inside].sum())
    built_m2 = float(area.area)
    scope = f"built-up area ({built_m2 / 1e6:.3f} km², {persons:,.0f} residents)"
    if persons <= 0:
        return no_data(ind, unit, scope, "residents: no population inside the built-up area (check the population "
                       "points and the built-up area)")
    park_m2 = float(union.area)
    return Indicator(
        ind,
        park_m2 / persons,
        unit,
        scope,
        "union area of public parks (leisure=park/garden, not access=private) inside the built-up area ÷ "
        "population of the points inside the built-up area",
        ("parks", "built_up", "population"),
        {"crs": pyproj.CRS.from_user_input(crs).to_string(), "built_up_km2": round(built_m2 / 1e6, 6),
         "park_m2": round(park_m2, 3), "residents": round(persons, 3), "parks_used": n_used,
         "min_area_m2": min_area_m2, "parks_below_min_area": int(small.sum()),
         "resident_points_inside": int(inside.sum())},
    )


# --------------------------------------------------------------------------- access


def access_points(
    polygons: gpd.GeoDataFrame | gpd.GeoSeries,
    crs: pyproj.CRS | str,
    *,
    spacing_m: float = 30.0,
    entrances: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    entrance_tolerance_m: float = 30.0,
) -> gpd.GeoDataFrame:
    """Access points of polygons: entrances where supplied, else the exterior sampled every ``spacing_m``.

    Each exterior ring (every part of a multipolygon) of length L gets ``ceil(L/spacing_m)``
    (at least 1) points at equal steps from its first vertex.  Returns points in the metric
    ``crs`` with ``polygon`` (the row position in ``polygons``) and ``kind`` (``boundary`` /
    ``entrance``).  ``entrances`` (points, any CRS) belong to the polygon given in their
    ``polygon`` column (row positions) if they have one, else to the nearest polygon within
    ``entrance_tolerance_m``; a polygon with entrances uses only its entrances.  Entrances
    belonging to no polygon are dropped and counted in ``attrs["entrances_unassigned"]``.
    """
    if spacing_m <= 0:
        raise KmgisError(f"access point spacing must be positive, got {spacing_m} m")
    crs = _metric(crs)
    geoms = layer_polygons(polygons, crs) if len(polygons) else np.zeros(0, dtype=object)
    parts, poly_of_part = shapely.get_parts(geoms, return_index=True)
    rings = shapely.get_exterior_ring(parts)
    length = shapely.length(rings)
    n = np.maximum(1, np.ceil(length / spacing_m)).astype(np.int64)
    ring_of_pt = np.repeat(np.arange(len(rings)), n)
    start = np.cumsum(n) - n
    k = np.arange(int(n.sum())) - start[ring_of_pt]
    dist = k * (length / n)[ring_of_pt]
    pts = shapely.line_interpolate_point(rings[ring_of_pt], dist)
    poly = poly_of_part[ring_of_pt]
    kind = np.full(len(pts), "boundary", dtype=object)
    unassigned = 0
    if entrances is not None and len(entrances):
        if entrances.crs is None:
            raise KmgisError("entrances have no CRS")
        ent_geom = entrances.geometry if isinstance(entrances, gpd.GeoDataFrame) else entrances
        ent = np.asarray(ent_geom.to_crs(crs).values)
        if isinstance(entrances, gpd.GeoDataFrame) and "polygon" in entrances.columns:
            owner = pd.to_numeric(entrances["polygon"], errors="coerce").fillna(-1).to_numpy(np.int64)
            owner[(owner >= len(geoms)) | (owner < 0)] = -1
        else:
            owner = np.full(len(ent), -1, dtype=np.int64)
            valid = np.flatnonzero(~shapely.is_missing(geoms))
            if len(valid):
                (src, hit) = shapely.STRtree(geoms[valid]).query_nearest(
                    ent, max_distance=entrance_tolerance_m, all_matches=False
                )
                owner[src] = valid[hit]
        ok = owner >= 0
        unassigned = int((~ok).sum())
        with_ent = np.isin(poly, owner[ok])
        pts = np.concatenate([pts[~with_ent], ent[ok]])
        poly = np.concatenate([poly[~with_ent], owner[ok]])
        kind = np.concatenate([kind[~with_ent], np.full(int(ok.sum()), "entrance", dtype=object)])
    out = gpd.GeoDataFrame({"polygon": poly.astype(np.int64), "kind": kind}, geometry=pts, crs=crs)
    out.attrs["entrances_unassigned"] = unassigned
    return out


def _area_access(
    net: Network,
    residents: gpd.GeoDataFrame | None,
    layer: gpd.GeoDataFrame | None,
    *,
    indicator: str,
    noun: str,
    layer_name: str,
    missing: str,
    max_m: float,
    min_area_m2: float,
    spacing_m: float,
    max_snap_m: float,
    entrances: gpd.GeoDataFrame | gpd.GeoSeries | None,
) -> tuple[Indicator, np.ndarray]:
    unit = "%"
    if is_empty_layer(residents):
        return no_data(indicator, unit, "residents", RESIDENTS_MISSING), np.zeros(0)
    pop = population_weights(residents)
    scope = residents_scope(pop)
    nan = np.full(len(residents), np.nan)
    if is_empty_layer(layer):
        return no_data(indicator, unit, scope, missing), nan
    if pop.sum() <= 0:
        return no_data(indicator, unit, scope, "residents: the population points hold no persons"), nan
    geoms = layer_polygons(layer, net.crs)
    geoms = merge_touching(geoms[~shapely.is_missing(geoms)])
    big = shapely.area(geoms) >= min_area_m2
    spaces = geoms[big]
    pts = access_points(gpd.GeoSeries(spaces, crs=net.crs), net.crs, spacing_m=spacing_m, entrances=entrances)
    sources = snap_points(net, np.asarray(shapely.get_coordinates(pts.geometry.values)).reshape(-1, 2), max_snap_m)
    xy = resident_xy(residents, net.crs)
    targets = snap_points(net, xy, max_snap_m)
    dist = nearest_distance(net, targets, sources, cutoff=max_m)
    inside = np.zeros(len(xy), dtype=bool)
    if len(spaces):
        idx_pt, _ = shapely.STRtree(spaces).query(shapely.points(xy), predicate="intersects")
        inside[idx_pt] = True
    dist[inside] = 0.0
    covered = dist <= max_m
    unsnapped = ~targets.reached & ~inside
    method = (
        f"population share whose walking-network distance to the nearest {noun} (≥ {min_area_m2:g} m², touching "
        f"polygons merged) is ≤ {max_m:g} m; access points: entrances, else the boundary every {spacing_m:g} m; "
        f"one multi-source Dijkstra over all access points; residents and access points snapped to the nearest "
        f"edge within {max_snap_m:g} m (snap distance walked); residents inside a {noun} count 0 m; residents "
        f"beyond the snap distance count as not covered"
    )
    if len(spaces) == 0:
        method += f"; no {noun} ≥ {min_area_m2:g} m² in the {layer_name} layer (OSM coverage may be incomplete)"
    params = {
        "max_m": max_m,
        "min_area_m2": min_area_m2,
        "spacing_m": spacing_m,
        "max_snap_m": max_snap_m,
        "polygons_in_layer": int(len(layer)),
        "spaces_after_merge": int(len(geoms)),
        "spaces_counted": int(len(spaces)),
        "spaces_below_min_area": int((~big).sum()),
        "access_points": int(len(pts)),
        "entrance_points": int((pts["kind"] == "entrance").sum()),
        "access_points_unsnapped": int((~sources.reached).sum()),
        "resident_points": int(len(xy)),
        "residents_unsnapped": int(unsnapped.sum()),
        "population_unsnapped": float(pop[unsnapped].sum()),
        "residents_inside": int(inside.sum()),
        "population_covered": float(pop[covered].sum()),
    }
    ind = Indicator(indicator, share_pct(pop, covered), unit, scope, method, (layer_name, "population", "roads"),
                    params)
    return ind, dist


def _access_result(ind: Indicator, dist: np.ndarray, residents: gpd.GeoDataFrame | None, column: str) -> Result:
    index = residents.index if residents is not None else pd.RangeIndex(0)
    return Result([ind], per_feature=pd.DataFrame({column: dist}, index=index))


def green_access(
    network: Network,
    residents: gpd.GeoDataFrame | None,
    green: gpd.GeoDataFrame | None,
    *,
    max_m: float = 300.0,
    min_area_m2: float = GREEN_MIN_AREA_M2,
    spacing_m: float = 30.0,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    entrances: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
) -> Result:
    """``green_300m_pct``: share of residents within ``max_m`` metres' walk of a green space (%).

    ``min_area_m2`` defaults to ``layers/facilities.yaml`` ``green.min_area_m2`` (400 m²).
    ``per_feature["walk_m_to_green"]`` is aligned with ``residents`` (same index): the
    walking distance (m) to the nearest green space, ``inf`` beyond ``max_m`` or unsnapped,
    0 inside a green space, NaN when the green layer is missing.
    """
    ind, dist = _area_access(
        network, residents, green, indicator="green_300m_pct" if max_m == 300.0 else f"green_{max_m:g}m_pct",
        noun="green space", layer_name="green", missing=GREEN_MISSING, max_m=max_m, min_area_m2=min_area_m2,
        spacing_m=spacing_m, max_snap_m=max_snap_m, entrances=entrances,
    )
    return _access_result(ind, dist, residents, "walk_m_to_green")


def park_access(
    network: Network,
    residents: gpd.GeoDataFrame | None,
    parks: gpd.GeoDataFrame | None,
    *,
    max_m: float = 500.0,
    min_area_m2: float = PARK_MIN_AREA_M2,
    spacing_m: float = 30.0,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    entrances: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
) -> Result:
    """``park_500m_pct``: share of residents within ``max_m`` metres' walk of a park (%).

    ``min_area_m2`` defaults to ``layers/facilities.yaml`` ``parks.min_area_m2`` (5,000 m² = 0.5 ha);
    ``entrances``: park gates (OSM ``entrance=*`` nodes on the park outline), which replace
    the sampled boundary of their park.  ``per_feature["walk_m_to_park"]`` as in
    :func:`green_access`.
    """
    ind, dist = _area_access(
        network, residents, parks, indicator="park_500m_pct" if max_m == 500.0 else f"park_{max_m:g}m_pct",
        noun="park", layer_name="parks", missing=PARKS_MISSING, max_m=max_m, min_area_m2=min_area_m2,
        spacing_m=spacing_m, max_snap_m=max_snap_m, entrances=entrances,
    )
    return _access_result(ind, dist, residents, "walk_m_to_park")
