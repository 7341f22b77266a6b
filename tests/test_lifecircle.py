"""15-minute life circle on the real 晋宁 walk network, against an independent NetworkX recomputation.

Fixtures: the hand-made POI table of ``test_poi.py`` (both variants: WGS84 + category
column, and the GCJ-02 Amap export with type codes) and **hand-made residents**: a 21 × 21
grid of points every 150 m over 3 × 3 km of 晋宁 around 102.68°E 24.68°N with invented
populations (``kmgis.population`` is not used: it is being written elsewhere).  About a
quarter of the grid lies farther than 250 m from any road (unsnapped residents).

The reference (:func:`nx_nearest`) shares nothing with the engine but the edge list: its own
snapping (STRtree ``dwithin`` + ``shapely.distance`` + ``line_locate_point``), an
``nx.Graph`` (shortest of parallel edges kept) in which every snapped point splits its edge
and hangs on a stub edge of its snap length, and ``nx.multi_source_dijkstra_path_length``.
"""

from __future__ import annotations

import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString
from test_poi import read_variant, write_poi_csvs

from kmgis.config import load_layers_yaml
from kmgis.indicators.lifecircle import access_grid, lifecircle
from kmgis.model import conform, empty_layer
from kmgis.network import build_network, nearest_distance

METRIC = "EPSG:32648"
CENTRE = (265450.0, 2731250.0)  # UTM 48N, 晋宁 (102.682°E 24.678°N)
CATEGORIES = [c for c, spec in load_layers_yaml("facilities")["categories"].items() if spec.get("lifecircle", True)]


# ----------------------------------------------------------------------------- reference


def _run(*args, **kwargs):
    """lifecircle's records and per-resident distances (the Result's parts)."""
    res = lifecircle(*args, **kwargs)
    return list(res), res.per_feature


def independent_snap(net, xy: np.ndarray, max_snap_m: float) -> pd.DataFrame:
    """Nearest edge of each point within ``max_snap_m`` (ties: lowest edge index), its position and distance."""
    pts = shapely.points(xy)
    tree = shapely.STRtree(net.edge_geometry)
    pi, ei = tree.query(pts, predicate="dwithin", distance=max_snap_m)
    d = shapely.distance(pts[pi], net.edge_geometry[ei])
    best = pd.DataFrame({"point": pi, "edge": ei, "snap": d}).sort_values(["point", "snap", "edge"])
    best = best.drop_duplicates("point").set_index("point")
    best["pos"] = shapely.line_locate_point(net.edge_geometry[best["edge"].to_numpy()], pts[best.index.to_numpy()])
    return best


def nx_nearest(net, origins_xy: np.ndarray, sources_xy: np.ndarray, cutoff: float, max_snap_m: float = 250.0):
    """Network distance (m) from each origin to the nearest source, by NetworkX (inf beyond cutoff)."""
    o = independent_snap(net, origins_xy, max_snap_m).assign(kind="o")
    s = independent_snap(net, sources_xy, max_snap_m).assign(kind="s")
    pts = pd.concat([o, s]).rename_axis("k").reset_index().sort_values(["edge", "pos"])
    carrying = set(pts["edge"])
    g = nx.Graph()
    for i, (u, v, w) in enumerate(zip(net.edge_u, net.edge_v, net.edge_length_m, strict=True)):
        if i in carrying or u == v:
            continue
        if not g.has_edge(u, v) or g[u][v]["length"] > w:
            g.add_edge(int(u), int(v), length=float(w))
    for e, grp in pts.groupby("edge"):
        prev, prev_pos = int(net.edge_u[e]), 0.0
        for k, kind, pos, snap in zip(grp["k"], grp["kind"], grp["pos"], grp["snap"], strict=True):
            on = ("on", kind, int(k))
            g.add_edge(prev, on, length=float(pos - prev_pos))
            g.add_edge(on, ("pt", kind, int(k)), length=float(snap))
            prev, prev_pos = on, float(pos)
        g.add_edge(prev, int(net.edge_v[e]), length=float(net.edge_length_m[e] - prev_pos))
    sources = [("pt", "s", int(k)) for k in s.index]
    out = np.full(len(origins_xy), np.inf)
    if sources:
        res = nx.multi_source_dijkstra_path_length(g, sources, cutoff=cutoff, weight="length")
        for k in o.index:
            out[k] = res.get(("pt", "o", int(k)), np.inf)
    return out


