"""The GB 50180-2018 life-circle levels (五分钟/十分钟/十五分钟生活圈居住区): walking access per level.

DESIGN §4b.  ``layers/standards/gb50180_2018.yaml`` (read once, at import) gives each level's walking
distance (5 min 300 m, 10 min 500 m, 15 min 800–1,000 m; 1,000 m used by default) and the facility
types the standard requires at that level, mapped to the kmgis categories of ``layers/facilities.yaml``
(types kmgis cannot measure are listed as ``not_mapped`` and named in the method, never dropped).

* ``level_<L>_<category>_pct``: population share within the level's walking distance, on the walk
  network, of the nearest facility of a category the level requires;
* ``level_<L>_complete_pct``: share with **every** required (mapped) category within that distance
  (levels do not nest: each level is judged against its own list);
* ``level_15min_complete_<group>_pct``: the 15-minute level for a population group (adult, elderly,
  children) with distance = 15 min × the group's walking speed (adult: ``layers/speeds.yaml``
  4.8 km/h → 1,200 m; elderly 1.0 m/s → 900 m; children 0.88 m/s → 792 m; sources in the YAML);
* :func:`level_gap_grid`: per grid cell and level, the required categories missing within the level's
  distance of the cell centre — the gap map planners draw by hand.

Search: **one multi-source Dijkstra per category** (:func:`kmgis.network.nearest_distance`), cut off
at the largest distance any level or group uses for that category, reused for every level and group.
Missing data follow :mod:`kmgis.indicators.lifecircle`: no facilities layer → ``no data`` naming the
OSM tags / Amap codes to supply; a layer without any facility of a category → 0 with the note
"no <category> mapped in the area; OSM coverage may be incomplete".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from kmgis.config import load_layers_yaml
from kmgis.errors import KmgisError
from kmgis.geom import is_empty_layer
from kmgis.indicators.greenspace import (
    RESIDENTS_MISSING,
    AreaLike,
    population_weights,
    resident_xy,
    residents_scope,
    share_pct,
)
from kmgis.indicators.lifecircle import (
    FACILITY_CATEGORIES,
    WALK_KMH,
    access_grid,
    category_missing,
    check_facility_categories,
    select_categories,
    walk_speed,
)
from kmgis.indicators.result import Indicator, Result, no_data
from kmgis.network import DEFAULT_MAX_SNAP_M, Network, Snapped, nearest_distance, snap_points

TABLE = "standards/gb50180_2018"
_INPUTS = ("facilities", "population", "roads")


@dataclass(frozen=True)
class LevelSpec:
    """One life-circle level: its walking time and distance and the categories it requires.

    ``required``: kmgis categories of the "应配建" types (file order of ``facilities.yaml``);
    ``optional``: those of the "宜配建" types (information only); ``not_mapped``: the required types
    kmgis has no category for, each as "名称 (reason)".
    """

    id: str
    zh: str
    en: str
    minutes: float
    distance_m: float
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    not_mapped: tuple[str, ...] = ()
    distance_verified: bool = False
    unverified: tuple[str, ...] = ()  # the level's entries with verified: false (distance, required types)


def _entry_categories(entries: list[dict], where: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The mapped categories (facilities.yaml order) and the not-mapped items of a list of YAML entries."""
    cats, unmapped = [], []
    for e in entries or []:
        if ("category" in e) == ("not_mapped" in e):
            raise KmgisError(f"{TABLE}.yaml {where}: entry {e.get('zh')!r} needs exactly one of category / not_mapped")
        if "source" not in e or "verified" not in e:
            raise KmgisError(f"{TABLE}.yaml {where}: entry {e.get('zh')!r} lacks source / verified")
        if "category" in e:
            cats.append(str(e["category"]))
        else:
            unmapped.append(f"{e['zh']} ({e['not_mapped']})")
    return tuple(select_categories(cats) if cats else []), tuple(unmapped)


