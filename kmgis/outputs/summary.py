"""After a batch: all units side by side (``maps/summary.csv``, ``maps/index.html``).

Built only from what the recipes wrote (``maps/<id>/scorecard.csv`` and ``indicators.gpkg``),
so it can be redrawn without recomputing.
"""

from __future__ import annotations

import html
from pathlib import Path

import geopandas as gpd
import pandas as pd

from kmgis.errors import KmgisError
from kmgis.indicators import registry
from kmgis.outputs.files import write_csv, write_text

# indicators shown side by side (those with values offline come first)
SUMMARY_INDICATORS = [
    "built_up_area_km2", "population_built_up", "road_density_km_per_km2", "intersection_density_per_km2",
    "dead_end_share_pct", "green_ratio_pct", "park_m2_per_person", "green_300m_pct", "park_500m_pct",
    "lifecircle_complete_pct", "level_15min_complete_pct", "park_service_walk_pct", "station_800m_walk_pct",
    "station_800m_straight_pct",
]
registry.check_ids(SUMMARY_INDICATORS, "kmgis.outputs.summary")  # an undeclared id fails at import


def _header(column: str) -> str:
    """A table header: the registry's Chinese and English label and unit above the id, for indicator columns."""
    if column not in SUMMARY_INDICATORS:
        return html.escape(column)
    s = registry.spec(column)
    return f"{html.escape(s.zh)}<br>{html.escape(s.en)} ({html.escape(s.unit)})<br><code>{html.escape(column)}</code>"


def summary_table(out_root: Path, recipe_ids: list[str]) -> pd.DataFrame:
    """One row per recipe: headline indicator values and the count of targets met / missed / no data."""
    rows = []
    for rid in recipe_ids:
        path = Path(out_root) / rid / "scorecard.csv"
        if not path.is_file():
            continue
        card = pd.read_csv(path, encoding="utf-8-sig", dtype={"value": str})
        first = card.drop_duplicates("indicator").set_index("indicator")
        row: dict = {"recipe": rid, "scope": first["scope"].iloc[0] if len(first) else ""}
        for ind in SUMMARY_INDICATORS:
            row[ind] = first["value"].get(ind, "")
        targeted = card[card["comparison"].isin([">=", "<="])]
        row["targets_met"] = int((targeted["meets"] == "yes").sum())
        row["targets_missed"] = int((targeted["meets"] == "no").sum())
        row["targets_no_data"] = int((targeted["meets"] == "no data").sum())
        row["missed"] = "; ".join(sorted(set(targeted.loc[targeted["meets"] == "no", "target_id"])))
        rows.append(row)
    if not rows:
        raise KmgisError(f"{out_root}: no scorecard.csv of the recipes {recipe_ids}; run them first")
    return pd.DataFrame(rows)


def _numeric(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def choropleth_html(out_root: Path, table: pd.DataFrame, indicator: str) -> str:
    """A folium map of the units coloured by ``indicator`` (single-unit recipes only), as HTML."""
    frames = []
    for rid in table["recipe"]:
        gpkg = Path(out_root) / rid / "indicators.gpkg"
        if not gpkg.is_file():
            continue
        b = gpd.read_file(gpkg, layer="boundary")
        if len(b) == 1:
            frames.append(b.assign(recipe=rid)[["recipe", "geometry"]])
    if not frames:
        raise KmgisError(f"{out_root}: no unit boundaries to draw")
    units = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)
    units = units.merge(table[["recipe", indicator]], on="recipe")
    units[indicator] = _numeric(units[indicator])
    units["geometry"] = units.to_crs(32648).simplify(100).to_crs(4326)
    try:
        import offlinefolium as folium  # the same API as folium, with Leaflet embedded (works offline)
    except ImportError:
        import folium
    b = units.total_bounds
    fmap = folium.Map(location=[(b[1] + b[3]) / 2, (b[0] + b[2]) / 2], zoom_start=8, tiles=None)
    data = units.dropna(subset=[indicator])
    if len(data):
        folium.Choropleth(geo_data=data.to_json(), data=data, columns=["recipe", indicator],
                          key_on="feature.properties.recipe", fill_color="YlOrRd", legend_name=indicator,
                          nan_fill_color="#cccccc").add_to(fmap)
    folium.GeoJson(units.assign(**{indicator: units[indicator].round(3).astype(str)}).to_json(), style_function=lambda _: {
        "fill": False, "color": "#333", "weight": 1},
        tooltip=folium.GeoJsonTooltip(fields=["recipe", indicator])).add_to(fmap)
    return fmap.get_root().render()


def index_html(table: pd.DataFrame, choropleth: str | None, indicator: str) -> str:
    """The batch index page: the side-by-side table with links, and the choropleth below."""
    cols = [c for c in table.columns if c != "recipe"]
    head = "<th>recipe</th>" + "".join(f"<th>{_header(c)}</th>" for c in cols) + "<th>outputs</th>"
    body = []
    for _, r in table.iterrows():
        rid = html.escape(str(r["recipe"]))
        cells = "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cols)
        links = (f'<a href="{rid}/map.html">map</a> · <a href="{rid}/scorecard.html">scorecard</a> · '
                 f'<a href="{rid}/scorecard.csv">csv</a>')
        body.append(f"<tr><td>{rid}</td>{cells}<td>{links}</td></tr>")
    chart = ""
    if choropleth:
        chart = (f"<h2>{html.escape(indicator)}</h2><iframe srcdoc=\"{html.escape(choropleth, quote=True)}\" "
                 'style="width:100%;height:640px;border:1px solid #ccc"></iframe>')
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>kmgis — all units 全部县区</title>
<style>body {{ font-family: sans-serif; margin: 1.5em; }} table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; }} th {{ background: #f0f0f0; }}</style></head><body>
<h1>kmgis — scorecards of all units 各县区指标对比</h1>
<p>targets_met / missed / no_data count the numeric plan targets of each recipe's scope (layers/targets.yaml).</p>
<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>
{chart}
</body></html>
"""


def write_summary(out_root: Path, recipe_ids: list[str], *, indicator: str = "road_density_km_per_km2") -> list[Path]:
    """Write ``summary.csv`` and ``index.html`` into ``out_root``."""
    table = summary_table(out_root, recipe_ids)
    if indicator not in table.columns:
        raise KmgisError(f"unknown summary indicator {indicator!r}; choose one of {', '.join(SUMMARY_INDICATORS)}")
    try:
        chart = choropleth_html(out_root, table, indicator)
    except KmgisError:
        chart = None
    out = Path(out_root)
    return [write_csv(table, out / "summary.csv"), write_text(index_html(table, chart, indicator), out / "index.html")]
