"""`kmgis check-site` on sites built from the real derived Dianchi zones, and bad inputs (exit 2, nothing written).

Overlaps and distances are checked against a shapely computation in the test (1 m² / 1 m).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
import yaml
from conftest import METRIC, no_file_access, require_data
from shapely.ops import nearest_points

from kmgis.cli import main
from kmgis.config import PROJECT_ROOT, load_layers_yaml
from kmgis.crs import wgs84_to_gcj02

WGS84 = "EPSG:4326"
NOT_AVAILABLE = {"ecological_red_line", "permanent_basic_farmland", "urban_development_boundary",
                 "drinking_water_source", "g2013_zone2_rivers"}


@pytest.fixture(scope="module")
def zones():
    from kmgis.workflows.dianchi import dianchi_zones

    return dianchi_zones(require_data())


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Run in an empty working directory (maps must stay inside it)."""
    wd = tmp_path / "work"
    wd.mkdir()
    monkeypatch.chdir(wd)
    return wd


def to_wgs84(geom: shapely.Geometry) -> shapely.Geometry:
    return gpd.GeoSeries([geom], crs=METRIC).to_crs(WGS84).iloc[0]


def to_metric(geom: shapely.Geometry) -> shapely.Geometry:
    return gpd.GeoSeries([geom], crs=WGS84).to_crs(METRIC).iloc[0]


def check(capsys, *args: str) -> tuple[int, dict]:
    rc = main(["check-site", *args, "--data", str(require_data()), "--format", "json"])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return rc, json.loads(cap.out)


def rows(result: dict, feature: int = 0) -> dict[str, dict]:
    return {r["layer"]: r for r in result["features"][feature]["layers"]}


def assert_error(capsys, rc: int, *needles: str) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2, err
    assert len(err) == 1 and err[0].startswith("kmgis: error: "), err
    for n in needles:
        assert n in err[0], err[0]
    return err[0]


def write_geojson(path: Path, geoms: list[shapely.Geometry], names: list[str] | None = None) -> Path:
    gpd.GeoDataFrame({"name": names or [f"s{i}" for i in range(len(geoms))]}, geometry=geoms,
                     crs=WGS84).to_file(path, driver="GeoJSON")
    return path


def shore_point(zones, zone_id: str, side: str = "east") -> np.ndarray:
    """A vertex of the zone's outer ring on the east side of the lake (metric)."""
    geom = zones.get(zone_id).geometry
    poly = max(shapely.get_parts(geom), key=lambda g: g.area)
    co = shapely.get_coordinates(poly.exterior)
    lake = zones.get("dianchi_water").geometry
    cy = lake.centroid.y
    near = co[np.abs(co[:, 1] - cy) < 3000]
    return near[np.argmax(near[:, 0])] if side == "east" else near[np.argmin(near[:, 0])]


# --------------------------------------------------------------------------- the four sites


def test_point_in_the_lake_is_a_conflict(zones, workdir, capsys):
    rc, res = check(capsys, "102.70,24.85")
    assert rc == 3 and res["verdict"] == "conflict" and res["exit_code"] == 3
    r = rows(res)
    assert r["dianchi_water"]["relation"] == "inside" and r["dianchi_water"]["effect"] == "conflict"
    assert r["g2013_zone1"]["relation"] == "inside" and r["g2013_zone1"]["approximate"] is True
    p = to_metric(shapely.Point(102.70, 24.85))
    assert abs(r["g2013_zone1"]["distance_m"] - p.distance(zones.get("g2013_zone1").geometry.boundary)) < 1.0
    assert abs(r["g2023_core"]["distance_m"] - p.distance(zones.get("g2023_core").geometry)) < 1.0
    assert r["g2013_zone1"]["overlap_m2"] is None  # a point has no area
    # layers that are not available are said so, never clear
    na = {k for k, v in r.items() if v["status"] == "not available"}
    assert na == NOT_AVAILABLE
    assert all("supply" in r[k]["supply"] for k in na)
    assert "not available" in res["verdict_text"] and "生态保护红线" in res["verdict_text"]
    assert list(workdir.iterdir()) == []


