"""Static maps (PNG) of a run's layers for the printed report, drawn with matplotlib.

The figures are drawn from the GeoPackage a run wrote (the same layers as the web map, in
the web map's colours), in a metric CRS (EPSG:32648, UTM 48N) with a scale bar and a north
arrow, so a report is readable on paper and offline.  Text is Chinese and English where a
CJK font is installed (WenQuanYi, Noto Sans CJK, …), English only otherwise (never boxes).
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np

from kmgis.geom import spatial_layers
from kmgis.model import ROAD_CLASSES
from kmgis.outputs.maps import MINUTE_COLOURS, NODATA_COLOUR
from kmgis.outputs.recipe_map import (
    BOUNDARY_COLOUR,
    BUILT_UP_EDGE,
    BUILT_UP_FILL,
    ISOCHRONE_COLOURS,
    ROAD_STYLE,
    yaml_labels,
)
from kmgis.outputs.walkability_map import BREAKS as WALK_BREAKS
from kmgis.outputs.walkability_map import COLOURS as WALK_COLOURS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

PLOT_CRS = "EPSG:32648"
"""CRS the figures are drawn in (UTM zone 48N, metres): distances on the scale bar are true."""
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "SimHei")
FIGURE_IN = (7.2, 6.0)
DPI = 150


def _line(**kw: Any) -> Any:
    """A legend handle for lines or markers (matplotlib is imported on first use: ``kmgis`` starts fast)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], **kw)


def _patch(**kw: Any) -> Any:
    """A legend handle for fills."""
    from matplotlib.patches import Patch

    return Patch(**kw)


@dataclass
class Figure:
    """One static map: captions in Chinese and English, and the PNG."""

    key: str
    caption_zh: str
    caption_en: str
    png: bytes


@functools.cache
def cjk_font() -> str | None:
    """The first installed CJK font of :data:`CJK_FONTS`, or None (looked up once per process)."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((f for f in CJK_FONTS if f in names), None)


def label(zh: str, en: str) -> str:
    """``"zh en"`` when a CJK font is installed, else ``en`` (so no character is drawn as a box)."""
    return f"{zh} {en}" if cjk_font() else en


def nice_length_m(width_m: float) -> float:
    """The scale bar's length: the largest 1, 2 or 5 × 10^k metres not above a fifth of ``width_m``.

    >>> nice_length_m(12_000), nice_length_m(48_000), nice_length_m(900)
    (2000.0, 5000.0, 100.0)
    """
    target = width_m / 5
    power = 10 ** math.floor(math.log10(target))
    return float(max(m * power for m in (1, 2, 5) if m * power <= target))


def _decorate(ax: Axes, bounds: np.ndarray) -> None:
    """Scale bar (lower left), north arrow (upper right), CRS note; axes hidden."""
    from matplotlib.patches import Rectangle

    x0, y0, x1, y1 = bounds
    length = nice_length_m(x1 - x0)
    bx, by = x0 + 0.04 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    ax.add_patch(Rectangle((bx - 0.02 * (x1 - x0), by - 0.025 * (y1 - y0)), length + 0.04 * (x1 - x0),
                           0.08 * (y1 - y0), facecolor="white", alpha=0.8, edgecolor="none", zorder=49))
    ax.plot([bx, bx + length], [by, by], color="black", lw=3, solid_capstyle="butt", zorder=50)
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.text(bx + length / 2, by + 0.015 * (y1 - y0), text, ha="center", va="bottom", fontsize=8, zorder=50)
    ax.annotate("N", xy=(0.95, 0.95), xytext=(0.95, 0.86), xycoords="axes fraction", ha="center",
                fontsize=10, arrowprops={"arrowstyle": "-|>", "color": "black"}, zorder=50)
    ax.text(0.01, 0.99, "EPSG:32648 (UTM 48N)", transform=ax.transAxes, ha="left", va="top", fontsize=6,
            color="#555555", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none", "pad": 1}, zorder=50)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_axis_off()


def _padded(bounds: np.ndarray, pad: float = 0.04) -> np.ndarray:
    x0, y0, x1, y1 = bounds
    dx, dy = (x1 - x0) * pad or 100.0, (y1 - y0) * pad or 100.0
    return np.array([x0 - dx, y0 - dy, x1 + dx, y1 + dy])


def render(draw: Callable[[Axes], list], bounds: np.ndarray, title: str) -> bytes:
    """Draw with ``draw(ax)`` (returns legend handles) inside ``bounds`` (metres); the PNG bytes.

    The figure is drawn on its own Agg canvas, not through pyplot, so the caller's matplotlib
    backend and open figures are left as they were.  The PNG carries no timestamp, so reruns
    give identical bytes.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    font = cjk_font()
    family = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    with matplotlib.rc_context({"font.family": family, "axes.unicode_minus": False}):
        fig = MplFigure(figsize=FIGURE_IN, dpi=DPI)  # not pyplot: a notebook's backend and figures stay untouched
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        handles = draw(ax)
        _decorate(ax, _padded(bounds))
        ax.set_title(title, fontsize=10)
        if handles:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _roads(ax: Axes, roads: gpd.GeoDataFrame) -> list:
    """Roads by class, narrow classes first (arterials on top); legend handles."""
    handles = []
    names = yaml_labels("road_classes", "classes")  # 主干路 …
    present = [c for c in ROAD_CLASSES if c in set(roads["road_class"])]
    for cls in sorted(present, key=lambda c: ROAD_STYLE.get(c, {}).get("weight", 1.0)):
        style = ROAD_STYLE.get(cls, {"color": "#555555", "weight": 1.0})
        width = 0.25 + 0.3 * style["weight"]
        roads[roads["road_class"] == cls].plot(ax=ax, color=style["color"], linewidth=width, zorder=10)
        handles.append(_line(color=style["color"], lw=width * 2, label=label(names.get(cls, (cls,))[0], cls)))
    return handles[::-1]


