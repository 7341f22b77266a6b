"""OpenStreetMap from the Overpass API with osmnx (online, cached), into the data model.

:func:`read_overpass` downloads the tags of the requested layers with one
``osmnx.features_from_polygon`` query and normalises the elements exactly as the file
reader does (:mod:`kmgis.sources.osm_tags`).  Without internet it says so plainly, and
points to the offline way in: a ``.osm.pbf`` file.

The query does not carry the study area itself — osmnx repeats the polygon once per tag
filter and element type, so a county outline of 726 vertices made a 3 MB query — but a
*cover* (:func:`overpass_cover`): a simplified polygon of a few dozen vertices containing
it.  The features fetched in the cover are then kept by the same rules against the exact
polygon, and the number dropped is recorded (:class:`OverpassFetch`, and the ``attrs`` of
the frames :func:`read_overpass` returns).

:func:`overpass_query` tells, without any network, what that query is (bounding box, tags,
the cover, the Overpass QL of each sub-query osmnx sends and the cache file of each
answer); :func:`fetch_overpass` downloads it into the cache ahead of an offline run
(``kmgis fetch-osm``).  A run and ``fetch-osm`` go through the same :func:`overpass_query`,
so they send the same text and share the cache.  How long the cache lives:
:data:`CACHE_LIFETIME`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.model import WGS84
from kmgis.sources.osm_tags import (
    DEFAULT_LAYERS,
    areas_from_elements,
    check_layers,
    check_polygon,
    elements_from_osmnx,
    facilities_from_elements,
    first_line,
    overpass_tags,
    roads_from_elements,
)

OFFLINE_HINT = "kmgis works offline with a .osm.pbf file: pass it with --osm FILE"
PROBE_TIMEOUT_MAX_S = 10.0
"""Longest wait (s) for the TCP connect that tells whether the Overpass host answers."""
POLY = "POLY"
"""Stands for the polygon's coordinate string in :meth:`OverpassQuery.outline`."""

CACHE_LIFETIME = """\
How long the cache lives (osmnx 2.x: osmnx/_overpass.py _overpass_request, osmnx/_http.py
_save_to_cache / _retrieve_from_cache / _resolve_cache_filepath, osmnx/settings.py):
  * one JSON file per Overpass sub-query, named <SHA-1 of the request as a GET URL>.json:
    OVERPASS_URL/interpreter?data=<Overpass QL>; the QL holds the polygon sent (the study
    area's simplified cover, lat/lon rounded to 6 decimals), the tags and
    "[out:json][timeout:<requests_timeout>]<maxsize>", so another polygon, halo, cover rule,
    tag list, Overpass endpoint, ox.settings.requests_timeout, overpass_memory or
    overpass_settings is another file (a cache miss);
  * it never expires: a file that exists is read, whatever its age; osmnx neither checks
    dates nor deletes files.  The data stay as old as the download: --refresh (or deleting
    the files) downloads again;
  * an answer with an HTTP error or an Overpass "remark" (a server timeout or memory
    limit) is not cached;
  * ox.settings.cache_only_mode=True would download into the cache and stop before the
    features are built; kmgis does not use it (it counts the features).
"""
def overpass_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else ``$KMGIS_CACHE/overpass``, else ``~/.cache/kmgis/overpass``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("KMGIS_CACHE")
    if env:
        return Path(env).expanduser() / "overpass"
    return Path.home() / ".cache" / "kmgis" / "overpass"


def _unreachable(reason: str) -> KmgisError:
    """The error for an Overpass API that cannot be used, with the offline hint."""
    return KmgisError(f"Overpass API could not be reached ({reason}); {OFFLINE_HINT}")


def _probe(url: str, timeout_s: float) -> str | None:
    """Why the Overpass host cannot be reached (a TCP connect within ``timeout_s`` s), or None if it can."""
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
        return f"{host}:{port}: {exc.strerror or first_line(exc)}"


@contextlib.contextmanager
def _osmnx_settings(**values: Any) -> Iterator[None]:
    """``osmnx.settings`` set to ``values`` for the block, restored after."""
    import osmnx as ox

    old = {k: getattr(ox.settings, k) for k in values}
    try:
        for k, v in values.items():
            setattr(ox.settings, k, v)
        yield
    finally:
        for k, v in old.items():
            setattr(ox.settings, k, v)


