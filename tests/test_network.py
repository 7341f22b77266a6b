"""The network engine against independent references: NetworkX on the same edges, hand geometry."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString

from kmgis.model import conform
from kmgis.network import (
    build_network,
    nearest_distance,
    node_distances,
    point_distances,
    reached_edges,
    snap_nodes,
    snap_points,
    summary_by_class,
)

METRIC = "EPSG:32648"


def nx_graph(net, directed: bool = False) -> nx.Graph:
    """An independent NetworkX graph on the same edge list (shortest of parallel edges kept)."""
    g = nx.DiGraph() if directed else nx.Graph()
    g.add_nodes_from(range(net.n_nodes))
    for u, v, w, f, b in zip(net.edge_u, net.edge_v, net.edge_length_m, net.edge_forward, net.edge_backward,
                             strict=True):
        for a, c, ok in ((u, v, f), (v, u, b)):
            if not ok or a == c:
                continue
            if not g.has_edge(a, c) or g[a][c]["length"] > w:
                g.add_edge(a, c, length=float(w))
    return g


def make_roads(lines_m: list[list[tuple[float, float]]], classes=None, oneway=None, crs=METRIC) -> gpd.GeoDataFrame:
    """A hand-made roads layer (a fixture testing one code path), given in metres near Kunming."""
    origin = np.array([700000.0, 2770000.0])  # UTM 48N, inside 晋宁
    geoms = [LineString(np.asarray(c) + origin) for c in lines_m]
    df = gpd.GeoDataFrame(
        {
            "road_class": classes or ["branch"] * len(geoms),
            "oneway": pd.array(oneway or [0] * len(geoms), dtype="Int8"),
        },
        geometry=geoms,
        crs=crs,
    ).to_crs("EPSG:4326")
    return conform("roads", df)


def xy(points_m: list[tuple[float, float]]) -> np.ndarray:
    return np.asarray(points_m, dtype=float) + np.array([700000.0, 2770000.0])


# ----------------------------------------------------------------------------- real data


def test_jinning_walk_network_matches_networkx_on_200_random_pairs(jinning_walk):
    net = jinning_walk
    assert net.n_nodes > 3000 and net.n_edges > 4000
    g = nx_graph(net)
    rng = np.random.default_rng(7)
    pairs = rng.choice(net.n_nodes, size=(220, 2))
    for a, b in pairs:
        # through the public API: node a as the "facility", node b as the origin
        d = nearest_distance(net, snap_nodes(net, [b]), snap_nodes(net, [a]))[0]
        ref = nx.dijkstra_path_length(g, int(a), int(b), weight="length")
        assert d == pytest.approx(ref, abs=0.01)


def test_parallel_edges_collapse_to_shortest_not_summed(jinning_walk):
    net = jinning_walk
    key = pd.DataFrame({"a": np.minimum(net.edge_u, net.edge_v), "b": np.maximum(net.edge_u, net.edge_v)})
    dup = key.duplicated(keep=False) & (net.edge_u != net.edge_v)
    assert dup.sum() > 0, "the real Kunming layer has parallel edges; this test needs some"
    i = int(np.flatnonzero(dup.to_numpy())[0])
    a, b = key.iloc[i]
    same = np.flatnonzero(((key["a"] == a) & (key["b"] == b)).to_numpy())
    shortest = net.edge_length_m[same].min()
    csr = net.csr()
    assert csr[a, b] == pytest.approx(shortest)
    summed = sp.coo_matrix((net.edge_length_m[same], (np.full(len(same), a), np.full(len(same), b)))).tocsr()
    assert summed[a, b] > shortest  # the trap the engine avoids


def test_multi_source_search_equals_networkx_multi_source(jinning_walk):
    net = jinning_walk
    rng = np.random.default_rng(3)
    fac = rng.choice(net.n_nodes, 40, replace=False)
    d = node_distances(net, snap_nodes(net, fac), cutoff=1200)
    ref = nx.multi_source_dijkstra_path_length(nx_graph(net), [int(f) for f in fac], cutoff=1200, weight="length")
    reached = np.flatnonzero(np.isfinite(d))
    assert set(reached) == set(ref)
    assert np.allclose(d[reached], [ref[i] for i in reached], atol=0.01)


def test_summary_by_class_reports_km(jinning_walk):
    s = summary_by_class(jinning_walk)
    assert list(s["road_class"]) == ["arterial", "sub-arterial", "branch", "internal"]
    assert s["length_km"].sum() == pytest.approx(jinning_walk.edge_length_m.sum() / 1000, rel=1e-6)
    assert jinning_walk.summary["dropped_nodes"] > 0  # islands of the real layer are reported


def test_road_crossing_the_border_is_kept_whole_with_halo(data_dir, jinning_boundary):
    from kmgis.config import catalog_entry
    from kmgis.geom import with_halo
    from kmgis.sources import load_layer

    all_roads = load_layer(catalog_entry("kunming_roads"), data_dir)
    border = jinning_boundary.boundary.iloc[0]
    crossing = all_roads[all_roads.crosses(jinning_boundary.geometry.iloc[0])]
    assert len(crossing) > 0
    with_h = load_layer(catalog_entry("kunming_roads"), data_dir, clip=with_halo(jinning_boundary, 2000, METRIC))
    no_h = load_layer(catalog_entry("kunming_roads"), data_dir, clip=with_halo(jinning_boundary, 0, METRIC))
    key = lambda g: set(shapely.to_wkb(g.geometry.values))  # noqa: E731
    kept = key(with_h)
    assert key(crossing) <= kept  # whole lines, not cut at the border
    # roads wholly outside the unit but within the halo are kept only with the halo
    outside = with_h[~with_h.intersects(jinning_boundary.geometry.iloc[0])]
    assert len(outside) > 0
    assert not (key(outside) & key(no_h))
    d = outside.to_crs(METRIC).distance(gpd.GeoSeries([border], crs="EPSG:4326").to_crs(METRIC).iloc[0])
    assert d.max() <= 2000.5


# ----------------------------------------------------------------------------- hand-made geometry


def test_snapping_adds_offsets_and_snap_distance_exactly():
    # hand-made: one straight 1,000 m road; origin 10 m off at x=300; facility 5 m off at x=800
    roads = make_roads([[(0, 0), (1000, 0)]])
    net = build_network(roads, "walk", METRIC)
    d = nearest_distance(net, xy([(300, 10)]), xy([(800, -5)]))
    assert d[0] == pytest.approx(500 + 10 + 5, abs=1e-6)


def test_snapping_through_the_network_adds_both_legs():
    # hand-made L: (0,0)-(400,0)-(400,400); origin near (100,0), facility near (400,300)
    roads = make_roads([[(0, 0), (400, 0)], [(400, 0), (400, 400)]])
    net = build_network(roads, "walk", METRIC)
    d = nearest_distance(net, xy([(100, 3)]), xy([(396, 300)]))
    assert d[0] == pytest.approx(300 + 300 + 3 + 4, abs=1e-6)


def test_point_beyond_the_snap_limit_is_unreached_not_dropped():
    roads = make_roads([[(0, 0), (1000, 0)]])
    net = build_network(roads, "walk", METRIC)
    s = snap_points(net, xy([(500, 20), (500, 600)]), max_snap_m=250)
    assert list(s.reached) == [True, False]
    assert len(s) == 2
    d = nearest_distance(net, xy([(500, 20), (500, 600)]), xy([(0, 0)]), max_snap_m=250)
    assert d[0] == pytest.approx(520) and np.isinf(d[1])


def test_endpoints_join_within_tolerance_but_crossings_do_not():
    # hand-made: two lines ending 0.4 m apart join (tolerance 1 m); a third crosses them without an end point
    roads = make_roads([[(0, 0), (100, 0)], [(100.4, 0), (200, 0)], [(150, -50), (150, 50)]])
    net = build_network(roads, "walk", METRIC, keep_all_components=True)
    assert net.n_nodes == 5  # 0/100 merged; the crossing line (150,±50) is its own component
    assert "components" not in net.summary  # keep_all_components skips component filtering
    net2 = build_network(roads, "walk", METRIC)
    assert net2.summary["components"] == 2 and net2.summary["dropped_nodes"] == 2


def test_drive_respects_oneway_and_uses_time():
    # hand-made triangle: A(0,0)->B(1000,0) one-way; B-C-A two-way via C(500, 800)
    roads = make_roads(
        [[(0, 0), (1000, 0)], [(1000, 0), (500, 800)], [(500, 800), (0, 0)]],
        classes=["arterial", "branch", "branch"],
        oneway=[1, 0, 0],
    )
    net = build_network(roads, "drive", METRIC)
    a = snap_points(net, xy([(0, 0)]))
    b = snap_points(net, xy([(1000, 0)]))
    around = 2 * np.hypot(500, 800)
    # from A: B directly at 50 km/h
    da = node_distances(net, a, weight="time_s")
    tb = point_distances(net, da, b, weight="time_s")[0]
    assert tb == pytest.approx(1000 / (50 / 3.6), rel=1e-9)
    # from B to A: not backwards along the one-way, around at 25 km/h
    db = node_distances(net, b, weight="length_m")
    assert point_distances(net, db, a)[0] == pytest.approx(around, rel=1e-9)
    # "to the nearest facility" on a directed graph searches the reverse graph
    assert nearest_distance(net, xy([(1000, 0)]), xy([(0, 0)]))[0] == pytest.approx(around, rel=1e-9)
    assert nearest_distance(net, xy([(0, 0)]), xy([(1000, 0)]))[0] == pytest.approx(1000, rel=1e-9)


def test_reached_edges_cut_at_budget():
    # hand-made: 0 -- 1000 m -- 1; origin at node 0; budget 600 m reaches 600 m of the edge
    roads = make_roads([[(0, 0), (1000, 0)], [(1000, 0), (1000, 300)]])
    net = build_network(roads, "walk", METRIC)
    d = node_distances(net, snap_points(net, xy([(0, 0)])))
    r = reached_edges(net, d, 600)
    assert len(r) == 1
    row = r.iloc[0]
    assert (row["from_u_m"] + row["from_v_m"]) == pytest.approx(600) and not row["full"]
    r2 = reached_edges(net, d, 1100)
    assert len(r2) == 2 and r2["full"].sum() == 1


def test_scipy_and_csr_agree_on_real_graph_all_pairs_sample(jinning_walk):
    # the CSR (n+1 with spare super-source row) gives the same as NetworkX single-source runs
    net = jinning_walk
    g = nx_graph(net)
    src = [0, net.n_nodes // 2, net.n_nodes - 1]
    dist = dijkstra(net.csr(), indices=src)[:, : net.n_nodes]
    for k, s in enumerate(src):
        ref = nx.single_source_dijkstra_path_length(g, s, weight="length")
        idx = np.array(list(ref))
        assert np.allclose(dist[k, idx], [ref[i] for i in idx], atol=0.01)
        assert np.isfinite(dist[k]).all()  # one component kept


def test_points_at_nodes_of_one_way_edges_reach_their_node():
    # hand-made: one-way A->B then two-way B->C; a facility exactly at B on the one-way's end
    roads = make_roads([[(0, 0), (500, 0)], [(500, 0), (900, 0)]], classes=["branch", "branch"], oneway=[1, 0])
    net = build_network(roads, "drive", METRIC, keep_all_components=True)
    b = int(np.argmin(np.hypot(net.node_x - xy([(500, 0)])[0, 0], net.node_y - xy([(500, 0)])[0, 1])))
    s = snap_nodes(net, [b])
    d = node_distances(net, s)
    assert d[b] == 0.0
    assert np.isfinite(d).sum() == 2  # B and C; A is behind the one-way


def test_t_junction_end_on_a_line_interior_is_joined():
    # hand-made: a side road ends 0.3 m from the middle of a through road that is not split there
    roads = make_roads([[(0, 0), (1000, 0)], [(400, 0.3), (400, 500)]])
    net = build_network(roads, "walk", METRIC)
    assert net.summary["t_junctions_joined"] == 1
    assert net.summary["components"] == 1 and net.n_edges == 3
    d = nearest_distance(net, xy([(0, 0)]), xy([(400, 500)]))
    assert d[0] == pytest.approx(400 + 500, abs=0.5)
    off = build_network(roads, "walk", METRIC, join_t_junctions=False)
    assert off.summary["components"] == 2


def test_node_degree_counts_a_self_loop_once_and_parallel_edges_each():
    """Hand-made: a cul-de-sac loop at B (one street, as OSMnx count_streets_per_node), a
    parallel pair A–B, and a spur B–C.  Degrees: A 2, B 1 (loop) + 2 (pair) + 1 = 4, C 1."""
    roads = make_roads([
        [(0, 0), (100, 0)],
        [(0, 0), (50, 30), (100, 0)],
        [(100, 0), (150, 40), (180, 0), (100, 0)],
        [(100, 0), (100, -100)],
    ])
    net = build_network(roads, "walk", METRIC, keep_all_components=True)
    at = {(round(x - 700000.0), round(y - 2770000.0)): k for k, (x, y) in enumerate(zip(net.node_x, net.node_y, strict=True))}
    deg = net.node_degree()
    assert deg[at[(0, 0)]] == 2 and deg[at[(100, 0)]] == 4 and deg[at[(100, -100)]] == 1
    assert (net.nodes_gdf()["degree"].to_numpy() == deg).all()


# ----------------------------------------------------------------------------- snapping against GEOS


@pytest.fixture(params=["segment index", "GEOS"])
def snap_path(request, monkeypatch):
    """Run a snapping test through each of ``snap_points``' two paths: the segment index
    (any number of points) and GEOS (few points on a network without the index; the tests
    then use a cache-free copy of the network)."""
    from kmgis.network import snap

    monkeypatch.setattr(snap, "_FEW_POINTS", 0 if request.param == "segment index" else 10**9)
    return request.param


def uncached(net):
    """A copy of ``net`` with empty caches (no snapped sets, no segment index)."""
    import dataclasses

    return dataclasses.replace(net)


def reference_snap(net, pts_xy: np.ndarray, max_snap_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Independent reference: GEOS ``query_nearest`` (every equally near edge), the lowest
    edge index of exact ties, then ``line_locate_point``; (edge, snap_m, pos_m), -1/NaN beyond
    ``max_snap_m``."""
    pts = shapely.points(pts_xy)
    tree = shapely.STRtree(net.edge_geometry)
    (i, h), d = tree.query_nearest(pts, max_distance=max_snap_m, return_distance=True, all_matches=True)
    order = np.lexsort((h, i))
    first = order[np.r_[True, i[order][1:] != i[order][:-1]]]
    edge = np.full(len(pts), -1)
    dist = np.full(len(pts), np.nan)
    pos = np.full(len(pts), np.nan)
    edge[i[first]], dist[i[first]] = h[first], d[first]
    ok = edge >= 0
    pos[ok] = shapely.line_locate_point(net.edge_geometry[edge[ok]], pts[ok])
    return edge, dist, pos


