"""Multi-source shortest paths on a :class:`~kmgis.network.graph.Network`.

Nearest-facility search is one Dijkstra (``scipy.sparse.csgraph.dijkstra``) from a virtual
super-source joined to both ends of every source's edge with its snap distance and
along-edge offset.  Costs are in the weight's unit: metres (``length_m``) or seconds
(``time_s``).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from kmgis.network.graph import Network, Weight
from kmgis.network.snap import DEFAULT_MAX_SNAP_M, Snapped, snap_points

_MIN_WEIGHT = 1e-9  # guards divisions by zero-length edges (explicit zeros stay arcs in csgraph)


# --------------------------------------------------------------------------- primitives


def _directions(net: Network, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(forward, backward)`` edge masks of the graph searched (swapped for the transposed graph)."""
    return (net.edge_backward, net.edge_forward) if reverse else (net.edge_forward, net.edge_backward)


def _offset_weight(net: Network, edge: np.ndarray, metres: np.ndarray, weight: Weight) -> np.ndarray:
    """Convert along-edge metres into the weight unit of ``edge`` (seconds for time)."""
    if weight == "length_m":
        return metres
    rate = net.edge_time_s[edge] / np.maximum(net.edge_length_m[edge], _MIN_WEIGHT)
    return metres * rate


