"""The README's "Use from Python" example runs as written (on the Kunming data directory)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from conftest import require_data

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- example:python -->\s*```python\n(.*?)```", text, re.S)
    assert m, "README has no <!-- example:python --> block"
    return m.group(1)


def test_readme_python_example_runs(tmp_path, monkeypatch):
    data = require_data()
    monkeypatch.setenv("KMGIS_DATA", str(data))
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    ns: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(_example(), "README.md example", "exec"), ns)  # noqa: S102 - our own README
    printed = out.getvalue()
    assert "road_density_km_per_km2" in printed and "residents within 15 min of a school at the seat" in printed
    share = float(re.search(r"^([\d.]+) % of the built-up", printed, re.M).group(1))
    assert 1 < share < 100  # the seat is in town: some, not all, of the district within 1,200 m
    # the raw layer in a notebook gives the recipe's own (catalogue-normalised) road density
    raw = ns["density"]["road_density_km_per_km2"].value
    assert raw == pytest.approx(ns["results"].indicators["road_density_km_per_km2"].value, rel=1e-9)
    assert 5.5 < raw < 6.5
    for name in ("scorecard.csv", "indicators.gpkg", "run.json", "map.html"):
        assert (tmp_path / "maps" / "jinning" / name).stat().st_size > 0
