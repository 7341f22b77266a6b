"""The one list of indicators: each declared once, with its unit, labels, definition, inputs and function.

The scorecard, the batch summary, the map legends and the docs read their labels and
definitions from here; an id that no entry declares is an error (:func:`spec`), never a
blank label.  The recipe workflow computes the scorecard by calling each entry's function
once (entries that share a function are computed together) with the data it names in
``inputs`` and the recipe parameters it names in ``options``.

Adding an indicator = its function in ``kmgis/indicators/<topic>.py``, one entry in
:data:`SPECS`, a test (and a target in ``layers/targets.yaml`` if a plan sets one).

Ids with a ``{placeholder}`` stand for a family (one id per road class, facility category,
distance): ``{road_class}`` takes the GB/T 51328 class slugs, ``{category}`` the facility
categories of ``layers/facilities.yaml``, ``{distance_m}`` a whole number of metres.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kmgis.errors import KmgisError
from kmgis.indicators import builtup, greenspace, junctions, lifecircle, residents, roads
from kmgis.indicators.result import Result
from kmgis.indicators.road_layer import ROAD_CLASSES

#: stages of the recipe workflow, in the order they run (for progress and timings)
STAGES = ("roads", "green", "life circle")


@dataclass(frozen=True)
class IndicatorSpec:
    """One indicator (or family of ids) and how it is computed.

    ``inputs``: keyword names of the data the function takes, from the workflow's bundle
    (``roads``, ``green``, ``parks``, ``facilities``, ``residents`` (points in the area),
    ``network`` (walk graph), ``area`` (the built-up area, WGS84), ``crs`` (metric CRS));
    ``options``: function keyword → recipe parameter name; ``stage``: the workflow stage
    that computes it (empty: computed by the workflow itself, as the built-up area that
    defines ``area``).
    """

    id: str
    unit: str
    zh: str
    en: str
    definition: str
    function: Callable[..., Result]
    inputs: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    stage: str = ""

    @property
    def pattern(self) -> re.Pattern[str]:
        """A regular expression matching the ids this entry declares."""
        return _compile(self.id)


def _slug(name: str) -> str:
    return name.replace("-", "_")


_PLACEHOLDERS: dict[str, str] = {
    "road_class": "|".join(_slug(c) for c in ROAD_CLASSES),
    "category": "|".join(lifecircle.FACILITY_CATEGORIES),
    "distance_m": r"\d+",
}


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            if part not in _PLACEHOLDERS:
                raise KmgisError(f"indicator registry: unknown placeholder {{{part}}} in {template!r}")
            out.append(f"(?:{_PLACEHOLDERS[part]})")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out) + r"\Z")


_ROADS = ("roads", "area", "crs")
_WALK = {"max_snap_m": "max_snap_m"}
_LIFECIRCLE_OPTIONS = {"walk_kmh": "walk_kmh", "minutes": "lifecircle_minutes", "band_m": "lifecircle_band_m",
                       "max_snap_m": "max_snap_m"}
_LIFECIRCLE_DEF = ("share of residents within the walking time (or distance) of the nearest facility of the "
                   "category, on the network")

SPECS: tuple[IndicatorSpec, ...] = (
    IndicatorSpec(
        "built_up_area_km2", "km²", "建成区面积", "built-up area",
        "the official built-up area if supplied, else derived (land use + buildings, or road-length density on a "
        "grid, closed and filled); the patch of the county seat", builtup.built_up_area),
    IndicatorSpec(
        "population_built_up", "persons", "建成区常住人口", "residents of the built-up area",
        "residents (2023 totals spread over residential proxies, or a population raster) inside the built-up area",
        residents.residents_in_area),
    IndicatorSpec(
        "road_density_km_per_km2", "km/km²", "路网密度", "road-network density",
        "centreline length of city roads (expressway, arterial, sub-arterial, branch; GB/T 51328) inside the "
        "built-up area ÷ built-up area; divided carriageways once; a road digitised in two class layers once "
        "(lower-class lines within 11 m of and parallel to a higher-class line discounted); internal roads excluded",
        roads.road_density, _ROADS, {"include_internal": "include_internal_roads"}, "roads"),
    IndicatorSpec(
        "road_density_{road_class}_km_per_km2", "km/km²", "分级路网密度", "road density by class",
        "centreline length of one road class inside the built-up area ÷ built-up area",
        roads.road_density, _ROADS, {"include_internal": "include_internal_roads"}, "roads"),
    IndicatorSpec(
        "road_length_km", "km", "道路长度", "city-road length",
        "centreline length of city roads inside the built-up area after de-duplication (the numerator of the "
        "road-network density)", roads.road_density, _ROADS, {"include_internal": "include_internal_roads"}, "roads"),
    IndicatorSpec(
        "intersection_density_per_km2", "intersections/km²", "交叉口密度", "intersection density",
        "street-network nodes of degree ≥ 3 (consolidated within 10 m) per km² of the built-up area",
        junctions.street_node_indicators, _ROADS, {"include_internal": "include_internal_roads"}, "roads"),
    IndicatorSpec(
        "dead_end_share_pct", "%", "断头路节点占比", "dead-end share",
        "degree-1 nodes ÷ (degree-1 nodes + intersections, i.e. junctions of degree ≥ 3 consolidated within 10 m) "
        "of the city-road street network inside the built-up area",
        junctions.street_node_indicators, _ROADS, {"include_internal": "include_internal_roads"}, "roads"),
    IndicatorSpec(
        "green_ratio_pct", "%", "绿地率（已测绘）", "green-space ratio (mapped)",
        "area of mapped green land (parks, gardens, grass, recreation grounds, woods, scrub) inside the built-up "
        "area ÷ built-up area; private green inside housing plots is mostly unmapped",
        greenspace.green_ratio, ("green", "area", "crs"), {}, "green"),
    IndicatorSpec(
        "park_m2_per_person", "m²/person", "人均公园绿地面积", "park green space per person",
        "area of public parks in the built-up area ÷ residents of the built-up area",
        greenspace.park_per_person, ("parks", "area", "residents", "crs"), {}, "green"),
    IndicatorSpec(
        "green_300m_pct", "%", "300米见绿覆盖率", "residents within 300 m of green",
        "share of residents whose walking-network distance to the nearest green space ≥ 400 m² is ≤ 300 m",
        greenspace.green_access, ("network", "residents", "green"), {"max_m": "green_max_m"} | _WALK, "green"),
    IndicatorSpec(
        "green_{distance_m}m_pct", "%", "见绿覆盖率", "residents within walking distance of green",
        "share of residents whose walking-network distance to the nearest green space ≥ 400 m² is within the "
        "distance in the id", greenspace.green_access, ("network", "residents", "green"),
        {"max_m": "green_max_m"} | _WALK, "green"),
    IndicatorSpec(
        "park_500m_pct", "%", "500米见园覆盖率", "residents within 500 m of a park",
        "share of residents whose walking-network distance to the nearest park ≥ 0.5 ha is ≤ 500 m",
        greenspace.park_access, ("network", "residents", "parks"), {"max_m": "park_max_m"} | _WALK, "green"),
    IndicatorSpec(
        "park_{distance_m}m_pct", "%", "见园覆盖率", "residents within walking distance of a park",
        "share of residents whose walking-network distance to the nearest park ≥ 0.5 ha is within the distance in "
        "the id", greenspace.park_access, ("network", "residents", "parks"), {"max_m": "park_max_m"} | _WALK, "green"),
    IndicatorSpec(
        "lifecircle_{category}_pct", "%", "15分钟生活圈设施覆盖率", "15-minute life-circle coverage by facility",
        _LIFECIRCLE_DEF, lifecircle.lifecircle, ("network", "residents", "facilities"), _LIFECIRCLE_OPTIONS,
        "life circle"),
    IndicatorSpec(
        "lifecircle_{category}_{distance_m}m_pct", "%", "15分钟生活圈设施覆盖率",
        "15-minute life-circle coverage by facility", _LIFECIRCLE_DEF, lifecircle.lifecircle,
        ("network", "residents", "facilities"), _LIFECIRCLE_OPTIONS, "life circle"),
    IndicatorSpec(
        "lifecircle_complete_pct", "%", "15分钟生活圈完整覆盖率", "complete 15-minute life circle",
        "share of residents with every facility category within 15 minutes' walk on the network",
        lifecircle.lifecircle, ("network", "residents", "facilities"), _LIFECIRCLE_OPTIONS, "life circle"),
)


def _check(specs: tuple[IndicatorSpec, ...]) -> dict[str, IndicatorSpec]:
    """Validate the registry at import: unique ids, known placeholders, labels, known stages."""
    out: dict[str, IndicatorSpec] = {}
    for s in specs:
        if s.id in out:
            raise KmgisError(f"indicator registry: {s.id!r} is declared twice")
        if not (s.unit and s.zh and s.en and s.definition):
            raise KmgisError(f"indicator registry: {s.id!r} lacks a unit, label or definition")
        if s.stage and s.stage not in STAGES:
            raise KmgisError(f"indicator registry: {s.id!r} has unknown stage {s.stage!r}; known: {STAGES}")
        s.pattern  # noqa: B018 - compiles, so an unknown placeholder fails at import
        out[s.id] = s
    return out


_BY_ID = _check(SPECS)


def spec(indicator_id: str) -> IndicatorSpec:
    """The registry entry of an indicator id (exact, else the family whose pattern matches).

    >>> spec("road_density_sub_arterial_km_per_km2").zh
    '分级路网密度'
    >>> spec("lifecircle_school_1000m_pct").unit
    '%'
    """
    if indicator_id in _BY_ID:
        return _BY_ID[indicator_id]
    for s in SPECS:
        if "{" in s.id and s.pattern.match(indicator_id):
            return s
    raise KmgisError(f"unknown indicator id {indicator_id!r}: not declared in kmgis.indicators.registry "
                     f"(known: {', '.join(_BY_ID)})")


def check_ids(ids: list[str], where: str) -> None:
    """Raise one :class:`KmgisError` naming every id in ``ids`` that the registry does not declare."""
    unknown = []
    for i in ids:
        try:
            spec(i)
        except KmgisError:
            unknown.append(i)
    if unknown:
        raise KmgisError(f"{where}: unknown indicator id{'s' if len(unknown) > 1 else ''} {unknown}; "
                         f"declared: {', '.join(_BY_ID)}")


def functions(stage: str) -> list[IndicatorSpec]:
    """The first entry of each distinct function computed in ``stage``, in registry order."""
    seen: set[int] = set()
    out = []
    for s in SPECS:
        if s.stage == stage and id(s.function) not in seen:
            seen.add(id(s.function))
            out.append(s)
    return out


def compute(entry: IndicatorSpec, data: Mapping[str, object], parameters: Mapping[str, object]) -> Result:
    """Call an entry's function with the data it names and the recipe parameters it maps."""
    missing = [n for n in entry.inputs if n not in data]
    if missing:
        raise KmgisError(f"indicator {entry.id}: the workflow supplies no {', '.join(missing)}")
    kwargs = {n: data[n] for n in entry.inputs} | {k: parameters[p] for k, p in entry.options.items()}
    return entry.function(**kwargs)
