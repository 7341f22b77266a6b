"""Population: unit totals, raster cells as points, dasymetric spreading, residents in a polygon.

Real data: the 2023 resident table (layers/population.csv) and the Kunming road layer
clipped to Jinning (conftest).  Fixtures written here by hand say so in a comment.
"""

from __future__ import annotations

import hashlib
import math
import time

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from kmgis.errors import KmgisError
from kmgis.population import (
    POPULATION_SOURCE,
    _apportion,
    population_dasymetric,
    population_from_raster,
    population_points,
    residents_in,
    unit_population,
)

METRIC = "EPSG:32648"
WGS84 = "EPSG:4326"
UNITS = ["wuhua", "panlong", "guandu", "xishan", "dongchuan", "chenggong", "jinning", "fumin", "yiliang",
         "shilin", "songming", "luquan", "xundian", "anning"]


# --------------------------------------------------------------------------- unit totals


def test_unit_population_jinning_and_provenance():
    total, prov = unit_population("jinning")
    assert total == 350000
    assert prov["source"] == POPULATION_SOURCE == "Kunming Municipal Bureau of Statistics, 2023"
    assert prov["year"] == 2023
    assert prov["unit_id"] == "jinning" and prov["adcode"] == "530115"
    with open(prov["file"], "rb") as f:
        assert prov["sha256"] == hashlib.sha256(f.read()).hexdigest()
    # the same unit by Chinese name, short name, adcode and English name
    for name in ("晋宁区", "晋宁", "530115", "Jinning"):
        assert unit_population(name)[0] == 350000


def test_all_fourteen_units_add_up_to_the_city_total():
    # PROVENANCE.md: the 14 values add up to 8,680,000 (868.0 ten-thousand, 2023)
    assert sum(unit_population(u)[0] for u in UNITS) == 8_680_000
    assert unit_population("禄劝")[0] == 374300


@pytest.mark.parametrize("unit", ["beijing", "hongta"])
def test_unknown_unit_or_no_row_is_a_user_error(unit):
    with pytest.raises(KmgisError) as exc:
        unit_population(unit)
    assert unit in str(exc.value) and "\n" not in str(exc.value)


# --------------------------------------------------------------------------- exact totals


