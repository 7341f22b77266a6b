"""Batches: process pool and a dask LocalCluster give identical results; failures don't stop a batch."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from kmgis.batch import run_batch
from kmgis.config import PROJECT_ROOT
from kmgis.outputs.summary import write_summary

TWO = [PROJECT_ROOT / "recipes" / "yiliang.yaml", PROJECT_ROOT / "recipes" / "songming.yaml"]


def _digests(out, rid):
    d = out / rid
    return {name: hashlib.sha256((d / name).read_bytes()).hexdigest() for name in ("scorecard.csv",)}


def test_local_cluster_matches_process_pool(data_dir, tmp_path):
    pytest.importorskip("distributed")
    pool = run_batch(TWO, data_dir, tmp_path / "pool", workers=2, pdf=False)  # the PDF: tests/test_report.py
    dask = run_batch(TWO, data_dir, tmp_path / "dask", workers=2, scheduler="local", pdf=False)
    assert [r.status for r in pool] == ["ok", "ok"] == [r.status for r in dask]
    assert [r.recipe for r in pool] == ["yiliang", "songming"] == [r.recipe for r in dask]
    for r in pool:
        assert _digests(tmp_path / "pool", r.recipe) == _digests(tmp_path / "dask", r.recipe)
        assert r.peak_mb > 50  # measured in the worker process
    assert [r.road_density_km_per_km2 for r in pool] == [r.road_density_km_per_km2 for r in dask]


def test_a_failing_recipe_does_not_stop_the_others(data_dir, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nname: bad\nscope: county_seat\nunits: [atlantis]\n", encoding="utf-8")
    res = run_batch([bad, TWO[0]], data_dir, tmp_path / "out", workers=1, pdf=False)
    assert [r.status for r in res] == ["failed", "ok"]
    assert "atlantis" in res[0].message
    files = {f.name: f for f in write_summary(tmp_path / "out", [res[1].recipe], pdf=False)}
    assert set(files) == {"summary.csv", "summary.xlsx", "index.html", "report.html"}
    assert not (tmp_path / "out" / "yiliang" / "report.pdf").exists()  # pdf=False all the way down
    table = pd.read_csv(files["summary.csv"], encoding="utf-8-sig")
    assert list(table["recipe"]) == ["yiliang"]
    assert table.loc[0, "targets_met"] + table.loc[0, "targets_missed"] + table.loc[0, "targets_no_data"] > 0
    html = files["index.html"].read_text(encoding="utf-8")
    assert 'href="yiliang/map.html"' in html and 'href="yiliang/report.html"' in html
    assert "road_density_km_per_km2" in html and "<svg" in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html  # offline
    # the population is shown as whole persons with separators, the density with two decimals
    population = float(table.loc[0, "population_built_up"])
    assert f"{population:,.0f}</td>" in html and f"{float(table.loc[0, 'road_density_km_per_km2']):,.2f}</td>" in html
