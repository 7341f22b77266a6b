"""Dianchi (滇池) protection zones from the data (``kmgis dianchi``): read the inputs, derive the zones.

The rules live in ``layers/dianchi_zones.yaml`` (:func:`load_rules`); the zones are computed by
:func:`kmgis.indicators.dianchi.derive_zones`.  This module gathers what feeds them:

* the lake polygon (catalogue layer ``dianchi_lake``: OSM, c. 2017, simplified) is required;
* the main inflow rivers come from ``--rivers`` (an OSM extract or a line layer) — without
  them the 50 m river strips of zone 2 are reported as *not derived*, with what to supply;
* the basin comes from a DEM (``--dem``: the area draining to the lake, by priority-flood
  watershed labelling), else a basin layer (``--basin`` or the catalogue), else a documented
  approximation (a buffer of the lake within the county-level units the regulation names);
* the facing-hills line, the red and yellow lines come from catalogue layers when named in the
  YAML, else from the assumed distances of the YAML;
* official zone layers named by a zone's ``official`` entry are read from the catalogue.

Nothing is written here: :func:`kmgis.outputs.zones.write_dianchi` writes the GeoPackage, the
table and the map.  Geometry is in the metric CRS of the YAML (EPSG:32648, metres).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely

from kmgis.config import catalog_entry, load_catalog, load_layers_yaml, resolve_path
from kmgis.errors import KmgisError
from kmgis.indicators.dianchi import (
    DEFAULT_METRIC_CRS,
    QUAD_SEGS,
    Inputs,
    ZoneSet,
    basin_from_dem_grid,
    check_rules,
    derive_zones,
    official_layer_names,
    to_metric_union,
)
from kmgis.model import WGS84
from kmgis.sources import load_layer
from kmgis.sources.dianchi import DEM_MAX_CELLS, read_dem, read_polygon_entry, read_polygon_file, read_rivers

RULES_NAME = "dianchi_zones"


def load_rules() -> dict[str, Any]:
    """``layers/dianchi_zones.yaml``, checked (:func:`kmgis.indicators.dianchi.check_rules`)."""
    return check_rules(load_layers_yaml(RULES_NAME), "layers/dianchi_zones.yaml")


def basin_from_dem(dem_path: Path, lake_wgs84: shapely.Geometry, max_cells: int = DEM_MAX_CELLS) -> shapely.Geometry:
    """The lake's catchment (WGS84 polygon) from a DEM file by priority-flood watershed labelling.

    A DEM with more than ``max_cells`` cells is read at a coarser resolution (average); see
    :func:`kmgis.indicators.dianchi.basin_from_dem_grid` for the method.
    """
    grid = read_dem(Path(dem_path), max_cells)
    return basin_from_dem_grid(grid.elevation_m, grid.valid, grid.transform, grid.crs, lake_wgs84, grid.source)


# --------------------------------------------------------------------------- inputs


def _unit_polygons(unit_ids: list[str], crs: str) -> shapely.Geometry | None:
    """The union (metric) of the named county-level units, or None without the boundary package."""
    try:
        units = load_layer(catalog_entry("kunming_units"), None)
    except (KmgisError, ModuleNotFoundError):
        return None
    sel = units[units["unit_id"].isin(unit_ids)]
    if len(sel) == 0:
        return None
    return to_metric_union(sel, crs)


def _metric_to_wgs84(geom: shapely.Geometry, crs: str) -> shapely.Geometry:
    return gpd.GeoSeries([geom], crs=crs).to_crs(WGS84).iloc[0]


def _read_lake(data: Path | None, spec: dict[str, Any], crs: str) -> Inputs:
    """The inputs with the lake (required) in ``crs``; more inputs are added by the callers."""
    lake_name = (spec.get("lake") or {}).get("catalog") or "dianchi_lake"
    entry = catalog_entry(lake_name)
    try:
        lake_gdf = load_layer(entry, data)
    except KmgisError as exc:
        raise KmgisError(f"the Dianchi lake layer {lake_name!r} is not available ({exc}); "
                         "pass --data DIR holding dianchi_lake_osm.geojson") from None
    if not isinstance(lake_gdf, gpd.GeoDataFrame) or len(lake_gdf) == 0:
        raise KmgisError(f"the Dianchi lake layer {lake_name!r} has no polygon")
    lake = to_metric_union(lake_gdf, crs)
    return Inputs(lake=lake, crs=crs, described={
        "lake": f"catalogue layer {lake_name}: {entry.description or entry.name} ({entry.licence})"})


def _add_rivers(inputs: Inputs, data: Path | None, rspec: dict[str, Any], rivers: Path | None) -> None:
    """The main inflow rivers (``--rivers``, else the catalogue layer of the YAML), or what to supply."""
    river_path = Path(rivers) if rivers else None
    if river_path is None and rspec.get("catalog"):
        river_path = resolve_path(catalog_entry(rspec["catalog"]).path, data)
    if river_path is None:
        inputs.missing["rivers"] = f"supply: {rspec.get('supply', '--rivers FILE')}"
        return
    lines, what = read_rivers(river_path, list(rspec.get("names") or []), list(rspec.get("osm_waterway") or ["river"]))
    if len(lines):
        inputs.rivers = to_metric_union(lines, inputs.crs)
        named = sorted({str(n) for n in lines["name"] if n})
        inputs.described["rivers"] = f"{len(lines)} line(s) from {what}: {', '.join(named[:12])}"
    else:
        inputs.missing["rivers"] = (f"no main inflow river found in {river_path} ({what}); "
                                    f"supply: {rspec.get('supply', '--rivers FILE')}")


def _add_basin(inputs: Inputs, data: Path | None, bspec: dict[str, Any], basin: Path | None,
               dem: Path | None) -> None:
    """The basin: from ``--dem``, else ``--basin`` or the catalogue, else the YAML's approximation."""
    crs = inputs.crs
    if dem is not None:
        inputs.basin = gpd.GeoSeries([basin_from_dem(Path(dem), _metric_to_wgs84(inputs.lake, crs))],
                                     crs=WGS84).to_crs(crs).iloc[0]
        inputs.basin_approximate = False
        inputs.described["basin"] = f"watershed of the lake from the DEM {Path(dem).name} (priority-flood labelling)"
    elif basin is not None or bspec.get("catalog"):
        if basin is not None:
            gdf = read_polygon_file(Path(basin), "--basin")
            label = f"basin layer {Path(basin).name}"
        else:
            gdf = read_polygon_entry(catalog_entry(bspec["catalog"]), data)
            label = f"catalogue layer {bspec['catalog']}"
        inputs.basin = to_metric_union(gdf, crs)
        inputs.basin_approximate = False
        inputs.described["basin"] = label
    else:
        approx = bspec.get("approximation") or {}
        dist = float(approx.get("buffer_m", 20000))
        geom = inputs.lake.buffer(dist, quad_segs=QUAD_SEGS)
        units = _unit_polygons(list(approx.get("units") or []), crs)
        within = ""
        if units is not None:
            geom = geom.intersection(units)
            within = f" within {', '.join(approx.get('units') or [])}"
        inputs.basin = shapely.union_all([geom, inputs.lake])
        inputs.described["basin"] = (f"APPROXIMATION: lake + {dist:g} m{within} (assumed; not the watershed). "
                                     f"Supply {bspec.get('supply', '--dem or --basin')}")


