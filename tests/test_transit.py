"""Metro stations (GCJ-02 table → WGS84) and rail-station coverage, against independent computations.

Real data: the MetroMan station and line tables of ``../shared/data`` (PROVENANCE §5) and the Kunming
road layer clipped to a box of 五华/盘龙 around 东风广场 (lines 1/2, 3, 4 and 5 meet there).  Residents
are **hand-made**: a grid every 100 m over 3 × 3 km with invented populations.

References share nothing with the engine but the edge list and the points: NetworkX Dijkstra on the
network's edges with its own snapping (STRtree nearest edge, ``line_locate_point``), shapely buffers
drawn by hand, pyproj geodesic distances for the line length.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from kmgis.config import catalog_entry, load_catalog
from kmgis.crs import wgs84_to_gcj02
from kmgis.errors import KmgisError
from kmgis.indicators.transit import metro_network_km, station_coverage
from kmgis.network import build_network
from kmgis.sources import load_layer
from kmgis.sources.osm import read_osm_stations
from kmgis.sources.stations import read_line_sequences, read_station_table

METRIC = "EPSG:32648"
BOX = (102.695, 25.028, 102.735, 25.062)  # WGS84: 五华/盘龙 around 东风广场
CENTRE = (102.715, 25.045)
STATION_CSV = "kunming_metro_stations_metroman_gcj02.csv"
LINES_CSV = "kunming_metro_lines_metroman.csv"


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def raw_table(data_dir) -> pd.DataFrame:
    return pd.read_csv(data_dir / STATION_CSV, dtype={"station_id": str})


@pytest.fixture(scope="module")
def stations(data_dir) -> gpd.GeoDataFrame:
    return load_layer(catalog_entry("kunming_metro_stations"), data_dir)


@pytest.fixture(scope="module")
def lines(data_dir) -> pd.DataFrame:
    return load_layer(catalog_entry("kunming_metro_lines"), data_dir)


@pytest.fixture(scope="module")
def city_roads(data_dir) -> gpd.GeoDataFrame:
    """The road layer over the metro's extent (all 103 stations)."""
    return load_layer(catalog_entry("kunming_roads"), data_dir, clip=shapely.box(102.55, 24.75, 103.0, 25.2))


@pytest.fixture(scope="module")
def central_walk(data_dir):
    x0, y0, x1, y1 = BOX
    roads = load_layer(catalog_entry("kunming_roads"), data_dir, clip=shapely.box(x0 - 0.01, y0 - 0.01, x1 + 0.01,
                                                                                  y1 + 0.01))
    return build_network(roads, "walk", METRIC)


@pytest.fixture(scope="module")
def residents() -> gpd.GeoDataFrame:
    """Hand-made residents: a 31 × 31 grid every 100 m, invented populations 10–46 persons."""
    c = gpd.GeoSeries([shapely.Point(CENTRE)], crs="EPSG:4326").to_crs(METRIC).iloc[0]
    steps = np.arange(-1500.0, 1501.0, 100.0)
    gx, gy = np.meshgrid(steps + c.x, steps + c.y)
    i = np.arange(gx.size)
    return gpd.GeoDataFrame({"population": (10 + (11 * i) % 37).astype(float)},
                            geometry=gpd.points_from_xy(gx.ravel(), gy.ravel()), crs=METRIC).to_crs("EPSG:4326")


@pytest.fixture(scope="module")
def area() -> shapely.Polygon:
    """A 'built-up area' for the test: the residents' square minus a corner (WGS84)."""
    c = gpd.GeoSeries([shapely.Point(CENTRE)], crs="EPSG:4326").to_crs(METRIC).iloc[0]
    sq = shapely.box(c.x - 1550, c.y - 1550, c.x + 1550, c.y + 1550).difference(
        shapely.box(c.x + 600, c.y + 600, c.x + 1600, c.y + 1600))
    return gpd.GeoSeries([sq], crs=METRIC).to_crs("EPSG:4326").iloc[0]


def metric_xy(gdf) -> np.ndarray:
    g = gdf.to_crs(METRIC).geometry
    return np.c_[g.x.to_numpy(), g.y.to_numpy()]


