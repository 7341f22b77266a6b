"""Isochrones: a hand-made graph with known times (a cut exactly at the budget, a one-way street
never driven backwards), polygons that never reach farther than the buffer width from a reached
road, and the OSM path (one-way streets, maxspeed) against an independent NetworkX graph."""

from __future__ import annotations

import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from shapely.ops import substring

from kmgis.errors import KmgisError
from kmgis.indicators import isochrones as iso
from kmgis.network import (
    build_network,
    node_distances,
    point_distances,
    reached_edges,
    snap_nodes,
    snap_points,
)

CRS = "EPSG:32648"
X0, Y0 = 500_000.0, 2_770_000.0


def _roads(rows: list[tuple]) -> gpd.GeoDataFrame:
    """rows: (coords relative to X0/Y0, road_class, oneway, maxspeed_kmh)."""
    return gpd.GeoDataFrame(
        {
            "road_class": [r[1] for r in rows],
            "oneway": gpd.pd.array([r[2] for r in rows], dtype="Int8"),
            "maxspeed_kmh": [r[3] for r in rows],
        },
        geometry=[shapely.LineString([(X0 + x, Y0 + y) for x, y in r[0]]) for r in rows],
        crs=CRS,
    )


@pytest.fixture(scope="module")
def hand():
    """A(0,0) — B(1000,0) — C(2000,0) two-way at 36 km/h (10 m/s); D(1000,1000):
    a one-way street D→B (36 km/h) and a two-way road C–D (1414.2 m, 36 km/h).
    From A, D is 341.4 s away via C — never 200 s by driving D→B backwards."""
    roads = _roads([
        ([(0, 0), (1000, 0)], "arterial", 0, 36.0),
        ([(1000, 0), (2000, 0)], "arterial", 0, 36.0),
        ([(1000, 1000), (1000, 500), (1000, 0)], "branch", 1, 36.0),
        ([(2000, 0), (1000, 1000)], "branch", 0, 36.0),
    ])
    net = build_network(roads, "drive", CRS)
    node = {name: int(np.flatnonzero((np.isclose(net.node_x, X0 + x)) & np.isclose(net.node_y, Y0 + y))[0])
            for name, (x, y) in {"A": (0, 0), "B": (1000, 0), "C": (2000, 0), "D": (1000, 1000)}.items()}
    return net, node


def test_hand_graph_times_use_maxspeed_and_respect_one_way(hand):
    net, node = hand
    assert np.allclose(net.edge_time_s, net.edge_length_m / 10.0)  # maxspeed 36 km/h, not the class speed
    cost = node_distances(net, snap_nodes(net, [node["A"]]), weight="time_s")
    assert cost[node["B"]] == pytest.approx(100.0)
    assert cost[node["C"]] == pytest.approx(200.0)
    assert cost[node["D"]] == pytest.approx(200.0 + 1000 * math.sqrt(2) / 10)  # via C, not back up D→B
    peak = iso.with_time_band(net, "peak")
    factor = iso.congestion_factor("peak")
    assert factor > 1
    cost_peak = node_distances(peak, snap_nodes(peak, [node["A"]]), weight="time_s")
    assert cost_peak[node["D"]] == pytest.approx(cost[node["D"]] * factor)
    assert iso.with_time_band(net, "free") is net
    with pytest.raises(KmgisError, match="unknown time band"):
        iso.with_time_band(net, "rush")


def test_route_length_follows_the_least_time_path_not_the_shortest(hand):
    """A→D: the fastest legal route is A–B–C–D (3,414.2 m); the 2,000 m route A–B–D would
    drive the one-way D→B backwards.  From D, B is reached down the one-way (1,000 m)."""
    from kmgis.network import node_route_lengths_m, point_route_lengths_m

    net, node = hand
    cost, metres = node_route_lengths_m(net, snap_nodes(net, [node["A"]]), weight="time_s")
    assert metres[node["D"]] == pytest.approx(2000 + 1000 * math.sqrt(2))
    assert cost[node["D"]] == pytest.approx(metres[node["D"]] / 10.0)
    _, from_d = node_route_lengths_m(net, snap_nodes(net, [node["D"]]), weight="time_s")
    assert from_d[node["B"]] == pytest.approx(1000.0) and from_d[node["A"]] == pytest.approx(2000.0)
    # a point 20 m off the middle of A–B, to a point on C–D: snaps and offsets included
    pts = np.array([[X0 + 500, Y0 + 20], [X0 + 1500, Y0 + 520]])
    src, dst = snap_points(net, pts[:1], 100), snap_points(net, pts[1:], 100)
    node_c, node_m = node_route_lengths_m(net, src, weight="time_s")
    m = point_route_lengths_m(net, node_c, node_m, dst, sources=src, weight="time_s")
    c = point_distances(net, node_c, dst, sources=src, weight="time_s")
    along_cd = (500 + 520) / math.sqrt(2)  # projection of (1500, 520) on C(2000,0)→D(1000,1000)
    off_cd = abs(1500 + 520 - 2000) / math.sqrt(2)
    assert m[0] == pytest.approx(20 + 500 + 1000 + along_cd + off_cd, abs=1e-6)
    assert c[0] == pytest.approx(m[0] / 10.0)