def assert_snaps_like_geos(net, pts_xy: np.ndarray, max_snap_m: float) -> None:
    s = snap_points(uncached(net), pts_xy, max_snap_m=max_snap_m)
    edge, dist, pos = reference_snap(net, pts_xy, max_snap_m)
    assert len(s) == len(pts_xy)
    assert np.array_equal(s.reached, edge >= 0)
    ok = edge >= 0
    other = np.flatnonzero(ok & (s.edge != edge))  # only exact ties may pick another edge
    if len(other):
        d_other = shapely.distance(shapely.points(pts_xy[other]), net.edge_geometry[s.edge[other]])
        assert np.array_equal(d_other, dist[other])
    assert np.abs(s.snap_m[ok] - dist[ok]).max() <= 1e-9
    same = ok & (s.edge == edge)
    assert np.abs(s.pos_m[same] - pos[same]).max() <= 1e-9
    assert np.isnan(s.snap_m[~ok]).all() and np.isnan(s.pos_m[~ok]).all()


def test_snapping_equals_geos_nearest_edge_and_locate_on_the_jinning_walk_network(jinning_walk, snap_path):
    """A few thousand random points over the real Jinning walk network (and 1 km around it),
    plus every 7th node (distance 0 to all its edges: ties) and vertices of edges, against
    GEOS; 2,000 m also exercises the wider searches of far points."""
    net = jinning_walk
    rng = np.random.default_rng(7)
    bounds = shapely.total_bounds(net.edge_geometry)
    pts = rng.uniform(bounds[:2] - 1000, bounds[2:] + 1000, size=(4000, 2))
    nodes = np.column_stack([net.node_x, net.node_y])[::7]
    vertices = shapely.get_coordinates(net.edge_geometry[::11])
    near = vertices + rng.normal(0, 30, vertices.shape)
    for max_snap_m in (250.0, 2000.0):
        assert_snaps_like_geos(net, np.concatenate([pts, nodes, vertices, near]), max_snap_m)
    s = snap_points(uncached(net), nodes, max_snap_m=250.0)
    assert (s.snap_m == 0).all()
    edge, _, _ = reference_snap(net, nodes, 250.0)
    assert np.array_equal(s.edge, edge)  # a node is 0 m from each of its edges: the lowest index wins


