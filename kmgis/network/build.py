"""Building a walk or drive :class:`~kmgis.network.graph.Network` from the ``roads`` layer.

Steps of :func:`build_network`, each a small function:

1. :func:`road_rules`: the per-class rules and speeds (the one place the network reads
   ``layers/road_classes.yaml`` and ``layers/speeds.yaml``; callers may pass their own);
2. :func:`_mode_mask`: which roads the mode may use;
3. :func:`_road_lines`: the usable roads as single LineStrings in the metric CRS;
4. :func:`_split_lines`: lines split where they meet — at shared OSM nodes
   (:func:`_split_at_shared_vertices`) or, for user layers, at T-junctions
   (:func:`_split_at_touching_ends`);
5. :func:`_edge_nodes`: edge ends → node ids (OSM node ids, or end points clustered within
   the snap tolerance, :func:`_cluster_endpoints`);
6. :func:`_edge_travel`: travel time (s) and the traversable directions of each edge;
7. :func:`_largest_component`: the largest component kept, the rest reported.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from kmgis.config import load_layers_yaml
from kmgis.errors import KmgisError
from kmgis.model import normalise_road_classes
from kmgis.network.graph import Mode, Network

NodePolicy = Literal["auto", "endpoints", "shared_vertices"]


# --------------------------------------------------------------------------- rules (package YAML)


@dataclass(frozen=True)
class RoadRules:
    """What the network needs from the package tables.

    Attributes
    ----------
    classes : road class → its ``layers/road_classes.yaml`` entry (``walk`` / ``drive``
        flags, …), in file order (the order of :func:`summary_by_class`).
    walk_kmh : walking speed, km/h (``layers/speeds.yaml: walk_kmh``).
    drive_kmh : road class → free-flow drive speed where no ``maxspeed`` is tagged, km/h
        (``layers/speeds.yaml: drive_kmh``).
    """

    classes: Mapping[str, Mapping[str, Any]]
    walk_kmh: float
    drive_kmh: Mapping[str, float]


def road_rules() -> RoadRules:
    """The :class:`RoadRules` of the package tables, read now (``speeds.yaml``, then ``road_classes.yaml``).

    The only place the network reads YAML: :func:`build_network` and
    :func:`summary_by_class` call it when no ``rules`` are passed.
    """
    speeds = load_layers_yaml("speeds")
    classes = load_layers_yaml("road_classes")["classes"]
    return RoadRules(classes=classes, walk_kmh=speeds["walk_kmh"], drive_kmh=speeds["drive_kmh"])


# --------------------------------------------------------------------------- steps


def _mode_mask(roads: gpd.GeoDataFrame, mode: Mode, classes: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
    """Which road rows the mode may use: the row's own ``walk`` / ``drive`` flag, else the class default."""
    default = roads["road_class"].map({k: bool(v[mode]) for k, v in classes.items()})
    if default.isna().any():
        bad = sorted(set(roads.loc[default.isna(), "road_class"].astype(str)))
        raise KmgisError(f"roads: unknown road_class value(s) {bad}; expected one of {sorted(classes)}")
    flag = roads[mode] if mode in roads.columns else pd.Series(pd.NA, index=roads.index)
    return flag.astype("boolean").fillna(default.astype(bool)).to_numpy(dtype=bool)


def _road_lines(usable: gpd.GeoDataFrame, crs: pyproj.CRS) -> tuple[np.ndarray, np.ndarray]:
    """The usable roads as non-empty single LineStrings in ``crs`` and the row position of each."""
    parts = usable.geometry.to_crs(crs).explode(index_parts=False)
    row_of_part = np.asarray(pd.Index(usable.index).get_indexer(parts.index))
    lines = parts.to_numpy()
    nonempty = ~shapely.is_empty(lines)
    return lines[nonempty], row_of_part[nonempty]


