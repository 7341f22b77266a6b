"""Supply of facilities: residents beyond the standard distance (gaps) and floating catchments (2SFCA).

DESIGN §4b ("gaps / what-if / siting").  Everything here is pure: network, residents,
facilities and parameters in, a :class:`~kmgis.indicators.result.Result` out.

* :func:`service_gaps`: ``gap_<category>_residents`` (persons whose walking distance to the
  nearest facility of the category is beyond ``distance_m``, unsnapped residents included)
  and ``gap_<category>_pct``; ``layers["gap_cells"]`` aggregates those residents on square
  cells of the metric CRS; one multi-source search (no cut-off, so the metres over are exact).
* :func:`two_step_fca` / :func:`enhanced_two_step_fca`: the two-step floating catchment area
  (Luo & Wang 2003) and its enhanced form with distance-decay zones (Luo & Qi 2009) on
  kmgis network distances (snap and along-edge offsets walked), as PySAL ``access`` computes
  them from a cost table: R_j = S_j / Σ_{i: d_ij ≤ d0} W(d_ij) P_i, A_i = Σ_{j: d_ij ≤ d0} W(d_ij) R_j.
  Facility → resident distances come from one bounded search per facility.

The what-if :class:`~kmgis.indicators.scenario.Scenario` lives in :mod:`kmgis.indicators.scenario`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

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
from kmgis.indicators.lifecircle import category_missing, check_facility_categories, select_categories
from kmgis.indicators.result import Indicator, Result, no_data
from kmgis.model import WGS84
from kmgis.network import (
    DEFAULT_MAX_SNAP_M,
    Network,
    Snapped,
    nearest_distance,
    node_distances,
    point_distances,
    snap_points,
)

#: the plan's life circle: 15 min at 4.8 km/h (m)
DEFAULT_GAP_M = 1200.0
#: E2SFCA step zones as fractions of d0 and their weights (Luo & Qi 2009: 0–10/10–20/20–30 min → 1/0.68/0.22)
LUO_QI_STEPS: tuple[tuple[float, float], ...] = ((1 / 3, 1.0), (2 / 3, 0.68), (1.0, 0.22))
_INPUTS = ("facilities", "population", "roads")


def category_points(facilities: gpd.GeoDataFrame | None, category: str) -> gpd.GeoDataFrame | None:
    """The facilities of ``category`` (None without a layer); raises on an unknown category."""
    select_categories([category])
    check_facility_categories(facilities)
    if is_empty_layer(facilities):
        return None
    return facilities[facilities["category"] == category]


def cell_keys(xy: np.ndarray, cell_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Column and row (integers) of the ``cell_m`` square holding each metric point (aligned on multiples)."""
    if not cell_m > 0:
        raise KmgisError(f"grid cell size must be positive, got {cell_m} m")
    return np.floor(xy[:, 0] / cell_m).astype(np.int64), np.floor(xy[:, 1] / cell_m).astype(np.int64)


def cells_layer(table: pd.DataFrame, cell_m: float, crs: pyproj.CRS | str,
                area: shapely.Geometry | None) -> gpd.GeoDataFrame:
    """WGS84 squares of ``table`` (columns ``ix``, ``iy``), clipped to ``area`` (metric) when given."""
    x0, y0 = table["ix"].to_numpy() * cell_m, table["iy"].to_numpy() * cell_m
    boxes = shapely.box(x0, y0, x0 + cell_m, y0 + cell_m)
    if area is not None and len(boxes):
        clipped = shapely.intersection(boxes, area)
        boxes = np.where(shapely.is_empty(clipped), boxes, clipped)  # a resident outside the area keeps its cell
    out = table.drop(columns=["ix", "iy"])
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(boxes, crs=crs).to_crs(WGS84).values, crs=WGS84)


def gap_totals(network: Network, residents: gpd.GeoDataFrame | None, facilities: gpd.GeoDataFrame | None, *,
               distance_m: float = DEFAULT_GAP_M, categories: list[str] | None = None,
               max_snap_m: float = DEFAULT_MAX_SNAP_M) -> Result:
    """The scorecard's gap totals (补短板): per life-circle category, persons and % beyond ``distance_m`` walk.

    :func:`service_gaps` for each category of the life circle (default 1,200 m = 15 min at
    4.8 km/h); without a facilities layer (or residents) every row is ``no data`` naming what
    to supply — never "everyone is in the gap".  The cells of one category: ``kmgis gaps``.
    """
    cats = select_categories(categories)
    pairs = (("residents", "persons"), ("pct", "%"))
    if is_empty_layer(residents):
        return Result([no_data(f"gap_{c}_{k}", u, "residents", RESIDENTS_MISSING) for c in cats for k, u in pairs])
    if is_empty_layer(facilities):
        return Result([no_data(f"gap_{c}_{k}", u, "residents", category_missing(c)) for c in cats for k, u in pairs])
    records: list[Indicator] = []
    for c in cats:
        records.extend(service_gaps(network, residents, facilities, c, distance_m=distance_m,
                                    max_snap_m=max_snap_m).records)
    return Result(records)


