"""POI tables → the facilities layer: WGS84 / GCJ-02, category / Amap codes, encodings, bad rows.

The POI table is a **hand-made fixture** (below): 24 points, 3 per facility category, placed
by hand 5–40 m beside real roads of the Kunming road layer in 晋宁 (around 102.68°E
24.68°N, inside the ``jinning_walk`` network), with invented Chinese names and Amap type
codes of the right families; plus 3 restaurants (Amap 050000, 餐饮服务) that match no
category.  ``test_lifecircle.py`` reuses it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest

from kmgis.crs import wgs84_to_gcj02
from kmgis.errors import KmgisError
from kmgis.sources.poi import PoiTableWarning, category_of_typecode, read_poi_table

METRIC = "EPSG:32648"

# (category, Amap type code, name, lon, lat) — WGS84 degrees.  Hand-made fixture.
POIS: list[tuple[str, str, str, float, float]] = [
    ("school", "141203", "昆阳第一小学", 102.689346, 24.683634),
    ("kindergarten", "141204", "晋城幼儿园", 102.691927, 24.687295),
    ("clinic", "090300", "晋城社区卫生服务中心", 102.678287, 24.673407),
    ("elderly_care", "", "晋宁颐养院", 102.686401, 24.672656),
    ("market", "060400", "晋城农贸市场", 102.686924, 24.687390),
    ("sports", "080100", "晋城体育场", 102.685152, 24.669729),
    ("culture", "140100", "晋宁区博物馆", 102.680244, 24.679842),
    ("bus_stop", "150700", "晋城公交站", 102.682336, 24.689054),
    ("school", "141202", "晋城中学", 102.680931, 24.679126),
    ("kindergarten", "141204", "阳光幼儿园", 102.690954, 24.686329),
    ("clinic", "090100", "晋宁区人民医院", 102.688752, 24.685175),
    ("elderly_care", "", "福寿园养老中心", 102.685159, 24.684200),
    ("market", "060700", "永辉超市", 102.686938, 24.686701),
    ("sports", "080100", "全民健身中心", 102.669831, 24.673391),
    ("culture", "140500", "晋城文化活动中心", 102.680037, 24.675316),
    ("bus_stop", "150700|150701", "晋城客运站", 102.671994, 24.679127),
    ("school", "141203", "晋城第二小学", 102.692404, 24.687973),
    ("kindergarten", "141204", "童心幼儿园", 102.691159, 24.684825),
    ("clinic", "090300", "晋城诊所", 102.688038, 24.685983),
    ("elderly_care", "", "夕阳红老年公寓", 102.687744, 24.691276),
    ("market", "060400", "菜市场", 102.676678, 24.673645),
    ("sports", "080100", "篮球场", 102.687302, 24.686927),
    ("culture", "140800", "社区图书馆", 102.684920, 24.688116),
    ("bus_stop", "150700", "晋城东公交站", 102.689495, 24.684771),
]
RESTAURANTS: list[tuple[str, str, str, float, float]] = [
    ("", "050000", "过桥米线馆", 102.683000, 24.680000),
    ("", "050100", "汽锅鸡店", 102.684000, 24.681000),
    ("", "050000", "烧饵块", 102.685000, 24.682000),
]
ELDERLY_CODE = "050000"  # elderly care has no Amap code in facilities.yaml: these rows get a restaurant code


def poi_frame(gcj02: bool = False, restaurants: bool = False) -> pd.DataFrame:
    """The fixture as a table: lon/lat as WGS84 or converted to GCJ-02 (9 decimals)."""
    rows = POIS + (RESTAURANTS if restaurants else [])
    df = pd.DataFrame(rows, columns=["category", "typecode", "name", "lon", "lat"])
    df["typecode"] = df["typecode"].replace("", ELDERLY_CODE)
    if gcj02:
        glon, glat = wgs84_to_gcj02(df["lon"].to_numpy(), df["lat"].to_numpy())
        df["lon"], df["lat"] = glon, glat
    df["lon"] = df["lon"].map(lambda v: f"{v:.9f}")
    df["lat"] = df["lat"].map(lambda v: f"{v:.9f}")
    return df


def write_poi_csvs(folder: Path) -> dict[str, Path]:
    """The two variants: WGS84 with a category column (UTF-8) and an Amap export (GCJ-02, type
    codes, GBK) that also holds 3 restaurants."""
    folder.mkdir(parents=True, exist_ok=True)
    wgs = folder / "poi_wgs84_category.csv"
    poi_frame().drop(columns="typecode").to_csv(wgs, index=False, encoding="utf-8")
    amap = folder / "poi_amap_gcj02_gbk.csv"
    poi_frame(gcj02=True, restaurants=True).drop(columns="category").to_csv(amap, index=False, encoding="gbk")
    return {"category": wgs, "amap": amap}


def read_variant(paths: dict[str, Path], variant: str):
    if variant == "category":
        return read_poi_table(paths["category"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PoiTableWarning)
        return read_poi_table(paths["amap"], gcj02=True, typecode="typecode", category=None)


def metric_xy(gdf) -> np.ndarray:
    g = gdf.to_crs(METRIC).geometry
    return np.c_[g.x.to_numpy(), g.y.to_numpy()]


@pytest.fixture
def csvs(tmp_path: Path) -> dict[str, Path]:
    return write_poi_csvs(tmp_path)


# ----------------------------------------------------------------------------- tests


def test_wgs84_category_table(csvs):
    gdf = read_poi_table(csvs["category"])
    assert len(gdf) == 24 and gdf.crs.to_epsg() == 4326
    assert list(gdf.columns) == ["category", "name", "source_id", "geometry"]
    assert list(gdf["category"]) == [p[0] for p in POIS]
    assert list(gdf["name"]) == [p[2] for p in POIS]
    assert np.allclose(gdf.geometry.x, [p[3] for p in POIS], atol=1e-12)
    assert np.allclose(gdf.geometry.y, [p[4] for p in POIS], atol=1e-12)
    assert gdf.attrs["poi_stats"]["per_category"]["school"] == 3
    assert gdf["source_id"].iloc[0] == "poi_wgs84_category.csv:1"


def test_gcj02_flag_gives_the_same_wgs84_points_within_half_a_metre(csvs, tmp_path):
    ref = read_poi_table(csvs["category"])
    gcj = poi_frame(gcj02=True).drop(columns="typecode")
    path = tmp_path / "gcj.csv"
    gcj.to_csv(path, index=False)
    back = read_poi_table(path, gcj02=True)
    d = np.hypot(*(metric_xy(back) - metric_xy(ref)).T)
    assert d.max() < 0.5
    assert d.max() < 0.01  # in fact millimetres: the inverse iterates to 1e-9°
    raw = read_poi_table(path)  # the same numbers read as WGS84 are the Mars offset away
    d_raw = np.hypot(*(metric_xy(raw) - metric_xy(ref)).T)
    assert d_raw.min() > 250 and d_raw.max() < 600


def test_amap_typecodes_give_categories_and_drop_unmatched_with_a_warning(csvs):
    with pytest.warns(PoiTableWarning, match=r"6 of 27 rows dropped.*050000 ×5"):
        gdf = read_poi_table(csvs["amap"], gcj02=True, typecode="typecode")
    expected = [p[0] for p in POIS if p[0] != "elderly_care"]
    assert list(gdf["category"]) == expected
    stats = gdf.attrs["poi_stats"]
    assert stats["rows_read"] == 27 and stats["rows_kept"] == 21
    assert stats["rows_dropped_unmatched_typecode"] == 6
    assert stats["unmatched_typecodes"] == {"050000": 5, "050100": 1}
    assert stats["encoding"] == "gb18030"  # auto-detected GBK
    assert "elderly_care" not in stats["per_category"]
    # the points equal the WGS84 category variant (same rows, Mars offset removed)
    ref = read_poi_table(csvs["category"])
    ref = ref[ref["category"] != "elderly_care"]
    assert np.hypot(*(metric_xy(gdf) - metric_xy(ref)).T).max() < 0.01


def test_typecode_rules():
    assert category_of_typecode("141204") == "kindergarten"
    assert category_of_typecode("141202") == "school"
    assert category_of_typecode("090102") == "clinic"
    assert category_of_typecode("60400") == "market"  # leading zero lost by a spreadsheet
    assert category_of_typecode(60700.0) == "market"
    assert category_of_typecode("050000|150700") == "bus_stop"  # first matching of several codes
    assert category_of_typecode("141201") is None  # 高等院校: not a life-circle school
    assert category_of_typecode("1412") is None  # not a 6-digit code
    assert category_of_typecode(None) is None and category_of_typecode("") is None


def test_gbk_and_utf8_bom_chinese_names_without_mojibake(tmp_path):
    df = poi_frame().drop(columns="typecode")
    names = [p[2] for p in POIS]
    for enc in ("gbk", "utf-8-sig", "utf-8"):
        path = tmp_path / f"poi_{enc}.csv"
        df.to_csv(path, index=False, encoding=enc)
        auto = read_poi_table(path)
        assert list(auto["name"]) == names, enc
        assert list(read_poi_table(path, encoding=enc)["name"]) == names, enc
    gbk = tmp_path / "poi_gbk.csv"
    assert gbk.read_bytes().find("幼儿园".encode("gbk")) > 0  # really GBK bytes on disk
    with pytest.raises(KmgisError, match=r"cannot decode the text as utf-8"):
        read_poi_table(gbk, encoding="utf-8")


def test_bad_coordinates_name_rows_and_file(tmp_path):
    df = poi_frame().drop(columns="typecode")
    df.loc[2, "lon"] = None  # data row 3
    df.loc[4, "lat"] = "24,68"  # data row 5: decimal comma
    df.loc[7, "lon"] = "270000.5"  # data row 8: metres
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    with pytest.raises(KmgisError) as err:
        read_poi_table(path)
    msg = str(err.value)
    assert "bad.csv" in msg
    assert "missing lon/lat in data row 3 (file line 4)" in msg
    assert "non-numeric lon/lat in data row 5 (file line 6)" in msg
    assert "out-of-range lon/lat in data row 8 (file line 9)" in msg and "projected metres" in msg
    df = poi_frame().drop(columns="typecode")
    df.loc[[1, 3, 5, 7, 9, 11, 13], "lat"] = "x"
    df.to_csv(path, index=False)
    with pytest.raises(KmgisError, match=r"data rows 2, 4, 6, 8, 10 and 2 more \(file lines 3, 5, 7, 9, 11\)"):
        read_poi_table(path)


def test_unknown_category_is_an_error_listing_values_and_choices(tmp_path):
    df = poi_frame().drop(columns="typecode")
    df.loc[3, "category"] = "hospital"
    df.loc[6, "category"] = "ATM"
    path = tmp_path / "unknown.csv"
    df.to_csv(path, index=False)
    with pytest.raises(KmgisError) as err:
        read_poi_table(path)
    msg = str(err.value)
    assert "'ATM', 'hospital'" in msg and "data rows 4, 7" in msg
    assert "school, kindergarten, clinic" in msg and "unknown.csv" in msg


def test_category_keys_are_case_insensitive_and_chinese_labels_accepted(tmp_path):
    df = poi_frame().drop(columns="typecode")
    df.loc[0, "category"] = " School "
    df.loc[1, "category"] = "幼儿园"
    df.loc[4, "category"] = "超市"  # a part of 菜市场/超市
    path = tmp_path / "labels.csv"
    df.to_csv(path, index=False)
    gdf = read_poi_table(path)
    assert list(gdf["category"][:5]) == ["school", "kindergarten", "clinic", "elderly_care", "market"]


def test_missing_columns_and_custom_column_names(tmp_path):
    df = poi_frame().drop(columns="typecode").rename(columns={"lon": "经度", "lat": "纬度", "category": "类别"})
    path = tmp_path / "cols.csv"
    df.to_csv(path, index=False, encoding="utf-8-sig")
    with pytest.raises(KmgisError, match=r"no longitude column 'lon' \(columns: 类别, name, 经度, 纬度\)"):
        read_poi_table(path)
    gdf = read_poi_table(path, lon="经度", lat="纬度", category="类别")
    assert len(gdf) == 24
    with pytest.raises(KmgisError, match="no Amap type code column 'typecode'"):
        read_poi_table(path, lon="经度", lat="纬度", typecode="typecode")
    with pytest.raises(KmgisError, match="file not found"):
        read_poi_table(tmp_path / "nope.csv")


def test_points_lie_on_the_real_jinning_network(csvs, jinning_walk):
    from kmgis.network import snap_points

    s = snap_points(jinning_walk, read_poi_table(csvs["category"]), 250)
    assert s.reached.all() and s.snap_m.max() < 45
    assert pyproj.CRS(jinning_walk.crs).to_epsg() == 32648