# ----------------------------------------------------------------------------- (a) GCJ-02


def _arterials(roads: gpd.GeoDataFrame) -> np.ndarray:
    return np.asarray(roads[roads["road_class"] == "arterial"].to_crs(METRIC).geometry.values)


@pytest.mark.parametrize("name_zh", ["眠山", "昌源中路", "梁家河", "苏家塘", "小菜园"])
def test_converted_station_lies_on_its_east_west_arterial_and_the_raw_one_south_of_it(raw_table, stations,
                                                                                    city_roads, name_zh):
    """Stations of lines 3 and 4 under east–west arterials (人民西路, 小菜园立交): converted, the point is on
    the road; the raw GCJ-02 number lies ~330 m south of it (and the inverse shift would put it farther)."""
    art = _arterials(city_roads)
    row = raw_table[raw_table["name_zh"] == name_zh].iloc[0]
    raw = gpd.GeoSeries([shapely.Point(row["lon_gcj02"], row["lat_gcj02"])], crs="EPSG:4326").to_crs(METRIC).iloc[0]
    conv = stations[stations["name_zh"] == name_zh].to_crs(METRIC).geometry.iloc[0]
    road = art[shapely.STRtree(art).query_nearest(conv)[0]]
    assert road.distance(conv) < 12.0
    assert road.distance(raw) > 300.0
    on_road = road.interpolate(road.project(conv))
    assert on_road.y - raw.y > 280.0  # the raw point is south of the road, where GCJ-02 shifts it
    wrong_lon, wrong_lat = wgs84_to_gcj02(row["lon_gcj02"], row["lat_gcj02"])  # shifting the wrong way
    wrong = gpd.GeoSeries([shapely.Point(float(wrong_lon), float(wrong_lat))], crs="EPSG:4326").to_crs(METRIC).iloc[0]
    assert road.distance(wrong) > 600.0


def test_all_converted_stations_sit_on_arterials_the_raw_ones_do_not(raw_table, stations, city_roads):
    art = _arterials(city_roads)
    tree = shapely.STRtree(art)
    raw = gpd.GeoSeries(gpd.points_from_xy(raw_table["lon_gcj02"], raw_table["lat_gcj02"]), crs="EPSG:4326")
    d_raw = tree.query_nearest(raw.to_crs(METRIC).values, return_distance=True)[1]
    d_conv = tree.query_nearest(stations.to_crs(METRIC).geometry.values, return_distance=True)[1]
    assert len(stations) == len(raw_table) == 103
    assert np.median(d_conv) < 30.0 and np.median(d_raw) > 150.0  # measured 19 m and 182 m
    assert (d_conv < 50).sum() >= 70 and (d_raw < 50).sum() <= 30  # measured 75 and 21


def test_round_trip_and_offset_size(raw_table, stations):
    x, y = stations.geometry.x.to_numpy(), stations.geometry.y.to_numpy()
    back_x, back_y = wgs84_to_gcj02(x, y)
    assert np.abs(back_x - raw_table["lon_gcj02"].to_numpy()).max() < 1e-7
    assert np.abs(back_y - raw_table["lat_gcj02"].to_numpy()).max() < 1e-7
    geod = pyproj.Geod(ellps="WGS84")
    shift = geod.inv(x, y, raw_table["lon_gcj02"].to_numpy(), raw_table["lat_gcj02"].to_numpy())[2]
    assert shift.min() > 300 and shift.max() < 420  # PROVENANCE: ≈ 145 m east, 330 m south at Kunming
    assert stations["source_id"].tolist() == raw_table["station_id"].tolist()
    assert stations.loc[8, "lines"] == "1号线/2号线;4号线;5号线" and stations.loc[8, "name_zh"] == "火车北站"


# ----------------------------------------------------------------------------- (b) walk distances


