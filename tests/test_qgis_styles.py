"""Every GeoPackage kmgis writes carries its QGIS style (kmgis.outputs.qgis_styles.write_styled_gpkg, which every writer uses).

On real data (the Jinning recipe, run and written once for the module): a ``layer_styles`` row
per layer, QML that parses, road categories = the classes present in the web map's colours,
the data layers and their contents unchanged.  And with QGIS itself (Debian's python3-qgis, run
by the system Python in a subprocess): each layer loads with our renderer and aliases.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

import kmgis
from kmgis.errors import KmgisError
from kmgis.model import ROAD_CLASSES
from kmgis.outputs import qgis_styles
from kmgis.outputs.qgis_styles import FIELD_ALIASES, STYLE_TIME, field_alias, indicator_spec, qgis_colour
from kmgis.outputs.qgis_styles import write_styled_gpkg as write_gpkg
from kmgis.outputs.recipe import gpkg_layers
from kmgis.outputs.recipe_map import ROAD_STYLE

SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module")
def jinning(jinning_results, tmp_path_factory):
    """The Jinning recipe (the session's run) written: (results, indicators.gpkg)."""
    results = jinning_results
    out = tmp_path_factory.mktemp("qgis_styles")
    kmgis.write_recipe(results, out, tiles="none", pdf=False)
    return results, out / "jinning" / "indicators.gpkg"


def style_rows(path: Path) -> dict[str, dict]:
    """The ``layer_styles`` rows by table name (exactly one each, asserted)."""
    with sqlite3.connect(path) as con:
        con.row_factory = sqlite3.Row
        rows = [dict(r) for r in con.execute("SELECT * FROM layer_styles ORDER BY id")]
    by_table = {r["f_table_name"]: r for r in rows}
    assert len(by_table) == len(rows), "one style row per layer"
    return by_table


def spatial_layers(path: Path) -> list[str]:
    return [str(n) for n, geom in pyogrio.list_layers(path) if geom]


def _qml(row: dict) -> ET.Element:
    return ET.fromstring(row["styleQML"])


def _props(symbol: ET.Element) -> dict[str, str]:
    return {o.get("name"): o.get("value") for o in symbol.find("layer/Option")}


# --------------------------------------------------------------------------- real data


def test_every_layer_of_indicators_gpkg_has_a_default_style(jinning):
    _, path = jinning
    rows = style_rows(path)
    with sqlite3.connect(path) as con:
        geom = dict(con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns"))
    assert set(rows) == set(spatial_layers(path)) == set(geom)
    for name, row in rows.items():
        assert (row["f_table_catalog"], row["f_table_schema"]) == ("", "")  # what QGIS matches on
        assert row["f_geometry_column"] == geom[name]
        assert row["styleName"] == name and row["useAsDefault"] == 1 and row["update_time"] == STYLE_TIME


def test_each_qml_parses_with_renderer_aliases_and_geometry(jinning):
    _, path = jinning
    codes = {"Point": "0", "LineString": "1", "Polygon": "2"}
    kinds = {str(n): str(g).replace("Multi", "") for n, g in pyogrio.list_layers(path) if g}
    for name, row in style_rows(path).items():
        root = _qml(row)
        assert root.tag == "qgis"
        assert root.find("renderer-v2").get("type") in ("singleSymbol", "categorizedSymbol", "graduatedSymbol")
        assert root.findtext("layerGeometryType") == codes[kinds[name]]
        fields = pyogrio.read_info(path, layer=name)["fields"]
        aliases = {a.get("field"): a.get("name") for a in root.iter("alias")}
        assert set(aliases) <= set(fields)
        assert set(aliases) == {f for f in fields if field_alias(f)}, name
    assert _qml(style_rows(path)["boundary"]).find("renderer-v2/symbols/symbol/layer").get("class") == "SimpleLine"


def test_road_categories_are_the_classes_present_with_the_web_colours(jinning):
    results, path = jinning
    present = set(results.layers["roads"]["road_class"].dropna())
    renderer = _qml(style_rows(path)["roads"]).find("renderer-v2")
    assert (renderer.get("type"), renderer.get("attr"), renderer.get("symbollevels")) == (
        "categorizedSymbol", "road_class", "1")
    cats = renderer.findall("categories/category")
    assert [c.get("value") for c in cats] == [c for c in ROAD_CLASSES if c in present]
    symbols = {s.get("name"): s for s in renderer.findall("symbols/symbol")}
    passes = []
    for cat in cats:
        symbol = symbols[cat.get("symbol")]
        props, style = _props(symbol), ROAD_STYLE[cat.get("value")]
        assert props["line_color"] == qgis_colour(style["color"], 0.9)
        assert float(props["line_width"]) == style["weight"] and props["line_width_unit"] == "Pixel"
        assert cat.get("label") == f"{ROAD_CLASSES[cat.get('value')]['zh']} {cat.get('value')}"
        passes.append(int(symbol.find("layer").get("pass")))
    assert passes == sorted(passes, reverse=True) and len(set(passes)) == len(passes)  # arterials over branches


def test_the_data_layers_and_their_contents_are_unchanged(jinning, tmp_path):
    results, path = jinning
    layers = gpkg_layers(results)
    listed = {str(n): g for n, g in pyogrio.list_layers(path)}
    assert spatial_layers(path) == list(layers)
    assert set(listed) - set(layers) == {"layer_styles"} and listed["layer_styles"] is None  # no geometry
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT data_type FROM gpkg_contents WHERE table_name = 'layer_styles'").fetchone() == (
            "attributes",)
        assert con.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'layer_styles'"
                           ).fetchone() == (len(layers),)
    plain = tmp_path / "plain.gpkg"  # the same layers written without styles
    for name, gdf in layers.items():
        gdf.to_file(plain, layer=name, driver="GPKG", engine="pyogrio")
    for name in layers:
        styled, bare = gpd.read_file(path, layer=name), gpd.read_file(plain, layer=name)
        pd.testing.assert_frame_equal(styled.drop(columns="geometry"), bare.drop(columns="geometry"))
        assert shapely.equals_exact(styled.geometry.values, bare.geometry.values, tolerance=0).all()
        assert styled.crs == bare.crs