@pytest.mark.parametrize("total", [350000, 8_680_000, 1, 0, 12345.5, 3])
def test_apportion_sums_exactly_in_any_order(total):
    rng = np.random.default_rng(7)
    w = rng.random(20000) ** 3 * 1000
    parts = _apportion(float(total), w)
    assert parts.sum() == total
    assert math.fsum(parts) == total
    assert sum(parts.tolist()) == total
    assert parts[::-1].sum() == total
    assert np.allclose(parts, total * w / w.sum(), rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- dasymetric: roads (real data)


@pytest.fixture(scope="module")
def jinning_points(jinning_boundary, jinning_roads):
    return population_dasymetric(jinning_boundary, 350000, roads=jinning_roads, crs=METRIC)


def test_dasymetric_roads_total_exact_and_inside(jinning_points, jinning_boundary):
    pts = jinning_points
    assert pts.crs.to_epsg() == 4326
    assert pts["population"].sum() == 350000
    assert math.fsum(pts["population"]) == 350000
    assert (pts["population"] > 0).all()
    boundary = jinning_boundary.geometry.iloc[0]
    assert shapely.contains_xy(boundary, pts.geometry.x, pts.geometry.y).all()
    assert pts.attrs["proxy"] == "roads"
    assert "internal+branch road length" in pts.attrs["method"]
    assert len(pts) > 10000


def _clipped_proxy_roads(jinning_roads, jinning_boundary):
    """Internal + branch roads of Jinning cut to its boundary, in metres (independent of the module)."""
    roads = jinning_roads[jinning_roads["road_class"].isin(["internal", "branch"])].to_crs(METRIC)
    boundary_m = jinning_boundary.to_crs(METRIC).geometry.iloc[0]
    clipped = shapely.intersection(roads.geometry.to_numpy(), boundary_m)
    return clipped[~shapely.is_empty(clipped)]


def test_dasymetric_roads_weights_are_road_length_per_cell(jinning_points, jinning_roads, jinning_boundary):
    pts = jinning_points
    clipped = _clipped_proxy_roads(jinning_roads, jinning_boundary)
    total_len = shapely.length(clipped).sum()
    assert pts["weight"].sum() == pytest.approx(total_len, rel=1e-9)
    # hand check: the densest cell and a median one, roads clipped to the cell with shapely
    xy = pts.to_crs(METRIC).get_coordinates().to_numpy()
    order = np.argsort(pts["weight"].to_numpy())
    for i in (order[-1], order[len(order) // 2]):
        ix, iy = np.floor(xy[i] / 100.0)
        cell = shapely.box(ix * 100, iy * 100, ix * 100 + 100, iy * 100 + 100)
        cell_len = shapely.length(shapely.intersection(clipped, cell)).sum()
        assert cell_len > 0
        assert pts["weight"].iloc[i] == pytest.approx(cell_len, rel=1e-9)
        assert pts["population"].iloc[i] == pytest.approx(350000 * cell_len / total_len, rel=1e-9)
        # the point is the cell centre (interior cells)
        assert xy[i] == pytest.approx([ix * 100 + 50, iy * 100 + 50], abs=1e-3)


def test_dasymetric_other_classes_and_outside_roads_carry_no_one(jinning_boundary):
    # hand-made: an arterial inside Jinning, a branch road outside it (east of Dianchi, in Chenggong)
    c = jinning_boundary.to_crs(METRIC).geometry.iloc[0].representative_point()
    inside = shapely.LineString([(c.x, c.y), (c.x + 500, c.y)])
    roads = gpd.GeoDataFrame(
        {"road_class": ["arterial", "branch", "branch"]},
        geometry=[inside, shapely.LineString([(c.x, c.y + 10), (c.x + 250, c.y + 10)]),
                  shapely.LineString([(c.x + 1e5, c.y), (c.x + 1e5 + 300, c.y)])],
        crs=METRIC,
    ).to_crs(WGS84)
    pts = population_dasymetric(jinning_boundary, 1000, roads=roads, crs=METRIC)
    assert pts["weight"].sum() == pytest.approx(250.0, rel=1e-6)
    assert pts["population"].sum() == 1000
    assert len(pts) in (3, 4)  # 250 m of road cut by the 100 m grid


def test_dasymetric_roads_largest_unit_is_fast(kunming_units, data_dir):
    from kmgis.config import catalog_entry
    from kmgis.geom import with_halo
    from kmgis.sources import load_layer

    luquan = kunming_units[kunming_units["unit_id"] == "luquan"]
    roads = load_layer(catalog_entry("kunming_roads"), data_dir, clip=with_halo(luquan, 2000, METRIC))
    total, _ = unit_population("luquan")
    t0 = time.perf_counter()
    pts = population_dasymetric(luquan, total, roads=roads, crs=METRIC)
    elapsed = time.perf_counter() - t0
    assert pts["population"].sum() == 374300
    assert shapely.contains_xy(luquan.geometry.iloc[0], pts.geometry.x, pts.geometry.y).all()
    assert elapsed < 5.0, f"禄劝 dasymetric took {elapsed:.2f} s"


# --------------------------------------------------------------------------- dasymetric: buildings, land use


def _square(x, y, side):
    return shapely.box(x, y, x + side, y + side)


@pytest.fixture(scope="module")
def centre_m(jinning_boundary):
    """A point well inside Jinning, in metres (EPSG:32648)."""
    p = jinning_boundary.to_crs(METRIC).geometry.iloc[0].representative_point()
    return p.x, p.y


def test_buildings_share_by_floor_area(jinning_boundary, centre_m):
    # hand-made: two 20 m × 20 m dwellings (levels 1 and 4), a shop, and a house outside Jinning
    x, y = centre_m
    b = gpd.GeoDataFrame(
        {"building": ["residential", "yes", "commercial", "house"], "levels": [1.0, 4.0, 10.0, 2.0]},
        geometry=[_square(x, y, 20), _square(x + 100, y, 20), _square(x + 200, y, 20), _square(x + 2e5, y, 20)],
        crs=METRIC,
    ).to_crs(WGS84)
    roads = gpd.GeoDataFrame({"road_class": ["internal"]}, geometry=[shapely.LineString([(x, y), (x, y + 300)])],
                             crs=METRIC).to_crs(WGS84)
    pts = population_dasymetric(jinning_boundary, 350000, buildings=b, roads=roads, crs=METRIC)
    assert pts.attrs["proxy"] == "buildings"
    assert len(pts) == 2
    # the squares went through WGS84 and back: areas are 400 m² to about 1e-8
    assert pts["weight"].to_numpy() == pytest.approx([400.0, 1600.0], rel=1e-6)
    assert pts["population"].to_numpy() == pytest.approx([70000.0, 280000.0], rel=1e-6)
    w = pts["weight"].to_numpy()
    assert pts["population"].to_numpy() == pytest.approx(350000 * w / w.sum(), rel=1e-12)
    assert pts["population"].sum() == 350000
    # each point lies on its building
    assert pts.geometry.iloc[0].within(b.geometry.iloc[0]) and pts.geometry.iloc[1].within(b.geometry.iloc[1])
    assert "1 other buildings excluded" in pts.attrs["method"]


def test_buildings_missing_levels_and_untagged(jinning_boundary, centre_m):
    # hand-made: an untagged building with no levels (→ 1) of 30 m × 30 m, and a 3-level 10 m × 10 m house
    x, y = centre_m
    b = gpd.GeoDataFrame(
        {"building": [None, "house"], "levels": [np.nan, 3.0]},
        geometry=[_square(x, y, 30), _square(x + 50, y, 10)], crs=METRIC,
    ).to_crs(WGS84)
    pts = population_dasymetric(jinning_boundary, 1200, buildings=b, crs=METRIC)
    assert pts["population"].to_numpy() == pytest.approx([900.0, 300.0], rel=1e-6)
    assert pts["population"].sum() == 1200


def test_landuse_area_per_cell(jinning_boundary, centre_m):
    # hand-made: a 250 m × 250 m residential block off the 100 m grid, and a commercial one
    x, y = centre_m
    x0, y0 = math.floor(x / 100) * 100 + 30, math.floor(y / 100) * 100 + 60
    lu = gpd.GeoDataFrame(
        {"landuse": ["residential", "commercial"]},
        geometry=[_square(x0, y0, 250), _square(x0 + 1000, y0, 250)], crs=METRIC,
    ).to_crs(WGS84)
    # only non-residential buildings: the buildings proxy is skipped, land use is used
    shop = gpd.GeoDataFrame({"building": ["retail"], "levels": [2.0]}, geometry=[_square(x0, y0, 10)],
                            crs=METRIC).to_crs(WGS84)
    pts = population_dasymetric(jinning_boundary, 6250, buildings=shop, landuse=lu, crs=METRIC)
    assert pts.attrs["proxy"] == "landuse"
    assert "buildings given but none usable" in pts.attrs["method"]
    assert pts["population"].sum() == 6250
    assert len(pts) == 12  # x: 70 + 100 + 80 m, y: 40 + 100 + 100 + 10 m → 3 × 4 cells
    assert pts["weight"].sum() == pytest.approx(62500.0, rel=1e-6)
    # the block in WGS84 was re-projected: check against the cell pieces in metres
    block = lu.to_crs(METRIC).geometry.iloc[0]
    xy = pts.to_crs(METRIC).get_coordinates().to_numpy()
    for (px, py), w in zip(xy, pts["weight"], strict=True):
        ix, iy = math.floor(px / 100), math.floor(py / 100)
        piece = shapely.intersection(block, shapely.box(ix * 100, iy * 100, ix * 100 + 100, iy * 100 + 100))
        assert w == pytest.approx(piece.area, rel=1e-6)
        assert block.covers(shapely.Point(px, py))


def test_no_proxy_and_bad_arguments(jinning_boundary):
    with pytest.raises(KmgisError, match="no residential proxy"):
        population_dasymetric(jinning_boundary, 1000, crs=METRIC)
    roads = gpd.GeoDataFrame({"road_class": ["arterial"]}, geometry=[shapely.LineString([(102.6, 24.7), (102.61, 24.7)])],
                             crs=WGS84)
    with pytest.raises(KmgisError, match="roads given but none usable"):
        population_dasymetric(jinning_boundary, 1000, roads=roads, crs=METRIC)
    with pytest.raises(KmgisError, match="not a projected CRS"):
        population_dasymetric(jinning_boundary, 1000, roads=roads, crs=WGS84)
    with pytest.raises(KmgisError, match="finite number"):
        population_dasymetric(jinning_boundary, -5, roads=roads, crs=METRIC)


# --------------------------------------------------------------------------- raster (hand-made GeoTIFFs)


def _grid_over_jinning(jinning_boundary, crs, cell):
    """Origin (top-left) of a 10 × 10 grid of ``cell`` units centred on Jinning, in ``crs``."""
    c = jinning_boundary.to_crs(crs).geometry.iloc[0].centroid
    return c.x - 5 * cell, c.y + 5 * cell


def _write_tif(path, values, crs, origin, cell, nodata=None):
    """Hand-made GeoTIFF: ``values`` (rows top → bottom) on a north-up grid at ``origin`` (top-left)."""
    import rasterio
    from affine import Affine

    h, w = values.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype="float32", crs=crs,
                       transform=Affine(cell, 0, origin[0], 0, -cell, origin[1]), nodata=nodata) as dst:
        dst.write(values.astype("float32"), 1)
    return path


def _centres(origin, cell, n=10):
    cols, rows = np.meshgrid(np.arange(n), np.arange(n))
    return origin[0] + (cols + 0.5) * cell, origin[1] - (rows + 0.5) * cell


@pytest.mark.parametrize("crs", ["EPSG:32648", "EPSG:3857"])
def test_raster_cells_inside_boundary(tmp_path, jinning_boundary, crs):
    # hand-made: 10 × 10 cells of 4 km (4 km in EPSG:3857 units too) with values 1..100
    cell = 4000.0
    origin = _grid_over_jinning(jinning_boundary, crs, cell)
    values = np.arange(1, 101, dtype=float).reshape(10, 10)
    path = _write_tif(tmp_path / "pop.tif", values, crs, origin, cell)
    cx, cy = _centres(origin, cell)
    lon, lat = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True).transform(cx, cy)
    inside = shapely.contains_xy(jinning_boundary.geometry.iloc[0], lon, lat)
    assert 10 < inside.sum() < 100  # the grid overlaps the boundary's edge
    pts = population_from_raster(path, jinning_boundary)
    assert pts.crs.to_epsg() == 4326
    assert pts["population"].sum() == values[inside].sum()
    assert len(pts) == inside.sum()
    # each point lands on its cell's centre
    for r, c, p, g in zip(pts["row"], pts["col"], pts["population"], pts.geometry, strict=True):
        assert p == values[r, c]
        assert (g.x, g.y) == pytest.approx((lon[r, c], lat[r, c]), abs=1e-9)
    assert pts.attrs["method"] == f"raster cells as points: pop.tif, {len(pts)} cells, sum {values[inside].sum():,.1f}"


def test_raster_nodata_dropped_and_window_read(tmp_path, jinning_boundary):
    # hand-made: a larger grid (40 × 40 cells of 4 km) with nodata −1 on the first row and in one inside cell
    cell = 4000.0
    c = jinning_boundary.to_crs(METRIC).geometry.iloc[0].centroid
    origin = (c.x - 20 * cell, c.y + 20 * cell)
    values = np.full((40, 40), 2.0)
    values[0, :] = -1
    values[20, 20] = -1  # the cell holding the centroid
    path = _write_tif(tmp_path / "big.tif", values, METRIC, origin, cell, nodata=-1)
    cx, cy = _centres(origin, cell, 40)
    lon, lat = pyproj.Transformer.from_crs(METRIC, WGS84, always_xy=True).transform(cx, cy)
    inside = shapely.contains_xy(jinning_boundary.geometry.iloc[0], lon, lat) & (values != -1)
    pts = population_from_raster(path, jinning_boundary)
    assert pts["population"].sum() == 2.0 * inside.sum()
    assert (pts["row"] != 20).any() and not ((pts["row"] == 20) & (pts["col"] == 20)).any()


@pytest.mark.parametrize(("bad", "word"), [(np.nan, "1 NaN"), (-3.0, "0 NaN")])
def test_raster_bad_cells_are_errors(tmp_path, jinning_boundary, bad, word):
    # hand-made: a 10 × 10 grid of ones with three bad cells, two of them inside Jinning
    cell = 4000.0
    origin = _grid_over_jinning(jinning_boundary, METRIC, cell)
    cx, cy = _centres(origin, cell)
    lon, lat = pyproj.Transformer.from_crs(METRIC, WGS84, always_xy=True).transform(cx, cy)
    inside = shapely.contains_xy(jinning_boundary.geometry.iloc[0], lon, lat)
    values = np.ones((10, 10))
    rows, cols = np.nonzero(inside)
    outs = np.argwhere(~inside)[0]
    values[rows[0], cols[0]] = values[rows[1], cols[1]] = bad
    values[outs[0], outs[1]] = bad  # outside the boundary: not counted
    path = _write_tif(tmp_path / "bad.tif", values, METRIC, origin, cell)
    with pytest.raises(KmgisError) as exc:
        population_from_raster(path, jinning_boundary)
    msg = str(exc.value)
    assert "\n" not in msg and "bad.tif" in msg and msg.split(": ")[1].startswith("2 cell(s)")
    if bad != bad:  # NaN
        assert "2 NaN" in msg
    else:
        assert word in msg


def test_raster_nan_nodata_is_dropped(tmp_path, jinning_boundary):
    # hand-made: NaN declared as nodata is not an error
    cell = 4000.0
    origin = _grid_over_jinning(jinning_boundary, METRIC, cell)
    values = np.ones((10, 10))
    values[:, :5] = np.nan
    path = _write_tif(tmp_path / "nan.tif", values, METRIC, origin, cell, nodata=np.nan)
    pts = population_from_raster(path, jinning_boundary)
    assert (pts["col"] >= 5).all() and pts["population"].sum() == len(pts)


def test_raster_without_crs_or_elsewhere(tmp_path, jinning_boundary):
    # hand-made: the same grid without a CRS, and one far from Kunming
    cell = 4000.0
    origin = _grid_over_jinning(jinning_boundary, METRIC, cell)
    path = _write_tif(tmp_path / "nocrs.tif", np.ones((10, 10)), None, origin, cell)
    with pytest.raises(KmgisError, match=r"nocrs\.tif: raster has no CRS"):
        population_from_raster(path, jinning_boundary)
    far = _write_tif(tmp_path / "far.tif", np.ones((10, 10)), METRIC, (origin[0], origin[1] + 2e6), cell)
    with pytest.raises(KmgisError, match=r"far\.tif: .*does not cover the boundary"):
        population_from_raster(far, jinning_boundary)
    with pytest.raises(KmgisError, match="not found"):
        population_from_raster(tmp_path / "missing.tif", jinning_boundary)


# --------------------------------------------------------------------------- choice, provenance, residents_in


def test_population_points_dasymetric_provenance(jinning_boundary, jinning_roads):
    pts, info = population_points(jinning_boundary, "jinning", roads=jinning_roads, crs=METRIC)
    assert list(info)[:5] == ["method", "proxy", "cell_m", "total", "source"]
    assert info["proxy"] == "roads" and info["cell_m"] == 100.0
    assert info["total"] == 350000 and info["census_total"] == 350000
    assert info["source"] == POPULATION_SOURCE and info["year"] == 2023
    assert info["method"].startswith("dasymetric: 350,000 residents")


def test_population_points_raster_and_scaling(tmp_path, jinning_boundary):
    # hand-made raster as above
    cell = 4000.0
    origin = _grid_over_jinning(jinning_boundary, METRIC, cell)
    path = _write_tif(tmp_path / "pop.tif", np.full((10, 10), 3.0), METRIC, origin, cell)
    pts, info = population_points(jinning_boundary, "jinning", raster=path, crs=METRIC)
    assert info["proxy"] == "raster" and info["total"] == 3.0 * len(pts) and info["census_total"] == 350000
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    scaled, info2 = population_points(jinning_boundary, 1000, raster=path, crs=METRIC, scale_raster_to_total=True)
    assert scaled["population"].sum() == 1000 and info2["source"].endswith("user-supplied total")


def test_residents_in(jinning_points, jinning_boundary):
    boundary = jinning_boundary.geometry.iloc[0]
    assert residents_in(jinning_points, boundary) == 350000
    assert residents_in(jinning_points, jinning_boundary) == 350000
    minx, miny, maxx, maxy = boundary.bounds
    west = shapely.box(minx - 1, miny - 1, (minx + maxx) / 2, maxy + 1)
    east = shapely.box((minx + maxx) / 2, miny - 1, maxx + 1, maxy + 1)
    w, e = residents_in(jinning_points, west), residents_in(jinning_points, east)
    assert 0 < w < 350000 and w + e == pytest.approx(350000, rel=1e-12)
    expected = jinning_points.loc[jinning_points.geometry.x < (minx + maxx) / 2, "population"].sum()
    assert w == pytest.approx(expected, rel=1e-12)
    assert residents_in(jinning_points.to_crs(METRIC), boundary) == 350000