def test_polygon_straddling_zone1_boundary_overlap_matches_shapely(zones, workdir, capsys):
    c = shore_point(zones, "g2013_zone1")
    square_m = shapely.box(c[0] - 250, c[1] - 200, c[0] + 150, c[1] + 200)
    path = write_geojson(workdir / "site.geojson", [to_wgs84(square_m)], ["straddle"])
    site_m = gpd.read_file(path).to_crs(METRIC).geometry.iloc[0]  # exactly what the tool reads
    z1 = zones.get("g2013_zone1").geometry
    expect = site_m.intersection(z1).area
    assert 1000 < expect < site_m.area - 1000
    rc, res = check(capsys, str(path))
    assert rc == 3 and res["verdict"] == "conflict"
    f = res["features"][0]
    assert f["label"] == "straddle" and abs(f["area_m2"] - site_m.area) < 1.0
    r = rows(res)["g2013_zone1"]
    assert r["relation"] == "overlaps" and r["effect"] == "conflict"
    assert abs(r["overlap_m2"] - expect) < 1.0
    assert abs(r["overlap_pct"] - 100 * expect / site_m.area) < 0.01
    assert r["distance_m"] == 0.0
    z2 = rows(res)["g2013_zone2"]
    assert abs(z2["overlap_m2"] - site_m.intersection(zones.get("g2013_zone2").geometry).area) < 1.0
    # the same in text
    rc = main(["check-site", str(path), "--data", str(require_data())])
    text = capsys.readouterr().out
    assert rc == 3 and "VERDICT: CONFLICT (exit 3)" in text
    assert f"{expect:,.1f}" in text and "一级保护区" in text and "not available" in text


def test_point_120m_outside_zone2_is_caution(zones, workdir, capsys):
    z2 = zones.get("g2013_zone2").geometry
    lake = zones.get("dianchi_water").geometry
    v = shapely.Point(shore_point(zones, "g2013_zone2"))
    assert abs(v.distance(lake) - 5000) < 1.0  # on the facing-hills approximation, not the basin edge
    near = nearest_points(lake, v)[0]
    dx, dy = v.x - near.x, v.y - near.y
    n = np.hypot(dx, dy)
    p_m = shapely.Point(v.x + 120 * dx / n, v.y + 120 * dy / n)
    p = to_wgs84(p_m)
    p_read = to_metric(shapely.Point(round(p.x, 9), round(p.y, 9)))
    expect = p_read.distance(z2)
    assert abs(expect - 120) < 2.0
    rc, res = check(capsys, f"{p.x:.9f},{p.y:.9f}")
    assert rc == 0 and res["verdict"] == "caution"
    r = rows(res)["g2013_zone2"]
    assert r["relation"] == "outside" and r["effect"] == "caution"
    assert abs(r["distance_m"] - expect) < 1.0
    assert any("from 二级保护区（至面山）" in s for s in res["features"][0]["reasons"])
    # outside the caution distance, zone 2 alone gives no caution
    rc, res = check(capsys, f"{p.x:.9f},{p.y:.9f}", "--caution-m", "100")
    assert rows(res)["g2013_zone2"]["effect"] == "none"


def test_site_30km_away_is_clear_but_names_unavailable_layers(zones, workdir, capsys):
    lake = zones.get("dianchi_water").geometry
    east = lake.bounds[2]
    p_m = shapely.Point(east + 30_000, lake.centroid.y)
    p = to_wgs84(p_m)
    rc, res = check(capsys, f"{p.x:.7f},{p.y:.7f},300")
    assert rc == 0 and res["verdict"] == "clear" and res["exit_code"] == 0
    site_m = to_metric(shapely.Point(round(p.x, 7), round(p.y, 7))).buffer(300, quad_segs=32)
    f = res["features"][0]
    assert abs(f["area_m2"] - np.pi * 300**2) / (np.pi * 300**2) < 0.002
    for layer_id, r in rows(res).items():
        if r["status"] == "checked":
            assert r["relation"] == "outside" and r["effect"] == "none"
            assert abs(r["distance_m"] - site_m.distance(zones.get(layer_id).geometry)) < 1.0
    assert 29_000 < rows(res)["dianchi_water"]["distance_m"] < 31_000  # about 30 km from the lake
    assert "clear — against the available layers only" in res["verdict_text"]


