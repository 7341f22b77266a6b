"""Results folders made up for map tests: a hostile one whose names are markup and template code."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point, box

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
JINJA = "{{ 7*7 }}"
JINJA_CODE = "{{ cycler.__init__.__globals__.os.getcwd() }}"  # runs Python if a template engine evaluates it
HOSTILE = [SCRIPT, IMG, JINJA, JINJA_CODE]


def hostile_results(out_dir: Path) -> Path:
    """``out_dir`` with indicators.gpkg, scorecard.csv and run.json full of hostile text (real files, tiny area)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x, y = 102.70, 25.04  # central Kunming
    crs = "EPSG:4326"
    layers = {
        "boundary": gpd.GeoDataFrame({"unit_id": [SCRIPT], "name_zh": [IMG], "name_en": [JINJA], "adcode": [JINJA_CODE]},
                                     geometry=[box(x - 0.02, y - 0.02, x + 0.02, y + 0.02)], crs=crs),
        "built_up": gpd.GeoDataFrame({"patch_id": [SCRIPT], "area_km2": [1.0]},
                                     geometry=[box(x - 0.01, y - 0.01, x + 0.01, y + 0.01)], crs=crs),
        "parks": gpd.GeoDataFrame({"name": HOSTILE, "area_m2": [10000.0] * 4},
                                  geometry=[box(x - 0.008 + i * 0.004, y, x - 0.006 + i * 0.004, y + 0.002)
                                            for i in range(4)], crs=crs),
        "facilities": gpd.GeoDataFrame({"category": [SCRIPT, "school", JINJA, "clinic"], "name": HOSTILE},
                                       geometry=[Point(x + i * 0.002, y - 0.005) for i in range(4)], crs=crs),
        "dianchi_zones": gpd.GeoDataFrame(
            {"zone_id": [SCRIPT, "grade2_2013"], "name_zh": [IMG, "二级保护区"], "name_en": [JINJA, "zone 2"],
             "grade": pd.array([1, None], dtype="Int64"), "approximate": [True, True],
             "controls_zh": ["禁止" * 300, None]},
            geometry=[box(x - 0.015, y - 0.015, x - 0.012, y - 0.012), box(x - 0.018, y - 0.018, x, y)], crs=crs),
        "access_grid": gpd.GeoDataFrame(
            {"cell_id": [0, 1, 2, 3], "walk_min_school": [3.0, 12.0, float("nan"), 14.5],
             "walk_min_clinic": [4.0, 22.0, float("nan"), 9.0], "complete_15min": [True, False, False, True]},
            geometry=[box(x + 0.003 + i * 0.001, y + 0.004, x + 0.004 + i * 0.001, y + 0.005) for i in range(4)],
            crs=crs),
        "isochrones": gpd.GeoDataFrame({"minutes": [30.0, 60.0], "centre": [SCRIPT, JINJA]},
                                       geometry=[Point(x, y).buffer(0.01), Point(x, y).buffer(0.02)], crs=crs),
    }
    gpkg = out_dir / "indicators.gpkg"
    for name, gdf in layers.items():
        gdf.to_file(gpkg, layer=name, driver="GPKG", engine="pyogrio")
    card = pd.DataFrame([
        {"indicator": "road_density_km_per_km2", "label_zh": SCRIPT, "label_en": IMG, "value": "7.5", "unit": JINJA,
         "target": "8.5", "comparison": ">=", "meets": "no", "scope": "x", "target_id": "T1", "year": "2025",
         "source": JINJA_CODE, "clause": IMG, "method": "m", "definition": "d", "parameters": ""},
        {"indicator": SCRIPT, "label_zh": "建成区面积", "label_en": "built-up area", "value": "no data", "unit": "km²",
         "target": "", "comparison": "report", "meets": "no data", "scope": "x", "target_id": "", "year": "",
         "source": "", "clause": "", "method": "", "definition": "", "parameters": ""},
    ])
    card.to_csv(out_dir / "scorecard.csv", index=False, encoding="utf-8-sig")
    run = {"recipe": {"id": "hostile", "name": SCRIPT + IMG + JINJA_CODE, "scope": "sample", "units": None,
                      "parameters": {"lifecircle_minutes": 15}},
           "metric_crs": "EPSG:32648", "built_up": {"method": IMG}}
    (out_dir / "run.json").write_text(json.dumps(run, ensure_ascii=False), encoding="utf-8")
    return out_dir
