"""Walkability index as GHSCI defines it: the sum of three z-scores in a 1 km walk neighbourhood (DESIGN §4b).

The Global Healthy and Sustainable City Indicators (GHSCI; Boeing et al. 2022, *Lancet Global
Health* 10(6):e907–18, doi:10.1016/S2214-109X(22)00072-9; method paper Liu et al. 2021,
*Geographical Analysis*, doi:10.1111/gean.12290, https://ar5iv.labs.arxiv.org/html/2105.08814)
score each sample point by ``z(intersection density) + z(population density) + z(daily-living
score)``.  Every choice below was read in the GHSCI software, github
``global-healthy-liveable-cities/global-indicators`` (HEAD 294b917, 2024-06-19, and 9853c0c,
2021-07-01, the 25-city version behind the 2022 paper):

* **Neighbourhood** — 1,000 m along the walking network (``config.yml``
  ``network_analysis.neighbourhood_distance: 1000``).  GHSCI runs NetworkX
  ``all_pairs_dijkstra_path_length(G, 1000, 'length')`` and gives each node the **mean of the
  densities of the distinct grid cells holding a node reached** (``_11_neighbourhood_analysis.py``
  ``node_level_neighbourhood_analysis``; 2021 ``process/sp.py``: 250 m hexagons).  The 50 m
  "sausage buffer" of the 2019 prototype (``process/README.md`` at a4bea5a) is not what the
  published indicators use (the current ``config.yml`` still calls the distance "sausage buffer
  network size").  Here: the neighbourhood of a cell is the set of area cells that
  hold a network node within ``neighbourhood_m`` of the cell centre's point on the network (the
  centre snapped to the nearest edge, its snap distance *not* walked: GHSCI sample points lie on
  the network); its density is Σ count ÷ Σ area of those cells (area inside the area), which is
  GHSCI's plain mean when the cells are whole and weighs edge slivers by their area.
* **Intersections** — GHSCI counts ``ox.consolidate_intersections(G, tolerance=12,
  dead_ends=False)`` (``_03_create_network_resources.py`` ``load_intersections``; region config
  ``intersection_tolerance: 12``) per grid cell, ÷ cell km² (``_04_create_population_grid.py``).
  OSMnx's tolerance is a buffer radius, so nodes up to 24 m apart merge: ``consolidate_m=24``.
  The junctions are those of :func:`kmgis.indicators.junctions.street_nodes` (city roads; GHSCI
  uses the OSM pedestrian network, footways included — a documented difference).
* **Population density** — residents in the neighbourhood cells ÷ their area (GHSCI:
  ``pop_per_sqkm`` of the population grid cells, averaged as above).
* **Daily living** — 0–3: a fresh-food market / supermarket, a convenience store, a public
  transport stop, each 1 when within 500 m on the network (``config.yml``
  ``accessibility_distance: 500``; ``indicators.yml`` ``sp_daily_living_score`` = sum of
  ``sp_access_fresh_food_market_score``, ``sp_access_convenience_score``,
  ``sp_access_pt_any_score``; destinations in ``osm_destination_definitions.csv``).
* **z-scores** — against all sampled points of the city: ``(x - mean) / std`` with pandas'
  sample standard deviation (ddof 1), then summed (``_11_neighbourhood_analysis.py``
  ``calculate_sample_point_indicators``, formula ``sum_of_z_scores``).  Points in cells with
  fewer than ``pop_min_threshold`` residents are not sampled (region template: 1; 2021: 5).
* **City value** — the population-weighted mean of the cells (``_12_aggregation.py``
  ``calc_cities_pop_pct_indicators``: ``pop_walkability`` etc.).  ``walkability_index_25city_mean``
  uses instead the mean and SD of the 25-city study (``indicators.yml``
  ``report.walkability.ghscic_reference``; ``ghsci.py`` ``Region.evaluate_relative_indicator``):
  comparable across cities, where the within-city index is relative by construction.

Search: the cell centres are grouped in 1 km blocks; each block is one
``scipy.sparse.csgraph.dijkstra(indices=<its centres>, limit=1000)`` on the subgraph of the nodes
within 1 km (+ snap) in a straight line of the block (exact: a walk is never shorter than the
straight line), one virtual node per centre; reached nodes → cells → a sparse cells × cells
matrix, and the densities are two sparse products.  Daily living: one multi-source search per
destination group (:func:`kmgis.network.node_distances`).  Central Kunming (441 km², 31,826
nodes, 7,956 cells of 250 m): about 2 s.

Differences from GHSCI: one sample point per grid cell (its centre on
the network) instead of points every 30 m; square cells of ``cell_m`` (250 m) instead of the
population grid (100 m GHS-POP in the current example region; 250 m-diagonal hexagons in 2021),
and areas clipped to the built-up area (kmgis residents are those of the built-up area); destinations snapped to the nearest
edge with the snap distance walked (kmgis convention; pandana uses the nearest node); kmgis
facility categories stand for GHSCI's destination lists (:data:`DAILY_LIVING`; the ``market``
category lacks bakeries, butchers, delis; ``bus_stop`` lacks tram and rail platforms).

Missing data: no facilities, or no feature for one of the three destination groups (kmgis has
no ``convenience`` category yet), gives ``no data`` for the daily-living score and both GHSCI
indices, naming what to supply; intersection and population density are still reported, and
``walkability_index_2c_mean`` (two z-scores) — which is **not** the GHSCI index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from kmgis.errors import KmgisError
from kmgis.geom import crs_label, is_empty_layer, projected_crs
from kmgis.indicators.greenspace import RESIDENTS_MISSING, AreaLike, population_weights, resident_xy
from kmgis.indicators.junctions import StreetNodes, street_nodes
from kmgis.indicators.lifecircle import FACILITY_CATEGORIES, category_missing, grid_cells
from kmgis.indicators.result import Indicator, Result, no_data
from kmgis.indicators.road_layer import area_polygon_m, road_indicator_inputs
from kmgis.model import WGS84
from kmgis.network import (
    DEFAULT_MAX_SNAP_M,
    Network,
    Snapped,
    node_distances,
    point_distances,
    snap_points,
)

# GHSCI parameters (see the module docstring for the file each comes from).
NEIGHBOURHOOD_M = 1000.0
ACCESS_M = 500.0
CONSOLIDATE_M = 24.0  # OSMnx consolidate_intersections(tolerance=12): a 12 m buffer radius
MIN_POPULATION = 1.0
CELL_M = 250.0

#: GHSCI destination group → kmgis facility categories that stand for it.  ``convenience`` is
#: not in layers/facilities.yaml yet: until it is, facilities carry it only from a user table.
DAILY_LIVING: dict[str, tuple[str, ...]] = {
    "fresh_food_market": ("market",),
    "convenience": ("convenience",),
    "pt_any": ("bus_stop",),
}
_GROUP_TEXT = {
    "fresh_food_market": ("fresh-food market / supermarket",
                          "GHSCI: OSM shop=supermarket/grocery/bakery/butcher/greengrocer/deli, amenity=marketplace"),
    "convenience": ("convenience store",
                    "GHSCI: OSM shop=convenience/kiosk/newsagent, amenity=fuel; Amap 0602 便民商店/便利店"),
    "pt_any": ("public transport stop",
               "GHSCI: OSM highway=bus_stop, public_transport=platform/stop_position/station, railway=tram_stop"),
}

#: mean and SD of the neighbourhood statistics of the 25-city study (GHSCI indicators.yml,
#: report.walkability.ghscic_reference, "25 city analysis dated 21 June 2021").
GHSCI_25_CITY_REFERENCE = {
    "intersection_density": (98.44, 36.96),
    "population_density": (11093.1, 13637.9),
    "daily_living": (1.028, 0.915),
}

#: where each number above was read (repository global-healthy-liveable-cities/global-indicators)
PROVENANCE: dict[str, dict[str, Any]] = {
    "NEIGHBOURHOOD_M": {"source": "process/configuration/templates/config.yml: network_analysis."
                        "neighbourhood_distance 1000 (HEAD 294b917); process/setup_config.py: 1000 (9853c0c)",
                        "verified": True},
    "ACCESS_M": {"source": "config.yml: network_analysis.accessibility_distance 500; setup_config.py: 500",
                 "verified": True},
    "CONSOLIDATE_M": {"source": "region template intersection_tolerance 12 → ox.consolidate_intersections("
                      "tolerance=12) (_03_create_network_resources.py); 24 m = 2 × the OSMnx buffer radius",
                      "verified": True, "note": "the 2 × conversion is kmgis's reading of OSMnx's buffer-and-union"},
    "MIN_POPULATION": {"source": "region template pop_min_threshold 1 (example_ES_Las_Palmas_2023.yml); 5 in the "
                       "2021 setup_config.py", "verified": True},
    "CELL_M": {"source": "2021 (25-city) version: 250 m-diagonal hexagons (_project_setup.py hex_grid_250m); "
               "current version: the 100 m population grid", "verified": False,
               "note": "square cells are kmgis's choice; 250 m is the 2021 hexagons' diagonal, not their area"},
    "GHSCI_25_CITY_REFERENCE": {"source": "indicators.yml report.walkability.ghscic_reference; ghsci.py "
                                "Region.evaluate_relative_indicator default", "verified": True},
    "DAILY_LIVING": {"source": "indicators.yml sample_point_analyses 'Daily living score'; "
                     "osm_destination_definitions.csv", "verified": True,
                     "note": "the kmgis categories only approximate GHSCI's tag lists"},
    "amap 0602": {"source": "Amap POI type code 060200 购物服务;便民商店/便利店 as listed in two third-party code "
                  "files; Amap's own code table was not available as text", "verified": False},
}

COMPONENTS = ("intersection_density", "population_density", "daily_living")
_COLUMNS = {"intersection_density": "intersection_density_per_km2",
            "population_density": "population_density_per_km2", "daily_living": "daily_living_score"}
_IDS = {
    "index": ("walkability_index_mean", "z"),
    "index_25city": ("walkability_index_25city_mean", "z"),
    "index_2c": ("walkability_index_2c_mean", "z"),
    "intersection_density": ("walkability_intersection_density_per_km2", "intersections/km²"),
    "population_density": ("walkability_population_density_per_km2", "persons/km²"),
    "daily_living": ("walkability_daily_living_score", "score 0–3"),
}
_ROADS_MISSING = "roads: supply a roads layer with city-road classes (street intersections)"
_NONE_SAMPLED = ("residents: no sampled cell (a cell is sampled when it holds ≥ min_population residents and its "
                 "centre lies within max_snap_m of the walk network)")
BLOCK_M = 1000.0  # origins are searched together in square blocks of this size (m)
_BATCH_FLOATS = 8_000_000  # size of one batch of the neighbourhood search (distances kept, ≈ 64 MB)


# --------------------------------------------------------------------------- the neighbourhood search


def network_reach(network: Network, origins: Snapped, limit_m: float, nodes: np.ndarray | None = None
                  ) -> np.ndarray:
    """Walking distance (m) from each snapped origin to every node, ``inf`` beyond ``limit_m``.

    The origin is its snapped point on the edge (the snap distance is *not* walked): a virtual
    node per origin joined to the edge's ends by the along-edge offsets (in the directions the
    edge may be travelled), then one ``scipy.sparse.csgraph.dijkstra`` with ``limit`` over all
    origins at once.  Unsnapped origins reach nothing.  ``nodes``: search the subgraph of these
    nodes only (exact for every node within ``limit_m`` of all origins when it holds every node
    within ``limit_m`` in a straight line: a path is never shorter than the straight line).

    Returns
    -------
    ndarray of shape (len(origins), network.n_nodes), or (len(origins), len(nodes))

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from kmgis.model import conform
    >>> from kmgis.network import build_network, snap_points
    >>> lines = [shapely.LineString([(0, 0), (600, 0)]), shapely.LineString([(600, 0), (1500, 0)])]
    >>> roads = conform("roads", gpd.GeoDataFrame({"road_class": ["branch"] * 2}, geometry=lines,
    ...                                           crs="EPSG:32648").to_crs("EPSG:4326"))
    >>> net = build_network(roads, "walk", "EPSG:32648")
    >>> d = network_reach(net, snap_points(net, np.array([[100.0, 30.0]])), 1000.0)
    >>> sorted(np.round(d[0][np.isfinite(d[0])]).tolist())
    [100.0, 500.0]
    """
    b = len(origins)
    base = network.csr("length_m")[: network.n_nodes, : network.n_nodes]
    local = np.arange(network.n_nodes)
    if nodes is not None:
        base = base[nodes][:, nodes]
        local = np.full(network.n_nodes, -1)
        local[nodes] = np.arange(len(nodes))
    n = base.shape[0]
    src, head, w = _origin_arcs(network, origins)
    keep = local[head] >= 0
    src, head, w = src[keep], local[head][keep], w[keep]
    base = sp.csr_array(base)
    base.sort_indices()
    indptr = np.concatenate([base.indptr, base.nnz + np.cumsum(np.bincount(src, minlength=b))])
    graph = sp.csr_array((np.concatenate([base.data, w]), np.concatenate([base.indices, head]), indptr),
                         shape=(n + b, n + b))
    return dijkstra(graph, directed=True, indices=n + np.arange(b), limit=limit_m)[:, :n]


def _origin_arcs(network: Network, origins: Snapped) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(origin, head node, metres) of the arcs from each snapped origin to its edge's ends, sorted by
    origin; per origin and head the shortest one (a loop edge joins its node once)."""
    i = np.flatnonzero(origins.reached)
    e, p = origins.edge[i], origins.pos_m[i]
    length = network.edge_length_m[e]
    to_u = network.edge_backward[e] | (p <= 0)
    to_v = network.edge_forward[e] | (p >= length)
    src = np.concatenate([i[to_u], i[to_v]])
    head = np.concatenate([network.edge_u[e][to_u], network.edge_v[e][to_v]])
    w = np.concatenate([p[to_u], (length - p)[to_v]])
    order = np.lexsort((w, head, src))
    src, head, w = src[order], head[order], w[order]
    first = np.r_[True, (src[1:] != src[:-1]) | (head[1:] != head[:-1])] if len(src) else np.zeros(0, bool)
    return src[first], head[first], w[first]


