"""Road indicators against independent references.

* real Jinning roads: road density against a plain geopandas clip written here;
* the real Helsinki OSM sample: road density against OSMnx ``basic_stats`` on a graph built
  by OSMnx itself from an OSM XML file written here with pyosmium;
* hand-made geometry (each marked as such) for the divided-carriageway and cross-class
  duplicate rules and for node counts that can be counted by eye;
* real Jinning roads: the cross-class duplicate length against an independent
  recomputation (1 m pieces, geopandas ``dwithin`` join, its own parallel and end tests).
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmium
import osmnx as ox
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, Point, box

from kmgis.config import load_layers_yaml
from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.indicators.junctions import dead_end_share, intersection_density
from kmgis.indicators.road_dedupe import CROSS_CLASS_GAP_M, cross_class_duplicates, divided_carriageway_pairs
from kmgis.indicators.road_layer import city_roads
from kmgis.indicators.roads import road_density
from kmgis.model import conform

METRIC = "EPSG:32648"
ORIGIN = np.array([700000.0, 2770000.0])  # UTM 48N, inside 晋宁

# written independently of road_classes.yaml on purpose: GB/T 51328 city roads
CITY_CLASSES = ["expressway", "arterial", "sub-arterial", "branch"]


def _one(func, *args, **kwargs):
    """The single record of a one-record indicator result."""
    res = func(*args, **kwargs)
    assert len(res) == 1
    return res[0]


def make_roads(lines_m, classes=None, oneway=None, osm_ids=False) -> gpd.GeoDataFrame:
    """A hand-made roads layer (a fixture testing one rule), given in metres near Kunming."""
    geoms = [LineString(np.asarray(c, dtype=float) + ORIGIN) for c in lines_m]
    df = gpd.GeoDataFrame(
        {
            "road_class": classes or ["arterial"] * len(geoms),
            "oneway": pd.array(oneway if oneway is not None else [0] * len(geoms), dtype="Int8"),
        },
        geometry=geoms,
        crs=METRIC,
    )
    if osm_ids:
        df["osm_id"] = np.arange(1, len(geoms) + 1)
    return conform("roads", df.to_crs("EPSG:4326"))


def metric_box(x0, y0, x1, y1) -> gpd.GeoSeries:
    """A hand-made area (box in metres relative to ORIGIN)."""
    return gpd.GeoSeries([box(*(ORIGIN + [x0, y0]), *(ORIGIN + [x1, y1]))], crs=METRIC)


def by_id(records) -> dict:
    return {r.indicator: r for r in records}


# --------------------------------------------------------------------------- divided carriageways
# All fixtures in this section are hand-made: each tests one pairing rule.


def test_antiparallel_one_ways_20m_apart_discount_one():
    roads = make_roads([[(0, 0), (500, 0)], [(500, 20), (0, 20)]], oneway=[1, 1])
    flags = divided_carriageway_pairs(roads, METRIC)
    assert flags.index.equals(roads.index)
    assert flags.tolist() == [False, True]  # equal lengths: the later row is the second carriageway


def test_shorter_carriageway_is_discounted():
    roads = make_roads([[(0, 0), (400, 0)], [(500, 20), (0, 20)]], oneway=[1, 1])
    assert divided_carriageway_pairs(roads, METRIC).tolist() == [True, False]


def test_same_direction_one_ways_are_not_a_pair():
    roads = make_roads([[(0, 0), (500, 0)], [(0, 20), (500, 20)]], oneway=[1, 1])
    assert not divided_carriageway_pairs(roads, METRIC).any()


def test_oneway_minus_one_means_travel_against_the_geometry():
    # both digitised west→east, but the second is oneway=-1: they run in opposite directions
    roads = make_roads([[(0, 0), (500, 0)], [(0, 20), (500, 20)]], oneway=[1, -1])
    assert divided_carriageway_pairs(roads, METRIC).tolist() == [False, True]


def test_two_way_or_unknown_beside_one_way_is_not_a_pair():
    lines = [[(0, 0), (500, 0)], [(500, 20), (0, 20)]]
    assert not divided_carriageway_pairs(make_roads(lines, oneway=[1, 0]), METRIC).any()
    unknown = make_roads(lines, oneway=[1, 1])
    unknown["oneway"] = pd.array([1, None], dtype="Int8")
    assert not divided_carriageway_pairs(unknown, METRIC).any()


def test_pairs_need_the_same_class_and_the_gap():
    lines = [[(0, 0), (500, 0)], [(500, 20), (0, 20)]]
    assert not divided_carriageway_pairs(make_roads(lines, ["arterial", "branch"], [1, 1]), METRIC).any()
    far = [[(0, 0), (500, 0)], [(500, 60), (0, 60)]]
    assert not divided_carriageway_pairs(make_roads(far, oneway=[1, 1]), METRIC).any()
    assert divided_carriageway_pairs(make_roads(far, oneway=[1, 1]), METRIC, max_gap_m=70).sum() == 1


def test_carriageways_split_at_different_places_lose_one_whole_side():
    # side A eastbound in 3 ways (0-100-250-500), side B westbound in 2 ways (500-300-0)
    lines = [
        [(0, 0), (100, 0)],
        [(100, 0), (250, 0)],
        [(250, 0), (500, 0)],
        [(500, 25), (300, 25)],
        [(300, 25), (0, 25)],
    ]
    roads = make_roads(lines, oneway=[1] * 5)
    assert divided_carriageway_pairs(roads, METRIC).tolist() == [False, False, False, True, True]
    recs = by_id(road_density(roads, metric_box(-10, -10, 510, 40), METRIC))
    assert recs["road_length_km"].value == pytest.approx(0.5, rel=1e-9)
    assert recs["road_density_km_per_km2"].params["divided_pairs"] == 1
    assert recs["road_density_km_per_km2"].params["divided_km_discounted"] == pytest.approx(0.5, rel=1e-6)
    no = by_id(road_density(roads, metric_box(-10, -10, 510, 40), METRIC, dedupe_divided=False))
    assert no["road_length_km"].value == pytest.approx(1.0, rel=1e-9)


def test_one_way_roundabout_is_not_a_divided_road():
    # a one-way roundabout (r = 15 m) in 4 ways: its opposite quarters run antiparallel
    # within 40 m but are never parallel at a perpendicular foot point
    ang = np.linspace(0, 2 * np.pi, 65)
    ring = np.column_stack([15 * np.cos(ang), 15 * np.sin(ang)])
    quarters = [ring[i * 16 : i * 16 + 17] for i in range(4)]
    roads = make_roads(quarters, ["branch"] * 4, [1] * 4)
    assert not divided_carriageway_pairs(roads, METRIC).any()


def test_slip_road_beside_its_carriageway_blocks_pairing():
    # eastbound carriageway with a 200 m eastbound slip road 8 m south of it, westbound
    # carriageway 25 m north: the slip road's nearest parallel way runs the same way
    lines = [[(0, 0), (600, 0)], [(600, 25), (0, 25)], [(200, -8), (400, -8)]]
    flags = divided_carriageway_pairs(make_roads(lines, oneway=[1, 1, 1]), METRIC)
    assert flags.tolist() == [False, True, False]


# --------------------------------------------------------------------------- cross-class duplicates
# All fixtures in this section are hand-made: each tests one rule of cross_class_duplicates.


def test_sub_arterial_3m_beside_an_arterial_is_discounted_whole():
    roads = make_roads([[(0, 0), (1000, 0)], [(0, 3), (1000, 3)]], ["arterial", "sub-arterial"])
    dup = cross_class_duplicates(roads, METRIC)
    assert dup.index.equals(roads.index)
    assert dup.iloc[0] == 0.0  # the higher class keeps its length
    assert dup.iloc[1] == pytest.approx(1000.0, abs=0.01)
    # drawn in the opposite direction: the same
    back = make_roads([[(0, 0), (1000, 0)], [(1000, 3), (0, 3)]], ["arterial", "sub-arterial"])
    assert cross_class_duplicates(back, METRIC).iloc[1] == pytest.approx(1000.0, abs=0.01)


def test_cross_class_rows_of_any_order_discount_the_lower_class():
    roads = make_roads([[(0, 3), (1000, 3)], [(0, 0), (1000, 0)]], ["branch", "sub-arterial"])
    assert cross_class_duplicates(roads, METRIC).round(2).tolist() == [1000.0, 0.0]


def test_parallel_line_20m_away_is_a_separate_road():
    roads = make_roads([[(0, 0), (1000, 0)], [(0, 20), (1000, 20)]], ["arterial", "sub-arterial"])
    assert CROSS_CLASS_GAP_M < 20
    assert cross_class_duplicates(roads, METRIC).sum() == 0.0
    # a wider gap finds it
    assert cross_class_duplicates(roads, METRIC, max_gap_m=25).iloc[1] == pytest.approx(1000.0, abs=0.01)


def test_perpendicular_crossing_is_no_duplicate():
    roads = make_roads([[(0, 0), (1000, 0)], [(500, -500), (500, 500)]], ["arterial", "sub-arterial"])
    assert cross_class_duplicates(roads, METRIC).sum() == 0.0


def test_branch_alongside_for_400m_of_its_1km():
    step = 10.0
    # (a) overlapping end to end: the branch runs 600 m west of the arterial's end, then
    # 400 m beside it, 3 m away (beyond the arterial's end the foot point is its end)
    a = make_roads([[(0, 0), (1000, 0)], [(-600, 3), (400, 3)]], ["arterial", "branch"])
    # (b) 400 m beside it, then bends away at 45°
    bend = (400 + 600 / math.sqrt(2), 3 + 600 / math.sqrt(2))
    b = make_roads([[(0, 0), (1000, 0)], [(0, 3), (400, 3), bend]], ["arterial", "branch"])
    for roads in (a, b):
        dup = cross_class_duplicates(roads, METRIC, sample_m=step)
        assert dup.iloc[0] == 0.0
        assert dup.iloc[1] == pytest.approx(400.0, abs=step)


def test_equal_classes_and_paths_are_not_cross_class_duplicates():
    same = make_roads([[(0, 0), (1000, 0)], [(0, 3), (1000, 3)]], ["sub-arterial"] * 2)
    assert cross_class_duplicates(same, METRIC).sum() == 0.0  # the divided-carriageway rule's job
    sidewalk = make_roads([[(0, 0), (1000, 0)], [(0, 3), (1000, 3)]], ["branch", "path"])
    assert cross_class_duplicates(sidewalk, METRIC).sum() == 0.0


def test_cross_class_bad_parameters():
    roads = make_roads([[(0, 0), (1000, 0)], [(0, 3), (1000, 3)]], ["arterial", "branch"])
    for kw in ({"max_gap_m": 0}, {"parallel_deg": 90}, {"sample_m": -1}):
        with pytest.raises(KmgisError):
            cross_class_duplicates(roads, METRIC, **kw)


def test_road_density_counts_a_road_in_two_class_layers_once():
    roads = make_roads([[(0, 0), (1000, 0)], [(0, 3), (1000, 3)]], ["arterial", "sub-arterial"])
    area = metric_box(-10, -10, 1010, 20)
    recs = by_id(road_density(roads, area, METRIC))
    total = recs["road_density_km_per_km2"]
    p = total.params
    assert recs["road_length_km"].value == pytest.approx(1.0, abs=1e-5)
    assert p["length_before_dedupe_km"] == pytest.approx(2.0, rel=1e-9)
    assert p["length_after_dedupe_km"] == recs["road_length_km"].value
    assert p["cross_class_km_discounted"] == pytest.approx(1.0, abs=1e-5)
    assert p["cross_class_km_discounted_sub_arterial"] == pytest.approx(1.0, abs=1e-5)
    assert p["cross_class_km_discounted_arterial"] == 0.0
    assert p["cross_class_gap_m"] == CROSS_CLASS_GAP_M
    assert recs["road_density_sub_arterial_km_per_km2"].value == pytest.approx(0.0, abs=1e-3)
    assert "same road digitised twice" in total.method
    off = by_id(road_density(roads, area, METRIC, dedupe_cross_class=False))
    assert off["road_length_km"].value == pytest.approx(2.0, rel=1e-9)
    assert "counts twice" in off["road_density_km_per_km2"].method
    # only the part inside the area is discounted (to within a sample)
    half = by_id(road_density(roads, metric_box(-10, -10, 500, 20), METRIC))
    assert half["road_density_km_per_km2"].params["cross_class_km_discounted"] == pytest.approx(0.5, abs=0.01)
    assert half["road_length_km"].value == pytest.approx(0.5, abs=0.01)
    # a wider gap is a parameter: 20 m apart counts twice by default, once with 25 m
    far = make_roads([[(0, 0), (1000, 0)], [(0, 20), (1000, 20)]], ["arterial", "sub-arterial"])
    box40 = metric_box(-10, -10, 1010, 40)
    assert by_id(road_density(far, box40, METRIC))["road_length_km"].value == pytest.approx(2.0)
    wide = by_id(road_density(far, box40, METRIC, cross_class_gap_m=25))
    assert wide["road_length_km"].value == pytest.approx(1.0, abs=1e-5)


# --------------------------------------------------------------------------- intersections, dead ends
# Hand-made grid: 3 east-west and 3 north-south streets 100 m apart, each running 50 m past
# the outer streets.  9 crossings of 4 segments, 12 dead ends, by eye.


def grid_roads() -> gpd.GeoDataFrame:
    lines = [[(-50, y), (0, y), (100, y), (200, y), (250, y)] for y in (0, 100, 200)]
    lines += [[(x, -50), (x, 0), (x, 100), (x, 200), (x, 250)] for x in (0, 100, 200)]
    return make_roads(lines, ["branch"] * 6, osm_ids=True)  # OSM-like: nodes at shared vertices


def test_grid_intersection_density_and_dead_ends():
    roads, area = grid_roads(), metric_box(-60, -60, 260, 260)  # 0.1024 km²
    ind = _one(intersection_density, roads, area, METRIC)
    assert ind.indicator == "intersection_density_per_km2"
    assert ind.params["intersections"] == 9
    assert ind.value == pytest.approx(9 / 0.1024)
    dead = _one(dead_end_share, roads, area, METRIC)
    assert dead.indicator == "dead_end_share_pct"
    assert dead.params["dead_ends"] == 12
    assert dead.value == pytest.approx(100 * 12 / 21)
    # the centre block only: 1 crossing inside 0.01 km², no dead end
    inner = metric_box(50, 50, 150, 150)
    assert _one(intersection_density, roads, inner, METRIC).value == pytest.approx(100.0)
    assert _one(dead_end_share, roads, inner, METRIC).value == 0.0


def test_consolidation_merges_nodes_and_counts_segments_leaving_the_cluster():
    roads, area = grid_roads(), metric_box(-60, -60, 260, 260)
    # 150 m: all 9 crossings are one junction; 12 segments leave it (36 ends - 2 x 12 inside)
    one = _one(intersection_density, roads, area, METRIC, consolidate_m=150)
    assert one.params["intersections"] == 1
    assert one.params["junction_clusters"] == 1
    # a staggered junction: two T-junctions 8 m apart on a through street
    stag = make_roads(
        [[(-100, 0), (0, 0), (8, 0), (100, 0)], [(0, 0), (0, 100)], [(8, 0), (8, -100)]],
        ["branch"] * 3,
        osm_ids=True,
    )
    a = metric_box(-120, -120, 120, 120)
    assert _one(intersection_density, stag, a, METRIC, consolidate_m=0).params["intersections"] == 2
    assert _one(intersection_density, stag, a, METRIC, consolidate_m=10).params["intersections"] == 1
    dead = _one(dead_end_share, stag, a, METRIC, consolidate_m=10)
    assert (dead.params["dead_ends"], dead.params["intersections"]) == (4, 1)


# --------------------------------------------------------------------------- Jinning (real data)


@pytest.fixture(scope="module")
def jinning_area(jinning_boundary: gpd.GeoDataFrame) -> tuple[shapely.Geometry, shapely.Geometry]:
    """Jinning ∩ 3 km around its seat (layers/seats.yaml): (WGS84 polygon, EPSG:32648 polygon)."""
    seat = load_layers_yaml("seats")["seats"]["jinning"]
    pt = gpd.GeoSeries([Point(seat["lon"], seat["lat"])], crs="EPSG:4326").to_crs(METRIC).iloc[0]
    unit = jinning_boundary.to_crs(METRIC).union_all()
    metric = unit.intersection(pt.buffer(3000, quad_segs=32))
    return gpd.GeoSeries([metric], crs=METRIC).to_crs("EPSG:4326").iloc[0], metric


def test_city_roads_classes(jinning_roads):
    city = city_roads(jinning_roads)
    assert set(city["road_class"]) == {"arterial", "sub-arterial", "branch"}
    assert set(city_roads(jinning_roads, include_internal=True)["road_class"]) == set(city["road_class"]) | {
        "internal"
    }


def independent_cross_class_km(
    roads_m: gpd.GeoDataFrame, area_m: shapely.Geometry, gap_m: float, parallel_deg: float = 30.0
) -> tuple[float, dict[str, float]]:
    """Cross-class duplicate length (km) inside ``area_m``, recomputed without kmgis.

    The lower-class lines clipped to the area (geopandas ``clip``) are cut into ~1 m
    pieces (``shapely.segmentize``); a piece is a duplicate when a line of a higher class
    (GB/T 51328 order, written here) lies within ``gap_m`` of its midpoint (geopandas
    ``sjoin`` ``dwithin`` on that line's straight segments), nearer than either of that
    line's end points (its nearest point is not an end), and the segment of that line
    nearest to the midpoint is parallel to the piece (within ``parallel_deg``).
    Returns (total km, km per class).
    """
    rank = {"expressway": 0, "arterial": 1, "sub-arterial": 2, "branch": 3}
    roads_m = roads_m[roads_m["road_class"].isin(rank)].reset_index(drop=True)
    r = roads_m["road_class"].map(rank).to_numpy()
    xy, idx = shapely.get_coordinates(roads_m.geometry.values, return_index=True)
    same = idx[1:] == idx[:-1]
    segs = gpd.GeoDataFrame(
        {"line": idx[:-1][same], "rank": r[idx[:-1][same]]},
        geometry=shapely.linestrings(np.stack([xy[:-1][same], xy[1:][same]], axis=1)),
        crs=roads_m.crs,
    )
    segs = segs[segs.length > 0]
    low = gpd.clip(roads_m[r > r.min()], gpd.GeoSeries([area_m], crs=roads_m.crs)).explode(index_parts=False)
    low = low[low.geom_type == "LineString"]
    pxy, pidx = shapely.get_coordinates(shapely.segmentize(low.geometry.values, 1.0), return_index=True)
    same = pidx[1:] == pidx[:-1]
    a, b = pxy[:-1][same], pxy[1:][same]
    plen = np.hypot(*(b - a).T)
    pieces = gpd.GeoDataFrame(
        {
            "cls": low["road_class"].to_numpy()[pidx[:-1][same]],
            "len": plen,
            "dx": (b - a)[:, 0] / plen,
            "dy": (b - a)[:, 1] / plen,
        },
        geometry=shapely.points((a + b) / 2),
        crs=roads_m.crs,
    )
    pieces["rank"] = pieces["cls"].map(rank)
    j = gpd.sjoin(pieces, segs, predicate="dwithin", distance=gap_m, lsuffix="p", rsuffix="s")
    j = j[j["rank_s"] < j["rank_p"]]
    j["d"] = shapely.distance(j.geometry.values, segs.geometry.loc[j["index_s"]].values)
    j = j.sort_values("d").reset_index(names="piece").drop_duplicates(["piece", "line"])
    line_geom = roads_m.geometry.values[j["line"].to_numpy()]
    ends = np.minimum(
        shapely.distance(j.geometry.values, shapely.get_point(line_geom, 0)),
        shapely.distance(j.geometry.values, shapely.get_point(line_geom, -1)),
    )
    j = j[j["d"].to_numpy() < ends - 1e-6]
    sxy = shapely.get_coordinates(segs.geometry.loc[j["index_s"]].values).reshape(-1, 2, 2)
    sv = sxy[:, 1] - sxy[:, 0]
    cos = (j["dx"].to_numpy() * sv[:, 0] + j["dy"].to_numpy() * sv[:, 1]) / np.hypot(sv[:, 0], sv[:, 1])
    dup = j.loc[np.abs(cos) >= math.cos(math.radians(parallel_deg)), "piece"].unique()
    per = pieces.loc[dup].groupby("cls")["len"].sum() / 1000
    return float(per.sum()), per.to_dict()


def test_jinning_road_density_matches_a_plain_clip(jinning_roads, jinning_area):
    area_wgs, area_m = jinning_area
    recs = by_id(road_density(jinning_roads, area_wgs, METRIC))
    off = by_id(road_density(jinning_roads, area_wgs, METRIC, dedupe_cross_class=False))
    total, total_off = recs["road_density_km_per_km2"], off["road_density_km_per_km2"]
    p = total.params
    area_km2 = area_m.area / 1e6

    # (1) without the cross-class discount: a plain geopandas clip in EPSG:32648
    lines = jinning_roads[jinning_roads["road_class"].isin(CITY_CLASSES)].to_crs(METRIC)
    clipped_km = gpd.clip(lines, gpd.GeoSeries([area_m], crs=METRIC)).length.sum() / 1000
    assert total_off.value == pytest.approx(clipped_km / area_km2, rel=0.01)
    assert total_off.value > 0
    # (2) with it (the default): the plain clip less an independent recomputation of the
    # cross-class duplicates (1 m pieces; kmgis samples every 10 m)
    dup_km, dup_by_class = independent_cross_class_km(lines, area_m, p["cross_class_gap_m"])
    print(
        f"Jinning seat area {area_km2:.3f} km²: kmgis {total.value:.4f} km/km² "
        f"({total_off.value:.4f} without the cross-class discount), clip {clipped_km / area_km2:.4f}; "
        f"cross-class duplicates within {p['cross_class_gap_m']:g} m: "
        f"kmgis {p['cross_class_km_discounted']:.3f} km, "
        f"independent {dup_km:.3f} km of {clipped_km:.3f} km"
    )
    assert total.value == pytest.approx((clipped_km - dup_km) / area_km2, rel=0.01)
    assert p["cross_class_km_discounted"] == pytest.approx(dup_km, rel=0.03)
    for c, km in dup_by_class.items():
        assert p[f"cross_class_km_discounted_{c.replace('-', '_')}"] == pytest.approx(km, rel=0.03)
    assert p["cross_class_km_discounted_arterial"] == 0.0  # the highest class present keeps its length
    # the discount is real, lowers the density by exactly itself, and per class
    assert p["cross_class_km_discounted"] > 0
    assert total.value < total_off.value
    assert total.value == pytest.approx(total_off.value - p["cross_class_km_discounted"] / area_km2, rel=1e-9)
    assert recs["road_length_km"].value == pytest.approx(
        off["road_length_km"].value - p["cross_class_km_discounted"], rel=1e-9
    )
    assert p["length_before_dedupe_km"] == pytest.approx(off["road_length_km"].value, rel=1e-9)
    assert p["length_after_dedupe_km"] == recs["road_length_km"].value

    for r in (recs, off):
        per_class = {
            k: rec.value for k, rec in r.items() if k not in ("road_density_km_per_km2", "road_length_km")
        }
        assert set(per_class) == {
            "road_density_arterial_km_per_km2",
            "road_density_sub_arterial_km_per_km2",
            "road_density_branch_km_per_km2",
        }
        assert sum(per_class.values()) == pytest.approx(r["road_density_km_per_km2"].value, rel=1e-9)
    # the Kunming layer has no oneway: nothing can be paired, and the method says so
    assert p["divided_ways_discounted"] == 0
    assert p["oneway_unknown_share_pct"] == 100.0
    assert "count twice" in total.method
    assert "same road digitised twice" in total.method
    # internal roads raise the density when asked for
    with_internal = by_id(road_density(jinning_roads, area_wgs, METRIC, include_internal=True))
    assert with_internal["road_density_km_per_km2"].value > total.value
    assert "road_density_internal_km_per_km2" in with_internal


def test_jinning_intersections_and_dead_ends(jinning_roads, jinning_boundary, jinning_area):
    area_wgs, _ = jinning_area
    counts = {}
    for name, area in (("seat area", area_wgs), ("unit", jinning_boundary)):
        ind = {c: _one(intersection_density, jinning_roads, area, METRIC, consolidate_m=c) for c in (0, 10, 30)}
        dead = _one(dead_end_share, jinning_roads, area, METRIC)
        print(
            f"Jinning {name}: {ind[10].value:.2f} intersections/km² "
            f"({ind[10].params['intersections']} consolidated within 10 m; {ind[0].params['intersections']} "
            f"unconsolidated; {ind[30].params['intersections']} within 30 m), dead ends {dead.value:.1f} %"
        )
        assert ind[10].value > 0
        assert 0 < dead.value < 100
        counts[name] = {c: r.params["intersections"] for c, r in ind.items()}
    # junctions of this layer are rarely split into nearby nodes (coordinates are rounded to
    # 1e-4°, divided roads are single lines): 10 m merges few of them, 30 m more
    for c in counts.values():
        assert c[30] < c[10] <= c[0]
    assert counts["unit"][10] < counts["unit"][0]


def test_missing_inputs_give_no_data(jinning_roads, jinning_area):
    area_wgs, _ = jinning_area
    empty = jinning_roads.iloc[0:0]
    for rec in road_density(empty, area_wgs, METRIC):
        assert not rec.has_value and rec.missing == "roads"
    only_internal = jinning_roads[jinning_roads["road_class"] == "internal"]
    rec = _one(intersection_density, only_internal, area_wgs, METRIC)
    assert not rec.has_value and "city-road classes" in rec.missing
    assert _one(dead_end_share, None, area_wgs, METRIC).missing == "roads"
    assert road_density(jinning_roads, None, METRIC)[0].missing == "built-up area polygon"


# --------------------------------------------------------------------------- Helsinki vs OSMnx (real OSM)


def write_city_road_xml(pbf: Path, out: Path) -> int:
    """OSM XML of the city-road ``highway`` ways of ``pbf`` and their nodes (pyosmium).

    The highway values come from road_classes.yaml (classes with ``city_road: true``),
    closed ``area=yes`` ways are left out, as the kmgis reader does.  Ways cut by the
    extract keep the nodes the file has; each run of ≥ 2 present nodes is written as
    one way (extra runs get new ids), which is what the kmgis reader makes of them.
    Returns the number of ways written.
    """
    rc = load_layers_yaml("road_classes")
    city = {c for c, spec in rc["classes"].items() if spec["city_road"]}
    highways = {h for h, c in rc["osm_highway"].items() if c in city}
    ways = []
    for w in osmium.FileProcessor(str(pbf), osmium.osm.WAY):
        if w.tags.get("highway") not in highways:
            continue
        refs = [n.ref for n in w.nodes]
        if refs[0] == refs[-1] and w.tags.get("area") in ("yes", "true", "1"):
            continue
        tags = {k: w.tags[k] for k in ("highway", "oneway", "junction", "name") if k in w.tags}
        ways.append((w.id, refs, tags))
    need = {r for _, refs, _ in ways for r in refs}
    loc = {
        n.id: (n.location.lon, n.location.lat)
        for n in osmium.FileProcessor(str(pbf), osmium.osm.NODE)
        if n.id in need and n.location.valid()
    }
    writer = osmium.SimpleWriter(str(out))
    for nid in sorted(loc):
        writer.add_node(osmium.osm.mutable.Node(id=nid, location=loc[nid], version=1))
    written, next_id = 0, 10**12
    for wid, refs, tags in ways:
        runs, run = [], []
        for r in [*refs, None]:
            if r is not None and r in loc:
                run.append(r)
                continue
            if len(run) >= 2:
                runs.append(run)
            run = []
        for k, nodes in enumerate(runs):
            writer.add_way(
                osmium.osm.mutable.Way(
                    id=wid if k == 0 else next_id + written, nodes=nodes, tags=tags, version=1
                )
            )
            written += 1
    writer.close()
    return written


def test_helsinki_road_density_vs_osmnx(osm_sample_path, tmp_path):
    """kmgis road density vs OSMnx ``street_density_km`` on the real Helsinki sample.

    Same roads on both sides: OSMnx builds its graph itself from an OSM XML file holding
    only the city-road ways (written with pyosmium), kmgis reads the PBF.  Over the
    extract's bounding box (area A, km²) the numbers differ by four terms:

    1. units: OSMnx's ``street_density_km`` is metres per km²; ÷ 1000 for km/km²;
    2. what counts: OSMnx counts each edge of the *undirected* graph once, so each OSM
       way once (two-way ways as one street, the two one-way ways of a dual carriageway
       twice).  kmgis without de-duplication counts each way once too: the great-circle
       length of kmgis's geometry equals OSMnx's ``street_length_total`` exactly, and
       the only difference left is the length metric (OSMnx: great circle on a sphere of
       radius 6,371,009 m; kmgis: the UTM plane, ~0.25 % longer here) — within 0.5 %;
    3. kmgis discounts the second carriageway of divided roads: lower by exactly the
       discounted km ÷ A;
    4. kmgis clips lines to the area, OSMnx counts whole edges.  Over the extent of the
       extract nothing sticks out (ways cut by the extract keep only the nodes it has),
       so this term is 0 there; over an inner area it is the whole length of the ways
       touching the area minus their clipped length;
    5. kmgis discounts lower-class lines running within the cross-class gap of, and
       parallel to, a higher-class line (a road digitised in two class layers): lower by
       exactly the discounted km ÷ A.  OSM draws each street once, so this is small here
       (where streets meet at a small angle).
    """
    xml = tmp_path / "helsinki_city_roads.osm"
    n_ways = write_city_road_xml(osm_sample_path, xml)
    graph = ox.graph_from_xml(xml, simplify=True, retain_all=True)
    # graph_from_xml does not add street_count (graph_from_polygon etc. do); basic_stats needs it
    nx.set_node_attributes(graph, ox.stats.count_streets_per_node(graph), "street_count")

    from kmgis.sources.osm import read_osm_file

    roads = read_osm_file(osm_sample_path, layers=("roads",))["roads"]
    city = city_roads(roads)
    assert len(city) == n_ways  # the same ways on both sides
    crs = metric_crs(roads)
    header_box = osmium.io.Reader(str(osm_sample_path)).header().box()
    extent = box(
        header_box.bottom_left.lon,
        header_box.bottom_left.lat,
        header_box.top_right.lon,
        header_box.top_right.lat,
    )
    area_m2 = gpd.GeoSeries([extent], crs="EPSG:4326").to_crs(crs).area.iloc[0]
    area_km2 = area_m2 / 1e6

    osmnx_m_per_km2 = ox.stats.basic_stats(graph, area=area_m2)["street_density_km"]
    osmnx_km = ox.stats.street_length_total(ox.convert.to_undirected(graph)) / 1000

    # (2) each way once on both sides: great-circle length of kmgis geometry == OSMnx
    xy, part = shapely.get_coordinates(city.geometry.values, return_index=True)
    same = part[1:] == part[:-1]
    gc_km = (
        ox.distance.great_circle(xy[:-1, 1][same], xy[:-1, 0][same], xy[1:, 1][same], xy[1:, 0][same]).sum()
        / 1000
    )
    assert gc_km == pytest.approx(osmnx_km, rel=1e-9)

    raw = by_id(road_density(roads, extent, crs, dedupe_divided=False, dedupe_cross_class=False))
    dedup = by_id(road_density(roads, extent, crs))
    kmgis_raw = raw["road_density_km_per_km2"].value
    kmgis = dedup["road_density_km_per_km2"].value
    p = dedup["road_density_km_per_km2"].params
    whole_km = p["length_whole_ways_km"]
    metric_term = whole_km / area_km2 - osmnx_m_per_km2 / 1000
    clip_term = (whole_km - raw["road_length_km"].value) / area_km2
    divided_term = p["divided_km_discounted"] / area_km2
    cross_term = p["cross_class_km_discounted"] / area_km2

    # inner area 200 m inside the extent: clipping now matters
    inner = gpd.GeoSeries([extent], crs="EPSG:4326").to_crs(crs).buffer(-200).to_crs("EPSG:4326").iloc[0]
    inner_raw = by_id(road_density(roads, inner, crs, dedupe_divided=False, dedupe_cross_class=False))
    inner_clip_km = inner_raw["road_length_km"].value
    inner_whole_km = inner_raw["road_density_km_per_km2"].params["length_whole_ways_km"]

    print(
        f"\nHelsinki extent {area_km2:.4f} km², {crs.to_string()}, {n_ways} city-road ways\n"
        f"  osmnx street_density_km            {osmnx_m_per_km2:10.3f} m/km²  (= {osmnx_m_per_km2 / 1000:.4f} km/km²)\n"
        f"  (2) length metric UTM vs sphere    {metric_term:+10.4f} km/km²  ({whole_km:.4f} vs {osmnx_km:.4f} km)\n"
        f"  (4) clipping to the extent         {-clip_term:+10.4f} km/km²\n"
        f"  = kmgis without dedupe             {kmgis_raw:10.4f} km/km²\n"
        f"  (3) divided carriageways           {-divided_term:+10.4f} km/km²  ({p['divided_pairs']} pairs, "
        f"{p['divided_ways_discounted']} ways, {p['divided_km_discounted']:.3f} km)\n"
        f"  (5) cross-class duplicates         {-cross_term:+10.4f} km/km²  "
        f"({p['cross_class_km_discounted']:.3f} km "
        f"within {p['cross_class_gap_m']:g} m)\n"
        f"  = kmgis road_density_km_per_km2    {kmgis:10.4f} km/km²\n"
        f"  inner area (200 m in): whole ways {inner_whole_km:.3f} km, clipped {inner_clip_km:.3f} km"
    )
    # (1) + (2): whole ways, no dedupe == osmnx / 1000 within 0.5 %
    assert whole_km / area_km2 == pytest.approx(osmnx_m_per_km2 / 1000, rel=0.005)
    # (4) nothing sticks out of the extent; inside it clipping removes length
    assert clip_term == pytest.approx(0.0, abs=1e-9)  # km/km²
    assert inner_clip_km < inner_whole_km
    # (3) + (5) the de-duplicated density is lower by exactly the discounted km
    assert p["divided_pairs"] > 0
    assert kmgis == pytest.approx(kmgis_raw - divided_term - cross_term, rel=1e-9)
    assert kmgis == pytest.approx(
        osmnx_m_per_km2 / 1000 + metric_term - clip_term - divided_term - cross_term, rel=1e-9
    )
    assert p["length_before_dedupe_km"] - p["divided_km_discounted"] == pytest.approx(
        p["length_before_cross_class_km"], rel=1e-9
    )
    # OSM streets are drawn once: the cross-class discount is small (< 1 % of the length)
    assert 0 <= p["cross_class_km_discounted"] < 0.01 * raw["road_length_km"].value
    # the discounted side is about half of the paired one-way length (the two carriageways)
    paired_km = p["divided_km_discounted"]
    assert 0 < paired_km < 0.25 * raw["road_length_km"].value
    assert not math.isnan(kmgis)
