"""Gaps, incremental what-if and floating catchments (issue #15) on real networks.

Networks: the Helsinki OSM sample (real roads and real facilities from ``read_osm_file``) and
the real 晋宁 walk network (``jinning_walk``) with stand-in facilities on network nodes.
Residents are hand-made grids of points with invented populations.  References: a full
recomputation (``nearest_distance`` over all facilities) for the what-if, PySAL ``access``
fed with kmgis's own cost table for 2SFCA / E2SFCA.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from kmgis.errors import KmgisError
from kmgis.indicators.scenario import Scenario
from kmgis.indicators.supply import (
    enhanced_two_step_fca,
    facility_resident_distances,
    service_gaps,
    two_step_fca,
)
from kmgis.model import WGS84
from kmgis.network import build_network, nearest_distance, snap_points

HELSINKI_CRS = "EPSG:32635"
JINNING_CRS = "EPSG:32648"


def grid_residents(net, step: float, seed: int = 1) -> gpd.GeoDataFrame:
    """Points every ``step`` m over the network's node extent, invented populations 5–60."""
    x0, x1 = np.percentile(net.node_x, [5, 95])
    y0, y1 = np.percentile(net.node_y, [5, 95])
    gx, gy = np.meshgrid(np.arange(x0, x1, step), np.arange(y0, y1, step))
    pop = np.random.default_rng(seed).integers(5, 60, gx.size).astype(float)
    return gpd.GeoDataFrame({"population": pop}, geometry=gpd.points_from_xy(gx.ravel(), gy.ravel()),
                            crs=net.crs).to_crs(WGS84)


@pytest.fixture(scope="module")
def helsinki(osm_sample_path):
    from kmgis.sources.osm import read_osm_file

    layers = read_osm_file(osm_sample_path, layers=("roads", "facilities"))
    net = build_network(layers["roads"], "walk", HELSINKI_CRS)
    return net, grid_residents(net, 60.0), layers["facilities"].reset_index(drop=True)


@pytest.fixture(scope="module")
def jinning(jinning_walk):
    net = jinning_walk
    rng = np.random.default_rng(7)
    nodes = rng.choice(net.n_nodes, size=40, replace=False)
    fac = gpd.GeoDataFrame({"category": ["clinic"] * 20 + ["school"] * 20,
                            "source_id": [f"node:{n}" for n in nodes]},
                           geometry=shapely.points(net.node_x[nodes], net.node_y[nodes]), crs=net.crs).to_crs(WGS84)
    return net, grid_residents(net, 400.0), fac


def full(net, residents, facilities, cutoff=np.inf):
    return nearest_distance(net, residents, facilities, cutoff=cutoff)


# ----------------------------------------------------------------------------- gaps


def test_gaps_count_residents_beyond_and_cells_add_up(helsinki):
    net, res, fac = helsinki
    r = service_gaps(net, res, fac, "culture", distance_m=400.0, area=res.union_all().convex_hull, crs=net.crs)
    d = full(net, res, fac[fac["category"] == "culture"])
    pop = res["population"].to_numpy()
    beyond = ~(d <= 400.0)
    assert 0 < beyond.sum() < len(d)
    assert r["gap_culture_residents"].value == pytest.approx(pop[beyond].sum())
    assert r["gap_culture_pct"].value == pytest.approx(pop[beyond].sum() / pop.sum() * 100)
    np.testing.assert_allclose(r.per_feature["dist_m"].to_numpy(), d)
    cells = r.layers["gap_cells"]
    assert list(cells.columns[:6]) == ["cell", "residents", "unreached", "distance_m", "over_m", "geometry"]
    assert cells["residents"].sum() == pytest.approx(pop[beyond].sum())
    assert (cells["over_m"].dropna() > 0).all() and cells["cell"].is_unique
    assert cells.crs == WGS84