def test_gcj02_input_lands_in_another_zone_than_read_as_wgs84(zones, workdir, capsys):
    """A point just inside zone 2: its GCJ-02 numbers read as WGS84 fall ~350 m away, outside zone 2."""
    z2, z3 = zones.get("g2013_zone2").geometry, zones.get("g2013_zone3").geometry
    b = z2.bounds
    xs, ys = np.arange(b[0], b[2], 400.0), np.arange(b[1], b[3], 400.0)
    pts = gpd.GeoSeries([shapely.Point(x, y) for x in xs for y in ys], crs=METRIC)
    w = pts.to_crs(WGS84)
    glon, glat = wgs84_to_gcj02(w.x.values, w.y.values)
    as_wgs = gpd.GeoSeries(gpd.points_from_xy(glon, glat), crs=WGS84).to_crs(METRIC)
    ok = pts.within(z2).values & as_wgs.within(z3).values & (as_wgs.distance(z2).values > 250)
    i = int(np.flatnonzero(ok)[0])
    gcj = f"{glon[i]:.8f},{glat[i]:.8f}"
    rc_gcj, res_gcj = check(capsys, gcj, "--gcj02")
    rc_raw, res_raw = check(capsys, gcj)
    assert rc_gcj == 3 and rows(res_gcj)["g2013_zone2"]["relation"] == "inside"
    assert rc_raw == 0 and rows(res_raw)["g2013_zone2"]["relation"] == "outside"
    assert rows(res_raw)["g2013_zone3"]["relation"] == "inside" and res_raw["verdict"] == "caution"
    assert res_gcj["site"]["gcj02"] is True
    true_m = pts.iloc[i]
    assert abs(rows(res_gcj)["g2013_zone2"]["distance_m"] - true_m.distance(z2.boundary)) < 1.0


# --------------------------------------------------------------------------- formats and features


def test_multi_feature_file_is_checked_feature_by_feature(zones, workdir, capsys):
    far = to_wgs84(shapely.Point(zones.get("dianchi_water").geometry.bounds[2] + 30_000, 2_750_000))
    path = write_geojson(workdir / "two.geojson", [shapely.Point(102.70, 24.85), far], ["in lake", "far"])
    rc, res = check(capsys, str(path))
    assert rc == 3 and res["site"]["features"] == 2
    assert [f["verdict"] for f in res["features"]] == ["conflict", "clear"]
    assert [f["label"] for f in res["features"]] == ["in lake", "far"]


@pytest.mark.parametrize("fmt", ["wkt-text", "wkt-file", "shp", "gpkg", "kml"])
def test_input_formats(zones, workdir, capsys, fmt):
    c = shore_point(zones, "g2013_zone1")
    poly = to_wgs84(shapely.box(c[0] - 250, c[1] - 200, c[0] + 150, c[1] + 200))
    gdf = gpd.GeoDataFrame({"name": ["x"]}, geometry=[poly], crs=WGS84)
    if fmt == "wkt-text":
        arg = poly.wkt
    elif fmt == "wkt-file":
        (workdir / "site.wkt").write_text(poly.wkt + "\n", encoding="utf-8")
        arg = "site.wkt"
    elif fmt == "shp":
        gdf.to_file(workdir / "site.shp")
        arg = "site.shp"
    elif fmt == "gpkg":
        gdf.to_file(workdir / "site.gpkg", layer="site")
        arg = "site.gpkg"
    else:
        gdf.to_file(workdir / "site.kml", driver="KML")
        arg = "site.kml"
    rc, res = check(capsys, arg)
    assert rc == 3
    site_m = to_metric(shapely.from_wkt(poly.wkt)) if fmt.startswith("wkt") else None
    r = rows(res)["g2013_zone1"]
    assert r["relation"] == "overlaps"
    if site_m is not None:
        assert abs(r["overlap_m2"] - site_m.intersection(zones.get("g2013_zone1").geometry).area) < 1.0


