"""The member table of a metropolitan circle: for each member's seat point, the travel time from
the origin(s) per time band, the length and speed of the fastest route, the time to enter the
member's unit, its status and whether it lies within the circle's budgets.

Pure functions on a :class:`kmgis.network.Network` (metric CRS; seconds, metres, minutes and
km/h as the names say) and on arrays index-aligned with the members; they read no file and
know nothing of recipes or maps.  A member whose time cannot be computed carries, instead of
minutes, its status: :data:`kmgis.indicators.isochrones.OUTSIDE_DATA` (no road of the data
near the seat), :data:`~kmgis.indicators.isochrones.NOT_CONNECTED` (its roads are not joined
to the origin's) or :data:`~kmgis.indicators.isochrones.NO_SEAT` (no seat point at all).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely

from kmgis.indicators import isochrones as iso
from kmgis.network import (
    Network,
    Snapped,
    node_distances,
    node_route_lengths_m,
    point_distances,
    point_route_lengths_m,
)

OK = "ok"
"""The status of a member with a travel time."""

SEAT_FALLBACK = "no sourced seat: nearest road point of the unit (a lower bound, not the county town)"
"""The seat kind of a member timed to its unit's first reached road node (no sourced seat point)."""

_MIN_TIME_S = 1e-9  # guards speeds against a zero time