def test_edge_cut_exactly_at_the_budget_and_one_way_not_entered(hand):
    net, node = hand
    origin = snap_nodes(net, [node["A"]])
    cost = node_distances(net, origin, weight="time_s")
    pieces = iso.reached_pieces(net, cost, 150.0, weight="time_s", sources=origin)
    assert len(pieces.full_edges) == 1 and pieces.reached_m == pytest.approx(1500.0)
    ends = shapely.get_coordinates(shapely.get_point(pieces.partial, -1)) - [X0, Y0]
    assert np.allclose(ends, [[1500.0, 0.0]])  # B + 50 s × 10 m/s, exactly
    # the one-way D→B leaves B backwards only: not reached at all, though B is reached at 100 s
    oneway = int(np.flatnonzero(net.edge_forward & ~net.edge_backward)[0])
    rch = reached_edges(net, cost, 150.0, weight="time_s")
    assert oneway not in set(rch["edge"])
    w = 50.0
    poly = iso.isochrone_polygons(net, cost, [150.0], sources=origin, buffer_m=w, simplify_m=0,
                                  fill_holes_km2=0).geometry.iloc[0]
    assert poly.contains(shapely.Point(X0 + 1500 + w - 1, Y0))
    assert not poly.contains(shapely.Point(X0 + 1500 + w + 1, Y0))  # the cut, plus the buffer, no more
    assert not poly.intersects(shapely.Point(X0 + 1000, Y0 + 500))  # the one-way street's middle
    # at 400 s D is reached via C (341.4 s): the one-way street is then driven forwards from D
    full = iso.isochrone_polygons(net, cost, [400.0], sources=origin, buffer_m=w, simplify_m=0).geometry.iloc[0]
    assert full.contains(shapely.Point(X0 + 1000, Y0 + 950))
    assert not full.contains(shapely.Point(X0 + 1000, Y0 + 300))  # 58.6 s left at D: 586 m down the street


def test_origin_on_an_edge_reaches_along_it(hand):
    net, _ = hand
    pt = snap_points(net, np.array([[X0 + 500, Y0 + 20]]), 100)
    cost = node_distances(net, pt, weight="time_s")
    pieces = iso.reached_pieces(net, cost, 10.0, weight="time_s", sources=pt)  # 10 s = 100 m, minus the 20 m snap
    lengths = sorted(shapely.length(pieces.partial))
    assert lengths == pytest.approx([80.0, 80.0])


def test_line_substrings_equal_shapely_substring():
    rng = np.random.default_rng(3)
    lines = np.array([shapely.LineString(np.cumsum(rng.normal(0, 50, size=(rng.integers(2, 9), 2)), axis=0))
                      for _ in range(300)], dtype=object)
    length = shapely.length(lines)
    a = rng.uniform(0, 1, len(lines)) * length
    b = a + rng.uniform(0, 1, len(lines)) * (length - a)
    mine = iso.line_substrings(lines, a, b)
    for m, line, s, e in zip(mine, lines, a, b, strict=True):
        ref = substring(line, s, e)
        if e - s > 1e-9:
            assert shapely.hausdorff_distance(m, ref) < 1e-6
            assert m.length == pytest.approx(e - s, abs=1e-6)


def test_fill_holes_keeps_large_holes():
    outer = shapely.box(0, 0, 1000, 1000)
    poly = outer.difference(shapely.box(100, 100, 110, 110)).difference(shapely.box(300, 300, 700, 700))
    filled, gained, largest = iso.fill_holes(poly, 1000.0)
    assert len(filled.interiors) == 1 and filled.area == pytest.approx(1e6 - 400 * 400)
    assert gained == pytest.approx(100.0) and largest == pytest.approx(100.0)
    assert iso.fill_holes(poly, 0.0) == (poly, 0.0, 0.0)