def _snap(net, xy: np.ndarray, max_snap_m: float = 250.0) -> pd.DataFrame:
    """Own snapping: the nearest edge (ties: lowest index), the position along it and the distance."""
    pts = shapely.points(xy)
    pi, ei = shapely.STRtree(net.edge_geometry).query(pts, predicate="dwithin", distance=max_snap_m)
    d = shapely.distance(pts[pi], net.edge_geometry[ei])
    best = pd.DataFrame({"point": pi, "edge": ei, "snap": d}).sort_values(["point", "snap", "edge"])
    best = best.drop_duplicates("point").set_index("point")
    best["pos"] = shapely.line_locate_point(net.edge_geometry[best["edge"].to_numpy()], pts[best.index.to_numpy()])
    return best


def nx_walk_m(net, res_xy: np.ndarray, st_xy: np.ndarray) -> np.ndarray:
    """Walking distance (m) from each resident to the nearest station: NetworkX on the same edges."""
    g = nx.Graph()
    for u, v, w in zip(net.edge_u, net.edge_v, net.edge_length_m, strict=True):
        if u != v and (not g.has_edge(u, v) or g[u][v]["w"] > w):
            g.add_edge(int(u), int(v), w=float(w))
    s = _snap(net, st_xy)
    for k, e, snap, pos in zip(s.index, s["edge"], s["snap"], s["pos"], strict=True):
        g.add_edge(("st", k), int(net.edge_u[e]), w=snap + pos)
        g.add_edge(("st", k), int(net.edge_v[e]), w=snap + net.edge_length_m[e] - pos)
    dist = nx.multi_source_dijkstra_path_length(g, [("st", k) for k in s.index], weight="w")
    r = _snap(net, res_xy)
    out = np.full(len(res_xy), np.inf)
    for k, e, snap, pos in zip(r.index, r["edge"], r["snap"], r["pos"], strict=True):
        length = net.edge_length_m[e]
        via = min(dist.get(int(net.edge_u[e]), np.inf) + pos, dist.get(int(net.edge_v[e]), np.inf) + length - pos)
        same = s[s["edge"] == e]
        if len(same):
            via = min(via, float((np.abs(same["pos"] - pos) + same["snap"]).min()))
        out[k] = via + snap
    return out


def test_walk_distances_equal_networkx_on_the_same_edges(central_walk, residents, stations, area):
    res = station_coverage(central_walk, residents, stations, area, METRIC)
    walk = res.per_feature["walk_m_to_station"].to_numpy()
    ref = nx_walk_m(central_walk, metric_xy(residents), metric_xy(stations))
    within = ref <= 800.0
    assert within.sum() > 100 and (~within).sum() > 100  # both sides of the cut-off are exercised
    np.testing.assert_allclose(walk[within], ref[within], atol=1e-6)
    assert np.isinf(walk[~within]).all()
    pop = residents["population"].to_numpy()
    for d in (500.0, 800.0):
        assert res[f"station_{d:g}m_walk_pct"].value == pytest.approx(pop[ref <= d].sum() / pop.sum() * 100, abs=1e-9)
    assert res.per_feature.index.equals(residents.index)


def test_one_search_for_all_stations(central_walk, residents, stations, area, monkeypatch):
    import kmgis.network.search as search

    calls = []
    real = search.dijkstra
    monkeypatch.setattr(search, "dijkstra", lambda *a, **k: calls.append(k.get("indices")) or real(*a, **k))
    station_coverage(central_walk, residents, stations, area, METRIC)
    assert len(calls) == 1  # residents and grid cells both read the one multi-source search


def test_walk_never_exceeds_straight_line_coverage(central_walk, residents, stations, area):
    res = station_coverage(central_walk, residents, stations, area, METRIC)
    pf = res.per_feature
    assert (pf["walk_m_to_station"] >= pf["straight_m_to_station"] - 1e-6).all()
    for d in (500, 800):
        assert res[f"station_{d}m_walk_pct"].value < res[f"station_{d}m_straight_pct"].value
        assert res[f"station_{d}m_walk_area_pct"].value < res[f"station_{d}m_straight_area_pct"].value
    assert res["station_500m_walk_pct"].value < res["station_800m_walk_pct"].value