def test_gaps_refuse_unknown_category_and_bad_distance(helsinki):
    net, res, fac = helsinki
    with pytest.raises(KmgisError, match="unknown facility category.*expected some of"):
        service_gaps(net, res, fac, "hospitalz", distance_m=500)
    with pytest.raises(KmgisError, match="positive"):
        service_gaps(net, res, fac, "culture", distance_m=0)


# ----------------------------------------------------------------------------- what-if


@pytest.mark.parametrize("cutoff", [np.inf, 1500.0])
def test_add_equals_full_recomputation_helsinki(helsinki, cutoff):
    net, res, fac = helsinki
    cul = fac[fac["category"] == "culture"]
    held = cul.iloc[[2, 11, 19]]
    sc = Scenario(net, res, fac.drop(index=held.index), categories=["culture"], cutoff_m=cutoff)
    ids = sc.add(held, "culture")
    assert ids == ["new:1", "new:2", "new:3"]
    ref = full(net, res, cul, cutoff)
    np.testing.assert_allclose(sc.after["culture"], ref, rtol=0, atol=1e-9)
    assert np.array_equal(np.isinf(sc.after["culture"]), np.isinf(ref))
    cov = sc.coverage(800.0).iloc[0]
    pop = res["population"].to_numpy()
    assert cov["residents_after"] == pytest.approx(pop[ref <= 800].sum())
    assert cov["gained"] == pytest.approx(cov["residents_after"] - cov["residents_before"]) and cov["lost"] == 0
    cells = sc.changed_cells(800.0, "culture")
    assert cells["gained"].sum() == pytest.approx(cov["gained"]) and cov["changed_cells"] == len(cells)