def _no_features() -> gpd.GeoDataFrame:
    """The empty frame that stands for osmnx's "no matching features"."""
    features = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
    features.index = pd.MultiIndex.from_arrays([[], []], names=["element", "id"])
    return features


def _features(polygon: shapely.Geometry, tags: dict, folder: Path) -> tuple[gpd.GeoDataFrame, str | None]:
    """``osmnx.features_from_polygon`` with its cache in ``folder``, and why the host could not be
    reached (None if it answered a TCP connect); errors as :class:`KmgisError`.

    When the host does not answer a TCP connect, osmnx runs with its rate-limit pause and
    DNS-over-HTTPS lookup off, so a cached answer is still used but a missing one fails at
    once.  "No matching features" is an empty frame, not an error.
    """
    import osmnx as ox
    import requests
    from osmnx._errors import InsufficientResponseError, ResponseStatusCodeError

    timeout = float(ox.settings.requests_timeout)
    reason = _probe(ox.settings.overpass_url, min(timeout, PROBE_TIMEOUT_MAX_S))
    overrides: dict[str, Any] = {"use_cache": True, "cache_folder": str(folder)}
    if reason is not None:
        overrides |= {"overpass_rate_limit": False, "doh_url_template": None}
    try:
        with _osmnx_settings(**overrides):
            return ox.features_from_polygon(polygon, tags), reason
    except InsufficientResponseError as exc:
        if "no matching features" not in str(exc).lower():
            raise _unreachable(reason or first_line(exc)) from None
        return _no_features(), reason
    except requests.exceptions.RequestException as exc:
        raise _unreachable(reason or f"{type(exc).__name__}: {first_line(exc)}") from None
    except ResponseStatusCodeError as exc:
        raise _unreachable(f"HTTP error: {first_line(exc)}") from None


def _inside(features: gpd.GeoDataFrame, polygon: shapely.Geometry) -> gpd.GeoDataFrame:
    """The rows of osmnx's ``features`` (fetched in the cover) that intersect ``polygon``.

    osmnx's own last step (``osmnx.features._filter_features``) against the exact polygon:
    what ``features_from_polygon(polygon, …)`` would have returned, columns left all empty
    dropped as osmnx drops them.
    """
    if features.empty:
        return features
    shapely.prepare(polygon)
    keep = shapely.intersects(np.asarray(features.geometry.values), polygon)
    if keep.all():
        return features
    if not keep.any():
        return _no_features()
    return features[keep].dropna(axis="columns", how="all")


def _model_layers(features: gpd.GeoDataFrame, layers: Sequence[str], polygon: shapely.Geometry
                  ) -> dict[str, gpd.GeoDataFrame]:
    """osmnx features → the model ``layers`` through the normalisers of :mod:`kmgis.sources.osm_tags`.

    As in the file reader (:func:`kmgis.sources.osm.read_osm_file` with ``clip``): roads come
    from ways only (:func:`~kmgis.sources.osm_tags.roads_from_elements` leaves out the
    multipolygon relations tagged ``highway=*`` osmnx returns, e.g. Rautatientori in the
    Helsinki sample), and facilities are kept when their point lies in ``polygon`` (osmnx keeps
    every feature intersecting it: a school whose grounds reach into the polygon).
    """
    elements = elements_from_osmnx(features)
    out: dict[str, gpd.GeoDataFrame] = {}
    for layer in layers:
        if layer == "roads":
            out[layer] = roads_from_elements(elements)
        elif layer == "facilities":
            fac = facilities_from_elements(elements)
            out[layer] = fac[shapely.intersects(np.asarray(fac.geometry.values), polygon)].reset_index(drop=True)
        else:
            out[layer] = areas_from_elements(elements, layer)
    return out


# --------------------------------------------------------------------------- the cover: a simpler polygon to ask for

