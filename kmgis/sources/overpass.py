"""OpenStreetMap from the Overpass API with osmnx (online, cached), into the data model.

:func:`read_overpass` downloads the tags of the requested layers with one
``osmnx.features_from_polygon`` query and normalises the elements exactly as the file
reader does (:mod:`kmgis.sources.osm_tags`).  Without internet it says so plainly, and
points to the offline way in: a ``.osm.pbf`` file.

:func:`overpass_query` tells, without any network, what that query is (bounding box, tags,
the Overpass QL of each sub-query osmnx sends and the cache file of each answer);
:func:`fetch_overpass` downloads it into the cache ahead of an offline run (``kmgis
fetch-osm``).  How long the cache lives: :data:`CACHE_LIFETIME`.
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
import shapely

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
    OVERPASS_URL/interpreter?data=<Overpass QL>; the QL holds the polygon (lat/lon rounded
    to 6 decimals), the tags and "[out:json][timeout:<requests_timeout>]<maxsize>", so
    another polygon, halo, tag list, Overpass endpoint, ox.settings.requests_timeout,
    overpass_memory or overpass_settings is another file (a cache miss);
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
        features = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
        features.index = pd.MultiIndex.from_arrays([[], []], names=["element", "id"])
        return features, reason
    except requests.exceptions.RequestException as exc:
        raise _unreachable(reason or f"{type(exc).__name__}: {first_line(exc)}") from None
    except ResponseStatusCodeError as exc:
        raise _unreachable(f"HTTP error: {first_line(exc)}") from None


def _model_layers(features: gpd.GeoDataFrame, layers: Sequence[str], polygon: shapely.Geometry
                  ) -> dict[str, gpd.GeoDataFrame]:
    """osmnx features → the model ``layers`` through the normalisers of :mod:`kmgis.sources.osm_tags`.

    As in the file reader (:func:`kmgis.sources.osm.read_osm_file` with ``clip``): roads come
    from ways only — osmnx also returns multipolygon relations tagged ``highway=*``, squares
    mapped as areas (Rautatientori in the Helsinki sample), whose outlines are not roads —
    and facilities are kept when their point lies in ``polygon`` (osmnx keeps every feature
    intersecting it: a school whose grounds reach into the polygon).
    """
    elements = elements_from_osmnx(features)
    out: dict[str, gpd.GeoDataFrame] = {}
    for layer in layers:
        if layer == "roads":
            out[layer] = roads_from_elements(elements[~elements["source_id"].str.startswith("r")])
        elif layer == "facilities":
            fac = facilities_from_elements(elements)
            out[layer] = fac[shapely.intersects(np.asarray(fac.geometry.values), polygon)].reset_index(drop=True)
        else:
            out[layer] = areas_from_elements(elements, layer)
    return out


def read_overpass(
    polygon: shapely.Polygon | shapely.MultiPolygon,
    *,
    layers: Sequence[str] = DEFAULT_LAYERS,
    cache_dir: str | os.PathLike[str] | None = None,
) -> dict[str, gpd.GeoDataFrame]:
    """Download ``layers`` inside ``polygon`` (WGS84) from the Overpass API with osmnx.

    One ``osmnx.features_from_polygon`` query with the union of the tags of ``layers``
    (:func:`overpass_tags`); responses are cached (``ox.settings.use_cache``) in
    :func:`overpass_cache_dir`, so a repeated run works offline (the cache never expires:
    :data:`CACHE_LIFETIME`).  The elements go through the same normalisers as
    :func:`kmgis.sources.osm.read_osm_file`, with its ``clip`` rule: roads (ways) and areas
    intersecting ``polygon`` are kept whole, facilities whose point lies in it.

    Without internet, or on an HTTP error, raises :class:`KmgisError`: "Overpass API could
    not be reached (<reason>); kmgis works offline with a .osm.pbf file: pass it with --osm
    FILE".  When the host does not answer a TCP connect, osmnx runs with its rate-limit
    pause and DNS-over-HTTPS lookup off so that a cached answer is still used but a missing
    one fails at once (instead of after osmnx's 60 s pause).
    """
    polygon = check_polygon(polygon, "Overpass polygon")
    layers = check_layers(layers)
    features, _ = _features(polygon, overpass_tags(layers), overpass_cache_dir(cache_dir))
    return _model_layers(features, layers, polygon)


# --------------------------------------------------------------------------- the query, and fetching it ahead


@dataclass(frozen=True)
class OverpassQuery:
    """What :func:`read_overpass` asks the Overpass API for one polygon, worked out offline.

    ``queries``: the Overpass QL of each sub-query osmnx sends (one per piece of the
    polygon: a polygon larger than ``ox.settings.max_query_area_size`` — or a MultiPolygon —
    becomes its convex hull cut into squares of at most that area); ``cache_files``: where
    osmnx caches each answer (``cache_dir/<sha1 of the GET-style URL>.json``);
    ``polygon_strings``: each piece's coordinate string as it appears in its query.
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

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) of the polygon, WGS84 degrees."""
        west, south, east, north = (float(v) for v in self.polygon.bounds)
        return west, south, east, north

    @property
    def cached(self) -> int:
        """How many of the sub-queries have an answer in the cache."""
        return sum(f.is_file() for f in self.cache_files)

    def outline(self, i: int) -> str:
        """Sub-query ``i`` with its polygon string written :data:`POLY` (the QL repeats it per tag)."""
        return self.queries[i].replace(repr(self.polygon_strings[i]), POLY)


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
    """
    import osmnx as ox
    import requests
    from osmnx import _http, _overpass, projection

    polygon = check_polygon(polygon, "Overpass polygon")
    layers = check_layers(layers)
    tags = overpass_tags(layers)
    folder = overpass_cache_dir(cache_dir)
    endpoint = ox.settings.overpass_url.rstrip("/") + "/interpreter"
    strings = tuple(_overpass._make_overpass_polygon_coord_strs(polygon))
    queries = tuple(_overpass._create_overpass_features_query(s, tags) for s in strings)
    with _osmnx_settings(cache_folder=str(folder)):
        files = tuple(_http._resolve_cache_filepath(str(requests.Request(
            "GET", endpoint, params=OrderedDict(data=q)).prepare().url)) for q in queries)
    area = projection.project_geometry(polygon)[0].area / 1e6
    return OverpassQuery(polygon, layers, tags, endpoint, queries, strings, files, folder, float(area),
                         float(ox.settings.max_query_area_size) / 1e6)


@dataclass(frozen=True)
class OverpassFetch:
    """What :func:`fetch_overpass` fetched.

    ``features``: rows of ``osmnx.features_from_polygon``; ``elements``: OSM elements in the
    answers (tagged features and the nodes / ways they are made of); ``layers``: the model
    layers (as a run reads them); ``cached``: every answer came from the cache (no download);
    ``unreachable``: why the Overpass host could not be reached (then the cached copy was
    used), None if it answered; ``osm_base``: the answers' ``osm3s.timestamp_osm_base`` (the
    date of the OSM data), None if they carry none.
    """

    query: OverpassQuery
    layers: dict[str, gpd.GeoDataFrame]
    features: int
    elements: int
    cached: bool
    unreachable: str | None
    osm_base: str | None


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
    features, reason = _features(query.polygon, query.tags, query.cache_dir)
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
    layers_read = _model_layers(features, query.layers, query.polygon)
    return OverpassFetch(query, layers_read, len(features), elements, cached, reason, ", ".join(sorted(stamps)) or None)
