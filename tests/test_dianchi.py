"""Dianchi protection zones: the rules table, the zones on the real lake polygon, rivers, DEM basin, `kmgis dianchi`."""

from __future__ import annotations

import copy
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import METRIC, no_file_access, require_data

from kmgis.cli import main
from kmgis.config import load_layers_yaml

QUAD = 16


@pytest.fixture(scope="module")
def zones():
    from kmgis.workflows.dianchi import dianchi_zones

    return dianchi_zones(require_data())


@pytest.fixture(scope="module")
def lake_m():
    from kmgis.config import catalog_entry
    from kmgis.sources import load_layer

    lake = load_layer(catalog_entry("dianchi_lake"), require_data())
    return shapely.union_all(np.asarray(lake.to_crs(METRIC).geometry.values))


# --------------------------------------------------------------------------- the rules table


def test_rules_every_number_is_sourced_or_assumed():
    from kmgis.workflows.dianchi import load_rules

    rules = load_rules()
    sources = rules["sources"]
    for key, src in sources.items():
        assert src["url"].startswith("http"), key
    for name, p in rules["parameters"].items():
        assert isinstance(p["assumed"], bool), name
        if p["assumed"]:
            assert p.get("why"), f"{name}: an assumed value must say why"
        else:
            assert p["source"] in sources, name
    assert rules["inputs"]["basin"]["approximation"]["assumed"] is True
    assert rules["inputs"]["rivers"]["names_assumed"] is True
    # the public numbers are the ones of the texts cited
    assert rules["parameters"]["zone1_setback_m"] == {**rules["parameters"]["zone1_setback_m"], "value": 100,
                                                      "assumed": False}
    assert rules["parameters"]["river_strip_m"]["value"] == 50
    assert rules["water_levels"]["normal_high_1988"]["value_m"] == 1887.4
    assert rules["published"]["basin"]["value_km2"] == 2920
    for z in rules["zones"]:
        assert z["source"] in sources and z["controls_zh"] and z["controls_en"], z["id"]
        pub = z.get("published")
        if pub:
            assert pub["source"] in sources, z["id"]
    ids = {z["id"] for z in rules["zones"]}
    assert {"g2013_zone1", "g2013_zone2", "g2013_zone2_rivers", "g2013_zone3", "g2023_core", "g2023_buffer",
            "g2023_green", "dianchi_water", "dianchi_basin"} <= ids


# --------------------------------------------------------------------------- the zones on the real data


def test_lake_area_within_5_percent_of_the_published_water_surface(zones):
    water = zones.get("dianchi_water")
    assert water.published_km2 == 298
    assert abs(water.area_km2 - 298) / 298 < 0.05
    assert abs(water.area_km2 - 294.68) < 0.01  # PROVENANCE.md


def test_every_derived_zone_is_approximate_and_rivers_say_what_to_supply(zones):
    derived = zones.derived()
    assert {z.id for z in derived} == {"dianchi_water", "g2013_zone1", "g2013_zone2", "g2013_zone3", "g2023_core",
                                       "g2023_buffer", "g2023_green", "dianchi_basin"}
    assert all(z.approximate for z in derived)
    rivers = zones.get("g2013_zone2_rivers")
    assert not rivers.derived and rivers.geometry is None
    assert "--rivers" in rivers.missing
    assert any("APPROXIMATION" in n for n in zones.notes)  # the basin


def test_zone_geometry_matches_the_rules(zones, lake_m):
    z1 = zones.get("g2013_zone1").geometry
    assert abs(z1.area - lake_m.buffer(100, quad_segs=QUAD).area) < 1.0
    core = zones.get("g2023_core").geometry
    assert core.intersection(lake_m).area < 1.0
    basin = zones.get("dianchi_basin").geometry
    expect_core = lake_m.buffer(300, quad_segs=QUAD).intersection(basin).difference(lake_m)
    assert abs(core.area - expect_core.area) < 1.0
    z2 = zones.get("g2013_zone2").geometry
    assert z2.intersection(z1).area < 1.0
    expect_z2 = lake_m.buffer(5000, quad_segs=QUAD).intersection(basin).difference(lake_m.buffer(100, quad_segs=QUAD))
    assert abs(z2.area - expect_z2.area) < 1.0
    z3 = zones.get("g2013_zone3").geometry
    assert abs(z1.area + z2.area + z3.area - basin.area) < 10.0  # the 2013 zones tile the basin
    green, buf = zones.get("g2023_green").geometry, zones.get("g2023_buffer").geometry
    assert abs(zones.get("dianchi_water").geometry.area + core.area + buf.area + green.area - basin.area) < 10.0
    assert 2500 < basin.area / 1e6 < 3100  # the approximation is near the published 2,920 km²


# --------------------------------------------------------------------------- rivers and DEM


_OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
{nodes}
  <way id="1" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="waterway" v="river"/><tag k="name" v="盘龙江"/></way>
  <way id="2" version="1"><nd ref="4"/><nd ref="5"/>
    <tag k="waterway" v="stream"/><tag k="name" v="无名沟"/></way>
  <way id="3" version="1"><nd ref="4"/><nd ref="5"/><tag k="highway" v="residential"/><tag k="name" v="盘龙路"/></way>
</osm>
"""


def test_river_strips_from_an_osm_file(tmp_path, lake_m):
    from kmgis.workflows.dianchi import dianchi_zones

    pts = [(102.700, 25.080), (102.690, 25.040), (102.672, 25.000), (102.760, 25.000), (102.770, 25.020)]
    nodes = "\n".join(f'  <node id="{i + 1}" version="1" lat="{lat}" lon="{lon}"/>' for i, (lon, lat) in enumerate(pts))
    osm = tmp_path / "rivers.osm"
    osm.write_text(_OSM.format(nodes=nodes), encoding="utf-8")
    zs = dianchi_zones(require_data(), rivers=osm)
    z = zs.get("g2013_zone2_rivers")
    assert z.derived and z.approximate
    line = gpd.GeoSeries([shapely.LineString(pts[:3])], crs="EPSG:4326").to_crs(METRIC).iloc[0]
    basin = zs.get("dianchi_basin").geometry
    expect = line.buffer(60, quad_segs=QUAD).intersection(basin).difference(lake_m.buffer(100, quad_segs=QUAD))
    assert abs(z.area_km2 * 1e6 - expect.area) < 1.0
    assert "盘龙江" in zs.inputs["rivers"] and "无名沟" not in zs.inputs["rivers"]
    # zone 3 now leaves the strips out
    assert zs.get("g2013_zone3").geometry.intersection(z.geometry).area < 1.0


def test_river_layer_without_a_name_column_is_refused(tmp_path):
    from kmgis.errors import KmgisError
    from kmgis.workflows.dianchi import dianchi_zones

    path = tmp_path / "lines.geojson"
    gpd.GeoDataFrame({"x": [1]}, geometry=[shapely.LineString([(102.7, 25.0), (102.71, 25.05)])],
                     crs="EPSG:4326").to_file(path)
    with pytest.raises(KmgisError, match="no name column"):
        dianchi_zones(require_data(), rivers=path)


def test_basin_from_a_synthetic_dem_is_the_divide(tmp_path):
    """A bowl of radius 3 km around a small lake, falling outside: the basin is that disc."""
    import rasterio
    from rasterio.transform import from_origin

    from kmgis.workflows.dianchi import basin_from_dem

    cx, cy, cell, n = 300_000.0, 2_750_000.0, 100.0, 100
    x0, y0 = cx - n * cell / 2, cy + n * cell / 2
    xs = x0 + (np.arange(n) + 0.5) * cell
    ys = y0 - (np.arange(n) + 0.5) * cell
    xx, yy = np.meshgrid(xs, ys)
    r = np.hypot(xx - cx, yy - cy)
    ridge = 3000.0
    elev = np.where(r < ridge, 1900 + r / 10, 1900 + ridge / 10 - (r - ridge) / 10).astype("float32")
    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=n, height=n, count=1, dtype="float32", crs=METRIC,
                       transform=from_origin(x0, y0, cell, cell)) as dst:
        dst.write(elev, 1)
    lake = gpd.GeoSeries([shapely.Point(cx, cy).buffer(400)], crs=METRIC).to_crs("EPSG:4326").iloc[0]
    basin = gpd.GeoSeries([basin_from_dem(dem, lake)], crs="EPSG:4326").to_crs(METRIC).iloc[0]
    disc = np.pi * ridge**2
    assert abs(basin.area - disc) / disc < 0.06
    assert basin.contains(shapely.Point(cx, cy))
    assert not basin.contains(shapely.Point(cx + 4000, cy))


# --------------------------------------------------------------------------- kmgis dianchi


def test_cli_dianchi_writes_zones_and_map(tmp_path, capsys):
    data = require_data()
    rc = main(["dianchi", "--data", str(data), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    folder = tmp_path / "dianchi"
    gdf = gpd.read_file(folder / "zones.gpkg", layer="dianchi_zones")
    assert gdf.crs.to_epsg() == 4326
    assert bool(gdf["approximate"].all())
    assert "g2013_zone1" in set(gdf["zone_id"]) and "g2013_zone2_rivers" not in set(gdf["zone_id"])
    water = gdf[gdf["zone_id"] == "dianchi_water"].iloc[0]
    assert water["published_km2"] == 298 and abs(water["area_km2"] - 294.682) < 0.01
    table = pd.read_csv(folder / "zones.csv", encoding="utf-8-sig")
    assert table.set_index("zone_id").loc["g2013_zone2_rivers", "status"] == "not derived"
    html_text = (folder / "map.html").read_text(encoding="utf-8")
    assert "APPROXIMATE" in html_text and "zone 1 (lake water and lakeshore belt)" in html_text
    # the printed table: areas next to the published figures
    assert re.search(r"dianchi_water\s+approximate\s+294\.68\s+298\.00\s+-1\.1%", out)
    assert re.search(r"dianchi_basin\s+approximate\s+[\d,.]+\s+2,920\.00", out)
    assert "NOT DERIVED" in out and "--rivers" in out
    # same inputs, same attributes
    first = gdf.drop(columns="geometry")
    assert main(["dianchi", "--data", str(data), "--out", str(tmp_path), "--no-map"]) == 0
    again = gpd.read_file(folder / "zones.gpkg", layer="dianchi_zones").drop(columns="geometry")
    pd.testing.assert_frame_equal(first, again)


def test_missing_lake_layer_is_a_one_line_error(tmp_path, capsys):
    empty = tmp_path / "nodata"
    empty.mkdir()
    rc = main(["dianchi", "--data", str(empty), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "dianchi_lake" in err[0]
    assert not (tmp_path / "out").exists()


def test_official_layer_replaces_the_derived_zone(tmp_path, monkeypatch, lake_m):
    """A zone whose `official` names a registered protection layer is read from it, not approximate."""
    import shutil

    import yaml

    from kmgis.config import PROJECT_ROOT
    from kmgis.workflows.dianchi import dianchi_zones

    layers = tmp_path / "layers"
    shutil.copytree(PROJECT_ROOT / "layers", layers)
    official = lake_m.buffer(250)
    path = tmp_path / "zone1.gpkg"
    gpd.GeoDataFrame({"zone": ["一级保护区"]}, geometry=[official], crs=METRIC).to_file(path, layer="zones")
    cat = yaml.safe_load((layers / "catalog.yaml").read_text(encoding="utf-8"))
    cat["layers"]["dianchi_official"] = {"kind": "protection", "reader": "file", "path": str(path), "layer": "zones",
                                         "licence": "test", "fields": {"zone": {"from": "zone"}}}
    (layers / "catalog.yaml").write_text(yaml.safe_dump(cat, allow_unicode=True), encoding="utf-8")
    rules = yaml.safe_load((layers / "dianchi_zones.yaml").read_text(encoding="utf-8"))
    for z in rules["zones"]:
        if z["id"] == "g2013_zone1":
            z["official"] = {"layer": "dianchi_official", "column": "zone", "value": "一级保护区"}
    (layers / "dianchi_zones.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("KMGIS_LAYERS", str(layers))
    load_layers_yaml.cache_clear()
    try:
        zs = dianchi_zones(require_data())
        z1 = zs.get("g2013_zone1")
        assert z1.derived and not z1.approximate and z1.method == "official layer dianchi_official"
        assert abs(z1.geometry.area - official.area) < 1.0
        assert zs.get("g2013_zone2").approximate
    finally:
        load_layers_yaml.cache_clear()



def test_cli_dianchi_with_a_dem_and_a_basin_layer(tmp_path, capsys, lake_m):
    """--dem: the basin is the lake's catchment (here a ridge 8 km from the shore); --basin: a given polygon."""
    import rasterio
    from rasterio.transform import from_origin

    cell, ridge = 250.0, 8000.0
    minx, miny, maxx, maxy = lake_m.buffer(14_000).bounds
    w, h = int((maxx - minx) / cell), int((maxy - miny) / cell)
    xs = minx + (np.arange(w) + 0.5) * cell
    ys = maxy - (np.arange(h) + 0.5) * cell
    xx, yy = np.meshgrid(xs, ys)
    d = shapely.distance(lake_m, shapely.points(xx.ravel(), yy.ravel())).reshape(h, w)
    elev = np.where(d < ridge, 1887 + d / 20, 1887 + ridge / 20 - (d - ridge) / 20).astype("float32")
    dem = tmp_path / "dem.tif"
    with rasterio.open(dem, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32", crs=METRIC,
                       transform=from_origin(minx, maxy, cell, cell)) as dst:
        dst.write(elev, 1)
    rc = main(["dianchi", "--data", str(require_data()), "--out", str(tmp_path / "a"), "--dem", str(dem), "--no-map"])
    out = capsys.readouterr().out
    assert rc == 0 and "from the DEM dem.tif" in out and "APPROXIMATION" not in out
    gdf = gpd.read_file(tmp_path / "a" / "dianchi" / "zones.gpkg", layer="dianchi_zones").to_crs(METRIC).set_index("zone_id")
    expect = lake_m.buffer(ridge, quad_segs=QUAD).area
    assert abs(gdf.loc["dianchi_basin"].geometry.area - expect) / expect < 0.03
    assert bool(gdf["approximate"].all())  # the zones themselves are still derived, not official

    basin = tmp_path / "basin.geojson"
    gpd.GeoDataFrame(geometry=[lake_m.buffer(9000)], crs=METRIC).to_crs("EPSG:4326").to_file(basin)
    rc = main(["dianchi", "--data", str(require_data()), "--out", str(tmp_path / "b"), "--basin", str(basin), "--no-map"])
    out = capsys.readouterr().out
    assert rc == 0 and "basin layer basin.geojson" in out
    gdf = gpd.read_file(tmp_path / "b" / "dianchi" / "zones.gpkg", layer="dianchi_zones").to_crs(METRIC).set_index("zone_id")
    given = gpd.read_file(basin).to_crs(METRIC).geometry.iloc[0]
    assert abs(gdf.loc["dianchi_basin"].geometry.area - given.area) < 50.0


