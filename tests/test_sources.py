"""Readers into the data model: cnmaps boundaries, user layers with field mappings."""

from __future__ import annotations

import geopandas as gpd
import pytest

from kmgis.config import FieldRule, catalog_entry, load_layers_yaml
from kmgis.errors import KmgisError
from kmgis.sources import load_layer
from kmgis.sources.user import apply_field_mapping

METRIC = "EPSG:32648"


def test_cnmaps_units_match_the_converted_reference_within_half_a_percent(data_dir, kunming_units):
    ref = gpd.read_file(data_dir / "kunming_counties_wgs84.geojson")
    assert len(kunming_units) == 14
    ours = kunming_units.set_index("adcode").to_crs(METRIC).area
    theirs = ref.set_index("adcode").to_crs(METRIC).area
    rel = (ours - theirs.reindex(ours.index)).abs() / theirs.reindex(ours.index)
    assert rel.max() < 0.005
    # and against the areas tabulated in PROVENANCE.md (km²)
    assert ours["530115"] / 1e6 == pytest.approx(1338.6, abs=0.1)
    assert ours["530128"] / 1e6 == pytest.approx(4231.3, abs=0.1)
    assert set(kunming_units["unit_id"]) == set(load_layers_yaml("units")["units"])


def test_kunming_roads_mapped_to_gbt51328_classes(data_dir, jinning_roads):
    assert set(jinning_roads["road_class"]) == {"arterial", "sub-arterial", "branch", "internal"}
    assert jinning_roads.crs.to_epsg() == 4326
    assert (jinning_roads.geom_type == "LineString").all()
    assert jinning_roads["walk"].all() and jinning_roads["drive"].all()  # class defaults
    assert jinning_roads["osm_id"].isna().all()


def test_whole_city_road_km_by_class_match_provenance(data_dir):
    roads = load_layer(catalog_entry("kunming_roads"), data_dir)
    km = roads.to_crs(METRIC).length.groupby(roads["road_class"]).sum() / 1000
    # PROVENANCE.md: arterial 3,720, secondary 7,082, branch 12,897, internal 19,787 km (UTM 48N)
    assert km["arterial"] == pytest.approx(3720, rel=0.001)
    assert km["sub-arterial"] == pytest.approx(7082, rel=0.001)
    assert km["branch"] == pytest.approx(12897, rel=0.001)
    assert km["internal"] == pytest.approx(19787, rel=0.001)
    assert len(roads) == 79568


def test_field_mapping_rejects_unmapped_values():
    df = gpd.GeoDataFrame({"cls": ["arterial", "motorway"]}, geometry=[None, None])
    with pytest.raises(KmgisError, match="'motorway'.*no mapping"):
        apply_field_mapping(df, {"road_class": FieldRule(**{"from": "cls", "values": {"arterial": "arterial"}})}, "t")


def test_dianchi_lake_area(data_dir):
    lake = load_layer(catalog_entry("dianchi_lake"), data_dir)
    assert lake["name"].iloc[0] == "滇池"
    assert lake["area_m2"].iloc[0] / 1e6 == pytest.approx(294.68, abs=0.05)  # PROVENANCE.md