def test_fill_holes_absorbs_islands_of_a_filled_hole():
    """A ring road inside a small hole: filling the hole swallows the island (valid result,
    area counted once); an island in a kept hole stays."""
    ring = shapely.box(0, 0, 1000, 1000).difference(shapely.box(100, 100, 130, 130))  # 900 m² hole
    island = shapely.box(110, 110, 120, 120)  # 100 m², inside that hole
    big = shapely.box(2000, 0, 3000, 1000).difference(shapely.box(2100, 100, 2900, 900))  # 0.64 km² hole
    big_island = shapely.box(2400, 400, 2600, 600)
    geom = shapely.MultiPolygon([ring, island, big, big_island])
    filled, gained, largest = iso.fill_holes(geom, 1000.0)
    assert filled.is_valid
    assert len(shapely.get_parts(filled)) == 3  # the small island is absorbed, the big one kept
    assert filled.area == pytest.approx(1e6 + (1e6 - 800 * 800) + 200 * 200)
    assert gained == pytest.approx(800.0)  # the hole's 900 m² less the 100 m² island already counted
    assert largest == pytest.approx(900.0)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def jinning_drive(jinning_roads):
    return build_network(jinning_roads, "drive", "EPSG:32648")


def _reference_pieces(net, cost, budget, origin):
    """Reached road pieces with shapely.ops.substring, edge by edge (independent of line_substrings)."""
    rch = reached_edges(net, cost, budget, weight="time_s")
    out = [net.edge_geometry[e] for e in rch.loc[rch["full"], "edge"]]
    for _, r in rch[~rch["full"]].iterrows():
        g = net.edge_geometry[int(r["edge"])]
        if r["from_u_m"] > 0:
            out.append(substring(g, 0, r["from_u_m"]))
        if r["from_v_m"] > 0:
            out.append(substring(g, g.length - r["from_v_m"], g.length))
    e, p = int(origin.edge[0]), float(origin.pos_m[0])
    out.append(net.edge_geometry[e].interpolate(p))  # the origin itself
    return np.array(out, dtype=object)


@pytest.mark.parametrize("fill_km2", [0.0, 0.05])
def test_polygons_never_reach_farther_than_the_buffer_from_a_reached_road(jinning_drive, fill_km2):
    from kmgis.config import load_layers_yaml

    net = jinning_drive
    seat = load_layers_yaml("seats")["seats"]["jinning"]
    origin = snap_points(net, gpd.GeoSeries(gpd.points_from_xy([seat["lon"]], [seat["lat"]]), crs=4326), 500)
    cost = node_distances(net, origin, weight="time_s")
    w = 100.0
    polys = iso.isochrone_polygons(net, cost, [300.0, 600.0], sources=origin, buffer_m=w, simplify_m=10,
                                   fill_holes_km2=fill_km2)
    for budget, poly, holes_max in zip(polys["budget"], polys.geometry, polys["max_filled_hole_km2"], strict=True):
        roads = _reference_pieces(net, cost, budget, origin)
        assert poly.area > 0 and shapely.get_type_id(poly) in (3, 6)
        tree = shapely.STRtree(roads)
        vertices = shapely.points(shapely.get_coordinates(poly))
        _, dist = tree.query_nearest(vertices, return_distance=True, all_matches=False)
        assert dist.max() <= w + 1e-6  # every boundary vertex, holes included
        slack = math.sqrt(holes_max * 1e6 / math.pi) if fill_km2 else 0.0  # a filled hole's inscribed circle
        reach = shapely.union_all(shapely.buffer(roads, (w + slack) * 1.001 + 0.01, quad_segs=16))
        assert poly.difference(reach).area < 1e-6 * poly.area  # and the whole area
        assert holes_max <= fill_km2


def test_cut_points_are_exactly_at_the_budget_on_real_data(jinning_drive):
    from kmgis.config import load_layers_yaml

    net = jinning_drive
    seat = load_layers_yaml("seats")["seats"]["jinning"]
    origin = snap_points(net, gpd.GeoSeries(gpd.points_from_xy([seat["lon"]], [seat["lat"]]), crs=4326), 500)
    cost = node_distances(net, origin, weight="time_s")
    budget = 180.0
    pieces = iso.reached_pieces(net, cost, budget, weight="time_s")
    ends = np.vstack([shapely.get_coordinates(shapely.get_point(pieces.partial, 0)),
                      shapely.get_coordinates(shapely.get_point(pieces.partial, -1))])
    at = point_distances(net, cost, snap_points(net, ends, 1.0), weight="time_s")
    # each cut piece runs from a reached node (time < budget) to the cut point (time == budget)
    far = np.maximum(at[: len(pieces.partial)], at[len(pieces.partial):])
    assert len(far) > 20
    assert np.allclose(far, budget, atol=1e-6)