COVER_TOLERANCE = 0.01
"""Simplification tolerance of the cover, as a fraction of √(area of the polygon) …"""
COVER_MIN_TOLERANCE_M = 100.0
"""… and at least this many metres."""
COVER_BUFFERS = (1.25, 1.5, 2.0, 2.5, 3.0)
"""Buffers tried in turn (× the tolerance) until the cover contains the polygon with
:data:`COVER_MARGIN_M` to spare; the simplification (1 × tolerance) is never larger."""
COVER_CLOSING = 2.0
"""Before the buffer, inlets narrower than 2 × this × buffer are filled (a morphological closing)."""
COVER_MARGIN_M = 1.0
"""Least distance (m) between the cover's outline and the polygon: room for the rounding of the
coordinates (1e-6°, ~0.1 m) in the cover and in osmnx's query."""
COVER_DECIMALS = 6
"""The cover's coordinates are rounded to this many decimals of a degree (osmnx writes 6)."""


@dataclass(frozen=True)
class OverpassCover:
    """A simpler polygon containing ``polygon``, asked of Overpass in its place (:func:`overpass_cover`).

    ``cover``: WGS84, coordinates rounded to :data:`COVER_DECIMALS`; ``crs``: the metric CRS
    it was built in; ``tolerance_m`` / ``buffer_m``: the simplification and the buffer it took;
    ``margin_m``: least distance between the cover's outline and ``polygon``.
    """

    polygon: shapely.Geometry
    cover: shapely.Geometry
    crs: pyproj.CRS
    tolerance_m: float
    buffer_m: float
    margin_m: float

    @property
    def vertices(self) -> tuple[int, int]:
        """Vertices of the exterior rings of (``polygon``, ``cover``)."""
        return exterior_vertices(self.polygon), exterior_vertices(self.cover)


def exterior_vertices(geom: shapely.Geometry) -> int:
    """Vertices of the exterior rings of a (Multi)Polygon, all parts (what osmnx writes in its query)."""
    return int(shapely.get_num_coordinates(shapely.get_exterior_ring(shapely.get_parts(geom))).sum())


def _filled(geom: shapely.Geometry) -> shapely.Geometry:
    """``geom`` without its holes (osmnx leaves holes out of the query anyway)."""
    return shapely.union_all(shapely.polygons(shapely.get_exterior_ring(shapely.get_parts(geom))))


def _cover_candidate(exact_m: shapely.Geometry, tolerance: float, buffer: float) -> shapely.Geometry:
    """``exact_m`` (metres) closed by ``COVER_CLOSING × buffer``, buffered by ``buffer``, each part
    simplified by ``tolerance`` (Douglas-Peucker, topology preserved)."""
    closing = COVER_CLOSING * buffer
    grown = shapely.buffer(shapely.buffer(_filled(exact_m), buffer + closing, quad_segs=4), -closing, quad_segs=4)
    parts = [shapely.simplify(p, tolerance) for p in shapely.get_parts(_filled(grown))]
    return shapely.union_all(parts)


def overpass_cover(polygon: shapely.Polygon | shapely.MultiPolygon) -> OverpassCover:
    """A polygon with far fewer vertices containing ``polygon`` (WGS84), to ask Overpass for.

    Built in the UTM zone of the polygon's centre (:func:`kmgis.crs.metric_crs`): tolerance
    ``t = max(COVER_MIN_TOLERANCE_M, COVER_TOLERANCE × √area)`` (1 % of √area, at least 100 m:
    430 m for the 1,848 km² of Jinning + halo); the polygon (holes filled) is closed —
    inlets narrower than 4 buffers filled —, buffered by ``1.25 t`` and simplified by ``t``,
    back to WGS84 with coordinates rounded to 6 decimals.  Douglas-Peucker keeps the outline
    within ``t`` of the buffered one, so in principle ``0.25 t`` to spare; but GEOS also drops
    a ring's first vertex when it can, and then strays further (up to 1.5 t in trials on
    Kunming's study areas), so the result is checked — it must cover the polygon, with at least
    :data:`COVER_MARGIN_M` between its outline and the polygon — and the buffer grows
    (:data:`COVER_BUFFERS`) until it does.  If none does, or the cover has no fewer vertices
    than the polygon, the cover is the polygon itself (buffer 0): nothing is ever lost.

    Kunming's study areas (county + 2 km halo): covers of 42–65 vertices for 354–1,313, all
    with the first buffer (1.25 t), 70–189 m from the polygon, 5–9 % more area.
    """
    polygon = check_polygon(polygon, "Overpass polygon")
    crs = metric_crs(polygon.bounds)
    exact_m = gpd.GeoSeries([polygon], crs=WGS84).to_crs(crs).iloc[0]
    tolerance = max(COVER_MIN_TOLERANCE_M, COVER_TOLERANCE * float(np.sqrt(exact_m.area)))
    shapely.prepare(exact_m)
    for factor in COVER_BUFFERS:
        cover_m = _cover_candidate(exact_m, tolerance, factor * tolerance)
        cover = shapely.set_precision(gpd.GeoSeries([cover_m], crs=crs).to_crs(WGS84).iloc[0], 10.0 ** -COVER_DECIMALS)
        back = gpd.GeoSeries([cover], crs=WGS84).to_crs(crs).iloc[0]
        margin = float(shapely.distance(back.boundary, exact_m))
        if cover.is_valid and cover.covers(polygon) and back.covers(exact_m) and margin >= COVER_MARGIN_M:
            if exterior_vertices(cover) < exterior_vertices(polygon):
                return OverpassCover(polygon, cover, crs, tolerance, factor * tolerance, margin)
            break
    return OverpassCover(polygon, polygon, crs, tolerance, 0.0, 0.0)


