"""The :class:`Network`: nodes and edges in a metric CRS, and its CSR matrices.

Node coordinates and lengths are metres, travel times seconds.  A Network is not modified
after it is built, so derived structures (CSR matrices, the edge STRtree, snapped point
sets) are cached on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pyproj
import scipy.sparse as sp
import shapely

from kmgis.errors import KmgisError

Mode = Literal["walk", "drive"]
Weight = Literal["length_m", "time_s"]


@dataclass
class Network:
    """A walk or drive network in a metric CRS (arrays are index-aligned per node / edge).

    Attributes
    ----------
    mode : ``"walk"`` (undirected) or ``"drive"`` (one-ways respected).
    crs : the projected metric CRS of every coordinate and length.
    node_x, node_y : node coordinates, m.
    edge_u, edge_v : node index of each edge's first / last vertex.
    edge_length_m : edge length, m.
    edge_time_s : edge travel time, s.
    edge_forward, edge_backward : the edge may be travelled u → v / v → u.
    edge_class : GB/T 51328 road class of each edge.
    edge_geometry : LineString of each edge (metric CRS).
    edge_source_row : index label of the ``roads`` row each edge came from.
    summary : how the network was built (counts, dropped components, parameters).
    """

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
        """Number of nodes."""
        return len(self.node_x)

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return len(self.edge_u)

    def arcs(
        self, weight: Weight = "length_m", reverse: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Directed arcs ``(tail, head, weight)`` of every traversable edge direction.

        Parameters
        ----------
        weight : ``"length_m"`` (m) or ``"time_s"`` (s).
        reverse : the transposed graph (for "distance *to* the nearest …" searches on
            directed drive graphs).
        """
        w = self.weights(weight)
        fwd, bwd = self.edge_forward, self.edge_backward
        if reverse:
            fwd, bwd = bwd, fwd
        tail = np.concatenate([self.edge_u[fwd], self.edge_v[bwd]])
        head = np.concatenate([self.edge_v[fwd], self.edge_u[bwd]])
        return tail, head, np.concatenate([w[fwd], w[bwd]])

    def weights(self, weight: Weight) -> np.ndarray:
        """Per-edge weight: lengths (m) for ``"length_m"``, travel times (s) for ``"time_s"``."""
        if weight == "length_m":
            return self.edge_length_m
        if weight == "time_s":
            return self.edge_time_s
        raise KmgisError(f"unknown network weight {weight!r}; use 'length_m' or 'time_s'")

    _weights = weights  # the former private name

    def csr(self, weight: Weight = "length_m", reverse: bool = False) -> sp.csr_array:
        """The graph as an (n+1)×(n+1) CSR matrix; row/column ``n`` is a spare super-source slot.

        Parallel arcs are collapsed to the smallest weight; self-loops are dropped.  Cached
        per weight and direction (a Network is not modified after it is built).
        """
        key = ("csr", weight, reverse)
        if key not in self._cache:
            self._cache[key] = csr_matrix(*self.arcs(weight, reverse), self.n_nodes + 1)
        return self._cache[key]

    def edge_tree(self) -> shapely.STRtree:
        """STRtree over the edge geometries (cached), for snapping."""
        if "tree" not in self._cache:
            self._cache["tree"] = shapely.STRtree(self.edge_geometry)
        return self._cache["tree"]

    def edges_gdf(self) -> gpd.GeoDataFrame:
        """The edges as a GeoDataFrame in the network's metric CRS (``length_m`` in m, ``time_s`` in s)."""
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


def csr_matrix(tail: np.ndarray, head: np.ndarray, weight: np.ndarray, n: int) -> sp.csr_array:
    """An n×n CSR matrix of directed arcs, parallel arcs collapsed to the smallest weight.

    ``coo → csr`` would *sum* parallel arcs and silently lengthen paths; self-loops are
    dropped.  Indices are sorted.

    Parameters
    ----------
    tail, head : node index of each arc's start / end.
    weight : arc weight (m or s).
    n : matrix size (number of nodes, plus one for a super-source slot).
    """
    keep = tail != head
    tail, head, weight = tail[keep], head[keep], weight[keep]
    order = np.lexsort((weight, head, tail))
    tail, head, weight = tail[order], head[order], weight[order]
    first = np.ones(len(tail), dtype=bool)
    first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    mat = sp.csr_array((weight[first], (tail[first], head[first])), shape=(n, n))
    mat.sort_indices()
    return mat
