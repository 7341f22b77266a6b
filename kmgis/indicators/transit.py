"""Rail transit: residents and built-up area near a metro station, and the length of the metro network.

DESIGN §4b "rail-station coverage" and plan 003 target T6 (「到2025年，力争开通运营线路达7条，里程238公里」).

* :func:`station_coverage` — ``station_<d>m_walk_pct``: share of residents whose
  **walking-network** distance to the nearest station is ≤ d metres (one multi-source search
  over all stations); ``station_<d>m_straight_pct``: the same with the straight-line distance
  (inside the union of d-metre station buffers, the official practice), shown side by side;
  ``station_<d>m_walk_area_pct`` / ``station_<d>m_straight_area_pct``: share of the built-up
  area within d metres' walk / straight line; ``stations_count``: stations inside the area.
* :func:`metro_network_km` — ``metro_line_km_straight``: sum of straight station-to-station links
  over the lines' station sequences, each link shared by several lines counted once (a **lower
  bound** of route length: track curves are ignored); ``metro_lines_count``;
  ``metro_stations_count``.

Walked area (decision): the built-up area is cut into square cells (``cell_m``, default 50 m,
aligned on multiples of ``cell_m`` in the metric CRS); a cell is within d metres' walk when its
centre is — the centre placed on the network exactly like a resident (nearest edge within
``max_snap_m``, snap distance walked) and its distance taken from the **same** search as the
residents'.  The covered cells, clipped to the built-up area, are summed.  Why cells and not a
buffer of the reached edges: a buffer needs a width that is not in any standard and counts land
across a road that has no access; the cell rule is the residents' rule applied to land, and its
error is bounded by the cell size along the catchment's edge (the cell version of the straight
share is given in ``params`` for comparison with the exact buffers).

Distances (m): 800 m is the rail-station catchment of the 2024 China commuting monitoring report
(「轨道800米覆盖通勤比重」, CAUPD with Baidu Maps, "800米是人步行10—15分钟的距离") and of North
American practice (El-Geneidy et al. 2014: "800 m (0.5 miles) around rail stations are commonly
used"); 500 m is kept as the inner catchment but no standard text for it was found
(``verified: false``, :data:`DISTANCE_SOURCES`).  Stations are points (the source's label
positions, not entrances); a station farther than ``max_snap_m`` from every edge serves nobody on
foot (counted in ``params``).
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.geom import crs_label, is_empty_layer, projected_crs
from kmgis.indicators.greenspace import (
    BUILT_UP_MISSING,
    RESIDENTS_MISSING,
    AreaLike,
    area_geometry,
    population_weights,
    resident_xy,
    residents_scope,
    share_pct,
)
from kmgis.indicators.lifecircle import grid_cells
from kmgis.indicators.result import Indicator, Result, no_data
from kmgis.model import WGS84
from kmgis.network import DEFAULT_MAX_SNAP_M, Network, node_distances, point_distances, snap_points

STATION_DISTANCES_M: tuple[float, ...] = (500.0, 800.0)
"""Default catchment distances (m)."""

DISTANCE_SOURCES: dict[float, dict[str, object]] = {
    800.0: {
        "verified": True,
        "source": "《2024年度中国主要城市通勤监测报告》(中国城市规划设计研究院, 百度地图): indicator 轨道800米覆盖通勤比重, "
                  "'居住地和就业地两端均在轨道站点800米覆盖范围内' (as reported by 中国经济网, 2024-11-26, "
                  "http://blogpowerevents.com/cysc/jtys/csjt/202411/26/t20241126_39216014.shtml); El-Geneidy et al., "
                  "'New evidence on walking distances to transit stops', Transportation 2014: '800 m (0.5 miles) around "
                  "rail stations are commonly used' (https://www.worldtransitresearch.info/research/5119/)",
    },
    500.0: {
        "verified": False,
        "note": "inner station catchment (core area of Chinese TOD practice, 300–500 m); no standard or plan text "
                "found that fixes 500 m for rail stations",
    },
}
"""Where each default distance comes from (shown in the records' ``params``)."""

DEFAULT_CELL_M = 50.0
"""Cell size (m) of the walked-area grid."""

STATIONS_MISSING = (
    "stations: supply a station layer (catalogue kunming_metro_stations, a CSV read with "
    "kmgis.sources.stations.read_station_table, or OSM railway=station + station=subway / public_transport=station "
    "+ subway=yes read with kmgis.sources.osm.read_osm_stations)"
)
LINES_MISSING = (
    "metro_lines: supply the lines' station sequences (catalogue kunming_metro_lines, or a CSV read with "
    "kmgis.sources.stations.read_line_sequences)"
)
NETWORK_MISSING = "network: supply roads (a catalogue road layer or OSM) to build the walk network"

_KINDS = ("walk", "straight")


def _check_distances(distances_m: Sequence[float]) -> list[float]:
    """Distances (m) sorted, without repeats, each a positive finite number."""
    values = sorted({float(d) for d in distances_m})
    if not values or not all(np.isfinite(d) and d > 0 for d in values):
        raise KmgisError(f"station coverage: distances must be positive metres, got {list(distances_m)}")
    return values


def _ids(d: float) -> dict[str, str]:
    """The indicator ids for distance ``d`` (m)."""
    return {"walk": f"station_{d:g}m_walk_pct", "straight": f"station_{d:g}m_straight_pct",
            "walk_area": f"station_{d:g}m_walk_area_pct", "straight_area": f"station_{d:g}m_straight_area_pct"}


def _source(d: float) -> dict[str, object]:
    return DISTANCE_SOURCES.get(d, {"verified": False, "note": "distance chosen by the user"})


def _station_xy(stations: gpd.GeoDataFrame, crs: pyproj.CRS) -> np.ndarray:
    """Station x/y (m) in ``crs``; non-points use a representative point."""
    if stations.crs is None:
        raise KmgisError("stations have no CRS")
    geom = stations.geometry.to_crs(crs)
    if len(geom) and not (geom.geom_type == "Point").all():
        geom = geom.representative_point()
    return shapely.get_coordinates(np.asarray(geom.values)).reshape(-1, 2)


def _straight_m(xy: np.ndarray, st_xy: np.ndarray) -> np.ndarray:
    """Straight-line distance (m) from each point to the nearest station (metric x/y)."""
    if len(xy) == 0:
        return np.zeros(0)
    tree = shapely.STRtree(shapely.points(st_xy))
    (i, _), dist = tree.query_nearest(shapely.points(xy), return_distance=True, all_matches=False)
    out = np.full(len(xy), np.inf)
    out[i] = dist
    return out


class _Search:
    """The one multi-source search from all stations over the walk network, and points read from it."""

    def __init__(self, network: Network, st_xy: np.ndarray, cutoff_m: float, max_snap_m: float) -> None:
        self.network, self.cutoff_m, self.max_snap_m = network, cutoff_m, max_snap_m
        self.sources = snap_points(network, st_xy, max_snap_m)
        self.node_m = node_distances(network, self.sources, cutoff=cutoff_m)

    def walk_m(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(walking distance (m, ``inf`` beyond the cut-off or unsnapped), snapped mask) of points in the network CRS."""
        targets = snap_points(self.network, xy, self.max_snap_m)
        dist = point_distances(self.network, self.node_m, targets, sources=self.sources, cutoff=self.cutoff_m)
        return dist, targets.reached


def _resident_rows(residents: gpd.GeoDataFrame | None, st_xy: np.ndarray, search: _Search | None,
                   dists: list[float], crs: pyproj.CRS, base: dict) -> tuple[list[Indicator], pd.DataFrame]:
    """The residents' shares (walk and straight per distance) and their per-resident distances (m)."""
    index = residents.index if residents is not None else pd.RangeIndex(0)
    table = pd.DataFrame({"walk_m_to_station": np.nan, "straight_m_to_station": np.nan}, index=index)
    if is_empty_layer(residents):
        return [no_data(_ids(d)[k], "%", "residents", RESIDENTS_MISSING) for d in dists for k in _KINDS], table
    pop = population_weights(residents)
    scope = residents_scope(pop)
    if pop.sum() <= 0:
        why = "residents: the population points hold no persons"
        return [no_data(_ids(d)[k], "%", scope, why) for d in dists for k in _KINDS], table
    straight = _straight_m(resident_xy(residents, crs), st_xy)
    table["straight_m_to_station"] = straight
    walk = reached = None
    if search is not None:
        walk, reached = search.walk_m(resident_xy(residents, search.network.crs))
        table["walk_m_to_station"] = walk
    params = base | {"resident_points": int(len(pop))}
    if reached is not None:
        params |= {"residents_unsnapped": int((~reached).sum()), "population_unsnapped": float(pop[~reached].sum())}
    rows = []
    for d in dists:
        ids = _ids(d)
        if walk is None:
            rows.append(no_data(ids["walk"], "%", scope, NETWORK_MISSING))
        else:
            rows.append(Indicator(
                ids["walk"], share_pct(pop, walk <= d), "%", scope,
                f"population share whose walking-network distance to the nearest metro station is ≤ {d:g} m; one "
                f"multi-source Dijkstra from all stations; residents and stations snapped to the nearest edge within "
                f"{search.max_snap_m:g} m (snap distance walked); residents beyond it count as not covered",
                ("stations", "population", "roads"),
                params | {"distance_m": d, "population_covered": float(pop[walk <= d].sum()), **_source(d)}))
        rows.append(Indicator(
            ids["straight"], share_pct(pop, straight <= d), "%", scope,
            f"population share within {d:g} m straight-line distance of the nearest metro station (inside the union "
            "of the stations' buffers: official practice, no network)", ("stations", "population"),
            params | {"distance_m": d, "population_covered": float(pop[straight <= d].sum()), **_source(d)}))
    return rows, table


def _to_crs(xy: np.ndarray, src: pyproj.CRS, dst: pyproj.CRS) -> np.ndarray:
    """x/y from ``src`` to ``dst`` (unchanged when they are the same CRS)."""
    if pyproj.CRS(src) == pyproj.CRS(dst) or len(xy) == 0:
        return xy
    x, y = pyproj.Transformer.from_crs(src, dst, always_xy=True).transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


def _cell_areas(cells: np.ndarray, geom: shapely.Geometry, cell_m: float) -> np.ndarray:
    """Area (m²) of each cell inside ``geom``: whole cells without clipping, edge cells clipped."""
    shapely.prepare(geom)
    inside = shapely.contains_properly(geom, cells)
    out = np.full(len(cells), cell_m * cell_m)
    out[~inside] = shapely.area(shapely.intersection(cells[~inside], geom))
    return out


def _area_rows(geom: shapely.Geometry | None, st_xy: np.ndarray, search: _Search | None, dists: list[float],
               crs: pyproj.CRS, cell_m: float, base: dict) -> tuple[list[Indicator], list[dict]]:
    """The built-up area's shares within each distance (walk: grid cells; straight: exact buffers) and
    the catchment polygons (metric CRS) for the layer."""
    if geom is None:
        rows = [no_data(_ids(d)[k], "%", "built-up area", BUILT_UP_MISSING)
                for d in dists for k in ("walk_area", "straight_area")]
        return rows, []
    built_m2 = float(geom.area)
    scope = f"built-up area ({built_m2 / 1e6:.3f} km²)"
    cells, cx, cy = grid_cells(geom, cell_m)
    centre_straight = _straight_m(np.column_stack([cx, cy]), st_xy)
    near = np.flatnonzero(centre_straight <= max(dists))  # a centre farther in a straight line is farther on foot
    cells, centre_straight = cells[near], centre_straight[near]
    areas = _cell_areas(cells, geom, cell_m)
    cell_walk = None
    if search is not None:
        centres = _to_crs(np.column_stack([cx[near], cy[near]]), crs, search.network.crs)
        cell_walk = search.walk_m(centres)[0]
    station_pts = shapely.points(st_xy)
    rows, polygons = [], []
    params = base | {"cell_m": cell_m, "built_up_km2": round(built_m2 / 1e6, 6)}
    for d in dists:
        ids = _ids(d)
        straight_geom = shapely.union_all(shapely.buffer(station_pts, d, quad_segs=64)).intersection(geom)
        if cell_walk is None:
            rows.append(no_data(ids["walk_area"], "%", scope, NETWORK_MISSING))
        else:
            covered = cell_walk <= d
            walk_m2 = float(areas[covered].sum())
            rows.append(Indicator(
                ids["walk_area"], walk_m2 / built_m2 * 100.0, "%", scope,
                f"share of the built-up area in {cell_m:g} m grid cells whose centre is within {d:g} m walking-network "
                "distance of the nearest metro station (centres placed on the network like residents; the same "
                "multi-source search), cells clipped to the built-up area", ("stations", "built_up", "roads"),
                params | {"distance_m": d, "area_km2": round(walk_m2 / 1e6, 6), "cells_covered": int(covered.sum()),
                          **_source(d)}))
            polygons.append({"distance_m": d, "method": "walk",
                             "geometry": shapely.coverage_union_all(cells[covered]).intersection(geom)})
        grid_m2 = float(areas[centre_straight <= d].sum())
        rows.append(Indicator(
            ids["straight_area"], straight_geom.area / built_m2 * 100.0, "%", scope,
            f"share of the built-up area inside the union of {d:g} m straight-line buffers of the metro stations "
            "(official practice, no network)", ("stations", "built_up"),
            params | {"distance_m": d, "area_km2": round(straight_geom.area / 1e6, 6),
                      "grid_cells_pct": round(grid_m2 / built_m2 * 100.0, 4), **_source(d)}))
        polygons.append({"distance_m": d, "method": "straight", "geometry": straight_geom})
    return rows, polygons


def _stations_layer(stations: gpd.GeoDataFrame, geom: shapely.Geometry | None, st_xy: np.ndarray,
                    search: _Search | None, reach_m: float) -> gpd.GeoDataFrame:
    """The stations that can serve the area (within ``reach_m`` of it in a straight line; all without an
    area), WGS84, with ``inside_area`` and ``snap_m`` (m to the walk network; NaN unsnapped)."""
    cols = [c for c in ("name", "name_zh", "lines", "source_id") if c in stations.columns]
    out = gpd.GeoDataFrame(stations[cols].copy(), geometry=stations.geometry.to_crs(WGS84).values, crs=WGS84)
    out["inside_area"] = shapely.intersects_xy(geom, st_xy[:, 0], st_xy[:, 1]) if geom is not None else False
    out["snap_m"] = np.where(search.sources.reached, search.sources.snap_m, np.nan) if search else np.nan
    if geom is not None:
        out = out[shapely.dwithin(shapely.points(st_xy), geom, reach_m)]
    return out.reset_index(drop=True)


def station_coverage(
    network: Network | None,
    residents: gpd.GeoDataFrame | None,
    stations: gpd.GeoDataFrame | None,
    area: AreaLike,
    crs: pyproj.CRS | str,
    *,
    distances_m: Sequence[float] = STATION_DISTANCES_M,
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
    cell_m: float = DEFAULT_CELL_M,
) -> Result:
    """Residents and built-up area within walking / straight-line distance of a metro station (%).

    Parameters
    ----------
    network : the walk network (:func:`kmgis.network.build_network`); None gives ``no data`` for the
        walk rows.
    residents : population points of the built-up area (float ``population``, persons; any CRS).
    stations : the ``stations`` layer (points, any CRS); all of them are searched, also those outside
        the area (they serve residents near its edge).
    area : the built-up area (GeoDataFrame/GeoSeries in any CRS, or a WGS84 shapely geometry).
    crs : the projected metric CRS for straight-line distances and areas (m, m²).
    distances_m : catchment distances, m (default 500 and 800).
    max_snap_m : maximum snapping distance of residents, stations and cell centres, m.
    cell_m : cell size of the walked-area grid, m.

    Returns
    -------
    Result
        Per distance d: ``station_<d>m_walk_pct`` and ``station_<d>m_straight_pct`` (residents), then
        ``station_<d>m_walk_area_pct`` and ``station_<d>m_straight_area_pct`` (built-up area), then
        ``stations_count`` (stations inside the area).  ``per_feature`` (index of ``residents``):
        ``walk_m_to_station`` (m; ``inf`` beyond the largest distance or unsnapped) and
        ``straight_m_to_station`` (m).  Layers ``station_catchments`` (WGS84 polygons per distance
        and method, clipped to the area; empty ones left out) and ``metro_stations`` (the stations within
        the largest distance of the area, with ``inside_area`` and ``snap_m``).
        Without stations every record is ``no data`` naming what to supply.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> crs = "EPSG:32648"
    >>> st = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(500, 500)], crs=crs)
    >>> res = gpd.GeoDataFrame({"population": [10.0, 30.0]}, geometry=[shapely.Point(900, 500),
    ...                        shapely.Point(1500, 500)], crs=crs)
    >>> area = gpd.GeoSeries([shapely.box(0, 0, 2000, 1000)], crs=crs)
    >>> r = station_coverage(None, res, st, area, crs)
    >>> r["station_500m_straight_pct"].value, r["station_500m_walk_pct"].status, r["stations_count"].value
    (25.0, 'no data', 1.0)
    """
    dists = _check_distances(distances_m)
    crs = projected_crs(crs, "station coverage")
    geom = area_geometry(area, crs)
    if is_empty_layer(stations):
        index = residents.index if residents is not None else pd.RangeIndex(0)
        rows = [no_data(_ids(d)[k], "%", "residents / built-up area", STATIONS_MISSING)
                for d in dists for k in ("walk", "straight", "walk_area", "straight_area")]
        rows.append(no_data("stations_count", "stations", "built-up area", STATIONS_MISSING))
        table = pd.DataFrame({"walk_m_to_station": np.nan, "straight_m_to_station": np.nan}, index=index)
        return Result(rows, per_feature=table)
    st_xy = _station_xy(stations, crs)
    search = None
    if network is not None:
        search = _Search(network, _station_xy(stations, network.crs), max(dists), max_snap_m)
    base = {"crs": crs_label(crs), "max_snap_m": max_snap_m, "stations": int(len(st_xy))}
    if search is not None:
        base["stations_unsnapped"] = int((~search.sources.reached).sum())
    res_rows, table = _resident_rows(residents, st_xy, search, dists, crs, base)
    area_rows, polygons = _area_rows(geom, st_xy, search, dists, crs, cell_m, base)
    rows = [*res_rows, *area_rows, _count_row(geom, st_xy, base)]
    polygons = [p for p in polygons if not p["geometry"].is_empty]
    layers = {"metro_stations": _stations_layer(stations, geom, st_xy, search, max(dists))}
    if polygons:
        catch = gpd.GeoDataFrame(polygons, geometry="geometry", crs=crs)
        catch["area_km2"] = catch.geometry.area / 1e6
        layers["station_catchments"] = catch.to_crs(WGS84)
    return Result(rows, per_feature=table, layers=layers)


def _count_row(geom: shapely.Geometry | None, st_xy: np.ndarray, base: dict) -> Indicator:
    """``stations_count``: stations inside the built-up area."""
    if geom is None:
        return no_data("stations_count", "stations", "built-up area", BUILT_UP_MISSING)
    shapely.prepare(geom)
    inside = int(shapely.intersects_xy(geom, st_xy[:, 0], st_xy[:, 1]).sum())
    return Indicator("stations_count", inside, "stations", f"built-up area ({geom.area / 1e6:.3f} km²)",
                     "metro stations (points) inside the built-up area", ("stations", "built_up"),
                     base | {"stations_outside": int(len(st_xy)) - inside})


# --------------------------------------------------------------------------- network length


def _line_names(record: str, split_names: str | None) -> list[str]:
    """The line names a record stands for (``1号线/2号线`` → two names with ``split_names="/"``)."""
    parts = record.split(split_names) if split_names else [record]
    return [p.strip() for p in parts if p.strip()]


def _sequences(lines: pd.DataFrame) -> list[tuple[tuple[str, ...], ...]]:
    """Each record's pieces (column ``sequences``, else one piece from ``station_ids``), ids as text."""
    if "sequences" in lines.columns:
        raw = lines["sequences"]
    elif "station_ids" in lines.columns:
        raw = lines["station_ids"].map(lambda s: (s,))
    else:
        raise KmgisError("metro_lines: expected a 'sequences' or 'station_ids' column "
                         "(kmgis.sources.stations.read_line_sequences)")
    return [tuple(tuple(str(i) for i in piece) for piece in seq) for seq in raw]


def _check_vocabulary(lines: pd.DataFrame, pieces: list, stations: gpd.GeoDataFrame, split_names: str | None) -> None:
    """Every station id of the lines is a station, and every line a station names is a line record."""
    known_ids = set(stations["source_id"].astype(str))
    used = {i for seq in pieces for piece in seq for i in piece}
    missing = sorted(used - known_ids)
    if missing:
        raise KmgisError(f"metro_lines: station id(s) {missing[:10]} of the line sequences are not in the stations "
                         f"layer ({len(known_ids)} stations)")
    records = [str(r) for r in lines["line"]]
    known = set(records) | {n for r in records for n in _line_names(r, split_names)}
    named = stations["lines"].dropna().astype(str) if "lines" in stations.columns else pd.Series([], dtype=str)
    tokens = {t.strip() for v in named for t in v.split(";") if t.strip()}
    unknown = sorted(tokens - known)
    if unknown:
        who = [n for n, v in zip(stations.get("name_zh", stations["source_id"]), stations.get("lines"), strict=True)
               if isinstance(v, str) and set(t.strip() for t in v.split(";")) & set(unknown)]
        raise KmgisError(f"stations: line(s) {unknown} (stations {who[:5]}) are not in the line table; "
                         f"known lines: {', '.join(records)}")


def _unique_links(pieces: list) -> pd.DataFrame:
    """One row per undirected station-to-station link of all records: ``a``, ``b`` (ids, a < b), sorted."""
    pairs = {(min(p), max(p)) for seq in pieces for piece in seq for p in zip(piece[:-1], piece[1:], strict=True)
             if p[0] != p[1]}
    return pd.DataFrame(sorted(pairs), columns=["a", "b"])


def metro_network_km(
    metro_lines: pd.DataFrame | None,
    stations: gpd.GeoDataFrame | None,
    crs: pyproj.CRS | str | None = None,
    *,
    split_names: str | None = "/",
) -> Result:
    """Length of the metro network as straight station-to-station links (km), its lines and stations.

    Parameters
    ----------
    metro_lines : line records (:func:`kmgis.sources.stations.read_line_sequences`; the recipe's
        ``metro_lines`` layer): ``line`` and ``sequences`` (pieces of station ids in order) or
        ``station_ids``.
    stations : the ``stations`` layer (``source_id`` matching the ids; ``lines`` naming the lines).
    crs : projected metric CRS for lengths (default: the UTM zone of the stations).
    split_names : a record name holding several lines (``1号线/2号线``) counts once per name split
        on this text; None counts records.

    Returns
    -------
    Result
        ``metro_line_km_straight`` (km; each link shared by several records once; a lower bound of
        route length), ``metro_lines_count`` (lines) and ``metro_stations_count`` (distinct stations
        on the lines).  No ``per_feature`` (the recipe joins those per resident); instead the layer
        ``metro_lines``: one row per record (index of ``metro_lines``), WGS84 multilines of its straight links,
        with ``line``, ``colour``, ``links``, ``stations`` and ``km_straight`` (its own links).
        A station id of a sequence missing from ``stations``, or a line named by a station but absent
        from ``lines``, is a :class:`KmgisError` (never dropped).

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> st = gpd.GeoDataFrame({"source_id": ["1", "2", "3"], "lines": ["A/B", "A/B;C", "C"]},
    ...                       geometry=[shapely.Point(0, 0), shapely.Point(3000, 4000), shapely.Point(3000, 0)],
    ...                       crs="EPSG:32648")
    >>> ln = pd.DataFrame({"line": ["A/B", "C"], "sequences": [(("1", "2"),), (("2", "3", "2"),)]})
    >>> r = metro_network_km(ln, st, "EPSG:32648")
    >>> r["metro_line_km_straight"].value, r["metro_lines_count"].value, r["metro_stations_count"].value
    (9.0, 3.0, 3.0)
    """
    lines = metro_lines
    ids = [("metro_line_km_straight", "km"), ("metro_lines_count", "lines"), ("metro_stations_count", "stations")]
    if is_empty_layer(stations) or lines is None or len(lines) == 0:
        why = STATIONS_MISSING if is_empty_layer(stations) else LINES_MISSING
        return Result([no_data(i, u, "metro network", why) for i, u in ids])
    crs = projected_crs(crs if crs is not None else metric_crs(stations), "metro network length")
    pieces = _sequences(lines)
    _check_vocabulary(lines, pieces, stations, split_names)
    names = [str(n) for n in lines["line"]]
    links = _unique_links(pieces)
    xy = pd.DataFrame(_station_xy(stations, crs), index=stations["source_id"].astype(str), columns=["x", "y"])
    xy = xy[~xy.index.duplicated()]
    a, b = xy.loc[links["a"]].to_numpy(), xy.loc[links["b"]].to_numpy()
    links["length_m"] = np.hypot(*(a - b).T)
    layer, own_km = _record_layer(lines, pieces, xy, crs)
    line_names = list(dict.fromkeys(n for r in names for n in _line_names(r, split_names)))
    on_lines = {i for seq in pieces for piece in seq for i in piece}
    scope = f"metro network ({len(names)} line records)"
    params = {"crs": crs_label(crs), "records": names, "links": int(len(links)),
              "km_per_record": dict(zip(names, own_km, strict=True)), "branches": lines.attrs.get("branches") or {},
              "stations_in_layer": int(stations["source_id"].nunique()),
              "stations_not_on_lines": int(stations["source_id"].nunique()) - len(on_lines)}
    km = float(links["length_m"].sum()) / 1000.0
    rows = [
        Indicator("metro_line_km_straight", km, "km", scope,
                  "sum of straight station-to-station links over the lines' station sequences in the metric CRS, each "
                  "link shared by several lines counted once; straight links ignore track curves, so this is a lower "
                  "bound of route length (branches stored joined in one sequence rebuilt as recorded in params)",
                  ("metro_lines", "stations"), params),
        Indicator("metro_lines_count", len(line_names), "lines", scope,
                  f"distinct line names of the line records (a record named with several lines, e.g. '1号线/2号线', "
                  f"counts each name: split on {split_names!r})" if split_names else "line records",
                  ("metro_lines",), {"lines": line_names, "records": len(names)}),
        Indicator("metro_stations_count", len(on_lines), "stations", scope,
                  "distinct stations on the lines' station sequences (a transfer station once)",
                  ("metro_lines", "stations"), {"stations_not_on_lines": params["stations_not_on_lines"]}),
    ]
    return Result(rows, layers={"metro_lines": layer})


def _record_layer(lines: pd.DataFrame, pieces: list, xy: pd.DataFrame,
                  crs: pyproj.CRS) -> tuple[gpd.GeoDataFrame, list[float]]:
    """One row per line record: its straight links as a WGS84 multiline, links, stations and km (its own
    links; a link shared with another record counts in each), and the km rounded for ``params``."""
    rows, geoms = [], []
    for seq in pieces:
        pairs = sorted({tuple(sorted(p)) for piece in seq for p in zip(piece[:-1], piece[1:], strict=True)
                        if p[0] != p[1]})
        a = xy.loc[[p[0] for p in pairs]].to_numpy().reshape(-1, 2)
        b = xy.loc[[p[1] for p in pairs]].to_numpy().reshape(-1, 2)
        rows.append({"links": len(pairs), "stations": len({i for piece in seq for i in piece}),
                     "km_straight": float(np.hypot(*(a - b).T).sum()) / 1000.0})
        geoms.append(shapely.multilinestrings(shapely.linestrings(np.stack([a, b], axis=1))) if pairs else None)
    frame = pd.DataFrame(rows, columns=["links", "stations", "km_straight"], index=lines.index)
    frame.insert(0, "line", lines["line"].astype(str))
    frame.insert(1, "colour", lines["colour"] if "colour" in lines.columns else None)
    layer = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, index=lines.index, crs=crs), crs=crs)
    return layer.to_crs(WGS84), [round(v, 3) for v in frame["km_straight"]]