# --------------------------------------------------------------------------- the OSM path


@pytest.fixture(scope="module")
def helsinki_drive(osm_sample_path):
    from kmgis.crs import metric_crs
    from kmgis.sources.osm import read_osm_file

    roads = read_osm_file(osm_sample_path, layers=("roads",))["roads"]
    crs = metric_crs(roads)
    return roads, crs, build_network(roads, "drive", crs)


def _independent_osm_digraph(roads: gpd.GeoDataFrame, crs) -> nx.DiGraph:
    """Drive arcs straight from the OSM ways: node ids, one-way tags, maxspeed else the class speed."""
    from kmgis.config import load_layers_yaml

    kmh = load_layers_yaml("speeds")["drive_kmh"]
    g = nx.DiGraph()
    drive = roads[roads["drive"].astype(bool)]
    geoms = drive.geometry.to_crs(crs)
    for (_, row), geom in zip(drive.iterrows(), geoms, strict=True):
        xy = shapely.get_coordinates(geom)
        speed = row["maxspeed_kmh"] if row["maxspeed_kmh"] == row["maxspeed_kmh"] else kmh[row["road_class"]]
        oneway = 0 if row["oneway"] is gpd.pd.NA else int(row["oneway"])
        ids = list(row["osm_node_ids"])
        for i in range(len(ids) - 1):
            t = float(np.hypot(*(xy[i + 1] - xy[i]))) / (speed / 3.6)
            for a, b, ok in ((ids[i], ids[i + 1], oneway != -1), (ids[i + 1], ids[i], oneway != 1)):
                if ok and a != b and (not g.has_edge(a, b) or g[a][b]["time"] > t):
                    g.add_edge(a, b, time=t)
    return g


def test_osm_drive_times_equal_an_independent_graph_of_the_ways(helsinki_drive):
    roads, crs, net = helsinki_drive
    drive = roads[roads["drive"].astype(bool)]
    assert (drive["oneway"] == 1).sum() > 50 and drive["maxspeed_kmh"].notna().sum() > 100  # the sample has both
    assert (net.edge_forward & ~net.edge_backward).sum() > 50
    g = _independent_osm_digraph(roads, crs)
    xy_to_id = {}
    for geom, ids in zip(drive.geometry.to_crs(crs), drive["osm_node_ids"], strict=True):
        for (x, y), i in zip(shapely.get_coordinates(geom), ids, strict=True):
            xy_to_id[(round(x, 6), round(y, 6))] = i
    osm_id = np.array([xy_to_id[(round(x, 6), round(y, 6))] for x, y in zip(net.node_x, net.node_y, strict=True)])
    rng = np.random.default_rng(5)
    oneway_tails = net.edge_v[net.edge_forward & ~net.edge_backward]
    starts = np.r_[rng.choice(net.n_nodes, 6, replace=False), rng.choice(oneway_tails, 4, replace=False)]
    for k in starts:
        mine = node_distances(net, snap_nodes(net, [int(k)]), weight="time_s")
        ref = nx.single_source_dijkstra_path_length(g, osm_id[k], weight="time")
        expect = np.array([ref.get(i, np.inf) for i in osm_id])
        assert np.allclose(mine, expect, rtol=1e-9, atol=1e-6)
    # one-way: from the head of a one-way edge its tail is not one edge-time away backwards
    e = int(np.flatnonzero(net.edge_forward & ~net.edge_backward)[0])
    back = node_distances(net, snap_nodes(net, [int(net.edge_v[e])]), weight="time_s")[net.edge_u[e]]
    assert back > net.edge_time_s[e] + 1e-6 or not np.isfinite(back)


def test_osm_sample_is_flagged_as_lacking_expressways(helsinki_drive):
    _, _, net = helsinki_drive
    check = iso.check_drive_data(net)
    assert check.lacks_expressways and check.warning == iso.NO_EXPRESSWAYS
    assert any("OpenStreetMap" in m for m in check.messages())


def test_a_network_with_expressways_carries_no_warning():
    roads = _roads([
        ([(0, 0), (15_000, 0)], "expressway", 0, np.nan),
        ([(15_000, 0), (15_000, 200)], "branch", 0, np.nan),
    ])
    net = build_network(roads, "drive", CRS)
    check = iso.check_drive_data(net, members=["far", "near"], seat_xy=np.array([[X0, Y0 + 40_000], [X0 + 100, Y0]]),
                                 in_data=np.array([True, True]), reached=np.array([True, True]))
    assert not check.lacks_expressways and check.warning == ""
    assert check.far_from_expressway == ["far"]
