"""User layers in any OGR format (GeoPackage, GeoJSON, Shapefile, KML, …) with a field mapping.

The catalogue entry (``layers/catalog.yaml``) names the file, the layer inside it, the CRS
to assume when the file has none, the text encoding of old Shapefiles (GBK DBFs without a
``.cpg``) and how source columns map onto the model's columns.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from kmgis.config import CatalogEntry, FieldRule, load_layers_yaml, resolve_path
from kmgis.crs import check_plausible, gdf_gcj02_to_wgs84, metric_crs
from kmgis.errors import KmgisError
from kmgis.model import WGS84, conform

_LINE_KINDS = {"roads"}
_POINT_KINDS = {"facilities"}


def read_vector(path: Path, *, layer: str | None = None, bbox: tuple[float, float, float, float] | None = None,
                encoding: str | None = None, assume_crs: str | None = None, name: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file with pyogrio; clear one-line errors for missing, unreadable or CRS-less files.

    ``bbox`` is in the file's own CRS (WGS84 for the Kunming layers).  ``assume_crs`` is
    used when the file declares no CRS.
    """
    label = name or path.name
    if not path.exists():
        raise KmgisError(f"{label}: file not found: {path}")
    if path.is_dir() and path.suffix.lower() != ".gdb":
        raise KmgisError(f"{label}: {path} is a folder, expected a vector file")
    try:
        gdf = pyogrio.read_dataframe(path, layer=layer, bbox=bbox, encoding=encoding)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise KmgisError(f"{label}: cannot read {path}: {str(exc).splitlines()[0]}") from None
    if gdf.crs is None:
        if assume_crs is None:
            raise KmgisError(f"{label}: {path} declares no CRS; give one (catalogue 'crs:' or --crs)")
        gdf = gdf.set_crs(assume_crs)
    return gdf


def apply_field_mapping(gdf: pd.DataFrame, fields: dict[str, FieldRule], name: str) -> pd.DataFrame:
    """Fill model columns from source columns (recoding values) or constants.

    A mapping that names a column the file lacks, or a value with no recoding, is an error.
    """
    out = pd.DataFrame(index=gdf.index)
    for target, rule in fields.items():
        if rule.from_ is not None:
            if rule.from_ not in gdf.columns:
                cols = ", ".join(c for c in gdf.columns if c != "geometry")
                raise KmgisError(
                    f"{name}: field mapping for {target!r} names column {rule.from_!r}, which is not in the file "
                    f"(columns: {cols})"
                )
            col = gdf[rule.from_]
            if rule.values is not None:
                mapped = col.map(rule.values)
                unknown = sorted(set(col[mapped.isna() & col.notna()].astype(str)))
                if unknown:
                    raise KmgisError(
                        f"{name}: column {rule.from_!r} has value(s) {unknown[:5]} with no mapping for {target!r} "
                        f"(mapped: {sorted(rule.values)})"
                    )
                col = mapped
            out[target] = col
        else:
            out[target] = rule.value
    return out


def _check_extent(path: Path, entry: CatalogEntry) -> None:
    """Plausibility of a layer's whole extent (from the file header), when a clipped read found nothing."""
    info = pyogrio.read_info(path, layer=entry.layer)
    bounds = info.get("total_bounds")
    if bounds is None or not all(map(float.__eq__, map(float, bounds), map(float, bounds))):
        return
    crs = info.get("crs") or entry.crs
    extent = gpd.GeoDataFrame(geometry=[shapely.box(*bounds)], crs=crs)
    check_plausible(extent, entry.name)


def read_user_layer(entry: CatalogEntry, data: Path | None, *, clip: shapely.Geometry | None = None,
                    reference: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Read a catalogue layer of reader ``file`` into the model (WGS84).

    ``clip`` (WGS84 polygon) keeps features intersecting it, whole; it is also passed to the
    reader as a bounding box so only that part of a large file is read.  ``reference`` is a
    true-WGS84 layer for the GCJ-02 plausibility check (boundary-like layers).
    """
    path = resolve_path(entry.path, data)
    bbox = None
    if clip is not None and entry.crs in (None, "EPSG:4326"):
        bbox = tuple(shapely.bounds(clip))
    gdf = read_vector(path, layer=entry.layer, bbox=bbox, encoding=entry.encoding, assume_crs=entry.crs,
                      name=entry.name)
    if bbox is not None and len(gdf) == 0:
        _check_extent(path, entry)
        x0, y0, x1, y1 = (float(b) for b in bbox)
        raise KmgisError(f"{entry.name}: no features of {path.name} inside the study area "
                         f"(lon {x0:.3f}–{x1:.3f}, lat {y0:.3f}–{y1:.3f}); the layer covers elsewhere")
    if entry.source_crs == "GCJ-02":
        gdf = gdf_gcj02_to_wgs84(gdf)
    check_plausible(gdf, entry.name, reference=reference)
    gdf = gdf.to_crs(WGS84)
    if clip is not None:
        gdf = gdf.iloc[gdf.sindex.query(clip, predicate="intersects")].sort_index()
    return to_model(gdf, entry.kind, entry.fields, entry.name)


def to_model(gdf: gpd.GeoDataFrame, kind: str, fields: dict[str, FieldRule], name: str) -> gpd.GeoDataFrame:
    """Map fields, repair and normalise geometry types, and conform to the model layer ``kind``."""
    attrs = apply_field_mapping(gdf, fields, name)
    out = gpd.GeoDataFrame(attrs, geometry=gdf.geometry.values, crs=gdf.crs, index=gdf.index)
    if kind in _LINE_KINDS:
        out = out.explode(index_parts=False)
        out = out[out.geom_type == "LineString"]
    elif kind in _POINT_KINDS:
        out = out.set_geometry(out.geometry.representative_point().where(out.geom_type != "Point", out.geometry))
    else:
        invalid = ~out.geometry.is_valid
        if invalid.any():
            out.loc[invalid, "geometry"] = shapely.make_valid(out.geometry[invalid].to_numpy())
        out = out[out.geom_type.isin(["Polygon", "MultiPolygon"])]
        if "area_m2" not in fields and len(out):
            out["area_m2"] = out.geometry.to_crs(metric_crs(out)).area
    if kind == "roads":
        classes = load_layers_yaml("road_classes")["classes"]
        for flag in ("walk", "drive"):
            if flag not in out.columns:
                out[flag] = out["road_class"].map({k: v[flag] for k, v in classes.items()})
    return conform(kind, out)