# ----------------------------------------------------------------------------- fixtures


def make_residents() -> gpd.GeoDataFrame:
    """Hand-made residents: a 21 × 21 grid every 150 m, invented populations 20–72 persons."""
    steps = np.arange(-1500.0, 1501.0, 150.0)
    gx, gy = np.meshgrid(steps + CENTRE[0], steps + CENTRE[1])
    i = np.arange(gx.size)
    return gpd.GeoDataFrame(
        {"population": (20 + (7 * i) % 53).astype(float)},
        geometry=gpd.points_from_xy(gx.ravel(), gy.ravel()),
        crs=METRIC,
    ).to_crs("EPSG:4326")


@pytest.fixture(scope="module")
def residents() -> gpd.GeoDataFrame:
    return make_residents()


@pytest.fixture(scope="module")
def poi_paths(tmp_path_factory) -> dict[str, Path]:
    return write_poi_csvs(tmp_path_factory.mktemp("poi"))


def xy_of(gdf, crs: str = METRIC) -> np.ndarray:
    """Point coordinates (n × 2) in ``crs``, metres."""
    g = gdf.to_crs(crs).geometry
    return np.c_[g.x.to_numpy(), g.y.to_numpy()]


def share(pop, mask) -> float:
    return pop[mask].sum() / pop.sum() * 100


# ----------------------------------------------------------------------------- real data


@pytest.mark.parametrize("variant", ["category", "amap"])
def test_lifecircle_equals_networkx_recomputation(jinning_walk, residents, poi_paths, variant):
    net = jinning_walk
    fac = read_variant(poi_paths, variant)
    t0 = time.perf_counter()
    rows, table = _run(net, residents, fac)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5
    by = {r.indicator: r for r in rows}
    expected_names = [n for c in CATEGORIES for n in (f"lifecircle_{c}_pct", f"lifecircle_{c}_1000m_pct",
                                                       f"lifecircle_{c}_1500m_pct")]
    assert [r.indicator for r in rows] == [*expected_names, "lifecircle_complete_pct"]
    assert list(table.columns) == [f"dist_m_{c}" for c in CATEGORIES]
    assert table.index.equals(residents.index)

    pop = residents["population"].to_numpy()
    rxy = xy_of(residents)
    fxy = xy_of(fac)
    all_within = np.ones(len(pop), dtype=bool)
    for cat in CATEGORIES:
        mine = table[f"dist_m_{cat}"].to_numpy()
        sel = (fac["category"] == cat).to_numpy()
        if not sel.any():
            assert variant == "amap" and cat == "elderly_care"
            assert np.isinf(mine).all()
            r = by["lifecircle_elderly_care_pct"]
            assert r.value == 0.0 and r.has_value
            assert "no elderly_care mapped in the area; OSM coverage may be incomplete" in r.method
            assert "no Amap type code maps to it" in r.method
            all_within &= False
            continue
        ref = nx_nearest(net, rxy, fxy[sel], cutoff=1500.0)
        assert np.array_equal(np.isfinite(mine), np.isfinite(ref)), cat
        fin = np.isfinite(ref)
        assert fin.sum() > 20, cat  # the comparison is not vacuous
        assert np.abs(mine[fin] - ref[fin]).max() < 1e-6, cat
        for name, limit in ((f"lifecircle_{cat}_pct", 1200.0), (f"lifecircle_{cat}_1000m_pct", 1000.0),
                            (f"lifecircle_{cat}_1500m_pct", 1500.0)):
            assert by[name].value == pytest.approx(share(pop, ref <= limit), rel=1e-12, abs=1e-12), name
            assert by[name].unit == "%"
        all_within &= ref <= 1200.0
    complete = by["lifecircle_complete_pct"]
    assert complete.value == pytest.approx(share(pop, all_within), rel=1e-12, abs=1e-12)
    if variant == "category":
        assert 0 < complete.value < 50
    else:
        assert complete.value == 0.0 and "elderly_care" in complete.method
    # unsnapped residents are counted, not dropped
    unsnapped = complete.params["residents_unsnapped"]
    assert 50 < unsnapped < 150 and complete.params["resident_points"] == 441
    assert np.isinf(table.to_numpy()).all(axis=1).sum() >= unsnapped


