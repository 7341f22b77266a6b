"""Green space indicators: hand-made parks beside real 晋宁 roads, checked against NetworkX and shapely.

Fixtures (all **hand-made**): rectangular parks / green spaces placed beside real roads of the
``jinning_walk`` network (centres in UTM 48N metres, chosen 0–10 m off a road), the
hand-made resident grid of ``test_lifecircle.py`` (invented populations), and hand-drawn
boxes for the ratio / per-person arithmetic.  ``kmgis.population`` is not used.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from test_lifecircle import U_ROADS, make_residents, make_roads, nx_nearest, points_m, xy_of

from kmgis.indicators.greenspace import (
    access_points,
    green_access,
    green_ratio,
    park_access,
    park_per_person,
)
from kmgis.model import conform, empty_layer
from kmgis.network import build_network

METRIC = "EPSG:32648"
WGS84 = "EPSG:4326"

# (name, centre x, centre y, width, height, is a public park) — hand-made, beside real roads
SPACES = [
    ("P1 公园", 264174, 2730317, 120, 80, True),  # 9,600 m²
    ("P2 公园", 265583, 2731374, 100, 60, True),  # 6,000 m²
    ("P3 小游园", 265603, 2731639, 80, 50, True),  # 4,000 m²: under the 0.5 ha park minimum
    ("G4 绿地", 265666, 2730043, 70, 40, False),  # 2,800 m² green
    ("G5 草坪", 264276, 2731510, 15, 20, False),  # 300 m²: under the 400 m² green minimum
    ("P6 公园", 264499, 2730078, 50, 102, True),  # 5,100 m²
    ("P7a 公园西", 265107, 2730992, 60, 50, True),  # 3,000 m² ┐ touching: one 6,000 m² park
    ("P7b 公园东", 265167, 2730992, 60, 50, True),  # 3,000 m² ┘
    ("P8 公园", 266364, 2731845, 90, 70, True),  # 6,300 m²
    ("G9 绿地", 266182, 2732507, 40, 30, False),  # 1,200 m² green
]


def _access(func, *args, **kwargs):
    """An access indicator's record and per-resident distances (m) as an array."""
    res = func(*args, **kwargs)
    return res[0], res.per_feature.iloc[:, 0].to_numpy()


def _one(func, *args, **kwargs):
    """The single record of a one-record indicator result."""
    res = func(*args, **kwargs)
    assert len(res) == 1
    return res[0]


def box_m(cx, cy, w, h) -> shapely.Polygon:
    return shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def layer(kind: str, rows) -> gpd.GeoDataFrame:
    """A model layer (WGS84, conformed) from hand-made metric boxes."""
    geoms = gpd.GeoSeries([box_m(*r[1:5]) for r in rows], crs=METRIC)
    df = gpd.GeoDataFrame({"name": [r[0] for r in rows], "area_m2": geoms.area, "kind": "leisure=park"},
                          geometry=geoms, crs=METRIC)
    return conform(kind, df.to_crs(WGS84))


@pytest.fixture(scope="module")
def parks() -> gpd.GeoDataFrame:
    return layer("parks", [s for s in SPACES if s[5]])


@pytest.fixture(scope="module")
def green() -> gpd.GeoDataFrame:
    return layer("green", SPACES)


@pytest.fixture(scope="module")
def residents() -> gpd.GeoDataFrame:
    return make_residents()


def reference(net, residents, lay, min_area, max_m):
    """Independent per-resident distances: qualifying polygons by shapely area (the touching pair
    unioned by hand), their access points, NetworkX from all access points, 0 inside."""
    geoms = list(lay.to_crs(METRIC).geometry)
    names = list(lay["name"])
    if "P7a 公园西" in names:
        a, b = names.index("P7a 公园西"), names.index("P7b 公园东")
        merged = shapely.union_all([geoms[a], geoms[b]])
        assert merged.geom_type == "Polygon" and merged.area == pytest.approx(6000, rel=1e-6)
        geoms = [g for i, g in enumerate(geoms) if i not in (a, b)] + [merged]
    spaces = [g for g in geoms if g.area >= min_area]
    pts = access_points(gpd.GeoSeries(spaces, crs=METRIC), METRIC, spacing_m=30.0)
    rxy = xy_of(residents)
    d = nx_nearest(net, rxy, xy_of(pts), cutoff=max_m)
    inside = np.array([any(s.intersects(shapely.Point(p)) for s in spaces) for p in rxy])
    d[inside] = 0.0
    return d, spaces, inside