def test_walked_area_equals_cells_reached_by_networkx(central_walk, stations, area):
    res = station_coverage(central_walk, None, stations, area, METRIC, cell_m=50.0)
    geom = gpd.GeoSeries([area], crs="EPSG:4326").to_crs(METRIC).iloc[0]
    x0, y0, x1, y1 = geom.bounds
    xs = np.arange(np.floor(x0 / 50) * 50, x1, 50.0)
    ys = np.arange(np.floor(y0 / 50) * 50, y1, 50.0)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    cells = shapely.box(gx, gy, gx + 50, gy + 50)
    part = shapely.area(shapely.intersection(cells, geom))
    keep = part > 0
    ref = nx_walk_m(central_walk, np.c_[gx[keep] + 25, gy[keep] + 25], metric_xy(stations))
    for d in (500.0, 800.0):
        expected = part[keep][ref <= d].sum() / geom.area * 100
        assert res[f"station_{d:g}m_walk_area_pct"].value == pytest.approx(expected, rel=1e-9)


# ----------------------------------------------------------------------------- (c) straight lines


def test_straight_line_shares_equal_hand_drawn_buffers(central_walk, residents, stations, area):
    res = station_coverage(central_walk, residents, stations, area, METRIC)
    st = stations.to_crs(METRIC).geometry.values
    pts = residents.to_crs(METRIC).geometry.values
    pop = residents["population"].to_numpy()
    geom = gpd.GeoSeries([area], crs="EPSG:4326").to_crs(METRIC).iloc[0]
    for d in (500.0, 800.0):
        disc = shapely.union_all([p.buffer(d, quad_segs=128) for p in st])
        inside = shapely.contains(disc, pts)
        assert res[f"station_{d:g}m_straight_pct"].value == pytest.approx(pop[inside].sum() / pop.sum() * 100,
                                                                          abs=1e-9)
        hand = disc.intersection(geom).area / geom.area * 100
        row = res[f"station_{d:g}m_straight_area_pct"]
        assert row.value == pytest.approx(hand, rel=2e-4)  # 64 vs 128 segments per quarter circle
        assert abs(row.params["grid_cells_pct"] - hand) < 1.5  # the 50 m cells approximate the exact disc union
    inside_area = shapely.contains_xy(geom, *metric_xy(stations).T).sum()
    assert res["stations_count"].value == inside_area >= 6


def test_catchment_layers_match_the_records(central_walk, residents, stations, area):
    res = station_coverage(central_walk, residents, stations, area, METRIC)
    catch = res.layers["station_catchments"].to_crs(METRIC)
    geom = gpd.GeoSeries([area], crs="EPSG:4326").to_crs(METRIC).iloc[0]
    for _, row in catch.iterrows():
        kind = "walk_area" if row["method"] == "walk" else "straight_area"
        rec = res[f"station_{row['distance_m']:g}m_{kind}_pct"]
        assert row.geometry.area / geom.area * 100 == pytest.approx(rec.value, rel=1e-6)
    st = res.layers["metro_stations"]
    assert 6 < len(st) < 103 and st["inside_area"].sum() == res["stations_count"].value
    assert st.loc[st["inside_area"], "snap_m"].max() < 60


# ----------------------------------------------------------------------------- (d) line length


def test_line_3_length_equals_a_geodesic_hand_sum(lines, stations):
    res = metro_network_km(lines, stations)
    seq = lines.loc[lines["line"] == "3号线", "station_ids"].iloc[0]
    pos = stations.set_index("source_id").geometry
    lon = np.array([pos[i].x for i in seq])
    lat = np.array([pos[i].y for i in seq])
    hand_km = pyproj.Geod(ellps="WGS84").inv(lon[:-1], lat[:-1], lon[1:], lat[1:])[2].sum() / 1000
    line3 = res.layers["metro_lines"].loc[lines.index[lines["line"] == "3号线"][0]]
    assert line3["colour"] == "#D463C6" and res.per_feature is None
    assert line3["km_straight"] == pytest.approx(hand_km, rel=1e-3)  # UTM 48N scale error here ≈ 0.03 %
    assert line3["links"] == 19 and line3["stations"] == 20