def _super_source_arcs(
    net: Network, sources: Snapped, weight: Weight, cutoff: float, reverse: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arcs from the virtual super-source to the edge ends of the reached ``sources``.

    Returns ``(head node, weight, metres)`` per arc: one arc per head node (the least
    weight), only arcs within ``cutoff``, sorted by head.  An arc costs the snap distance
    plus the along-edge offset, only in the edge's traversable directions (a point exactly
    at an end needs no travel, whatever the edge's direction).
    """
    fwd, bwd = _directions(net, reverse)
    ok = sources.reached
    e, p, s = sources.edge[ok], sources.pos_m[ok], sources.snap_m[ok]
    length = net.edge_length_m[e]
    snap_w = _offset_weight(net, e, s, weight)
    # from the source point to the u end travels the edge backwards, to v forwards
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
    # collapse duplicate super arcs to their minimum
    order = np.lexsort((w, heads))
    heads, w, metres = heads[order], w[order], metres[order]
    first = np.r_[True, heads[1:] != heads[:-1]] if len(heads) else np.zeros(0, dtype=bool)
    return heads[first], w[first], metres[first]


def _with_super_source(base: sp.csr_array, heads: np.ndarray, weight: np.ndarray) -> sp.csr_array:
    """``base`` with arcs from its last row (the spare super-source slot) to ``heads``."""
    indptr = base.indptr.copy()
    indptr[-1] += len(heads)
    return sp.csr_array(
        (np.concatenate([base.data, weight]), np.concatenate([base.indices, heads]), indptr), shape=base.shape
    )


def _search(
    net: Network, sources: Snapped, weight: Weight, cutoff: float, reverse: bool, predecessors: bool = False
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """One Dijkstra from the super-source of ``sources``.

    Returns (node distances, node predecessors (``n`` = the super-source, < 0 unreached)
    or None, metres from the source point to each node the super-source joins directly
    (NaN elsewhere)).
    """
    n = net.n_nodes
    first_m = np.full(n, np.nan)
    if not sources.reached.any():
        return np.full(n, np.inf), (np.full(n, -9999) if predecessors else None), first_m
    heads, w, metres = _super_source_arcs(net, sources, weight, cutoff, reverse)
    first_m[heads] = metres
    graph = _with_super_source(net.csr(weight, reverse), heads, w)
    if predecessors:
        dist, pred = dijkstra(graph, directed=True, indices=n, limit=cutoff, return_predecessors=True)
        return dist[:n], pred[:n].astype(np.int64), first_m  # scipy gives int32: keys below need 64 bits
    return dijkstra(graph, directed=True, indices=n, limit=cutoff)[:n], None, first_m


def _least_arc_metres(net: Network, weight: Weight, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per (tail, head) pair, the length (m) of its least-``weight`` arc, as in the CSR.

    Returns sorted keys ``tail * (n + 1) + head`` and the metres of each.
    """
    n = net.n_nodes
    tail, head, w = net.arcs(weight, reverse)
    arc_m = net.arcs("length_m", reverse)[2]
    order = np.lexsort((w, head, tail))  # per (tail, head): the least-weight arc first, as in the CSR
    key = tail[order] * (n + 1) + head[order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=bool)
    return key[first], arc_m[order][first]


def _sum_to_root(step: np.ndarray, parent: np.ndarray, root: int) -> np.ndarray:
    """Sum of ``step`` along each node's path to ``root`` in a tree (``parent`` per node).

    Pointer jumping: after k passes each node holds 2**k steps, so log₂ depth passes and
    no loop over nodes.
    """
    total = step.copy()
    while (parent != root).any():
        total = total + np.where(parent != root, total[parent], 0.0)
        parent = parent[parent]
    return total


def _via_edge_ends(
    net: Network, node_dist: np.ndarray, e: np.ndarray, q: np.ndarray, weight: Weight, fwd: np.ndarray,
    bwd: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Cost of arriving at position ``q`` (m from u) on edge ``e`` through its u end and
    through its v end (``inf`` where the edge may not be driven that way)."""
    length = net.edge_length_m[e]
    via_u = np.where(fwd[e] | (q == 0), node_dist[net.edge_u[e]] + _offset_weight(net, e, q, weight), np.inf)
    via_v = np.where(
        bwd[e] | (q == length), node_dist[net.edge_v[e]] + _offset_weight(net, e, length - q, weight), np.inf
    )
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


# --------------------------------------------------------------------------- public


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

    Parameters
    ----------
    net : the network.
    sources : the snapped source points (unreached ones are ignored).
    weight : ``"length_m"`` (m) or ``"time_s"`` (s).
    cutoff : nodes beyond this cost (m or s) get ``inf``.
    reverse : measure from every node *to* the nearest source (directed graphs).
    """
    return _search(net, sources, weight, cutoff, reverse)[0]


def node_route_lengths_m(
    net: Network,
    sources: Snapped,
    *,
    weight: Weight = "time_s",
    cutoff: float = np.inf,
    reverse: bool = False,
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
    key, arc_m = _least_arc_metres(net, weight, reverse)
    step = np.full(n + 1, np.nan)  # metres from each node's tree parent (the super-source is node n)
    step[n] = 0.0
    root = n
    parent = np.full(n + 1, root)
    from_root = pred == root
    step[:n][from_root] = first_m[from_root]
    inner = np.flatnonzero((pred >= 0) & (pred < root))
    at = np.searchsorted(key, pred[inner] * (n + 1) + inner)
    step[inner] = arc_m[at]
    parent[inner] = pred[inner]
    return cost, _sum_to_root(step, parent, root)[:n]


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
    fwd, bwd = _directions(net, reverse)
    metres = np.full(len(targets), np.nan)
    ok = targets.reached
    e, q, s = targets.edge[ok], targets.pos_m[ok], targets.snap_m[ok]
    if len(e):
        length = net.edge_length_m[e]
        via_u, via_v = _via_edge_ends(net, node_cost, e, q, weight, fwd, bwd)
        options_w = [via_u, via_v]
        options_m = [node_m[net.edge_u[e]] + q + s, node_m[net.edge_v[e]] + length - q + s]
        if sources is not None:
            same_w = _same_edge_distances(net, targets, sources, weight, fwd, bwd)[ok]
            options_w.append(same_w - _offset_weight(net, e, s, weight))
            # same edge, same rate: the metres of the same route
            options_m.append(_same_edge_distances(net, targets, sources, "length_m", fwd, bwd)[ok])
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
    fwd, bwd = _directions(net, reverse)
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

    One multi-source search over the whole graph (on drive graphs, towards the facilities).

    Parameters
    ----------
    net : the network.
    origins, facilities : points (see :func:`~kmgis.network.snap.snap_points`) or already snapped.
    cutoff : origins with no facility within this cost (m or s) get ``inf``.
    weight : ``"length_m"`` (m) or ``"time_s"`` (s).
    max_snap_m : maximum snap distance, m; origins or facilities farther from every edge
        get ``inf`` / are ignored.
    """
    targets = origins if isinstance(origins, Snapped) else snap_points(net, origins, max_snap_m)
    sources = facilities if isinstance(facilities, Snapped) else snap_points(net, facilities, max_snap_m)
    reverse = net.mode == "drive"
    dist = node_distances(net, sources, weight=weight, cutoff=cutoff, reverse=reverse)
    return point_distances(net, dist, targets, sources=sources, weight=weight, cutoff=cutoff, reverse=reverse)


def reached_edges(
    net: Network, node_dist: np.ndarray, budget: float, *, weight: Weight = "length_m"
) -> pd.DataFrame:
    """Edges reached within ``budget`` (m or s) given :func:`node_distances` from an origin.

    Drive one-ways are only entered in their direction.

    Returns
    -------
    DataFrame
        Only edges with some reached part: ``edge``, ``from_u_m`` / ``from_v_m`` (metres of
        the edge reached from its u / v end, clipped to the edge length), ``full`` (the
        whole edge is reached).
    """
    w = net.weights(weight)
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
