"""A choropleth of the units as inline SVG: no script, no library, nothing from the network.

Used by the batch index page and the combined report (it prints in a PDF as it shows on
screen).  Units are drawn in EPSG:32648 (metres, north up), simplified to 1/400 of the map's
width; each unit is a link (to its report) with a tooltip (SVG ``<title>``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import shapely

from kmgis.outputs.maps import NODATA_COLOUR
from kmgis.outputs.numbers import format_value

CLASS_COLOURS = ["#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026"]
"""Five classes, light (low) to dark (high): ColorBrewer YlOrRd."""
WIDTH_PX = 640


def class_breaks(values: np.ndarray, n: int = len(CLASS_COLOURS)) -> list[float]:
    """Upper limits of ``n`` equal-count (quantile) classes of the finite ``values`` (distinct, sorted).

    >>> class_breaks(np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.nan]), 5)
    [1.0, 2.0, 3.0, 4.0, 5.0]
    >>> class_breaks(np.array([2.0, 2.0]), 5)
    [2.0]
    """
    finite = np.sort(values[np.isfinite(values)])
    if not len(finite):
        return []
    m = len(finite)
    upper = [(k * m + n - 1) // n - 1 for k in range(1, n + 1)]  # index of the k-th class's last value
    return sorted({float(finite[i]) for i in upper})


def class_colour(value: float, breaks: list[float]) -> str:
    """The colour of ``value``'s class (grey without a value)."""
    if not np.isfinite(value) or not breaks:
        return NODATA_COLOUR
    i = int(np.searchsorted(breaks, value, side="left"))
    return CLASS_COLOURS[min(i, len(breaks) - 1) + len(CLASS_COLOURS) - len(breaks)]


def _path(geom: shapely.Geometry, x0: float, y1: float, scale: float) -> str:
    parts = []
    for poly in getattr(geom, "geoms", [geom]):
        for ring in [poly.exterior, *poly.interiors]:
            xy = np.asarray(ring.coords)[:, :2]
            pts = " ".join(f"{(x - x0) * scale:.1f},{(y1 - y) * scale:.1f}" for x, y in xy)
            parts.append(f"M{pts}Z")
    return "".join(parts)


def choropleth_svg(units: gpd.GeoDataFrame, values: Mapping[str, float], *, unit: str, title: str,
                   links: Mapping[str, str] | None = None) -> str:
    """An SVG map of ``units`` (column ``recipe``, polygons) coloured by ``values[recipe]``, with a legend.

    ``unit`` formats the numbers (:func:`kmgis.outputs.numbers.format_value`); ``links`` maps a
    recipe to the page its shape links to.
    """
    metric = units.to_crs(32648)
    x0, y0, x1, y1 = metric.total_bounds
    scale = WIDTH_PX / max(x1 - x0, 1.0)
    height = (y1 - y0) * scale
    geoms = metric.geometry.simplify((x1 - x0) / 400)
    vals = np.array([float(values.get(r, np.nan)) for r in metric["recipe"]])
    breaks = class_breaks(vals)
    shapes = []
    for rid, geom, v in zip(metric["recipe"], geoms, vals, strict=True):
        tip = html.escape(f"{rid}: {format_value(v, unit)} {unit}")
        shape = (f'<path d="{_path(geom, x0, y1, scale)}" fill="{class_colour(v, breaks)}" stroke="#333" '
                 f'stroke-width="0.8" fill-rule="evenodd"><title>{tip}</title></path>')
        href = (links or {}).get(rid)
        shapes.append(f'<a href="{html.escape(href)}">{shape}</a>' if href else shape)
    return (f'<figure class="choropleth"><svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_PX}" '
            f'height="{height:.0f}" viewBox="0 0 {WIDTH_PX} {height:.0f}" role="img" aria-label="{html.escape(title)}">'
            f'{"".join(shapes)}</svg>{legend_html(breaks, vals, unit)}'
            f"<figcaption>{html.escape(title)}</figcaption></figure>")


def legend_html(breaks: list[float], values: np.ndarray, unit: str) -> str:
    """The legend: one swatch per class (its value range), and grey for no data if any."""
    colours = CLASS_COLOURS[len(CLASS_COLOURS) - len(breaks):]
    finite = values[np.isfinite(values)]
    lows = [float(finite.min()) if len(finite) else 0.0, *breaks[:-1]]
    rows = [f'<li><span style="background:{c}"></span>{format_value(lo, unit)} – {format_value(hi, unit)} '
            f"{html.escape(unit)}</li>" for c, lo, hi in zip(colours, lows, breaks, strict=True)]
    if (~np.isfinite(values)).any():
        rows.append(f'<li><span style="background:{NODATA_COLOUR}"></span>无数据 no data</li>')
    return f'<ul class="legend">{"".join(rows)}</ul>'


SVG_CSS = """
figure.choropleth { margin: 1em 0; } figure.choropleth svg { max-width: 100%; height: auto; }
figure.choropleth a path:hover { stroke-width: 2.5; }
ul.legend { list-style: none; padding: 0; margin: .4em 0; font-size: 9pt; }
ul.legend li { display: inline-block; margin-right: 1em; }
ul.legend span { display: inline-block; width: 14px; height: 10px; margin-right: 4px; border: 1px solid #999; }
"""
