"""Snapping residents onto the walk network: the previous ``snap_points`` against today's.

    python -m benchmarks.snapping [--data DIR] [--repeats 5]

The walk network and resident points of the central city (5 units + 2 km halo, as
``kmgis run recipes/central-city.yaml`` makes them; ~96,000 points) and of Jinning (one
county, ``recipes/jinning.yaml``).  Each resident is placed at the nearest point of the
nearest edge within 250 m (``snap_points``' default):

* **previous**: :func:`previous_snap_xy`, a copy of the implementation this benchmark
  replaced (kept here only, to time against in the same run): one bulk
  ``STRtree.query(predicate="dwithin", distance=60)``, exact ``shapely.distance`` on the
  candidate pairs, ``query_nearest`` for the points with no edge within 60 m, then
  ``line_locate_point``.  Its index is the edge STRtree (``Network.edge_tree``);
* **today**: ``kmgis.network.snap._snap_xy``: the edges exploded once into straight segments
  (cached on the network) and a KD-tree of their ≤ 50 m pieces' midpoints; the exact
  point-to-segment distances and along-edge positions in numpy (GEOS's formulas).

Timed apart: the index build (on a cache-free copy of the network) and the snap itself
(index already built); the sum is what the first ``snap_points`` on a network costs.  Then
1 and 1,000 random residents on a fresh network, where today's code snaps through GEOS (the
previous method, with every equally near edge from ``query_nearest`` and the lowest index) to
spare the index build.
Median of ``--repeats`` runs after one warm-up, previous and today alternating.  The
results are compared point by point (edges, snap distances, positions), and both against a
reference (``STRtree.query_nearest(all_matches=True)``, the lowest edge index of exact ties,
``line_locate_point``).  Nothing is asserted.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from benchmarks.common import ROOT, Goal, Section, Timing, fmt_s, fresh, log, md_table, suite_main
from kmgis.config import catalog_entry, load_layers_yaml, load_recipe
from kmgis.crs import metric_crs
from kmgis.geom import with_halo
from kmgis.indicators.builtup import built_up_area
from kmgis.model import WGS84
from kmgis.network import DEFAULT_MAX_SNAP_M, Snapped, build_network
from kmgis.network.snap import (
    _FEW_POINTS,
    _K_NEAR,
    _K_WIDE,
    _PIECE_M,
    _as_metric_xy,
    _nearest_by_knn,
    _segments,
    _snap_xy,
)
from kmgis.population import population_points
from kmgis.sources import load_layer

REPEATS = 5
AREAS = ("central-city", "jinning")
BASELINE_S = 0.571  # benchmarks/RESULTS.md, suite 1 (2026-11-23): snap_points of the central city's residents
PREVIOUS_PREFETCH_M = 60.0  # the previous implementation's bulk candidate radius, m
SMALL_SETS = (1, 1000)  # residents drawn at random (SEED) and snapped on a fresh network
SEED = 42


# --------------------------------------------------------------------------- the previous implementation


def previous_snap_xy(net, xy: np.ndarray, max_snap_m: float) -> Snapped:
    """The PREVIOUS ``kmgis.network.snap._snap_xy`` (before the segment index), kept to time against.

    Nearest point on the nearest edge: candidates within 60 m in one bulk STRtree query
    (exact distances, ties to the lowest edge index), ``query_nearest`` for the rest (ties:
    whichever GEOS returns first), ``line_locate_point`` for the along-edge position (m).
    """
    n = len(xy)
    edge = np.full(n, -1, dtype=np.int64)
    pos = np.full(n, np.nan)
    dist = np.full(n, np.nan)
    if n == 0:
        return Snapped(edge, pos, dist, max_snap_m)
    pts = shapely.points(xy)
    tree = net.edge_tree()
    radius = min(float(max_snap_m), PREVIOUS_PREFETCH_M)
    src, hit = tree.query(pts, predicate="dwithin", distance=radius)
    if len(src):
        d = shapely.distance(pts[src], net.edge_geometry[hit])
        order = np.lexsort((hit, d, src))
        first = order[np.r_[True, src[order][1:] != src[order][:-1]]]
        edge[src[first]] = hit[first]
        dist[src[first]] = d[first]
    rest = np.flatnonzero(edge < 0)
    if len(rest) and max_snap_m > radius:
        (i, h), d = tree.query_nearest(
            pts[rest], max_distance=max_snap_m, return_distance=True, all_matches=False
        )
        edge[rest[i]] = h
        dist[rest[i]] = d
    ok = np.flatnonzero(edge >= 0)
    pos[ok] = shapely.line_locate_point(net.edge_geometry[edge[ok]], pts[ok])
    return Snapped(edge, pos, dist, max_snap_m)


# --------------------------------------------------------------------------- inputs


def area_inputs(data: Path, recipe_id: str) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """Walk network and resident points (x/y in its CRS, m) of a recipe of Kunming units.

    The public calls ``run_recipe`` makes: the units + halo, the road layer clipped to it,
    the road-derived built-up patch (seat of the recipe, or the provincial government for the
    central city; its candidate patches are the urban zone of the two-zone population),
    ``population_points`` per unit (roads proxy, the recipe's cell size), ``build_network``.
    """
    t0 = time.perf_counter()
    recipe = load_recipe(ROOT / "recipes" / f"{recipe_id}.yaml")
    params = recipe.parameters
    units = load_layer(catalog_entry("kunming_units"), data)
    boundary = units[units["unit_id"].isin(recipe.units)].reset_index(drop=True)
    crs = metric_crs(boundary, prefer=None if params.metric_crs == "auto" else params.metric_crs)
    roads = load_layer(catalog_entry(recipe.layers.roads), data, clip=with_halo(boundary, params.halo_m, crs))
    if recipe.seat:
        seat = (float(recipe.seat.lon), float(recipe.seat.lat))
    else:
        centre = load_layers_yaml("seats")["centres"]["yunnan_provincial_government"]
        seat = (float(centre["lon"]), float(centre["lat"]))
    bu_params = {k: v for k, v in params.builtup.model_dump().items() if v is not None}
    built_up = built_up_area(boundary, roads=roads, seat_point=seat, crs=crs, road_params=bu_params or None)
    urban = built_up.layers["built_up"].attrs.get("candidates")
    frames = []
    for uid in recipe.units:  # each unit's own total over its own area, as run_recipe does
        one = boundary[boundary["unit_id"] == uid]
        urban_one = None
        if urban is not None and len(urban):
            urban_one = urban.to_crs(WGS84).union_all().intersection(one.union_all())
            urban_one = None if urban_one.is_empty else urban_one
        pts, _ = population_points(one, uid, crs=crs, cell_m=params.population_cell_m, urban_area=urban_one,
                                   roads=roads)
        frames.append(pts)
    residents = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=WGS84)
    net = build_network(roads, "walk", crs, walk_kmh=params.walk_kmh)
    t1 = time.perf_counter()
    xy = np.ascontiguousarray(_as_metric_xy(residents, net.crs), dtype=float)
    info = {"units": list(recipe.units), "load_s": t1 - t0, "to_metres_s": time.perf_counter() - t1}
    return net, xy, info


# --------------------------------------------------------------------------- timing and checks


def _alternating(fns: dict[str, Any], repeats: int) -> dict[str, Timing]:
    """Time each function ``repeats`` times after one warm-up, the functions taking turns."""
    runs: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for key, fn in fns.items():
            gc.collect()
            t0 = time.perf_counter()
            fn()
            runs[key].append(time.perf_counter() - t0)
    return {k: Timing(float(np.median(v)), v) for k, v in runs.items()}


def time_area(net, xy: np.ndarray, repeats: int) -> tuple[dict[str, Timing], Snapped, Snapped]:
    """Index builds (fresh network copies) and snaps (index built) of both implementations."""
    old_net, new_net = fresh(net), fresh(net)
    old_net.edge_tree()
    _segments(new_net)
    t = _alternating({
        "old_build": lambda: fresh(net).edge_tree(),
        "new_build": lambda: _segments(fresh(net)),
    }, repeats)
    t |= _alternating({
        "old_snap": lambda: previous_snap_xy(old_net, xy, DEFAULT_MAX_SNAP_M),
        "new_snap": lambda: _snap_xy(new_net, xy, DEFAULT_MAX_SNAP_M),
    }, repeats)
    t["old_total"] = t["old_build"] + t["old_snap"]
    t["new_total"] = t["new_build"] + t["new_snap"]
    rng = np.random.default_rng(SEED)
    for size in SMALL_SETS:  # few points on a fresh network: today's GEOS path, no segment index
        few = xy[np.sort(rng.choice(len(xy), size, replace=False))]
        t |= _alternating({
            f"old_first_{size}": lambda few=few: previous_snap_xy(fresh(net), few, DEFAULT_MAX_SNAP_M),
            f"new_first_{size}": lambda few=few: _snap_xy(fresh(net), few, DEFAULT_MAX_SNAP_M),
        }, repeats)
    return t, previous_snap_xy(old_net, xy, DEFAULT_MAX_SNAP_M), _snap_xy(new_net, xy, DEFAULT_MAX_SNAP_M)


def reference_snap(net, xy: np.ndarray, max_snap_m: float) -> tuple[Snapped, int]:
    """GEOS reference: every nearest edge (``all_matches``), the lowest index of ties, then
    ``line_locate_point``; and the number of points with a tie."""
    pts = shapely.points(xy)
    (i, h), d = net.edge_tree().query_nearest(pts, max_distance=max_snap_m, return_distance=True, all_matches=True)
    order = np.lexsort((h, i))
    first = order[np.r_[True, i[order][1:] != i[order][:-1]]]
    edge = np.full(len(xy), -1, dtype=np.int64)
    dist = np.full(len(xy), np.nan)
    pos = np.full(len(xy), np.nan)
    edge[i[first]], dist[i[first]] = h[first], d[first]
    ok = np.flatnonzero(edge >= 0)
    pos[ok] = shapely.line_locate_point(net.edge_geometry[edge[ok]], pts[ok])
    ties = int((np.bincount(i, minlength=len(xy)) > 1).sum())
    return Snapped(edge, pos, dist, max_snap_m), ties


def compare_snaps(net, xy: np.ndarray, a: Snapped, b: Snapped) -> dict[str, Any]:
    """Point-by-point agreement of two snaps; a different edge is an exact tie when ``a``'s
    edge is exactly as near as ``b``'s (``shapely.distance``)."""
    both = a.reached & b.reached
    other = np.flatnonzero(both & (a.edge != b.edge))
    tie = shapely.distance(shapely.points(xy[other]), net.edge_geometry[a.edge[other]]) == b.snap_m[other]
    same = both & (a.edge == b.edge)
    return {
        "reached_equal": bool(np.array_equal(a.reached, b.reached)),
        "reached": int(both.sum()),
        "edge_diff": len(other),
        "edge_diff_ties": int(tie.sum()),
        "b_lower": int((b.edge[other] < a.edge[other]).sum()),
        "max_dsnap": float(np.abs(a.snap_m[both] - b.snap_m[both]).max()) if both.any() else 0.0,
        "max_dpos": float(np.abs(a.pos_m[same] - b.pos_m[same]).max()) if same.any() else 0.0,
        "bitwise": bool(np.array_equal(a.snap_m[both], b.snap_m[both]) and np.array_equal(a.pos_m[same], b.pos_m[same])),
    }


def search_profile(net, xy: np.ndarray) -> dict[str, Any]:
    """How many points the first pass proves, the wider pass, and the ball query."""
    segs = _segments(net)
    _, _, bound = _nearest_by_knn(segs, xy, _K_NEAR, DEFAULT_MAX_SNAP_M)
    wide = np.flatnonzero(bound > 0)
    _, _, bound2 = _nearest_by_knn(segs, xy[wide], _K_WIDE, DEFAULT_MAX_SNAP_M) if len(wide) else (0, 0, bound[:0])
    return {"segments": len(segs.edge), "pieces": len(segs.piece_seg) - 1, "half_m": segs.half_m,
            "wide": len(wide), "ball": int((bound2 > 0).sum())}


# --------------------------------------------------------------------------- the report


def _agreement_line(label: str, c: dict[str, Any]) -> str:
    verdict = "IDENTICAL" if c["bitwise"] and c["reached_equal"] and not c["edge_diff"] else (
        "EQUAL except ties" if c["reached_equal"] and c["edge_diff"] == c["edge_diff_ties"]
        and c["max_dsnap"] <= 1e-9 and c["max_dpos"] <= 1e-9 else "DIFFER")
    return (f"- {label}: **{verdict}**; reached sets equal: {c['reached_equal']} ({c['reached']:,} reached by both); "
            f"different edge at {c['edge_diff']:,} points, of which exact ties {c['edge_diff_ties']:,} "
            f"({label.split(' vs ')[0]} has the lower edge index at {c['b_lower']:,}); "
            f"max |Δsnap_m| {c['max_dsnap']:.3g} m (all reached), max |Δpos_m| {c['max_dpos']:.3g} m (same edge); "
            f"snap_m (all reached) and pos_m (same edge) bit-identical: {c['bitwise']}")


def area_section(
    name: str, net, xy: np.ndarray, info: dict[str, Any], repeats: int
) -> tuple[list[str], dict[str, Timing], dict[str, Any]]:
    """One area's timings table, timings in detail, agreement and profile lines; the timings;
    today's agreement with the reference."""
    log(f"snapping: {name}: timing ({repeats} repeats)")
    t, old, new = time_area(net, xy, repeats)
    ref, ties = reference_snap(fresh(net), xy, DEFAULT_MAX_SNAP_M)
    prof = search_profile(net, xy)
    vs_ref = compare_snaps(net, xy, ref, new)
    rows = [[label, fmt_s(t[f"old_{k}"].median_s), fmt_s(t[f"new_{k}"].median_s),
             f"{t[f'old_{k}'].median_s / t[f'new_{k}'].median_s:.2f}"]
            for label, k in (("index build (fresh network)", "build"), ("snap (index built)", "snap"),
                             ("first snap on a network (build + snap)", "total"),
                             *((f"{size:,} resident{'s' if size > 1 else ''} on a fresh network (build + snap)",
                                f"first_{size}") for size in SMALL_SETS))]
    lines = [f"### {name}: {len(xy):,} residents, {net.n_nodes:,} nodes, {net.n_edges:,} edges",
             "", f"Units {', '.join(info['units'])}; loading the inputs {fmt_s(info['load_s'])} s and the "
             f"residents → metres {fmt_s(info['to_metres_s'])} s are shared and not counted.", ""]
    lines += md_table(["step", "previous s", "today s", "previous / today"], rows)
    lines += ["", f"Index: previous the edge STRtree, today the segment index; the last rows snap "
              f"{' and '.join(f'{k:,}' for k in SMALL_SETS)} random residents (seed {SEED}) on a fresh network, "
              f"where today's `_snap_xy` uses GEOS (fewer than {_FEW_POINTS:,} points and no segment index yet: "
              "the previous method, ties settled by `query_nearest(all_matches=True)`) and builds only the "
              "STRtree."]
    lines += ["", "Timings in detail (s; median, then the runs):", ""]
    lines += [f"- {k.replace('_', ' ')}: {fmt_s(v.median_s)} ({v.runs()})" for k, v in t.items()]
    lines += ["", "Agreement:", "",
              _agreement_line("today vs previous", compare_snaps(net, xy, old, new)),
              _agreement_line("today vs the GEOS reference (all nearest edges, lowest index, `line_locate_point`)",
                              vs_ref),
              _agreement_line("previous vs the GEOS reference", compare_snaps(net, xy, ref, old)),
              f"- points with two or more equally near edges (exact ties): {ties:,}; {int((~new.reached).sum()):,} "
              f"residents lie farther than {DEFAULT_MAX_SNAP_M:g} m from every edge (unreached, kept)",
              "", f"Search: {prof['segments']:,} segments in {prof['pieces']:,} pieces (≤ {_PIECE_M:g} m; longest "
              f"half-piece {prof['half_m']:.1f} m); the {_K_NEAR} nearest piece midpoints prove the answer for "
              f"{len(xy) - prof['wide']:,} points, {_K_WIDE} for {prof['wide'] - prof['ball']:,} more, a ball query "
              f"for the last {prof['ball']:,}.", ""]
    return lines, t, vs_ref


def run(data: Path, repeats: int = REPEATS) -> Section:
    lines: list[str] = []
    timings: dict[str, dict[str, Timing]] = {}
    identical = True
    for area in AREAS:
        log(f"snapping: loading {area}")
        net, xy, info = area_inputs(data, area)
        body, timings[area], vs_ref = area_section(area, net, xy, info, repeats)
        identical = identical and vs_ref["bitwise"] and vs_ref["reached_equal"] and not vs_ref["edge_diff"]
        lines += body
    cc = timings["central-city"]
    lines.insert(0, "")
    lines.insert(0, f"Residents snapped within {DEFAULT_MAX_SNAP_M:g} m: the previous implementation (bulk STRtree "
                 f"`dwithin` {PREVIOUS_PREFETCH_M:g} m + `shapely.distance` + `query_nearest` + `line_locate_point`, "
                 "copied into `benchmarks/snapping.py`) vs today's (segments + KD-tree of ≤ "
                 f"{_PIECE_M:g} m pieces, distances and positions in numpy).  Median of {repeats} after a warm-up, "
                 "the two alternating; one thread each.")
    goal = Goal(f"`snap_points` of the central city's residents faster than {BASELINE_S} s (suite 1, 2026-11-23) "
                "incl. its index build, results identical to the GEOS reference (both areas)",
                f"today {fmt_s(cc['new_snap'].median_s)} s snap + {fmt_s(cc['new_build'].median_s)} s index build vs "
                f"previous {fmt_s(cc['old_snap'].median_s)} s + {fmt_s(cc['old_build'].median_s)} s in this run "
                f"({cc['old_snap'].median_s / cc['new_snap'].median_s:.1f}× on the snap, "
                f"{cc['old_total'].median_s / cc['new_total'].median_s:.1f}× with the builds); identical: "
                f"{identical}",
                cc["new_total"].median_s < BASELINE_S and identical)
    return Section("5. Snapping residents onto the walk network (central city, Jinning)", lines, [goal])


def main(argv: list[str] | None = None) -> int:
    def extra(p):
        p.add_argument("--repeats", type=int, default=REPEATS, help=f"timed runs after the warm-up ({REPEATS})")

    return suite_main(argv, "python -m benchmarks.snapping", __doc__, run, extra)


if __name__ == "__main__":
    sys.exit(main())