def test_add_and_remove_equal_recomputation_jinning(jinning):
    net, res, fac = jinning
    clinics = fac[fac["category"] == "clinic"]
    sc = Scenario(net, res, fac.iloc[3:], categories=["clinic", "school"])
    sc.add(clinics.iloc[:3], "clinic")
    np.testing.assert_allclose(sc.after["clinic"], full(net, res, clinics), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(sc.after["school"], sc.before["school"])  # other categories untouched
    sc.remove(["node:" + clinics["source_id"].iloc[5].split(":")[1], "new:2"])
    rest = clinics.drop(index=[clinics.index[5], clinics.index[1]])
    np.testing.assert_allclose(sc.after["clinic"], full(net, res, rest), rtol=0, atol=1e-9)
    assert "new:2" not in set(sc.facilities["fid"]) and list(sc.facilities["fid"]) == sorted(sc.facilities["fid"])
    with pytest.raises(KmgisError, match="no facility with id"):
        sc.remove(["nope"])


def test_whatif_is_deterministic_whatever_the_order(jinning):
    net, res, fac = jinning
    pts = fac[fac["category"] == "school"].iloc[:4]
    a = Scenario(net, res, fac.iloc[:20], categories=["school"])
    b = Scenario(net, res, fac.iloc[:20], categories=["school"])
    a.add(pts, "school")
    b.add(pts.iloc[::-1], "school")
    np.testing.assert_array_equal(a.after["school"], b.after["school"])
    pd.testing.assert_frame_equal(a.coverage(1200), b.coverage(1200))


def test_add_far_from_roads_is_refused(jinning):
    net, res, fac = jinning
    sc = Scenario(net, res, fac, categories=["clinic"])
    far = gpd.GeoSeries(shapely.points([net.node_x.max() + 5000], [net.node_y.max() + 5000]), crs=net.crs)
    with pytest.raises(KmgisError, match="from any road"):
        sc.add(far, "clinic")
    with pytest.raises(KmgisError, match="not in this scenario"):
        sc.add(far, "school")


# ----------------------------------------------------------------------------- 2SFCA / E2SFCA


def _access_reference(net, res, fac, d0, weight_fn=None, enhanced=False):
    """PySAL access on kmgis's own facility → resident cost table."""
    import access

    targets = snap_points(net, res)
    sources = snap_points(net, fac)
    j, i, d = facility_resident_distances(net, targets, sources, d0)
    cost = pd.DataFrame({"origin": i, "dest": j, "cost": d})
    demand = pd.DataFrame({"rid": np.arange(len(res)), "pop": res["population"].to_numpy()})
    supply = pd.DataFrame({"fid": np.arange(len(fac)), "cap": fac["cap"].to_numpy()})
    acc = access.Access(demand_df=demand, demand_index="rid", demand_value="pop", supply_df=supply,
                        supply_index="fid", supply_value="cap",
                        cost_df=cost, cost_origin="origin", cost_dest="dest", cost_name="cost")
    if enhanced:
        out = acc.enhanced_two_stage_fca(name="e", max_cost=d0, weight_fn=weight_fn)
    else:
        out = acc.two_stage_fca(name="t", max_cost=d0, weight_fn=weight_fn)
    col = out.columns[0]
    return out[col].reindex(np.arange(len(res))).fillna(0.0).to_numpy()


@pytest.fixture(scope="module")
def with_capacity(helsinki):
    net, res, fac = helsinki
    fac = fac[fac["category"].isin(["bus_stop", "culture"])].copy()
    fac["cap"] = np.random.default_rng(3).integers(1, 50, len(fac)).astype(float)
    return net, res, fac


def test_2sfca_equals_pysal_access(with_capacity):
    net, res, fac = with_capacity
    r = two_step_fca(net, res, fac, capacity="cap", d0_m=500.0)
    ref = _access_reference(net, res, fac, 500.0)
    got = r.per_feature["fca_2sfca"].to_numpy()
    assert (got > 0).sum() > 100
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


def test_e2sfca_equals_pysal_access_step_and_gaussian(with_capacity):
    from access import weights

    net, res, fac = with_capacity
    zones = {200.0: 1.0, 350.0: 0.68, 500.0: 0.22}
    r = enhanced_two_step_fca(net, res, fac, capacity="cap", d0_m=500.0, zones=zones)
    ref = _access_reference(net, res, fac, 500.0, weights.step_fn(zones), enhanced=True)
    np.testing.assert_allclose(r.per_feature["fca_e2sfca"].to_numpy(), ref, rtol=1e-12, atol=1e-12)
    r = enhanced_two_step_fca(net, res, fac, capacity="cap", d0_m=500.0, decay="gaussian", sigma_m=250.0)
    ref = _access_reference(net, res, fac, 500.0, weights.gaussian(250.0), enhanced=True)
    np.testing.assert_allclose(r.per_feature["fca_e2sfca"].to_numpy(), ref, rtol=1e-12, atol=1e-12)


def test_facility_resident_distances_match_nearest_distance(with_capacity):
    net, res, fac = with_capacity
    targets, sources = snap_points(net, res), snap_points(net, fac)
    j, i, d = facility_resident_distances(net, targets, sources, 500.0)
    nearest = np.full(len(res), np.inf)
    np.minimum.at(nearest, i, d)
    np.testing.assert_allclose(nearest, nearest_distance(net, targets, sources, cutoff=500.0), rtol=0, atol=1e-9)


def test_fca_refuses_missing_capacity(with_capacity):
    net, res, fac = with_capacity
    with pytest.raises(KmgisError, match="capacity column"):
        two_step_fca(net, res, fac, capacity="beds", d0_m=500.0)


# ----------------------------------------------------------------------------- CLI (the OSM sample recipe)


@pytest.fixture(scope="module")
def sample_recipe():
    from kmgis.config import PROJECT_ROOT

    return str(PROJECT_ROOT / "recipes/samples/osm-sample.yaml")


def test_cli_gaps_writes_cells_csv_and_gpkg(sample_recipe, tmp_path):
    import pyogrio

    from kmgis.cli import main

    assert main(["gaps", sample_recipe, "--category", "culture", "--level", "15min", "--out", str(tmp_path),
                 "--quiet"]) == 0
    csv = tmp_path / "osm-sample" / "gaps_culture.csv"
    raw = csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(csv, encoding="utf-8-sig")
    assert list(table.columns) == ["cell", "residents", "distance_m", "over_m", "unreached"]
    assert len(table) > 0 and (table["over_m"].dropna() > 0).all()
    assert pyogrio.list_layers(tmp_path / "osm-sample" / "gaps_culture.gpkg")[0][0] == "gap_cells"
    page = (tmp_path / "osm-sample" / "gaps_culture.html").read_text(encoding="utf-8")
    assert "Residents beyond 1000 m of a culture" in page  # the 15-min level: 1,000 m
    assert "unpkg.com" not in page and "cdn.jsdelivr" not in page  # Leaflet inside: opens offline


def test_cli_whatif_adds_a_point(sample_recipe, tmp_path):
    from kmgis.cli import main

    assert main(["whatif", sample_recipe, "--add", "24.9385,60.1699,culture", "--add", "24.95,60.165",
                 "--category", "school", "--level", "10min", "--out", str(tmp_path), "--quiet"]) == 0
    table = pd.read_csv(tmp_path / "osm-sample" / "whatif.csv", encoding="utf-8-sig")
    assert sorted(table["category"]) == ["culture", "school"]
    assert (table["residents_after"] >= table["residents_before"]).all() and (table["lost"] == 0).all()


@pytest.mark.parametrize("argv, message", [
    (["gaps", "{r}", "--category", "hospitalz"], "unknown facility category.*known|expected some of"),
    (["gaps", "{r}", "--category", "culture", "--distance", "0"], "positive"),
    (["gaps", "{r}", "--category", "culture", "--level", "20min"], "unknown life-circle level"),
    (["whatif", "{r}", "--add", "102.70,25.04,clinic"], "outside the study area"),
    (["whatif", "{r}", "--add", "24.94,60.17"], "no category"),
    (["whatif", "{r}", "--add", "24.94,60.17,spa"], "unknown facility category"),
    (["whatif", "{r}"], "nothing to do"),
])
def test_cli_bad_inputs_one_line_nothing_written(sample_recipe, tmp_path, capsys, argv, message):
    import re

    from kmgis.cli import main

    args = [a.replace("{r}", sample_recipe) for a in argv] + ["--out", str(tmp_path / "out"), "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and re.search(message, err), err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.csv"))