def test_projected_input_with_crs_flag(zones, workdir, capsys):
    c = shore_point(zones, "g2013_zone1")
    square = shapely.box(c[0] - 250, c[1] - 200, c[0] + 150, c[1] + 200)
    gdf = gpd.GeoDataFrame({"name": ["utm"]}, geometry=[square])  # no CRS in the file
    gdf.to_file(workdir / "nocrs.shp")
    rc, res = check(capsys, "nocrs.shp", "--crs", "EPSG:32648")
    assert rc == 3 and res["site"]["input_crs"] == "EPSG:32648"
    assert abs(rows(res)["g2013_zone1"]["overlap_m2"] - square.intersection(zones.get("g2013_zone1").geometry).area) < 1.0


def test_map_is_written_inside_the_working_directory_and_escaped(zones, workdir, capsys):
    path = write_geojson(workdir / "s.geojson", [shapely.Point(102.70, 24.85)], ["{{ 7*7 }}<script>alert(1)</script>"])
    rc = main(["check-site", str(path), "--data", str(require_data()), "--map", "out/site.html"])
    assert rc == 2  # folder out/ does not exist
    capsys.readouterr()
    (workdir / "out").mkdir()
    rc = main(["check-site", str(path), "--data", str(require_data()), "--map", "out/site.html"])
    text = capsys.readouterr().out
    assert rc == 3 and "wrote" in text
    page = (workdir / "out" / "site.html").read_text(encoding="utf-8")
    assert "\\u0026#123;\\u0026#123; 7*7 \\u0026#125;\\u0026#125;\\u0026lt;script\\u0026gt;" in page  # JSON of the entities
    assert "<script>alert(1)" not in page and "{{ 7*7 }}" not in page
    assert "approximate" in page
    assert not [p for p in (workdir / "out").iterdir() if p.name != "site.html"]  # no temporary file left


# --------------------------------------------------------------------------- registered protection layers