def _unverified(lv: dict) -> tuple[str, ...]:
    """What of a level rests on no text that was read: ``distance`` and the required types' names."""
    out = [] if lv["distance"]["verified"] else ["distance"]
    return tuple(out + [str(e["zh"]) for e in lv.get("required") or [] if not e["verified"]])


def _load_levels(table: dict) -> dict[str, LevelSpec]:
    out = {}
    for lid, lv in table["levels"].items():
        required, unmapped = _entry_categories(lv.get("required"), f"levels.{lid}.required")
        optional, _ = _entry_categories(lv.get("optional"), f"levels.{lid}.optional")
        out[str(lid)] = LevelSpec(str(lid), lv["zh"], lv["en"], float(lv["minutes"]), float(lv["distance_m"]),
                                  required, optional, unmapped, bool(lv["distance"]["verified"]), _unverified(lv))
    return out


def _load_groups(table: dict) -> tuple[str, dict[str, float]]:
    speeds = table["walking_speeds"]
    groups = {str(g): float(v["kmh"]) if v.get("kmh") is not None else WALK_KMH
              for g, v in speeds["groups"].items()}
    return str(speeds["level"]), groups


_TABLE = load_layers_yaml(TABLE)
#: the levels of ``layers/standards/gb50180_2018.yaml`` (5min, 10min, 15min), read once at import
LEVELS: Mapping[str, LevelSpec] = MappingProxyType(_load_levels(_TABLE))
_GROUP_LEVEL, _GROUPS = _load_groups(_TABLE)
#: the level reported per population group (``15min``)
GROUP_LEVEL: str = _GROUP_LEVEL
#: walking speed (km/h) per population group (adult = ``layers/speeds.yaml`` walk_kmh)
GROUP_KMH: Mapping[str, float] = MappingProxyType(_GROUPS)
if GROUP_LEVEL not in LEVELS:
    raise KmgisError(f"{TABLE}.yaml walking_speeds.level {GROUP_LEVEL!r}: not a level ({', '.join(LEVELS)})")


def select_levels(levels: Mapping[str, LevelSpec] | Sequence[str] | str | None = None) -> dict[str, LevelSpec]:
    """The levels to report: all of :data:`LEVELS`, a subset by id, or a mapping of your own specs.

    >>> list(select_levels(["15min", "5min"]))
    ['5min', '15min']
    >>> select_levels("15min")["15min"].distance_m
    1000.0
    """
    if levels is None:
        return dict(LEVELS)
    if isinstance(levels, Mapping):
        return dict(levels)
    ids = [levels] if isinstance(levels, str) else list(levels)
    unknown = [i for i in ids if i not in LEVELS]
    if unknown:
        raise KmgisError(f"unknown life-circle level{'s' if len(unknown) > 1 else ''} {unknown}; "
                         f"known: {', '.join(LEVELS)} ({TABLE}.yaml)")
    return {k: v for k, v in LEVELS.items() if k in set(ids)}


def with_distances(distances_m: Mapping[str, float], levels: Mapping[str, LevelSpec] | None = None
                   ) -> dict[str, LevelSpec]:
    """The levels with other walking distances (m), e.g. the strict 800 m of the 15-minute level.

    >>> with_distances({"15min": 800})["15min"].distance_m
    800.0
    """
    specs = select_levels(levels)
    unknown = [k for k in distances_m if k not in specs]
    if unknown:
        raise KmgisError(f"unknown life-circle level{'s' if len(unknown) > 1 else ''} {unknown}; "
                         f"known: {', '.join(specs)}")
    return {k: replace(v, distance_m=float(distances_m[k])) if k in distances_m else v for k, v in specs.items()}


