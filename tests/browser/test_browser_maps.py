"""The web maps in a real browser, offline: Debian's chromium driven by Playwright (no browser download).

Every http(s) request is aborted, so a map passes only if Leaflet, folium's code and the data
are all inside the HTML; base tiles (the only requests a map makes) simply do not appear.
Checks: no JavaScript error, the Leaflet map exists, the layer control lists the expected
overlays, enough vector paths are drawn; a hostile name renders as text and runs nothing.
Screenshots of the Jinning and OSM-sample maps go to maps/demo/.

Without chromium (``apt-get install chromium``) or the playwright package the test fails in
CI (``CI=true``) and is skipped elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import unit_recipes
from map_fixtures import IMG, SCRIPT, hostile_results

from kmgis.config import PROJECT_ROOT

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Playwright ≥ 1.5x no longer matches the glob "http*://**" against https URLs (checked: it lets tile
# requests through), so the block is a regular expression; each test also checks that it fired.
HTTP = re.compile(r"^https?://", re.I)
SCREENSHOTS = PROJECT_ROOT / "maps" / "demo"

# recipe → (overlay names the layer control must list, minimum drawn vector paths, screenshot)
EXPECT = {
    "jinning": (["County boundary", "Built-up area", "Roads: arterial", "Roads: sub-arterial", "Roads: branch",
                 "Roads: internal"], 1000, "jinning_map.png"),
    "central-city": (["County boundary", "Built-up area", "Roads: arterial", "Roads: internal"], 9, None),
    "osm-sample": (["County boundary", "Built-up area", "Roads: arterial", "Roads: path", "Parks", "Green space",
                    "Facilities: bus stop", "Facilities: primary and middle school", "Walk minutes to"], 500,
                   "osm_sample_map.png"),
}
# every other unit: its outline, built-up area and roads
DEFAULT_EXPECT = (["County boundary", "Built-up area", "Roads: arterial"], 9, None)
ALL_RECIPES = [p.stem for p in unit_recipes()] + ["osm-sample"]


def _missing(what: str):
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} (CI installs Debian's chromium in .ci/run and playwright with the dev extra)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def browser():
    exe = shutil.which("chromium")
    if exe is None:
        _missing("chromium is not installed: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed: pip install -e '.[dev]'")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def maps(recipe_runs) -> dict[str, Path]:
    """Every unit recipe, the central city and the OSM sample (run once per session), and the hostile map."""
    from kmgis.outputs.recipe_map import draw_map

    out, runs = recipe_runs
    pages = {rid: res.out_dir / "map.html" for rid, res in runs.items()}
    pages["hostile"] = draw_map(hostile_results(out / "hostile")).path
    return pages


class Visit:
    """One offline page load with everything the browser reported."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors: list[str] = []
        self.blocked: list[tuple[str, str]] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.route(HTTP, self._abort)
        self.page.goto(path.resolve().as_uri(), wait_until="load")
        self.page.wait_for_function("() => window.kmgis && document.querySelector('.leaflet-control-layers')")
        self.page.wait_for_timeout(300)

    def _abort(self, route) -> None:
        self.blocked.append((route.request.resource_type, route.request.url))
        route.abort()

    def js_errors(self) -> list[str]:
        """Console errors other than the aborted tile images (one 'Failed to load resource' each)."""
        failed = [e for e in self.errors if e.startswith("Failed to load resource")]
        others = [e for e in self.errors if not e.startswith("Failed to load resource")]
        return others + failed[len(self.blocked):]


@pytest.mark.parametrize("rid", ALL_RECIPES)
def test_map_renders_offline(browser, maps, rid):
    if rid not in maps:
        pytest.skip("no Kunming data folder")
    names, min_paths, shot = EXPECT.get(rid, DEFAULT_EXPECT)
    v = Visit(browser, maps[rid])
    try:
        assert v.js_errors() == [], v.js_errors()[:5]
        assert v.blocked, "no request was blocked: the offline check did not engage (tiles are expected)"
        assert {t for t, _ in v.blocked} == {"image"}, v.blocked[:5]  # only tiles: no script or style from the net
        assert v.page.evaluate(
            "() => Object.keys(window).some(k => k.startsWith('map_') && window[k] instanceof L.Map)")
        labels = v.page.evaluate(
            "() => [...document.querySelectorAll('.leaflet-control-layers-overlays label')].map(l => l.textContent.trim())")
        for name in names:
            assert any(name in label for label in labels), (name, labels)
        paths = v.page.evaluate("() => document.querySelectorAll('path.leaflet-interactive').length")
        assert paths >= min_paths, (rid, paths)
        # the unit fills the opening view and its outline is really drawn (not clipped away)
        w, h = v.page.evaluate("""() => { const r = [...document.querySelectorAll('.leaflet-kmgis-420-pane path')]
            .map(p => p.getBoundingClientRect());
            return [Math.max(...r.map(b => b.right)) - Math.min(...r.map(b => b.left)),
                    Math.max(...r.map(b => b.bottom)) - Math.min(...r.map(b => b.top))]; }""")
        assert w > 0.4 * 1400 or h > 0.4 * 900, (w, h)
        assert v.page.locator("#kmgis-legend").is_visible() and v.page.locator("#kmgis-scorecard").is_visible()
        if shot:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            v.page.screenshot(path=str(SCREENSHOTS / shot))
            assert (SCREENSHOTS / shot).stat().st_size > 10_000
        assert not v.page.locator("#kmgis-scorecard table").is_visible()
        v.page.click("#kmgis-scorecard summary")  # the collapsible scorecard opens
        assert v.page.locator("#kmgis-scorecard table").is_visible()
        assert v.dialogs == []
    finally:
        v.page.close()


