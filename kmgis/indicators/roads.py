"""Road-network indicators (DESIGN §4): road density here; intersection density and dead-end
share in :mod:`kmgis.indicators.junctions`.

Definitions
-----------
* **City roads** are the rows of the ``roads`` layer whose ``road_class`` has
  ``city_road: true`` in ``layers/road_classes.yaml`` (expressway, arterial, sub-arterial,
  branch — GB/T 51328 快速路/主干路/次干路/支路).  Compound-internal roads (``internal``,
  内部道路) are added only when asked (``include_internal=True``); paths never count
  (:mod:`kmgis.indicators.road_layer`).
* **Road density** (km/km²) is the centreline length of the city roads *clipped* to the
  area (the built-up area) divided by the area, both measured in a projected metric CRS.
* **Divided roads count once** and **a road digitised in two class layers counts once**:
  :func:`divided_carriageway_pairs` and :func:`cross_class_duplicates`
  (:mod:`kmgis.indicators.road_dedupe`, with the measurements on the Kunming road layer
  behind the defaults) find the lines to discount.
* **Intersections** and **dead ends**: :mod:`kmgis.indicators.junctions`.

All lengths are metres internally and reported in km; areas in km².

The road indicators live in :mod:`~kmgis.indicators.road_layer` (inputs),
:mod:`~kmgis.indicators.road_dedupe` (lines drawn twice), :mod:`~kmgis.indicators.junctions`
(street nodes) and here; the public names of all four are importable from this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from kmgis.geom import crs_label
from kmgis.indicators.junctions import (
    StreetNodes,
    dead_end_share,
    intersection_density,
    street_node_indicators,
    street_nodes,
)
from kmgis.indicators.result import Indicator, Result, no_data
from kmgis.indicators.road_dedupe import (
    CROSS_CLASS_GAP_M,
    PARALLEL_TOLERANCE_DEG,
    SAMPLE_STEP_M,
    DividedCarriageways,
    check_cross_class_params,
    cross_class_duplicates,
    cross_class_samples,
    divided_carriageway_pairs,
    divided_carriageways,
)
from kmgis.indicators.road_layer import (
    ROADS_INPUT,
    AreaLike,
    city_road_classes,
    city_roads,
    has_road_classes,
    indicator_slug,
    line_parts_m,
    metric_crs_of,
    oneway_sign,
    road_indicator_inputs,
)
from kmgis.model import normalise_road_classes

__all__ = [
    "CROSS_CLASS_GAP_M",
    "PARALLEL_TOLERANCE_DEG",
    "ROADS_INPUT",
    "SAMPLE_STEP_M",
    "AreaLike",
    "StreetNodes",
    "city_road_classes",
    "city_roads",
    "cross_class_duplicates",
    "dead_end_share",
    "divided_carriageway_pairs",
    "intersection_density",
    "road_density",
    "street_node_indicators",
    "street_nodes",
]

_ROAD_DENSITY_IDS = (("road_density_km_per_km2", "km/km²"), ("road_length_km", "km"))


@dataclass(frozen=True)
class _Dedupe:
    """The de-duplication options of :func:`road_density` (distances in metres)."""

    divided: bool
    max_gap_m: float
    min_overlap: float
    cross_class: bool
    cross_class_gap_m: float


@dataclass(frozen=True)
class _CountedLength:
    """Per city-road row: length (m) clipped to the area, and what of it is discounted."""

    row_m: np.ndarray  # clipped length of each row (m)
    whole_row_m: np.ndarray  # whole length of each row (m)
    divided: DividedCarriageways | None  # None when divided roads are not de-duplicated
    divided_discount: np.ndarray  # bool: the row is discounted whole as a second carriageway
    after_divided_m: np.ndarray  # clipped length less the divided discount (m)
    cross_class_m: np.ndarray  # cross-class duplicate length inside the area (m)
    counted_m: np.ndarray  # what counts (m)


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
    crs: pyproj.CRS | str | None = None,
    *,
    include_internal: bool = False,
    dedupe_divided: bool = True,
    max_gap_m: float = 40.0,
    min_overlap: float = 0.6,
    dedupe_cross_class: bool = True,
    cross_class_gap_m: float = CROSS_CLASS_GAP_M,
    scope: str = "built-up area",
) -> Result:
    """Road-network density of the city roads inside ``area`` (km/km²), total and per class.

    Parameters
    ----------
    roads : GeoDataFrame or None
        The ``roads`` layer (WGS84); give roads beyond the area too (a halo), they are
        clipped here.
    area : shapely geometry, GeoSeries, GeoDataFrame or None
        The area (normally the built-up area): a shapely (Multi)Polygon in WGS84, or a
        GeoDataFrame/GeoSeries in any CRS.
    crs : pyproj.CRS, str or None
        Projected metric CRS for lengths and areas (e.g. EPSG:32648 or EPSG:4543); None: the
        UTM zone of the area (:func:`kmgis.crs.metric_crs`; EPSG:32648 for Kunming).
    include_internal : bool
        Count compound-internal roads (``internal``) as city roads.
    dedupe_divided : bool
        Discount the second carriageway of divided roads (:func:`divided_carriageway_pairs`
        with ``max_gap_m`` (m) and ``min_overlap`` (share of a way's length, 0–1]).
    max_gap_m, min_overlap : float
        See ``dedupe_divided``.
    dedupe_cross_class, cross_class_gap_m : bool, float
        Discount lower-class lines within ``cross_class_gap_m`` (m) of, and parallel to, a
        higher-class line (one road digitised in two class layers; :func:`cross_class_duplicates`):
        the duplicated samples inside the area (≈ :data:`SAMPLE_STEP_M` m each), never a way
        already discounted as a second carriageway.
    scope : str
        Text for the records' ``scope``.

    Returns
    -------
    Result
        ``road_density_km_per_km2`` (centreline km of city roads clipped to the area, less
        the discounts, ÷ area km²); ``road_density_<class>_km_per_km2`` per city-road class
        present (they sum to the total); ``road_length_km`` (the counted km).  ``params``
        record the area, CRS, switches, what each de-duplication step discounted (ways, km,
        per class), the length before / between / after them, the whole length of the ways
        touching the area (what whole-edge counting as in OSMnx gives) and the share of
        length with unknown one-way status (divided roads there may count twice).  Classes
        outside the model are mapped through :data:`~kmgis.model.ROAD_CLASS_ALIASES`
        (``params["road_classes_mapped"]``) or are a one-line error — never dropped.  With
        no roads, no city roads or no area, ``no data`` records name what to supply.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> roads = gpd.GeoDataFrame({"road_class": ["arterial", "secondary"]}, crs="EPSG:32648",
    ...     geometry=[shapely.LineString([(0, 500), (1000, 500)]), shapely.LineString([(500, 0), (500, 1000)])])
    >>> area = gpd.GeoSeries([shapely.box(0, 0, 1000, 1000)], crs="EPSG:32648")
    >>> res = road_density(roads, area)
    >>> round(res["road_density_km_per_km2"].value, 3), res["road_density_km_per_km2"].params["road_classes_mapped"]
    (2.0, {'secondary → sub-arterial': 1})
    """
    crs = metric_crs_of(crs, area, roads)
    dedupe = _Dedupe(dedupe_divided, max_gap_m, min_overlap, dedupe_cross_class, cross_class_gap_m)
    roads, base = _road_density_base(roads, crs, include_internal, dedupe)
    city, area_m, missing = road_indicator_inputs(roads, area, crs, include_internal)
    if area_m is None:
        return Result([no_data(i, u, scope, missing, **base) for i, u in _ROAD_DENSITY_IDS])
    area_km2 = area_m.area / 1e6
    lengths = _counted_lengths(city, area_m, crs, dedupe)
    cls = city["road_class"].astype(object).to_numpy()
    order = city_road_classes(include_internal=include_internal)
    present = [c for c in order if (cls == c).any()]
    params = _road_density_params(base, city, area_km2, lengths, cls, present, dedupe)
    method = _road_density_method(params, order, present, crs, dedupe)
    return Result(_road_density_records(lengths, cls, present, area_km2, method, params, scope))


def _road_density_base(roads: gpd.GeoDataFrame | None, crs: pyproj.CRS, include_internal: bool, dedupe: _Dedupe
                       ) -> tuple[gpd.GeoDataFrame | None, dict[str, Any]]:
    """The roads with model classes, and the parameters recorded also without data (checks the cross-class ones)."""
    base = {
        "include_internal": include_internal,
        "dedupe_divided": dedupe.divided,
        "dedupe_cross_class": dedupe.cross_class,
        "crs": crs_label(crs),
    }
    if dedupe.cross_class:
        check_cross_class_params(dedupe.cross_class_gap_m, PARALLEL_TOLERANCE_DEG, SAMPLE_STEP_M)
        base["cross_class_gap_m"] = dedupe.cross_class_gap_m
    if has_road_classes(roads):
        roads, mapped = normalise_road_classes(roads)
        base |= {"road_classes_mapped": mapped} if mapped else {}
    return roads, base


def _counted_lengths(
    city: gpd.GeoDataFrame, area_m: shapely.Geometry, crs: pyproj.CRS, dedupe: _Dedupe
) -> _CountedLength:
    """Clipped length (m) of each city-road row, less the divided and cross-class discounts."""
    if dedupe.divided:
        div = divided_carriageways(city, crs, dedupe.max_gap_m, dedupe.min_overlap)
        discount = div.discount.to_numpy()
    else:
        div = None
        discount = np.zeros(len(city), dtype=bool)
    parts, part_row = line_parts_m(city, crs)
    part_len = _clipped_length_m(parts, area_m)
    row_len = np.bincount(part_row, weights=part_len, minlength=len(city))
    row_full = np.bincount(part_row, weights=shapely.length(parts), minlength=len(city))
    after_divided = np.where(discount, 0.0, row_len)
    if dedupe.cross_class:
        cross_row = _cross_class_in_area_m(city, area_m, crs, dedupe.cross_class_gap_m, after_divided)
    else:
        cross_row = np.zeros(len(city))
    return _CountedLength(row_len, row_full, div, discount, after_divided, cross_row, after_divided - cross_row)


def _cross_class_in_area_m(
    city: gpd.GeoDataFrame, area_m: shapely.Geometry, crs: pyproj.CRS, gap_m: float, after_divided_m: np.ndarray
) -> np.ndarray:
    """Cross-class duplicate length (m) per row: the duplicated samples inside the area.

    Never more than the row's length still counted after the divided discount.
    """
    cross = cross_class_samples(city, crs, gap_m, PARALLEL_TOLERANCE_DEG, SAMPLE_STEP_M, within=area_m)
    xy = cross.cover.sample_xy
    inside = shapely.contains_xy(area_m, xy[:, 0], xy[:, 1])
    cross_row = np.bincount(
        cross.sample_row[inside], weights=cross.cover.sample_weight[inside], minlength=len(city)
    )
    return np.minimum(cross_row, after_divided_m)  # never more than what is counted


def _road_density_params(
    base: dict[str, Any],
    city: gpd.GeoDataFrame,
    area_km2: float,
    lengths: _CountedLength,
    cls: np.ndarray,
    present: list[str],
    dedupe: _Dedupe,
) -> dict[str, Any]:
    """The ``params`` of the road-density records: area (km²), lengths (km), discounts, shares (%)."""
    row_len, discount, div = lengths.row_m, lengths.divided_discount, lengths.divided
    touches = row_len > 0
    unknown = oneway_sign(city) == 0
    if "oneway" in city.columns:
        unknown &= city["oneway"].isna().to_numpy()
    params = base | {
        "area_km2": area_km2,
        "length_before_dedupe_km": float(row_len.sum()) / 1000,
        "length_before_cross_class_km": float(lengths.after_divided_m.sum()) / 1000,
        "length_after_dedupe_km": float(lengths.counted_m.sum()) / 1000,
        "length_whole_ways_km": float(lengths.whole_row_m[touches].sum()) / 1000,
        "divided_pairs": div.pairs if div is not None else None,
        "divided_ways_discounted": int((discount & touches).sum()),
        "divided_km_discounted": float(row_len[discount].sum()) / 1000,
        "oneway_unknown_share_pct": round(
            100 * float(row_len[unknown].sum()) / max(float(row_len.sum()), 1e-12), 3
        ),
    }
    if div is not None:
        params |= {"divided_max_gap_m": dedupe.max_gap_m, "divided_min_overlap": dedupe.min_overlap}
    if dedupe.cross_class:
        cross_row = lengths.cross_class_m
        params |= {
            "cross_class_parallel_deg": PARALLEL_TOLERANCE_DEG,
            "cross_class_sample_m": SAMPLE_STEP_M,
            "cross_class_km_discounted": float(cross_row.sum()) / 1000,
        } | {
            f"cross_class_km_discounted_{indicator_slug(c)}": float(cross_row[cls == c].sum()) / 1000
            for c in present
        }
    return params


def _road_density_method(
    params: dict[str, Any], order: list[str], present: list[str], crs: pyproj.CRS, dedupe: _Dedupe
) -> str:
    """The ``method`` text of the road-density records."""
    classes_txt = ", ".join(order)
    dedupe_txt = (
        f"the second carriageway of divided roads (one-way pairs within {dedupe.max_gap_m:g} m, "
        f"≥{dedupe.min_overlap:.0%} overlap) discounted: {params['divided_ways_discounted']} ways, "
        f"{params['divided_km_discounted']:.3f} km"
        if dedupe.divided
        else "divided carriageways not de-duplicated (each one-way carriageway counts)"
    )
    unknown_txt = (
        f"; one-way status unknown for {params['oneway_unknown_share_pct']:.1f}% of the length, where "
        "divided roads digitised as two lines count twice"
        if params["oneway_unknown_share_pct"] > 0
        else ""
    )
    return (
        f"centreline length of city roads ({classes_txt}) clipped to the area ÷ area, in "
        f"{crs_label(crs)}; {dedupe_txt}{_cross_class_text(params, present, dedupe)}{unknown_txt}"
    )


def _cross_class_text(params: dict[str, Any], present: list[str], dedupe: _Dedupe) -> str:
    """The cross-class part of the road-density ``method`` text (starts with "; ")."""
    if not dedupe.cross_class:
        return "; cross-class near-duplicates not removed (a road digitised in two class layers counts twice)"
    per_class = ", ".join(
        f"{c} {params[f'cross_class_km_discounted_{indicator_slug(c)}']:.3f} km"
        for c in present
        if params[f"cross_class_km_discounted_{indicator_slug(c)}"] > 0
    )
    return (
        f"; lines of a lower class within {dedupe.cross_class_gap_m:g} m of and parallel "
        f"(±{PARALLEL_TOLERANCE_DEG:g}°) to a higher-class line are the same road digitised twice; "
        "their length counted once (with the higher class): "
        f"{params['cross_class_km_discounted']:.3f} km "
        f"discounted{f' ({per_class})' if per_class else ''}, sampled every {SAMPLE_STEP_M:g} m"
    )


def _road_density_records(
    lengths: _CountedLength,
    cls: np.ndarray,
    present: list[str],
    area_km2: float,
    method: str,
    params: dict[str, Any],
    scope: str,
) -> list[Indicator]:
    """The total density (km/km²), one density per class present, and the counted length (km)."""
    counted = lengths.counted_m
    by_class = {c: float(counted[cls == c].sum()) / 1000 for c in present}
    total_km = float(counted.sum()) / 1000
    inputs = (ROADS_INPUT, "area")
    out = [Indicator("road_density_km_per_km2", total_km / area_km2, "km/km²", scope, method, inputs, params)]
    for c in present:
        out.append(
            Indicator(
                f"road_density_{indicator_slug(c)}_km_per_km2",
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