def test_one_search_per_category_not_per_resident(jinning_walk, residents, poi_paths, monkeypatch):
    import kmgis.indicators.lifecircle as lc

    calls = []
    real = lc.nearest_distance

    def counting(*args, **kwargs):
        calls.append(kwargs.get("cutoff"))
        return real(*args, **kwargs)

    monkeypatch.setattr(lc, "nearest_distance", counting)
    lifecircle(jinning_walk, residents, read_variant(poi_paths, "category"))
    assert calls == [1500.0] * 8


def test_missing_facilities_layer_is_no_data_naming_tags(jinning_walk, residents):
    for fac in (None, empty_layer("facilities")):
        rows, table = _run(jinning_walk, residents, fac)
        assert all(np.isnan(r.value) and not r.has_value for r in rows)
        by = {r.indicator: r for r in rows}
        assert "amenity=school" in by["lifecircle_school_pct"].missing
        assert "Amap type codes 141202/141203" in by["lifecircle_school_pct"].missing
        assert "highway=bus_stop" in by["lifecircle_bus_stop_1500m_pct"].missing
        assert "no Amap type code maps to it" in by["lifecircle_elderly_care_pct"].missing
        assert by["lifecircle_complete_pct"].missing.startswith("facilities")
        assert table.isna().all().all()
    rows, _ = _run(jinning_walk, None, empty_layer("facilities"))
    assert all("population" in r.missing for r in rows)


def test_categories_and_speed_parameters(jinning_walk, residents, poi_paths):
    fac = read_variant(poi_paths, "category")
    rows, table = _run(jinning_walk, residents, fac, categories=["bus_stop", "school"], walk_kmh=3.6,
                             minutes=10, band_m=(800,))
    assert [r.indicator for r in rows] == ["lifecircle_school_pct", "lifecircle_school_800m_pct",
                                          "lifecircle_bus_stop_pct", "lifecircle_bus_stop_800m_pct",
                                          "lifecircle_complete_pct"]
    assert rows[0].params["reach_m"] == pytest.approx(600.0)
    d = table["dist_m_school"].to_numpy()
    pop = residents["population"].to_numpy()
    assert rows[0].value == pytest.approx(share(pop, d <= 600.0), rel=1e-12)
    assert d[np.isfinite(d)].max() <= 800.0  # cut-off = max(600 m, 800 m)
    with pytest.raises(Exception, match="unknown facility category"):
        lifecircle(jinning_walk, residents, fac, categories=["hospital"])


def test_access_grid_equals_nearest_distance_from_cell_centres(jinning_walk, poi_paths):
    net = jinning_walk
    fac = read_variant(poi_paths, "category")
    area = gpd.GeoSeries([shapely.box(CENTRE[0] - 700, CENTRE[1] - 500, CENTRE[0] + 630, CENTRE[1] + 490)],
                         crs=METRIC)
    grid = access_grid(net, fac, area.to_crs("EPSG:4326"), METRIC, cell_m=100.0, max_m=1500.0)
    assert grid.crs.to_epsg() == 4326
    assert list(grid.columns) == ["cell_id", *(f"walk_min_{c}" for c in CATEGORIES), "complete_15min", "geometry"]
    cells = grid.to_crs(METRIC)
    assert len(grid) == 14 * 11  # aligned on multiples of 100 m: x 264700–266100, y 2730700–2731800
    assert cells.union_all().covers(area.iloc[0].buffer(-1e-3))
    assert np.allclose(cells.area, 1e4, rtol=1e-6)
    centres = np.c_[cells.centroid.x, cells.centroid.y]
    metres_per_min = 4.8 * 1000 / 60
    within = np.ones(len(grid), dtype=bool)
    for cat in CATEGORIES:
        d = nearest_distance(net, centres, fac[fac["category"] == cat], cutoff=1500.0)
        expected = np.where(np.isfinite(d), d / metres_per_min, np.nan)
        got = grid[f"walk_min_{cat}"].to_numpy()
        assert np.array_equal(np.isnan(got), np.isnan(expected)), cat
        ok = ~np.isnan(got)
        assert ok.sum() > 10 and np.abs(got[ok] - expected[ok]).max() < 1e-6, cat
        within &= np.nan_to_num(got, nan=np.inf) <= 15.0
    assert np.array_equal(grid["complete_15min"].to_numpy(), within)
    assert 0 < within.sum() < len(grid)
    assert grid.attrs["access_grid"]["categories_without_facilities"] == []


