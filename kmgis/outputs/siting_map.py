"""The map of a siting run (``OUT/<recipe id>/siting-<category>/map.html``), on the one builder.

Two overlays: the chosen sites numbered in greedy order (tooltip: rank, residents each adds,
coverage after it) and every candidate (tooltip: residents within reach, greedy rank, in the
exact solution), with a legend and the coverage curve as the panel.  Offline like every kmgis
map (only the base tiles need the internet).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from kmgis.geom import html_text
from kmgis.model import WGS84
from kmgis.outputs.maps import (
    MapInfo,
    WebMap,
    format_number,
    geojson_of,
    layer_options,
    legend_row,
    swatch_dot,
)

SITE_COLOUR = "#d7301f"
EXACT_COLOUR = "#2b8cbe"
CANDIDATE_COLOUR = "#969696"
SITE_Z, CANDIDATE_Z = 440, 432


def _sites_layer(wm: WebMap, sites: gpd.GeoDataFrame, category: str) -> None:
    props = {"rank": 0, "residents_added": 0, "residents_covered": 0, "covered_pct": 2}
    tip = [["顺序 rank", "rank", "", 0], ["新增覆盖 residents added", "residents_added", "persons", 0],
           ["累计覆盖 covered", "covered_pct", "%", 2]]
    opts = layer_options(SITE_Z, style={"radius": 8, "color": "#ffffff", "weight": 2, "fillColor": SITE_COLOUR,
                                        "fillOpacity": 0.95}, title=f"建议选址 proposed site ({category})", tip=tip)
    fg = wm.add_layer(f"建议选址 Proposed sites ({category})", geojson_of(sites.to_crs(WGS84), props), opts)
    wm.add_legend(fg, "建议选址 Proposed sites", [legend_row(swatch_dot(SITE_COLOUR), f"{len(sites)} sites, "
                                                  "greedy order (hover: residents each adds)")])


def _candidates_layer(wm: WebMap, candidates: gpd.GeoDataFrame) -> None:
    g = candidates.to_crs(WGS84).copy()
    g["chosen"] = g["in_exact"].map({True: "exact", False: "other"}).fillna("other")
    props = {"candidate_id": 0, "residents_within": 0, "greedy_rank": 0, "chosen": None}
    tip = [["候选 candidate", "candidate_id", "", 0], ["可达人口 residents within reach", "residents_within",
                                                     "persons", 0], ["贪心顺序 greedy rank", "greedy_rank", "", 0]]
    opts = layer_options(CANDIDATE_Z, style={"radius": 3, "color": CANDIDATE_COLOUR, "weight": 1,
                                             "fillColor": CANDIDATE_COLOUR, "fillOpacity": 0.6},
                         title="候选点 candidate", tip=tip)
    opts |= {"colorKey": "chosen", "colors": {"exact": EXACT_COLOUR, "other": CANDIDATE_COLOUR}}
    fg = wm.add_layer("候选点 Candidates", geojson_of(g, props), opts, show=False)
    wm.add_legend(fg, "候选点 Candidates", [legend_row(swatch_dot(EXACT_COLOUR), "in the exact solution"),
                                           legend_row(swatch_dot(CANDIDATE_COLOUR), "other candidates")])


def _curve_panel(curve: pd.DataFrame, title: str) -> str:
    rows = "".join(f"<tr><td>{int(r.sites)}</td><td>{format_number(r.covered_pct, 2)} %</td></tr>"
                   for r in curve.itertuples())
    return (f"<details><summary><b>{html_text(title)}</b></summary><table><thead><tr><th>N</th>"
            f"<th>覆盖 covered</th></tr></thead><tbody>{rows}</tbody></table></details>")


def write_siting_map(sites: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, curve: pd.DataFrame, category: str,
                     path: Path, *, tiles: str = "osm") -> MapInfo:
    """Draw the sites, the candidates and the coverage curve into ``path`` (atomic)."""
    wm = WebMap(candidates.to_crs(WGS84).total_bounds, tiles=tiles, title=f"kmgis siting {category}")
    _candidates_layer(wm, candidates)
    _sites_layer(wm, sites, category)
    wm.set_panel(_curve_panel(curve, f"选址覆盖曲线 coverage curve ({category})"))
    return wm.save(path)