def test_hostile_names_render_as_text_and_run_nothing(browser, maps):
    v = Visit(browser, maps["hostile"])
    try:
        # open every tooltip (they are built on demand, like on hover)
        v.page.evaluate("""() => { const m = Object.values(window).find(x => x instanceof L.Map);
            m.eachLayer(l => { if (l.feature && l.getTooltip && l.getTooltip()) l.openTooltip(); }); }""")
        v.page.wait_for_timeout(200)
        tips = v.page.evaluate("() => [...document.querySelectorAll('.leaflet-tooltip')].map(t => t.textContent)")
        assert any(SCRIPT in t for t in tips), tips[:5]
        assert any(IMG in t for t in tips), tips[:5]
        assert any("{{ 7*7 }}" in t for t in tips), tips[:5]
        v.page.click("#kmgis-scorecard summary")
        assert SCRIPT in v.page.locator("#kmgis-scorecard").inner_text()
        assert SCRIPT in v.page.locator("#kmgis-legend").inner_text()  # the facility category
        labels = v.page.locator(".leaflet-control-layers-overlays").inner_text()
        assert SCRIPT in labels and "{{ 7*7 }}" in labels
        for name in ("Dianchi zones", "Isochrones", "Walk minutes to", "Complete 15-min life circle", "Parks"):
            assert name in labels, (name, labels)
        assert v.page.evaluate("() => document.querySelectorAll('img[src=\"x\"], .leaflet-tooltip script').length") == 0
        assert v.page.evaluate("() => window.__pwned === undefined")
        assert v.dialogs == [], v.dialogs
        assert v.js_errors() == [], v.js_errors()[:5]
    finally:
        v.page.close()


@pytest.fixture(scope="module")
def report_pages(recipe_runs) -> dict[str, Path]:
    """Each run's report.html, and the batch pages (index.html, the combined report.html) of the session's runs."""
    from kmgis.outputs.summary import write_summary

    out, runs = recipe_runs
    write_summary(out, list(runs), pdf=False)
    pages = {rid: res.out_dir / "report.html" for rid, res in runs.items()}
    return pages | {"index": out / "index.html", "combined": out / "report.html"}


def _static_visit(browser, path: Path):
    """Load a page with every http(s) request aborted; (page, blocked requests, console errors)."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    blocked: list[str] = []
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.route(HTTP, lambda route: (blocked.append(route.request.url), route.abort()))
    page.goto(path.resolve().as_uri(), wait_until="load")
    return page, blocked, errors


@pytest.mark.parametrize("name", [*ALL_RECIPES, "index", "combined"])
def test_report_pages_render_offline(browser, report_pages, name):
    if name not in report_pages:
        pytest.skip("no Kunming data folder")
    path = report_pages[name]
    page, blocked, errors = _static_visit(browser, path)
    try:
        assert blocked == [] and errors == [], (blocked[:3], errors[:3])  # nothing asked of the network
        assert page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
        text = page.locator("body").inner_text()
        if name == "index":
            single = page.evaluate("() => document.querySelectorAll('figure.choropleth svg path').length")
            assert single == len([r for r in ALL_RECIPES if r != "central-city"])  # one shape per single-unit run
            assert "各县区指标对比" in text and page.locator("td.missed").count() >= 1
            hrefs = page.evaluate("() => [...document.querySelectorAll('a')].map(a => a.getAttribute('href'))")
            assert hrefs and all((path.parent / h).is_file() for h in hrefs), [h for h in hrefs
                                                                               if not (path.parent / h).is_file()]
        elif name == "combined":
            assert "汇总报告" in text and text.count("目标达成情况") == len(ALL_RECIPES)
        else:
            assert "目标达成情况" in text and "已知局限" in text or "方法与数据来源" in text
            assert page.locator("figure img").count() >= (1 if name == "osm-sample" else 2)
    finally:
        page.close()