def band_costs_s(net: Network, bands: Sequence[str], origins: Snapped
                 ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Least travel time (s) from the origins to every node, per time band.

    Parameters
    ----------
    net : Network
        The drive (or walk) network, edge times in seconds.
    bands : sequence of str
        Time bands of ``layers/speeds.yaml`` (``free``, ``peak``); the first one's search also
        gives the route lengths.
    origins : Snapped
        The origin points snapped onto ``net``.

    Returns
    -------
    costs_s : dict of str to numpy.ndarray
        Band → seconds per node (``inf`` where unreached).
    node_route_m : numpy.ndarray
        Metres of the first band's fastest route to every node (NaN where unreached).
    """
    first = bands[0]
    costs = {b: node_distances(iso.with_time_band(net, b), origins, weight="time_s") for b in bands[1:]}
    costs[first], node_m = node_route_lengths_m(iso.with_time_band(net, first), origins, weight="time_s")
    return costs, node_m


def first_reached_nodes(net: Network, polygons: np.ndarray, node_cost_s: np.ndarray,
                        road_points_xy: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each polygon flagged in ``which``, the network node inside it reached first from the origin.

    Parameters
    ----------
    net : Network
        The network (metric CRS).
    polygons : numpy.ndarray of shapely geometries
        One unit polygon per member, in the network's CRS.
    node_cost_s : numpy.ndarray
        Seconds from the origin to every node (``inf`` where unreached).
    road_points_xy : numpy.ndarray, shape (n, 2)
        A point on every road of the data (metric x, y): tells "no road inside" from "not connected".
    which : numpy.ndarray of bool
        The members to place.

    Returns
    -------
    node : numpy.ndarray of int
        The node with the least time inside each polygon; -1 where none (or not flagged).
    status : numpy.ndarray of object
        ``"ok"``; :data:`~kmgis.indicators.isochrones.NOT_CONNECTED` where the polygon holds
        roads but no reached node; :data:`~kmgis.indicators.isochrones.OUTSIDE_DATA` where it
        holds no road.
    """
    node = np.full(len(polygons), -1)
    status = np.full(len(polygons), OK, dtype=object)
    for i in np.flatnonzero(which):
        inside = np.flatnonzero(shapely.contains_xy(polygons[i], net.node_x, net.node_y))
        if len(inside) == 0 or not np.isfinite(node_cost_s[inside]).any():
            has_roads = shapely.contains_xy(polygons[i], road_points_xy[:, 0], road_points_xy[:, 1]).any()
            status[i] = iso.NOT_CONNECTED if has_roads else iso.OUTSIDE_DATA
            continue
        node[i] = inside[np.argmin(node_cost_s[inside])]
    return node, status


def member_times_s(net: Network, costs_s: dict[str, np.ndarray], bands: Sequence[str], seats: Snapped,
                   origins: Snapped) -> dict[str, np.ndarray]:
    """Seconds from the origins to each snapped seat, per band (``inf`` where unsnapped or unreached)."""
    return {b: point_distances(iso.with_time_band(net, b), costs_s[b], seats, sources=origins,
                               weight="time_s") for b in bands}


def route_lengths_m(net: Network, band: str, node_cost_s: np.ndarray, node_route_m: np.ndarray,
                    seats: Snapped, origins: Snapped) -> np.ndarray:
    """Metres of the fastest route (in ``band``) to each snapped seat (NaN where unreached)."""
    return point_route_lengths_m(iso.with_time_band(net, band), node_cost_s, node_route_m, seats,
                                 sources=origins, weight="time_s")


def member_status(*, has_seat: np.ndarray, fallback: np.ndarray, placed: np.ndarray,
                  fallback_status: np.ndarray, in_data: np.ndarray, reached: np.ndarray) -> np.ndarray:
    """Each member's status: ``"ok"`` or why it has no time.

    Parameters
    ----------
    has_seat : numpy.ndarray of bool
        The member has a seat point (sourced, or placed on its unit's roads).
    fallback : numpy.ndarray of bool
        The member has no sourced seat and is to be placed on its unit's first reached road node.
    placed : numpy.ndarray of bool
        A fallback member was placed (see :func:`first_reached_nodes`).
    fallback_status : numpy.ndarray of object
        The status of the placement (:func:`first_reached_nodes`).
    in_data : numpy.ndarray of bool
        A road of the data lies within the snap distance of the seat (or the seat was placed).
    reached : numpy.ndarray of bool
        A finite time from the origin.

    Returns
    -------
    numpy.ndarray of object
        :data:`~kmgis.indicators.isochrones.NO_SEAT`, the placement status, ``OUTSIDE_DATA``,
        ``NOT_CONNECTED`` or ``"ok"``, in this order of precedence.
    """
    no_point = ~has_seat & ~fallback
    unplaced = fallback & ~placed
    return np.where(no_point, iso.NO_SEAT,
                    np.where(unplaced, fallback_status,
                             np.where(~in_data, iso.OUTSIDE_DATA, np.where(~reached, iso.NOT_CONNECTED, OK))))


def in_road_data(*, has_seat: np.ndarray, fallback: np.ndarray, placed: np.ndarray,
                 fallback_status: np.ndarray, in_data: np.ndarray) -> np.ndarray:
    """Whether the road data covers each member, for the data check: its seat is near a road, or
    (a fallback member not placed) its unit holds roads; False for members with no seat point."""
    no_point = ~has_seat & ~fallback
    unplaced = fallback & ~placed
    return np.where(unplaced, fallback_status != iso.OUTSIDE_DATA, in_data) & ~no_point


def member_data_check(net: Network, mode: str, names: list[str], seat_xy: np.ndarray, in_data: np.ndarray,
                      reached: np.ndarray, *, min_expressway_km: float) -> iso.DataCheck:
    """The network check with the members outside the data and those not connected.

    Drive: :func:`kmgis.indicators.isochrones.check_drive_data` (also expressway length and
    members far from an expressway); other modes list the members only.
    """
    if mode == "drive":
        return iso.check_drive_data(net, min_expressway_km=min_expressway_km, members=names, seat_xy=seat_xy,
                                    in_data=in_data, reached=reached)
    return iso.DataCheck({}, 0.0, 0.0, False,
                         [n for n, ok in zip(names, in_data, strict=True) if not ok],
                         [n for n, ok, r in zip(names, in_data, reached, strict=True) if ok and not r])


def minutes_or_status(times_s: np.ndarray, status: np.ndarray) -> list:
    """Minutes (1 decimal) where the status is ``"ok"``, else the status text."""
    return [round(float(v) / 60, 1) if s == OK else s for v, s in zip(times_s, status, strict=True)]


def within_minutes(times_s: np.ndarray, status: np.ndarray, limit_min: float) -> list[str]:
    """``"yes"`` / ``"no"``: the time (s) is at most ``limit_min`` minutes; the status text where
    not ``"ok"``."""
    minutes = times_s / 60
    return [("yes" if t <= limit_min else "no") if s == OK else s
            for t, s in zip(minutes, status, strict=True)]


def status_notes(status: np.ndarray, fallback: np.ndarray, *, max_snap_m: float, warning: str) -> list[str]:
    """Each member's data warning: why it has no time (if so), then the network's ``warning``."""
    notes = {
        iso.OUTSIDE_DATA: f"{iso.OUTSIDE_DATA}: no road of the data within {max_snap_m:g} m of the seat "
                          "point",
        iso.NOT_CONNECTED: f"{iso.NOT_CONNECTED}: the seat's roads are not joined to the origin's in the "
                           "road data",
        iso.NO_SEAT: f"{iso.NO_SEAT}: no sourced seat and no unit polygon",
    }
    row_notes = [(f"{iso.OUTSIDE_DATA}: no road of the data inside the unit" if f and s == iso.OUTSIDE_DATA
                  else notes.get(s, "")) for s, f in zip(status, fallback, strict=True)]
    return ["; ".join(t for t in (note, warning) if t) for note in row_notes]


def straight_km(seat_xy: np.ndarray, origin_xy: np.ndarray) -> np.ndarray:
    """Straight-line km from each seat (metric x, y) to the nearest origin (NaN without a seat)."""
    return np.min(np.hypot(seat_xy[:, None, 0] - origin_xy[None, :, 0],
                           seat_xy[:, None, 1] - origin_xy[None, :, 1]), axis=1) / 1000


def speed_columns(straight: np.ndarray, times_s: np.ndarray, route_m: np.ndarray, status: np.ndarray,
                  band: str) -> pd.DataFrame:
    """Speeds and route length of each member in ``band``, NaN where the status is not ``"ok"``.

    Columns: ``effective_kmh_<band>`` (straight-line km per hour of travel),
    ``route_km_<band>`` (the fastest route's length) and ``route_kmh_<band>`` (its average speed),
    each rounded to 1 decimal.
    """
    ok = status == OK
    seconds = np.maximum(times_s, _MIN_TIME_S)
    route_ok = ok & np.isfinite(route_m)
    return pd.DataFrame({
        f"effective_kmh_{band}": np.where(ok, np.round(straight / seconds * 3600, 1), np.nan),
        f"route_km_{band}": np.where(route_ok, np.round(route_m / 1000, 1), np.nan),
        f"route_kmh_{band}": np.where(route_ok, np.round(route_m / 1000 / seconds * 3600, 1), np.nan),
    })


def member_table(members: pd.DataFrame, times_s: dict[str, np.ndarray], status: np.ndarray, *,
                 fallback: np.ndarray, seat_snap_m: np.ndarray, straight: np.ndarray, route_m: np.ndarray,
                 entry_s: np.ndarray, mode: str, within_band: str, limits_min: Sequence[float],
                 max_snap_m: float, warning: str) -> pd.DataFrame:
    """The member table, one row per member in the order of ``members``.

    Parameters
    ----------
    members : pandas.DataFrame
        ``unit``, ``seat_lon``, ``seat_lat`` (WGS84 degrees), ``name_zh``, ``role``, ``seat_kind``,
        ``seat_source``.
    times_s : dict of str to numpy.ndarray
        Band → seconds from the origins (:func:`member_times_s`); the first band gives the speeds.
    status : numpy.ndarray
        :func:`member_status`.
    fallback : numpy.ndarray of bool
        Members without a sourced seat (placed on their unit's roads).
    seat_snap_m, straight, route_m, entry_s : numpy.ndarray
        Metres from the seat to the network; km in a straight line to the nearest origin
        (:func:`straight_km`); metres of the first band's fastest route (:func:`route_lengths_m`);
        seconds to the unit's first reached node in the first band.
    mode, within_band : str
        Travel mode (column names) and the band of the ``within_<minutes>`` columns.
    limits_min : sequence of float
        Budgets (minutes) of the ``within_<minutes>`` columns.
    max_snap_m : float
        The snap distance named in the ``outside data`` note.
    warning : str
        The network's data warning, carried by every row.

    Returns
    -------
    pandas.DataFrame
        ``unit, seat_lon, seat_lat, <mode>_min_<band>…, within_<minutes>…, data_warning, name_zh,
        role, seat_kind, snap_m, straight_km, effective_kmh_<b0>, route_km_<b0>, route_kmh_<b0>,
        unit_entry_min_<b0>, seat_source``.
    """
    first = next(iter(times_s))
    table = pd.DataFrame({"unit": members["unit"], "seat_lon": members["seat_lon"].round(5),
                          "seat_lat": members["seat_lat"].round(5)})
    for band, seconds in times_s.items():
        table[f"{mode}_min_{band}"] = minutes_or_status(seconds, status)
    for limit in limits_min:
        table[f"within_{limit:g}"] = within_minutes(times_s[within_band], status, limit)
    table["data_warning"] = status_notes(status, fallback, max_snap_m=max_snap_m, warning=warning)
    for col in ("name_zh", "role", "seat_kind"):
        table[col] = members[col]
    table["snap_m"] = np.where(status == OK, np.round(seat_snap_m, 1), np.nan)
    table["straight_km"] = np.round(straight, 1)
    for col, values in speed_columns(straight, times_s[first], route_m, status, first).items():
        table[col] = values.to_numpy()
    table[f"unit_entry_min_{first}"] = np.where(np.isfinite(entry_s), np.round(entry_s / 60, 1), np.nan)
    table["seat_source"] = members["seat_source"]
    return table