def test_aliases_come_from_the_dict_and_the_indicator_registry(jinning):
    _, path = jinning
    aliases = {a.get("field"): a.get("name") for a in _qml(style_rows(path)["roads"]).iter("alias")}
    assert aliases["road_class"] == "道路等级 road class"
    grid = {a.get("field"): a.get("name") for a in _qml(style_rows(path)["walkability_grid"]).iter("alias")}
    spec = kmgis.spec("intersection_density_per_km2")
    assert grid["intersection_density_per_km2"] == f"{spec.zh} {spec.en} ({spec.unit})"
    assert field_alias("length_m") == "长度 length (m)"
    shadowed = [f for f in FIELD_ALIASES if indicator_spec(f) is not None]
    assert not shadowed, f"indicator ids take their labels from the registry, not FIELD_ALIASES: {shadowed}"


def test_a_rerun_writes_identical_style_rows(jinning, tmp_path):
    results, path = jinning
    again = write_gpkg(gpkg_layers(results), tmp_path / "again.gpkg")
    assert style_rows(again) == style_rows(path)


# --------------------------------------------------------------------------- any layer, the table itself


def _every_style() -> dict[str, gpd.GeoDataFrame]:
    """Small layers of every kind kmgis styles, and some it does not know."""
    sq = [shapely.box(102.7 + i / 100, 24.9, 102.705 + i / 100, 24.905) for i in range(4)]
    ln = [shapely.LineString([(102.7, 24.9 + i / 100), (102.8, 24.9 + i / 100)]) for i in range(4)]
    pt = [shapely.Point(102.7 + i / 100, 24.9) for i in range(4)]

    def gdf(data: dict, geometry: list) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(data, geometry=geometry, crs="EPSG:4326")

    return {
        "roads": gdf({"road_class": ["branch", "arterial", None, "tram"], "length_m": [1.0, 2, 3, 4]}, ln),
        "facilities": gdf({"category": ["clinic", "school", "unknown", None]}, pt),
        "access_grid": gdf({"walk_min_school": [1.0, 12, None, 50], "complete_15min": [True, False, False, False]},
                           sq),
        "level_gap_grid": gdf({"n_missing_15min": [0, 1, 2, 5], "missing_15min": ["", "a", "a,b", "x"]}, sq),
        "gap_cells": gdf({"cell": list("abcd"), "over_m": [10.0, 300, 700, None]}, sq),
        "walkability_grid": gdf({"walkability_index": [None] * 4, "walkability_index_2c": [-4.0, 0, 1, 5]}, sq),
        "isochrones": gdf({"minutes": [15.0, 30, 60, 60]}, sq),
        "dianchi_zones": gdf({"zone_id": ["a", "b", "c", "c"], "name_zh": ["甲", "乙", "丙", "丙"]}, sq),
        "park_service_parks": gdf({"park_class": ["big", "small", "", None], "radius_m": [500.0, 300, 0, 0]}, sq),
        "metro_lines": gdf({"line": ["1号线", "2号线", "1号线", "x"], "colour": ["#ff0000", "#00ff00", "#ff0000",
                                                                                None]}, ln),
        "members": gdf({"unit": list("abcd")}, pt),
        "mystery_points": gdf({"x": [1, 2, 3, 4]}, pt),
        "mystery_lines": gdf({"x": [1, 2, 3, 4]}, ln),
        "boundary": gdf({"x": [1, 2, 3, 4]}, pt),  # a known name with an unexpected geometry
        "roads_without_class": gdf({"x": [1, 2, 3, 4]}, ln),
    }


