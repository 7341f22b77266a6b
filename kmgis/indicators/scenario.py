"""What-if scenarios: facilities added or removed, residents' walking distances updated incrementally.

DESIGN §4b: a :class:`Scenario` keeps, per category, each resident's walking distance to the
nearest facility (one multi-source search per category when built, or the distances a
:func:`~kmgis.indicators.lifecircle.lifecircle` run already holds).  Adding facilities runs
**one search from the new facilities only** and takes the elementwise minimum with the stored
distances — exact, since the minimum over a union of sources is the minimum of the minima
(with a cut-off, distances beyond it are ``inf`` in both).  Removing facilities re-runs that
category's search over the remaining ones.  Facility ids are strings; the table is kept sorted
by id, so every result is deterministic whatever the order of the calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from kmgis.errors import KmgisError
from kmgis.geom import is_empty_layer
from kmgis.indicators.greenspace import population_weights, resident_xy, share_pct
from kmgis.indicators.lifecircle import check_facility_categories, select_categories
from kmgis.indicators.supply import cell_keys, cells_layer
from kmgis.model import WGS84
from kmgis.network import DEFAULT_MAX_SNAP_M, Network, nearest_distance, snap_points


def facility_ids(facilities: gpd.GeoDataFrame) -> list[str]:
    """A unique string id per facility: ``source_id`` where given and unique, else ``<category>:<row>``."""
    if "source_id" in facilities.columns:
        ids = facilities["source_id"].astype("string")
        if ids.notna().all() and ids.is_unique:
            return [str(v) for v in ids]
    return [f"{c}:{k}" for k, c in enumerate(facilities["category"].astype(str))]


class Scenario:
    """Walking distances to the nearest facility per category, updated as facilities are added or removed.

    Parameters
    ----------
    network : the walk network.
    residents : population points (any CRS, ``population`` in persons).
    facilities : the ``facilities`` layer (``category``; ids from :func:`facility_ids`).
    categories : the categories kept (default: those of ``facilities.yaml`` with a facility).
    distances : optional stored per-resident distances (m) per category (e.g. a life-circle
        run's ``dist_m_<category>`` with the same cut-off); else one search per category.
    cutoff_m : search cut-off, m (``inf`` beyond; coverage can be asked up to it).
    max_snap_m : maximum snap distance, m.

    Attributes
    ----------
    before, after : per category, each resident's distance (m) at construction / now.
    facilities : the current facilities (``fid``, ``category``, ``added``), sorted by ``fid``.
    """

    def __init__(self, network: Network, residents: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame | None,
                 *, categories: Sequence[str] | None = None, distances: Mapping[str, np.ndarray] | None = None,
                 cutoff_m: float = np.inf, max_snap_m: float = DEFAULT_MAX_SNAP_M) -> None:
        if is_empty_layer(residents):
            raise KmgisError("what-if: no resident points (population) in the study area")
        check_facility_categories(facilities)
        self.network, self.cutoff_m, self.max_snap_m = network, float(cutoff_m), float(max_snap_m)
        self.residents = residents
        self.pop = population_weights(residents)
        self.xy = resident_xy(residents, network.crs)
        self.targets = snap_points(network, self.xy, max_snap_m)
        fac = facilities if not is_empty_layer(facilities) else gpd.GeoDataFrame(
            {"category": pd.Series(dtype=str)}, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
        table = gpd.GeoDataFrame({"fid": facility_ids(fac), "category": fac["category"].astype(str).to_numpy(),
                                  "added": False}, geometry=fac.geometry.to_crs(network.crs).values, crs=network.crs)
        self.facilities = table.sort_values("fid", kind="stable").reset_index(drop=True)
        present = list(dict.fromkeys(self.facilities["category"]))
        self.categories = select_categories(categories if categories is not None else present)
        self.after: dict[str, np.ndarray] = {}
        for cat in self.categories:
            given = None if distances is None else distances.get(cat)
            self.after[cat] = (np.asarray(given, dtype=float).copy() if given is not None
                               else self._search(self.facilities[self.facilities["category"] == cat]))
        self.before = {c: d.copy() for c, d in self.after.items()}
        self._next = 1

    @staticmethod
    def ids_of(facilities: gpd.GeoDataFrame | None) -> list[str]:
        """The facility ids a scenario gives ``facilities`` (empty without a layer)."""
        return [] if is_empty_layer(facilities) else facility_ids(facilities)

    @staticmethod
    def categories_of(facilities: gpd.GeoDataFrame | None, ids: Sequence[str]) -> list[str]:
        """The categories of the facilities with these ids (sorted, unique)."""
        if is_empty_layer(facilities) or not ids:
            return []
        mask = pd.Series(facility_ids(facilities), index=facilities.index).isin([str(i) for i in ids])
        return sorted(set(facilities.loc[mask, "category"].astype(str)))

    def _search(self, points: gpd.GeoDataFrame) -> np.ndarray:
        """One multi-source search from ``points`` (metric); ``inf`` for all without any."""
        if len(points) == 0:
            return np.full(len(self.pop), np.inf)
        sources = snap_points(self.network, points.geometry, self.max_snap_m)
        return nearest_distance(self.network, self.targets, sources, cutoff=self.cutoff_m)

    def _category(self, category: str) -> str:
        select_categories([category])
        if category not in self.after:
            raise KmgisError(f"what-if: category {category!r} not in this scenario ({', '.join(self.categories)})")
        return category

    def add(self, points: gpd.GeoSeries | gpd.GeoDataFrame, category: str) -> list[str]:
        """Add facilities of ``category`` at ``points`` (any CRS): one search from them only, min with the stored.

        Returns the new ids (``new:<n>``, numbered in call order).  A point farther than
        ``max_snap_m`` from every edge is refused (it would change nothing, silently).
        """
        cat = self._category(category)
        geom = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
        if geom.crs is None:
            raise KmgisError("what-if: the added points have no CRS")
        metric = geom.to_crs(self.network.crs)
        if len(metric) == 0:
            return []
        snapped = snap_points(self.network, metric, self.max_snap_m)
        if not snapped.reached.all():
            raise KmgisError(f"what-if: {int((~snapped.reached).sum())} added point(s) lie more than "
                             f"{self.max_snap_m:g} m from any road of the network")
        ids = [f"new:{self._next + k}" for k in range(len(metric))]
        self._next += len(metric)
        new = nearest_distance(self.network, self.targets, snapped, cutoff=self.cutoff_m)
        self.after[cat] = np.minimum(self.after[cat], new)
        rows = gpd.GeoDataFrame({"fid": ids, "category": cat, "added": True}, geometry=metric.values,
                                crs=self.network.crs)
        self.facilities = gpd.GeoDataFrame(pd.concat([self.facilities, rows], ignore_index=True),
                                           crs=self.network.crs).sort_values("fid", kind="stable").reset_index(drop=True)
        return ids

    def remove(self, ids: Sequence[str], category: str | None = None) -> list[str]:
        """Remove facilities by id and recompute their categories (one search each); returns those categories."""
        ids = [str(i) for i in ids]
        known = self.facilities["fid"].isin(ids)
        missing = sorted(set(ids) - set(self.facilities["fid"]))
        if missing:
            raise KmgisError(f"what-if: no facility with id {missing[:5]}{' …' if len(missing) > 5 else ''}")
        cats = sorted(set(self.facilities.loc[known, "category"]))
        if category is not None and cats != [self._category(category)]:
            raise KmgisError(f"what-if: the ids to remove are {', '.join(cats)}, not {category}")
        self.facilities = self.facilities[~known].reset_index(drop=True)
        for cat in cats:
            if cat in self.after:
                self.after[cat] = self._search(self.facilities[self.facilities["category"] == cat])
        return cats

    def coverage(self, distance_m: float) -> pd.DataFrame:
        """Per category: persons and % within ``distance_m`` (m) before and after, gained, lost, changed cells (100 m)."""
        if not 0 < distance_m <= self.cutoff_m:
            raise KmgisError(f"what-if: coverage distance must be in (0, {self.cutoff_m:g}] m, got {distance_m}")
        rows = []
        for cat in self.categories:
            b, a = self.before[cat] <= distance_m, self.after[cat] <= distance_m
            rows.append({"category": cat, "distance_m": float(distance_m),
                         "residents_before": float(self.pop[b].sum()), "residents_after": float(self.pop[a].sum()),
                         "pct_before": share_pct(self.pop, b), "pct_after": share_pct(self.pop, a),
                         "gained": float(self.pop[a & ~b].sum()), "lost": float(self.pop[b & ~a].sum()),
                         "changed_cells": int(len(self.changed_cells(distance_m, cat)))})
        return pd.DataFrame(rows)

    def changed_cells(self, distance_m: float, category: str, *, cell_m: float = 100.0,
                      crs: pyproj.CRS | str | None = None) -> gpd.GeoDataFrame:
        """WGS84 ``cell_m`` cells where residents gained or lost ``category`` within ``distance_m``:
        ``cell``, ``gained``, ``lost`` (persons)."""
        cat = self._category(category)
        b, a = self.before[cat] <= distance_m, self.after[cat] <= distance_m
        moved = a != b
        crs = pyproj.CRS.from_user_input(crs) if crs is not None else self.network.crs
        xy = self.xy[moved] if crs == self.network.crs else resident_xy(self.residents, crs)[moved]
        ix, iy = cell_keys(xy, cell_m)
        p = self.pop[moved]
        frame = pd.DataFrame({"ix": ix, "iy": iy, "gained": np.where(a[moved], p, 0.0),
                              "lost": np.where(b[moved], p, 0.0)})
        g = frame.groupby(["ix", "iy"], sort=True).sum().reset_index()
        g.insert(0, "cell", [f"E{x}N{y}" for x, y in zip(g["ix"], g["iy"], strict=True)])
        return cells_layer(g, cell_m, crs, None)
