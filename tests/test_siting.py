"""Siting (maximal covering, set covering): coverage sets against NetworkX, exact against spopt.

A hand-made coverage instance (seeded random sets, integer weights) and a small real clip:
the 晋宁 walk network (fixture ``jinning_walk``) with the hand-made residents of
``test_lifecircle.py`` (a 21 × 21 grid every 150 m, invented populations) and grid candidates.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pulp
import pytest
import scipy.sparse as sp
import shapely
from test_lifecircle import CENTRE, METRIC, make_residents, nx_nearest, xy_of

from kmgis.errors import KmgisError
from kmgis.indicators.siting import (
    Coverage,
    coverage_matrix,
    exact_mclp,
    greedy_mclp,
    grid_candidates,
    set_cover,
    siting,
)
from kmgis.network import snap_points

spopt_locate = pytest.importorskip("spopt.locate")

D = 600.0
BOX = shapely.box(CENTRE[0] - 1500, CENTRE[1] - 1500, CENTRE[0] + 1500, CENTRE[1] + 1500)


def hand_instance(k: int = 30, m: int = 200, seed: int = 7) -> tuple[Coverage, np.ndarray]:
    rng = np.random.default_rng(seed)
    dense = rng.random((k, m)) < 0.08
    mat = sp.csr_array(np.where(dense, 1.0, 0.0))
    return Coverage(mat, 1.0), rng.integers(1, 50, m).astype(float)


def spopt_objective(cov: Coverage, weights: np.ndarray, count: int) -> float:
    """spopt's MCLP on the same binary coverage (cost 0 covered, 2 not; radius 1)."""
    cost = np.where(cov.pattern.toarray().T > 0, 0.0, 2.0)  # residents × candidates
    model = spopt_locate.MCLP.from_cost_matrix(cost, weights, service_radius=1.0, p_facilities=count)
    model.solve(pulp.PULP_CBC_CMD(msg=False))
    return float(model.problem.objective.value())


def covered_by(cov: Coverage, weights: np.ndarray, sites) -> float:
    rows = cov.pattern[list(sites)]
    return float(weights[np.unique(rows.indices)].sum())


@pytest.fixture(scope="module")
def clip(jinning_walk):
    residents = make_residents()
    cands = grid_candidates(jinning_walk, gpd.GeoSeries([BOX], crs=METRIC), METRIC, 500.0)
    return jinning_walk, residents, cands


# ----------------------------------------------------------------------------- hand-made instance


@pytest.mark.parametrize("count", [1, 3, 6])
def test_exact_equals_spopt_and_greedy_within_bound(count):
    cov, w = hand_instance()
    greedy = greedy_mclp(cov, w, count)
    ex = exact_mclp(cov, w, count, method="exact")
    assert ex.method == "exact"
    assert ex.objective == spopt_objective(cov, w, count)
    assert covered_by(cov, w, ex.sites) == ex.objective and len(ex.sites) == count
    g = greedy.gains.sum()
    assert g == covered_by(cov, w, greedy.sites)
    assert (1 - 1 / math.e) * ex.objective <= g <= ex.objective
    lp = exact_mclp(cov, w, count, method="lp_relaxation")
    assert lp.objective >= ex.objective - 1e-6


def test_greedy_is_lazy_greedy():
    """Lazy evaluation gives the plain greedy (recompute every gain each step, ties to the lowest id)."""
    cov, w = hand_instance(seed=3)
    pat = cov.pattern.toarray() > 0
    left, plain = w.copy(), []
    for _ in range(8):
        gains = pat @ left
        j = int(np.flatnonzero(gains == gains.max())[0])
        plain.append(j)
        left[pat[j]] = 0
    assert greedy_mclp(cov, w, 8).sites.tolist() == plain


def test_set_cover_exact_is_minimum():
    cov, w = hand_instance()
    target = 0.6 * w.sum()
    sc = set_cover(cov, w, target)
    assert sc.method == "exact" and sc.reached
    assert covered_by(cov, w, sc.sites) >= target
    assert exact_mclp(cov, w, len(sc.sites) - 1, method="exact").objective < target
    greedy = set_cover(cov, w, target, exact=False)
    assert greedy.method == "greedy" and len(greedy.sites) >= len(sc.sites) >= greedy.lower_bound


# ----------------------------------------------------------------------------- real clip


