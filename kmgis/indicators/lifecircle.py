"""The 15-minute life circle (15分钟生活圈): walking access to each facility category.

DESIGN §4: ``lifecircle_<category>_pct`` is the population share within ``minutes`` of
walking (distance = minutes × ``walk_kmh``; 15 min at 4.8 km/h = 1,200 m) of the nearest
facility of the category (``layers/facilities.yaml``, in file order);
``lifecircle_<category>_1000m_pct`` / ``_1500m_pct`` give the plan's 1–1.5 km band; and
``lifecircle_complete_pct`` the share within the time of **every** category.

Search: **one multi-source Dijkstra per category** (:func:`kmgis.network.nearest_distance`,
cut off at the largest of the time distance and the band), never one per resident.
Residents and facilities snap to the nearest edge within ``max_snap_m`` (snap distance
walked); residents beyond it are not covered (kept in the denominator, counted).

Missing data (decision):

* facilities layer absent or empty → every row ``no data``, naming the OSM tags / Amap
  codes to supply (a 0 % would be invented);
* layer present and non-empty but **no facility of a category** → value 0, and the
  ``method`` says "no <category> mapped in the area; OSM coverage may be incomplete"
  (``params["facilities"] = 0``): the layer was searched, so 0 is the measured value of
  what is mapped, flagged as possibly a mapping gap.  ``lifecircle_complete_pct`` is then 0
  too, with the same note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from kmgis.config import load_layers_yaml
from kmgis.errors import KmgisError
from kmgis.geom import is_empty_layer
from kmgis.indicators.greenspace import (
    RESIDENTS_MISSING,
    AreaLike,
    area_geometry,
    population_weights,
    resident_xy,
    residents_scope,
    share_pct,
)
from kmgis.indicators.result import Indicator, Result, no_data
from kmgis.model import WGS84
from kmgis.network import DEFAULT_MAX_SNAP_M, Network, Snapped, nearest_distance, snap_points

# Read once, at import, from the packaged tables: the facility categories (layers/facilities.yaml,
# in file order) and the adult walking speed (layers/speeds.yaml).  Workflows pass their own.
FACILITY_CATEGORIES: dict[str, dict] = dict(load_layers_yaml("facilities")["categories"])
WALK_KMH = float(load_layers_yaml("speeds")["walk_kmh"])


def _category_table() -> dict[str, dict]:
    return FACILITY_CATEGORIES


def select_categories(categories: Sequence[str] | None = None) -> list[str]:
    """Categories of ``facilities.yaml`` (file order), optionally restricted to ``categories``.

    >>> select_categories(["school", "clinic"])
    ['school', 'clinic']
    """
    table = _category_table()
    if categories is None:  # the life circle's own set: categories not marked lifecircle: false
        return [c for c, spec in table.items() if spec.get("lifecircle", True)]
    if isinstance(categories, str):
        categories = [categories]
    unknown = [c for c in categories if c not in table]
    if unknown:
        raise KmgisError(f"unknown facility categor{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
                         f"expected some of {', '.join(table)} (layers/facilities.yaml)")
    return [c for c in table if c in set(categories)]


def category_missing(category: str) -> str:
    """What to supply for a category: its OSM tags and Amap type codes (facilities.yaml)."""
    entry = _category_table()[category]
    osm = ", ".join(f"{k}={'/'.join(map(str, v))}" for k, v in (entry.get("osm") or {}).items())
    codes = [str(c) for c in entry.get("amap_typecodes") or []]
    amap = (f"Amap type codes {'/'.join(codes)}" if codes
            else f"a category column with '{category}' (no Amap type code maps to it)")
    return (f"facilities ({category}, {entry.get('zh', '')}): supply OSM ({osm}) via --osm FILE, or a POI table "
            f"(kmgis.sources.poi) with {amap}")


def walk_speed(walk_kmh: float | None) -> float:
    """Walking speed (km/h): the argument, else ``layers/speeds.yaml`` ``walk_kmh``."""
    kmh = float(walk_kmh if walk_kmh is not None else WALK_KMH)
    if not kmh > 0:
        raise KmgisError(f"walking speed must be positive, got {kmh} km/h")
    return kmh


def _category_points(facilities: gpd.GeoDataFrame, category: str) -> gpd.GeoDataFrame:
    return facilities[facilities["category"] == category]


def check_facility_categories(facilities: gpd.GeoDataFrame | None) -> None:
    """Raise a one-line :class:`KmgisError` if the layer has a ``category`` value kmgis does not know.

    Facilities are never dropped silently: a category outside ``layers/facilities.yaml``
    would not be counted anywhere, so it is an error naming the known values.
    """
    if is_empty_layer(facilities):
        return
    if "category" not in facilities.columns:
        raise KmgisError("facilities: no 'category' column (see kmgis.model, layer 'facilities')")
    values = facilities["category"].dropna().astype(str)
    unknown = sorted(set(values) - set(_category_table()))
    if unknown:
        n = int(values.isin(unknown).sum())
        raise KmgisError(f"facilities: unknown categor{'y' if len(unknown) == 1 else 'ies'} {unknown} "
                         f"({n} features); known: {', '.join(_category_table())} (layers/facilities.yaml)")


@dataclass(frozen=True)
class _Circle:
    """The parameters of one life-circle computation, derived once."""

    cats: list[str]
    kmh: float
    minutes: float
    reach_m: float
    bands: list[float]
    max_snap_m: float

    @property
    def cutoff_m(self) -> float:
        return max([self.reach_m, *self.bands])

    def names(self, cat: str) -> list[str]:
        return [f"lifecircle_{cat}_pct", *(f"lifecircle_{cat}_{b:g}m_pct" for b in self.bands)]

    def all_no_data(self, scope: str, why: str) -> list[Indicator]:
        rows = [no_data(n, "%", scope, why) for c in self.cats for n in self.names(c)]
        return [*rows, no_data(COMPLETE_ID, "%", scope, why)]

    def search_text(self) -> str:
        return (f"one multi-source Dijkstra per category over the walk network (cut-off {self.cutoff_m:g} m); "
                f"residents and facilities snapped to the nearest edge within {self.max_snap_m:g} m (snap distance "
                f"walked); residents beyond it count as not covered")


COMPLETE_ID = "lifecircle_complete_pct"
_INPUTS = ("facilities", "population", "roads")


def lifecircle(
    network: Network,
    residents: gpd.GeoDataFrame | None,
    facilities: gpd.GeoDataFrame | None,
    *,
    categories: Sequence[str] | None = None,
    walk_kmh: float | None = None,
    minutes: float = 15.0,
    band_m: Sequence[float] = (1000.0, 1500.0),
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> Result:
    """Life-circle coverage per facility category (%), the complete circle, and per-resident distances.

    Parameters
    ----------
    network : the walk network (:func:`kmgis.network.build_network`).
    residents : population points (any CRS, float ``population``).
    facilities : the ``facilities`` layer (``category`` column; an unknown category is an error).
    categories : a subset of ``layers/facilities.yaml`` (reported in file order).
    walk_kmh : walking speed, km/h (default ``layers/speeds.yaml``, 4.8 km/h).
    minutes : the life-circle time (15 min → 1,200 m at 4.8 km/h).
    band_m : extra distance limits in metres (the plan's 1,000–1,500 m band).
    max_snap_m : maximum snapping distance, m.

    Returns
    -------
    Result with, per category, ``lifecircle_<c>_pct`` then one ``lifecircle_<c>_<b>m_pct`` per
    ``band_m`` value, and finally ``lifecircle_complete_pct``; ``per_feature`` aligned with
    ``residents`` (same index) holds ``dist_m_<category>``: the walking distance (m) to the
    nearest facility, ``inf`` beyond the search cut-off or unsnapped, NaN where the category
    has no data.
    """
    kmh = walk_speed(walk_kmh)
    circle = _Circle(select_categories(categories), kmh, minutes, minutes * 60.0 * kmh / 3.6,
                     [float(b) for b in band_m], max_snap_m)
    columns = [f"dist_m_{c}" for c in circle.cats]
    check_facility_categories(facilities)
    if is_empty_layer(residents):
        index = residents.index if residents is not None else pd.RangeIndex(0)
        table = pd.DataFrame({c: pd.Series(np.nan, index=index, dtype=float) for c in columns}, index=index)
        return Result(circle.all_no_data("residents", RESIDENTS_MISSING), per_feature=table)
    pop = population_weights(residents)
    scope = residents_scope(pop)
    if pop.sum() <= 0:
        table = pd.DataFrame({c: np.nan for c in columns}, index=residents.index)
        return Result(circle.all_no_data(scope, "residents: the population points hold no persons"),
                      per_feature=table)
    targets = snap_points(network, resident_xy(residents, network.crs), max_snap_m)
    base_params = {
        "walk_kmh": kmh, "minutes": minutes, "reach_m": circle.reach_m, "band_m": circle.bands,
        "max_snap_m": max_snap_m, "resident_points": int(len(pop)),
        "residents_unsnapped": int((~targets.reached).sum()),
        "population_unsnapped": float(pop[~targets.reached].sum()),
    }
    rows: list[Indicator] = []
    table = pd.DataFrame(index=residents.index)
    covered_all = np.ones(len(pop), dtype=bool)
    absent: list[str] = []
    for cat in circle.cats:
        if is_empty_layer(facilities):
            table[f"dist_m_{cat}"] = np.nan
            rows += [no_data(n, "%", scope, category_missing(cat)) for n in circle.names(cat)]
            continue
        dist, cat_rows = _category_rows(network, targets, pop, facilities, cat, circle, scope, base_params)
        absent += [cat] if cat_rows[0].params["facilities"] == 0 else []
        table[f"dist_m_{cat}"] = dist
        covered_all &= dist <= circle.reach_m
        rows += cat_rows
    rows.append(_complete_row(facilities, pop, covered_all, absent, circle, scope, base_params))
    return Result(rows, per_feature=table)


def _category_rows(network: Network, targets: Snapped, pop: np.ndarray, facilities: gpd.GeoDataFrame, cat: str,
                   circle: _Circle, scope: str, base_params: dict) -> tuple[np.ndarray, list[Indicator]]:
    """Distances to the nearest facility of ``cat`` and its rows (time limit, then each band)."""
    en = _category_table()[cat].get("en", cat)
    pts = _category_points(facilities, cat)
    note = ""
    if len(pts) == 0:
        dist = np.full(len(pop), np.inf)
        fac_unsnapped = 0
        note = f"; no {cat} mapped in the area; OSM coverage may be incomplete ({category_missing(cat)})"
    else:
        sources = snap_points(network, pts, circle.max_snap_m)
        fac_unsnapped = int((~sources.reached).sum())
        dist = nearest_distance(network, targets, sources, cutoff=circle.cutoff_m)
    params = base_params | {"facilities": int(len(pts)), "facilities_unsnapped": fac_unsnapped}
    rows = []
    names = circle.names(cat)
    for name, limit in zip(names, [circle.reach_m, *circle.bands], strict=True):
        what = (f"within {circle.minutes:g} min walk ({circle.reach_m:g} m at {circle.kmh:g} km/h)"
                if name == names[0] else f"within {limit:g} m walk")
        rows.append(Indicator(
            name, share_pct(pop, dist <= limit), "%", scope,
            f"population share {what} of the nearest {en} ({cat}); {circle.search_text()}{note}", _INPUTS,
            params | {"limit_m": limit, "population_covered": float(pop[dist <= limit].sum())},
        ))
    return dist, rows


def _complete_row(facilities: gpd.GeoDataFrame | None, pop: np.ndarray, covered_all: np.ndarray,
                  absent: list[str], circle: _Circle, scope: str, base_params: dict) -> Indicator:
    """``lifecircle_complete_pct``: every category within the time (no data without a facilities layer)."""
    if is_empty_layer(facilities):
        return no_data(COMPLETE_ID, "%", scope,
                       "facilities: supply a facilities layer (OSM via --osm FILE, or a POI table) covering "
                       f"{', '.join(circle.cats)}")
    note = f"; categories with nothing mapped: {', '.join(absent)} (OSM coverage may be incomplete)" if absent else ""
    return Indicator(
        COMPLETE_ID, share_pct(pop, covered_all), "%", scope,
        f"population share within {circle.minutes:g} min walk ({circle.reach_m:g} m at {circle.kmh:g} km/h) of "
        f"every category ({', '.join(circle.cats)}); {circle.search_text()}{note}", _INPUTS,
        base_params | {"categories": circle.cats, "categories_absent": absent,
                       "population_covered": float(pop[covered_all].sum())},
    )


# --------------------------------------------------------------------------- grid


def grid_cells(area: shapely.Geometry, cell_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Square cells (metric) aligned on multiples of ``cell_m`` that overlap ``area`` (touching is not enough).

    Returns ``(cells, centre_x, centre_y)``.
    """
    if cell_m <= 0:
        raise KmgisError(f"grid cell size must be positive, got {cell_m} m")
    minx, miny, maxx, maxy = area.bounds
    xs = np.arange(np.floor(minx / cell_m) * cell_m, maxx, cell_m)
    ys = np.arange(np.floor(miny / cell_m) * cell_m, maxy, cell_m)
    gx, gy = np.meshgrid(xs, ys)
    gx, gy = gx.ravel(), gy.ravel()
    cells = shapely.box(gx, gy, gx + cell_m, gy + cell_m)
    shapely.prepare(area)
    hit = shapely.intersects(area, cells) & ~shapely.touches(area, cells)  # a shared edge is not coverage
    return cells[hit], gx[hit] + cell_m / 2, gy[hit] + cell_m / 2


def access_grid(
    network: Network,
    facilities: gpd.GeoDataFrame | None,
    area: AreaLike,
    crs: pyproj.CRS | str,
    *,
    cell_m: float = 100.0,
    walk_kmh: float | None = None,
    categories: Sequence[str] | None = None,
    max_m: float = 3000.0,
    minutes: float = 15.0,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> gpd.GeoDataFrame:
    """Walking minutes from each grid cell's centre to the nearest facility of each category.

    Square ``cell_m`` cells of the metric ``crs`` (aligned on multiples of ``cell_m``)
    covering ``area`` (GeoDataFrame/GeoSeries in any CRS, or a WGS84 shapely geometry);
    returned as WGS84 polygons with ``cell_id``, ``walk_min_<category>`` (NaN beyond
    ``max_m``, for an unsnapped centre or a category with no facility) and
    ``complete_<minutes>min`` (every category within ``minutes``; ``complete_15min`` by
    default).  One multi-source search per category.  ``attrs`` record the categories
    without facilities and the parameters.
    """
    cats = select_categories(categories)
    check_facility_categories(facilities)
    kmh = walk_speed(walk_kmh)
    metres_per_min = kmh * 1000.0 / 60.0
    geom = area_geometry(area, crs)
    if geom is None:
        raise KmgisError("access grid: the area is missing or empty")
    cells, cx, cy = grid_cells(geom, cell_m)
    centres = gpd.GeoSeries(shapely.points(cx, cy), crs=crs)
    targets: Snapped = snap_points(network, centres, max_snap_m)
    out: dict[str, np.ndarray] = {"cell_id": np.arange(len(cells))}
    complete = np.ones(len(cells), dtype=bool)
    absent = []
    layer_present = not is_empty_layer(facilities)
    for cat in cats:
        pts = _category_points(facilities, cat) if layer_present else None
        if pts is None or len(pts) == 0:
            absent.append(cat)
            dist = np.full(len(cells), np.inf)
        else:
            dist = nearest_distance(network, targets, snap_points(network, pts, max_snap_m), cutoff=max_m)
        minutes_to = np.where(np.isfinite(dist), dist / metres_per_min, np.nan)
        out[f"walk_min_{cat}"] = minutes_to
        complete &= minutes_to <= minutes  # NaN compares False
    out[f"complete_{minutes:g}min"] = complete
    grid = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(cells, crs=crs).to_crs(WGS84).values, crs=WGS84)
    grid.attrs["access_grid"] = {
        "cell_m": cell_m,
        "crs": pyproj.CRS.from_user_input(crs).to_string(),
        "walk_kmh": kmh,
        "max_m": max_m,
        "minutes": minutes,
        "max_snap_m": max_snap_m,
        "categories": cats,
        "categories_without_facilities": absent,
        "facilities_layer": "present" if layer_present else "missing",
        "cells_unsnapped": int((~targets.reached).sum()),
    }
    return grid