def test_network_length_counts_each_link_once_and_rebuilds_the_line1_branch(lines, stations, data_dir):
    res = metro_network_km(lines, stations)
    total = res["metro_line_km_straight"].value
    per_line = res.layers["metro_lines"]
    assert per_line["km_straight"].sum() == pytest.approx(total, rel=1e-12)  # no link shared by two records
    assert per_line.to_crs(METRIC).length.sum() / 1000 == pytest.approx(total, rel=1e-9)
    doubled = pd.concat([lines, lines.assign(line=lines["line"] + "副本")], ignore_index=True)
    assert metro_network_km(doubled, stations)["metro_line_km_straight"].value == pytest.approx(total, rel=1e-12)
    raw = read_line_sequences(data_dir / LINES_CSV)  # no branch rebuild: 大学城南 → 市级行政中心 joined
    xy = stations.set_index("source_id").to_crs(METRIC).geometry
    fake, real = xy["30"].distance(xy["31"]), xy["25"].distance(xy["31"])
    assert fake > 5000 and real < 1500
    raw_km = metro_network_km(raw, stations)["metro_line_km_straight"].value
    assert raw_km - total == pytest.approx((fake - real) / 1000, rel=1e-9)
    assert 140 < total < 238  # a lower bound, far below the plan's 238 km
    assert res["metro_lines_count"].value == 6 and res["metro_lines_count"].params["records"] == 5
    assert res["metro_stations_count"].value == 103
    assert per_line["links"].sum() == res["metro_line_km_straight"].params["links"] == 109


# ----------------------------------------------------------------------------- (e) no data, (f) vocabulary


def test_no_stations_is_no_data_naming_what_to_supply(central_walk, residents, area, lines):
    for empty in (None, load_layer_empty()):
        res = station_coverage(central_walk, residents, empty, area, METRIC)
        assert len(res) == 9 and all(r.status == "no data" for r in res)
        assert all(r.missing.startswith("stations: supply") for r in res)
        assert res.per_feature["walk_m_to_station"].isna().all()
        net = metro_network_km(lines, empty)
        assert [r.status for r in net] == ["no data"] * 3 and "stations" in net[0].missing


def load_layer_empty() -> gpd.GeoDataFrame:
    from kmgis.model import empty_layer

    return empty_layer("stations")


def test_no_lines_no_network_no_area(central_walk, residents, stations, area):
    res = metro_network_km(None, stations)
    assert all(r.status == "no data" and r.missing.startswith("metro_lines") for r in res)
    no_net = station_coverage(None, residents, stations, area, METRIC)
    assert no_net["station_800m_walk_pct"].status == "no data" and no_net["station_800m_straight_pct"].has_value
    assert no_net["station_800m_walk_area_pct"].missing.startswith("network")
    no_area = station_coverage(central_walk, residents, stations, None, METRIC)
    assert no_area["stations_count"].status == "no data" and no_area["station_800m_walk_pct"].has_value


def test_a_station_on_an_unknown_line_is_an_error(lines, stations):
    odd = stations.copy()
    odd.loc[odd["name_zh"] == "金星", "lines"] = "1号线/2号线;7号线"
    with pytest.raises(KmgisError, match=r"line\(s\) \['7号线'\] \(stations \['金星'\]\).*known lines: 1号线/2号线"):
        metro_network_km(lines, odd)
    ok = stations.copy()
    ok.loc[ok["name_zh"] == "金星", "lines"] = "2号线"  # a name inside the record '1号线/2号线' is known
    assert metro_network_km(lines, ok)["metro_lines_count"].value == 6


def test_a_line_station_missing_from_the_layer_is_an_error(lines, stations):
    with pytest.raises(KmgisError, match=r"station id\(s\) \['102'\] .* not in the stations layer"):
        metro_network_km(lines, stations[stations["source_id"] != "102"])


# ----------------------------------------------------------------------------- readers