def level_distances(specs: Mapping[str, LevelSpec], walk_kmh: float | None) -> dict[str, float]:
    """Walking distance (m) per level: the standard's, or ``minutes × walk_kmh`` when a speed is given.

    >>> level_distances(select_levels(), None)
    {'5min': 300.0, '10min': 500.0, '15min': 1000.0}
    >>> level_distances(select_levels(["5min"]), 3.6)
    {'5min': 300.0}
    """
    if walk_kmh is None:
        out = {k: float(s.distance_m) for k, s in specs.items()}
    else:
        kmh = walk_speed(walk_kmh)
        out = {k: s.minutes * kmh * 1000.0 / 60.0 for k, s in specs.items()}
    bad = {k: d for k, d in out.items() if not d > 0}
    if bad:
        raise KmgisError(f"life-circle level distances must be positive, got {bad}")
    return out


def _groups(group_kmh: Mapping[str, float] | None, group_level: str, specs: Mapping[str, LevelSpec]
            ) -> dict[str, float]:
    """Walking distance (m) per population group at ``group_level`` (None: :data:`GROUP_KMH`; empty: none)."""
    group_kmh = GROUP_KMH if group_kmh is None else group_kmh
    if not group_kmh:
        return {}
    if group_level not in LEVELS and group_level not in specs:
        raise KmgisError(f"unknown life-circle level {group_level!r} for the groups; known: {', '.join(LEVELS)}")
    minutes = (specs.get(group_level) or LEVELS[group_level]).minutes
    return {g: minutes * walk_speed(kmh) * 1000.0 / 60.0 for g, kmh in group_kmh.items()}


@dataclass(frozen=True)
class _Plan:
    """What one call measures: levels with their distances, groups, the categories and their cut-offs."""

    specs: dict[str, LevelSpec]
    dist: dict[str, float]
    group_level: LevelSpec | None
    groups: dict[str, float]
    max_snap_m: float

    @property
    def categories(self) -> list[str]:
        cats = {c for s in self.specs.values() for c in s.required}
        cats |= set(self.group_level.required if self.group_level and self.groups else ())
        return select_categories(sorted(cats)) if cats else []

    def cutoff(self, cat: str) -> float:
        """The largest distance any level or group measures ``cat`` at (one search per category)."""
        ds = [self.dist[k] for k, s in self.specs.items() if cat in s.required]
        if self.group_level is not None and cat in self.group_level.required:
            ds += list(self.groups.values())
        return max(ds)

    def names(self) -> list[tuple[str, tuple[str, ...], bool]]:
        """Every id this call reports, in order: (id, the categories it measures, whether a complete row)."""
        out = []
        for k, s in self.specs.items():
            out += [(f"level_{k}_{c}_pct", (c,), False) for c in s.required]
            out.append((f"level_{k}_complete_pct", s.required, True))
        if self.group_level is not None:
            out += [(f"level_{self.group_level.id}_complete_{g}_pct", self.group_level.required, True)
                    for g in self.groups]
        return out


def _plan(levels, distance_m, walk_kmh, group_kmh, group_level, max_snap_m) -> _Plan:
    specs = with_distances(distance_m, select_levels(levels)) if distance_m else select_levels(levels)
    if not specs:
        raise KmgisError(f"no life-circle level selected; known: {', '.join(LEVELS)}")
    groups = _groups(group_kmh, group_level, specs)
    glevel = (specs.get(group_level) or LEVELS[group_level]) if groups else None
    return _Plan(specs, level_distances(specs, walk_kmh), glevel, groups, float(max_snap_m))


# --------------------------------------------------------------------------- residents


def _search_text(plan: _Plan) -> str:
    return (f"one multi-source Dijkstra per category over the walk network (cut-off: the largest distance the "
            f"category is measured at); residents and facilities snapped to the nearest edge within "
            f"{plan.max_snap_m:g} m (snap distance walked); residents beyond it count as not covered")


def _no_data_rows(plan: _Plan, scope: str, why: str | None) -> list[Indicator]:
    """Every row ``no data``: ``why`` for all, or (``why`` None) what to supply per category."""
    rows = []
    for name, cats, complete in plan.names():
        if why is None:
            what = ("facilities: supply a facilities layer (OSM via --osm FILE, or a POI table) covering "
                    f"{', '.join(cats)}") if complete else category_missing(cats[0])
        rows.append(no_data(name, "%", scope, why if why is not None else what))
    return rows