def test_coverage_sets_equal_networkx(clip):
    net, residents, cands = clip
    res = snap_points(net, residents)
    cov = coverage_matrix(net, snap_points(net, cands), res, D)
    assert len(cands) > 10 and cov.matrix.nnz > 0
    rxy, cxy = xy_of(residents), xy_of(cands)
    for j in range(0, len(cands), max(1, len(cands) // 5)):
        ref = nx_nearest(net, rxy, cxy[j:j + 1], D + 1)
        row = cov.matrix[[j]]
        mine = np.full(len(rxy), np.inf)
        mine[row.indices] = row.data
        clear = np.abs(ref - D) > 1e-6
        np.testing.assert_array_equal((mine <= D)[clear], (ref <= D)[clear])
        both = np.isfinite(mine) & (ref <= D)
        np.testing.assert_allclose(mine[both], ref[both], atol=1e-6)


def test_real_exact_equals_spopt_gap_and_determinism(clip):
    net, residents, cands = clip
    kw = {"category": "clinic", "count": 4, "existing": "none", "distance_m": D, "area": BOX_WGS()}
    r1 = siting(net, residents, cands, **kw)
    r2 = siting(net, residents, cands, **kw)
    assert r1.layers["sites"]["candidate_id"].tolist() == r2.layers["sites"]["candidate_id"].tolist()
    gap = r1["siting_clinic_gap_pct"]
    assert gap.params["bound_method"] == "exact"
    res = snap_points(net, residents)
    cov = coverage_matrix(net, snap_points(net, cands), res, D)
    w = residents["population"].to_numpy(float)
    assert gap.params["bound_residents"] == pytest.approx(spopt_objective(cov, w, 4), rel=1e-12)
    gain = r1["siting_clinic_gain_residents"].value
    best = gap.params["bound_residents"]
    assert (1 - 1 / math.e) * best <= gain <= best
    assert gap.value == pytest.approx((best - gain) / best * 100)
    curve = r1.layers["coverage_curve"]
    assert curve["sites"].tolist() == [1, 2, 3, 4] and curve["residents_covered"].is_monotonic_increasing
    assert r1["siting_clinic_covered_pct"].value == pytest.approx(gain / w.sum() * 100)


def test_existing_keep_gives_no_gain_for_covered(clip):
    net, residents, cands = clip
    fac = gpd.GeoDataFrame({"category": ["clinic"]}, geometry=[cands.geometry.iloc[0]], crs=METRIC)
    keep = siting(net, residents, cands, category="clinic", count=2, facilities=fac, distance_m=D)
    none = siting(net, residents, cands, category="clinic", count=2, facilities=fac, distance_m=D, existing="none")
    assert keep["siting_clinic_gain_residents"].params["existing_covered_residents"] > 0
    assert none["siting_clinic_gain_residents"].params["existing_covered_residents"] == 0
    assert 0 not in keep.layers["sites"]["candidate_id"].tolist()  # the existing site's own cover gains nothing
    assert keep["siting_clinic_covered_pct"].value >= none["siting_clinic_covered_pct"].value - 1e-9


def BOX_WGS():  # noqa: N802
    return gpd.GeoSeries([BOX], crs=METRIC)


@pytest.mark.parametrize("kw, words", [
    ({"category": "hospital_xyz"}, ["unknown facility category", "clinic"]),
    ({"count": 0}, ["number of sites must be 1…"]),
    ({"count": 10_000}, ["number of sites must be 1…"]),
])
def test_bad_inputs_are_one_line(clip, kw, words):
    net, residents, cands = clip
    args = {"category": "clinic", "count": 2} | kw
    with pytest.raises(KmgisError) as err:
        siting(net, residents, cands, **args)
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words)


def test_candidate_outside_the_area(clip):
    net, residents, cands = clip
    far = gpd.GeoDataFrame(geometry=[shapely.Point(CENTRE[0] + 5000, CENTRE[1])], crs=METRIC)
    bad = gpd.GeoDataFrame(geometry=[*cands.geometry, *far.geometry], crs=METRIC)
    with pytest.raises(KmgisError, match="outside the study area") as err:
        siting(net, residents, bad, category="clinic", count=2, area=BOX_WGS())
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- command line


@pytest.mark.parametrize("extra, words", [
    (["--category", "nosuch", "--count", "3", "--grid", "500"], "unknown facility category"),
    (["--category", "clinic", "--count", "0", "--grid", "500"], "at least 1"),
    (["--category", "clinic", "--count", "3", "--grid", "-5"], "grid cell size must be positive"),
    (["--category", "clinic", "--count", "3", "--candidates", "nope.geojson"], "file not found"),
])
def test_cli_bad_inputs_one_line_exit_2_nothing_written(tmp_path, capsys, extra, words):
    from kmgis.cli import main

    out = tmp_path / "out"
    assert main(["site", "recipes/jinning.yaml", *extra, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err
    assert not out.exists()


def test_cli_site_writes_gpkg_and_curve(tmp_path, capsys, data_dir):
    from kmgis.cli import main
    from kmgis.config import PROJECT_ROOT

    out = tmp_path / "out"
    rc = main(["site", str(PROJECT_ROOT / "recipes" / "jinning.yaml"), "--category", "clinic", "--count", "3",
               "--grid", "1000", "--existing", "none", "--data", str(data_dir), "--out", str(out), "--quiet"])
    assert rc == 0
    folder = out / "jinning" / "siting-clinic"
    sites = gpd.read_file(folder / "sites.gpkg", layer="sites")
    cands = gpd.read_file(folder / "sites.gpkg", layer="candidates")
    assert sites["rank"].tolist() == [1, 2, 3] and (cands["greedy_rank"] > 0).sum() == 3
    raw = (folder / "coverage_curve.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"covered_pct" in raw
    page = (folder / "map.html").read_text(encoding="utf-8")
    assert "建议选址 Proposed sites" in page and "候选点 Candidates" in page
    assert "cdn.jsdelivr" not in page and "unpkg.com" not in page  # Leaflet inside the page: opens offline
    assert "siting_clinic_gap_pct" in capsys.readouterr().out
