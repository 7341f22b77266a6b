"""Shared helpers, one copy of each: study areas (a boundary plus a halo), CRS checks and labels,
polygon parts, HTML text and file hashes."""

from __future__ import annotations

import hashlib
import html
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pyproj
import shapely

from kmgis.errors import KmgisError
from kmgis.model import WGS84

DEFAULT_HALO_M = 2000.0


def with_halo(boundary: gpd.GeoDataFrame | gpd.GeoSeries, halo_m: float, crs: pyproj.CRS | str) -> shapely.Geometry:
    """The union of ``boundary`` buffered by ``halo_m`` metres (in ``crs``), as a WGS84 polygon."""
    if len(boundary) == 0:
        raise KmgisError("study area: the boundary layer is empty")
    if halo_m < 0:
        raise KmgisError(f"study area: halo must be ≥ 0 m, got {halo_m}")
    geom = gpd.GeoSeries(boundary.geometry, crs=boundary.crs).to_crs(crs).union_all()
    if halo_m:
        geom = shapely.buffer(geom, halo_m, quad_segs=8)
    return gpd.GeoSeries([geom], crs=crs).to_crs(WGS84).iloc[0]


def select_intersecting(gdf: gpd.GeoDataFrame, area: shapely.Geometry) -> gpd.GeoDataFrame:
    """Rows of ``gdf`` (WGS84) whose geometry intersects ``area``, whole (not cut), in input order."""
    idx = gdf.sindex.query(area, predicate="intersects")
    return gdf.iloc[sorted(idx)]


# --------------------------------------------------------------------------- CRS


def projected_crs(crs: pyproj.CRS | str | int, what: str = "this computation") -> pyproj.CRS:
    """``crs`` as a :class:`pyproj.CRS`, checked to be projected in metres.

    Raises :class:`KmgisError` naming ``what`` for an unknown CRS or one in degrees / feet.

    >>> projected_crs("EPSG:32648").to_epsg()
    32648
    """
    try:
        out = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise KmgisError(f"{what}: unknown metric CRS {crs!r} ({str(exc).splitlines()[0]})") from None
    units = {a.unit_name for a in out.axis_info}
    if not out.is_projected or not units <= {"metre", "meter"}:
        raise KmgisError(f"{what}: CRS {crs_label(out)} is not a projected CRS in metres; use e.g. EPSG:32648 "
                         "or EPSG:4543")
    return out


def crs_label(crs: pyproj.CRS | str | int) -> str:
    """``EPSG:<code>`` where the CRS has one, else its name.

    >>> crs_label("EPSG:4543")
    'EPSG:4543'
    """
    c = pyproj.CRS.from_user_input(crs)
    epsg = c.to_epsg()
    return f"EPSG:{epsg}" if epsg else c.name


# --------------------------------------------------------------------------- layers and geometry


def is_empty_layer(layer: object) -> bool:
    """True for an absent (None) or empty layer (no rows)."""
    return layer is None or len(layer) == 0  # type: ignore[arg-type]


def polygon_parts(geom: shapely.Geometry | None) -> np.ndarray:
    """The non-empty Polygon parts of any geometry (multi-parts and collections flattened), in order.

    >>> len(polygon_parts(shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 2, 3, 3)])))
    2
    """
    out: list[shapely.Geometry] = []
    stack = [geom]
    while stack:
        g = stack.pop()
        if g is None or g.is_empty:
            continue
        t = shapely.get_type_id(g)
        if t == 3:
            out.append(g)
        elif t in (6, 7):
            stack.extend(reversed(list(shapely.get_parts(g))))
    return np.asarray(out, dtype=object)


def polygonal(geoms: np.ndarray) -> np.ndarray:
    """Each geometry repaired (``make_valid``) and reduced to its polygonal part; None where there is none.

    Collections (from ``make_valid`` or OSM relations) keep the union of their polygons.
    """
    geoms = np.asarray(geoms, dtype=object)
    out = np.full(len(geoms), None, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    g = geoms[present]
    bad = ~shapely.is_valid(g)
    if bad.any():
        g = g.copy()
        g[bad] = shapely.make_valid(g[bad])
    types = shapely.get_type_id(g)
    res = np.where((types == 3) | (types == 6), g, None)
    for i in np.flatnonzero(types == 7):
        parts = shapely.get_parts(g[i])
        parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
        if len(parts):
            res[i] = shapely.union_all(parts)
    out[present] = res
    return out


# --------------------------------------------------------------------------- text and files


def html_text(text: object) -> str:
    """Text → HTML text: escaped, and braces as entities.

    folium renders its templates a second time, so ``{{ … }}`` in a user's name would be
    evaluated; as entities they display as braces.

    >>> html_text("<b>{{x}}</b>")
    '&lt;b&gt;&#123;&#123;x&#125;&#125;&lt;/b&gt;'
    """
    return html.escape(str(text), quote=True).replace("{", "&#123;").replace("}", "&#125;")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, hex."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def spatial_layers(path: str | os.PathLike[str]) -> list[str]:
    """The layers of a vector file that have a geometry column, in file order.

    Tables without geometry are left out: QGIS's ``layer_styles`` (kmgis writes one into every
    GeoPackage, and QGIS adds one when a style is saved), attribute tables.
    """
    return [str(name) for name, geometry in pyogrio.list_layers(path) if geometry]
