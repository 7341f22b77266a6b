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
from kmgis.indicators import (
    builtup,
    greenspace,
    junctions,
    lifecircle,
    lifecircle_levels,
    park_service,
    residents,
    roads,
    siting,
    supply,
    transit,
    walkability,
)
from kmgis.indicators.result import Result
from kmgis.indicators.road_layer import ROAD_CLASSES

#: stages of the recipe workflow, in the order they run (for progress and timings)
STAGES = ("roads", "green", "life circle", "transit", "walkability")


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
    "level": "|".join(lifecircle_levels.LEVELS),
    "group": "|".join(lifecircle_levels.GROUP_KMH),
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
_PARK_SERVICE_IN = ("network", "residents", "parks", "landuse", "area")
_PARK_SERVICE_CLASSES = ("parks ≥ 5,000 m² serve 500 m, parks of 2,000–5,000 m² serve 300 m, smaller parks none "
                         "(住建部《2021年城市体检指标体系》; layers/standards/park_service.yaml); touching park "
                         "polygons merged before classing")
_STATIONS = ("network", "residents", "stations", "area", "crs")
_METRO = ("metro_lines", "stations", "crs")
_WALKABILITY = ("network", "residents", "facilities", "roads", "area", "crs", "stations")
_WALKABILITY_OPTIONS = {"max_snap_m": "max_snap_m", "include_internal": "include_internal_roads"}
_WALKABILITY_HOW = ("in the 1 km walking-network neighbourhood of each 250 m cell of the built-up area (the cells "
                    "holding a network node within 1,000 m of the cell centre's point on the network; GHSCI, "
                    "Boeing et al. 2022)")