# --------------------------------------------------------------------------- pure: plain in-memory inputs




def test_derive_zones_runs_on_plain_in_memory_inputs():
    """A round lake, a basin and one river made in memory: the zones follow the rules, no file is read."""
    from kmgis.indicators.dianchi import Inputs, derive_zones
    from kmgis.workflows.dianchi import load_rules

    rules = load_rules()  # the YAML is read here, before the check: derive_zones takes it as an argument
    lake = shapely.Point(300_000, 2_750_000).buffer(3000, quad_segs=QUAD)
    basin = lake.buffer(20_000, quad_segs=QUAD)
    river = shapely.LineString([(300_000, 2_764_000), (300_000, 2_752_000)])
    official = gpd.GeoDataFrame({"zone": ["一级保护区"]}, geometry=[lake.buffer(250)], crs=METRIC).to_crs("EPSG:4326")
    with_official = copy.deepcopy(rules)
    for z in with_official["zones"]:
        if z["id"] == "g2013_zone1":
            z["official"] = {"layer": "my_zone1", "column": "zone", "value": "一级保护区"}
    inputs = Inputs(lake=lake, crs=METRIC, described={"lake": "in memory"}, rivers=river, basin=basin,
                    basin_approximate=False)
    with no_file_access():
        zs = derive_zones(inputs, rules)
        inputs.official = {"my_zone1": official}
        zs_official = derive_zones(inputs, with_official)
    assert {z.id for z in zs.derived()} >= {"dianchi_water", "g2013_zone1", "g2013_zone2", "g2013_zone2_rivers",
                                            "g2013_zone3", "g2023_core", "dianchi_basin"}
    assert all(z.approximate for z in zs.derived())
    assert abs(zs.get("g2013_zone1").geometry.area - lake.buffer(100, quad_segs=QUAD).area) < 1.0
    assert abs(zs.get("dianchi_basin").area_km2 - basin.area / 1e6) < 1e-6
    strips = zs.get("g2013_zone2_rivers").geometry
    expect = river.buffer(60, quad_segs=QUAD).intersection(basin).difference(lake.buffer(100, quad_segs=QUAD))
    assert abs(strips.area - expect.area) < 1.0
    z1 = zs_official.get("g2013_zone1")
    assert z1.derived and not z1.approximate and z1.method == "official layer my_zone1"
    assert abs(z1.geometry.area - lake.buffer(250).area) < 1.0
    assert zs.notes == ["lake: in memory"]


