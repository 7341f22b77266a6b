"""The kmgis data model: normalised layers every source is read into.

All layers are GeoDataFrames in WGS84 (EPSG:4326).  Indicators never know where a layer
came from (OSM PBF/XML, Overpass, a user file with a field mapping, a POI table).

======================  ============  =====================================================
layer                   geometry      columns (besides ``geometry``)
======================  ============  =====================================================
``roads``               LineString    ``road_class`` (GB/T 51328, see ``layers/road_classes.yaml``),
                                      ``highway``, ``oneway`` (1 forward, -1 reverse, 0 two-way,
                                      <NA> unknown), ``maxspeed_kmh``, ``name``, ``walk``, ``drive``,
                                      ``osm_id`` (when from OSM), ``osm_node_ids`` (the OSM node id
                                      of every vertex, when read from a file: the network joins
                                      ways at shared node ids, not at coincident positions;
                                      in-memory only, dropped when writing files)
``facilities``          Point         ``category`` (``layers/facilities.yaml``), ``name``, ``source_id``
``parks``               Polygon       ``name``, ``area_m2``, ``source_id``
``green``               Polygon       ``kind`` (the tag that made it green), ``name``, ``area_m2``
``water``               Polygon       ``name``, ``area_m2``, ``source_id``
``buildings``           Polygon       ``building``, ``levels``, ``area_m2``
``landuse``             Polygon       ``landuse`` (OSM value: residential, commercial, …), ``area_m2``
``boundaries``          Polygon       ``unit_id``, ``adcode``, ``name_zh``, ``name_en``
``stations``            Point         ``name`` (as given: pinyin, or the OSM ``name``), ``name_zh``,
                                      ``lines`` (the lines serving it, ``;``-separated as in the
                                      source, e.g. ``1号线/2号线;4号线``), ``source_id``
======================  ============  =====================================================
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd

from kmgis.config import load_layers_yaml
from kmgis.errors import KmgisError

WGS84 = "EPSG:4326"

LAYER_COLUMNS: dict[str, dict[str, str]] = {
    "roads": {
        "road_class": "str",
        "highway": "str",
        "oneway": "Int8",
        "maxspeed_kmh": "float64",
        "name": "str",
        "walk": "boolean",
        "drive": "boolean",
        "osm_id": "Int64",
        "osm_node_ids": "object",
    },
    "facilities": {"category": "str", "name": "str", "source_id": "str"},
    "parks": {"name": "str", "area_m2": "float64", "source_id": "str"},
    "green": {"kind": "str", "name": "str", "area_m2": "float64", "source_id": "str"},
    "water": {"name": "str", "area_m2": "float64", "source_id": "str"},
    "buildings": {"building": "str", "levels": "float64", "area_m2": "float64", "source_id": "str"},
    "landuse": {"landuse": "str", "name": "str", "area_m2": "float64", "source_id": "str"},
    "boundaries": {"unit_id": "str", "adcode": "str", "name_zh": "str", "name_en": "str"},
    "stations": {"name": "str", "name_zh": "str", "lines": "str", "source_id": "str"},
}

LAYER_GEOMETRY: dict[str, tuple[str, ...]] = {
    "roads": ("LineString",),
    "facilities": ("Point",),
    "parks": ("Polygon", "MultiPolygon"),
    "green": ("Polygon", "MultiPolygon"),
    "water": ("Polygon", "MultiPolygon"),
    "buildings": ("Polygon", "MultiPolygon"),
    "landuse": ("Polygon", "MultiPolygon"),
    "boundaries": ("Polygon", "MultiPolygon"),
    "stations": ("Point",),
}

LAYER_NAMES = tuple(LAYER_COLUMNS)


def empty_layer(layer: str) -> gpd.GeoDataFrame:
    """An empty GeoDataFrame with the model's columns for ``layer`` (WGS84)."""
    cols = LAYER_COLUMNS[layer]
    data = {c: pd.Series([], dtype=dtype) for c, dtype in cols.items()}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)


