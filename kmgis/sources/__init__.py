"""Reading layers from every kind of source into the data model (:mod:`kmgis.model`).

:func:`load_layer` dispatches on the catalogue entry's reader: ``cnmaps`` boundaries,
``file`` user layers (any OGR format + field mapping), ``osm_file`` OSM PBF/XML (all model
layers at once), ``table`` CSV facts, ``station_table`` metro stations and line sequences (CSV).

The readers are imported here at the top; none of them imports this package module, so
there is no cycle (:mod:`kmgis.sources.inventory`, which does, is not imported here).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from kmgis.config import CatalogEntry, resolve_path
from kmgis.errors import KmgisError
from kmgis.sources.boundaries import read_boundaries
from kmgis.sources.osm import read_osm_file
from kmgis.sources.stations import read_station_layer
from kmgis.sources.user import read_user_layer


def load_layer(
    entry: CatalogEntry, data: Path | None, *, clip: shapely.Geometry | None = None
) -> gpd.GeoDataFrame | dict[str, gpd.GeoDataFrame] | pd.DataFrame:
    """Read one catalogue layer.  OSM files give a dict of model layers; tables a DataFrame."""
    if entry.reader == "cnmaps":
        gdf = read_boundaries(entry)
        if clip is not None:
            gdf = gdf[gdf.intersects(clip)].reset_index(drop=True)
        return gdf
    if entry.reader == "file":
        return read_user_layer(entry, data, clip=clip)
    if entry.reader == "osm_file":
        return read_osm_file(resolve_path(entry.path, data), clip=clip)
    if entry.reader == "table":
        path = resolve_path(entry.path, data)
        if not path.is_file():
            raise KmgisError(f"{entry.name}: table not found: {path}")
        return pd.read_csv(path, dtype={"adcode": str}, encoding="utf-8-sig")
    if entry.reader == "station_table":
        return read_station_layer(entry, data, clip=clip)
    raise KmgisError(f"{entry.name}: unknown reader {entry.reader!r}")


def layer_path(entry: CatalogEntry, data: Path | None) -> Path | None:
    """The file behind a catalogue layer (None for package-index readers such as cnmaps)."""
    if entry.path is None:
        return None
    return resolve_path(entry.path, data)
