"""Tests for kmgis.crs on the real Kunming data in shared/data (see PROVENANCE.md, section 1)."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from kmgis.crs import (
    CGCS2000_GK_CM102,
    DEFAULT_METRIC_CRS,
    check_plausible,
    gcj02_to_wgs84,
    gdf_gcj02_to_wgs84,
    gdf_wgs84_to_gcj02,
    metric_crs,
    swap_lonlat_if_needed,
    to_metric,
    wgs84_to_gcj02,
)
from kmgis.errors import KmgisError

DATA = Path(os.environ.get("KMGIS_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
if not DATA.is_dir():
    pytest.skip(f"real data folder {DATA} is missing", allow_module_level=True)

GPKG = DATA / "kunming_admin_cnmaps.gpkg"
GEOD = pyproj.Geod(ellps="WGS84")
KUNMING_BOUNDS = (102.1696, 24.3881, 103.6684, 26.5452)  # WGS84 counties, PROVENANCE.md


def geod_dist_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres on WGS84."""
    _, _, d = GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(d)


@pytest.fixture(scope="module")
def counties_geojson() -> gpd.GeoDataFrame:
    return gpd.read_file(DATA / "kunming_counties_wgs84.geojson")


@pytest.fixture(scope="module")
def counties_wgs84() -> gpd.GeoDataFrame:
    return gpd.read_file(GPKG, layer="kunming_counties_wgs84")


@pytest.fixture(scope="module")
def counties_gcj02() -> gpd.GeoDataFrame:
    return gpd.read_file(GPKG, layer="kunming_counties_gcj02")


# --------------------------------------------------------------------------- GCJ-02


def test_gcj02_round_trip_below_half_metre(counties_geojson):
    xy = counties_geojson.get_coordinates().to_numpy()
    assert len(xy) > 10_000
    rng = np.random.default_rng(20261123)
    lon, lat = xy[rng.choice(len(xy), size=500, replace=False)].T
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    shift = geod_dist_m(lon, lat, g_lon, g_lat)
    assert shift.min() > 300 and shift.max() < 450  # the obfuscation really moves points (345-426 m)
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    err = geod_dist_m(lon, lat, w_lon, w_lat)
    assert err.shape == (500,)
    assert err.max() < 0.5
    assert err.max() < 1e-3  # tol_deg=1e-9 deg is ~0.1 mm