def test_any_layer_gets_a_style_unknown_ones_a_default(tmp_path):
    path = write_gpkg(_every_style(), tmp_path / "every.gpkg")
    rows = style_rows(path)
    assert set(rows) == set(_every_style())
    kinds = {n: _qml(r).find("renderer-v2").get("type") for n, r in rows.items()}
    assert kinds == {"roads": "categorizedSymbol", "facilities": "categorizedSymbol",
                     "access_grid": "graduatedSymbol", "level_gap_grid": "graduatedSymbol",
                     "gap_cells": "graduatedSymbol", "walkability_grid": "graduatedSymbol",
                     "isochrones": "graduatedSymbol", "dianchi_zones": "categorizedSymbol",
                     "park_service_parks": "categorizedSymbol", "metro_lines": "categorizedSymbol",
                     "members": "singleSymbol", "mystery_points": "singleSymbol", "mystery_lines": "singleSymbol",
                     "boundary": "singleSymbol", "roads_without_class": "singleSymbol"}
    roads = [c.get("value") for c in _qml(rows["roads"]).iter("category")]
    assert roads == ["arterial", "branch", "tram", ""]  # class order, an unknown class, then NULL
    assert _qml(rows["walkability_grid"]).find("renderer-v2").get("attr") == "walkability_index_2c"
    assert _qml(rows["access_grid"]).find("renderer-v2").get("attr") == "walk_min_school"
    assert [c.get("value") for c in _qml(rows["park_service_parks"]).iter("category")] == ["big", "small", ""]


def test_write_layer_styles_replaces_and_keeps_one_default(tmp_path):
    layers = {"mystery_points": _every_style()["mystery_points"]}
    path = write_gpkg(layers, tmp_path / "one.gpkg")
    first = style_rows(path)["mystery_points"]
    qgis_styles.write_layer_styles(path, {"mystery_points": first["styleQML"].replace("circle", "square")})
    row = style_rows(path)["mystery_points"]
    assert "square" in row["styleQML"] and row["useAsDefault"] == 1
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'layer_styles'"
                           ).fetchone() == (1,)  # GDAL's count triggers
    with pytest.raises(KmgisError, match="no layer 'nope'"):
        qgis_styles.write_layer_styles(path, {"nope": "<qgis/>"})
    (tmp_path / "not.gpkg").write_text("plain text")
    with pytest.raises(KmgisError, match="not a GeoPackage"):
        qgis_styles.write_layer_styles(tmp_path / "not.gpkg", {})


def test_a_failed_styling_leaves_no_file(tmp_path, monkeypatch):
    def broken(path, layers):
        raise RuntimeError("styling failed")

    monkeypatch.setattr(qgis_styles, "style_gpkg", broken)
    with pytest.raises(RuntimeError):
        write_gpkg({"mystery_points": _every_style()["mystery_points"]}, tmp_path / "x.gpkg")
    assert list(tmp_path.iterdir()) == []  # neither the final name nor the temporary file


# --------------------------------------------------------------------------- QGIS itself