def share(pop, mask) -> float:
    return pop[mask].sum() / pop.sum() * 100


# ----------------------------------------------------------------------------- real network


@pytest.mark.parametrize("what", ["park", "green"])
def test_access_equals_networkx_over_the_same_access_points(jinning_walk, residents, parks, green, what):
    net = jinning_walk
    if what == "park":
        ind, dist = _access(park_access, net, residents, parks)
        d_ref, spaces, inside = reference(net, residents, parks, 5000.0, 500.0)
        assert ind.indicator == "park_500m_pct" and len(spaces) == 5  # P1, P2, P6, P7a+b, P8
        limit = 500.0
    else:
        ind, dist = _access(green_access, net, residents, green)
        d_ref, spaces, inside = reference(net, residents, green, 400.0, 300.0)
        assert ind.indicator == "green_300m_pct" and len(spaces) == 8  # all but G5
        limit = 300.0
    pop = residents["population"].to_numpy()
    assert len(dist) == len(residents)
    assert np.array_equal(np.isfinite(dist), np.isfinite(d_ref))
    fin = np.isfinite(d_ref)
    assert fin.sum() >= 8  # the comparison is not vacuous
    assert np.abs(dist[fin] - d_ref[fin]).max() < 1e-6
    assert ind.value == pytest.approx(share(pop, d_ref <= limit), rel=1e-12)
    assert 0 < ind.value < 30 and ind.unit == "%"
    p = ind.params
    assert p["spaces_counted"] == len(spaces) and p["residents_inside"] == int(inside.sum())
    assert p["spaces_below_min_area"] == 1  # P3 / G5
    assert p["residents_unsnapped"] > 50 and p["resident_points"] == 441
    assert "walking-network distance" in ind.method


def test_one_multi_source_search_for_all_access_points(jinning_walk, residents, parks, monkeypatch):
    import kmgis.indicators.greenspace as gs

    calls = []
    real = gs.nearest_distance

    def counting(net, origins, facilities, **kw):
        calls.append((len(origins), len(facilities), kw.get("cutoff")))
        return real(net, origins, facilities, **kw)

    monkeypatch.setattr(gs, "nearest_distance", counting)
    ind, _ = _access(park_access, jinning_walk, residents, parks)
    assert calls == [(441, ind.params["access_points"], 500.0)]
    assert ind.params["access_points"] > 5 * 8


def test_small_spaces_are_ignored(jinning_walk, residents):
    small_park = layer("parks", [SPACES[2]])  # P3, 4,000 m²
    ind, dist = _access(park_access, jinning_walk, residents, small_park)
    assert ind.value == 0.0 and ind.params["spaces_counted"] == 0 and np.isinf(dist).all()
    assert "no park ≥ 5000 m² in the parks layer" in ind.method
    ind, _ = _access(green_access, jinning_walk, residents, small_park)  # as green it counts (≥ 400 m²)
    assert ind.value > 0 and ind.params["spaces_counted"] == 1
    ind, dist = _access(green_access, jinning_walk, residents, layer("green", [SPACES[4]]))  # G5, 300 m²
    assert ind.value == 0.0 and np.isinf(dist).all()
    ind, _ = _access(park_access, jinning_walk, residents, small_park, min_area_m2=3000.0)
    assert ind.value > 0


# ----------------------------------------------------------------------------- hand-made geometry