def _graded(ax: Axes, cells: gpd.GeoDataFrame, column: str, breaks: list[float], colours: list[str]) -> list:
    """Cells coloured by ``column`` in classes ``≤ breaks[i]`` (then ``>`` the last), grey where NaN."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    values = cells[column].to_numpy(dtype=float)
    edges = [-np.inf, *breaks, np.inf]
    cmap, norm = ListedColormap(colours), BoundaryNorm(edges, len(colours))
    missing = ~np.isfinite(values)
    if missing.any():
        cells[missing].plot(ax=ax, color=NODATA_COLOUR, alpha=0.7, linewidth=0, zorder=4)
    if (~missing).any():
        cells[~missing].plot(ax=ax, column=column, cmap=cmap, norm=norm, alpha=0.8, linewidth=0, zorder=5)
    lows = ["≤", *(f"{b:g} –" for b in breaks)]
    handles = [_patch(facecolor=colours[i], label=f"{lows[i]} {breaks[i]:g}") for i in range(len(breaks))]
    handles.append(_patch(facecolor=colours[len(breaks)], label=f"> {breaks[-1]:g}"))
    if missing.any():
        handles.append(_patch(facecolor=NODATA_COLOUR, label=label("无数据", "no data")))
    return handles


def read_layers(gpkg: Path) -> dict[str, gpd.GeoDataFrame]:
    """Every spatial layer of ``gpkg`` in :data:`PLOT_CRS` (empty dict if the file is missing)."""
    gpkg = Path(gpkg)
    if not gpkg.is_file():
        return {}
    names = spatial_layers(gpkg)
    return {n: gpd.read_file(gpkg, layer=n).to_crs(PLOT_CRS) for n in names}


def _outline(ax: Axes, layers: dict[str, gpd.GeoDataFrame], *, built_up_fill: bool = True) -> list:
    """Unit boundary (dashed) and built-up patch; legend handles."""
    handles = []
    if "boundary" in layers:
        layers["boundary"].boundary.plot(ax=ax, color=BOUNDARY_COLOUR, linewidth=1.2, linestyle="--", zorder=30)
        handles.append(_line(color=BOUNDARY_COLOUR, lw=1.2, ls="--", label=label("边界", "boundary")))
    if "built_up" in layers:
        bu = layers["built_up"]
        if built_up_fill:
            bu.plot(ax=ax, facecolor=BUILT_UP_FILL, alpha=0.35, edgecolor="none", zorder=2)
        bu.boundary.plot(ax=ax, color=BUILT_UP_EDGE, linewidth=1.2, zorder=31)
        handles.append(_patch(facecolor=BUILT_UP_FILL if built_up_fill else "none",
                             edgecolor=BUILT_UP_EDGE, alpha=0.6, label=label("建成区", "built-up area")))
    return handles


def _focus(layers: dict[str, gpd.GeoDataFrame], *names: str) -> np.ndarray:
    """Bounds of the first of ``names`` present (the extent a figure zooms to)."""
    for n in names:
        if n in layers and len(layers[n]):
            return layers[n].total_bounds
    raise KeyError(names)


def _roads_figure(layers: dict[str, gpd.GeoDataFrame]) -> Figure | None:
    if "roads" not in layers:
        return None
    zoom = "built_up" if "built_up" in layers else "boundary"
    png = render(lambda ax: _roads(ax, layers["roads"]) + _outline(ax, layers), _focus(layers, zoom, "roads"),
                 label("道路网与建成区", "Road network and built-up area"))
    return Figure("roads", "道路网（按等级）与建成区", "Roads by class and the built-up area", png)


def _unit_figure(layers: dict[str, gpd.GeoDataFrame]) -> Figure | None:
    if "boundary" not in layers or "built_up" not in layers:
        return None

    def draw(ax: Axes) -> list:
        layers["boundary"].plot(ax=ax, facecolor="#f7f7f7", edgecolor="none", zorder=1)
        return _outline(ax, layers)

    png = render(draw, _focus(layers, "boundary"), label("行政单元与建成区", "Unit and built-up area"))
    return Figure("unit", "行政单元与建成区位置", "Where the built-up area lies in the unit", png)


def _walkability_figure(layers: dict[str, gpd.GeoDataFrame]) -> Figure | None:
    grid = layers.get("walkability_grid")
    if grid is None or not len(grid):
        return None
    ghsci = bool(np.isfinite(grid["walkability_index"].to_numpy(dtype=float)).any())
    column = "walkability_index" if ghsci else "walkability_index_2c"
    if not np.isfinite(grid[column].to_numpy(dtype=float)).any():
        return None
    title = label("步行指数", "Walkability index" + (" (GHSCI, z)" if ghsci else " (2 components, not GHSCI; z)"))
    png = render(lambda ax: _graded(ax, grid, column, WALK_BREAKS, WALK_COLOURS) + _outline(ax, layers, built_up_fill=False),
                 _focus(layers, "walkability_grid"), title)
    return Figure("walkability", "步行指数网格（z 值，0 = 本区平均）",
                  "Walkability grid (z-scores; 0 = this area's mean)", png)


def _access_figure(layers: dict[str, gpd.GeoDataFrame]) -> Figure | None:
    grid = layers.get("access_grid")
    if grid is None or not len(grid):
        return None
    cols = [c for c in grid.columns if c.startswith("walk_min_") and grid[c].notna().any()]
    if not cols:
        return None
    column = cols[0]
    breaks = [5.0, 10.0, 15.0, 20.0, 30.0]
    category = column[len("walk_min_"):]
    png = render(lambda ax: _graded(ax, grid, column, breaks, MINUTE_COLOURS) + _outline(ax, layers, built_up_fill=False),
                 _focus(layers, "access_grid"), label("步行分钟", f"Walking minutes to the nearest {category}"))
    return Figure("access", f"步行至最近设施（{category}）的时间（分钟）",
                  f"Walking minutes to the nearest {category}", png)


def _transit_figure(layers: dict[str, gpd.GeoDataFrame]) -> Figure | None:
    if "metro_stations" not in layers:
        return None

    def draw(ax: Axes) -> list:
        handles = _outline(ax, layers, built_up_fill=False)
        if "station_catchments" in layers:
            c = layers["station_catchments"].sort_values("distance_m", ascending=False)
            c.plot(ax=ax, facecolor="#9ecae1", alpha=0.35, edgecolor="#3182bd", linewidth=0.6, zorder=5)
            handles.append(_patch(facecolor="#9ecae1", edgecolor="#3182bd", label=label("站点服务范围", "station catchments")))
        if "metro_lines" in layers:
            lines = layers["metro_lines"]
            colours = lines["colour"].fillna("#333333") if "colour" in lines else "#333333"
            lines.plot(ax=ax, color=colours, linewidth=1.6, zorder=20)
        layers["metro_stations"].plot(ax=ax, color="white", edgecolor="black", markersize=9, zorder=25)
        handles.append(_line(marker="o", color="w", markeredgecolor="black", label=label("地铁站", "metro station")))
        return handles

    png = render(draw, _focus(layers, "station_catchments", "metro_stations"), label("轨道交通", "Metro stations"))
    return Figure("transit", "地铁站点与步行服务范围", "Metro stations and their walking catchments", png)


def _isochrone_figure(layers: dict[str, gpd.GeoDataFrame]) -> Figure | None:
    iso = layers.get("isochrones")
    if iso is None or not len(iso):
        return None

    def draw(ax: Axes) -> list:
        handles = []
        bands = iso.sort_values("minutes", ascending=False).reset_index(drop=True)
        for i, row in bands.iterrows():
            colour = ISOCHRONE_COLOURS[min(len(bands) - 1 - i, len(ISOCHRONE_COLOURS) - 1)]
            gpd.GeoSeries([row.geometry], crs=iso.crs).plot(ax=ax, color=colour, alpha=0.45, linewidth=0, zorder=3)
            handles.append(_patch(facecolor=colour, alpha=0.6, label=f"≤ {row['minutes']:g} min"))
        if "units" in layers:
            layers["units"].boundary.plot(ax=ax, color="#444444", linewidth=0.6, zorder=20)
        if "members" in layers:
            layers["members"].plot(ax=ax, color="#e41a1c", markersize=12, zorder=30)
            handles.append(_line(marker="o", color="w", markerfacecolor="#e41a1c", label=label("成员县区", "members")))
        if "origins" in layers:
            layers["origins"].plot(ax=ax, color="black", marker="*", markersize=80, zorder=31)
        return handles[::-1]

    png = render(draw, _focus(layers, "units", "isochrones"), label("等时圈", "Drive-time isochrones"))
    return Figure("isochrones", "驾车等时圈与都市圈成员", "Drive-time isochrones and the metropolitan members", png)


FIGURES: tuple[Callable[[dict[str, gpd.GeoDataFrame]], Figure | None], ...] = (
    _unit_figure, _roads_figure, _walkability_figure, _access_figure, _transit_figure, _isochrone_figure,
)
"""The report's figures, in order; each is drawn when its layers exist."""


def figures(gpkg: Path) -> list[Figure]:
    """The static maps of a run's GeoPackage (the layers present decide which)."""
    layers = read_layers(gpkg)
    return [f for f in (make(layers) for make in FIGURES) if f is not None]