def gather_inputs(data: Path | None, rules: dict[str, Any] | None = None, *, rivers: Path | None = None,
                  basin: Path | None = None, dem: Path | None = None) -> Inputs:
    """Read the lake (required), rivers, basin, optional boundary lines and official zone layers.

    Parameters
    ----------
    data : the data directory (None: no data directory).
    rules : the zone rules (default: :func:`load_rules`).
    rivers, basin, dem : the ``--rivers``, ``--basin`` and ``--dem`` files, if given.
    """
    rules = rules or load_rules()
    crs = rules.get("metric_crs", DEFAULT_METRIC_CRS)
    spec = rules.get("inputs") or {}
    inputs = _read_lake(data, spec, crs)
    _add_rivers(inputs, data, spec.get("rivers") or {}, rivers)
    _add_basin(inputs, data, spec.get("basin") or {}, basin, dem)
    # optional boundary polygons named in the YAML
    for key in ("facing_hills", "red_line", "yellow_line"):
        name = (spec.get(key) or {}).get("catalog")
        if name:
            inputs.polygons[key] = to_metric_union(read_polygon_entry(catalog_entry(name), data), crs)
            inputs.described[key] = f"catalogue layer {name}"
    inputs.official = official_layers(rules, data)
    return inputs


def official_layers(rules: dict[str, Any], data: Path | None) -> dict[str, gpd.GeoDataFrame]:
    """The official zone layers the rules name that are registered in the catalogue (WGS84), by name."""
    names = official_layer_names(rules)
    if not names:
        return {}
    catalog = load_catalog()
    return {name: read_polygon_entry(catalog[name], data) for name in names if name in catalog}


def dianchi_zones(data: Path | None, *, rivers: Path | None = None, basin: Path | None = None,
                  dem: Path | None = None, rules: dict[str, Any] | None = None) -> ZoneSet:
    """Read the inputs and derive every zone (the API behind ``kmgis dianchi`` and check-site).

    Parameters
    ----------
    data : the data directory.
    rivers, basin, dem : optional ``--rivers``, ``--basin`` and ``--dem`` files.
    rules : the zone rules (default: :func:`load_rules`, read now).

    Returns
    -------
    ZoneSet
        Every zone of the rules; geometries in the rules' metric CRS (metres).
    """
    rules = rules or load_rules()
    inputs = gather_inputs(data, rules, rivers=rivers, basin=basin, dem=dem)
    return derive_zones(inputs, rules)