def test_real_gcj02_layer_converts_to_real_wgs84_layer(counties_gcj02, counties_wgs84):
    assert list(counties_gcj02["adcode"]) == list(counties_wgs84["adcode"])
    converted = gdf_gcj02_to_wgs84(counties_gcj02)
    assert converted.crs.to_epsg() == 4326
    assert converted is not counties_gcj02
    a = converted.get_coordinates().to_numpy()
    b = counties_wgs84.get_coordinates().to_numpy()
    if a.shape == b.shape:
        diff = geod_dist_m(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
        assert diff.max() < 0.5
        assert diff.max() < 0.01  # measured ~2e-7 m
    else:  # pragma: no cover - the two layers have identical vertex counts today
        m_a, m_b = converted.to_crs(DEFAULT_METRIC_CRS), counties_wgs84.to_crs(DEFAULT_METRIC_CRS)
        hd = shapely.hausdorff_distance(m_a.geometry.values, m_b.geometry.values)
        assert hd.max() < 0.5
    # without conversion the raw layer is hundreds of metres off
    raw = counties_gcj02.get_coordinates().to_numpy()
    assert np.median(geod_dist_m(raw[:, 0], raw[:, 1], b[:, 0], b[:, 1])) > 300


def test_offset_at_kunming_matches_formula_and_real_layers(counties_gcj02, counties_wgs84):
    g_lon, g_lat = wgs84_to_gcj02(102.71, 25.04)
    assert isinstance(g_lon, np.ndarray) and g_lon.shape == ()
    dlon, dlat = float(g_lon) - 102.71, float(g_lat) - 25.04
    # GCJ-02 lies east (+lon) and south (-lat) of WGS84 at Kunming
    assert dlon == pytest.approx(0.00144, abs=1e-4)
    assert dlat == pytest.approx(-0.00298, abs=1e-4)
    assert geod_dist_m(102.71, 25.04, float(g_lon), float(g_lat)) == pytest.approx(360, abs=10)
    # the same direction and size in the two independently made real layers
    d = counties_gcj02.get_coordinates().to_numpy() - counties_wgs84.get_coordinates().to_numpy()
    med_dlon, med_dlat = np.median(d, axis=0)
    assert med_dlon == pytest.approx(0.0015, abs=2e-4)
    assert med_dlat == pytest.approx(-0.0030, abs=2e-4)
    assert (d[:, 0] > 0).all() and (d[:, 1] < 0).all()


def test_outside_china_and_nan_unchanged():
    lon = np.array([24.94, -0.1276, 139.7, np.nan])
    lat = np.array([60.17, 51.5072, 35.68, 25.0])
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(g_lon[:3], lon[:3])
    np.testing.assert_array_equal(g_lat[:3], lat[:3])
    w_lon, w_lat = gcj02_to_wgs84(lon, lat)
    np.testing.assert_array_equal(w_lon[:3], lon[:3])
    assert np.isnan(w_lon[3]) and np.isnan(g_lon[3])


def test_gdf_conversion_all_geometry_types_and_z(counties_wgs84):
    (x0, y0), (x1, y1), (x2, y2) = counties_wgs84.get_coordinates().to_numpy()[:3]
    geoms = [
        Point(x0, y0),
        Point(x0, y0, 1890.0),
        LineString([(x0, y0), (x1, y1)]),
        Polygon([(x0, y0), (x1, y1), (x2, y2)]),
        MultiPolygon([Polygon([(x0, y0), (x1, y1), (x2, y2)])]),
        None,
    ]
    gdf = gpd.GeoDataFrame({"k": range(6)}, geometry=geoms, crs="OGC:CRS84")
    gcj = gdf_wgs84_to_gcj02(gdf)
    assert gcj.crs.to_epsg() == 4326 and list(gcj["k"]) == list(range(6))
    assert gcj.geometry.iloc[5] is None
    assert gcj.geometry.iloc[1].has_z and gcj.geometry.iloc[1].z == 1890.0
    exp_lon, exp_lat = wgs84_to_gcj02(x0, y0)
    for geom in gcj.geometry.iloc[:5]:
        fx, fy = shapely.get_coordinates(geom)[0]
        assert (fx, fy) == (float(exp_lon), float(exp_lat))
    back = gdf_gcj02_to_wgs84(gcj)
    err = geod_dist_m(*back.get_coordinates().to_numpy().T, *gdf.get_coordinates().to_numpy().T)
    assert err.max() < 1e-3
    assert gdf.geometry.iloc[0].x == x0  # input untouched


def test_gdf_conversion_requires_epsg4326(counties_wgs84):
    with pytest.raises(KmgisError, match="EPSG:32648.*EPSG:4326"):
        gdf_gcj02_to_wgs84(counties_wgs84.to_crs(DEFAULT_METRIC_CRS))
    with pytest.raises(KmgisError, match="no CRS"):
        gdf_wgs84_to_gcj02(counties_wgs84.set_crs(None, allow_override=True))


# --------------------------------------------------------------------------- metric CRS


def test_metric_crs_auto(counties_wgs84):
    assert DEFAULT_METRIC_CRS == "EPSG:32648" and CGCS2000_GK_CM102 == "EPSG:4543"
    assert metric_crs(KUNMING_BOUNDS) == pyproj.CRS("EPSG:32648")
    assert metric_crs(KUNMING_BOUNDS, prefer="auto").to_epsg() == 32648
    assert metric_crs(counties_wgs84).to_epsg() == 32648
    assert metric_crs(counties_wgs84.to_crs(CGCS2000_GK_CM102)).to_epsg() == 32648  # any CRS in
    assert metric_crs((24.9, 60.2, 24.9, 60.2)).to_epsg() == 32635  # Helsinki
    assert metric_crs((-58.4, -34.6, -58.4, -34.6)).to_epsg() == 32721  # Buenos Aires, south


def test_metric_crs_prefer(counties_wgs84):
    assert metric_crs(KUNMING_BOUNDS, prefer="EPSG:4543").to_epsg() == 4543
    assert metric_crs(counties_wgs84, prefer=4543).to_epsg() == 4543
    assert metric_crs(KUNMING_BOUNDS, prefer=32648).to_epsg() == 32648
    with pytest.raises(KmgisError, match=r"EPSG:4543.*100\.5–103\.5°E.*EPSG:4544.*UTM"):
        metric_crs((102.2, 24.4, 105.0, 26.5), prefer="EPSG:4543")
    with pytest.raises(KmgisError, match="EPSG:4326.*not projected"):
        metric_crs(KUNMING_BOUNDS, prefer="EPSG:4326")
    with pytest.raises(KmgisError, match="EPSG:4490.*not projected"):
        metric_crs(KUNMING_BOUNDS, prefer=4490)  # CGCS2000 geographic
    with pytest.raises(KmgisError, match="unknown CRS"):
        metric_crs(KUNMING_BOUNDS, prefer="EPSG:not-a-code")
    with pytest.raises(KmgisError, match="not WGS84 lon/lat"):
        metric_crs((200000.0, 2700000.0, 450000.0, 2940000.0))


def test_to_metric(counties_wgs84):
    m = to_metric(counties_wgs84, metric_crs(counties_wgs84))
    assert m.crs.to_epsg() == 32648
    # official total area ~21,012.54 km²; PROVENANCE gives 21,024.7 km² for this geometry
    assert m.area.sum() / 1e6 == pytest.approx(21024.7, rel=1e-3)
    with pytest.raises(KmgisError, match="'counties' has no CRS"):
        to_metric(counties_wgs84.set_crs(None, allow_override=True), DEFAULT_METRIC_CRS, name="counties")


# --------------------------------------------------------------------------- plausibility


def _swap_xy(coords: np.ndarray) -> np.ndarray:
    return coords[:, ::-1].copy()


def test_check_plausible_no_crs(counties_wgs84):
    with pytest.raises(KmgisError, match=r"layer 'counties' has no CRS; set one with --crs"):
        check_plausible(counties_wgs84.set_crs(None, allow_override=True), "counties")


def test_check_plausible_metres_labelled_degrees(counties_wgs84):
    bad = counties_wgs84.to_crs(DEFAULT_METRIC_CRS).set_crs(4326, allow_override=True)
    with pytest.raises(KmgisError, match=r"'counties' is labelled EPSG:4326.*±180/±90.*projected metres"):
        check_plausible(bad, "counties")


def test_check_plausible_swapped_lonlat(counties_wgs84):
    swapped = counties_wgs84.copy()
    swapped["geometry"] = shapely.transform(counties_wgs84.geometry.values, _swap_xy)
    with pytest.raises(KmgisError, match=r"'counties'.*lon and lat look swapped"):
        check_plausible(swapped, "counties")
    fixed = swap_lonlat_if_needed(swapped)
    assert fixed is not swapped
    assert fixed.geom_equals_exact(counties_wgs84.geometry, tolerance=0).all()
    assert swap_lonlat_if_needed(counties_wgs84) is counties_wgs84


def test_check_plausible_elsewhere():
    helsinki = gpd.GeoDataFrame(geometry=[box(24.9, 60.15, 25.0, 60.25)], crs="EPSG:4326")
    with pytest.raises(
        KmgisError, match=r"'parks' .*lon 24\.9–25, lat 60\.15–60\.25.*does not intersect.*lon 97\.5"
    ):
        check_plausible(helsinki, "parks")
    # the same in metres (projected CRS) is also located correctly
    with pytest.raises(KmgisError, match=r"'parks' \(EPSG:32635\) lies at lon 24\.\d+–25\.\d+, lat 60\.1"):
        check_plausible(helsinki.to_crs("EPSG:32635"), "parks")


def test_check_plausible_degrees_labelled_utm(counties_wgs84):
    # the real roads file's GDB said EPSG:32649 over lon/lat numbers (PROVENANCE.md, section 3)
    bad = counties_wgs84.set_crs("EPSG:32649", allow_override=True)
    with pytest.raises(KmgisError, match=r"does not intersect.*look like degrees: try --crs EPSG:4326"):
        check_plausible(bad, "roads")


def test_check_plausible_gcj02_against_reference(counties_gcj02, counties_wgs84):
    with pytest.raises(KmgisError, match=r"'counties_gcj02' looks like GCJ-02.*2000 of its vertices"):
        check_plausible(counties_gcj02, "counties_gcj02", reference=counties_wgs84)
    # without a reference nothing betrays GCJ-02: it lies in Yunnan
    check_plausible(counties_gcj02, "counties_gcj02")


def test_check_plausible_passes_for_real_wgs84(counties_wgs84, counties_geojson):
    assert check_plausible(counties_geojson, "counties", reference=counties_wgs84) is None
    assert (
        check_plausible(counties_wgs84.to_crs(DEFAULT_METRIC_CRS), "counties", reference=counties_wgs84)
        is None
    )
    lakes = gpd.read_file(DATA / "dianchi_lake_osm.geojson")
    assert check_plausible(lakes, "dianchi") is None
