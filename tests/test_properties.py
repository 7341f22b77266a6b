"""Property-based tests (hypothesis): CRS round trips, snapping invariants, site-check relations."""

from __future__ import annotations

import numpy as np
import pyproj
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from kmgis.crs import gcj02_to_wgs84, wgs84_to_gcj02
from kmgis.network import build_network, nearest_distance, snap_points

GEOD = pyproj.Geod(ellps="WGS84")

# anywhere in mainland China's GCJ-02 box, with Kunming's region weighted in
lon = st.floats(min_value=73.0, max_value=135.0, allow_nan=False)
lat = st.floats(min_value=18.0, max_value=53.0, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(lon, lat)
def test_gcj02_round_trip_under_half_a_metre(x, y):
    gx, gy = wgs84_to_gcj02(x, y)
    bx, by = gcj02_to_wgs84(gx, gy)
    _, _, d = GEOD.inv(x, y, float(bx), float(by))
    assert d < 0.5
    _, _, shift = GEOD.inv(x, y, float(gx), float(gy))
    assert shift < 1000  # the obfuscation moves points by hundreds of metres at most


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-800, 1800), st.floats(-800, 800)), min_size=1, max_size=30),
       st.floats(min_value=1.0, max_value=600.0))
def test_snap_distance_never_beyond_the_limit(points, limit):
    from test_network import make_roads, xy

    roads = make_roads([[(0, 0), (1000, 0)], [(1000, 0), (1000, 400)]])
    net = build_network(roads, "walk", "EPSG:32648")
    pts = xy(points)
    s = snap_points(net, pts, max_snap_m=limit)
    reached = s.reached
    assert (s.snap_m[reached] >= 0).all() and (s.snap_m[reached] <= limit + 1e-9).all()
    assert np.isnan(s.snap_m[~reached]).all()
    # unreached points are exactly those farther than the limit from every edge
    dist = shapely.distance(shapely.points(pts), shapely.union_all(net.edge_geometry))
    clear = np.abs(dist - limit) > 1e-6  # leave points exactly on the limit to float rounding
    assert (reached[clear] == (dist[clear] <= limit)).all()
    assert (s.pos_m[reached] >= 0).all() and (s.pos_m[reached] <= net.edge_length_m[s.edge[reached]] + 1e-9).all()
    # a network distance is never shorter than the straight line
    d = nearest_distance(net, pts, xy([(1000, 400)]), max_snap_m=limit)
    straight = np.hypot(pts[:, 0] - xy([(1000, 400)])[0, 0], pts[:, 1] - xy([(1000, 400)])[0, 1])
    finite = np.isfinite(d)
    assert (d[finite] >= straight[finite] - 1e-6).all()


# a hand-made zone with a hole, in metres: sites of any size and place around it
_ZONE = shapely.Polygon([(0, 0), (1000, 0), (1000, 1000), (0, 1000)], [[(400, 400), (600, 400), (600, 600),
                                                                       (400, 600)]])


@settings(max_examples=300, deadline=None)
@given(st.floats(-1500, 2500), st.floats(-1500, 2500), st.floats(1.0, 800.0))
def test_site_check_relation_is_consistent_with_overlap_and_distance(x, y, r):
    from kmgis.indicators.sitecheck import relate

    site = shapely.Point(x, y).buffer(r, quad_segs=8)
    rel = relate(site, _ZONE)
    assert 0.0 <= rel["overlap_pct"] <= 100.0 + 1e-9
    assert rel["distance_m"] >= 0
    if rel["relation"] == "outside":
        assert rel["overlap_m2"] == 0 and (_ZONE.distance(site) > 0 or site.touches(_ZONE))
    elif rel["relation"] == "inside":
        assert abs(rel["overlap_pct"] - 100.0) < 1e-6
    else:  # overlaps: part in, part out, so the site crosses the boundary
        assert 0 < rel["overlap_pct"] < 100.0 + 1e-9 and rel["distance_m"] == 0