_QGIS_SCRIPT = r"""
import json, os, sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
out = {}
for name in json.loads(sys.argv[2]):
    layer = QgsVectorLayer(f"{sys.argv[1]}|layername={name}", name, "ogr")
    r = layer.renderer()
    info = {"valid": layer.isValid(), "type": r.type(),
            "aliases": {f.name(): layer.attributeAlias(i) for i, f in enumerate(layer.fields())}}
    if r.type() == "categorizedSymbol":
        info["attr"] = r.classAttribute()
        info["levels"] = r.usingSymbolLevels()
        info["categories"] = [[str(c.value()), c.label(), c.symbol().color().name()] for c in r.categories()]
    if r.type() == "graduatedSymbol":
        info["attr"] = r.classAttribute()
        info["ranges"] = [[g.lowerValue(), g.upperValue(), g.symbol().color().name()] for g in r.ranges()]
    out[name] = info
    del layer, r
print("KMGIS-QGIS " + json.dumps(out), flush=True)
os._exit(0)  # QgsApplication.exitQgis() may crash at teardown (QGIS 3.22): nothing is left to clean up
"""


def _system_qgis() -> bool:
    if not Path(SYSTEM_PYTHON).is_file():
        return False
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import qgis.core"], capture_output=True, env=_qgis_env(Path("/tmp")))
    return probe.returncode == 0


def _qgis_env(home: Path) -> dict[str, str]:
    """A clean environment for the system Python (not the project's venv), Qt without a display."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "QT_QPA_PLATFORM": "offscreen", "LANG": "C.UTF-8"}


def qgis_load(path: Path, names: list[str], home: Path) -> dict:
    """Load each layer of ``path`` in QGIS (system Python, subprocess): renderer, categories, aliases."""
    if not _system_qgis():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI: {SYSTEM_PYTHON} cannot import qgis (apt-get install python3-qgis, see .ci/run)")
        pytest.skip(f"{SYSTEM_PYTHON} cannot import qgis (Debian: apt-get install python3-qgis)")
    done = subprocess.run([SYSTEM_PYTHON, "-c", _QGIS_SCRIPT, str(path), json.dumps(names)], capture_output=True,
                          text=True, env=_qgis_env(home), timeout=300)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("KMGIS-QGIS ")), None)
    assert done.returncode == 0 and line, f"QGIS failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return json.loads(line[len("KMGIS-QGIS "):])


def _expected(row: dict) -> dict:
    """What QGIS should report for one of our QML: renderer type, field, category values and colours."""
    renderer = _qml(row).find("renderer-v2")
    colours = {}
    for s in renderer.findall("symbols/symbol"):
        p = _props(s)
        r, g, b, _ = (int(x) for x in (p.get("line_color") or p["color"]).split(","))
        colours[s.get("name")] = f"#{r:02x}{g:02x}{b:02x}"
    out = {"type": renderer.get("type")} | ({"attr": renderer.get("attr")} if renderer.get("attr") else {})
    if out["type"] == "categorizedSymbol":
        out["categories"] = [[c.get("value"), c.get("label"), colours[c.get("symbol")]]
                             for c in renderer.findall("categories/category")]
    if out["type"] == "graduatedSymbol":
        out["ranges"] = [[float(r.get("lower")), float(r.get("upper")), colours[r.get("symbol")]]
                         for r in renderer.findall("ranges/range")]
    return out


def _check_in_qgis(path: Path, home: Path) -> dict:
    rows = style_rows(path)
    loaded = qgis_load(path, sorted(rows), home)
    for name, row in rows.items():
        got, want = loaded[name], _expected(row)
        assert got["valid"], name
        assert got["type"] == want["type"], name
        for key in ("attr", "categories", "ranges"):
            if key in want:
                assert got[key] == want[key], (name, key)
        aliases = {a.get("field"): a.get("name") for a in _qml(row).iter("alias")}
        assert {f: a for f, a in got["aliases"].items() if a} == aliases, name
    return loaded


def test_qgis_applies_the_styles_of_indicators_gpkg(jinning, tmp_path):
    results, path = jinning
    loaded = _check_in_qgis(path, tmp_path)
    roads = loaded["roads"]
    present = set(results.layers["roads"]["road_class"].dropna())
    assert roads["type"] == "categorizedSymbol" and roads["levels"]
    assert [c[0] for c in roads["categories"]] == [c for c in ROAD_CLASSES if c in present]
    assert [c[2] for c in roads["categories"]] == [ROAD_STYLE[c[0]]["color"] for c in roads["categories"]]
    assert roads["aliases"]["road_class"] == "道路等级 road class"
    assert loaded["walkability_grid"]["type"] == "graduatedSymbol"


def test_qgis_applies_every_kind_of_style(tmp_path):
    path = write_gpkg(_every_style(), tmp_path / "every.gpkg")
    loaded = _check_in_qgis(path, tmp_path)
    assert loaded["roads"]["categories"][-1][0] == ""  # NULL road classes: the catch-all category
