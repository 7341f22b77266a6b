"""The metropolitan one-hour circle: recipes/metro.yaml on the real Kunming road layer, the member
table and its data warning, drive times between county seats against NetworkX, the OSM path through
the same workflow, `kmgis isochrone`, and the member-table maths (kmgis.indicators.metro) on a
hand-made network."""

from __future__ import annotations

import itertools
import json
import re
import time
from types import SimpleNamespace

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml

from kmgis.config import PROJECT_ROOT, load_layers_yaml
from kmgis.errors import KmgisError
from kmgis.indicators import isochrones as iso
from kmgis.indicators import metro as metro_ind
from kmgis.network import build_network, node_distances, point_distances, snap_nodes, snap_points
from kmgis.outputs.metro_map import BEYOND_COLOUR, ISO_COLOURS, NO_TIME_COLOUR
from kmgis.outputs.travel_times import write_metro
from kmgis.workflows.metro import run_metro

RECIPE = PROJECT_ROOT / "recipes" / "metro.yaml"
ONE_HOUR = ["wuhua", "panlong", "xishan", "guandu", "chenggong", "jinning", "anning", "songming", "fumin",
            "yiliang", "xundian", "shilin", "mile", "hongta", "chengjiang"]


def _run_metro(path, data, out_root) -> SimpleNamespace:
    """run_metro, then write_metro (tiles none): the results with the folder and files written."""
    res = run_metro(path, data, progress=False)
    written = write_metro(res, out_root, tiles="none", pdf=False)  # tests/test_report.py prints PDFs
    return SimpleNamespace(**vars(res), out_dir=written.out_dir, files=written.files)


def _recipe_copy(tmp_path, **changes) -> str:
    raw = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    raw.update(changes)
    path = tmp_path / "metro.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def metro(data_dir, tmp_path_factory):
    """recipes/metro.yaml with budgets 30 and 60 min (the 45/90-min polygons only add run time)."""
    tmp = tmp_path_factory.mktemp("metro")
    path = _recipe_copy(tmp, budgets_min=[30, 60])
    t0 = time.perf_counter()
    res = _run_metro(path, data_dir, tmp / "out")
    return res, time.perf_counter() - t0


def test_members_csv_lists_the_15_members_with_the_warning(metro):
    res, seconds = metro
    csv = res.out_dir / "members.csv"
    assert csv.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    table = pd.read_csv(csv, encoding="utf-8-sig", dtype=str)
    assert list(table.columns[:8]) == ["unit", "seat_lon", "seat_lat", "drive_min_free", "drive_min_peak",
                                       "within_60", "within_90", "data_warning"]
    assert list(table["unit"]) == ONE_HOUR
    t = table.set_index("unit")
    for uid in ("hongta", "chengjiang", "mile"):  # beyond the Kunming road layer
        assert t.loc[uid, "drive_min_free"] == iso.OUTSIDE_DATA == t.loc[uid, "within_60"]
        assert t.loc[uid, "data_warning"].startswith(iso.OUTSIDE_DATA) and iso.NO_EXPRESSWAYS in t.loc[uid, "data_warning"]
    inside = [u for u in ONE_HOUR if u not in ("hongta", "chengjiang", "mile")]
    free = t.loc[inside, "drive_min_free"].astype(float)
    peak = t.loc[inside, "drive_min_peak"].astype(float)
    assert np.allclose(peak, free * iso.congestion_factor("peak"), atol=0.11)
    assert (t.loc[inside, "data_warning"] == iso.NO_EXPRESSWAYS).all()  # on every time
    assert t.loc["xishan", "seat_kind"].startswith("seat: layers/seats.yaml")
    assert "no sourced seat" in t.loc["anning", "seat_kind"]
    # the class-speed street network makes the far members slow: Shilin is hours away, not the ~1.5 h by car
    assert float(t.loc["shilin", "drive_min_free"]) > 150
    # the fastest route's length: never shorter than the straight line, never faster than the fastest class
    route = t.loc[inside, "route_km_free"].astype(float)
    assert (route >= t.loc[inside, "straight_km"].astype(float) - 0.1).all()
    top = max(load_layers_yaml("speeds")["drive_kmh"].values())
    assert (t.loc[inside, "route_kmh_free"].astype(float) <= top + 0.1).all()
    assert t.loc[["hongta", "chengjiang", "mile"], "route_km_free"].isna().all()
    circle = pd.read_csv(res.out_dir / "circle_1_5h.csv", encoding="utf-8-sig", dtype=str)
    assert list(circle["unit"]) == ["qujing", "yuxi", "chuxiong", "mengzi"]
    print(f"metro recipe (budgets 30, 60) in {seconds:.1f} s")


