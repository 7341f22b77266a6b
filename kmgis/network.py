"""The network engine: walk and drive graphs from the ``roads`` layer, as CSR matrices.

Everything here works in a projected metric CRS: node coordinates and lengths are metres,
travel times are seconds.

* **Nodes** are where lines meet.  OSM ways (``osm_id`` present) are split at every vertex
  they share with another way (OSM's shared way nodes) and at their ends; user layers (no
  OSM ids) are joined only at coincident end points, clustered within ``snap_tolerance_m``
  — a bridge crossing a street without a shared end point is not a junction.
* **Edges** keep their geometry, length (m), class, and travel time (s) from
  ``layers/speeds.yaml`` (class default, or ``maxspeed_kmh`` when tagged).  ``oneway``
  is respected in drive graphs; walk graphs are undirected.
* **Components**: the largest (weakly for walk, strongly for drive) is kept; what was
  dropped is reported in :attr:`Network.summary`.
* **CSR**: one directed arc per traversable direction; parallel arcs collapse to the
  shortest (``coo → csr`` would *sum* them and silently lengthen paths).
* **Search**: points snap to the nearest point on the nearest edge (STRtree) within a
  maximum snap distance; the snap distance is added to the path.  Nearest-facility search
  is one multi-source Dijkstra (``scipy.sparse.csgraph.dijkstra``) from a virtual
  super-source joined to every facility's edge ends with its along-edge offsets.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from kmgis.config import load_layers_yaml
from kmgis.errors import KmgisError

Mode = Literal["walk", "drive"]
Weight = Literal["length_m", "time_s"]
NodePolicy = Literal["auto", "endpoints", "shared_vertices"]

DEFAULT_MAX_SNAP_M = 250.0
_SNAP_PREFETCH_M = 60.0  # radius of the bulk candidate query when snapping (m); farther points use query_nearest
_MIN_WEIGHT = 1e-9  # guards divisions by zero-length edges (explicit zeros stay arcs in csgraph)


@dataclass(frozen=True)
class Snapped:
    """Points snapped onto network edges (metric CRS).

    ``edge`` is the edge index (-1 where the point is farther than the maximum snap
    distance from any edge: *unreached*, never silently dropped); ``pos_m`` the distance
    along the edge from its ``u`` end; ``snap_m`` the straight distance from the point to
    the edge.
    """

    edge: np.ndarray
    pos_m: np.ndarray
    snap_m: np.ndarray
    max_snap_m: float

    @property
    def reached(self) -> np.ndarray:
        """Boolean mask of the points that snapped within the maximum distance."""
        return self.edge >= 0

    def __len__(self) -> int:
        return len(self.edge)


@dataclass
class Network:
    """A walk or drive network in a metric CRS (arrays are index-aligned per node / edge)."""

    mode: Mode
    crs: pyproj.CRS
    node_x: np.ndarray
    node_y: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length_m: np.ndarray
    edge_time_s: np.ndarray
    edge_forward: np.ndarray
    edge_backward: np.ndarray
    edge_class: np.ndarray
    edge_geometry: np.ndarray
    edge_source_row: np.ndarray
    summary: dict = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        return len(self.node_x)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)

    def arcs(self, weight: Weight = "length_m", reverse: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Directed arcs ``(tail, head, weight)`` of every traversable edge direction.

        ``reverse=True`` gives the transposed graph (for "distance *to* the nearest …"
        searches on directed drive graphs).
        """
        w = self._weights(weight)
        fwd, bwd = (self.edge_backward, self.edge_forward) if reverse else (self.edge_forward, self.edge_backward)
        tail = np.concatenate([self.edge_u[fwd], self.edge_v[bwd]])
        head = np.concatenate([self.edge_v[fwd], self.edge_u[bwd]])
        return tail, head, np.concatenate([w[fwd], w[bwd]])

    def _weights(self, weight: Weight) -> np.ndarray:
        if weight == "length_m":
            return self.edge_length_m
        if weight == "time_s":
            return self.edge_time_s
        raise KmgisError(f"unknown network weight {weight!r}; use 'length_m' or 'time_s'")

    def csr(self, weight: Weight = "length_m", reverse: bool = False) -> sp.csr_array:
        """The graph as an (n+1)×(n+1) CSR matrix; row/column ``n`` is a spare super-source slot.

        Parallel arcs are collapsed to the smallest weight; self-loops are dropped.  Cached
        per weight and direction (a Network is not modified after it is built).
        """
        key = ("csr", weight, reverse)
        if key not in self._cache:
            self._cache[key] = self._build_csr(weight, reverse)
        return self._cache[key]

    def edge_tree(self) -> shapely.STRtree:
        """STRtree over the edge geometries (cached), for snapping."""
        if "tree" not in self._cache:
            self._cache["tree"] = shapely.STRtree(self.edge_geometry)
        return self._cache["tree"]

    def _build_csr(self, weight: Weight, reverse: bool) -> sp.csr_array:
        tail, head, w = self.arcs(weight, reverse)
        keep = tail != head
        tail, head, w = tail[keep], head[keep], w[keep]
        order = np.lexsort((w, head, tail))
        tail, head, w = tail[order], head[order], w[order]
        first = np.ones(len(tail), dtype=bool)
        first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
        n = self.n_nodes + 1
        mat = sp.csr_array((w[first], (tail[first], head[first])), shape=(n, n))
        mat.sort_indices()
        return mat

    def edges_gdf(self) -> gpd.GeoDataFrame:
        """The edges as a GeoDataFrame in the network's metric CRS."""
        return gpd.GeoDataFrame(
            {
                "u": self.edge_u,
                "v": self.edge_v,
                "road_class": self.edge_class,
                "length_m": self.edge_length_m,
                "time_s": self.edge_time_s,
                "forward": self.edge_forward,
                "backward": self.edge_backward,
            },
            geometry=self.edge_geometry,
            crs=self.crs,
        )

    def node_degree(self) -> np.ndarray:
        """Undirected street segments at each node; a self-loop counts once (as OSMnx
        ``count_streets_per_node``), parallel edges each count."""
        loop = self.edge_u == self.edge_v
        ends = np.concatenate([self.edge_u[~loop], self.edge_v[~loop], self.edge_u[loop]])
        return np.bincount(ends, minlength=self.n_nodes)

    def nodes_gdf(self) -> gpd.GeoDataFrame:
        """The nodes as a GeoDataFrame of points in the network's metric CRS, with ``degree``
        (:meth:`node_degree`)."""
        return gpd.GeoDataFrame(
            {"degree": self.node_degree()}, geometry=shapely.points(self.node_x, self.node_y), crs=self.crs
        )