def test_green_within_300m_straight_line_but_across_a_river_is_not_covered():
    net = build_network(make_roads(U_ROADS), "walk", METRIC)
    # a 60 × 40 m garden on the north bank, its south edge 10 m from the north road (y = 100)
    garden = gpd.GeoDataFrame({"name": ["garden"]}, geometry=[shapely.box(700070, 2770110, 700130, 2770150)],
                              crs=METRIC).to_crs(WGS84)
    residents = gpd.GeoDataFrame({"population": [80.0, 20.0]}, geometry=points_m([(100, -110), (400, 90)]),
                                 crs=METRIC).to_crs(WGS84)
    straight = residents.to_crs(METRIC).distance(garden.to_crs(METRIC).geometry.iloc[0])
    assert straight.iloc[0] == pytest.approx(220.0, abs=1e-6)  # ≤ 300 m as the crow flies
    ind, dist = _access(green_access, net, residents, conform("green", garden), max_m=300.0)
    assert np.isinf(dist[0])  # around by the bridge: > 2 km
    assert dist[1] == pytest.approx(10 + 270 + 10, abs=1e-6)  # B walks to the garden's SE corner
    assert ind.value == pytest.approx(20.0)
    _, far = _access(green_access, net, residents, conform("green", garden), max_m=5000.0)
    ref = nx_nearest(net, xy_of(residents), xy_of(access_points(garden, METRIC)), cutoff=5000.0)
    assert np.allclose(far, ref, atol=1e-6)
    assert far[0] == pytest.approx(10 + 900 + 200 + 870 + 10, abs=1e-6)  # to the corner (130, 110)


def test_resident_inside_a_park_has_distance_zero():
    net = build_network(make_roads(U_ROADS), "walk", METRIC)
    park = gpd.GeoDataFrame({"name": ["big"]}, geometry=[shapely.box(700200, 2769400, 700300, 2769500)],
                            crs=METRIC).to_crs(WGS84)  # 1 ha, 400 m south of the road: no access point snaps (250 m)
    residents = gpd.GeoDataFrame({"population": [10.0, 30.0]}, geometry=points_m([(250, -550), (250, -90)]),
                                 crs=METRIC).to_crs(WGS84)
    ind, dist = _access(park_access, net, residents, conform("parks", park))
    assert dist[0] == 0.0 and np.isinf(dist[1])
    assert ind.value == pytest.approx(25.0) and ind.params["residents_inside"] == 1
    assert ind.params["access_points_unsnapped"] == ind.params["access_points"]


def test_access_points_sample_the_exterior_and_entrances_replace_them():
    hole = shapely.Polygon(shapely.box(0, 0, 100, 60).exterior.coords, [shapely.box(40, 20, 60, 40).exterior.coords])
    multi = shapely.MultiPolygon([shapely.box(500, 0, 530, 30), shapely.box(600, 0, 610, 10)])
    polys = gpd.GeoSeries([hole, multi, shapely.box(900, 0, 1000, 100)], crs=METRIC)
    pts = access_points(polys, METRIC, spacing_m=30.0)
    counts = pts["polygon"].value_counts().sort_index()
    assert list(counts) == [11, 4 + 2, 14]  # ceil(320/30), ceil(120/30) + ceil(40/30), ceil(400/30)
    assert (pts["kind"] == "boundary").all()
    g0 = pts[pts["polygon"] == 0].geometry
    assert np.allclose(g0.distance(hole.exterior), 0, atol=1e-9)  # on the exterior, never on the hole
    assert g0.distance(hole.interiors[0]).min() > 15
    step = np.diff(shapely.line_locate_point(hole.exterior, g0.values))
    assert np.allclose(step, 320 / 11)
    entrances = gpd.GeoSeries(shapely.points([(50, -5), (100, 30), (2000, 2000)]), crs=METRIC).to_crs(WGS84)
    pts = access_points(polys, METRIC, spacing_m=30.0, entrances=entrances)
    p0 = pts[pts["polygon"] == 0]
    assert len(p0) == 2 and (p0["kind"] == "entrance").all()
    assert len(pts[pts["polygon"] == 2]) == 14
    assert pts.attrs["entrances_unassigned"] == 1


def box_layer(kind, boxes):
    g = gpd.GeoSeries([shapely.box(*b) for b in boxes], crs=METRIC)
    return conform(kind, gpd.GeoDataFrame({"name": [f"#{i}" for i in range(len(boxes))]}, geometry=g,
                                          crs=METRIC).to_crs(WGS84))