def test_isochrone_layer_carries_areas_and_the_warning(metro):
    res, _ = metro
    gdf = gpd.read_file(res.out_dir / "isochrones.gpkg", layer="isochrones")
    assert list(gdf["minutes"]) == [30.0, 60.0]
    assert {"minutes", "area_km2", "data_warning"} <= set(gdf.columns)
    assert (gdf["data_warning"] == iso.NO_EXPRESSWAYS).all()
    assert 0 < gdf["area_km2"].iloc[0] < gdf["area_km2"].iloc[1]
    area = gdf.to_crs(32648).area / 1e6
    assert np.allclose(area, gdf["area_km2"], rtol=2e-3)
    run = json.loads((res.out_dir / "run.json").read_text(encoding="utf-8"))
    assert run["data_check"]["lacks_expressways"] and run["data_warning"] == iso.NO_EXPRESSWAYS
    assert run["network"]["nodes"] > 50_000 and run["versions"]["kmgis"]
    page = (res.out_dir / "map.html").read_text(encoding="utf-8")
    assert iso.NO_EXPRESSWAYS in page and "L.control.layers(" in page
    # members coloured by time: 西山 (~11 min) in the 30-min band's colour, 石林 beyond 60 min, 红塔 no time
    colours = {u: c for c, u in re.findall(r'"colour": "(#[0-9a-f]{6})"[^}]*?"unit": "(\w+)"', page)}
    assert colours["xishan"] == ISO_COLOURS[0] and colours["shilin"] == BEYOND_COLOUR
    assert colours["hongta"] == NO_TIME_COLOUR
    assert not re.search(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", page)  # offline
    print("60-min area:", gdf["area_km2"].iloc[1], "km²")


@pytest.fixture(scope="module")
def city_drive(data_dir):
    from kmgis.config import catalog_entry
    from kmgis.sources import load_layer

    roads = load_layer(catalog_entry("kunming_roads"), data_dir)
    return build_network(roads, "drive", "EPSG:32648")


def _nx_with_points(net, weight: str, src, dst):
    """A DiGraph of the network's arcs (shortest of parallels) plus the two snapped points as nodes."""
    g = nx.DiGraph()
    tail, head, w = net.arcs(weight)
    metres = net.arcs("length_m")[2]
    for a, b, c, m in zip(tail.tolist(), head.tolist(), w.tolist(), metres.tolist(), strict=True):
        if a != b and (not g.has_edge(a, b) or g[a][b]["w"] > c):
            g.add_edge(a, b, w=c, m=m)
    rate = net.edge_time_s / net.edge_length_m
    for name, pt, out in (("S", src, True), ("T", dst, False)):
        e, p, s = int(pt.edge[0]), float(pt.pos_m[0]), float(pt.snap_m[0])
        length = net.edge_length_m[e]
        u, v = int(net.edge_u[e]), int(net.edge_v[e])
        # leaving the point towards v drives the edge forwards; towards u backwards (and the reverse to arrive)
        for node, metres, allowed in ((v, length - p, net.edge_forward[e] if out else net.edge_backward[e]),
                                      (u, p, net.edge_backward[e] if out else net.edge_forward[e])):
            if allowed:
                cost = (metres + s) * rate[e]
                if out:
                    g.add_edge(name, node, w=cost, m=metres + s)
                else:
                    g.add_edge(node, name, w=cost, m=metres + s)
    return g


@pytest.mark.parametrize("band", ["free", "peak"])
def test_drive_time_between_two_county_seats_equals_networkx(city_drive, band):
    seats = load_layers_yaml("seats")["seats"]
    net = iso.with_time_band(city_drive, band)
    pts = gpd.GeoSeries(gpd.points_from_xy([seats["chenggong"]["lon"], seats["jinning"]["lon"]],
                                           [seats["chenggong"]["lat"], seats["jinning"]["lat"]]), crs=4326)
    src, dst = snap_points(net, pts.iloc[[0]], 1000), snap_points(net, pts.iloc[[1]], 1000)
    assert src.reached[0] and dst.reached[0]
    cost = node_distances(net, src, weight="time_s")
    mine = point_distances(net, cost, dst, sources=src, weight="time_s")[0]
    ref = nx.dijkstra_path_length(_nx_with_points(net, "time_s", src, dst), "S", "T", weight="w")
    assert mine == pytest.approx(ref, rel=1e-9)
    print(f"呈贡 → 晋宁 seat to seat, {band}: {mine / 60:.1f} min")


def test_route_length_of_the_fastest_path_equals_networkx(city_drive):
    """The metres of the least-time route: seat to seat (呈贡 → 晋宁) and from the 呈贡 seat to
    300 random nodes, against the lengths summed along NetworkX's least-time paths."""
    from kmgis.network import node_route_lengths_m, point_route_lengths_m

    net = city_drive
    seats = load_layers_yaml("seats")["seats"]
    pts = gpd.GeoSeries(gpd.points_from_xy([seats["chenggong"]["lon"], seats["jinning"]["lon"]],
                                           [seats["chenggong"]["lat"], seats["jinning"]["lat"]]), crs=4326)
    src, dst = snap_points(net, pts.iloc[[0]], 1000), snap_points(net, pts.iloc[[1]], 1000)
    g = _nx_with_points(net, "time_s", src, dst)
    node_cost, node_m = node_route_lengths_m(net, src, weight="time_s")
    metres = point_route_lengths_m(net, node_cost, node_m, dst, sources=src, weight="time_s")
    cost = point_distances(net, node_cost, dst, sources=src, weight="time_s")
    assert np.array_equal(node_cost, node_distances(net, src, weight="time_s"))  # the same search
    path = nx.dijkstra_path(g, "S", "T", weight="w")
    ref_m = sum(g[a][b]["m"] for a, b in itertools.pairwise(path))
    assert cost[0] == pytest.approx(nx.path_weight(g, path, "w"), rel=1e-9)
    assert metres[0] == pytest.approx(ref_m, rel=1e-9)
    assert metres[0] > np.hypot(*np.subtract(*shapely.get_coordinates(pts.to_crs(net.crs).values)))  # ≥ straight line

    dist, paths = nx.single_source_dijkstra(g, "S", weight="w")
    rng = np.random.default_rng(3)
    nodes = [k for k in rng.choice(net.n_nodes, 300, replace=False).tolist() if k in paths]
    assert len(nodes) > 250
    ref = np.array([sum(g[a][b]["m"] for a, b in itertools.pairwise(paths[k])) for k in nodes])
    assert np.allclose(node_cost[nodes], [dist[k] for k in nodes], rtol=1e-9)
    assert np.allclose(node_m[nodes], ref, rtol=1e-9)
    unreached = ~np.isfinite(node_cost)
    assert np.isnan(node_m[unreached]).all() and not np.isnan(node_m[~unreached]).any()
    print(f"呈贡 → 晋宁: {cost[0] / 60:.1f} min over {metres[0] / 1000:.1f} km")


def test_buffer_tiles_give_exactly_the_direct_union_of_the_reached_buffers(city_drive):
    """The quadtree of pre-unioned tiles is only a faster route to the same set: on the whole
    city's drive network, 15 min from the centre and from two random points, the polygon
    equals the union of every reached edge's own buffer (symmetric difference ≈ 0)."""
    net = city_drive
    rng = np.random.default_rng(7)
    centre = load_layers_yaml("seats")["centres"]["yunnan_provincial_government"]
    points = [gpd.GeoSeries(gpd.points_from_xy([centre["lon"]], [centre["lat"]]), crs=4326).to_crs(net.crs)]
    points += [np.array([[net.node_x[k] + 30.0, net.node_y[k] + 30.0]]) for k in rng.choice(net.n_nodes, 2, replace=False)]
    tiles = iso.buffer_tiles(net, tile_m=500.0, levels=4)  # small tiles: many are complete within 15 min
    width, simplify = tiles.width_m, tiles.simplify_m
    for xy in points:
        origin = snap_points(net, xy, 1000)
        cost = node_distances(net, origin, weight="time_s", cutoff=15 * 60)
        pieces = iso.reached_pieces(net, cost, 15 * 60, sources=origin)
        cut = shapely.buffer(shapely.simplify(pieces.partial, simplify, preserve_topology=False), width, quad_segs=2)
        whole = shapely.simplify(net.edge_geometry[pieces.full_edges], simplify, preserve_topology=False)
        direct = shapely.union_all(np.concatenate([shapely.buffer(whole, width, quad_segs=2), cut]))
        got = iso.union_of_reached(net, tiles, pieces.full_edges, cut)
        assert direct.area > 1e6
        assert shapely.symmetric_difference(got, direct).area < 1e-6 * direct.area
    assert sum(int(pd.notna(p).sum()) for p in tiles.polygons[1:]) > 10  # the tile route was taken
    peak = iso.with_time_band(net, "peak")
    assert peak._cache[next(k for k in net._cache if k[0] == "isochrone_tiles")] is tiles  # geometry shared


def test_metro_runs_on_the_osm_sample_with_one_way_and_maxspeed(tmp_path, osm_sample_path):
    path = _recipe_copy(
        tmp_path, layers={"osm": "osm_sample_helsinki"}, budgets_min=[2, 4],
        name="<script>alert(1)</script> {{ 7*7 }}",
        origins=[{"lon": 24.9414, "lat": 60.1699, "name": "<img src=x onerror=alert(2)>", "source": "test point"}],
        members=[{"id": "north", "seat": {"lon": 24.9500, "lat": 60.1760, "source": "test point"}},
                 {"id": "south", "seat": {"lon": 24.9400, "lat": 60.1660, "source": "test point"}},
                 {"id": "hongta"}],
        parameters={"buffer_m": 25, "max_snap_m": 300})
    res = _run_metro(path, None, tmp_path / "out")
    t = res.members.set_index("unit")
    assert isinstance(t.loc["north", "drive_min_free"], float) and isinstance(t.loc["south", "drive_min_free"], float)
    assert t.loc["hongta", "drive_min_free"] == iso.OUTSIDE_DATA
    assert (t.loc[["north", "south"], "data_warning"] == iso.NO_EXPRESSWAYS).all()  # a city-centre extract
    run = json.loads((res.out_dir / "run.json").read_text(encoding="utf-8"))
    assert run["network"]["node_policy"] == "shared_vertices (OSM node ids)"
    assert run["inputs"][-1]["layer"] == "osm" and run["inputs"][-1]["sha256"]
    assert list(res.isochrones["minutes"]) == [2.0, 4.0]
    page = (res.out_dir / "map.html").read_text(encoding="utf-8")  # recipe text never reaches the page as markup
    assert "<script>alert(1)" not in page and "<img src=x" not in page and "{{ 7*7 }}" not in page
    assert "&lt;script&gt;alert(1)" in page and iso.NO_EXPRESSWAYS in page


def test_recipe_errors_are_clear(tmp_path, data_dir):
    from kmgis.config import load_recipe

    with pytest.raises(KmgisError, match="GTFS"):
        run_metro(_recipe_copy(tmp_path, mode="transit"), data_dir, progress=False)
    with pytest.raises(KmgisError, match="time band"):
        load_recipe(_recipe_copy(tmp_path, isochrone_band="rush"))
    with pytest.raises(KmgisError, match="dongfeng_square"):
        load_recipe(_recipe_copy(tmp_path, origins=[{"centre": "dongfeng_square"}]))
    with pytest.raises(KmgisError, match="neither in layers/seats.yaml"):
        load_recipe(_recipe_copy(tmp_path, members=[{"id": "atlantis"}]))


def test_cli_isochrone_writes_gpkg_and_map(tmp_path, data_dir, capsys):
    from kmgis.cli import main

    seat = load_layers_yaml("seats")["seats"]["jinning"]
    rc = main(["isochrone", "--origin", f"{seat['lon']},{seat['lat']}", "--minutes", "5", "10", "--mode", "walk",
               "--data", str(data_dir), "--out", str(tmp_path), "--quiet", "--tiles", "none"])
    assert rc == 0
    out = tmp_path / f"isochrone-walk-{seat['lon']:.4f}-{seat['lat']:.4f}"
    gdf = gpd.read_file(out / "isochrones.gpkg", layer="isochrones")
    assert list(gdf["minutes"]) == [5.0, 10.0] and (gdf["data_warning"].fillna("") == "").all()  # walk: no warning
    assert (out / "map.html").is_file() and (out / "run.json").is_file()
    rc = main(["isochrone", "--origin", f"{seat['lon']},{seat['lat']}", "--minutes", "5", "--data", str(data_dir),
               "--out", str(tmp_path), "--name", "../escape", "--quiet"])
    assert rc == 2 and "--name" in capsys.readouterr().err
    rc = main(["isochrone", "--origin", "not-a-point", "--out", str(tmp_path), "--quiet"])
    assert rc == 2


def test_metro_rerun_gives_byte_identical_members_csv(metro, data_dir, tmp_path):
    first, _ = metro
    path = _recipe_copy(tmp_path, budgets_min=[30, 60])
    again = _run_metro(path, data_dir, tmp_path / "out")
    a = (first.out_dir / "members.csv").read_bytes()
    b = (again.out_dir / "members.csv").read_bytes()
    assert a == b
    ga = gpd.read_file(first.out_dir / "isochrones.gpkg", layer="isochrones")
    gb = gpd.read_file(again.out_dir / "isochrones.gpkg", layer="isochrones")
    pd.testing.assert_frame_equal(ga.drop(columns="geometry"), gb.drop(columns="geometry"))

    assert shapely.equals_exact(ga.geometry.values, gb.geometry.values, tolerance=0).all()


# ----------------------------------------------------------------------------- the member-table maths

CRS = "EPSG:32648"
X0, Y0 = 500_000.0, 2_770_000.0


@pytest.fixture(scope="module")
def line_net():
    """A(0,0) — B(1000,0) — C(2000,0), two-way at 36 km/h (10 m/s); a road E(5000,0) — F(6000,0)
    that joins nothing (dropped from the network, still a road of the data)."""
    rows = [([(0, 0), (1000, 0)], "arterial"), ([(1000, 0), (2000, 0)], "arterial"),
            ([(5000, 0), (6000, 0)], "branch")]
    roads = gpd.GeoDataFrame({"road_class": [r[1] for r in rows],
                              "oneway": gpd.pd.array([0] * 3, dtype="Int8"),
                              "maxspeed_kmh": [36.0] * 3},
                             geometry=[shapely.LineString([(X0 + x, Y0 + y) for x, y in r[0]]) for r in rows],
                             crs=CRS)
    net = build_network(roads, "drive", CRS)
    node = {name: int(np.flatnonzero(np.isclose(net.node_x, X0 + x) & np.isclose(net.node_y, Y0))[0])
            for name, x in {"A": 0, "B": 1000, "C": 2000}.items()}
    mid = shapely.get_coordinates(shapely.line_interpolate_point(roads.geometry.values, 0.5, normalized=True))
    return net, node, mid


def test_first_reached_node_of_a_unit_or_why_there_is_none(line_net):
    net, node, road_mid = line_net
    origin = snap_nodes(net, [node["A"]])
    cost = node_distances(net, origin, weight="time_s")
    polygons = np.array([shapely.box(X0 + 900, Y0 - 50, X0 + 2100, Y0 + 50),  # B and C: B is reached first
                         shapely.box(X0 + 5400, Y0 - 50, X0 + 5600, Y0 + 50),  # a road, not joined to A's
                         shapely.box(X0 + 9000, Y0 - 50, X0 + 9100, Y0 + 50),  # no road at all
                         shapely.box(X0 - 50, Y0 - 50, X0 + 50, Y0 + 50)], dtype=object)  # not asked for
    which = np.array([True, True, True, False])
    nodes, status = metro_ind.first_reached_nodes(net, polygons, cost, road_mid, which)
    assert nodes.tolist() == [node["B"], -1, -1, -1]
    assert status.tolist() == ["ok", iso.NOT_CONNECTED, iso.OUTSIDE_DATA, "ok"]


def test_times_route_lengths_and_speeds_on_a_line(line_net):
    net, node, _ = line_net
    origin = snap_nodes(net, [node["A"]])
    seats = snap_nodes(net, [node["C"], node["B"]])
    costs, node_m = metro_ind.band_costs_s(net, ["free", "peak"], origin)
    times = metro_ind.member_times_s(net, costs, ["free", "peak"], seats, origin)
    assert list(times) == ["free", "peak"]
    assert np.allclose(times["free"], [200.0, 100.0])  # 2 km and 1 km at 10 m/s
    assert np.allclose(times["peak"], times["free"] * iso.congestion_factor("peak"))
    route_m = metro_ind.route_lengths_m(net, "free", costs["free"], node_m, seats, origin)
    assert np.allclose(route_m, [2000.0, 1000.0])
    seat_xy = np.c_[net.node_x[[node["C"], node["B"]]], net.node_y[[node["C"], node["B"]]]]
    straight = metro_ind.straight_km(seat_xy, np.array([[net.node_x[node["A"]], net.node_y[node["A"]]]]))
    assert np.allclose(straight, [2.0, 1.0])
    status = np.array(["ok", iso.NOT_CONNECTED], dtype=object)
    speeds = metro_ind.speed_columns(straight, times["free"], route_m, status, "free")
    assert list(speeds.columns) == ["effective_kmh_free", "route_km_free", "route_kmh_free"]
    assert speeds.iloc[0].tolist() == [36.0, 2.0, 36.0]
    assert speeds.iloc[1].isna().all()  # no time: no speed


def test_member_status_names_the_first_reason():
    t, f = True, False
    flags = {"has_seat": np.array([f, f, t, t, t, t]), "fallback": np.array([f, t, t, f, f, f]),
             "placed": np.array([f, f, t, f, f, f]),
             "fallback_status": np.array(["ok", iso.OUTSIDE_DATA, "ok", "ok", "ok", "ok"], dtype=object),
             "in_data": np.array([f, f, t, f, t, t])}
    status = metro_ind.member_status(**flags, reached=np.array([f, f, t, t, f, t]))
    assert status.tolist() == [iso.NO_SEAT, iso.OUTSIDE_DATA, "ok", iso.OUTSIDE_DATA, iso.NOT_CONNECTED, "ok"]
    # the data check: members without a point are never "in the data"; an unplaced unit with roads is
    assert metro_ind.in_road_data(**flags).tolist() == [f, f, t, f, t, t]


def test_member_table_columns_minutes_and_notes():
    members = pd.DataFrame({"unit": ["a", "b"], "name_zh": ["甲", "乙"], "role": ["core", "member"],
                            "seat_lon": [102.123456, 103.0], "seat_lat": [25.0, 25.5],
                            "seat_kind": ["seat: recipe"] * 2,
                            "seat_source": ["test", "test"]})
    status = np.array(["ok", iso.OUTSIDE_DATA], dtype=object)
    table = metro_ind.member_table(
        members, {"free": np.array([1800.0, np.inf]), "peak": np.array([2700.0, np.inf])}, status,
        fallback=np.array([False, False]), seat_snap_m=np.array([12.34, 2000.0]),
        straight=np.array([20.0, np.nan]), route_m=np.array([30_000.0, np.nan]),
        entry_s=np.array([600.0, np.inf]), mode="drive", within_band="peak",
        limits_min=(60, 90), max_snap_m=1000, warning="W")
    assert list(table.columns) == [
        "unit", "seat_lon", "seat_lat", "drive_min_free", "drive_min_peak", "within_60", "within_90",
        "data_warning",
        "name_zh", "role", "seat_kind", "snap_m", "straight_km", "effective_kmh_free", "route_km_free",
        "route_kmh_free", "unit_entry_min_free", "seat_source"]
    a, b = table.iloc[0], table.iloc[1]
    assert (a["seat_lon"], a["drive_min_free"], a["drive_min_peak"], a["within_60"], a["within_90"]) == (
        102.12346, 30.0, 45.0, "yes", "yes")
    assert (a["data_warning"], a["snap_m"], a["effective_kmh_free"], a["route_km_free"], a["route_kmh_free"],
            a["unit_entry_min_free"]) == ("W", 12.3, 40.0, 30.0, 60.0, 10.0)
    assert b["drive_min_free"] == b["within_60"] == iso.OUTSIDE_DATA
    assert b["data_warning"] == f"{iso.OUTSIDE_DATA}: no road of the data within 1000 m of the seat point; W"
    assert np.isnan(b["snap_m"]) and np.isnan(b["route_km_free"]) and np.isnan(b["unit_entry_min_free"])