def test_catalogue_and_reader_errors(tmp_path, data_dir, lines):
    cat = load_catalog()
    assert cat["kunming_metro_stations"].kind == "stations" and cat["kunming_metro_lines"].kind == "metro_lines"
    assert lines.loc[0, "sequences"][1][:2] == ("25", "31")  # the branch leaves at 春融街
    assert lines.loc[0, "sequences"][0][-1] == "30" and len(lines.loc[0, "station_ids"]) == 35
    bad = tmp_path / "dup.csv"
    bad.write_text("station_id,lon,lat\n1,102.7,25.0\n1,102.8,25.1\n", encoding="utf-8")
    with pytest.raises(KmgisError, match=r"station id\(s\) \['1'\] appear more than once"):
        read_station_table(bad, source_id="station_id")
    far = tmp_path / "far.csv"
    far.write_text("lon,lat\n102.7,25.0\n2750000,25.1\n", encoding="utf-8")
    with pytest.raises(KmgisError, match="out-of-range"):
        read_station_table(far)
    with pytest.raises(KmgisError, match=r"branch station\(s\) \['99'\] are not in its sequence"):
        read_line_sequences(data_dir / LINES_CSV, branches={"3号线": {"99": "35"}})
    with pytest.raises(KmgisError, match="unknown line"):
        read_line_sequences(data_dir / LINES_CSV, branches={"9号线": {"1": "0"}})
    clipped = load_layer(catalog_entry("kunming_metro_stations"), data_dir, clip=shapely.box(*BOX))
    assert 5 < len(clipped) < 40 and clipped.crs.to_epsg() == 4326


def test_osm_subway_stations_of_the_helsinki_sample(osm_sample_path):
    st = read_osm_stations(osm_sample_path)
    assert sorted(st["name"]) == ["Helsingin yliopisto", "Rautatientori"]  # not the railway station 'Helsinki'
    assert sorted(st["source_id"]) == ["n418089202", "n418089207"]
    assert list(st.columns) == ["name", "name_zh", "lines", "source_id", "geometry"]
    far = read_osm_stations(osm_sample_path, clip=shapely.box(24.935, 60.165, 24.945, 60.175))
    assert far["name"].tolist() == ["Rautatientori"]


def test_recipe_layers_name_catalogue_stations(tmp_path):
    from kmgis.config import load_recipe

    text = ("id: t\nname: t\nscope: central_city\nunits: [wuhua]\nlayers:\n  roads: kunming_roads\n"
            "  stations: {}\n  metro_lines: kunming_metro_lines\n")
    good = tmp_path / "good.yaml"
    good.write_text(text.format("kunming_metro_stations"), encoding="utf-8")
    assert load_recipe(good).layers.stations == "kunming_metro_stations"
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.format("metro_stations_typo"), encoding="utf-8")
    with pytest.raises(KmgisError, match="layers.stations names 'metro_stations_typo'"):
        load_recipe(bad)


# ----------------------------------------------------------------------------- map layer


def test_map_layers_of_stations_and_catchments(central_walk, residents, stations, area, lines, tmp_path):
    from kmgis.outputs.maps import WebMap
    from kmgis.outputs.transit_map import add_metro_lines, add_station_catchments, add_stations

    res = station_coverage(central_walk, residents, stations, area, METRIC)
    net = metro_network_km(lines, stations)
    st = res.layers["metro_stations"].copy()
    st.loc[0, "name"] = "<b>{{x}}</b>"  # data text must not become markup or a template
    wm = WebMap(shapely.box(*BOX).bounds, tiles="none", title="transit", metric=METRIC)
    add_stations(wm, st, line_colours=dict(zip(lines["line"], lines["colour"], strict=True)))
    groups = add_station_catchments(wm, res.layers["station_catchments"])
    add_metro_lines(wm, net.layers["metro_lines"])
    info = wm.save(tmp_path / "map.html")
    html = info.path.read_text(encoding="utf-8")
    assert len(groups) == 4 and len(info.overlays) == 6
    assert "东风广场" in html and "1号线/2号线;3号线" in html and "#FB0016" in html and "#D463C6" in html
    assert "<b>{{x}}</b>" not in html and "\\u003cb\\u003e" in html
    assert html.count("kmgis.layer(") == 6
