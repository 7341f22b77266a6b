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

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from kmgis.config import load_layers_yaml
from kmgis.errors import KmgisError
from kmgis.indicators import Indicator, no_data
from kmgis.indicators.greenspace import (
    RESIDENTS_MISSING,
    AreaLike,
    area_geometry,
    is_missing,
    population_weights,
    resident_xy,
    residents_scope,
    share_pct,
)
from kmgis.model import WGS84
from kmgis.network import DEFAULT_MAX_SNAP_M, Network, Snapped, nearest_distance, snap_points


def _category_table() -> dict[str, dict]:
    return dict(load_layers_yaml("facilities")["categories"])


def select_categories(categories: Sequence[str] | None = None) -> list[str]:
    """Categories of ``facilities.yaml`` (file order), optionally restricted to ``categories``."""
    table = _category_table()
    if categories is None:
        return list(table)
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
    kmh = float(walk_kmh if walk_kmh is not None else load_layers_yaml("speeds")["walk_kmh"])
    if not kmh > 0:
        raise KmgisError(f"walking speed must be positive, got {kmh} km/h")
    return kmh


def _category_points(facilities: gpd.GeoDataFrame, category: str) -> gpd.GeoDataFrame:
    if "category" not in facilities.columns:
        raise KmgisError("facilities: no 'category' column (see kmgis.model, layer 'facilities')")
    return facilities[facilities["category"] == category]