def service_gaps(
    network: Network,
    residents: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame | None,
    category: str,
    *,
    distance_m: float = DEFAULT_GAP_M,
    area: AreaLike = None,
    crs: pyproj.CRS | str | None = None,
    cell_m: float = 100.0,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> Result:
    """Residents beyond ``distance_m`` of walking from the nearest facility of ``category``.

    Parameters
    ----------
    network : the walk network.
    residents : population points (any CRS, float ``population``).
    facilities : the ``facilities`` layer (``category`` column).
    category : a category of ``layers/facilities.yaml``.
    distance_m : the standard walking distance, m (> 0; default 1,200 m = 15 min at 4.8 km/h).
    area : the study area for the cells (GeoDataFrame/GeoSeries, or a WGS84 geometry); optional.
    crs : metric CRS of the cells (default the network's).
    cell_m : cell size, m.
    max_snap_m : maximum snapping distance, m (residents farther are in the gap, unreached).

    Returns
    -------
    Result
        ``gap_<category>_residents`` (persons) and ``gap_<category>_pct`` (% of residents);
        ``layers["gap_cells"]`` (WGS84): ``cell`` (``E<col>N<row>`` of the metric grid),
        ``residents`` (persons beyond), ``unreached`` (of those, persons with no path or not
        snapped), ``distance_m`` (population-weighted mean distance of those with a path, m),
        ``over_m`` (``distance_m`` − the standard, m); ``per_feature`` (index of ``residents``):
        ``dist_m`` (m, ``inf`` unreached), ``over_m`` (m, 0 within), ``gap`` (bool).
    """
    if not distance_m > 0:
        raise KmgisError(f"gap distance must be positive, got {distance_m} m")
    pts = category_points(facilities, category)
    if is_empty_layer(residents):
        raise KmgisError("gaps: no resident points (population) in the study area")
    crs = pyproj.CRS.from_user_input(crs) if crs is not None else network.crs
    pop = population_weights(residents)
    targets = snap_points(network, resident_xy(residents, network.crs), max_snap_m)
    if pts is None or len(pts) == 0:
        dist = np.full(len(pop), np.inf)
    else:
        dist = nearest_distance(network, targets, snap_points(network, pts, max_snap_m))
    gap = ~(dist <= distance_m)
    over = np.where(gap, dist - distance_m, 0.0)
    table = pd.DataFrame({"dist_m": dist, "over_m": over, "gap": gap}, index=residents.index)
    cells = _gap_cells(resident_xy(residents, crs), pop, dist, gap, distance_m, cell_m, crs,
                       area_geometry(area, crs) if area is not None else None)
    params = {"category": category, "distance_m": float(distance_m), "cell_m": float(cell_m),
              "max_snap_m": max_snap_m, "facilities": 0 if pts is None else int(len(pts)),
              "residents_unsnapped": int((~targets.reached).sum()), "gap_cells": int(len(cells))}
    note = "" if pts is not None and len(pts) else f"; no {category} mapped: every resident is in the gap"
    method = (f"persons whose walking distance to the nearest {category} (one multi-source search, snap "
              f"distance walked, unsnapped residents beyond {max_snap_m:g} m count as in the gap) exceeds "
              f"{distance_m:g} m{note}")
    scope = residents_scope(pop)
    rows = [Indicator(f"gap_{category}_residents", float(pop[gap].sum()), "persons", scope, method, _INPUTS, params),
            Indicator(f"gap_{category}_pct", share_pct(pop, gap), "%", scope, method, _INPUTS, params)]
    return Result(rows, per_feature=table, layers={"gap_cells": cells})


def _gap_cells(xy: np.ndarray, pop: np.ndarray, dist: np.ndarray, gap: np.ndarray, limit_m: float,
               cell_m: float, crs: pyproj.CRS, area: shapely.Geometry | None) -> gpd.GeoDataFrame:
    """Residents beyond ``limit_m`` per ``cell_m`` cell (see :func:`service_gaps`), largest first."""
    ix, iy = cell_keys(xy[gap], cell_m)
    d, p = dist[gap], pop[gap]
    finite = np.isfinite(d)
    frame = pd.DataFrame({"ix": ix, "iy": iy, "residents": p, "unreached": np.where(finite, 0.0, p),
                          "pd": np.where(finite, p * d, 0.0), "pf": np.where(finite, p, 0.0)})
    g = frame.groupby(["ix", "iy"], sort=True).sum().reset_index()
    g = g[g["residents"] > 0]
    mean = np.where(g["pf"] > 0, g["pd"] / g["pf"].where(g["pf"] > 0, 1.0), np.nan)
    out = pd.DataFrame({"cell": [f"E{a}N{b}" for a, b in zip(g["ix"], g["iy"], strict=True)],
                        "ix": g["ix"].to_numpy(), "iy": g["iy"].to_numpy(),
                        "residents": g["residents"].to_numpy(), "unreached": g["unreached"].to_numpy(),
                        "distance_m": mean, "over_m": mean - limit_m})
    out = out.sort_values(["residents", "cell"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return cells_layer(out, cell_m, crs, area)


# --------------------------------------------------------------------------- floating catchments


def facility_resident_distances(
    network: Network, targets: Snapped, sources: Snapped, limit_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walking distances (m) from each facility to each resident within ``limit_m``: one bounded search per facility.

    Parameters
    ----------
    network : the network.
    targets : the snapped residents.
    sources : the snapped facilities (unsnapped ones reach nobody).
    limit_m : the catchment d0, m (pairs beyond are left out).

    Returns
    -------
    (facility row, resident row, distance in m) of every pair within ``limit_m``, the
    distance as :func:`kmgis.network.nearest_distance` measures it (snap distances and
    along-edge offsets walked, a facility on the resident's edge reached along it).
    """
    reverse = network.mode == "drive"
    fac, res, dist = [], [], []
    for j in np.flatnonzero(sources.reached):
        one = Snapped(sources.edge[j:j + 1], sources.pos_m[j:j + 1], sources.snap_m[j:j + 1], sources.max_snap_m)
        nodes = node_distances(network, one, cutoff=limit_m, reverse=reverse)
        d = point_distances(network, nodes, targets, sources=one, cutoff=limit_m, reverse=reverse)
        hit = np.flatnonzero(np.isfinite(d))
        fac.append(np.full(len(hit), j, dtype=np.int64))
        res.append(hit)
        dist.append(d[hit])
    if not fac:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(fac), np.concatenate(res), np.concatenate(dist)


def step_weights(zones: Mapping[float, float]) -> Callable[[np.ndarray], np.ndarray]:
    """Step decay: weight ``w`` of the first zone (ascending upper bound ``d``, m) with distance ≤ ``d``; 0 beyond."""
    bounds = np.array(sorted(zones), dtype=float)
    values = np.array([zones[b] for b in sorted(zones)], dtype=float)

    def weight(d: np.ndarray) -> np.ndarray:
        k = np.searchsorted(bounds, d, side="left")
        return np.where(k < len(bounds), values[np.minimum(k, len(bounds) - 1)], 0.0)

    return weight


def gaussian_weights(sigma_m: float) -> Callable[[np.ndarray], np.ndarray]:
    """Gaussian decay ``exp(−d² / (2σ²))`` (d and σ in m), as PySAL ``access.weights.gaussian``."""
    if not sigma_m > 0:
        raise KmgisError(f"gaussian decay: sigma must be positive, got {sigma_m} m")
    return lambda d: np.exp(-d * d / (2.0 * sigma_m * sigma_m))


def _fca(network: Network, residents: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, capacity: str,
         d0_m: float, weight: Callable[[np.ndarray], np.ndarray] | None,
         max_snap_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(access per resident, ratio per facility, demand per facility, population) of the FCA."""
    if not d0_m > 0:
        raise KmgisError(f"catchment distance must be positive, got {d0_m} m")
    if is_empty_layer(residents) or is_empty_layer(facilities):
        raise KmgisError("floating catchment: residents and facilities are both needed")
    if capacity not in facilities.columns:
        raise KmgisError(f"facilities: no capacity column {capacity!r}; columns: {', '.join(map(str, facilities.columns))}")
    supply = pd.to_numeric(facilities[capacity], errors="coerce").to_numpy(dtype=float)
    if not (np.isfinite(supply) & (supply >= 0)).all():
        raise KmgisError(f"facilities: capacity {capacity!r} must be a number ≥ 0 for every facility")
    pop = population_weights(residents)
    targets = snap_points(network, resident_xy(residents, network.crs), max_snap_m)
    sources = snap_points(network, facilities, max_snap_m)
    j, i, d = facility_resident_distances(network, targets, sources, d0_m)
    w = np.ones(len(d)) if weight is None else np.asarray(weight(d), dtype=float)
    demand = np.bincount(j, weights=pop[i] * w, minlength=len(supply))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(demand > 0, supply / demand, np.nan)
    # a facility with no demand in reach reaches nobody: it adds nothing to any resident
    access = np.bincount(i, weights=np.nan_to_num(ratio[j]) * w, minlength=len(pop))
    return access, ratio, demand, pop


def _fca_result(name: str, what: str, residents: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                parts: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], params: dict) -> Result:
    access, ratio, demand, pop = parts
    mean = float((access * pop).sum() / pop.sum()) if pop.sum() > 0 else float("nan")
    rec = Indicator(f"{name}_per_1000", mean * 1000.0, "capacity per 1,000 residents", residents_scope(pop),
                    f"population-weighted mean {what} accessibility × 1,000 (capacity units per 1,000 residents "
                    f"within the walking catchment {params['d0_m']:g} m)", _INPUTS, params)
    table = pd.DataFrame({name: access}, index=residents.index)
    fac = facilities.copy()
    fac["demand"], fac["ratio"] = demand, ratio
    return Result([rec], per_feature=table, layers={f"{name}_facilities": fac})


def two_step_fca(
    network: Network, residents: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, *, capacity: str,
    d0_m: float, max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> Result:
    """Two-step floating catchment area (2SFCA) on walking distances.

    Parameters
    ----------
    network, residents : the walk network and population points (``population``, persons).
    facilities : points with a numeric ``capacity`` column (any unit: beds, places, m²).
    capacity : the column of ``facilities`` holding the supply S_j.
    d0_m : the catchment, m: pairs with d_ij ≤ d0 count.
    max_snap_m : maximum snap distance, m.

    Returns
    -------
    Result
        ``fca_2sfca_per_1000`` (population-weighted mean A_i × 1,000); ``per_feature``
        ``fca_2sfca`` = A_i (capacity per resident, 0 with no facility in reach), aligned with
        ``residents``; ``layers["fca_2sfca_facilities"]``: the facilities with ``demand``
        (persons in reach) and ``ratio`` R_j (NaN with nobody in reach).
    """
    parts = _fca(network, residents, facilities, capacity, d0_m, None, max_snap_m)
    params = {"d0_m": float(d0_m), "capacity": capacity, "max_snap_m": max_snap_m, "facilities": int(len(facilities))}
    return _fca_result("fca_2sfca", "2SFCA", residents, facilities, parts, params)


def enhanced_two_step_fca(
    network: Network, residents: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, *, capacity: str,
    d0_m: float, decay: str = "step", zones: Mapping[float, float] | None = None, sigma_m: float | None = None,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> Result:
    """Enhanced 2SFCA (E2SFCA): both steps weighted by a distance decay W(d_ij).

    Parameters
    ----------
    decay : ``"step"`` (zones) or ``"gaussian"``.
    zones : step zones ``{upper bound m: weight}`` (default Luo & Qi: d0/3 → 1, 2d0/3 → 0.68, d0 → 0.22).
    sigma_m : Gaussian σ, m (default d0 / 2).
    Others as :func:`two_step_fca`.

    Returns
    -------
    Result as :func:`two_step_fca` with ``fca_e2sfca`` names.
    """
    if decay == "step":
        zones = dict(zones) if zones else {f * d0_m: w for f, w in LUO_QI_STEPS}
        weight, what = step_weights(zones), f"step zones {zones}"
    elif decay == "gaussian":
        sigma = float(sigma_m if sigma_m is not None else d0_m / 2.0)
        weight, what = gaussian_weights(sigma), f"gaussian sigma {sigma:g} m"
    else:
        raise KmgisError(f"E2SFCA decay {decay!r}: expected 'step' or 'gaussian'")
    parts = _fca(network, residents, facilities, capacity, d0_m, weight, max_snap_m)
    params = {"d0_m": float(d0_m), "capacity": capacity, "decay": what, "max_snap_m": max_snap_m,
              "facilities": int(len(facilities))}
    return _fca_result("fca_e2sfca", f"E2SFCA ({what})", residents, facilities, parts, params)