# hand-made: a 1 km × 1 km built-up area at (700000, 2770000)
X0, Y0 = 700000, 2770000
BUILT_UP = gpd.GeoSeries([shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)], crs=METRIC)
GREEN_BOXES = [
    (X0 + 100, Y0 + 100, X0 + 200, Y0 + 200),  # A: 10,000 m² inside
    (X0 + 150, Y0 + 100, X0 + 250, Y0 + 200),  # C: overlaps A by half: union adds 5,000
    (X0 + 900, Y0 + 500, X0 + 1100, Y0 + 600),  # B: 20,000 m², half outside: 10,000 inside
    (X0 + 2000, Y0 + 2000, X0 + 2100, Y0 + 2100),  # outside entirely
    (X0 + 500, Y0 + 500, X0 + 510, Y0 + 510),  # 100 m²: tiny, still green land
]


def test_green_ratio_is_union_area_inside_built_up_over_its_area():
    ind = _one(green_ratio, box_layer("green", GREEN_BOXES), BUILT_UP, METRIC)
    expected = (10_000 + 5_000 + 10_000 + 100) / 1_000_000 * 100  # by hand: 2.51 %
    assert ind.indicator == "green_ratio_pct" and ind.unit == "%"
    assert ind.value == pytest.approx(expected, rel=1e-6)
    assert "mapped green ratio" in ind.method and "private green" in ind.method
    assert ind.params["green_polygons_used"] == 4
    # a shapely geometry in WGS84 works as the built-up area too
    ind2 = _one(green_ratio, box_layer("green", GREEN_BOXES), BUILT_UP.to_crs(WGS84).iloc[0], METRIC)
    assert ind2.value == pytest.approx(expected, rel=1e-6)


def test_park_per_person_counts_residents_inside_the_built_up_area():
    parks = box_layer("parks", GREEN_BOXES[:3])
    residents = gpd.GeoDataFrame(
        {"population": [1000.0, 1000.0, 500.0, 9999.0]},
        geometry=gpd.points_from_xy([X0 + 50, X0 + 600, X0 + 999, X0 + 1500], [Y0 + 50, Y0 + 600, Y0 + 999, Y0]),
        crs=METRIC,
    ).to_crs(WGS84)
    ind = _one(park_per_person, parks, BUILT_UP, residents, METRIC)
    assert ind.indicator == "park_m2_per_person" and ind.unit == "m²/person"
    assert ind.value == pytest.approx((10_000 + 5_000 + 10_000) / 2500, rel=1e-6)  # 10 m²/person
    assert ind.params["resident_points_inside"] == 3 and ind.params["residents"] == 2500
    ind = _one(park_per_person, parks, BUILT_UP, residents, METRIC, min_area_m2=16_000)  # A+C merged = 15,000
    assert ind.value == pytest.approx(10_000 / 2500, rel=1e-6)


def test_missing_layers_are_no_data_naming_what_to_supply(jinning_walk, residents, parks):
    for missing in (None, empty_layer("parks")):
        ind, dist = _access(park_access, jinning_walk, residents, missing)
        assert ind.status == "no data" and not ind.has_value
        assert ind.missing.startswith("parks: supply OSM (leisure=park/garden") and "--osm FILE" in ind.missing
        assert np.isnan(dist).all() and len(dist) == len(residents)
        ppp = _one(park_per_person, missing, BUILT_UP, residents, METRIC)
        assert ppp.status == "no data" and ppp.missing.startswith("parks: supply")
    for missing in (None, empty_layer("green")):
        ind, _ = _access(green_access, jinning_walk, residents, missing)
        assert ind.status == "no data" and ind.missing.startswith("green: supply OSM (leisure=park/garden/")
        assert "landuse=grass" in ind.missing
        assert _one(green_ratio, missing, BUILT_UP, METRIC).missing.startswith("green: supply")
    ind, dist = _access(park_access, jinning_walk, None, parks)
    assert ind.status == "no data" and "population points" in ind.missing
    assert _one(green_ratio, box_layer("green", GREEN_BOXES), None, METRIC).missing.startswith("built-up area")
    assert _one(park_per_person, parks, BUILT_UP, None, METRIC).missing.startswith("residents")