def test_basin_from_dem_arrays_needs_no_file():
    """The watershed from arrays (no raster file): a bowl of radius 3 km around a small lake."""
    import rasterio.features  # noqa: F401  (imported before the check: an import reads files)
    from rasterio.transform import from_origin

    from kmgis.indicators.dianchi import basin_from_dem_grid

    cx, cy, cell, n = 300_000.0, 2_750_000.0, 100.0, 100
    x0, y0 = cx - n * cell / 2, cy + n * cell / 2
    xx, yy = np.meshgrid(x0 + (np.arange(n) + 0.5) * cell, y0 - (np.arange(n) + 0.5) * cell)
    r = np.hypot(xx - cx, yy - cy)
    elev = np.where(r < 3000, 1900 + r / 10, 2200 - (r - 3000) / 10)
    lake = gpd.GeoSeries([shapely.Point(cx, cy).buffer(400)], crs=METRIC).to_crs("EPSG:4326").iloc[0]
    with no_file_access():
        basin = basin_from_dem_grid(elev, np.isfinite(elev), from_origin(x0, y0, cell, cell), METRIC, lake)
    basin_m = gpd.GeoSeries([basin], crs="EPSG:4326").to_crs(METRIC).iloc[0]
    assert abs(basin_m.area - np.pi * 3000**2) / (np.pi * 3000**2) < 0.06