_LEVELS_INPUTS = ("network", "residents", "facilities")
_LEVELS_OPTIONS = {"distance_m": "levels_distance_m", "walk_kmh": "levels_walk_kmh",
                   "group_kmh": "levels_group_kmh", "max_snap_m": "max_snap_m"}
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
        "park_service_straight_pct", "%", "公园绿地服务半径覆盖率（直线，按人口）",
        "park service-radius coverage of residents, straight line",
        "share of residents within the service radius of a park of its size class by straight-line distance "
        f"(inside the park's buffer, as officially measured); {_PARK_SERVICE_CLASSES}",
        park_service.park_service_coverage, _PARK_SERVICE_IN, _WALK, "green"),
    IndicatorSpec(
        "park_service_walk_pct", "%", "公园绿地服务半径覆盖率（步行，按人口）",
        "park service-radius coverage of residents, on foot",
        "share of residents within the service radius of a park of its size class by walking-network distance "
        f"(access points: entrances, else the outline every 30 m; one search per class); {_PARK_SERVICE_CLASSES}",
        park_service.park_service_coverage, _PARK_SERVICE_IN, _WALK, "green"),
    IndicatorSpec(
        "park_service_gap_pct", "percentage points", "直线与步行覆盖率之差",
        "park service coverage: straight line minus walk",
        "park_service_straight_pct − park_service_walk_pct: residents inside a park's service buffer who cannot "
        "walk to a park of that class within its radius", park_service.park_service_coverage, _PARK_SERVICE_IN,
        _WALK, "green"),
    IndicatorSpec(
        "park_service_residential_land_straight_pct", "%", "公园绿地服务半径覆盖率（居住用地，直线）",
        "park service-radius coverage of residential land, straight line",
        "area of residential land (landuse=residential) in the built-up area inside the union of the parks' "
        f"buffers by their class radius ÷ residential land area: the official measure; {_PARK_SERVICE_CLASSES}",
        park_service.park_service_coverage, _PARK_SERVICE_IN, _WALK, "green"),
    IndicatorSpec(
        "park_service_residential_land_walk_pct", "%", "公园绿地服务半径覆盖率（居住用地，步行）",
        "park service-radius coverage of residential land, on foot",
        "share of residential land (landuse=residential) in the built-up area, cut by a 25 m grid with each piece "
        "weighted by its area, whose walking-network distance to a park of a class is within that class's radius; "
        f"{_PARK_SERVICE_CLASSES}", park_service.park_service_coverage, _PARK_SERVICE_IN, _WALK, "green"),
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
    IndicatorSpec(
        "level_{level}_{category}_pct", "%", "生活圈居住区设施步行覆盖率",
        "life-circle level: residents within walking distance of a required facility",
        "share of residents whose walking-network distance to the nearest facility of a category the level "
        "requires (GB 50180-2018 Appendix B, mapped to kmgis categories) is within the level's walking distance "
        "(5 min 300 m, 10 min 500 m, 15 min 1,000 m of the standard's 800–1,000 m)",
        lifecircle_levels.lifecircle_levels, _LEVELS_INPUTS, _LEVELS_OPTIONS, "life circle"),
    IndicatorSpec(
        "level_{level}_complete_pct", "%", "生活圈居住区配套完整覆盖率", "complete life-circle level",
        "share of residents with every facility category the level requires within the level's walking distance "
        "on the network (levels do not nest); required types without a kmgis category are named, not assessed",
        lifecircle_levels.lifecircle_levels, _LEVELS_INPUTS, _LEVELS_OPTIONS, "life circle"),
    IndicatorSpec(
        "level_{level}_complete_{group}_pct", "%", "分人群十五分钟生活圈完整覆盖率",
        "complete 15-minute level by population group",
        "share of residents with every category the 15-minute level requires within 15 minutes' walk at the "
        "group's speed (adult 4.8 km/h → 1,200 m; elderly 3.6 km/h → 900 m; children 3.168 km/h → 792 m)",
        lifecircle_levels.lifecircle_levels, _LEVELS_INPUTS, _LEVELS_OPTIONS, "life circle"),
    IndicatorSpec(
        "station_{distance_m}m_walk_pct", "%", "轨道站点步行覆盖率（常住人口）",
        "residents within walking distance of a metro station",
        "share of residents of the built-up area whose walking-network distance to the nearest metro station is "
        "within the distance in the id (one multi-source search from all stations; 500 and 800 m by default)",
        transit.station_coverage, _STATIONS, _WALK, "transit"),
    IndicatorSpec(
        "station_{distance_m}m_straight_pct", "%", "轨道站点直线覆盖率（常住人口）",
        "residents within a straight-line radius of a metro station",
        "share of residents of the built-up area within the distance in the id of the nearest metro station in a "
        "straight line (inside the union of station buffers: official practice), shown beside the walking share",
        transit.station_coverage, _STATIONS, _WALK, "transit"),
    IndicatorSpec(
        "station_{distance_m}m_walk_area_pct", "%", "轨道站点步行覆盖率（建成区面积）",
        "built-up area within walking distance of a metro station",
        "share of the built-up area in 50 m grid cells whose centre is within the distance in the id of the "
        "nearest metro station on the walking network (cells clipped to the built-up area)",
        transit.station_coverage, _STATIONS, _WALK, "transit"),
    IndicatorSpec(
        "station_{distance_m}m_straight_area_pct", "%", "轨道站点直线覆盖率（建成区面积）",
        "built-up area within a straight-line radius of a metro station",
        "share of the built-up area inside the union of straight-line buffers of the distance in the id around "
        "the metro stations", transit.station_coverage, _STATIONS, _WALK, "transit"),
    IndicatorSpec(
        "stations_count", "stations", "建成区内轨道站点数", "metro stations in the built-up area",
        "metro stations (points) inside the built-up area", transit.station_coverage, _STATIONS, _WALK, "transit"),
    IndicatorSpec(
        "metro_line_km_straight", "km", "城市轨道交通线路长度（站间直线，下限）",
        "metro length (straight station links, lower bound)",
        "sum of straight station-to-station links over the lines' station sequences in the metric CRS, each link "
        "shared by several lines once; ignores track curves, so a lower bound of route length (里程)",
        transit.metro_network_km, _METRO, {}, "transit"),
    IndicatorSpec(
        "metro_lines_count", "lines", "城市轨道交通运营线路数", "metro lines",
        "distinct line names of the line records (a record named '1号线/2号线' counts two lines)",
        transit.metro_network_km, _METRO, {}, "transit"),
    IndicatorSpec(
        "metro_stations_count", "stations", "城市轨道交通车站数", "metro stations",
        "distinct stations on the lines' station sequences (a transfer station once)",
        transit.metro_network_km, _METRO, {}, "transit"),
    IndicatorSpec(
        "walkability_index_mean", "z", "步行指数（GHSCI）", "walkability index (GHSCI)",
        "population-weighted mean over the built-up area's cells of the sum of the z-scores (against the area's "
        "own sampled cells) of intersection density, population density and daily-living score, "
        + _WALKABILITY_HOW + "; no data unless all three components are available",
        walkability.walkability_index, _WALKABILITY, _WALKABILITY_OPTIONS, "walkability"),
    IndicatorSpec(
        "walkability_index_25city_mean", "z", "步行指数（对照GHSCI 25城）", "walkability index vs the 25 GHSCI cities",
        "as the walkability index, with each component's z-score taken against the mean and SD of the 25-city "
        "GHSCI study (comparable across cities); no data unless all three components are available",
        walkability.walkability_index, _WALKABILITY, _WALKABILITY_OPTIONS, "walkability"),
    IndicatorSpec(
        "walkability_index_2c_mean", "z", "步行指数（两项，非GHSCI）", "walkability, 2 components (not GHSCI)",
        "population-weighted mean of the sum of the z-scores of intersection density and population density only "
        "(daily-living score left out) " + _WALKABILITY_HOW + "; NOT the GHSCI walkability index",
        walkability.walkability_index, _WALKABILITY, _WALKABILITY_OPTIONS, "walkability"),
    IndicatorSpec(
        "walkability_intersection_density_per_km2", "intersections/km²", "步行邻域交叉口密度",
        "neighbourhood intersection density",
        "consolidated street intersections (city roads, merged degree ≥ 3, junctions within 24 m merged) per km² "
        + _WALKABILITY_HOW + "; population-weighted mean over the cells",
        walkability.walkability_index, _WALKABILITY, _WALKABILITY_OPTIONS, "walkability"),
    IndicatorSpec(
        "walkability_population_density_per_km2", "persons/km²", "步行邻域人口密度",
        "neighbourhood population density",
        "residents per km² " + _WALKABILITY_HOW + "; population-weighted mean over the cells",
        walkability.walkability_index, _WALKABILITY, _WALKABILITY_OPTIONS, "walkability"),
    IndicatorSpec(
        "walkability_daily_living_score", "score 0–3", "日常生活设施可达得分", "daily-living score",
        "number of destination groups within 500 m walk of the cell centre (fresh-food market/supermarket, "
        "convenience store, public-transport stop; GHSCI), population-weighted mean over the built-up area's cells",
        walkability.walkability_index, _WALKABILITY, _WALKABILITY_OPTIONS, "walkability"),
    # filling the gaps (补短板): gap totals per recipe; cells (kmgis gaps) and siting (kmgis site) on request
    IndicatorSpec(
        "gap_{category}_residents", "persons", "服务缺口人口", "residents beyond the distance of a facility",
        "residents whose walking-network distance to the nearest facility of the category exceeds the distance "
        "(the plan's 15 min = 1,200 m in the scorecard; kmgis gaps: any distance or a GB 50180 level's)",
        supply.gap_totals, ("network", "residents", "facilities"), _WALK, "life circle"),
    IndicatorSpec(
        "gap_{category}_pct", "%", "服务缺口人口占比", "share of residents beyond the distance of a facility",
        "gap_<category>_residents ÷ residents × 100", supply.gap_totals, ("network", "residents", "facilities"),
        _WALK, "life circle"),
    IndicatorSpec(
        "siting_{category}_covered_pct", "%", "选址后覆盖率", "coverage after siting",
        "share of residents within the walking distance of an existing (if kept) or a chosen site, after choosing N "
        "sites by the maximal covering location problem (greedy with lazy evaluation)", siting.siting),
    IndicatorSpec(
        "siting_{category}_gain_residents", "persons", "新增覆盖人口", "residents gained by the chosen sites",
        "residents newly within the walking distance of the N chosen sites", siting.siting),
    IndicatorSpec(
        "siting_{category}_gap_pct", "%", "选址最优性差距", "siting optimality gap",
        "(bound − greedy objective) ÷ bound × 100; the bound is the exact MCLP optimum (PuLP/CBC) where the instance "
        "fits, else the LP relaxation or greedy ÷ (1 − 1/e)", siting.siting),
    IndicatorSpec(
        "siting_{category}_sites_for_target", "sites", "达到目标所需站点数", "sites needed for a coverage target",
        "fewest sites whose coverage reaches the target share (set covering; exact where it fits)", siting.siting),
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
