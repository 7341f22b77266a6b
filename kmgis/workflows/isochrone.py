"""Travel-time isochrones from any point (``kmgis isochrone``).

:func:`run_isochrone` reads the roads within reach of the largest budget (an OSM file, else
the Kunming road layer), builds the drive or walk network, searches from the origin and
makes the isochrone polygons (:mod:`kmgis.indicators.isochrones`).  It returns an
:class:`IsochroneResults` and writes nothing:
:func:`kmgis.outputs.travel_times.write_isochrone` writes ``isochrones.gpkg``, ``run.json``
and ``map.html`` into ``OUT/isochrone-<mode>[-<band>]-<lon>-<lat>/`` (or ``--name``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from kmgis.config import catalog_entry, load_layers_yaml, resolve_path
from kmgis.crs import gcj02_to_wgs84, metric_crs
from kmgis.errors import KmgisError
from kmgis.indicators import isochrones as iso
from kmgis.model import WGS84
from kmgis.network import Network, Snapped, build_network, node_distances, snap_points
from kmgis.sources import load_layer
from kmgis.sources.osm import osm_file_timestamp, read_osm_file
from kmgis.workflows.common import (
    OSM_LICENCE,
    Stages,
    describe_file,
    isochrone_layer,
    isochrone_summary,
    major_roads,
    package_versions,
    speeds_note,
)

_FOLDER_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
_MAX_MINUTES = 600


@dataclass
class IsochroneResults:
    """An isochrone run's results (nothing written yet).

    Attributes
    ----------
    name : str
        The output folder's name.
    isochrones : pandas.DataFrame
        One row per budget: minutes, area_km2, reached_km, filled_holes_km2, band, mode, …,
        polygon_s (seconds the polygon took).
    layers : dict of str to geopandas.GeoDataFrame
        The GeoPackage layers in WGS84: ``isochrones``, ``origins``, ``major_roads``.
    run : dict
        ``run.json`` without its timings.
    warnings : list of str
        The data check's messages (drive only).
    network : dict
        The network's summary.
    scorecard : pandas.DataFrame
        One row per budget: the isochrone's area (km²).
    timings_s : dict of str to float
        Seconds per computed stage.
    search_s : float
        Seconds of the shortest-path search alone.
    """

    name: str
    isochrones: pd.DataFrame
    layers: dict[str, gpd.GeoDataFrame]
    run: dict
    warnings: list[str]
    network: dict
    scorecard: pd.DataFrame
    timings_s: dict[str, float]
    search_s: float


def isochrone_folder_name(lon: float, lat: float, name: str | None, mode: str = "drive",
                          band: str = "free") -> str:
    """The output folder: ``name``, else ``isochrone-<mode>[-<band>]-<lon>-<lat>`` (so a walk run
    never overwrites a drive run from the same point).  A ``name`` that is not a plain folder
    name (1–64 letters, digits, ``.``, ``_``, ``-``; no ``..``) is refused."""
    if name is None:
        return f"isochrone-{mode}{'' if band == 'free' else '-' + band}-{lon:.4f}-{lat:.4f}"
    if not re.fullmatch(_FOLDER_NAME, name) or ".." in name:
        raise KmgisError(f"--name {name!r}: use 1–64 letters, digits, '.', '_' or '-' (no path, no '..')")
    return name


def _check_request(lon: float, lat: float, minutes: list[float], mode: str, band: str) -> None:
    """Refuse an origin that is not WGS84 degrees, an unknown mode or band, budgets outside (0, 600] min."""
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise KmgisError(f"--origin {lon},{lat}: not a WGS84 longitude,latitude")
    if mode not in ("drive", "walk"):
        raise KmgisError(f"--mode {mode}: use drive or walk (transit needs a GTFS feed: future work)")
    if not minutes or any(not (0 < m <= _MAX_MINUTES) for m in minutes):
        raise KmgisError(f"--minutes {minutes}: give budgets between 0 and 600 minutes")
    iso.congestion_factor(band)  # an unknown band fails here, before any folder is named after it


def _reach_m(minutes: list[float], mode: str, osm: Path | None, max_snap_m: float) -> float:
    """Metres around the origin the largest budget can reach at the fastest speed (congested bands
    only shrink it), plus the snap distance and 1 km: the radius of the roads read."""
    speeds = load_layers_yaml("speeds")
    vmax = float(speeds["walk_kmh"]) if mode == "walk" else max(max(speeds["drive_kmh"].values()),
                                                                  130.0 if osm else 0.0)
    return max(minutes) / 60 * vmax * 1000 + max_snap_m + 1000


def _read_roads(area: shapely.Geometry, data: Path | None, osm: Path | None, inputs: list[dict]
                ) -> gpd.GeoDataFrame:
    """The roads within ``area`` (WGS84): from ``osm`` when given, else the Kunming road layer."""
    if osm is not None:
        roads = read_osm_file(Path(osm), clip=area, layers=("roads",))["roads"]
        info = describe_file("osm", Path(osm), OSM_LICENCE)
        info["osm_timestamp"] = osm_file_timestamp(Path(osm))
        inputs.append(info)
        return roads
    entry = catalog_entry("kunming_roads")
    roads = load_layer(entry, data, clip=area)
    inputs.append(describe_file(entry.name, resolve_path(entry.path, data), entry.licence))
    return roads


def _origin_and_roads(lon: float, lat: float, reach_m: float, data: Path | None, osm: Path | None,
                      inputs: list[dict]) -> tuple[gpd.GeoSeries, pyproj.CRS, gpd.GeoDataFrame]:
    """The origin point (WGS84), the metric CRS and the roads within ``reach_m`` metres of the origin."""
    origin_pt = gpd.GeoSeries(gpd.points_from_xy([lon], [lat]), crs=WGS84)
    crs = metric_crs(origin_pt)
    area = gpd.GeoSeries([origin_pt.to_crs(crs).iloc[0].buffer(reach_m)], crs=crs).to_crs(WGS84).iloc[0]
    roads = _read_roads(area, data, osm, inputs)
    if len(roads) == 0:
        raise KmgisError(f"no roads within {reach_m / 1000:.0f} km of {lon:.5f},{lat:.5f} in the road data "
                         "(the Kunming road layer covers Kunming only); pass --osm FILE for elsewhere")
    return origin_pt, crs, roads


@dataclass
class _Request:
    """What was asked: the origin (WGS84 degrees, and as given), the budgets and the parameters."""

    lon: float
    lat: float
    given: list[float]
    gcj02: bool
    minutes: list[float]
    mode: str
    band: str
    parameters: dict

    @property
    def label(self) -> str:
        return f"{self.lon:.5f},{self.lat:.5f}" + (" (GCJ-02 input converted)" if self.gcj02 else "")


def _search(net: Network, origin_pt: gpd.GeoSeries, req: _Request
            ) -> tuple[Network, Snapped, np.ndarray, float]:
    """The network in the request's time band, the snapped origin, seconds to every node (up to the
    largest budget) and the seconds the search took."""
    t0 = time.perf_counter()
    nb = iso.with_time_band(net, req.band)
    max_snap_m = req.parameters["max_snap_m"]
    snap = snap_points(nb, origin_pt, max_snap_m)
    if not snap.reached[0]:
        raise KmgisError(f"origin {req.lon:.5f},{req.lat:.5f} is more than {max_snap_m:g} m from the "
                         f"{req.mode} network")
    cost = node_distances(nb, snap, weight="time_s", cutoff=max(req.minutes) * 60)
    return nb, snap, cost, time.perf_counter() - t0


def _run_record(req: _Request, folder: str, inputs: list[dict], net: Network, snap: Snapped,
                check: iso.DataCheck | None, summary: pd.DataFrame, polygons: gpd.GeoDataFrame,
                search_s: float) -> dict:
    """``run.json`` of an isochrone run, without its timings."""
    return {
        "command": "kmgis isochrone",
        "recipe": {"id": folder, "name": f"{req.mode} isochrones from {req.label}"},
        "inputs": inputs, "metric_crs": net.crs.to_string(), "mode": req.mode, "band": req.band,
        "origin": {"lon": req.lon, "lat": req.lat, "input": req.given, "gcj02": req.gcj02,
                   "snap_m": round(float(snap.snap_m[0]), 1)},
        "parameters": req.parameters,
        "speeds": speeds_note(net),
        "network": net.summary,
        "data_check": check.as_dict() if check else None,
        "data_warning": check.warning if check else "",
        "isochrones": summary.to_dict(orient="records"),
        "query_seconds": {"search": round(search_s, 4), "polygons": polygons["seconds"].tolist()},
        "versions": package_versions(),
    }


def run_isochrone(origin: tuple[float, float], minutes: list[float], data: Path | None, *,
                  mode: str = "drive", gcj02: bool = False, name: str | None = None, osm: Path | None = None,
                  band: str = "free", buffer_m: float = 150.0, fill_holes_km2: float = 1.0,
                  simplify_m: float = 10.0, max_snap_m: float = 1000.0, min_expressway_km: float = 10.0,
                  progress: bool = True) -> IsochroneResults:
    """Isochrones from any point (nothing written).

    Parameters
    ----------
    origin : (float, float)
        Longitude, latitude in degrees: WGS84, or GCJ-02 with ``gcj02``.
    minutes : list of float
        Budgets in minutes, each in (0, 600].
    data : Path or None
        The data directory (the Kunming road layer) when no ``osm`` file is given.
    mode : {"drive", "walk"}
    gcj02 : bool
        ``origin`` is in GCJ-02 (Amap, Tencent): converted to WGS84.
    name : str or None
        The output folder's name (default ``isochrone-<mode>[-<band>]-<lon>-<lat>``).
    osm : Path or None
        Roads from this OSM file (.osm.pbf / .osm) instead of the Kunming road layer.
    band : str
        Time band of ``layers/speeds.yaml`` congestion.
    buffer_m, fill_holes_km2, simplify_m : float
        Buffer around reached roads (m), holes filled below this area (km²), simplification (m).
    max_snap_m : float
        The origin must lie within this many metres of the network.
    min_expressway_km : float
        Less expressway-class road than this (km): the drive warning.
    progress : bool
        Show a progress bar (on a terminal).

    Returns
    -------
    IsochroneResults
        Write it with :func:`kmgis.outputs.travel_times.write_isochrone`.
    """
    lon_in, lat_in = origin
    _check_request(lon_in, lat_in, minutes, mode, band)
    lon, lat = (float(v) for v in gcj02_to_wgs84(lon_in, lat_in)) if gcj02 else (float(lon_in), float(lat_in))
    minutes = sorted(set(float(m) for m in minutes))
    folder = isochrone_folder_name(lon, lat, name, mode, band)
    reach_m = _reach_m(minutes, mode, osm, max_snap_m)
    req = _Request(lon, lat, [lon_in, lat_in], gcj02, minutes, mode, band,
                   {"minutes": minutes, "buffer_m": buffer_m, "fill_holes_km2": fill_holes_km2,
                    "simplify_m": simplify_m, "max_snap_m": max_snap_m,
                    "road_clip_radius_km": round(reach_m / 1000, 1)})
    stages = Stages(["inputs", "network", "search", "polygons"], show=progress)
    inputs: list[dict] = []
    try:
        origin_pt, crs, roads = _origin_and_roads(lon, lat, reach_m, data, osm, inputs)
        stages.done("inputs")
        net = build_network(roads, mode, crs)
        stages.done("network")
        nb, snap, cost, search_s = _search(net, origin_pt, req)
        stages.done("search")
        polys = iso.isochrone_polygons(nb, cost, [m * 60 for m in minutes], weight="time_s", sources=snap,
                                       buffer_m=buffer_m, fill_holes_km2=fill_holes_km2,
                                       simplify_m=simplify_m)
        stages.done("polygons")
    finally:
        stages.close()
    check = iso.check_drive_data(net, min_expressway_km=min_expressway_km) if mode == "drive" else None
    warning = check.warning if check else ""
    iso_layer = isochrone_layer(polys, minutes, crs, warning=warning, band=band, mode=mode, centre=req.label,
                                buffer_m=buffer_m, fill_holes_km2=fill_holes_km2)
    origin_gdf = gpd.GeoDataFrame({"name": [req.label], "source": ["--origin"],
                                   "snap_m": [round(float(snap.snap_m[0]), 1)]},
                                  geometry=origin_pt.values, crs=WGS84)
    summary = isochrone_summary(iso_layer, polys)
    run = _run_record(req, folder, inputs, net, snap, check, summary, polys, search_s)
    card = pd.DataFrame([{"indicator": f"isochrone_{m:g}min_area_km2", "value": a, "unit": "km²",
                          "target": "—", "meets": "—", "data_warning": warning}
                         for m, a in zip(minutes, polys["area_km2"], strict=True)])
    layers = {"isochrones": iso_layer, "origins": origin_gdf, "major_roads": major_roads(net)}
    return IsochroneResults(folder, summary, layers, run, check.messages() if check else [], net.summary,
                            card, dict(stages.timings_s), round(search_s, 4))