# --------------------------------------------------------------------------- the query, and fetching it ahead


@dataclass(frozen=True)
class OverpassQuery:
    """What :func:`read_overpass` asks the Overpass API for one polygon, worked out offline.

    ``polygon``: the study area (WGS84), whose features are kept; ``cover``: the polygon sent
    to osmnx — the :func:`overpass_cover` of ``polygon`` when its query is shorter, else
    ``polygon`` itself — with ``cover_tolerance_m`` / ``cover_buffer_m`` (0 for ``polygon``
    itself); ``exact_chars``: how long the query for ``polygon`` itself would be.
    ``queries``: the Overpass QL of each sub-query osmnx sends (one per piece of the cover:
    a polygon larger than ``ox.settings.max_query_area_size`` — or a MultiPolygon — becomes
    its convex hull cut into squares of at most that area); ``cache_files``: where osmnx
    caches each answer (``cache_dir/<sha1 of the GET-style URL>.json``); ``polygon_strings``:
    each piece's coordinate string as it appears in its query.
    """

    polygon: shapely.Geometry
    layers: tuple[str, ...]
    tags: dict[str, bool | list[str]]
    endpoint: str
    queries: tuple[str, ...]
    polygon_strings: tuple[str, ...]
    cache_files: tuple[Path, ...]
    cache_dir: Path
    area_km2: float
    max_query_area_km2: float
    cover: shapely.Geometry
    cover_tolerance_m: float
    cover_buffer_m: float
    exact_chars: int

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) of the polygon, WGS84 degrees."""
        west, south, east, north = (float(v) for v in self.polygon.bounds)
        return west, south, east, north

    @property
    def cached(self) -> int:
        """How many of the sub-queries have an answer in the cache."""
        return sum(f.is_file() for f in self.cache_files)

    @property
    def chars(self) -> int:
        """Characters of the query text, all sub-queries."""
        return sum(len(q) for q in self.queries)

    @property
    def covered(self) -> bool:
        """The query is for the cover, not for the polygon itself."""
        return self.cover is not self.polygon

    def outline(self, i: int) -> str:
        """Sub-query ``i`` with its polygon string written :data:`POLY` (the QL repeats it per tag)."""
        return self.queries[i].replace(repr(self.polygon_strings[i]), POLY)

    def cover_note(self) -> str:
        """One line on the cover: its vertices against the polygon's, its rule, the query sizes."""
        exact, cover = exterior_vertices(self.polygon), exterior_vertices(self.cover)
        if not self.covered:
            return (f"cover: none, the polygon itself is sent ({exact} vertices; a cover would not shorten "
                    f"the query of {self.exact_chars / 1e6:.2f} MB)")
        hull = f", sent as {len(self.queries)} pieces of its convex hull" if len(self.queries) > 1 else ""
        return (f"cover: {cover} vertices instead of the polygon's {exact} (buffered {self.cover_buffer_m:.0f} m, "
                f"simplified {self.cover_tolerance_m:.0f} m; it contains the polygon{hull}), query "
                f"{self.chars / 1e6:.2f} MB instead of {self.exact_chars / 1e6:.2f} MB; features fetched "
                "in the cover but outside the polygon are dropped")


