"""Road-network indicators (DESIGN §4): road density, intersection density, dead-end share.

Definitions
-----------
* **City roads** are the rows of the ``roads`` layer whose ``road_class`` has
  ``city_road: true`` in ``layers/road_classes.yaml`` (expressway, arterial, sub-arterial,
  branch — GB/T 51328 快速路/主干路/次干路/支路).  Compound-internal roads (``internal``,
  内部道路) are added only when asked (``include_internal=True``); paths never count.
* **Road density** (km/km²) is the centreline length of the city roads *clipped* to the
  area (the built-up area) divided by the area, both measured in a projected metric CRS.
* **Divided roads count once.**  A divided road mapped as two one-way ways (one per
  carriageway) would count twice; :func:`divided_carriageway_pairs` finds such pairs and
  flags one side of each to be discounted.  It needs ``oneway``: rows with unknown
  ``oneway`` (<NA>, e.g. every row of the Kunming road layer) are never paired, so a
  divided road digitised as two lines in such a layer counts twice.
* **Intersections** are nodes of the street network of the city roads
  (:func:`kmgis.network.build_network`) with at least 3 street segments, consolidated:
  junction nodes closer than ``consolidate_m`` are one intersection.  **Dead ends** are
  nodes with one street segment.

All lengths are metres internally and reported in km; areas in km².

Data note (measured on ``kunming_roads_kust``, the Kunming road layer): it has no
``oneway``, and same-class parallel lines within 40 m are almost absent (27 ways, 4 km of
23,700 km of city roads), so divided roads there are single lines.  But lines of
*different* classes often run side by side: 38 % of the sub-arterial length lies within
15 m of a parallel arterial line (16 % within 5 m), 31 % of the branch length beside a
parallel arterial/sub-arterial line (12 % within 5 m).  Nothing here removes such
cross-class overlaps: they count in full.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from kmgis.config import load_layers_yaml
from kmgis.errors import KmgisError
from kmgis.indicators import Indicator, no_data
from kmgis.model import WGS84
from kmgis.network import build_network

AreaLike = shapely.Geometry | gpd.GeoSeries | gpd.GeoDataFrame

SAMPLE_STEP_M = 10.0
"""Spacing (m) of the points sampled along one-way ways to test carriageway pairing."""

PARALLEL_TOLERANCE_DEG = 30.0
"""Two ways are parallel at a sample when their local directions differ by at most this
angle (same direction) or by at least 180° minus it (opposite direction)."""

_TANGENT_HALF_M = 0.5  # local direction from the points ±0.5 m along the line
_END_EPS_M = 0.01  # a foot point closer than this to a line end is "at the end"

ROADS_INPUT = "roads"


# --------------------------------------------------------------------------- helpers


def _classes() -> dict[str, dict[str, Any]]:
    return load_layers_yaml("road_classes")["classes"]


def city_road_classes(*, include_internal: bool = False) -> list[str]:
    """The ``road_class`` values counted as city roads, in ``road_classes.yaml`` order."""
    out = [name for name, spec in _classes().items() if spec.get("city_road")]
    if include_internal:
        out.append("internal")
    return out


def _indicator_slug(road_class: str) -> str:
    """``sub-arterial`` → ``sub_arterial`` (ASCII ids with underscores)."""
    return road_class.replace("-", "_").replace(" ", "_")


def _metric(crs: pyproj.CRS | str | int) -> pyproj.CRS:
    out = pyproj.CRS.from_user_input(crs)
    if not out.is_projected:
        raise KmgisError(f"road indicators need a projected metric CRS (metres), got {out.to_string()}")
    return out


def _crs_text(crs: pyproj.CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


def _area_metric(area: AreaLike | None, crs: pyproj.CRS) -> shapely.Geometry | None:
    """``area`` (shapely geometry in WGS84, or a GeoSeries/GeoDataFrame in any CRS) in ``crs``.

    Returns None for a missing, empty or zero-area geometry.
    """
    if area is None:
        return None
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        if len(area) == 0:
            return None
        if area.crs is None:
            raise KmgisError("area has no CRS; set one (the built-up area is normally WGS84)")
        geom = gpd.GeoSeries(area.geometry, crs=area.crs).to_crs(crs).union_all()
    else:
        if not isinstance(area, shapely.Geometry):
            raise KmgisError(
                f"area must be a shapely (Multi)Polygon in WGS84 or a GeoDataFrame, got {type(area)}"
            )
        if area.is_empty:
            return None
        minx, miny, maxx, maxy = area.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise KmgisError(f"area polygon is not in WGS84 lon/lat degrees (bounds {area.bounds})")
        geom = gpd.GeoSeries([area], crs=WGS84).to_crs(crs).iloc[0]
    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = shapely.get_parts(geom)
    geom = shapely.union_all(parts[shapely.get_type_id(parts) == 3])
    if geom.is_empty or geom.area <= 0:
        return None
    shapely.prepare(geom)
    return geom


def _has_roads(roads: gpd.GeoDataFrame | None) -> bool:
    return roads is not None and len(roads) > 0 and "road_class" in roads.columns


def _oneway_sign(roads: gpd.GeoDataFrame) -> np.ndarray:
    """+1 (travel along the geometry), -1 (against it), 0 two-way or unknown, per row."""
    if "oneway" not in roads.columns:
        return np.zeros(len(roads), dtype=np.int8)
    ow = pd.to_numeric(roads["oneway"], errors="coerce").astype("Float64").fillna(0).to_numpy(dtype=float)
    return np.where(ow > 0, 1, np.where(ow < 0, -1, 0)).astype(np.int8)


def _metric_parts(roads: gpd.GeoDataFrame, crs: pyproj.CRS) -> tuple[np.ndarray, np.ndarray]:
    """Single LineString parts of every row in ``crs`` and the row position of each part."""
    geoms = np.asarray(roads.geometry.to_crs(crs).values)
    parts, row = shapely.get_parts(geoms, return_index=True)
    keep = ~shapely.is_empty(parts) & (shapely.length(parts) > 0)
    return parts[keep], row[keep]


def city_roads(roads: gpd.GeoDataFrame, *, include_internal: bool = False) -> gpd.GeoDataFrame:
    """The rows of ``roads`` counted as city roads (index kept, input order).

    City roads are the classes with ``city_road: true`` in ``layers/road_classes.yaml``
    (expressway, arterial, sub-arterial, branch); ``include_internal=True`` adds the
    ``internal`` class (compound-internal roads, 内部道路).  Paths never count.
    """
    if roads is None or len(roads) == 0 or "road_class" not in roads.columns:
        return roads.iloc[0:0] if roads is not None else gpd.GeoDataFrame(geometry=[], crs=WGS84)
    return roads[roads["road_class"].isin(city_road_classes(include_internal=include_internal))]


# --------------------------------------------------------------------------- divided carriageways


def _tangents(lines: np.ndarray, pos: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Unit direction (along the digitised order) of each line at distance ``pos`` (m)."""
    a = shapely.line_interpolate_point(lines, np.clip(pos - _TANGENT_HALF_M, 0.0, length))
    b = shapely.line_interpolate_point(lines, np.clip(pos + _TANGENT_HALF_M, 0.0, length))
    v = shapely.get_coordinates(b) - shapely.get_coordinates(a)
    norm = np.hypot(v[:, 0], v[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return v / norm[:, None]


@dataclass(frozen=True)
class _Cover:
    """Per-sample nearest parallel partner of a set of line parts (see :func:`_parallel_cover`)."""

    sample_part: np.ndarray  # part of each covered sample
    sample_weight: np.ndarray  # length (m) each covered sample stands for
    partner_part: np.ndarray  # the nearest parallel (antiparallel when directed) part
    gap_m: np.ndarray  # distance sample → partner (m)


def _parallel_cover(
    lines: np.ndarray,
    group: np.ndarray,
    row: np.ndarray,
    sign: np.ndarray,
    *,
    max_gap_m: float,
    directed: bool,
    step_m: float = SAMPLE_STEP_M,
    tolerance_deg: float = PARALLEL_TOLERANCE_DEG,
) -> _Cover:
    """Samples of each part whose nearest parallel neighbour runs the opposite way.

    Every part is sampled every ``step_m`` metres (at the middle of equal intervals, each
    sample standing for its interval's length).  For a sample on part *i*, the candidate
    neighbours are the parts *j* of another row with the same ``group`` (road class)
    within ``max_gap_m`` whose nearest point to the sample is *interior* to *j* (a
    perpendicular foot, not *j*'s end: a way continuing *i* end to end is no neighbour)
    and whose direction there is parallel to *i*'s (within ``tolerance_deg``, either
    way).  The nearest such *j* is the sample's neighbour; the sample is *covered* when,
    with travel directions (``sign`` = +1 along the geometry, -1 against it), the
    neighbour runs opposite to *i* (``directed``), or in any case (not ``directed``: a
    check for parallel duplicates in layers without one-way data).
    """
    empty = _Cover(np.array([], int), np.array([], float), np.array([], int), np.array([], float))
    if len(lines) < 2:
        return empty
    length = shapely.length(lines)
    n = np.maximum(1, np.ceil(length / step_m)).astype(np.int64)
    s_part = np.repeat(np.arange(len(lines)), n)
    k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    seg = (length / n)[s_part]
    s_pos = (k + 0.5) * seg
    s_lines = lines[s_part]
    s_pts = shapely.line_interpolate_point(s_lines, s_pos)

    tree = shapely.STRtree(lines)
    s_idx, j = tree.query(s_pts, predicate="dwithin", distance=max_gap_m)
    i = s_part[s_idx]
    keep = (row[j] != row[i]) & (group[j] == group[i])
    s_idx, j, i = s_idx[keep], j[keep], i[keep]
    if len(s_idx) == 0:
        return empty
    t = shapely.line_locate_point(lines[j], s_pts[s_idx])
    interior = (t > _END_EPS_M) & (t < length[j] - _END_EPS_M)
    s_idx, j, i, t = s_idx[interior], j[interior], i[interior], t[interior]
    if len(s_idx) == 0:
        return empty
    tan_i = _tangents(s_lines[s_idx], s_pos[s_idx], length[i])
    tan_j = _tangents(lines[j], t, length[j])
    cos = np.einsum("ij,ij->i", tan_i, tan_j)
    if directed:
        cos = cos * sign[i] * sign[j]
    cos_tol = math.cos(math.radians(tolerance_deg))
    parallel = np.abs(cos) >= cos_tol
    s_idx, j, cos = s_idx[parallel], j[parallel], cos[parallel]
    gap = shapely.distance(s_pts[s_idx], lines[j])
    order = np.lexsort((j, gap, s_idx))  # nearest neighbour per sample (ties: lowest part)
    s_idx, j, cos, gap = s_idx[order], j[order], cos[order], gap[order]
    first = np.r_[True, s_idx[1:] != s_idx[:-1]]
    s_idx, j, cos, gap = s_idx[first], j[first], cos[first], gap[first]
    covered = cos <= -cos_tol if directed else np.ones(len(s_idx), dtype=bool)
    s_idx, j, gap = s_idx[covered], j[covered], gap[covered]
    return _Cover(s_part[s_idx], seg[s_idx], j, gap)


@dataclass(frozen=True)
class _DividedResult:
    """What :func:`divided_carriageway_pairs` found (``discount`` is index-aligned)."""

    discount: pd.Series
    paired: pd.Series  # ways with ≥ min_overlap of their length beside an opposite carriageway
    pairs: int  # divided road stretches (connected groups of paired ways)
    candidates: int  # one-way ways examined
    conflicts: int  # pair links between ways put on the same side (odd cycles); 0 normally


def _divided(
    roads: gpd.GeoDataFrame, crs: pyproj.CRS, max_gap_m: float, min_overlap: float
) -> _DividedResult:
    n_rows = len(roads)
    false = pd.Series(np.zeros(n_rows, dtype=bool), index=roads.index)
    none = _DividedResult(false, false.copy(), 0, 0, 0)
    if n_rows == 0 or "road_class" not in roads.columns:
        return none
    sign = _oneway_sign(roads)
    classes = city_road_classes(include_internal=True)
    cls = roads["road_class"].astype(object).to_numpy()
    cand = (sign != 0) & pd.Series(cls).isin(classes).to_numpy()
    n_cand = int(cand.sum())
    if n_cand < 2:
        return _DividedResult(false, false.copy(), 0, n_cand, 0)
    cand_pos = np.flatnonzero(cand)
    lines, part_row = _metric_parts(roads.iloc[cand_pos], crs)
    row = cand_pos[part_row]  # row position in ``roads`` of each part
    group = pd.factorize(pd.Series(cls[row]))[0]
    cover = _parallel_cover(lines, group, row, sign[row], max_gap_m=max_gap_m, directed=True)

    row_len = np.bincount(row, weights=shapely.length(lines), minlength=n_rows)
    covered = np.bincount(row[cover.sample_part], weights=cover.sample_weight, minlength=n_rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(row_len > 0, covered / row_len, 0.0)
    paired = share >= min_overlap

    # links between a paired way and the ways beside it; the two sides of a divided road
    # are the two colours of each connected group (parity of the BFS depth)
    a, b = row[cover.sample_part], row[cover.partner_part]
    link = paired[a]
    a, b = a[link], b[link]
    if len(a) == 0:
        return _DividedResult(false, pd.Series(paired, index=roads.index), 0, n_cand, 0)
    ab = np.unique(np.sort(np.column_stack([a, b]), axis=1), axis=0)
    adj = sp.coo_array((np.ones(len(ab)), (ab[:, 0], ab[:, 1])), shape=(n_rows + 1, n_rows + 1)).tocsr()
    involved = np.zeros(n_rows, dtype=bool)
    involved[ab.ravel()] = True
    _, comp = connected_components(adj[:n_rows, :n_rows], directed=False)
    inv_pos = np.flatnonzero(involved)
    comp_ids, first_idx = np.unique(comp[inv_pos], return_index=True)  # root = lowest row
    roots = inv_pos[first_idx]
    super_links = sp.coo_array(
        (np.ones(len(roots)), (np.full(len(roots), n_rows), roots)), shape=(n_rows + 1, n_rows + 1)
    ).tocsr()
    depth = dijkstra(adj + super_links, directed=False, indices=n_rows, unweighted=True)[:n_rows]
    parity = np.zeros(n_rows, dtype=np.int64)
    parity[inv_pos] = (depth[inv_pos].astype(np.int64) - 1) % 2
    conflicts = int((parity[ab[:, 0]] == parity[ab[:, 1]]).sum())

    # per group: discount the side with less total length; on a tie the side without the
    # group's lowest row (the "second" carriageway)
    comp_index = np.searchsorted(comp_ids, comp[inv_pos])
    side_len = np.zeros((len(comp_ids), 2))
    np.add.at(side_len, (comp_index, parity[inv_pos]), row_len[inv_pos])
    discount_side = np.where(side_len[:, 1] <= side_len[:, 0], 1, 0)
    flag = np.zeros(n_rows, dtype=bool)
    flag[inv_pos] = (parity[inv_pos] == discount_side[comp_index]) & paired[inv_pos]
    return _DividedResult(
        pd.Series(flag, index=roads.index),
        pd.Series(paired, index=roads.index),
        int(len(comp_ids)),
        n_cand,
        conflicts,
    )


def divided_carriageway_pairs(
    roads: gpd.GeoDataFrame,
    crs: pyproj.CRS | str,
    *,
    max_gap_m: float = 40.0,
    min_overlap: float = 0.6,
) -> pd.Series:
    """Flag the second carriageway of divided roads mapped as two one-way ways.

    Returns a boolean Series aligned to ``roads.index``: True for the ways to discount.

    Method (in the metric ``crs``, metres):

    1. Candidates are the one-way ways (``oneway`` 1 or -1; -1 means travel against the
       digitised direction) of the city-road classes and ``internal``.  Two-way (0) and
       unknown (<NA>) ways are never paired, so in a layer without one-way data (the
       Kunming road layer) a divided road digitised as two lines counts twice.
    2. Each candidate is sampled every :data:`SAMPLE_STEP_M` m.  A sample is *beside an
       opposite carriageway* when its nearest parallel one-way way of the same class
       within ``max_gap_m`` (found with a shapely STRtree; parallel = local directions
       within :data:`PARALLEL_TOLERANCE_DEG`, foot point inside that way, not at its end)
       runs the opposite way.  A slip road or a second same-direction lane drawn between
       the carriageways is the nearest parallel way there and blocks the pairing.
    3. A way is *paired* when at least ``min_overlap`` of its length is beside an opposite
       carriageway.
    4. Paired ways and the ways beside them form groups (a divided road, however its two
       carriageways are split into ways); the two sides of each group are the two colours
       of a breadth-first colouring.  The paired ways of the side with less total length
       are flagged (tie: the side not holding the group's first row, so of two equal
       carriageways the later one is discounted).

    Whole ways are flagged: a paired way's part that is not beside the other carriageway
    (at most ``1 - min_overlap`` of it) is discounted with it.
    """
    crs = _metric(crs)
    if max_gap_m <= 0:
        raise KmgisError(f"max_gap_m must be positive, got {max_gap_m}")
    if not 0 < min_overlap <= 1:
        raise KmgisError(f"min_overlap must be in (0, 1], got {min_overlap}")
    return _divided(roads, crs, max_gap_m, min_overlap).discount


# --------------------------------------------------------------------------- road density


def _clipped_length_m(geoms: np.ndarray, area: shapely.Geometry) -> np.ndarray:
    """Length (m) of each metric geometry inside ``area`` (prepared polygon)."""
    out = np.zeros(len(geoms))
    if len(geoms) == 0:
        return out
    tree = shapely.STRtree(geoms)
    hit = np.unique(tree.query(area, predicate="intersects"))
    if len(hit) == 0:
        return out
    within = shapely.within(geoms[hit], area)
    out[hit[within]] = shapely.length(geoms[hit[within]])
    part = hit[~within]
    out[part] = shapely.length(shapely.intersection(geoms[part], area))
    return out


def road_density(
    roads: gpd.GeoDataFrame | None,
    area: AreaLike | None,
    crs: pyproj.CRS | str,
    *,
    include_internal: bool = False,
    dedupe_divided: bool = True,
    max_gap_m: float = 40.0,
    min_overlap: float = 0.6,
    scope: str = "built-up area",
) -> list[Indicator]:
    """Road-network density of the city roads inside ``area`` (km/km²), total and per class.

    Parameters
    ----------
    roads : the ``roads`` layer (WGS84); give roads beyond the area too (a halo), they are
        clipped here.
    area : the area (normally the built-up area): a shapely (Multi)Polygon in WGS84, or a
        GeoDataFrame/GeoSeries in any CRS.
    crs : projected metric CRS for lengths and areas (e.g. EPSG:32648 or EPSG:4543).
    include_internal : count compound-internal roads (``internal``) as city roads.
    dedupe_divided : discount the second carriageway of divided roads
        (:func:`divided_carriageway_pairs` with ``max_gap_m``, ``min_overlap``).
    scope : text for the records' ``scope``.

    Returns
    -------
    ``road_density_km_per_km2`` (centreline km of city roads clipped to the area ÷ area
    km²); one ``road_density_<class>_km_per_km2`` per city-road class present in the
    input (``road_density_sub_arterial_km_per_km2`` …; they sum to the total);
    ``road_length_km`` (the clipped length, km).  ``params`` record the area (km²), the
    CRS, ``include_internal``, ``dedupe_divided``, the divided pairs found (groups of
    paired carriageways), the ways and km discounted inside the area, the clipped length
    before de-duplication and the whole length of the ways touching the area (km, what
    whole-edge counting as in OSMnx would give), and the share of city-road length whose
    one-way status is unknown (where divided roads cannot be detected and may count
    twice).  With no roads, no city roads or no area, ``no_data`` records name what to
    supply.
    """
    crs = _metric(crs)
    ids = [("road_density_km_per_km2", "km/km²"), ("road_length_km", "km")]
    base = {"include_internal": include_internal, "dedupe_divided": dedupe_divided, "crs": _crs_text(crs)}
    if not _has_roads(roads):
        return [no_data(i, u, scope, ROADS_INPUT, **base) for i, u in ids]
    city = city_roads(roads, include_internal=include_internal)
    if len(city) == 0:
        what = f"{ROADS_INPUT} (with city-road classes: {', '.join(city_road_classes(include_internal=include_internal))})"
        return [no_data(i, u, scope, what, **base) for i, u in ids]
    area_m = _area_metric(area, crs)
    if area_m is None:
        return [no_data(i, u, scope, "built-up area polygon", **base) for i, u in ids]
    area_km2 = area_m.area / 1e6

    if dedupe_divided:
        div = _divided(city, crs, max_gap_m, min_overlap)
        discount = div.discount.to_numpy()
    else:
        div = None
        discount = np.zeros(len(city), dtype=bool)

    parts, part_row = _metric_parts(city, crs)
    part_len = _clipped_length_m(parts, area_m)
    row_len = np.bincount(part_row, weights=part_len, minlength=len(city))
    row_full = np.bincount(part_row, weights=shapely.length(parts), minlength=len(city))
    touches = row_len > 0
    counted = np.where(discount, 0.0, row_len)
    cls = city["road_class"].astype(object).to_numpy()
    order = city_road_classes(include_internal=include_internal)
    present = [c for c in order if (cls == c).any()]
    by_class = {c: float(counted[cls == c].sum()) / 1000 for c in present}
    total_km = float(counted.sum()) / 1000
    unknown = _oneway_sign(city) == 0
    if "oneway" in city.columns:
        unknown &= city["oneway"].isna().to_numpy()
    all_km = float(row_len.sum()) / 1000
    params = base | {
        "area_km2": area_km2,
        "length_before_dedupe_km": all_km,
        "length_whole_ways_km": float(row_full[touches].sum()) / 1000,
        "divided_pairs": div.pairs if div else None,
        "divided_ways_discounted": int((discount & touches).sum()),
        "divided_km_discounted": float(row_len[discount].sum()) / 1000,
        "oneway_unknown_share_pct": round(
            100 * float(row_len[unknown].sum()) / max(float(row_len.sum()), 1e-12), 3
        ),
    }
    if div is not None:
        params |= {"divided_max_gap_m": max_gap_m, "divided_min_overlap": min_overlap}
    classes_txt = ", ".join(order)
    dedupe_txt = (
        f"the second carriageway of divided roads (one-way pairs within {max_gap_m:g} m, "
        f"≥{min_overlap:.0%} overlap) discounted: {params['divided_ways_discounted']} ways, "
        f"{params['divided_km_discounted']:.3f} km"
        if dedupe_divided
        else "divided carriageways not de-duplicated (each one-way carriageway counts)"
    )
    unknown_txt = (
        f"; one-way status unknown for {params['oneway_unknown_share_pct']:.1f}% of the length, where "
        "divided roads digitised as two lines count twice"
        if params["oneway_unknown_share_pct"] > 0
        else ""
    )
    method = (
        f"centreline length of city roads ({classes_txt}) clipped to the area ÷ area, in "
        f"{_crs_text(crs)}; {dedupe_txt}{unknown_txt}"
    )
    inputs = (ROADS_INPUT, "area")
    out = [Indicator("road_density_km_per_km2", total_km / area_km2, "km/km²", scope, method, inputs, params)]
    for c in present:
        out.append(
            Indicator(
                f"road_density_{_indicator_slug(c)}_km_per_km2",
                by_class[c] / area_km2,
                "km/km²",
                scope,
                f"as road_density_km_per_km2, class {c} only",
                inputs,
                params | {"road_class": c, "length_km": by_class[c]},
            )
        )
    out.append(Indicator("road_length_km", total_km, "km", scope, method, inputs, params))
    return out


# --------------------------------------------------------------------------- junctions


@dataclass(frozen=True)
class StreetNodes:
    """Street-network nodes for the intersection and dead-end indicators (metric CRS).

    ``degree``: street segments per node (self-loops once, as OSMnx's ``street_count``);
    ``dead_end``: degree-1 nodes inside the area; ``junction_*``: consolidated junctions
    (clusters of degree ≥ 3 nodes) with their merged degree and centroid, inside flag.
    """

    degree: np.ndarray
    node_inside: np.ndarray
    junction_degree: np.ndarray
    junction_inside: np.ndarray
    raw_junctions_inside: int
    summary: dict

    @property
    def intersections(self) -> int:
        """Consolidated intersections (merged degree ≥ 3) inside the area."""
        return int(((self.junction_degree >= 3) & self.junction_inside).sum())

    @property
    def dead_ends(self) -> int:
        """Degree-1 nodes inside the area."""
        return int(((self.degree == 1) & self.node_inside).sum())


def street_nodes(
    roads: gpd.GeoDataFrame,
    area_m: shapely.Geometry,
    crs: pyproj.CRS,
    *,
    consolidate_m: float = 10.0,
    include_internal: bool = False,
) -> StreetNodes:
    """Node degrees and consolidated junctions of the city-road street network.

    The network is :func:`kmgis.network.build_network` on the city roads (mode ``drive``,
    every component kept, each row made drivable: access rules do not change the street
    pattern); nodes are shared OSM vertices or (user layers) coincident end points and
    T-junctions.  Degree = undirected street segments at the node; a self-loop counts once
    (as OSMnx ``count_streets_per_node``).  Junction nodes (degree ≥ 3) closer than
    ``consolidate_m`` to one another (single linkage: cKDTree pairs → connected
    components) form one junction whose merged degree is the number of segments leaving
    the cluster (the members' degrees minus 2 per segment joining two members) and whose
    position is the members' centroid.  Degree-2 and degree-1 nodes are not merged.
    ``area_m`` is a polygon in ``crs``.
    """
    city = city_roads(roads, include_internal=include_internal).copy()
    city["drive"] = pd.array(np.ones(len(city), dtype=bool), dtype="boolean")
    net = build_network(city, "drive", crs, keep_all_components=True)
    n = net.n_nodes
    u, v = net.edge_u, net.edge_v
    loop = u == v
    degree = np.bincount(np.concatenate([u[~loop], v[~loop], u[loop]]), minlength=n)
    node_inside = shapely.contains_xy(area_m, net.node_x, net.node_y)

    junction = np.flatnonzero(degree >= 3)
    label = np.arange(len(junction))
    if consolidate_m > 0 and len(junction) > 1:
        xy = np.column_stack([net.node_x[junction], net.node_y[junction]])
        pairs = cKDTree(xy).query_pairs(r=consolidate_m, output_type="ndarray")
        if len(pairs):
            adj = sp.coo_array(
                (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(junction), len(junction))
            )
            _, label = connected_components(adj, directed=False)
    n_cl = int(label.max()) + 1 if len(label) else 0
    cluster_of = np.full(n, -1)
    cluster_of[junction] = label
    merged = np.bincount(label, weights=degree[junction], minlength=n_cl)
    cu, cv = cluster_of[u], cluster_of[v]
    internal = (~loop) & (cu >= 0) & (cu == cv)
    merged -= 2 * np.bincount(cu[internal], minlength=n_cl)
    size = np.bincount(label, minlength=n_cl)
    cx = np.bincount(label, weights=net.node_x[junction], minlength=n_cl) / np.maximum(size, 1)
    cy = np.bincount(label, weights=net.node_y[junction], minlength=n_cl) / np.maximum(size, 1)
    junction_inside = shapely.contains_xy(area_m, cx, cy)
    summary = {
        "nodes": int(n),
        "edges": int(net.n_edges),
        "junction_nodes": int(len(junction)),
        "junction_clusters": n_cl,
        "network_node_policy": net.summary.get("node_policy"),
    }
    return StreetNodes(
        degree=degree,
        node_inside=node_inside,
        junction_degree=merged.astype(np.int64),
        junction_inside=junction_inside,
        raw_junctions_inside=int(((degree >= 3) & node_inside).sum()),
        summary=summary,
    )


def _junction_inputs(
    roads: gpd.GeoDataFrame | None, area: AreaLike | None, crs: pyproj.CRS, include_internal: bool
) -> tuple[shapely.Geometry | None, str | None]:
    """(area in crs, None) or (None, what to supply)."""
    if not _has_roads(roads):
        return None, ROADS_INPUT
    if len(city_roads(roads, include_internal=include_internal)) == 0:
        return (
            None,
            f"{ROADS_INPUT} (with city-road classes: {', '.join(city_road_classes(include_internal=include_internal))})",
        )
    area_m = _area_metric(area, crs)
    if area_m is None:
        return None, "built-up area polygon"
    return area_m, None


def intersection_density(
    roads: gpd.GeoDataFrame | None,
    area: AreaLike | None,
    crs: pyproj.CRS | str,
    *,
    consolidate_m: float = 10.0,
    include_internal: bool = False,
    scope: str = "built-up area",
) -> Indicator:
    """``intersection_density_per_km2``: consolidated intersections inside ``area`` per km².

    Intersections are junctions of the city-road street network with merged degree ≥ 3
    (see :func:`street_nodes`: junction nodes within ``consolidate_m`` metres merge, single
    linkage), counted when the junction's centroid lies inside ``area``.  Give roads
    beyond the area (a halo) so that degrees at its edge are right.  Divided roads are not
    de-duplicated here: a street crossing a divided road with carriageways farther apart
    than ``consolidate_m`` makes two intersections.  Note that OSMnx's ``tolerance`` is a
    buffer *radius* (nodes up to 2 × tolerance apart merge), ours a distance.
    """
    crs = _metric(crs)
    if consolidate_m < 0:
        raise KmgisError(f"consolidate_m must be ≥ 0, got {consolidate_m}")
    ind, unit = "intersection_density_per_km2", "intersections/km²"
    params: dict[str, Any] = {
        "consolidate_m": consolidate_m,
        "include_internal": include_internal,
        "crs": _crs_text(crs),
    }
    area_m, missing = _junction_inputs(roads, area, crs, include_internal)
    if area_m is None:
        return no_data(ind, unit, scope, missing or ROADS_INPUT, **params)
    nodes = street_nodes(roads, area_m, crs, consolidate_m=consolidate_m, include_internal=include_internal)
    area_km2 = area_m.area / 1e6
    params |= {
        "area_km2": round(area_km2, 6),
        "intersections": nodes.intersections,
        "junction_nodes_unconsolidated": nodes.raw_junctions_inside,
    } | nodes.summary
    method = (
        f"street-network nodes of the city roads with ≥3 street segments, junction nodes within "
        f"{consolidate_m:g} m merged (merged degree ≥3 counted, centroid inside the area), ÷ area km², "
        f"in {_crs_text(crs)}"
    )
    return Indicator(ind, nodes.intersections / area_km2, unit, scope, method, (ROADS_INPUT, "area"), params)


def dead_end_share(
    roads: gpd.GeoDataFrame | None,
    area: AreaLike | None,
    crs: pyproj.CRS | str,
    *,
    consolidate_m: float = 10.0,
    include_internal: bool = False,
    scope: str = "built-up area",
) -> Indicator:
    """``dead_end_share_pct``: dead ends as a share (%) of the street-network nodes in ``area``.

    Nodes are those of a simplified street network: degree-1 nodes (dead ends) plus the
    consolidated intersections of :func:`intersection_density` (degree-2 nodes, where
    one way merely continues another, are not street nodes).  Share = dead ends ÷ (dead
    ends + intersections) × 100, both inside ``area``.  Ends of roads cut by the data's
    extent look like dead ends: give roads with a halo around the area.
    """
    crs = _metric(crs)
    if consolidate_m < 0:
        raise KmgisError(f"consolidate_m must be ≥ 0, got {consolidate_m}")
    ind, unit = "dead_end_share_pct", "%"
    params: dict[str, Any] = {
        "consolidate_m": consolidate_m,
        "include_internal": include_internal,
        "crs": _crs_text(crs),
    }
    area_m, missing = _junction_inputs(roads, area, crs, include_internal)
    if area_m is None:
        return no_data(ind, unit, scope, missing or ROADS_INPUT, **params)
    nodes = street_nodes(roads, area_m, crs, consolidate_m=consolidate_m, include_internal=include_internal)
    total = nodes.dead_ends + nodes.intersections
    params |= {"dead_ends": nodes.dead_ends, "intersections": nodes.intersections} | nodes.summary
    method = (
        "degree-1 nodes ÷ (degree-1 nodes + consolidated intersections) of the city-road street "
        f"network inside the area × 100 (junctions merged within {consolidate_m:g} m), in {_crs_text(crs)}"
    )
    value = 100.0 * nodes.dead_ends / total if total else None
    if value is None:
        return no_data(
            ind, unit, scope, "roads (no street-network nodes inside the area)", method=method, **params
        )
    return Indicator(ind, value, unit, scope, method, (ROADS_INPUT, "area"), params)
