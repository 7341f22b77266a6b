"""kmgis as a library: the public API on plain GeoDataFrames, the result contract, the registry,
and vocabularies that are mapped or refused — never dropped.

The raw Kunming road layer (read with geopandas, no catalogue) must give the same road
density as the catalogue's normalised layer: its ``secondary`` class (次干路) is mapped to
``sub-arterial`` explicitly, and an unknown class is a one-line error.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import DATA, METRIC

import kmgis
from kmgis.errors import KmgisError
from kmgis.indicators import registry
from kmgis.indicators.result import STATUS_NO_DATA, Indicator, Result, no_data
from kmgis.workflows.scorecard import build_scorecard, check_targets


@pytest.fixture(scope="module")
def jinning_built_up(jinning_boundary, jinning_roads) -> gpd.GeoDataFrame:
    return kmgis.built_up_area(jinning_boundary, roads=jinning_roads, crs=METRIC).layers["built_up"]


@pytest.fixture(scope="module")
def raw_roads(data_dir, jinning_roads) -> gpd.GeoDataFrame:
    """The raw road layer as a notebook user reads it: no catalogue, raw classes (``secondary``)."""
    return gpd.read_file(DATA / "kunming_roads_kust.gpkg", bbox=tuple(jinning_roads.total_bounds))


def test_raw_road_layer_maps_secondary_and_matches_the_catalogue(raw_roads, jinning_roads, jinning_built_up):
    assert "secondary" in set(raw_roads["road_class"])  # the raw vocabulary, not the model's
    raw = kmgis.road_density(raw_roads, jinning_built_up)  # no CRS given: UTM 48N chosen from the area
    model = kmgis.road_density(jinning_roads, jinning_built_up, METRIC)
    assert raw["road_density_km_per_km2"].value == pytest.approx(model["road_density_km_per_km2"].value, rel=1e-9)
    assert raw["road_density_km_per_km2"].params["crs"] == "EPSG:32648"
    mapped = raw["road_density_km_per_km2"].params["road_classes_mapped"]
    assert list(mapped) == ["secondary → sub-arterial"] and mapped["secondary → sub-arterial"] > 100
    # dropping the class (what happened before) would lose a fifth of the length: not a rounding matter
    dropped = kmgis.road_density(raw_roads[raw_roads["road_class"] != "secondary"], jinning_built_up)
    assert dropped["road_density_km_per_km2"].value < 0.9 * raw["road_density_km_per_km2"].value


def test_unknown_or_missing_road_class_is_a_one_line_error(raw_roads, jinning_built_up):
    bad = raw_roads.copy()
    bad.loc[bad.index[:3], "road_class"] = "motorway-ish"
    with pytest.raises(KmgisError, match=r"unknown road_class value\(s\) \['motorway-ish'\] \(3 features\); known "
                                         r"classes: expressway, arterial, sub-arterial, branch") as err:
        kmgis.road_density(bad, jinning_built_up)
    assert "\n" not in str(err.value)
    bad.loc[bad.index[:3], "road_class"] = None
    with pytest.raises(KmgisError, match="3 features have no road_class"):
        kmgis.intersection_density(bad, jinning_built_up)


def test_chinese_class_names_are_accepted(raw_roads, jinning_built_up):
    zh = raw_roads.copy()
    zh["road_class"] = zh["road_class_cn"]
    a = kmgis.road_density(zh, jinning_built_up)["road_density_km_per_km2"].value
    b = kmgis.road_density(raw_roads, jinning_built_up)["road_density_km_per_km2"].value
    assert a == pytest.approx(b, rel=1e-12)


def test_unknown_facility_category_is_an_error(jinning_walk):
    fac = gpd.GeoDataFrame({"category": ["school", "hospitalx", "hospitalx"]},
                           geometry=gpd.points_from_xy([102.75] * 3, [24.67] * 3), crs="EPSG:4326")
    res = gpd.GeoDataFrame({"population": [1.0]}, geometry=gpd.points_from_xy([102.75], [24.67]), crs="EPSG:4326")
    with pytest.raises(KmgisError, match=r"unknown category \['hospitalx'\] \(2 features\); known: school"):
        kmgis.lifecircle(jinning_walk, res, fac)


def test_result_contract_numeric_values_and_status():
    res = Result([Indicator("road_length_km", 2, "km", "area", "sum"), no_data("green_ratio_pct", "%", "a", "green")])
    frame = res.to_frame()
    assert frame["value"].dtype == float and math.isnan(frame["value"].iloc[1])
    assert frame["status"].tolist() == ["ok", STATUS_NO_DATA]
    assert frame["missing"].tolist() == ["", "green"]
    assert res.values.to_dict()["road_length_km"] == 2.0
    with pytest.raises(KeyError, match="it has road_length_km, green_ratio_pct"):
        res["park_500m_pct"]


def test_access_indicator_per_feature_is_index_aligned(jinning_walk):
    residents = gpd.GeoDataFrame({"population": [10.0, 20.0]}, index=[7, 3],
                                 geometry=gpd.points_from_xy([102.7555, 102.80], [24.669, 24.60]), crs="EPSG:4326")
    park = gpd.GeoDataFrame(geometry=[shapely.box(102.7560, 24.6690, 102.7580, 24.6710)], crs="EPSG:4326")
    res = kmgis.park_access(jinning_walk, residents, park, min_area_m2=0.0)
    assert res.per_feature.index.tolist() == [7, 3]
    assert list(res.per_feature.columns) == ["walk_m_to_park"]
    d = res.per_feature["walk_m_to_park"]
    assert d.loc[7] < 500 and not np.isfinite(d.loc[3])  # the far resident is beyond the cut-off
    assert res["park_500m_pct"].value == pytest.approx(100 * 10 / 30)


def test_registry_declares_every_id_once_and_refuses_unknown_ones():
    assert registry.spec("road_density_branch_km_per_km2").id == "road_density_{road_class}_km_per_km2"
    assert registry.spec("lifecircle_market_1500m_pct").function is kmgis.lifecircle
    assert registry.spec("green_400m_pct").unit == "%"
    with pytest.raises(KmgisError, match="unknown indicator id 'road_density_carriage_km_per_km2'"):
        registry.spec("road_density_carriage_km_per_km2")
    with pytest.raises(KmgisError, match=r"layers/targets.yaml: unknown indicator id \['green_rate_pct'\]"):
        check_targets({"targets": [{"id": "T", "indicator": "green_rate_pct"}]})
    ids = [s.id for s in registry.SPECS]
    assert len(ids) == len(set(ids))


def test_scorecard_rows_take_labels_from_the_registry_and_stay_numeric():
    recs = [Indicator("road_density_km_per_km2", 9.1, "km/km²", "built-up", "m"),
            no_data("green_ratio_pct", "%", "built-up", "green: supply OSM")]
    targets = [{"id": "T1", "indicator": "road_density_km_per_km2", "comparison": ">=", "value": 8.5,
                "scope": "county_seat", "document": "000", "clause": "x"},
               {"id": "T3", "indicator": "green_ratio_pct", "comparison": ">=", "value": 37,
                "scope": "county_seat", "document": "000", "clause": "y"}]
    card = build_scorecard(recs, targets, {"000": "doc"}, "county_seat", {})
    assert card["label_zh"].tolist() == ["路网密度", "绿地率（已测绘）"]
    assert pd.api.types.is_float_dtype(card["value"])
    assert card["meets"].tolist() == ["yes", "no data"] and card["status"].tolist() == ["ok", "no data"]
    with pytest.raises(KmgisError, match="unknown indicator id 'made_up_pct'"):
        build_scorecard([Indicator("made_up_pct", 1, "%", "s", "m")], targets, {}, "county_seat", {})


def test_public_api_names_resolve():
    for name in kmgis.__all__:
        assert getattr(kmgis, name) is not None, name


def test_scorecard_marks_rows_resting_on_unverified_standard_values():
    rec = Indicator("level_5min_market_pct", 40.0, "%", "residents", "share within 300 m",
                    params={"unverified_standard_values": ["distance"]})
    card = build_scorecard([rec], [], {}, "county_seat", {})
    assert card.loc[0, "method"] == "verified: false (distance) — share within 300 m"
    plain = build_scorecard([Indicator("level_5min_market_pct", 40.0, "%", "r", "m")], [], {}, "county_seat", {})
    assert plain.loc[0, "method"] == "m"