def conform(layer: str, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``gdf`` with exactly the model's columns for ``layer``, in order and typed.

    Missing optional columns are added as nulls; extra columns are dropped.  The frame
    must already be in WGS84; rows with empty geometry are removed and the index reset.
    """
    if layer not in LAYER_COLUMNS:
        raise KmgisError(f"unknown layer kind {layer!r}; expected one of {', '.join(LAYER_NAMES)}")
    if gdf.crs is None or gpd.GeoSeries([], crs=gdf.crs).crs.to_epsg() != 4326:
        raise KmgisError(f"{layer}: layer must be in WGS84 (EPSG:4326) before it enters the model, got {gdf.crs}")
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    out = {}
    for col, dtype in LAYER_COLUMNS[layer].items():
        series = gdf[col] if col in gdf.columns else pd.Series(None, index=gdf.index, dtype="object")
        out[col] = _as_dtype(series, dtype)
    res = gpd.GeoDataFrame(out, geometry=gdf.geometry.values, crs=WGS84, index=gdf.index)
    return res.reset_index(drop=True)


def _as_dtype(series: pd.Series, dtype: str) -> pd.Series:
    """Cast a column to the model dtype; text columns are object dtype with ``None`` for missing."""
    if dtype == "str":
        obj = series.astype("object")
        return obj.where(obj.notna(), None)
    if dtype == "object":
        return series.astype("object")
    if dtype == "float64":
        return pd.to_numeric(series, errors="coerce").astype("float64")
    return series.astype(dtype)


# --------------------------------------------------------------------------- road classes
# (road_classes.yaml; other road-class vocabulary helpers may join this section)


def road_class_table() -> dict[str, dict[str, Any]]:
    """The road classes of the model, ``layers/road_classes.yaml: classes``, highest class first.

    Returns ``{road_class: spec}`` in file order (expressway, arterial, sub-arterial, branch,
    internal, path); ``spec`` holds ``zh`` (Chinese name), ``city_road`` (counted in road
    density, GB/T 51328), ``walk`` and ``drive`` (default permissions).  Read through
    :func:`kmgis.config.load_layers_yaml`; indicators call this once, at import, and keep
    the result in a module constant.
    """
    classes = load_layers_yaml("road_classes").get("classes")
    if not isinstance(classes, dict) or not classes:
        raise KmgisError("layers/road_classes.yaml: expected a non-empty 'classes' mapping")
    return {str(name): dict(spec or {}) for name, spec in classes.items()}


ROAD_CLASSES: dict[str, dict[str, Any]] = road_class_table()
"""The model's road classes (read once, at import), highest class first."""


def _alias_table() -> dict[str, str]:
    """Accepted ``road_class`` values → model class: the classes, their ``_`` spelling and
    Chinese names, the layer spellings of ``aliases`` and the OSM ``highway`` values
    (``layers/road_classes.yaml``)."""
    out: dict[str, str] = {}
    for name, spec in ROAD_CLASSES.items():
        out[name] = out[name.replace("-", "_")] = name
        if spec.get("zh"):
            out[str(spec["zh"])] = name
    table = load_layers_yaml("road_classes")
    for alias, name in {**(table.get("aliases") or {}), **(table.get("osm_highway") or {})}.items():
        if str(name) not in ROAD_CLASSES:
            raise KmgisError(f"layers/road_classes.yaml: {alias!r} maps to unknown class {name!r}")
        out.setdefault(str(alias), str(name))
    return out


ROAD_CLASS_ALIASES: dict[str, str] = _alias_table()
"""Every ``road_class`` value the road indicators accept, mapped to the model class (read at import).

A raw office layer's ``secondary`` (次干路) is the OSM ``secondary`` → ``sub-arterial``;
``主干路`` → ``arterial``.  Any other value is an error, never a silent drop."""


def normalise_road_classes(roads: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, dict[str, int]]:
    """``roads`` with every ``road_class`` a model class, and the count of each value mapped.

    Values already in the model are kept; aliases (:data:`ROAD_CLASS_ALIASES`) are mapped
    and counted (``{"secondary → sub-arterial": 1204}``); a missing or unknown value is a
    one-line :class:`KmgisError` naming the known values.

    >>> import geopandas as gpd, shapely
    >>> raw = gpd.GeoDataFrame({"road_class": ["arterial", "secondary"]},
    ...                        geometry=[shapely.LineString([(0, 0), (1, 1)])] * 2, crs="EPSG:4326")
    >>> normalise_road_classes(raw)[1]
    {'secondary → sub-arterial': 1}
    """
    values = roads["road_class"]
    if values.isna().any():
        raise KmgisError(f"roads: {int(values.isna().sum())} features have no road_class; give one of "
                         f"{', '.join(ROAD_CLASSES)} (or an OSM highway value / Chinese class name)")
    text = values.astype(str)
    unknown = sorted(set(text) - set(ROAD_CLASS_ALIASES))
    if unknown:
        raise KmgisError(f"roads: unknown road_class value(s) {unknown[:8]} ({int(text.isin(unknown).sum())} "
                         f"features); known classes: {', '.join(ROAD_CLASSES)}; also accepted: their Chinese "
                         "names and OSM highway values (layers/road_classes.yaml)")
    mapped = text.map(ROAD_CLASS_ALIASES)
    changed = text != mapped
    if not changed.any():
        return roads, {}
    pairs = (text[changed] + " → " + mapped[changed]).value_counts().sort_index()
    out = roads.copy()
    out["road_class"] = mapped.to_numpy()
    return out, {str(k): int(v) for k, v in pairs.items()}
"""Class → rank, 0 = highest (``road_classes.yaml`` order: expressway first)."""