def _category_distances(network: Network, targets: Snapped, facilities: gpd.GeoDataFrame, plan: _Plan
                        ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """Walking distance (m) from each resident to the nearest facility of each category; counts per category."""
    dist, info = {}, {}
    for cat in plan.categories:
        pts = facilities[facilities["category"] == cat]
        if len(pts) == 0:
            dist[cat] = np.full(len(targets), np.inf)
            info[cat] = {"facilities": 0, "facilities_unsnapped": 0, "cutoff_m": plan.cutoff(cat)}
            continue
        sources = snap_points(network, pts, plan.max_snap_m)
        dist[cat] = nearest_distance(network, targets, sources, cutoff=plan.cutoff(cat))
        info[cat] = {"facilities": int(len(pts)), "facilities_unsnapped": int((~sources.reached).sum()),
                     "cutoff_m": plan.cutoff(cat)}
    return dist, info


def _absent_note(cats: Sequence[str], info: dict[str, dict]) -> str:
    absent = [c for c in cats if info[c]["facilities"] == 0]
    if not absent:
        return ""
    return (f"; no {', '.join(absent)} mapped in the area; OSM coverage may be incomplete "
            f"({'; '.join(category_missing(c) for c in absent)})")


def _level_rows(spec: LevelSpec, d: float, rule: str, pop: np.ndarray, dist: dict[str, np.ndarray],
                info: dict[str, dict], plan: _Plan, scope: str, base: dict) -> tuple[list[Indicator], np.ndarray]:
    """The rows of one level: each required category, then the complete level; and the residents covered."""
    rows, covered_all = [], np.ones(len(pop), dtype=bool)
    common = base | {"level": spec.id, "distance_m": d, "distance_rule": rule, "minutes": spec.minutes,
                     "distance_verified": spec.distance_verified,
                     "unverified_standard_values": list(spec.unverified)}
    for cat in spec.required:
        within = dist[cat] <= d
        covered_all &= within
        rows.append(Indicator(
            f"level_{spec.id}_{cat}_pct", share_pct(pop, within), "%", scope,
            f"population share within {d:g} m walk ({spec.zh}, {rule}) of the nearest "
            f"{FACILITY_CATEGORIES[cat].get('en', cat)} ({cat}); "
            f"{_search_text(plan)}{_absent_note([cat], info)}", _INPUTS,
            common | info[cat] | {"category": cat, "population_covered": float(pop[within].sum())}))
    rows.append(_complete_row(f"level_{spec.id}_complete_pct", spec, d, rule, pop, covered_all, info, plan,
                              scope, common))
    return rows, covered_all


def _complete_row(name: str, spec: LevelSpec, d: float, rule: str, pop: np.ndarray, covered: np.ndarray,
                  info: dict[str, dict], plan: _Plan, scope: str, common: dict) -> Indicator:
    """Share of residents with every required category of ``spec`` within ``d`` m."""
    if not spec.required:
        return no_data(name, "%", scope, f"level {spec.id}: no required type is mapped to a kmgis category")
    unmapped = f"; not measured (no kmgis category): {'; '.join(spec.not_mapped)}" if spec.not_mapped else ""
    return Indicator(
        name, share_pct(pop, covered), "%", scope,
        f"population share within {d:g} m walk ({spec.zh}, {rule}) of every category the level requires "
        f"({', '.join(spec.required)}){unmapped}; {_search_text(plan)}{_absent_note(spec.required, info)}",
        _INPUTS, common | {"categories": list(spec.required), "not_mapped": list(spec.not_mapped),
                           "categories_absent": [c for c in spec.required if info[c]["facilities"] == 0],
                           "population_covered": float(pop[covered].sum())})


def _group_rows(plan: _Plan, group_kmh: Mapping[str, float], pop: np.ndarray, dist: dict[str, np.ndarray],
                info: dict[str, dict], scope: str, base: dict) -> tuple[list[Indicator], dict[str, np.ndarray]]:
    """``level_<L>_complete_<group>_pct``: the group level with distance = its minutes × the group's speed."""
    spec, rows, flags = plan.group_level, [], {}
    if spec is None:
        return rows, flags
    for group, d in plan.groups.items():
        covered = np.ones(len(pop), dtype=bool)
        for cat in spec.required:
            covered &= dist[cat] <= d
        rule = f"{spec.minutes:g} min at the {group} walking speed {walk_speed(group_kmh[group]):g} km/h"
        common = base | {"level": spec.id, "group": group, "walk_kmh": walk_speed(group_kmh[group]),
                         "distance_m": d, "distance_rule": rule, "minutes": spec.minutes}
        rows.append(_complete_row(f"level_{spec.id}_complete_{group}_pct", spec, d, rule, pop, covered, info,
                                  plan, scope, common))
        flags[f"level_{spec.id}_complete_{group}"] = covered
    return rows, flags


def lifecircle_levels(
    network: Network,
    residents: gpd.GeoDataFrame | None,
    facilities: gpd.GeoDataFrame | None,
    *,
    levels: Mapping[str, LevelSpec] | Sequence[str] | None = LEVELS,
    distance_m: Mapping[str, float] | None = None,
    walk_kmh: float | None = None,
    group_kmh: Mapping[str, float] | None = GROUP_KMH,
    group_level: str = GROUP_LEVEL,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> Result:
    """GB 50180-2018 life-circle levels: coverage per required category (%), complete levels, per group.

    Parameters
    ----------
    network : the walk network (:func:`kmgis.network.build_network`).
    residents : population points (any CRS, float ``population``, persons).
    facilities : the ``facilities`` layer (``category`` column; an unknown category is an error).
    levels : level ids (a subset of :data:`LEVELS`) or specs of your own (:func:`with_distances`).
    distance_m : walking distance (m) per level id replacing the standard's, e.g. ``{"15min": 800}``.
    walk_kmh : None: each level's walking distance (the standard's 300 / 500 / 1,000 m, or
        ``distance_m``); a speed (km/h): distance = the level's minutes × this speed.
    group_kmh : walking speed (km/h) per population group (None: :data:`GROUP_KMH`, adult 4.8,
        elderly 3.6, children 3.168); ``{}``: no group rows.
    group_level : the level reported per group (``15min``: distance = 15 min × the group's speed).
    max_snap_m : maximum snapping distance, m.

    Returns
    -------
    Result: per level ``level_<L>_<category>_pct`` (each required category), ``level_<L>_complete_pct``;
    then ``level_<group_level>_complete_<group>_pct`` per group.  ``per_feature`` (index of
    ``residents``): ``levels_dist_m_<category>`` (m; ``inf`` beyond the category's cut-off or unsnapped,
    NaN without facilities) and booleans ``level_<L>_complete`` / ``level_<L>_complete_<group>``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from kmgis.model import conform
    >>> from kmgis.network import build_network
    >>> roads = conform("roads", gpd.GeoDataFrame({"road_class": ["branch"]}, crs="EPSG:32648",
    ...     geometry=[shapely.LineString([(700000, 2770000), (702000, 2770000)])]).to_crs("EPSG:4326"))
    >>> net = build_network(roads, "walk", "EPSG:32648")
    >>> fac = conform("facilities", gpd.GeoDataFrame({"category": ["kindergarten", "school"]}, crs="EPSG:32648",
    ...     geometry=gpd.points_from_xy([700000, 700000], [2770000, 2770000])).to_crs("EPSG:4326"))
    >>> people = gpd.GeoDataFrame({"population": [10.0, 30.0]}, crs="EPSG:32648",
    ...     geometry=gpd.points_from_xy([700250, 700700], [2770000, 2770000]))
    >>> r = lifecircle_levels(net, people, fac)
    >>> r["level_5min_kindergarten_pct"].value, r["level_10min_school_pct"].value, r["level_15min_school_pct"].value
    (25.0, 25.0, 100.0)
    >>> r["level_15min_complete_pct"].value, r.per_feature["levels_dist_m_school"].round(3).tolist()
    (0.0, [250.0, 700.0])
    """
    plan = _plan(levels, distance_m, walk_kmh, group_kmh, group_level, max_snap_m)
    check_facility_categories(facilities)
    index = residents.index if residents is not None else pd.RangeIndex(0)
    if is_empty_layer(residents):
        return Result(_no_data_rows(plan, "residents", RESIDENTS_MISSING), per_feature=_table(plan, index))
    pop = population_weights(residents)
    scope = residents_scope(pop)
    if not pop.sum() > 0:
        return Result(_no_data_rows(plan, scope, "residents: the population points hold no persons"),
                      per_feature=_table(plan, index))
    if is_empty_layer(facilities):
        return Result(_no_data_rows(plan, scope, None), per_feature=_table(plan, index))
    targets = snap_points(network, resident_xy(residents, network.crs), plan.max_snap_m)
    base = {"max_snap_m": plan.max_snap_m, "resident_points": int(len(pop)),
            "residents_unsnapped": int((~targets.reached).sum()),
            "population_unsnapped": float(pop[~targets.reached].sum()), "standard": "GB 50180-2018"}
    dist, info = _category_distances(network, targets, facilities, plan)
    rows, flags = [], {}
    for lid, spec in plan.specs.items():
        rule = "GB 50180-2018 walking distance" if walk_kmh is None else f"{spec.minutes:g} min at {walk_kmh:g} km/h"
        level_rows, flags[f"level_{lid}_complete"] = _level_rows(spec, plan.dist[lid], rule, pop, dist, info, plan,
                                                                 scope, base)
        rows += level_rows
    group_rows, group_flags = _group_rows(plan, GROUP_KMH if group_kmh is None else group_kmh, pop, dist, info,
                                          scope, base)
    return Result(rows + group_rows, per_feature=_table(plan, index, dist, flags | group_flags))


def _table(plan: _Plan, index: pd.Index, dist: dict[str, np.ndarray] | None = None,
           flags: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Per-resident distances and complete flags (NaN / NA where not computed)."""
    cols: dict[str, pd.Series] = {}
    for cat in plan.categories:
        values = dist[cat] if dist is not None else np.nan
        cols[f"levels_dist_m_{cat}"] = pd.Series(values, index=index, dtype=float)
    names = [f"level_{k}_complete" for k in plan.specs]
    names += [f"level_{plan.group_level.id}_complete_{g}" for g in plan.groups] if plan.group_level else []
    for name in names:
        values = flags[name] if flags is not None else pd.NA
        cols[name] = pd.Series(values, index=index, dtype="boolean")
    return pd.DataFrame(cols, index=index)


# --------------------------------------------------------------------------- gap grid


def level_gap_grid(
    network: Network,
    facilities: gpd.GeoDataFrame | None,
    area: AreaLike,
    crs: pyproj.CRS | str,
    *,
    cell_m: float = 100.0,
    levels: Mapping[str, LevelSpec] | Sequence[str] | None = LEVELS,
    distance_m: Mapping[str, float] | None = None,
    walk_kmh: float | None = None,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> gpd.GeoDataFrame:
    """The gap map: per grid cell and level, the required categories missing within the level's distance.

    Cells and walking minutes come from :func:`kmgis.indicators.lifecircle.access_grid` (``cell_m``
    cells of the metric ``crs``; network distance from each cell's centre; one search per category).

    Parameters
    ----------
    network, facilities, area, crs, cell_m, max_snap_m : as for ``access_grid``.
    levels, distance_m : level ids or specs, and distances (m) replacing theirs, as for :func:`lifecircle_levels`.
    walk_kmh : None: the levels' distances (the minutes columns use ``layers/speeds.yaml``); a
        speed: distance = the level's minutes × this speed.

    Returns
    -------
    GeoDataFrame (WGS84 cells): ``cell_id``, ``walk_min_<category>`` (NaN beyond the largest
    distance, unsnapped, or no facility), and per level ``missing_<L>`` (the required categories
    not within the distance, comma-separated, "" when none is missing) and ``n_missing_<L>``
    (their number); without a facilities layer both are null / NA (no data, not "all missing").
    ``attrs["level_gap_grid"]`` records the levels, distances, types not mapped and the cells
    whose centre did not snap to the network (every type counts as missing there).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from kmgis.model import conform
    >>> from kmgis.network import build_network
    >>> roads = conform("roads", gpd.GeoDataFrame({"road_class": ["branch"]}, crs="EPSG:32648",
    ...     geometry=[shapely.LineString([(700000, 2770050), (701000, 2770050)])]).to_crs("EPSG:4326"))
    >>> net = build_network(roads, "walk", "EPSG:32648")
    >>> fac = conform("facilities", gpd.GeoDataFrame({"category": ["kindergarten"]}, crs="EPSG:32648",
    ...     geometry=gpd.points_from_xy([700030], [2770050])).to_crs("EPSG:4326"))
    >>> area = gpd.GeoSeries([shapely.box(700000, 2770000, 700500, 2770100)], crs="EPSG:32648")
    >>> g = level_gap_grid(net, fac, area, "EPSG:32648", levels=["5min"])  # centres 20 … 420 m away
    >>> g["n_missing_5min"].tolist()
    [4, 4, 4, 5, 5]
    >>> g["missing_5min"].iloc[-1]
    'kindergarten, elderly_care, market, sports, culture'
    """
    specs = with_distances(distance_m, select_levels(levels)) if distance_m else select_levels(levels)
    dists = level_distances(specs, walk_kmh)
    cats = select_categories(sorted({c for s in specs.values() for c in s.required}))
    kmh = walk_speed(walk_kmh)
    grid = access_grid(network, facilities, area, crs, cell_m=cell_m, walk_kmh=kmh, categories=cats,
                       max_m=max(dists.values()), max_snap_m=max_snap_m)
    info = grid.attrs["access_grid"]
    grid = grid.drop(columns=[c for c in grid.columns if c.startswith("complete_")])
    metres_per_min = kmh * 1000.0 / 60.0
    present = not is_empty_layer(facilities)
    for lid, spec in specs.items():
        limit_min = dists[lid] / metres_per_min  # compared in minutes: d / v ≤ D / v exactly when d ≤ D
        within = {c: grid[f"walk_min_{c}"].to_numpy() <= limit_min for c in spec.required}  # NaN: False
        gaps = [[c for c in spec.required if not within[c][i]] for i in range(len(grid))]
        grid[f"missing_{lid}"] = [", ".join(g) for g in gaps] if present else None
        grid[f"n_missing_{lid}"] = pd.array([len(g) for g in gaps] if present else [pd.NA] * len(grid),
                                            dtype="Int64")
    grid = grid[[c for c in grid.columns if c != "geometry"] + ["geometry"]]
    grid.attrs["level_gap_grid"] = {
        "standard": "GB 50180-2018", "levels": list(specs), "distance_m": dists,
        "required": {k: list(s.required) for k, s in specs.items()},
        "not_mapped": {k: list(s.not_mapped) for k, s in specs.items()},
        "cell_m": cell_m, "walk_kmh_minutes": kmh, "max_snap_m": max_snap_m,
        "facilities_layer": "present" if present else "missing",
        "categories_without_facilities": info["categories_without_facilities"],
        "cells_unsnapped": info["cells_unsnapped"], "crs": info["crs"],
    }
    return grid
