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
* **Search**: points snap to the nearest point on the nearest edge (a KD-tree of short edge pieces, exact GEOS-equal distances) within a
  maximum snap distance; the snap distance is added to the path.  Nearest-facility search
  is one multi-source Dijkstra (``scipy.sparse.csgraph.dijkstra``) from a virtual
  super-source joined to every facility's edge ends with its along-edge offsets.

Modules: :mod:`~kmgis.network.graph` (:class:`Network`, CSR), :mod:`~kmgis.network.build`
(:func:`build_network` and its steps; the package YAML is read in :func:`road_rules` only),
:mod:`~kmgis.network.snap` (:func:`snap_points`, :func:`snap_nodes`) and
:mod:`~kmgis.network.search` (distances, route lengths, reached edges).  Everything public
is importable from ``kmgis.network``.
"""

from __future__ import annotations

from kmgis.network.build import NodePolicy, RoadRules, build_network, road_rules, summary_by_class
from kmgis.network.graph import Mode, Network, Weight, csr_matrix
from kmgis.network.search import (
    nearest_distance,
    node_distances,
    node_route_lengths_m,
    point_distances,
    point_route_lengths_m,
    reached_edges,
)
from kmgis.network.snap import DEFAULT_MAX_SNAP_M, Snapped, snap_nodes, snap_points

__all__ = [
    "DEFAULT_MAX_SNAP_M",
    "Mode",
    "Network",
    "NodePolicy",
    "RoadRules",
    "Snapped",
    "Weight",
    "build_network",
    "csr_matrix",
    "nearest_distance",
    "node_distances",
    "node_route_lengths_m",
    "point_distances",
    "point_route_lengths_m",
    "reached_edges",
    "road_rules",
    "snap_nodes",
    "snap_points",
    "summary_by_class",
]