# --------------------------------------------------------------------------- building


def _mode_mask(roads: gpd.GeoDataFrame, mode: Mode) -> np.ndarray:
    """Which road rows the mode may use: the row's own flag, else the class default."""
    classes = load_layers_yaml("road_classes")["classes"]
    default = roads["road_class"].map({k: bool(v[mode]) for k, v in classes.items()})
    if default.isna().any():
        bad = sorted(set(roads.loc[default.isna(), "road_class"].astype(str)))
        raise KmgisError(f"roads: unknown road_class value(s) {bad}; expected one of {sorted(classes)}")
    flag = roads[mode] if mode in roads.columns else pd.Series(pd.NA, index=roads.index)
    return flag.astype("boolean").fillna(default.astype(bool)).to_numpy(dtype=bool)


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


def _split_at_touching_ends(lines: np.ndarray, tolerance_m: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Split lines where another line's end point touches their interior (T-junctions).

    Returns the pieces, the source line of each piece and the number of split points.
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
        return lines, np.arange(len(lines)), 0
    splits = pd.DataFrame({"line": line_idx, "pos": np.round(pos, 6)}).drop_duplicates()
    split_line = splits["line"].to_numpy()
    split_pos = splits["pos"].to_numpy()
    split_xy = shapely.get_coordinates(shapely.line_interpolate_point(lines[split_line], split_pos))

    coords, vline = shapely.get_coordinates(lines, return_index=True)
    step = np.r_[0.0, np.hypot(*np.diff(coords, axis=0).T)]
    step[np.r_[True, vline[1:] != vline[:-1]]] = 0.0
    cum = np.cumsum(step)
    cum -= np.repeat(cum[np.r_[0, np.flatnonzero(vline[1:] != vline[:-1]) + 1]], np.bincount(vline))
    # merge vertices and split points of every line in order along the line
    all_line = np.concatenate([vline, split_line])
    all_pos = np.concatenate([cum, split_pos])
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
    snap_tolerance_m : (end-point policy) end points closer than this (m) become one node;
        OSM nodes are joined only where ways share them.
    join_t_junctions : (end-point policy) a line end lying within ``snap_tolerance_m`` of
        another line's interior is a T-junction: that line is split there and joined.  Lines
        that merely cross (no end point on the other) stay unjoined, as bridges do.
    walk_kmh : walking speed, km/h (default from speeds.yaml).
    keep_all_components : keep every component instead of the largest.
    """
    crs = pyproj.CRS.from_user_input(crs)
    if not crs.is_projected:
        raise KmgisError(f"network CRS must be projected (metres), got {crs.to_string()}")
    if mode not in ("walk", "drive"):
        raise KmgisError(f"unknown network mode {mode!r}; use 'walk' or 'drive'")
    if len(roads) == 0:
        raise KmgisError("roads layer is empty: no network can be built (check the clip area and the source)")
    speeds = load_layers_yaml("speeds")
    walk_kmh = float(walk_kmh or speeds["walk_kmh"])
    if walk_kmh <= 0:
        raise KmgisError(f"walking speed must be positive, got {walk_kmh} km/h")

    usable = roads.loc[_mode_mask(roads, mode)]
    if len(usable) == 0:
        raise KmgisError(f"roads layer has no {mode}able roads")
    if node_policy == "auto":
        has_osm = "osm_id" in usable.columns and usable["osm_id"].notna().any()
        node_policy = "shared_vertices" if has_osm else "endpoints"
    geoms = usable.geometry.to_crs(crs)
    parts = geoms.explode(index_parts=False)
    row_of_part = np.asarray(pd.Index(usable.index).get_indexer(parts.index))
    lines = parts.to_numpy()
    nonempty = ~shapely.is_empty(lines)
    lines, row_of_part = lines[nonempty], row_of_part[nonempty]
    t_joined = 0
    end_keys = None
    if node_policy == "shared_vertices":
        vertex_ids = _osm_vertex_ids(usable.iloc[row_of_part], lines)
        pieces, line_of_piece, end_keys = _split_at_shared_vertices(lines, vertex_ids)
    elif join_t_junctions and snap_tolerance_m > 0:
        pieces, line_of_piece, t_joined = _split_at_touching_ends(lines, snap_tolerance_m)
    else:
        pieces, line_of_piece = lines, np.arange(len(lines))
    src = row_of_part[line_of_piece]
    n_pieces = len(pieces)

    ends = np.vstack(
        [shapely.get_coordinates(shapely.get_point(pieces, 0)), shapely.get_coordinates(shapely.get_point(pieces, -1))]
    )
    # OSM topology is explicit (shared node ids → identical coordinates): never merge distinct
    # OSM nodes that merely lie close together; user layers join end points within the tolerance
    cluster_m = 0.0 if node_policy == "shared_vertices" else snap_tolerance_m
    if end_keys is not None:  # OSM node ids: one node per id, wherever it lies
        _, first_at, node_of_end = np.unique(end_keys, return_index=True, return_inverse=True)
        node_xy = ends[first_at]
    else:
        node_of_end, node_xy = _cluster_endpoints(ends, cluster_m)
    u, v = node_of_end[:n_pieces], node_of_end[n_pieces:]
    length = shapely.length(pieces)

    rows = usable.iloc[src]
    road_class = rows["road_class"].to_numpy(dtype=object)
    if mode == "walk":
        time_s = length / (walk_kmh / 3.6)
        fwd = np.ones(n_pieces, dtype=bool)
        bwd = fwd.copy()
    else:
        class_kmh = pd.Series(road_class).map(speeds["drive_kmh"]).to_numpy(dtype=float)
        maxspeed = rows["maxspeed_kmh"].to_numpy(dtype=float) if "maxspeed_kmh" in rows else np.full(n_pieces, np.nan)
        kmh = np.where(np.isfinite(maxspeed) & (maxspeed > 0), maxspeed, class_kmh)
        if not np.all(np.isfinite(kmh) & (kmh > 0)):
            raise KmgisError("speeds.yaml: every drivable road class needs a positive drive_kmh")
        time_s = length / (kmh / 3.6)
        oneway = rows["oneway"].astype("Int8").fillna(0).to_numpy() if "oneway" in rows else np.zeros(n_pieces)
        fwd = oneway != -1
        bwd = oneway != 1

    net = Network(
        mode=mode,
        crs=crs,
        node_x=node_xy[:, 0],
        node_y=node_xy[:, 1],
        edge_u=u.astype(np.int64),
        edge_v=v.astype(np.int64),
        edge_length_m=length,
        edge_time_s=time_s,
        edge_forward=fwd,
        edge_backward=bwd,
        edge_class=road_class,
        edge_geometry=pieces,
        edge_source_row=np.asarray(usable.index[src]),
    )
    summary = {
        "mode": mode,
        "crs": crs.to_string(),
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


def summary_by_class(net: Network) -> pd.DataFrame:
    """Edge count and length (km) per road class, in class order of ``road_classes.yaml``."""
    order = list(load_layers_yaml("road_classes")["classes"])
    df = pd.DataFrame({"road_class": net.edge_class, "length_km": net.edge_length_m / 1000})
    out = df.groupby("road_class").agg(edges=("length_km", "size"), length_km=("length_km", "sum"))
    out = out.reindex([c for c in order if c in out.index])
    out["length_km"] = out["length_km"].round(3)
    return out.reset_index()


# --------------------------------------------------------------------------- snapping and search


def _as_metric_xy(points: gpd.GeoSeries | gpd.GeoDataFrame | np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    if isinstance(points, gpd.GeoDataFrame):
        points = points.geometry
    if isinstance(points, gpd.GeoSeries):
        if points.crs is None:
            raise KmgisError("points have no CRS; cannot place them on the network")
        geom = points.to_crs(crs)
        if len(geom) and not (geom.geom_type == "Point").all():
            geom = geom.representative_point()
        return shapely.get_coordinates(geom.to_numpy())
    xy = np.asarray(points, dtype=float)
    return xy.reshape(-1, 2)


def snap_points(
    net: Network, points: gpd.GeoSeries | gpd.GeoDataFrame | np.ndarray, max_snap_m: float = DEFAULT_MAX_SNAP_M
) -> Snapped:
    """Snap points to the nearest point on the nearest edge, at most ``max_snap_m`` away.

    ``points``: a GeoSeries/GeoDataFrame in any CRS (non-points use a representative
    point), or an (n, 2) array of x/y already in the network CRS (metres).
    """
    xy = np.ascontiguousarray(_as_metric_xy(points, net.crs), dtype=float)
    key = ("snap", hashlib.blake2b(xy.tobytes(), digest_size=16).hexdigest(), float(max_snap_m))
    cached = net._cache.get(key)
    if cached is None:
        cached = _snap_xy(net, xy, max_snap_m)
        snaps = [k for k in net._cache if k[0] == "snap"]
        if len(snaps) >= 8:  # keep the few most recent point sets (residents, access points, …)
            del net._cache[snaps[0]]
        net._cache[key] = cached
    return cached


def _snap_xy(net: Network, xy: np.ndarray, max_snap_m: float) -> Snapped:
    """Nearest point on the nearest edge: candidates within a short radius in one bulk query
    (exact distances, ties to the lowest edge index), ``query_nearest`` for the rest."""
    n = len(xy)
    edge = np.full(n, -1, dtype=np.int64)
    pos = np.full(n, np.nan)
    dist = np.full(n, np.nan)
    if n == 0:
        return Snapped(edge, pos, dist, max_snap_m)
    pts = shapely.points(xy)
    tree = net.edge_tree()
    radius = min(float(max_snap_m), _SNAP_PREFETCH_M)
    src, hit = tree.query(pts, predicate="dwithin", distance=radius)
    if len(src):
        d = shapely.distance(pts[src], net.edge_geometry[hit])
        order = np.lexsort((hit, d, src))
        first = order[np.r_[True, src[order][1:] != src[order][:-1]]]
        edge[src[first]] = hit[first]
        dist[src[first]] = d[first]
    rest = np.flatnonzero(edge < 0)
    if len(rest) and max_snap_m > radius:
        (i, h), d = tree.query_nearest(pts[rest], max_distance=max_snap_m, return_distance=True, all_matches=False)
        edge[rest[i]] = h
        dist[rest[i]] = d
    ok = np.flatnonzero(edge >= 0)
    pos[ok] = shapely.line_locate_point(net.edge_geometry[edge[ok]], pts[ok])
    return Snapped(edge, pos, dist, max_snap_m)


def snap_nodes(net: Network, nodes: np.ndarray | list[int]) -> Snapped:
    """Place points exactly on network nodes (snap distance 0), e.g. facilities at junctions."""
    nodes = np.asarray(nodes, dtype=np.int64)
    if len(nodes) and (nodes.min() < 0 or nodes.max() >= net.n_nodes):
        raise KmgisError(f"node index out of range 0..{net.n_nodes - 1}")
    order = np.arange(net.n_edges)[::-1]  # written last-to-first so the first incident edge wins
    edge_as_u = np.full(net.n_nodes, -1, dtype=np.int64)
    edge_as_u[net.edge_u[::-1]] = order
    edge_as_v = np.full(net.n_nodes, -1, dtype=np.int64)
    edge_as_v[net.edge_v[::-1]] = order
    use_u = edge_as_u[nodes] >= 0
    edge = np.where(use_u, edge_as_u[nodes], edge_as_v[nodes])
    pos = np.where(use_u, 0.0, net.edge_length_m[edge])
    return Snapped(edge, pos, np.zeros(len(nodes)), 0.0)


def _offset_weight(net: Network, edge: np.ndarray, metres: np.ndarray, weight: Weight) -> np.ndarray:
    """Convert along-edge metres into the weight unit of ``edge`` (seconds for time)."""
    if weight == "length_m":
        return metres
    rate = net.edge_time_s[edge] / np.maximum(net.edge_length_m[edge], _MIN_WEIGHT)
    return metres * rate


def node_distances(
    net: Network,
    sources: Snapped,
    *,
    weight: Weight = "length_m",
    cutoff: float = np.inf,
    reverse: bool = False,
) -> np.ndarray:
    """Distance (weight units: m or s) from the nearest source point to every node.

    One Dijkstra from a virtual super-source joined to both ends of each source's edge
    (offset = snap distance + distance along the edge, only in traversable directions).
    ``reverse=True`` measures from every node *to* the nearest source (directed graphs).
    Nodes beyond ``cutoff`` get ``inf``.
    """
    return _search(net, sources, weight, cutoff, reverse)[0]


def _search(
    net: Network, sources: Snapped, weight: Weight, cutoff: float, reverse: bool, predecessors: bool = False
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(node distances, node predecessors (``n`` = the super-source, < 0 unreached) or None,
    metres from the source point to each node the super-source joins directly (NaN elsewhere))."""
    fwd, bwd = (net.edge_backward, net.edge_forward) if reverse else (net.edge_forward, net.edge_backward)
    ok = sources.reached
    e, p, s = sources.edge[ok], sources.pos_m[ok], sources.snap_m[ok]
    n = net.n_nodes
    first_m = np.full(n, np.nan)
    if len(e) == 0:
        return np.full(n, np.inf), (np.full(n, -9999) if predecessors else None), first_m
    length = net.edge_length_m[e]
    snap_w = _offset_weight(net, e, s, weight)
    # from the source point to the u end travels the edge backwards, to v forwards
    # (a point exactly at an end needs no travel, whatever the edge's direction)
    to_u = bwd[e] | (p == 0)
    to_v = fwd[e] | (p == length)
    heads = np.concatenate([net.edge_u[e][to_u], net.edge_v[e][to_v]])
    w = np.concatenate(
        [
            snap_w[to_u] + _offset_weight(net, e[to_u], p[to_u], weight),
            snap_w[to_v] + _offset_weight(net, e[to_v], (length - p)[to_v], weight),
        ]
    )
    metres = np.concatenate([(s + p)[to_u], (s + length - p)[to_v]])
    keep = w <= cutoff
    heads, w, metres = heads[keep], w[keep], metres[keep]
    base = net.csr(weight, reverse)
    # collapse duplicate super arcs to their minimum
    order = np.lexsort((w, heads))
    heads, w, metres = heads[order], w[order], metres[order]
    first = np.r_[True, heads[1:] != heads[:-1]] if len(heads) else np.zeros(0, dtype=bool)
    heads, w, metres = heads[first], w[first], metres[first]
    first_m[heads] = metres
    indptr = base.indptr.copy()
    indptr[-1] += len(heads)
    graph = sp.csr_array(
        (np.concatenate([base.data, w]), np.concatenate([base.indices, heads]), indptr), shape=base.shape
    )
    if predecessors:
        dist, pred = dijkstra(graph, directed=True, indices=n, limit=cutoff, return_predecessors=True)
        return dist[:n], pred[:n].astype(np.int64), first_m  # scipy gives int32: keys below need 64 bits
    return dijkstra(graph, directed=True, indices=n, limit=cutoff)[:n], None, first_m


def node_route_lengths_m(
    net: Network, sources: Snapped, *, weight: Weight = "time_s", cutoff: float = np.inf, reverse: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(cost, metres)`` per node: :func:`node_distances` by ``weight``, and the length in
    metres of that least-cost path (snap distance and along-edge offset of the source included).

    The length is summed along Dijkstra's shortest-path tree (predecessors), parallel arcs
    taken at their least ``weight`` as in the search; unreached nodes get ``inf`` / NaN.
    Vectorised: the per-node arc lengths are accumulated by pointer jumping (log₂ depth
    passes), with no loop over nodes.
    """
    n = net.n_nodes
    cost, pred, first_m = _search(net, sources, weight, cutoff, reverse, predecessors=True)
    tail, head, w = net.arcs(weight, reverse)
    arc_m = net.arcs("length_m", reverse)[2]
    order = np.lexsort((w, head, tail))  # per (tail, head): the least-weight arc first, as in the CSR
    key = tail[order] * (n + 1) + head[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=bool)
    key, arc_m = key[first], arc_m[order][first]
    step = np.full(n + 1, np.nan)
    step[n] = 0.0
    root = n
    parent = np.full(n + 1, root)
    from_root = pred == root
    step[:n][from_root] = first_m[from_root]
    inner = np.flatnonzero((pred >= 0) & (pred < root))
    at = np.searchsorted(key, pred[inner] * (n + 1) + inner)
    step[inner] = arc_m[at]
    parent[inner] = pred[inner]
    metres = step.copy()
    while (parent != root).any():  # pointer jumping: after k passes each node holds 2**k steps
        metres = metres + np.where(parent != root, metres[parent], 0.0)
        parent = parent[parent]
    return cost, metres[:n]


def point_route_lengths_m(
    net: Network,
    node_cost: np.ndarray,
    node_m: np.ndarray,
    targets: Snapped,
    *,
    sources: Snapped | None = None,
    weight: Weight = "time_s",
    cutoff: float = np.inf,
    reverse: bool = False,
) -> np.ndarray:
    """Metres of the least-cost route to each snapped target, from :func:`node_route_lengths_m`
    output (``node_cost``, ``node_m``): the route :func:`point_distances` would cost, both
    snaps included.  Unreached targets, and those beyond ``cutoff``, get NaN."""
    fwd, bwd = (net.edge_backward, net.edge_forward) if reverse else (net.edge_forward, net.edge_backward)
    metres = np.full(len(targets), np.nan)
    ok = targets.reached
    e, q, s = targets.edge[ok], targets.pos_m[ok], targets.snap_m[ok]
    if len(e):
        length = net.edge_length_m[e]
        via_u, via_v = _via_edge_ends(net, node_cost, e, q, weight, fwd, bwd)
        options_w = [via_u, via_v]
        options_m = [node_m[net.edge_u[e]] + q + s, node_m[net.edge_v[e]] + length - q + s]
        if sources is not None:
            options_w.append(_same_edge_distances(net, targets, sources, weight, fwd, bwd)[ok] - _offset_weight(net, e, s, weight))
            options_m.append(_same_edge_distances(net, targets, sources, "length_m", fwd, bwd)[ok])  # same edge, same rate
        options_w, options_m = np.column_stack(options_w), np.column_stack(options_m)
        best = np.argmin(options_w, axis=1)
        rows = np.arange(len(e))
        cost = options_w[rows, best] + _offset_weight(net, e, s, weight)
        metres[ok] = np.where(cost <= cutoff, options_m[rows, best], np.nan)
    return metres


def point_distances(
    net: Network,
    node_dist: np.ndarray,
    targets: Snapped,
    *,
    sources: Snapped | None = None,
    weight: Weight = "length_m",
    cutoff: float = np.inf,
    reverse: bool = False,
) -> np.ndarray:
    """Distance (m or s) for each snapped target point, from :func:`node_distances` output.

    Adds the target's own snap distance and along-edge offset; when ``sources`` is given,
    a source on the same edge as a target is also reached directly along that edge.
    Unsnapped targets and those beyond ``cutoff`` get ``inf``.
    """
    fwd, bwd = (net.edge_backward, net.edge_forward) if reverse else (net.edge_forward, net.edge_backward)
    out = np.full(len(targets), np.inf)
    ok = targets.reached
    e, q, s = targets.edge[ok], targets.pos_m[ok], targets.snap_m[ok]
    if len(e):
        via_u, via_v = _via_edge_ends(net, node_dist, e, q, weight, fwd, bwd)
        out[ok] = np.minimum(via_u, via_v) + _offset_weight(net, e, s, weight)
    if sources is not None and len(e):
        out = np.minimum(out, _same_edge_distances(net, targets, sources, weight, fwd, bwd))
    out[out > cutoff] = np.inf
    return out


def _via_edge_ends(
    net: Network, node_dist: np.ndarray, e: np.ndarray, q: np.ndarray, weight: Weight, fwd: np.ndarray,
    bwd: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Cost of arriving at position ``q`` (m from u) on edge ``e`` through its u end and
    through its v end (``inf`` where the edge may not be driven that way)."""
    length = net.edge_length_m[e]
    via_u = np.where(fwd[e] | (q == 0), node_dist[net.edge_u[e]] + _offset_weight(net, e, q, weight), np.inf)
    via_v = np.where(bwd[e] | (q == length), node_dist[net.edge_v[e]] + _offset_weight(net, e, length - q, weight),
                     np.inf)
    return via_u, via_v


def _same_edge_distances(
    net: Network, targets: Snapped, sources: Snapped, weight: Weight, fwd: np.ndarray, bwd: np.ndarray
) -> np.ndarray:
    """Direct along-edge distance between targets and sources snapped to the same edge."""
    out = np.full(len(targets), np.inf)
    t = pd.DataFrame({"edge": targets.edge, "q": targets.pos_m, "ts": targets.snap_m})
    t = t[t["edge"] >= 0].reset_index(names="target")
    s = pd.DataFrame({"edge": sources.edge, "p": sources.pos_m, "ss": sources.snap_m})
    s = s[s["edge"] >= 0]
    pairs = t.merge(s, on="edge")
    if pairs.empty:
        return out
    edge = pairs["edge"].to_numpy()
    delta = pairs["q"].to_numpy() - pairs["p"].to_numpy()
    allowed = np.where(delta >= 0, fwd[edge], bwd[edge])
    d = _offset_weight(net, edge, np.abs(delta) + pairs["ts"].to_numpy() + pairs["ss"].to_numpy(), weight)
    d = np.where(allowed, d, np.inf)
    best = pd.Series(d).groupby(pairs["target"].to_numpy()).min()
    out[best.index.to_numpy()] = best.to_numpy()
    return out


def nearest_distance(
    net: Network,
    origins: gpd.GeoSeries | gpd.GeoDataFrame | np.ndarray | Snapped,
    facilities: gpd.GeoSeries | gpd.GeoDataFrame | np.ndarray | Snapped,
    *,
    cutoff: float = np.inf,
    weight: Weight = "length_m",
    max_snap_m: float = DEFAULT_MAX_SNAP_M,
) -> np.ndarray:
    """Network distance (m, or s for ``weight="time_s"``) from each origin to its nearest facility.

    One multi-source search over the whole graph.  Origins or facilities that do not snap
    within ``max_snap_m`` and origins with no facility within ``cutoff`` get ``inf``.
    """
    targets = origins if isinstance(origins, Snapped) else snap_points(net, origins, max_snap_m)
    sources = facilities if isinstance(facilities, Snapped) else snap_points(net, facilities, max_snap_m)
    reverse = net.mode == "drive"
    dist = node_distances(net, sources, weight=weight, cutoff=cutoff, reverse=reverse)
    return point_distances(net, dist, targets, sources=sources, weight=weight, cutoff=cutoff, reverse=reverse)


def reached_edges(net: Network, node_dist: np.ndarray, budget: float, *, weight: Weight = "length_m") -> pd.DataFrame:
    """Edges reached within ``budget`` (m or s) given :func:`node_distances` from an origin.

    Columns: ``edge``, ``from_u_m`` / ``from_v_m`` (metres of the edge reached from its u /
    v end, clipped to the edge length), ``full`` (the whole edge is reached).  Only edges
    with some reached part are listed.  Drive one-ways are only entered in their direction.
    """
    w = net._weights(weight)
    length = net.edge_length_m
    rate = length / np.maximum(w, _MIN_WEIGHT)  # metres per weight unit
    left_u = np.where(net.edge_forward, budget - node_dist[net.edge_u], -np.inf)
    left_v = np.where(net.edge_backward, budget - node_dist[net.edge_v], -np.inf)
    from_u = np.clip(left_u * rate, 0, length)
    from_v = np.clip(left_v * rate, 0, length)
    some = (left_u >= 0) | (left_v >= 0)
    full = (from_u + from_v) >= length
    idx = np.flatnonzero(some)
    return pd.DataFrame(
        {"edge": idx, "from_u_m": from_u[idx], "from_v_m": from_v[idx], "full": full[idx]}
    )