def _queries(polygon: shapely.Geometry, tags: dict) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """osmnx's coordinate string of each piece of ``polygon``, and the Overpass QL of each sub-query."""
    from osmnx import _overpass

    strings = tuple(_overpass._make_overpass_polygon_coord_strs(polygon))
    return strings, tuple(_overpass._create_overpass_features_query(s, tags) for s in strings)


def overpass_query(
    polygon: shapely.Polygon | shapely.MultiPolygon,
    *,
    layers: Sequence[str] = DEFAULT_LAYERS,
    cache_dir: str | os.PathLike[str] | None = None,
) -> OverpassQuery:
    """The requests :func:`read_overpass` makes for ``polygon`` and ``layers``, without any network.

    Built with osmnx's own query builders (``osmnx._overpass``: polygon subdivision, query
    text, and the request URL whose SHA-1 names the cache file, as ``_overpass_request``
    does), under the current ``ox.settings`` (endpoint, timeout, memory, max query area).
    The polygon sent is :func:`overpass_cover`'s cover when its query text is shorter than
    the polygon's own (not so when osmnx replaces both by their convex hull: a polygon over
    ``max_query_area_size`` or a MultiPolygon), else the polygon.
    """
    import osmnx as ox
    import requests
    from osmnx import _http, projection

    polygon = check_polygon(polygon, "Overpass polygon")
    layers = check_layers(layers)
    tags = overpass_tags(layers)
    folder = overpass_cache_dir(cache_dir)
    endpoint = ox.settings.overpass_url.rstrip("/") + "/interpreter"
    strings, queries = _queries(polygon, tags)
    exact_chars = sum(len(q) for q in queries)
    cover = overpass_cover(polygon)
    sent, tolerance, buffer = polygon, 0.0, 0.0
    if cover.cover is not polygon:
        cover_strings, cover_queries = _queries(cover.cover, tags)
        if sum(len(q) for q in cover_queries) < exact_chars:
            strings, queries = cover_strings, cover_queries
            sent, tolerance, buffer = cover.cover, cover.tolerance_m, cover.buffer_m
    with _osmnx_settings(cache_folder=str(folder)):
        files = tuple(_http._resolve_cache_filepath(str(requests.Request(
            "GET", endpoint, params=OrderedDict(data=q)).prepare().url)) for q in queries)
    area = projection.project_geometry(polygon)[0].area / 1e6
    return OverpassQuery(polygon, layers, tags, endpoint, queries, strings, files, folder, float(area),
                         float(ox.settings.max_query_area_size) / 1e6, sent, tolerance, buffer, exact_chars)


def _download(query: OverpassQuery) -> tuple[dict[str, gpd.GeoDataFrame], int, int, str | None]:
    """The model layers of ``query`` kept for its polygon, the features fetched in the cover, how
    many of those were dropped outside the polygon (also in each layer's ``attrs["overpass"]``),
    and why the host could not be reached (None if it answered)."""
    features, reason = _features(query.cover, query.tags, query.cache_dir)
    kept = _inside(features, query.polygon)
    layers = _model_layers(kept, query.layers, query.polygon)
    dropped = len(features) - len(kept)
    for frame in layers.values():
        frame.attrs["overpass"] = {"features_in_cover": len(features), "dropped_outside_polygon": dropped}
    return layers, len(features), dropped, reason