def test_grid_cells_are_aligned_and_touching_cells_excluded():
    from kmgis.indicators.lifecircle import grid_cells

    cells, cx, cy = grid_cells(shapely.box(700000, 2770000, 701000, 2770500), 100.0)
    assert len(cells) == 50  # the 11th column / row only touches the area
    assert cx.min() == 700050 and cy.max() == 2770450


# ----------------------------------------------------------------------------- hand-made geometry


def make_roads(lines_m) -> gpd.GeoDataFrame:
    origin = np.array([700000.0, 2770000.0])  # UTM 48N, inside 晋宁
    geoms = [LineString(np.asarray(c, dtype=float) + origin) for c in lines_m]
    df = gpd.GeoDataFrame({"road_class": ["branch"] * len(geoms)}, geometry=geoms, crs=METRIC)
    return conform("roads", df.to_crs("EPSG:4326"))


def points_m(coords, crs=METRIC) -> gpd.GeoSeries:
    return gpd.GeoSeries(gpd.points_from_xy(*(np.asarray(coords, dtype=float) + [700000.0, 2770000.0]).T), crs=crs)


U_ROADS = [[(0, -100), (1000, -100)], [(1000, -100), (1000, 100)], [(1000, 100), (0, 100)]]
"""Hand-made: a river along y = 0 with one bridge at x = 1000: roads on both banks form a U."""


def test_straight_line_close_but_network_far_is_not_covered():
    net = build_network(make_roads(U_ROADS), "walk", METRIC)
    # resident A on the south bank, 220 m in a straight line from the facility across the river
    residents = gpd.GeoDataFrame({"population": [100.0, 100.0]},
                                 geometry=points_m([(100, -110), (300, 110)]), crs=METRIC).to_crs("EPSG:4326")
    fac = conform("facilities", gpd.GeoDataFrame({"category": ["market"]}, geometry=points_m([(100, 110)]),
                                                 crs=METRIC).to_crs("EPSG:4326"))
    straight = residents.to_crs(METRIC).distance(fac.to_crs(METRIC).geometry.iloc[0]).to_numpy()
    assert straight[0] == pytest.approx(220.0, abs=1e-6)
    rows, table = _run(net, residents, fac, categories=["market"], minutes=3.75, band_m=(300.0, 2500.0))
    by = {r.indicator: r for r in rows}
    assert by["lifecircle_market_pct"].params["reach_m"] == pytest.approx(300.0)
    d = table["dist_m_market"].to_numpy()
    assert d[0] == pytest.approx(10 + 900 + 200 + 900 + 10, abs=1e-6)  # around by the bridge
    assert d[1] == pytest.approx(10 + 200 + 10, abs=1e-6)
    assert by["lifecircle_market_pct"].value == pytest.approx(50.0)  # only B, not A
    assert by["lifecircle_market_300m_pct"].value == pytest.approx(50.0)
    assert by["lifecircle_market_2500m_pct"].value == pytest.approx(100.0)
    ref = nx_nearest(net, xy_of(residents), xy_of(fac), cutoff=3000.0)
    assert np.allclose(d, ref, atol=1e-6)


def test_resident_beyond_snap_distance_is_counted_not_dropped():
    net = build_network(make_roads(U_ROADS), "walk", METRIC)
    residents = gpd.GeoDataFrame({"population": [100.0, 300.0]},
                                 geometry=points_m([(500, -110), (500, -600)]), crs=METRIC).to_crs("EPSG:4326")
    fac = conform("facilities", gpd.GeoDataFrame({"category": ["bus_stop"]}, geometry=points_m([(600, -100)]),
                                                 crs=METRIC).to_crs("EPSG:4326"))
    rows, table = _run(net, residents, fac, categories=["bus_stop"])
    assert rows[0].value == pytest.approx(25.0)
    assert rows[0].params["residents_unsnapped"] == 1 and rows[0].params["population_unsnapped"] == 300.0
    assert np.isinf(table["dist_m_bus_stop"].iloc[1])