def neighbourhood_matrix(network: Network, origins: Snapped, origin_xy: np.ndarray, node_cell: np.ndarray,
                         n_cells: int, limit_m: float, *, block_m: float = BLOCK_M) -> sp.csr_array:
    """Origins × cells 0/1 matrix: row i marks the cells holding a node within ``limit_m`` of origin i.

    ``origin_xy``: where the origins were snapped from (m); ``node_cell``: the cell of each network
    node (-1 outside the grid).  Origins are searched in square blocks of ``block_m``, each on the
    subgraph of the nodes within ``limit_m`` + the largest snap distance of the block in a straight
    line (:func:`network_reach`, exact), at most ~64 MB of distances per search.
    """
    key = np.floor(origin_xy / block_m).astype(np.int64)
    _, block = np.unique(key, axis=0, return_inverse=True)
    rows, cols = [], []
    for members in np.split(np.argsort(block.ravel(), kind="stable"), np.cumsum(np.bincount(block.ravel()))[:-1]):
        members = members[origins.reached[members]]
        if not len(members):
            continue
        pad = limit_m + float(origins.snap_m[members].max())
        lo, hi = origin_xy[members].min(axis=0) - pad, origin_xy[members].max(axis=0) + pad
        nodes = np.flatnonzero((network.node_x >= lo[0]) & (network.node_x <= hi[0]) &
                               (network.node_y >= lo[1]) & (network.node_y <= hi[1]))
        step = max(1, _BATCH_FLOATS // max(len(nodes), 1))
        for chunk in np.split(members, range(step, len(members), step)):
            part = Snapped(origins.edge[chunk], origins.pos_m[chunk], origins.snap_m[chunk], origins.max_snap_m)
            r, k = np.nonzero(np.isfinite(network_reach(network, part, limit_m, nodes)))
            cell = node_cell[nodes[k]]
            pairs = np.unique(chunk[r[cell >= 0]].astype(np.int64) * n_cells + cell[cell >= 0])
            rows.append(pairs // n_cells)
            cols.append(pairs % n_cells)
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    return sp.csr_array((np.ones(len(r)), (r, c)), shape=(len(origins), n_cells))


# --------------------------------------------------------------------------- the grid


@dataclass
class _Grid:
    """Square cells aligned on multiples of ``cell_m`` overlapping the area (metric CRS)."""

    cell_m: float
    cells: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    area_km2: np.ndarray  # the part inside the area
    lookup: np.ndarray = field(repr=False)  # (column, row) of the bounding box → cell index or -1
    ix0: int = 0
    iy0: int = 0

    @classmethod
    def over(cls, area_m: shapely.Geometry, cell_m: float) -> _Grid:
        cells, cx, cy = grid_cells(area_m, cell_m)
        ix = np.rint((cx - cell_m / 2) / cell_m).astype(np.int64)
        iy = np.rint((cy - cell_m / 2) / cell_m).astype(np.int64)
        ix0, iy0 = (int(ix.min()), int(iy.min())) if len(ix) else (0, 0)
        lookup = np.full((int(ix.max()) - ix0 + 1, int(iy.max()) - iy0 + 1) if len(ix) else (0, 0), -1, np.int64)
        lookup[ix - ix0, iy - iy0] = np.arange(len(cells))
        area_km2 = np.full(len(cells), cell_m * cell_m / 1e6)
        shapely.prepare(area_m)
        edge = ~shapely.contains_properly(area_m, cells)  # only cells on the boundary are cut
        area_km2[edge] = shapely.area(shapely.intersection(cells[edge], area_m)) / 1e6
        return cls(cell_m, cells, cx, cy, area_km2, lookup, ix0, iy0)

    def __len__(self) -> int:
        return len(self.cells)

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The cell index of each point (x, y in metres), -1 outside the grid."""
        ix = np.floor(np.asarray(x, float) / self.cell_m).astype(np.int64) - self.ix0
        iy = np.floor(np.asarray(y, float) / self.cell_m).astype(np.int64) - self.iy0
        ok = (ix >= 0) & (iy >= 0) & (ix < self.lookup.shape[0]) & (iy < self.lookup.shape[1])
        out = np.full(len(ix), -1, np.int64)
        out[ok] = self.lookup[ix[ok], iy[ok]]
        return out

    def count(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Sum of ``weights`` (default 1) of the points in each cell."""
        c = self.cell_of(x, y)
        ok = c >= 0
        return np.bincount(c[ok], weights=None if weights is None else weights[ok], minlength=len(self))


# --------------------------------------------------------------------------- components


def intersection_points(roads: gpd.GeoDataFrame, area_m: shapely.Geometry, crs: pyproj.CRS, *,
                        consolidate_m: float = CONSOLIDATE_M, include_internal: bool = False
                        ) -> tuple[np.ndarray, np.ndarray, StreetNodes]:
    """Positions (m) of the intersections :func:`~kmgis.indicators.junctions.street_nodes` counts in the area:
    its consolidated junctions of merged degree ≥ 3 inside the area.  ``len(x) == nodes.intersections``."""
    nodes = street_nodes(roads, area_m, crs, consolidate_m=consolidate_m, include_internal=include_internal)
    keep = (nodes.junction_degree >= 3) & nodes.junction_inside
    return nodes.junction_x_m[keep], nodes.junction_y_m[keep], nodes


def check_daily_living(daily_living: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    """The destination groups (GHSCI's three, each → kmgis facility categories), validated."""
    table = dict(DAILY_LIVING if daily_living is None else daily_living)
    if set(table) != set(DAILY_LIVING):
        raise KmgisError(f"daily_living: give exactly the GHSCI groups {', '.join(DAILY_LIVING)}, got "
                         f"{', '.join(map(str, table)) or 'none'}")
    return {g: tuple([table[g]] if isinstance(table[g], str) else table[g]) for g in DAILY_LIVING}


def _check_categories(facilities: gpd.GeoDataFrame | None, groups: dict[str, tuple[str, ...]]) -> None:
    """A facility category neither in facilities.yaml nor in a daily-living group is an error (never dropped)."""
    if is_empty_layer(facilities):
        return
    if "category" not in facilities.columns:
        raise KmgisError("facilities: no 'category' column (see kmgis.model, layer 'facilities')")
    known = list(FACILITY_CATEGORIES) + [c for cats in groups.values() for c in cats if c not in FACILITY_CATEGORIES]
    unknown = sorted(set(facilities["category"].dropna().astype(str)) - set(known))
    if unknown:
        raise KmgisError(f"facilities: unknown categor{'y' if len(unknown) == 1 else 'ies'} {unknown}; known: "
                         f"{', '.join(known)} (layers/facilities.yaml and the walkability daily-living groups)")


def group_missing(group: str, categories: tuple[str, ...]) -> str:
    """What to supply for one destination group (kmgis categories, GHSCI's tags, Amap codes)."""
    what, ghsci = _GROUP_TEXT[group]
    known = [category_missing(c) for c in categories if c in FACILITY_CATEGORIES]
    new = [c for c in categories if c not in FACILITY_CATEGORIES]
    text = f"daily living, {what} ({group}): " + "; ".join(known)
    if new:
        text += (f"{'; ' if known else ''}facilities with category {'/'.join(new)} (not a category of "
                 "layers/facilities.yaml yet: a POI table with a category column)")
    return f"{text} [{ghsci}]"


def daily_living_access(network: Network, origins: Snapped, facilities: gpd.GeoDataFrame | None,
                        groups: dict[str, tuple[str, ...]], *, access_m: float = ACCESS_M,
                        max_snap_m: float = DEFAULT_MAX_SNAP_M, stations: gpd.GeoSeries | None = None
                        ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Per destination group, 1.0 where a destination is within ``access_m`` on the network (0.0 not, NaN unsnapped).

    One multi-source search per group (:func:`kmgis.network.node_distances`); destinations snap
    to the nearest edge with their snap distance walked; the origins' own snap is not walked.
    ``stations`` (points, any CRS) join ``pt_any``.  Returns (access per group, what to supply
    per group with no destination).
    """
    on_net = Snapped(origins.edge, origins.pos_m, np.zeros(len(origins)), origins.max_snap_m)
    access: dict[str, np.ndarray] = {}
    missing: dict[str, str] = {}
    for group, cats in groups.items():
        pts = [] if is_empty_layer(facilities) else [facilities[facilities["category"].isin(cats)].geometry]
        if group == "pt_any" and stations is not None and len(stations):
            pts.append(gpd.GeoSeries(stations.geometry if isinstance(stations, gpd.GeoDataFrame) else stations))
        pts = [gpd.GeoSeries(p).to_crs(network.crs) for p in pts if len(p)]
        if not pts:
            missing[group] = group_missing(group, cats)
            continue
        src = snap_points(network, gpd.GeoSeries(pd.concat(pts, ignore_index=True), crs=network.crs), max_snap_m)
        dist = point_distances(network, node_distances(network, src, cutoff=access_m), on_net, sources=src,
                               cutoff=access_m)
        access[group] = np.where(origins.reached, (dist <= access_m).astype(float), np.nan)
    return access, missing


# --------------------------------------------------------------------------- z-scores and records


def z_scores(values: np.ndarray, sampled: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(x - mean) / std`` over the ``sampled`` cells (sample SD, ddof 1, as pandas); NaN elsewhere.

    A component constant over the sampled cells has z = 0 there (GHSCI's pandas sum skips the NaN
    it gives).  Returns (z, mean, std).

    >>> z, m, s = z_scores(np.array([1.0, 2.0, 3.0, 9.0]), np.array([True, True, True, False]))
    >>> z.round(3).tolist()[:3], m, s
    ([-1.0, 0.0, 1.0], 2.0, 1.0)
    """
    x = values[sampled]
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if len(x) > 1 else float("nan")
    z = np.full(len(values), np.nan)
    z[sampled] = (x - mean) / std if std > 0 else 0.0
    return z, mean, std


def weighted_mean(values: np.ndarray, weights: np.ndarray, sampled: np.ndarray) -> float:
    """Population-weighted mean over the sampled cells (NaN without weight)."""
    w = weights[sampled]
    return float(np.sum(values[sampled] * w) / w.sum()) if w.sum() > 0 else float("nan")


@dataclass(frozen=True)
class _Setup:
    """The parameters of one walkability computation and the text they give the records."""

    cell_m: float
    neighbourhood_m: float
    access_m: float
    consolidate_m: float
    min_population: float
    max_snap_m: float
    include_internal: bool
    groups: dict[str, tuple[str, ...]]
    crs: pyproj.CRS
    scope: str

    def params(self) -> dict[str, Any]:
        return {"cell_m": self.cell_m, "neighbourhood_m": self.neighbourhood_m, "access_m": self.access_m,
                "consolidate_m": self.consolidate_m, "min_population": self.min_population,
                "max_snap_m": self.max_snap_m, "include_internal": self.include_internal,
                "daily_living": {g: list(c) for g, c in self.groups.items()}, "crs": crs_label(self.crs)}

    def neighbourhood_text(self) -> str:
        return (f"{self.cell_m:g} m cells of the area; each cell's centre placed on the nearest edge (within "
                f"{self.max_snap_m:g} m, snap not walked); its neighbourhood = the cells holding a network node "
                f"within {self.neighbourhood_m:g} m walk (GHSCI: distinct grid cells of the nodes reached in "
                f"1,000 m), density = Σ count ÷ Σ cell area inside the area; cells with < {self.min_population:g} "
                f"residents not sampled; in {crs_label(self.crs)}")


def _components(network: Network, residents: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame | None,
                roads: gpd.GeoDataFrame | None, area_m: shapely.Geometry, grid: _Grid, s: _Setup,
                stations: gpd.GeoSeries | gpd.GeoDataFrame | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per cell: residents, intersections, the neighbourhood densities and the daily-living access."""
    x, y = resident_xy(residents, network.crs).T
    w = population_weights(residents)
    inside = shapely.contains_xy(area_m, x, y)
    pop = grid.count(x[inside], y[inside], w[inside])
    info: dict[str, Any] = {"residents_outside_area": int((~inside).sum()),
                            "population_outside_area": float(w[~inside].sum())}
    _, _, roads_missing = road_indicator_inputs(roads, gpd.GeoSeries([area_m], crs=network.crs), network.crs,
                                                s.include_internal)
    count = np.full(len(grid), np.nan)
    if roads_missing is None:
        jx, jy, nodes = intersection_points(roads, area_m, network.crs, consolidate_m=s.consolidate_m,
                                            include_internal=s.include_internal)
        count = grid.count(jx, jy).astype(float)
        info |= {"intersections": nodes.intersections, "junction_clusters": int(len(nodes.junction_degree))}
    origins = snap_points(network, np.column_stack([grid.cx, grid.cy]), s.max_snap_m)
    hood = neighbourhood_matrix(network, origins, np.column_stack([grid.cx, grid.cy]),
                                grid.cell_of(network.node_x, network.node_y), len(grid), s.neighbourhood_m)
    nh_area = hood @ grid.area_km2
    with np.errstate(invalid="ignore", divide="ignore"):
        dens = {k: np.where(nh_area > 0, (hood @ np.nan_to_num(v)) / nh_area, np.nan) for k, v in
                (("intersection_density_per_km2", count), ("population_density_per_km2", pop))}
    if roads_missing is not None:
        dens["intersection_density_per_km2"][:] = np.nan
    access, dl_missing = daily_living_access(network, origins, facilities, s.groups, access_m=s.access_m,
                                             max_snap_m=s.max_snap_m, stations=stations)
    table = pd.DataFrame({"area_km2": grid.area_km2, "population": pop, "intersections": count,
                          "reach_cells": np.asarray(hood.sum(axis=1)).astype(int), "nh_area_km2": nh_area} | dens)
    for g in s.groups:
        table[f"access_{g}"] = access.get(g, np.full(len(grid), np.nan))
    table["daily_living_score"] = (sum(access[g] for g in s.groups) if not dl_missing
                                   else np.full(len(grid), np.nan))
    table["sampled"] = origins.reached & (nh_area > 0) & (pop >= s.min_population)
    info |= {"roads_missing": roads_missing, "daily_living_missing": dl_missing,
             "stations": 0 if is_empty_layer(stations) else len(stations),
             "cells": len(grid), "cells_unsnapped": int((~origins.reached).sum()),
             "cells_below_min_population": int((origins.reached & (pop < s.min_population)).sum())}
    return table, info


def _scores(table: pd.DataFrame, info: dict[str, Any]) -> dict[str, Any]:
    """z-scores (within the city and against the 25-city reference) and the three indices, in ``table``."""
    sampled = table["sampled"].to_numpy()
    have = {"intersection_density": info["roads_missing"] is None, "population_density": True,
            "daily_living": not info["daily_living_missing"]}
    stats: dict[str, Any] = {}
    ref_z = {}
    for comp in COMPONENTS:
        values = table[_COLUMNS[comp]].to_numpy(dtype=float)
        if have[comp] and sampled.sum() >= 2:
            z, mean, std = z_scores(values, sampled)
            stats[comp] = {"mean": mean, "std": std}
        else:
            z = np.full(len(table), np.nan)
        table[f"z_{comp}"] = z
        m, sd = GHSCI_25_CITY_REFERENCE[comp]
        ref_z[comp] = np.where(sampled, (values - m) / sd, np.nan)
    table["walkability_index"] = table[[f"z_{c}" for c in COMPONENTS]].sum(axis=1, skipna=False)
    table["walkability_index_2c"] = table["z_intersection_density"] + table["z_population_density"]
    table["walkability_index_25city"] = sum(ref_z.values())
    if not all(have.values()):
        table["walkability_index_25city"] = np.nan
    return {"have": have, "z": stats}


def _component_records(table: pd.DataFrame, info: dict[str, Any], s: _Setup, params: dict[str, Any]
                       ) -> list[Indicator]:
    """The three component records (population-weighted means over the sampled cells)."""
    sampled, pop = table["sampled"].to_numpy(), table["population"].to_numpy()
    out = []
    texts = {
        "intersection_density": ("consolidated street intersections (kmgis street_nodes: city roads, merged "
                                 f"degree ≥ 3, junctions within {s.consolidate_m:g} m merged) per km² of the "
                                 "neighbourhood", ("roads", "area")),
        "population_density": ("residents per km² of the neighbourhood", ("population", "area")),
        "daily_living": (f"destination groups within {s.access_m:g} m on the network (0–3: "
                         + ", ".join(f"{g} = {'/'.join(c)}" for g, c in s.groups.items())
                         + (f" + {info['stations']} rail stations" if info["stations"] else "")
                         + "; destinations' snap walked)", ("facilities", "roads")),
    }
    for comp in COMPONENTS:
        ind, unit = _IDS[comp]
        what, inputs = texts[comp]
        method = f"population-weighted mean over the sampled cells of {what}; {s.neighbourhood_text()}"
        missing = info["roads_missing"] and _ROADS_MISSING if comp == "intersection_density" else None
        if comp == "daily_living" and info["daily_living_missing"]:
            missing = "; ".join(info["daily_living_missing"].values())
        if not missing and not sampled.any():
            missing = _NONE_SAMPLED
        if missing:
            out.append(no_data(ind, unit, s.scope, missing, method=method, **params))
            continue
        value = weighted_mean(table[_COLUMNS[comp]].to_numpy(dtype=float), pop, sampled)
        out.append(Indicator(ind, value, unit, s.scope, method, inputs, params))
    return out


def _index_records(table: pd.DataFrame, info: dict[str, Any], scores: dict[str, Any], s: _Setup,
                   params: dict[str, Any]) -> list[Indicator]:
    """The GHSCI index (within the city), against the 25-city reference, and the two-component index."""
    sampled, pop = table["sampled"].to_numpy(), table["population"].to_numpy()
    have = scores["have"]
    absent = [c for c in COMPONENTS if not have[c]]
    why = "; ".join(filter(None, [info["roads_missing"] and _ROADS_MISSING,
                                  "; ".join(info["daily_living_missing"].values())]))
    base = ("population-weighted mean over the sampled cells of the sum of z-scores of {what}; {ref}; "
            + s.neighbourhood_text())
    three = "intersection density, population density and daily-living score"
    specs = [
        ("index", three, "z against the sampled cells of this area (mean, sample SD): GHSCI sp_walkability_index",
         not absent),
        ("index_25city", three, "z against the 25-city GHSCI reference means/SDs (comparable across cities)",
         not absent),
        ("index_2c", "intersection density and population density only — NOT the GHSCI walkability index "
         "(daily-living component omitted)", "z against the sampled cells of this area", have["intersection_density"]),
    ]
    out = []
    for key, what, ref, ok in specs:
        ind, unit = _IDS[key]
        method = base.format(what=what, ref=ref)
        col = {"index": "walkability_index", "index_25city": "walkability_index_25city",
               "index_2c": "walkability_index_2c"}[key]
        if not ok:
            missing = (f"walkability index needs all three GHSCI components; absent: {', '.join(absent)} — {why}"
                       if key != "index_2c" else _ROADS_MISSING)
            out.append(no_data(ind, unit, s.scope, missing, method=method, **params))
        elif sampled.sum() < (1 if key == "index_25city" else 2):
            out.append(no_data(ind, unit, s.scope, _NONE_SAMPLED.replace("no sampled", "fewer than 2 sampled")
                               if sampled.any() else _NONE_SAMPLED, method=method, **params))
        else:
            value = weighted_mean(table[col].to_numpy(dtype=float), pop, sampled)
            inputs = ("roads", "population", "area") + (() if key == "index_2c" else ("facilities",))
            out.append(Indicator(ind, value, unit, s.scope, method, inputs, params | {"z": scores["z"]}))
    return out


# --------------------------------------------------------------------------- the indicator


def walkability_index(
    network: Network | None,
    residents: gpd.GeoDataFrame | None,
    facilities: gpd.GeoDataFrame | None,
    roads: gpd.GeoDataFrame | None,
    area: AreaLike | None,
    crs: pyproj.CRS | str | None = None,
    *,
    cell_m: float = CELL_M,
    neighbourhood_m: float = NEIGHBOURHOOD_M,
    access_m: float = ACCESS_M,
    consolidate_m: float = CONSOLIDATE_M,
    min_population: float = MIN_POPULATION,
    include_internal: bool = False,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    daily_living: Mapping[str, Sequence[str]] | None = None,
    stations: gpd.GeoSeries | gpd.GeoDataFrame | None = None,
    scope: str = "built-up area",
) -> Result:
    """The GHSCI walkability index over the area's grid cells and its three components.

    Parameters
    ----------
    network, residents, facilities, roads, area, crs : the walk network (metric CRS); population
        points (``population``, persons; those inside the area count); the ``facilities`` layer
        (:data:`DAILY_LIVING`); the roads layer with a halo (intersections); the built-up area
        (WGS84 shapely geometry, or a GeoDataFrame/GeoSeries); the metric CRS (the network's).
    cell_m, neighbourhood_m, access_m : cell size, walking neighbourhood (GHSCI 1,000) and
        daily-living access distance (GHSCI 500), m.
    consolidate_m : junction nodes closer than this (m) are one intersection (24 ≈ OSMnx tolerance 12).
    min_population : cells with fewer residents are not sampled (GHSCI ``pop_min_threshold``).
    include_internal : count compound-internal roads (内部道路) in the intersections.
    max_snap_m : a cell centre (or destination) farther than this (m) from every edge is unreached.
    daily_living : destination group → facility categories (default :data:`DAILY_LIVING`).
    stations : extra public-transport stops (e.g. metro stations, any CRS) for ``pt_any``.
    scope : text for the records' ``scope``.

    Returns
    -------
    Result
        ``walkability_index_mean``, ``_25city_mean``, ``_2c_mean`` (z), ``walkability_intersection_density_per_km2``,
        ``walkability_population_density_per_km2``, ``walkability_daily_living_score`` (0–3): population-weighted
        means over the sampled cells (``no data`` naming what to supply); ``layers["walkability_grid"]``: one row
        per cell (WGS84) with the components, z-scores and indices; ``per_feature`` (index of ``residents``):
        each resident's cell and its index.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from kmgis.model import conform
    >>> from kmgis.network import build_network
    >>> segs = [((x, y), (x + 100, y)) for x in range(0, 1000, 100) for y in range(50, 1000, 100)]
    >>> segs += [((y, x), (y, x + 100)) for x in range(0, 1000, 100) for y in range(50, 1000, 100)]
    >>> roads = conform("roads", gpd.GeoDataFrame({"road_class": ["branch"] * len(segs)},
    ...     geometry=[shapely.LineString(s) for s in segs], crs="EPSG:32648").to_crs("EPSG:4326"))
    >>> net = build_network(roads, "walk", "EPSG:32648")
    >>> people = gpd.GeoDataFrame({"population": [50.0] * 100}, crs="EPSG:32648", geometry=gpd.points_from_xy(
    ...     [x + 50 for x in range(0, 1000, 100) for _ in range(10)], [y + 50 for _ in range(10) for y in range(0, 1000, 100)]))
    >>> area = gpd.GeoSeries([shapely.box(0, 0, 1000, 1000)], crs="EPSG:32648")
    >>> res = walkability_index(net, people, None, roads, area, cell_m=500.0)
    >>> res["walkability_index_mean"].status, res["walkability_index_mean"].missing[:39]
    ('no data', 'walkability index needs all three GHSCI')
    >>> round(res["walkability_population_density_per_km2"].value), len(res.layers["walkability_grid"])
    (5000, 4)
    """
    groups = check_daily_living(daily_living)
    _check_categories(facilities, groups)
    if network is None:
        return Result([no_data(*_IDS[k], scope, "roads: supply a roads layer for the walk network")
                       for k in _RECORD_ORDER])
    if crs is not None and projected_crs(crs, "walkability index") != network.crs:
        raise KmgisError(f"walkability index: crs {crs_label(crs)} differs from the network's {crs_label(network.crs)}")
    s = _Setup(cell_m, neighbourhood_m, access_m, consolidate_m, min_population, max_snap_m, include_internal,
               groups, network.crs, scope)
    area_m = area_polygon_m(area, network.crs)
    why = ("built-up area: supply the area (built_up_area_km2)" if area_m is None
           else RESIDENTS_MISSING if is_empty_layer(residents) else None)
    if why:
        return Result([no_data(*_IDS[k], scope, why, **s.params()) for k in _RECORD_ORDER])
    return _compute(network, residents, facilities, roads, area_m, s, stations)


def _compute(network: Network, residents: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame | None,
             roads: gpd.GeoDataFrame | None, area_m: shapely.Geometry, s: _Setup,
             stations: gpd.GeoSeries | gpd.GeoDataFrame | None) -> Result:
    """The grid, its components and scores, the records in order, the layer and the per-resident table."""
    grid = _Grid.over(area_m, s.cell_m)
    table, info = _components(network, residents, facilities, roads, area_m, grid, s, stations)
    scores = _scores(table, info)
    params = s.params() | {k: v for k, v in info.items() if k not in ("roads_missing", "daily_living_missing")}
    params |= {"cells_sampled": int(table["sampled"].sum()),
               "population_sampled": float(table.loc[table["sampled"], "population"].sum())}
    comps = {r.indicator: r for r in _component_records(table, info, s, params)}
    idx = {r.indicator: r for r in _index_records(table, info, scores, s, params)}
    records = [(comps | idx)[_IDS[k][0]] for k in _RECORD_ORDER]
    return Result(records, per_feature=_per_resident(residents, grid, table, network.crs),
                  layers={"walkability_grid": _grid_layer(grid, table, network.crs, params)})


_RECORD_ORDER = ("index", "index_25city", "index_2c", "intersection_density", "population_density", "daily_living")


def _per_resident(residents: gpd.GeoDataFrame, grid: _Grid, table: pd.DataFrame, crs: pyproj.CRS) -> pd.DataFrame:
    """Each resident's cell (-1 outside the grid) and that cell's GHSCI index (NaN where not computed)."""
    x, y = resident_xy(residents, crs).T
    cell = grid.cell_of(x, y)
    index = table["walkability_index"].to_numpy(dtype=float)
    return pd.DataFrame({"walkability_cell_id": cell,
                         "walkability_index": np.where(cell >= 0, index[np.maximum(cell, 0)], np.nan)},
                        index=residents.index)


def _grid_layer(grid: _Grid, table: pd.DataFrame, crs: pyproj.CRS, params: dict[str, Any]) -> gpd.GeoDataFrame:
    """The cells as WGS84 polygons with every per-cell value (``attrs["walkability"]``: the parameters)."""
    out = gpd.GeoDataFrame({"cell_id": np.arange(len(grid))} | {c: table[c].to_numpy() for c in table.columns},
                           geometry=gpd.GeoSeries(grid.cells, crs=crs).to_crs(WGS84).values, crs=WGS84)
    out.attrs["walkability"] = params
    return out