def _split_at_shared_vertices(
    lines: np.ndarray, keys: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Split LineStrings at every vertex that occurs more than once (shared or repeated).

    A vertex's identity is its ``keys`` entry (OSM node ids, one per vertex) when given,
    else its exact coordinates.  Returns the pieces, the index of the line each piece came
    from, and (with ``keys``) the keys of every piece's first then last vertex.
    """
    coords, line = shapely.get_coordinates(lines, return_index=True)
    first = np.r_[True, line[1:] != line[:-1]]
    last = np.r_[line[1:] != line[:-1], True]
    ident = keys if keys is not None else coords
    _, key, occ = np.unique(ident, axis=0, return_inverse=True, return_counts=True)
    interior_node = (occ[key.ravel()] >= 2) & ~first & ~last
    rep = 1 + interior_node.astype(np.int64)
    new_coords = np.repeat(coords, rep, axis=0)
    offsets = np.cumsum(rep) - rep
    start = np.zeros(len(new_coords), dtype=bool)
    start[offsets[first]] = True
    start[offsets[interior_node] + 1] = True
    piece = np.cumsum(start) - 1
    pieces = shapely.linestrings(new_coords, indices=piece)
    end_keys = None
    if keys is not None:
        new_keys = np.repeat(keys, rep)
        starts = np.flatnonzero(start)
        ends = np.r_[starts[1:] - 1, len(new_keys) - 1]
        end_keys = np.concatenate([new_keys[starts], new_keys[ends]])
    return pieces, np.repeat(line, rep)[start], end_keys


def _osm_vertex_ids(rows: pd.DataFrame, lines: np.ndarray) -> np.ndarray | None:
    """The OSM node id of every vertex of ``lines`` (one row each), or None if not all are known."""
    if "osm_node_ids" not in rows.columns:
        return None
    ids = rows["osm_node_ids"].to_numpy()
    if len(ids) == 0 or any(x is None or (isinstance(x, float) and np.isnan(x)) for x in ids):
        return None
    lens = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    if not np.array_equal(lens, shapely.get_num_coordinates(lines)):
        return None
    return np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lens.sum()))


def _split_points(lines: np.ndarray, tolerance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Where another line's end point lies within ``tolerance_m`` (m) of a line's interior.

    Returns the line index and the position along it (m, rounded to µm) of each distinct
    split point, in no particular order.
    """
    ends = np.concatenate([shapely.get_point(lines, 0), shapely.get_point(lines, -1)])
    end_line = np.concatenate([np.arange(len(lines)), np.arange(len(lines))])
    tree = shapely.STRtree(lines)
    end_idx, line_idx = tree.query(ends, predicate="dwithin", distance=tolerance_m)
    keep = end_line[end_idx] != line_idx
    end_idx, line_idx = end_idx[keep], line_idx[keep]
    pos = shapely.line_locate_point(lines[line_idx], ends[end_idx])
    length = shapely.length(lines[line_idx])
    interior = (pos > tolerance_m) & (pos < length - tolerance_m)
    line_idx, pos = line_idx[interior], pos[interior]
    if len(pos) == 0:
        return line_idx, pos
    splits = pd.DataFrame({"line": line_idx, "pos": np.round(pos, 6)}).drop_duplicates()
    return splits["line"].to_numpy(), splits["pos"].to_numpy()


def _vertex_positions_m(coords: np.ndarray, vline: np.ndarray) -> np.ndarray:
    """Distance (m) of each vertex from the start of its line (``vline``: the line of each vertex)."""
    step = np.r_[0.0, np.hypot(*np.diff(coords, axis=0).T)]
    step[np.r_[True, vline[1:] != vline[:-1]]] = 0.0
    cum = np.cumsum(step)
    cum -= np.repeat(cum[np.r_[0, np.flatnonzero(vline[1:] != vline[:-1]) + 1]], np.bincount(vline))
    return cum


def _split_at_touching_ends(lines: np.ndarray, tolerance_m: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Split lines where another line's end point touches their interior (T-junctions).

    Returns the pieces, the source line of each piece and the number of split points.
    """
    split_line, split_pos = _split_points(lines, tolerance_m)
    if len(split_pos) == 0:
        return lines, np.arange(len(lines)), 0
    split_xy = shapely.get_coordinates(shapely.line_interpolate_point(lines[split_line], split_pos))
    coords, vline = shapely.get_coordinates(lines, return_index=True)
    # merge vertices and split points of every line in order along the line
    all_line = np.concatenate([vline, split_line])
    all_pos = np.concatenate([_vertex_positions_m(coords, vline), split_pos])
    is_split = np.concatenate([np.zeros(len(vline), bool), np.ones(len(split_line), bool)])
    all_xy = np.vstack([coords, split_xy])
    order = np.lexsort((is_split, all_pos, all_line))
    all_line, is_split, all_xy = all_line[order], is_split[order], all_xy[order]
    rep = 1 + is_split.astype(np.int64)
    new_xy = np.repeat(all_xy, rep, axis=0)
    offsets = np.cumsum(rep) - rep
    start = np.zeros(len(new_xy), dtype=bool)
    start[offsets[np.r_[True, all_line[1:] != all_line[:-1]]]] = True
    start[offsets[is_split] + 1] = True
    piece = np.cumsum(start) - 1
    pieces = shapely.linestrings(new_xy, indices=piece)
    return pieces, np.repeat(all_line, rep)[start], len(split_pos)


def _split_lines(
    lines: np.ndarray,
    usable: pd.DataFrame,
    row_of_line: np.ndarray,
    node_policy: NodePolicy,
    snap_tolerance_m: float,
    join_t_junctions: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """Lines → edge pieces, by the node policy (``row_of_line``: the ``usable`` row of each line).

    Returns the pieces, the line each came from, the OSM node ids of every piece's first
    then last vertex (None unless all OSM node ids are known) and the number of T-junctions
    joined.
    """
    if node_policy == "shared_vertices":
        vertex_ids = _osm_vertex_ids(usable.iloc[row_of_line], lines)
        pieces, line_of_piece, end_keys = _split_at_shared_vertices(lines, vertex_ids)
        return pieces, line_of_piece, end_keys, 0
    if join_t_junctions and snap_tolerance_m > 0:
        pieces, line_of_piece, t_joined = _split_at_touching_ends(lines, snap_tolerance_m)
        return pieces, line_of_piece, None, t_joined
    return lines, np.arange(len(lines)), None, 0


def _cluster_endpoints(xy: np.ndarray, tolerance_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Node id for each end point (points within ``tolerance_m`` merge); node coordinates."""
    uniq, inv = np.unique(xy, axis=0, return_inverse=True)
    inv = inv.ravel()
    if tolerance_m > 0 and len(uniq) > 1:
        pairs = cKDTree(uniq).query_pairs(r=tolerance_m, output_type="ndarray")
        adj = sp.coo_array((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(uniq), len(uniq)))
        _, label = connected_components(adj, directed=False)
    else:
        label = np.arange(len(uniq))
    # node coordinate: the first (lowest) unique point of each cluster, deterministic
    order = np.argsort(label, kind="stable")
    firsts = order[np.r_[True, label[order][1:] != label[order][:-1]]]
    return label[inv], uniq[firsts]


def _edge_nodes(
    pieces: np.ndarray, end_keys: np.ndarray | None, cluster_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(u, v, node_xy)``: the node of each piece's first and last vertex, and node coordinates (m).

    With OSM node ids (``end_keys``) one node per id, wherever it lies; else end points
    within ``cluster_m`` metres become one node.
    """
    ends = np.vstack(
        [
            shapely.get_coordinates(shapely.get_point(pieces, 0)),
            shapely.get_coordinates(shapely.get_point(pieces, -1)),
        ]
    )
    if end_keys is not None:
        _, first_at, node_of_end = np.unique(end_keys, return_index=True, return_inverse=True)
        node_xy = ends[first_at]
    else:
        node_of_end, node_xy = _cluster_endpoints(ends, cluster_m)
    n_pieces = len(pieces)
    return node_of_end[:n_pieces], node_of_end[n_pieces:], node_xy


def _edge_travel(
    rows: pd.DataFrame, mode: Mode, length_m: np.ndarray, walk_kmh: float, drive_kmh: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(time_s, forward, backward)`` of each edge: travel time (s) and the directions it may be used.

    Walk: ``walk_kmh`` (km/h) both ways.  Drive: ``maxspeed_kmh`` where tagged and positive,
    else the class speed ``drive_kmh`` (km/h); ``oneway`` 1 forward only, -1 backward only.
    """
    n_pieces = len(length_m)
    if mode == "walk":
        fwd = np.ones(n_pieces, dtype=bool)
        return length_m / (walk_kmh / 3.6), fwd, fwd.copy()
    class_kmh = pd.Series(rows["road_class"].to_numpy(dtype=object)).map(drive_kmh).to_numpy(dtype=float)
    if "maxspeed_kmh" in rows:
        maxspeed = rows["maxspeed_kmh"].to_numpy(dtype=float)
    else:
        maxspeed = np.full(n_pieces, np.nan)
    kmh = np.where(np.isfinite(maxspeed) & (maxspeed > 0), maxspeed, class_kmh)
    if not np.all(np.isfinite(kmh) & (kmh > 0)):
        raise KmgisError("speeds.yaml: every drivable road class needs a positive drive_kmh")
    oneway = rows["oneway"].astype("Int8").fillna(0).to_numpy() if "oneway" in rows else np.zeros(n_pieces)
    return length_m / (kmh / 3.6), oneway != -1, oneway != 1


def _resolved_node_policy(node_policy: NodePolicy, usable: gpd.GeoDataFrame) -> NodePolicy:
    """``"auto"`` → ``"shared_vertices"`` when the roads have OSM ids, else ``"endpoints"``; others as given."""
    if node_policy != "auto":
        return node_policy
    has_osm = "osm_id" in usable.columns and usable["osm_id"].notna().any()
    return "shared_vertices" if has_osm else "endpoints"


def _checked_crs(crs: pyproj.CRS | str, mode: str, roads: gpd.GeoDataFrame) -> pyproj.CRS:
    """``crs`` as a projected :class:`pyproj.CRS`, after checking ``mode`` and that ``roads`` has classed rows."""
    crs = pyproj.CRS.from_user_input(crs)
    if not crs.is_projected:
        raise KmgisError(f"network CRS must be projected (metres), got {crs.to_string()}")
    if mode not in ("walk", "drive"):
        raise KmgisError(f"unknown network mode {mode!r}; use 'walk' or 'drive'")
    if len(roads) == 0:
        raise KmgisError("roads layer is empty: no network can be built (check the clip area and the source)")
    if "road_class" not in roads.columns:
        raise KmgisError("roads layer has no road_class column (see kmgis.model, layer 'roads')")
    return crs


def _largest_component(net: Network, summary: dict) -> Network:
    """Keep the largest component (strong for drive, weak for walk); record what was dropped."""
    connection = "strong" if net.mode == "drive" else "weak"
    mat = net.csr("length_m")[: net.n_nodes, : net.n_nodes]
    n_comp, label = connected_components(mat, directed=True, connection=connection)
    sizes = np.bincount(label)
    keep_label = int(np.argmax(sizes))
    keep_node = label == keep_label
    keep_edge = keep_node[net.edge_u] & keep_node[net.edge_v]
    new_id = np.cumsum(keep_node) - 1
    summary.update(
        {
            "components": int(n_comp),
            "component_connection": connection,
            "dropped_nodes": int((~keep_node).sum()),
            "dropped_edges": int((~keep_edge).sum()),
            "dropped_km": round(float(net.edge_length_m[~keep_edge].sum()) / 1000, 3),
        }
    )
    return Network(
        mode=net.mode,
        crs=net.crs,
        node_x=net.node_x[keep_node],
        node_y=net.node_y[keep_node],
        edge_u=new_id[net.edge_u[keep_edge]],
        edge_v=new_id[net.edge_v[keep_edge]],
        edge_length_m=net.edge_length_m[keep_edge],
        edge_time_s=net.edge_time_s[keep_edge],
        edge_forward=net.edge_forward[keep_edge],
        edge_backward=net.edge_backward[keep_edge],
        edge_class=net.edge_class[keep_edge],
        edge_geometry=net.edge_geometry[keep_edge],
        edge_source_row=net.edge_source_row[keep_edge],
    )


# --------------------------------------------------------------------------- public


def build_network(
    roads: gpd.GeoDataFrame,
    mode: Mode,
    crs: pyproj.CRS | str,
    *,
    node_policy: NodePolicy = "auto",
    snap_tolerance_m: float = 1.0,
    walk_kmh: float | None = None,
    keep_all_components: bool = False,
    join_t_junctions: bool = True,
    rules: RoadRules | None = None,
) -> Network:
    """Build a walk or drive :class:`Network` from a ``roads`` layer (see :mod:`kmgis.model`).

    Parameters
    ----------
    roads : the roads layer in any CRS (WGS84 in the model).
    mode : ``"walk"`` (undirected, time at ``walk_kmh``) or ``"drive"`` (one-way respected,
        time from ``maxspeed_kmh`` or the class speed in ``layers/speeds.yaml``).
    crs : the metric CRS for lengths (e.g. ``kmgis.crs.metric_crs(roads)``).
    node_policy : ``"shared_vertices"`` (OSM), ``"endpoints"`` (user layers) or ``"auto"``
        (shared vertices when the layer has OSM ids).
    snap_tolerance_m : (end-point policy) end points closer than this (m) become one node.
    walk_kmh : walking speed, km/h (default ``rules.walk_kmh``).
    keep_all_components : keep every component instead of the largest.
    join_t_junctions : (end-point policy) a line end lying within ``snap_tolerance_m`` of
        another line's interior is a T-junction: that line is split there and joined.  Lines
        that merely cross (no end point on the other) stay unjoined, as bridges do.
    rules : class flags and speeds (default :func:`road_rules`, read from the package YAML now).

    Returns a :class:`Network` in ``crs`` (metres, seconds); :attr:`Network.summary` says how it was built.
    """
    crs = _checked_crs(crs, mode, roads)
    roads, classes_mapped = normalise_road_classes(roads)
    rules = rules if rules is not None else road_rules()
    walk_kmh = float(walk_kmh or rules.walk_kmh)
    if walk_kmh <= 0:
        raise KmgisError(f"walking speed must be positive, got {walk_kmh} km/h")
    usable = roads.loc[_mode_mask(roads, mode, rules.classes)]
    if len(usable) == 0:
        raise KmgisError(f"roads layer has no {mode}able roads")
    node_policy = _resolved_node_policy(node_policy, usable)
    lines, row_of_part = _road_lines(usable, crs)
    pieces, line_of_piece, end_keys, t_joined = _split_lines(
        lines, usable, row_of_part, node_policy, snap_tolerance_m, join_t_junctions
    )
    src = row_of_part[line_of_piece]
    # OSM topology is explicit (shared node ids → identical coordinates): never merge distinct
    # OSM nodes that merely lie close together; user layers join end points within the tolerance
    cluster_m = 0.0 if node_policy == "shared_vertices" else snap_tolerance_m
    u, v, node_xy = _edge_nodes(pieces, end_keys, cluster_m)
    length = shapely.length(pieces)
    rows = usable.iloc[src]
    time_s, fwd, bwd = _edge_travel(rows, mode, length, walk_kmh, rules.drive_kmh)
    net = Network(
        mode=mode, crs=crs, node_x=node_xy[:, 0], node_y=node_xy[:, 1],
        edge_u=u.astype(np.int64), edge_v=v.astype(np.int64), edge_length_m=length, edge_time_s=time_s,
        edge_forward=fwd, edge_backward=bwd, edge_class=rows["road_class"].to_numpy(dtype=object),
        edge_geometry=pieces, edge_source_row=np.asarray(usable.index[src]),
    )
    summary = {
        "mode": mode,
        "crs": crs.to_string(),
        **({"road_classes_mapped": classes_mapped} if classes_mapped else {}),
        "node_policy": node_policy + (" (OSM node ids)" if end_keys is not None else ""),
        "snap_tolerance_m": snap_tolerance_m,
        "t_junctions_joined": int(t_joined),
        "walk_kmh": walk_kmh,
        "input_roads": int(len(roads)),
        "usable_roads": int(len(usable)),
        "nodes_built": int(net.n_nodes),
        "edges_built": int(net.n_edges),
    }
    if not keep_all_components:
        net = _largest_component(net, summary)
    net.summary = summary | {"nodes": int(net.n_nodes), "edges": int(net.n_edges)}
    return net


def summary_by_class(net: Network, rules: RoadRules | None = None) -> pd.DataFrame:
    """Edge count and length (km) per road class, in the class order of ``rules``.

    ``rules`` defaults to :func:`road_rules` (read from the package YAML now).

    Returns
    -------
    DataFrame
        Columns ``road_class``, ``edges`` and ``length_km`` (km, rounded to metres).
    """
    order = list((rules if rules is not None else road_rules()).classes)
    df = pd.DataFrame({"road_class": net.edge_class, "length_km": net.edge_length_m / 1000})
    out = df.groupby("road_class").agg(edges=("length_km", "size"), length_km=("length_km", "sum"))
    out = out.reindex([c for c in order if c in out.index])
    out["length_km"] = out["length_km"].round(3)
    return out.reset_index()
