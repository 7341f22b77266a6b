"""OpenStreetMap from the Overpass API with osmnx (online, cached), into the data model.

:func:`read_overpass` downloads the tags of the requested layers with one
``osmnx.features_from_polygon`` query and normalises the elements exactly as the file
reader does (:mod:`kmgis.sources.osm_tags`).  Without internet it says so plainly, and
points to the offline way in: a ``.osm.pbf`` file.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import geopandas as gpd
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


def _features(polygon: shapely.Geometry, tags: dict, folder: Path) -> gpd.GeoDataFrame:
    """``osmnx.features_from_polygon`` with its cache in ``folder``; errors as :class:`KmgisError`.

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
            return ox.features_from_polygon(polygon, tags)
    except InsufficientResponseError as exc:
        if "no matching features" not in str(exc).lower():
            raise _unreachable(reason or first_line(exc)) from None
        features = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
        features.index = pd.MultiIndex.from_arrays([[], []], names=["element", "id"])
        return features
    except requests.exceptions.RequestException as exc:
        raise _unreachable(reason or f"{type(exc).__name__}: {first_line(exc)}") from None
    except ResponseStatusCodeError as exc:
        raise _unreachable(f"HTTP error: {first_line(exc)}") from None


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
    the same normalisers as :func:`kmgis.sources.osm.read_osm_file`.  Features intersecting
    ``polygon`` are kept (not cut).

    Without internet, or on an HTTP error, raises :class:`KmgisError`: "Overpass API could
    not be reached (<reason>); kmgis works offline with a .osm.pbf file: pass it with --osm
    FILE".  When the host does not answer a TCP connect, osmnx runs with its rate-limit
    pause and DNS-over-HTTPS lookup off so that a cached answer is still used but a missing
    one fails at once (instead of after osmnx's 60 s pause).
    """
    polygon = check_polygon(polygon, "Overpass polygon")
    layers = check_layers(layers)
    elements = elements_from_osmnx(_features(polygon, overpass_tags(layers), overpass_cache_dir(cache_dir)))
    out: dict[str, gpd.GeoDataFrame] = {}
    for layer in layers:
        if layer == "roads":
            out[layer] = roads_from_elements(elements)
        elif layer == "facilities":
            out[layer] = facilities_from_elements(elements)
        else:
            out[layer] = areas_from_elements(elements, layer)
    return out