def test_snapping_beyond_the_maximum_is_unreached_never_dropped(jinning_walk, snap_path):
    net = jinning_walk
    rng = np.random.default_rng(11)
    bounds = shapely.total_bounds(net.edge_geometry)
    pts = rng.uniform(bounds[:2] - 3000, bounds[2:] + 3000, size=(3000, 2))
    pts[:3] = np.nan  # no location: unreached as well
    s = snap_points(uncached(net), pts, max_snap_m=100.0)
    assert len(s) == len(pts)
    ref = np.full(len(pts), np.inf)
    (i, _), dist = shapely.STRtree(net.edge_geometry).query_nearest(shapely.points(pts[3:]), return_distance=True)
    ref[3 + i] = dist
    far = ref > 100.0
    assert far.sum() > 100 and (~far).sum() > 100
    assert (s.edge[far] == -1).all() and np.isnan(s.snap_m[far]).all() and np.isnan(s.pos_m[far]).all()
    assert (s.edge[~far] >= 0).all() and (s.snap_m[~far] <= 100.0).all()


def hand_network(lines: list[list[tuple[float, float]]]):
    """A Network made by hand from exact metric coordinates (edge k = lines[k]; nodes at the ends)."""
    from kmgis.network import Network

    ends = sorted({tuple(c) for line in lines for c in (line[0], line[-1])})
    node = {c: k for k, c in enumerate(ends)}
    geoms = np.array([LineString(line) for line in lines], dtype=object)
    n = len(lines)
    return Network(
        mode="walk", crs=METRIC,
        node_x=np.array([c[0] for c in ends]), node_y=np.array([c[1] for c in ends]),
        edge_u=np.array([node[tuple(line[0])] for line in lines]),
        edge_v=np.array([node[tuple(line[-1])] for line in lines]),
        edge_length_m=shapely.length(geoms), edge_time_s=shapely.length(geoms) / (4.8 / 3.6),
        edge_forward=np.ones(n, dtype=bool), edge_backward=np.ones(n, dtype=bool),
        edge_class=np.array(["branch"] * n), edge_geometry=geoms, edge_source_row=np.arange(n),
    )