def test_catalogue_protection_layers_are_checked(zones, workdir, capsys, monkeypatch, tmp_path):
    """Farmland (keep out) and an urban development boundary (stay within) registered as kind: protection."""
    import shutil

    layers = tmp_path / "layers"
    shutil.copytree(PROJECT_ROOT / "layers", layers)
    c = shore_point(zones, "g2013_zone2")
    site_m = shapely.box(c[0] - 2200, c[1] - 100, c[0] - 1800, c[1] + 100)
    farmland = shapely.box(c[0] - 2100, c[1] - 300, c[0] - 1700, c[1] + 300)
    udb = shapely.box(c[0] - 2500, c[1] - 500, c[0] - 2000, c[1] + 500)
    files = {}
    for name, geom, cat in (("farm", farmland, "permanent_basic_farmland"), ("udb", udb, "urban_development_boundary")):
        files[name] = tmp_path / f"{name}.gpkg"
        gpd.GeoDataFrame({"cat": [cat]}, geometry=[geom], crs=METRIC).to_file(files[name])
    cat = yaml.safe_load((layers / "catalog.yaml").read_text(encoding="utf-8"))
    for name in files:
        cat["layers"][f"test_{name}"] = {"kind": "protection", "reader": "file", "path": str(files[name]),
                                         "licence": "test", "fields": {"category": {"from": "cat"}}}
    (layers / "catalog.yaml").write_text(yaml.safe_dump(cat, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("KMGIS_LAYERS", str(layers))
    load_layers_yaml.cache_clear()
    try:
        path = write_geojson(workdir / "site.geojson", [to_wgs84(site_m)])
        site_read = gpd.read_file(path).to_crs(METRIC).geometry.iloc[0]
        rc, res = check(capsys, str(path))
    finally:
        load_layers_yaml.cache_clear()
    assert rc == 3
    r = rows(res)
    farm = r["test_farm:permanent_basic_farmland"]
    assert farm["relation"] == "overlaps" and farm["effect"] == "conflict" and farm["approximate"] is False
    assert abs(farm["overlap_m2"] - site_read.intersection(farmland).area) < 1.0
    ub = r["test_udb:urban_development_boundary"]
    assert ub["relation"] == "overlaps" and ub["effect"] == "conflict" and ub["mode"] == "stay_within"
    assert abs(ub["overlap_m2"] - site_read.intersection(udb).area) < 1.0
    assert any("outside" in s and "城镇开发边界" in s for s in res["features"][0]["reasons"])
    na = {u["layer"] for u in res["unavailable"]}
    assert na == {"ecological_red_line", "drinking_water_source", "g2013_zone2_rivers"}


# --------------------------------------------------------------------------- bad input: exit 2, one line, nothing written


def test_empty_file(workdir, capsys):
    (workdir / "empty.geojson").write_bytes(b"")
    assert_error(capsys, main(["check-site", "empty.geojson", "--map", "m.html"]), "empty")
    (workdir / "nofeat.geojson").write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    assert_error(capsys, main(["check-site", "nofeat.geojson", "--map", "m.html"]), "no features")
    assert not (workdir / "m.html").exists()


def test_self_intersecting_polygon_is_reported_or_repaired(zones, workdir, capsys):
    c = to_wgs84(shapely.Point(shore_point(zones, "g2013_zone1")))
    d = 0.003
    bowtie = shapely.Polygon([(c.x - d, c.y - d), (c.x + d, c.y + d), (c.x + d, c.y - d), (c.x - d, c.y + d)])
    assert not bowtie.is_valid
    write_geojson(workdir / "bowtie.geojson", [bowtie])
    assert_error(capsys, main(["check-site", "bowtie.geojson", "--map", "m.html"]), "Self-intersection",
                 "--make-valid")
    assert not (workdir / "m.html").exists()
    rc, res = check(capsys, "bowtie.geojson", "--make-valid")
    assert rc in (0, 3) and res["site"]["repaired_features"] == [1]
    fixed = to_metric(shapely.make_valid(gpd.read_file(workdir / "bowtie.geojson").geometry.iloc[0]))
    assert abs(res["features"][0]["area_m2"] - fixed.area) < 1.0


def test_unknown_crs(workdir, capsys):
    gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(102.7, 24.85)]).to_file(workdir / "nocrs.shp")
    assert_error(capsys, main(["check-site", "nocrs.shp"]), "declares no CRS", "--crs")
    assert_error(capsys, main(["check-site", "102.7,24.85", "--crs", "EPSG:999999"]), "unknown CRS")
    assert_error(capsys, main(["check-site", "102.7,24.85", "--crs", "not-a-crs"]), "unknown CRS")


def test_lon_lat_swapped(workdir, capsys):
    assert_error(capsys, main(["check-site", "24.85,102.70"]), "swapped")
    write_geojson(workdir / "swapped.geojson", [shapely.Point(24.85, 102.70)])
    assert_error(capsys, main(["check-site", "swapped.geojson"]), "swapped")


def test_site_outside_kunming(workdir, capsys):
    assert_error(capsys, main(["check-site", "100.23,25.60"]), "outside Kunming")  # Dali, Yunnan
    assert_error(capsys, main(["check-site", "116.40,39.90"]), "does not intersect the expected region")  # Beijing
    write_geojson(workdir / "mixed.geojson", [shapely.Point(102.70, 24.85), shapely.Point(100.23, 25.60)])
    assert_error(capsys, main(["check-site", "mixed.geojson"]), "feature 2 lies outside Kunming")


