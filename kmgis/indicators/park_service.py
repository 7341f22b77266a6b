"""Park service-radius coverage (公园绿地服务半径覆盖率): straight-line buffers as official practice, beside the walk.

DESIGN §4b.  The size classes, their radii and the denominators are read once, at import, from
``layers/standards/park_service.yaml`` (:data:`PARK_CLASSES`; each number there carries its
source and whether its text was read).  By default: parks of 5,000 m² or more serve 500 m,
parks of 2,000–5,000 m² serve 300 m (住建部《2021年城市体检指标体系》; a park of exactly
5,000 m² is in the 500 m class, one of exactly 2,000 m² in the 300 m class), smaller parks
serve no one.  The official denominator is residential land (居住用地); kmgis also weights by
residents.

* Parks: polygons repaired, **touching or overlapping polygons merged** (as in
  :mod:`kmgis.indicators.greenspace`), each merged park classed by its area (m²).
* ``park_service_straight_pct`` — population share of residents whose straight-line distance
  to a park of some class is within that class's radius: the point lies in the park's
  buffer, which is how the indicator is officially measured.  The distance is exact (the
  buffer drawn as a polygon is not needed for points).
* ``park_service_walk_pct`` — the same with walking-network distances: access points are
  park entrances where supplied, else the park outline sampled every ``spacing_m``
  (:func:`~kmgis.indicators.greenspace.access_points`); **one multi-source search per size
  class**, cut off at that class's radius; a resident inside a park is at 0 m; residents
  farther than ``max_snap_m`` from the network are not covered (and counted).
* ``park_service_gap_pct`` — straight − walk, in percentage points: the residents the
  official buffer counts as served who cannot walk there within the radius.  With outline
  access points a walk is never shorter than the straight line to the outline, so every
  resident covered on foot is covered in the straight line too (an entrance lying outside
  its park's outline is the one exception).
* ``park_service_residential_land_straight_pct`` — residential land (``landuse`` in
  :data:`RESIDENTIAL_LANDUSE`, clipped to ``area`` when given) inside the union of the class
  buffers ÷ residential land, by polygon areas: the official measure.
* ``park_service_residential_land_walk_pct`` — residential land reached on foot: the land is
  cut by a ``land_cell_m`` grid, each piece (cell ∩ land) is one point (a point on its
  surface) weighted by its area, and the pieces whose point is within the class radius on the
  network count.  The walk decides per point, as for residents, with the same snapping rule;
  a buffer of reached street edges would need a width for the last leg off the street, which
  no standard gives.  ``params`` carry the straight-line share on the same grid, so the
  grid's own error is visible (it shrinks with the cell).

Lengths in metres and areas in m² of the network's metric CRS.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from kmgis.config import load_layers_yaml
from kmgis.errors import KmgisError
from kmgis.geom import is_empty_layer
from kmgis.indicators.greenspace import (
    PARKS_MISSING,
    RESIDENTS_MISSING,
    AreaLike,
    access_points,
    area_geometry,
    layer_polygons,
    merge_touching,
    population_weights,
    resident_xy,
    residents_scope,
    share_pct,
)
from kmgis.indicators.result import Indicator, Result, no_data
from kmgis.model import WGS84
from kmgis.network import DEFAULT_MAX_SNAP_M, Network, Snapped, nearest_distance, snap_points

TABLE_NAME = "standards/park_service"
STRAIGHT, WALK, GAP = "park_service_straight_pct", "park_service_walk_pct", "park_service_gap_pct"
LAND_STRAIGHT = "park_service_residential_land_straight_pct"
LAND_WALK = "park_service_residential_land_walk_pct"
BUFFER_QUAD_SEGS = 64  # buffers drawn for land areas: a 500 m circle's chords lie within 0.04 m of it
AREA_DECIMALS = 2  # park areas are classed rounded to 0.01 m²: a reprojection round trip moves no park across a bound


@dataclass(frozen=True)
class ParkClass:
    """A park size class: parks with ``min_area_m2`` ≤ area < ``max_area_m2`` (m²) serve ``radius_m`` (m)."""

    name: str
    min_area_m2: float
    max_area_m2: float
    radius_m: float
    verified: bool = False

    def as_param(self) -> dict[str, Any]:
        """The class as a plain dict (for ``params``)."""
        hi = None if math.isinf(self.max_area_m2) else self.max_area_m2
        return {"name": self.name, "min_area_m2": self.min_area_m2, "max_area_m2": hi, "radius_m": self.radius_m,
                "verified": self.verified}


def _number(entry: Mapping[str, Any], key: str, name: str, default: float | None = None) -> float:
    value = entry.get(key, default)
    try:
        return math.inf if value is None else float(value)
    except (TypeError, ValueError):
        raise KmgisError(f"{TABLE_NAME}.yaml: park class {name!r}: {key} must be a number, got {value!r}") from None


def park_classes(table: Mapping[str, Any], applied: Sequence[str] | None = None) -> tuple[ParkClass, ...]:
    """The size classes named in ``applied`` (default: the table's ``applied`` list), checked.

    ``table``: a parsed ``standards/park_service.yaml``.  Raises :class:`KmgisError` for a
    name not in its ``classes`` (naming the known ones), a class without numeric
    ``min_area_m2`` / ``radius_m``, and two classes whose area ranges overlap (a park must fall
    in one class).

    >>> [(c.name, c.min_area_m2, c.radius_m) for c in PARK_CLASSES]
    [('park_5000m2_500m', 5000.0, 500.0), ('park_2000m2_300m', 2000.0, 300.0)]
    """
    known = table.get("classes") or {}
    names = list(table.get("applied") or []) if applied is None else [applied] if isinstance(applied, str) \
        else list(applied)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KmgisError(f"{TABLE_NAME}.yaml: unknown park class {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(known) or 'none'}")
    if not names:
        raise KmgisError(f"{TABLE_NAME}.yaml: no park class applied (list class names under 'applied')")
    out = []
    for n in names:
        lo, hi = _number(known[n], "min_area_m2", n), _number(known[n], "max_area_m2", n)
        radius = _number(known[n], "radius_m", n)
        if not (0 <= lo < hi) or not (0 < radius < math.inf):
            raise KmgisError(f"{TABLE_NAME}.yaml: park class {n!r} needs 0 ≤ min_area_m2 < max_area_m2 and a "
                             f"positive radius_m, got {lo:g}, {hi:g}, {radius:g}")
        out.append(ParkClass(n, lo, hi, radius, bool(known[n].get("verified", False))))
    ranked = sorted(out, key=lambda c: c.min_area_m2)
    for a, b in zip(ranked, ranked[1:], strict=False):
        if b.min_area_m2 < a.max_area_m2:
            raise KmgisError(f"{TABLE_NAME}.yaml: park classes {a.name!r} and {b.name!r} overlap in area "
                             f"({b.min_area_m2:g} m² < {a.max_area_m2:g} m²); a park must fall in one class")
    return tuple(out)


# Read once, at import (DESIGN: no YAML at call time); callers pass their own classes as arguments.
PARK_SERVICE_TABLE = load_layers_yaml(TABLE_NAME)
PARK_CLASSES: tuple[ParkClass, ...] = park_classes(PARK_SERVICE_TABLE)
RESIDENTIAL_LANDUSE: tuple[str, ...] = tuple(str(v) for v in PARK_SERVICE_TABLE.get("residential_landuse") or ())

LANDUSE_MISSING = (
    f"landuse: supply a land-use layer with residential land (landuse={'/'.join(RESIDENTIAL_LANDUSE)}; OSM via "
    "--osm FILE, or a landuse layer in the catalogue)"
)

ClassesLike = Sequence[ParkClass] | Sequence[str] | Mapping[str, Any]


def as_classes(classes: ClassesLike) -> tuple[ParkClass, ...]:
    """``classes`` as checked :class:`ParkClass` es: given as such, as class names of the packaged
    table, or as a parsed table (its ``applied`` list)."""
    if isinstance(classes, Mapping):
        return park_classes(classes)
    items = [classes] if isinstance(classes, str) else list(classes)
    if items and all(isinstance(c, str) for c in items):
        return park_classes(PARK_SERVICE_TABLE, items)
    if not items or not all(isinstance(c, ParkClass) for c in items):
        raise KmgisError("park classes: give ParkClass objects, class names of standards/park_service.yaml or a "
                         "parsed table")
    return park_classes({"classes": {c.name: c.as_param() for c in items}, "applied": [c.name for c in items]})


def class_of_area(area_m2: Sequence[float] | np.ndarray, classes: Sequence[ParkClass] = PARK_CLASSES) -> np.ndarray:
    """Position in ``classes`` of the class holding each area (m²); -1 where none does.

    The lower bound belongs to the class, the upper bound to the next one up.

    >>> class_of_area([1999.9, 2000, 4999.9, 5000, 141310]).tolist()
    [-1, 1, 1, 0, 0]
    """
    area = np.asarray(area_m2, dtype=float)
    out = np.full(area.shape, -1, dtype=np.int64)
    for j, c in enumerate(classes):
        out[(area >= c.min_area_m2) & (area < c.max_area_m2)] = j
    return out


def classify_parks(parks: gpd.GeoDataFrame | gpd.GeoSeries, crs: pyproj.CRS | str,
                   classes: Sequence[ParkClass] = PARK_CLASSES) -> gpd.GeoDataFrame:
    """Parks merged where they touch, in the metric ``crs``, with ``area_m2``, ``class_index``
    (-1: no class), ``park_class`` (the class name, ``""`` for none) and ``radius_m`` (NaN for none).

    Areas are classed rounded to 0.01 m² (:data:`AREA_DECIMALS`), so a park drawn at exactly
    2,000 m² stays in its class after a round trip through WGS84."""
    geoms = layer_polygons(parks, crs) if len(parks) else np.zeros(0, dtype=object)
    geoms = merge_touching(geoms[~shapely.is_missing(geoms)])
    area = shapely.area(geoms).astype(float) if len(geoms) else np.zeros(0)
    k = class_of_area(np.round(area, AREA_DECIMALS), classes)
    names = np.array([c.name for c in classes] + [""], dtype=object)
    radii = np.array([c.radius_m for c in classes] + [np.nan])
    return gpd.GeoDataFrame({"area_m2": area, "class_index": k, "park_class": names[k], "radius_m": radii[k]},
                            geometry=gpd.GeoSeries(geoms, crs=crs).values, crs=crs)


# --------------------------------------------------------------------------- distances


def straight_distances(xy: np.ndarray, parks: gpd.GeoDataFrame, n_classes: int) -> np.ndarray:
    """(points × classes) straight-line distance (m) from each point to the nearest park of each
    class (:func:`classify_parks`); 0 inside a park, ``inf`` for a class with no park."""
    out = np.full((len(xy), n_classes), np.inf)
    pts = shapely.points(xy) if len(xy) else np.zeros(0, dtype=object)
    for j in range(n_classes):
        polys = np.asarray(parks.geometry.values)[parks["class_index"].to_numpy() == j]
        if len(polys) and len(pts):
            (i, _), d = shapely.STRtree(polys).query_nearest(pts, return_distance=True, all_matches=False)
            out[i, j] = d
    return out


def walk_distances(net: Network, targets: Snapped, parks: gpd.GeoDataFrame, classes: Sequence[ParkClass], *,
                   spacing_m: float, max_snap_m: float,
                   entrances: gpd.GeoDataFrame | gpd.GeoSeries | None) -> tuple[np.ndarray, dict[str, int]]:
    """(targets × classes) walking-network distance (m) to the nearest park of each class, ``inf``
    beyond that class's radius or unsnapped: one multi-source search per class, from the access
    points of that class's parks.  Returns the distances and counts of access points."""
    counted = parks[parks["class_index"] >= 0]
    pts = access_points(gpd.GeoSeries(counted.geometry.values, crs=parks.crs), net.crs, spacing_m=spacing_m,
                        entrances=entrances)
    sources = snap_points(net, np.asarray(shapely.get_coordinates(pts.geometry.values)).reshape(-1, 2), max_snap_m)
    point_class = counted["class_index"].to_numpy()[pts["polygon"].to_numpy()]
    out = np.full((len(targets), len(classes)), np.inf)
    for j, c in enumerate(classes):
        m = point_class == j
        if m.any():
            own = Snapped(sources.edge[m], sources.pos_m[m], sources.snap_m[m], sources.max_snap_m)
            out[:, j] = nearest_distance(net, targets, own, cutoff=c.radius_m)
    info = {"access_points": int(len(pts)), "entrance_points": int((pts["kind"] == "entrance").sum()),
            "access_points_unsnapped": int((~sources.reached).sum()),
            "entrances_unassigned": int(pts.attrs.get("entrances_unassigned", 0))}
    return out, info


def _coverage(dist: np.ndarray, classes: Sequence[ParkClass]) -> tuple[np.ndarray, np.ndarray]:
    """Covered mask (within some class's radius) and the covering class's position (-1: none;
    the first class in order when several cover)."""
    radii = np.array([c.radius_m for c in classes])
    within = dist <= radii[None, :]
    covered = within.any(axis=1)
    return covered, np.where(covered, within.argmax(axis=1), -1)


# --------------------------------------------------------------------------- residential land


def residential_land(landuse: gpd.GeoDataFrame | None, crs: pyproj.CRS | str, area: AreaLike = None,
                     values: Sequence[str] = RESIDENTIAL_LANDUSE) -> tuple[shapely.Geometry | None, str]:
    """The union of the residential land-use polygons (``landuse`` in ``values``) in the metric
    ``crs``, clipped to ``area`` when given; None and what to supply when there is none."""
    if is_empty_layer(landuse):
        return None, LANDUSE_MISSING
    if "landuse" not in landuse.columns:
        raise KmgisError("landuse: no 'landuse' column (the land-use value of each polygon; see kmgis.model)")
    rows = landuse["landuse"].astype("string").isin(list(values)).fillna(False).to_numpy(dtype=bool)
    present = sorted({str(v) for v in landuse["landuse"].dropna().unique()})
    missing = (f"landuse: no polygon with landuse={'/'.join(values)} (values present: {', '.join(present[:12])}"
               f"{', …' if len(present) > 12 else ''}); map your residential code to one of these")
    geoms = layer_polygons(landuse[rows], crs) if rows.any() else np.zeros(0, dtype=object)
    geoms = geoms[~shapely.is_missing(geoms)]
    if len(geoms) == 0:
        return None, missing
    land = shapely.union_all(geoms)
    clip = area_geometry(area, crs) if area is not None else None
    if clip is not None:
        land = shapely.intersection(land, clip)
    if land.is_empty or land.area <= 0:
        return None, missing + (" inside the area" if clip is not None else "")
    return land, ""


def land_grid(land: shapely.Geometry, cell_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Land cut by a ``cell_m`` grid (aligned to multiples of ``cell_m``): one point on the surface
    of each piece (cell ∩ land) and the piece's area (m²), which add up to the land's area.

    >>> xy, w = land_grid(shapely.box(0, 0, 50, 30), 25.0)
    >>> len(w), float(w.sum())
    (4, 1500.0)
    """
    if cell_m <= 0:
        raise KmgisError(f"land grid: cell size must be positive, got {cell_m} m")
    parts = shapely.get_parts(shapely.get_parts(land))
    parts = parts[shapely.area(parts) > 0]
    keys = []
    for p, (x0, y0, x1, y1) in enumerate(shapely.bounds(parts)):
        ix = np.arange(math.floor(x0 / cell_m), math.ceil(x1 / cell_m))
        iy = np.arange(math.floor(y0 / cell_m), math.ceil(y1 / cell_m))
        gx, gy = np.meshgrid(ix, iy)
        keys.append(np.c_[gx.ravel(), gy.ravel(), np.full(gx.size, p)])
    if not keys:
        return np.zeros((0, 2)), np.zeros(0)
    k = np.concatenate(keys)
    cells = shapely.box(k[:, 0] * cell_m, k[:, 1] * cell_m, (k[:, 0] + 1) * cell_m, (k[:, 1] + 1) * cell_m)
    pieces = shapely.intersection(cells, parts[k[:, 2]])
    w = shapely.area(pieces)
    keep = w > 0
    xy = shapely.get_coordinates(shapely.point_on_surface(pieces[keep])).reshape(-1, 2)
    return xy, w[keep]


def service_areas(parks: gpd.GeoDataFrame, classes: Sequence[ParkClass]) -> gpd.GeoDataFrame:
    """The straight-line service area of each class (the union of its parks' buffers by its radius),
    in the parks' CRS; classes with no park are left out."""
    rows, geoms = [], []
    for j, c in enumerate(classes):
        polys = np.asarray(parks.geometry.values)[parks["class_index"].to_numpy() == j]
        if len(polys):
            geoms.append(shapely.union_all(shapely.buffer(polys, c.radius_m, quad_segs=BUFFER_QUAD_SEGS)))
            rows.append({"park_class": c.name, "radius_m": c.radius_m, "parks": int(len(polys))})
    out = gpd.GeoDataFrame(rows, geometry=geoms, crs=parks.crs) if rows else gpd.GeoDataFrame(
        {"park_class": [], "radius_m": [], "parks": []}, geometry=[], crs=parks.crs)
    out["area_km2"] = out.geometry.area / 1e6
    return out


# --------------------------------------------------------------------------- the indicator


def _classes_text(classes: Sequence[ParkClass]) -> str:
    return "; ".join(f"≥ {c.min_area_m2:g} m² → {c.radius_m:g} m" if math.isinf(c.max_area_m2) else
                     f"{c.min_area_m2:g}–{c.max_area_m2:g} m² → {c.radius_m:g} m" for c in classes)


def _no_class_note(params: dict[str, Any], classes: Sequence[ParkClass]) -> str:
    if any(params["parks_by_class"].values()):
        return ""
    smallest = min(c.min_area_m2 for c in classes)
    return f"; no park ≥ {smallest:g} m² in the parks layer (OSM coverage may be incomplete)"


def _resident_records(pop: np.ndarray | None, straight: np.ndarray, walk: np.ndarray, classes: Sequence[ParkClass],
                      params: dict[str, Any], unsnapped: np.ndarray) -> list[Indicator]:
    """``park_service_straight_pct``, ``_walk_pct`` and ``_gap_pct`` of the residents."""
    ids = ((STRAIGHT, "%"), (WALK, "%"), (GAP, "percentage points"))
    if pop is None:
        return [no_data(i, u, "residents", RESIDENTS_MISSING) for i, u in ids]
    scope = residents_scope(pop)
    if pop.sum() <= 0:
        return [no_data(i, u, scope, "residents: the population points hold no persons") for i, u in ids]
    s_cov, _ = _coverage(straight, classes)
    w_cov, _ = _coverage(walk, classes)
    s, w = share_pct(pop, s_cov), share_pct(pop, w_cov)
    by_class = {c.name: {"straight_pct": round(share_pct(pop, straight[:, j] <= c.radius_m), 6),
                         "walk_pct": round(share_pct(pop, walk[:, j] <= c.radius_m), 6)} for j, c in enumerate(classes)}
    p = params | {
        "resident_points": int(len(pop)), "residents_inside_a_park": int((straight == 0).any(axis=1).sum()),
        "residents_unsnapped": int(unsnapped.sum()), "population_unsnapped": float(pop[unsnapped].sum()),
        "population_covered_straight": float(pop[s_cov].sum()), "population_covered_walk": float(pop[w_cov].sum()),
        "population_straight_not_walk": float(pop[s_cov & ~w_cov].sum()), "share_by_class": by_class,
    }
    radius = f"the service radius of its size class ({_classes_text(classes)}; touching park polygons merged " \
             f"before classing by area; smaller parks serve no one){_no_class_note(params, classes)}"
    walk_rule = (f"access points: entrances, else the park outline every {params['spacing_m']:g} m; one multi-source "
                 f"Dijkstra per size class cut off at its radius; residents and access points snapped to the nearest "
                 f"edge within {params['max_snap_m']:g} m (snap distance walked); residents inside a park count 0 m, "
                 "residents beyond the snap distance as not covered")
    inputs = ("parks", "population", "roads")
    return [
        Indicator(STRAIGHT, s, "%", scope, f"population share within straight-line distance of a park ≤ {radius}, i.e. "
                  "inside the park's buffer, as the indicator is officially measured (公园绿地服务半径覆盖率)",
                  ("parks", "population"), p),
        Indicator(WALK, w, "%", scope, f"population share within walking-network distance of a park ≤ {radius}; "
                  f"{walk_rule}", inputs, p),
        Indicator(GAP, s - w, "percentage points", scope, "straight-line share − walking share: residents inside a "
                  "park's service buffer who cannot walk to a park of that class within its radius", inputs, p),
    ]


def _land_records(land: shapely.Geometry | None, missing: str, areas: gpd.GeoDataFrame,
                  classes: Sequence[ParkClass], grid_w: np.ndarray, straight: np.ndarray, walk: np.ndarray,
                  unsnapped: np.ndarray, params: dict[str, Any]) -> list[Indicator]:
    """``park_service_residential_land_straight_pct`` and ``_walk_pct``."""
    if land is None:
        return [no_data(i, "%", "residential land", missing) for i in (LAND_STRAIGHT, LAND_WALK)]
    land_m2 = float(land.area)
    values = "/".join(params["residential_landuse"])
    scope = f"residential land (landuse={values}{', inside the area' if params['clipped_to_area'] else ''}; " \
            f"{land_m2 / 1e6:.3f} km²)"
    covered_m2 = float(shapely.intersection(land, shapely.union_all(areas.geometry.values)).area) if len(areas) else 0.0
    s_cov, _ = _coverage(straight, classes)
    w_cov, _ = _coverage(walk, classes)
    total = float(grid_w.sum())
    p = params | {
        "residential_land_m2": round(land_m2, 3), "covered_straight_m2": round(covered_m2, 3),
        "land_cell_m": params["land_cell_m"], "land_grid_pieces": int(len(grid_w)),
        "covered_walk_m2": round(float(grid_w[w_cov].sum()), 3),
        "grid_straight_pct": round(float(grid_w[s_cov].sum()) / total * 100.0, 6),
        "land_unsnapped_m2": round(float(grid_w[unsnapped].sum()), 3),
    }
    buffers = (f"inside the union of the parks' buffers by the radius of their size class ({_classes_text(classes)}; "
               f"touching park polygons merged; buffers drawn with {BUFFER_QUAD_SEGS} segments per quarter circle)"
               f"{_no_class_note(params, classes)}")
    return [
        Indicator(LAND_STRAIGHT, covered_m2 / land_m2 * 100.0, "%", scope,
                  f"area of residential land (居住用地) {buffers} ÷ residential land area: the official measure",
                  ("parks", "landuse"), p),
        Indicator(LAND_WALK, float(grid_w[w_cov].sum()) / total * 100.0, "%", scope,
                  f"residential land cut by a {params['land_cell_m']:g} m grid; each piece (cell ∩ land), weighted by "
                  "its area, is covered when a point on it is within its class radius of a park on the walking "
                  "network (the residents' access points, searches and snapping) ÷ residential land area; "
                  "params.grid_straight_pct is the straight-line share on the same grid",
                  ("parks", "landuse", "roads"), p),
    ]


def _per_resident(index: pd.Index, straight: np.ndarray, walk: np.ndarray, classes: Sequence[ParkClass]) -> pd.DataFrame:
    """Each resident's straight and walking distance (m) to the nearest qualifying park, per class
    and overall, and the class that covers them (``""``: none)."""
    names = np.array([c.name for c in classes] + [""], dtype=object)
    _, s_cls = _coverage(straight, classes)
    _, w_cls = _coverage(walk, classes)
    cols: dict[str, Any] = {
        "park_service_straight_m": straight.min(axis=1) if straight.shape[1] else np.full(len(index), np.inf),
        "park_service_walk_m": walk.min(axis=1) if walk.shape[1] else np.full(len(index), np.inf),
        "park_service_straight_class": names[s_cls], "park_service_walk_class": names[w_cls],
    }
    for j, c in enumerate(classes):
        cols[f"park_service_straight_m_{c.name}"] = straight[:, j]
        cols[f"park_service_walk_m_{c.name}"] = walk[:, j]
    return pd.DataFrame(cols, index=index)


def _without_parks(index: pd.Index, classes: Sequence[ParkClass]) -> Result:
    """Every record ``no data`` naming the parks to supply; NaN distances per resident."""
    recs = [no_data(i, u, "residents", PARKS_MISSING) for i, u in ((STRAIGHT, "%"), (WALK, "%"),
                                                                       (GAP, "percentage points"))]
    recs += [no_data(i, "%", "residential land", PARKS_MISSING) for i in (LAND_STRAIGHT, LAND_WALK)]
    nan = np.full((len(index), len(classes)), np.nan)
    return Result(recs, per_feature=_per_resident(index, nan, nan, classes))


def _distances(net: Network, xy: np.ndarray, parked: gpd.GeoDataFrame, classes: Sequence[ParkClass], *,
               spacing_m: float, max_snap_m: float, entrances: gpd.GeoDataFrame | gpd.GeoSeries | None,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """Straight and walking distances (points × classes, m), the points neither snapped nor inside a
    park (not covered on foot), and the access-point counts."""
    straight = straight_distances(xy, parked, len(classes))
    targets = snap_points(net, xy, max_snap_m)
    walk, info = walk_distances(net, targets, parked, classes, spacing_m=spacing_m, max_snap_m=max_snap_m,
                                entrances=entrances)
    inside = straight == 0
    walk[inside] = 0.0  # inside a park of that class
    return straight, walk, ~targets.reached & ~inside.any(axis=1), info


def _params(parks: gpd.GeoDataFrame, parked: gpd.GeoDataFrame, classes: Sequence[ParkClass],
            crs: pyproj.CRS | str) -> dict[str, Any]:
    """The classes and the park counts, for every record's ``params``."""
    k = parked["class_index"].to_numpy()
    return {"classes": [c.as_param() for c in classes], "crs": pyproj.CRS.from_user_input(crs).to_string(),
            "parks_in_layer": int(len(parks)), "parks_after_merge": int(len(parked)),
            "parks_below_classes": int((k < 0).sum()),
            "parks_by_class": {c.name: int((k == j).sum()) for j, c in enumerate(classes)}}


def park_service_coverage(
    network: Network,
    residents: gpd.GeoDataFrame | None,
    parks: gpd.GeoDataFrame | None,
    *,
    classes: ClassesLike = PARK_CLASSES,
    landuse: gpd.GeoDataFrame | None = None,
    area: AreaLike = None,
    residential_landuse: Sequence[str] = RESIDENTIAL_LANDUSE,
    spacing_m: float = 30.0,
    land_cell_m: float = 25.0,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    entrances: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
) -> Result:
    """Park service-radius coverage of residents and residential land, straight-line and on foot (%).

    Parameters
    ----------
    network, residents, parks : the walk network (its metric CRS is used for lengths and areas);
        population points (``population``, persons), e.g. of the built-up area; park polygons.
    classes : size classes (:data:`PARK_CLASSES`, from ``standards/park_service.yaml``), their
        names in that table, or a parsed table of the same form.
    landuse : land-use polygons (column ``landuse``); residential land = ``residential_landuse``
        values, clipped to ``area`` (the built-up area; GeoDataFrame or WGS84 geometry) when given.
    spacing_m, land_cell_m : access points every ``spacing_m`` m along outlines; the grid (m) cutting land.
    max_snap_m, entrances : maximum snap distance (m); park gates (points), replacing their park's outline.

    Returns
    -------
    Result with ``park_service_straight_pct``, ``park_service_walk_pct``, ``park_service_gap_pct``
    (percentage points), ``park_service_residential_land_straight_pct`` and ``_walk_pct``
    (no data without land use); ``per_feature`` aligned with ``residents`` (distances in m,
    ``inf`` beyond reach; walking distances are cut at each class's radius); layers
    ``park_service_parks`` (classed parks) and ``park_service_areas`` (straight-line service areas).

    Examples
    --------
    A 5,000 m² park 10 m north of a 1 km road; one resident on the road 350 m east of the park's
    corner (walks 350 + 10 m), one 400 m north of the road (488 m from the park in a straight
    line, but beyond the 250 m snap distance: not on foot).

    >>> import geopandas as gpd, shapely
    >>> from kmgis.model import conform
    >>> from kmgis.network import build_network
    >>> roads = conform("roads", gpd.GeoDataFrame({"road_class": ["branch"]}, crs="EPSG:32648",
    ...     geometry=[shapely.LineString([(700000, 2770000), (701000, 2770000)])]).to_crs("EPSG:4326"))
    >>> net = build_network(roads, "walk", "EPSG:32648")
    >>> park = gpd.GeoDataFrame(geometry=[shapely.box(700000, 2770010, 700100, 2770060)], crs="EPSG:32648")
    >>> people = gpd.GeoDataFrame({"population": [10.0, 30.0]}, crs="EPSG:32648",
    ...     geometry=gpd.points_from_xy([700450, 700450], [2770000, 2770400]))
    >>> r = park_service_coverage(net, people, park)
    >>> round(r["park_service_straight_pct"].value, 1), round(r["park_service_walk_pct"].value, 1)
    (100.0, 25.0)
    >>> r.per_feature["park_service_walk_m"].round(1).tolist()
    [360.0, inf]
    """
    classes = as_classes(classes)
    have_res = not is_empty_layer(residents)
    pop = population_weights(residents) if have_res else None
    index = residents.index if residents is not None else pd.RangeIndex(0)
    land, land_missing = residential_land(landuse, network.crs, area, residential_landuse)
    if is_empty_layer(parks):
        return _without_parks(index, classes)
    parked = classify_parks(parks, network.crs, classes)
    xy_res = resident_xy(residents, network.crs) if have_res else np.zeros((0, 2))
    grid_xy, grid_w = land_grid(land, land_cell_m) if land is not None else (np.zeros((0, 2)), np.zeros(0))
    straight, walk, unsnapped, info = _distances(network, np.vstack([xy_res, grid_xy]), parked, classes,
                                                 spacing_m=spacing_m, max_snap_m=max_snap_m, entrances=entrances)
    params = _params(parks, parked, classes, network.crs) | info | {
        "spacing_m": spacing_m, "max_snap_m": max_snap_m, "residential_landuse": list(residential_landuse),
        "clipped_to_area": area is not None, "land_cell_m": land_cell_m}
    n = len(xy_res)
    records = _resident_records(pop, straight[:n], walk[:n], classes, params, unsnapped[:n])
    areas = service_areas(parked, classes)
    records += _land_records(land, land_missing, areas, classes, grid_w, straight[n:], walk[n:], unsnapped[n:],
                             params)
    layers = {"park_service_parks": parked.drop(columns="class_index").to_crs(WGS84),
              "park_service_areas": areas.to_crs(WGS84)}
    return Result(records, per_feature=_per_resident(index, straight[:n], walk[:n], classes), layers=layers)