@pytest.mark.parametrize("flip", [False, True])
def test_a_point_equidistant_to_two_edges_gets_the_lower_edge_index(flip, snap_path):
    """Hand-made, exact coordinates: two parallel 100 m roads 100 m apart and a point midway;
    a V of two roads meeting at (300, 0) and a point beyond the meeting node.  Either order of
    the edges: the lower index wins, at the same distance and position."""
    lines = [[(0, 0), (100, 0)], [(0, 100), (100, 100)], [(200, 50), (300, 0)], [(400, 50), (300, 0)]]
    if flip:
        lines = [lines[1], lines[0], lines[3], lines[2]]
    net = hand_network(lines)
    pts = np.array([[50.0, 50.0], [300.0, -40.0]])
    s = snap_points(net, pts)
    assert list(s.edge) == [0, 2]
    assert list(s.snap_m) == [50.0, 40.0]
    assert s.pos_m[0] == 50.0 and s.pos_m[1] == pytest.approx(np.hypot(100, 50), abs=1e-12)
    assert_snaps_like_geos(net, pts, 250.0)


def test_snapping_handles_long_segments_and_repeated_vertices_like_geos(snap_path):
    """Hand-made: a straight 5 km edge (many index pieces), an edge with a repeated vertex
    (a zero-length segment) and a short spur; random points around them against GEOS."""
    net = hand_network([
        [(0, 0), (5000, 0)],
        [(0, 300), (1000, 300), (1000, 300), (2500, 700)],
        [(2400, 50), (2410, 80)],
    ])
    rng = np.random.default_rng(3)
    pts = rng.uniform([-600, -600], [5600, 1300], size=(3000, 2))
    pts = np.concatenate([pts, [[1000.0, 300.0], [1000.0, 350.0], [2500.0, -10.0]]])
    for max_snap_m in (250.0, 5000.0):
        assert_snaps_like_geos(net, pts, max_snap_m)
    s = snap_points(net, np.array([[1000.0, 300.0], [500.0, 320.0]]))
    assert list(s.edge) == [1, 1] and list(s.snap_m) == [0.0, 20.0] and list(s.pos_m) == [1000.0, 500.0]