def test_large_file_is_refused_before_loading(workdir, capsys):
    big = workdir / "big.geojson"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # 50 MB of zeros: refused by size, never parsed
    assert_error(capsys, main(["check-site", "big.geojson", "--map", "m.html"]), "larger than the limit of 20 MB",
                 "--max-mb")
    assert_error(capsys, main(["check-site", "big.geojson", "--max-mb", "40"]), "limit of 40 MB")
    assert not (workdir / "m.html").exists()


def test_directory_instead_of_a_file(workdir, capsys):
    (workdir / "folder.geojson").mkdir()
    assert_error(capsys, main(["check-site", "folder.geojson"]), "is a folder")


def test_map_outside_the_working_directory(workdir, tmp_path, capsys):
    outside = tmp_path / "elsewhere.html"
    assert_error(capsys, main(["check-site", "102.70,24.85", "--map", str(outside)]), "outside the working directory")
    assert_error(capsys, main(["check-site", "102.70,24.85", "--map", "../escape.html"]), "outside the working directory")
    assert not outside.exists() and not (tmp_path / "escape.html").exists()
    assert list(workdir.iterdir()) == []


def test_exit_codes_through_the_real_command(workdir):
    env = {**os.environ, "KMGIS_DATA": str(require_data())}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "kmgis.cli", "check-site", *args], capture_output=True,
                              text=True, env=env, cwd=workdir, timeout=120)

    p = run("102.70,24.85", "--format", "json")
    assert p.returncode == 3 and json.loads(p.stdout)["verdict"] == "conflict"
    p = run("24.85,102.70")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


# --------------------------------------------------------------------------- pure: plain in-memory inputs




def test_check_site_runs_on_plain_in_memory_inputs():
    """A site and protection layers made in memory: relation, distances and verdict, no file read or written."""
    from kmgis.indicators.sitecheck import Layer, Unavailable, check_site
    from kmgis.sources.site import Site

    zone = shapely.box(300_000, 2_750_000, 301_000, 2_751_000)
    layers = [Layer("zone_a", "甲区", "zone A", "protection", zone, "conflict", "keep_out", "禁止建设", "no building",
                    False, "test"),
              Layer("zone_b", "乙区", "zone B", "dianchi_zone", zone.buffer(2000), "caution", "keep_out", "", "", True,
                    "test")]
    missing = [Unavailable("farmland", "永久基本农田", "permanent basic farmland", "supply: a layer")]
    sites = [shapely.box(300_900, 2_750_400, 301_100, 2_750_600),  # straddles zone A's east edge
             shapely.Point(301_150, 2_750_500),  # 150 m east of zone A
             shapely.Point(310_000, 2_750_500)]  # far from both
    metric = gpd.GeoSeries(sites, crs=METRIC)
    gdf = gpd.GeoDataFrame({"label": ["straddle", "near", "far"]}, geometry=metric.to_crs(WGS84), crs=WGS84)
    site = Site(gdf, metric, "in memory", "EPSG:32648", False)
    with no_file_access():
        res = check_site(site, layers, missing, caution_m=200.0)
        near_only = check_site(Site(gdf.iloc[1:2].reset_index(drop=True), metric.iloc[1:2].reset_index(drop=True),
                                    "in memory", "EPSG:32648", False), layers[:1], [], caution_m=100.0)
    assert res["verdict"] == "conflict" and res["exit_code"] == 3
    assert [f["verdict"] for f in res["features"]] == ["conflict", "caution", "clear"]
    a = rows(res, 0)["zone_a"]
    assert a["relation"] == "overlaps" and abs(a["overlap_m2"] - 100 * 200) < 1e-6 and a["overlap_pct"] == 50.0
    assert rows(res, 1)["zone_a"]["distance_m"] == 150.0 and rows(res, 1)["zone_a"]["effect"] == "caution"
    assert rows(res, 1)["zone_b"]["relation"] == "inside" and rows(res, 1)["zone_b"]["effect"] == "caution"
    assert rows(res, 2)["farmland"]["status"] == "not available"
    assert res["approximate_layers"] == ["zone_b"] and "not checked" in res["verdict_text"]
    assert near_only["verdict"] == "clear" and near_only["exit_code"] == 0