def lifecircle(
    net: Network,
    residents: gpd.GeoDataFrame | None,
    facilities: gpd.GeoDataFrame | None,
    *,
    categories: Sequence[str] | None = None,
    walk_kmh: float | None = None,
    minutes: float = 15.0,
    band_m: Sequence[float] = (1000.0, 1500.0),
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> tuple[list[Indicator], pd.DataFrame]:
    """Life-circle indicators and the per-resident distance table.

    Returns the indicators (per category: ``lifecircle_<c>_pct``, then one
    ``lifecircle_<c>_<b>m_pct`` per ``band_m`` value; finally ``lifecircle_complete_pct``)
    and a DataFrame aligned with ``residents`` (same index) with ``dist_m_<category>``: the
    walking distance (m) to the nearest facility of the category, ``inf`` beyond the search
    cut-off (max of the time distance and ``band_m``) or unsnapped, NaN where the category
    has no data.  ``categories``: a subset of ``facilities.yaml`` (reported in file order;
    unknown names are an error).  ``walk_kmh`` defaults to ``layers/speeds.yaml`` (4.8 km/h).
    ``residents``: population points (any CRS, float ``population``); ``facilities``: the
    ``facilities`` layer (``category`` column).
    """
    cats = select_categories(categories)
    kmh = walk_speed(walk_kmh)
    reach_m = minutes * 60.0 * kmh / 3.6
    bands = [float(b) for b in band_m]
    cutoff = max([reach_m, *bands])
    unit = "%"
    names = {c: [f"lifecircle_{c}_pct", *(f"lifecircle_{c}_{b:g}m_pct" for b in bands)] for c in cats}
    complete_name = "lifecircle_complete_pct"
    columns = [f"dist_m_{c}" for c in cats]

    if is_missing(residents):
        rows = [no_data(n, unit, "residents", RESIDENTS_MISSING) for c in cats for n in names[c]]
        rows.append(no_data(complete_name, unit, "residents", RESIDENTS_MISSING))
        index = residents.index if residents is not None else pd.RangeIndex(0)
        return rows, pd.DataFrame({c: pd.Series(np.nan, index=index, dtype=float) for c in columns}, index=index)

    pop = population_weights(residents)
    scope = residents_scope(pop)
    if pop.sum() <= 0:
        why = "residents: the population points hold no persons"
        rows = [no_data(n, unit, scope, why) for c in cats for n in names[c]]
        rows.append(no_data(complete_name, unit, scope, why))
        return rows, pd.DataFrame({c: np.nan for c in columns}, index=residents.index)
    targets = snap_points(net, resident_xy(residents, net.crs), max_snap_m)
    layer_present = not is_missing(facilities)
    base_params = {
        "walk_kmh": kmh,
        "minutes": minutes,
        "reach_m": reach_m,
        "band_m": bands,
        "max_snap_m": max_snap_m,
        "resident_points": int(len(pop)),
        "residents_unsnapped": int((~targets.reached).sum()),
        "population_unsnapped": float(pop[~targets.reached].sum()),
    }
    search = (
        f"one multi-source Dijkstra per category over the walk network (cut-off {cutoff:g} m); residents and "
        f"facilities snapped to the nearest edge within {max_snap_m:g} m (snap distance walked); residents beyond "
        f"it count as not covered"
    )
    rows: list[Indicator] = []
    table = pd.DataFrame(index=residents.index)
    covered_all = np.ones(len(pop), dtype=bool)
    absent: list[str] = []
    no_data_cats: list[str] = []
    for cat in cats:
        en = _category_table()[cat].get("en", cat)
        col = f"dist_m_{cat}"
        if not layer_present:
            no_data_cats.append(cat)
            table[col] = np.nan
            rows += [no_data(n, unit, scope, category_missing(cat)) for n in names[cat]]
            continue
        pts = _category_points(facilities, cat)
        note = ""
        if len(pts) == 0:
            absent.append(cat)
            dist = np.full(len(pop), np.inf)
            fac_unsnapped = 0
            note = f"; no {cat} mapped in the area; OSM coverage may be incomplete ({category_missing(cat)})"
        else:
            sources = snap_points(net, pts, max_snap_m)
            fac_unsnapped = int((~sources.reached).sum())
            dist = nearest_distance(net, targets, sources, cutoff=cutoff)
        table[col] = dist
        covered_all &= dist <= reach_m
        params = base_params | {"facilities": int(len(pts)), "facilities_unsnapped": fac_unsnapped}
        for name, limit in zip(names[cat], [reach_m, *bands], strict=True):
            what = (f"within {minutes:g} min walk ({reach_m:g} m at {kmh:g} km/h)" if name == names[cat][0]
                    else f"within {limit:g} m walk")
            rows.append(
                Indicator(
                    name,
                    share_pct(pop, dist <= limit),
                    unit,
                    scope,
                    f"population share {what} of the nearest {en} ({cat}); {search}{note}",
                    ("facilities", "population", "roads"),
                    params | {"limit_m": limit, "population_covered": float(pop[dist <= limit].sum())},
                )
            )
    if no_data_cats:
        rows.append(no_data(complete_name, unit, scope,
                            "facilities: supply a facilities layer (OSM via --osm FILE, or a POI table) covering "
                            f"{', '.join(no_data_cats)}"))
    else:
        note = f"; categories with nothing mapped: {', '.join(absent)} (OSM coverage may be incomplete)" if absent else ""
        rows.append(
            Indicator(
                complete_name,
                share_pct(pop, covered_all),
                unit,
                scope,
                f"population share within {minutes:g} min walk ({reach_m:g} m at {kmh:g} km/h) of every category "
                f"({', '.join(cats)}); {search}{note}",
                ("facilities", "population", "roads"),
                base_params | {"categories": cats, "categories_absent": absent,
                               "population_covered": float(pop[covered_all].sum())},
            )
        )
    return rows, table


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
    net: Network,
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
    kmh = walk_speed(walk_kmh)
    metres_per_min = kmh * 1000.0 / 60.0
    geom = area_geometry(area, crs)
    if geom is None:
        raise KmgisError("access grid: the area is missing or empty")
    cells, cx, cy = grid_cells(geom, cell_m)
    centres = gpd.GeoSeries(shapely.points(cx, cy), crs=crs)
    targets: Snapped = snap_points(net, centres, max_snap_m)
    out: dict[str, np.ndarray] = {"cell_id": np.arange(len(cells))}
    complete = np.ones(len(cells), dtype=bool)
    absent = []
    layer_present = not is_missing(facilities)
    for cat in cats:
        pts = _category_points(facilities, cat) if layer_present else None
        if pts is None or len(pts) == 0:
            absent.append(cat)
            dist = np.full(len(cells), np.inf)
        else:
            dist = nearest_distance(net, targets, snap_points(net, pts, max_snap_m), cutoff=max_m)
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