def read_overpass(
    polygon: shapely.Polygon | shapely.MultiPolygon,
    *,
    layers: Sequence[str] = DEFAULT_LAYERS,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, gpd.GeoDataFrame]:
    """Download ``layers`` inside ``polygon`` (WGS84) from the Overpass API with osmnx.

    One ``osmnx.features_from_polygon`` query for the cover of ``polygon``
    (:func:`overpass_query`) with the union of the tags of ``layers`` (:func:`overpass_tags`);
    responses are cached (``ox.settings.use_cache``) in :func:`overpass_cache_dir`, so a
    repeated run works offline (the cache never expires: :data:`CACHE_LIFETIME`).  The
    features are kept by the rules of :func:`kmgis.sources.osm.read_osm_file` with ``clip``
    against ``polygon`` itself: roads (ways) and areas intersecting it whole, facilities whose
    point lies in it; they go through the same normalisers.  Each frame's
    ``attrs["overpass"]`` records ``features_in_cover`` (osmnx features fetched) and
    ``dropped_outside_polygon`` (of those, the ones not intersecting ``polygon``).

    Without internet, or on an HTTP error, raises :class:`KmgisError`: "Overpass API could
    not be reached (<reason>); kmgis works offline with a .osm.pbf file: pass it with --osm
    FILE".  When the host does not answer a TCP connect, osmnx runs with its rate-limit
    pause and DNS-over-HTTPS lookup off so that a cached answer is still used but a missing
    one fails at once (instead of after osmnx's 60 s pause).
    """
    return _download(overpass_query(polygon, layers=layers, cache_dir=cache_dir))[0]


@dataclass(frozen=True)
class OverpassFetch:
    """What :func:`fetch_overpass` fetched.

    ``features``: rows of ``osmnx.features_from_polygon`` for the cover; ``dropped``: of
    those, the ones outside the polygon (not intersecting it), left out of ``layers``;
    ``elements``: OSM elements in the answers (tagged features and the nodes / ways they are
    made of); ``layers``: the model layers (as a run reads them); ``cached``: every answer
    came from the cache (no download); ``unreachable``: why the Overpass host could not be
    reached (then the cached copy was used), None if it answered; ``osm_base``: the answers'
    ``osm3s.timestamp_osm_base`` (the date of the OSM data), None if they carry none.  Each
    layer's ``attrs["overpass"]`` holds ``features_in_cover`` and ``dropped_outside_polygon``
    (as :func:`read_overpass`'s).
    """

    query: OverpassQuery
    layers: dict[str, gpd.GeoDataFrame]
    features: int
    elements: int
    cached: bool
    unreachable: str | None
    osm_base: str | None
    dropped: int = 0

    def dropped_note(self) -> str:
        """One line: features fetched in the cover, dropped outside the polygon, kept."""
        return (f"{self.features:,} features fetched in the {'cover' if self.query.covered else 'polygon'}: "
                f"{self.dropped:,} outside the study area dropped, {self.features - self.dropped:,} kept")


def fetch_overpass(
    polygon: shapely.Polygon | shapely.MultiPolygon,
    *,
    layers: Sequence[str] = DEFAULT_LAYERS,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
) -> OverpassFetch:
    """Download what :func:`read_overpass` will ask for ``polygon`` into the osmnx cache.

    The same query (so a later run with the same polygon, layers and cache folder reads the
    cache, offline).  When every answer is cached already the cached copy is used (no
    download, also offline); ``refresh`` deletes the query's cache files first (it needs the
    Overpass API).  Without internet and without a cached copy: the one-line
    :class:`KmgisError` of :func:`read_overpass`.  An answer osmnx did not cache (an Overpass
    "remark": server timeout or memory limit, the data may be incomplete) is an error.
    """
    import osmnx as ox

    query = overpass_query(polygon, layers=layers, cache_dir=cache_dir)
    if refresh:
        reason = _probe(ox.settings.overpass_url, min(float(ox.settings.requests_timeout), PROBE_TIMEOUT_MAX_S))
        if reason is not None:
            raise _unreachable(reason)
        for f in query.cache_files:
            f.unlink(missing_ok=True)
    cached = query.cached == len(query.queries)
    layers_read, fetched, dropped, reason = _download(query)
    missing = [f for f in query.cache_files if not f.is_file()]
    if missing:
        raise KmgisError(f"Overpass answered {len(missing)} of {len(query.queries)} sub-queries with a remark "
                         "(a server timeout or memory limit: the data may be incomplete), so osmnx did not cache "
                         "them; try again later, or give a smaller area or a .osm.pbf file")
    elements, stamps = 0, set()
    for f in query.cache_files:
        answer = json.loads(f.read_text(encoding="utf-8"))
        elements += len(answer.get("elements", []))
        stamps.add((answer.get("osm3s") or {}).get("timestamp_osm_base"))
    stamps.discard(None)
    return OverpassFetch(query, layers_read, fetched, elements, cached, reason, ", ".join(sorted(stamps)) or None,
                         dropped)