def test_scorecard_gap_totals_complement_the_life_circle(recipe_runs):
    """The OSM sample's gap rows are the life circle's coverage seen from the other side: at the same
    1,200 m, gap % + lifecircle % = 100 for every category, and persons = % × residents."""
    card = recipe_runs[1]["osm-sample"].scorecard.drop_duplicates("indicator").set_index("indicator")
    from kmgis.indicators.lifecircle import select_categories

    residents = card.loc["gap_school_residents", "value"] / card.loc["gap_school_pct", "value"] * 100
    for cat in select_categories():
        assert card.loc[f"gap_{cat}_pct", "value"] + card.loc[f"lifecircle_{cat}_pct", "value"] == pytest.approx(
            100.0, abs=2e-3), cat
        assert card.loc[f"gap_{cat}_residents", "value"] == pytest.approx(
            card.loc[f"gap_{cat}_pct", "value"] / 100 * residents, rel=1e-3), cat


def test_gap_totals_without_facilities_are_no_data(jinning_walk):
    from kmgis.indicators.supply import gap_totals

    res = gpd.GeoDataFrame({"population": [5.0]}, geometry=gpd.points_from_xy([102.60], [24.667]), crs="EPSG:4326")
    out = gap_totals(jinning_walk, res, None)
    assert set(out.to_frame()["status"]) == {"no data"} and "facilities (school" in out["gap_school_pct"].missing
