"""Dianchi (滇池) protection zones derived from the data model (``kmgis dianchi``).

The rules live in ``layers/dianchi_zones.yaml``: for each zone of the 2013 grading (zones 1,
2 and 3 of 《云南省滇池保护条例》) and of the 2023 "two lines, three zones" (core, buffer and
green-development zones), how it is derived, the controls that apply and the source.  This
module turns those rules into polygons:

* the lake polygon (catalogue layer ``dianchi_lake``: OSM, c. 2017, simplified) is required;
* the main inflow rivers come from ``--rivers`` (an OSM extract or a line layer) — without
  them the 50 m river strips of zone 2 are reported as *not derived*, with what to supply;
* the basin comes from a DEM (``--dem``: the area draining to the lake, by priority-flood
  watershed labelling), else a basin layer (``--basin`` or the catalogue), else a documented
  approximation (a buffer of the lake within the county-level units the regulation names);
* the facing-hills line, the red and yellow lines come from catalogue layers when named in the
  YAML, else from the assumed distances of the YAML.

Every derived zone is ``approximate``; a zone whose ``official`` entry names a registered
catalogue layer is read from it instead and is not approximate.  Geometry is computed in the
metric CRS of the YAML (EPSG:32648, metres); the GeoPackage is written in WGS84.
"""

from __future__ import annotations

import heapq
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from kmgis.config import CatalogEntry, catalog_entry, load_catalog, load_layers_yaml
from kmgis.errors import KmgisError
from kmgis.model import WGS84

RULES_NAME = "dianchi_zones"
DEFAULT_METRIC_CRS = "EPSG:32648"
QUAD_SEGS = 16
"""Segments per quarter circle of every buffer (deterministic output)."""

DEM_MAX_CELLS = 1_000_000
"""A DEM with more cells is read at a coarser resolution (average) for the watershed."""

_METHODS = {"lake", "lake_setback", "ring", "river_strips", "basin_minus", "basin"}
_EFFECTS = {"conflict", "caution", "none"}


# --------------------------------------------------------------------------- rules


def load_rules() -> dict[str, Any]:
    """``layers/dianchi_zones.yaml``, checked: known methods, parameters and sources."""
    rules = load_layers_yaml(RULES_NAME)
    where = "layers/dianchi_zones.yaml"
    zones = rules.get("zones")
    if not isinstance(zones, list) or not zones:
        raise KmgisError(f"{where}: 'zones' must be a non-empty list")
    params = rules.get("parameters") or {}
    sources = rules.get("sources") or {}
    seen: set[str] = set()
    for z in zones:
        zid = z.get("id")
        if not zid or zid in seen:
            raise KmgisError(f"{where}: zone ids must be present and unique (got {zid!r})")
        seen.add(zid)
        method = (z.get("derive") or {}).get("method")
        if method not in _METHODS:
            raise KmgisError(f"{where}: zone {zid}: unknown derive.method {method!r} (known: {', '.join(sorted(_METHODS))})")
        if z.get("effect_inside", "conflict") not in _EFFECTS:
            raise KmgisError(f"{where}: zone {zid}: effect_inside must be one of {sorted(_EFFECTS)}")
        if z.get("source") not in sources:
            raise KmgisError(f"{where}: zone {zid}: source {z.get('source')!r} is not in 'sources'")
        for ref in _param_refs(z["derive"]):
            if ref not in params:
                raise KmgisError(f"{where}: zone {zid}: parameter {ref!r} is not in 'parameters'")
    for name, p in params.items():
        if not isinstance(p, dict) or "value" not in p or "assumed" not in p:
            raise KmgisError(f"{where}: parameter {name} needs 'value' and 'assumed'")
    return rules


def _param_refs(derive: dict[str, Any]) -> list[str]:
    refs = []
    for key in ("setback", "strip", "half_width"):
        if isinstance(derive.get(key), str):
            refs.append(derive[key])
    for side in ("inner", "outer"):
        spec = derive.get(side) or {}
        for key in ("param", "approx_param"):
            if isinstance(spec.get(key), str):
                refs.append(spec[key])
    return refs


def source_url(rules: dict[str, Any], key: str | None) -> str:
    src = (rules.get("sources") or {}).get(key or "") or {}
    return str(src.get("url", ""))


# --------------------------------------------------------------------------- data classes


@dataclass
class Zone:
    """One zone: its rule, and its geometry in the metric CRS when derived."""

    id: str
    scheme: str
    grade: int | None
    name_zh: str
    name_en: str
    effect_inside: str
    controls_zh: str
    controls_en: str
    source: str
    source_url: str
    clause: str
    derived: bool = False
    approximate: bool = True
    geometry: shapely.Geometry | None = None
    method: str = ""
    assumed: list[str] = field(default_factory=list)
    missing: str = ""
    published_km2: float | None = None
    published_source: str = ""

    @property
    def area_km2(self) -> float | None:
        return None if self.geometry is None else self.geometry.area / 1e6

    @property
    def label(self) -> str:
        return f"{self.name_zh} {self.name_en}"


@dataclass
class ZoneSet:
    """All zones of the rules, derived or not, plus what fed them."""

    zones: list[Zone]
    crs: str
    inputs: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def get(self, zone_id: str) -> Zone:
        for z in self.zones:
            if z.id == zone_id:
                return z
        raise KeyError(zone_id)

    def derived(self) -> list[Zone]:
        return [z for z in self.zones if z.derived]

    def gdf(self) -> gpd.GeoDataFrame:
        """The derived zones as a WGS84 GeoDataFrame (GeoPackage attributes, deterministic)."""
        rows = []
        for z in self.derived():
            rows.append({
                "zone_id": z.id, "scheme": z.scheme, "grade": z.grade, "name_zh": z.name_zh, "name_en": z.name_en,
                "approximate": bool(z.approximate), "method": z.method, "assumed": "; ".join(z.assumed),
                "area_km2": round(z.area_km2 or 0.0, 3),
                "published_km2": z.published_km2, "published_source": z.published_source,
                "effect_inside": z.effect_inside, "controls_zh": z.controls_zh, "controls_en": z.controls_en,
                "source": z.source_url, "clause": z.clause,
            })
        geoms = [z.geometry for z in self.derived()]
        gdf = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=gpd.GeoSeries(geoms, crs=self.crs), crs=self.crs)
        if len(gdf):
            gdf["grade"] = gdf["grade"].astype("Int64")
            gdf["published_km2"] = gdf["published_km2"].astype("float64")
        return gdf.to_crs(WGS84)

    def table(self) -> pd.DataFrame:
        """Every zone with status, area and the published figure (``zones.csv``)."""
        rows = []
        for z in self.zones:
            area = z.area_km2
            diff = (None if area is None or not z.published_km2
                    else round(100.0 * (area - z.published_km2) / z.published_km2, 1))
            rows.append({
                "zone_id": z.id, "scheme": z.scheme, "name_zh": z.name_zh, "name_en": z.name_en,
                "status": ("official" if not z.approximate else "approximate") if z.derived else "not derived",
                "area_km2": None if area is None else round(area, 2), "published_km2": z.published_km2,
                "diff_pct": diff, "published_source": z.published_source, "method": z.method,
                "assumed": "; ".join(z.assumed), "missing": z.missing,
            })
        return pd.DataFrame(rows)


@dataclass
class Inputs:
    """The geometries feeding the zones, in the metric CRS, with a description of each source."""

    lake: shapely.Geometry
    crs: str
    described: dict[str, str]
    rivers: shapely.Geometry | None = None
    basin: shapely.Geometry | None = None
    basin_approximate: bool = True
    polygons: dict[str, shapely.Geometry] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- reading layers


def read_polygon_entry(entry: CatalogEntry, data: Path | None) -> gpd.GeoDataFrame:
    """A catalogue layer of polygons (any kind, incl. ``protection``) in WGS84 with mapped fields.

    ``file`` layers are read directly (the model has no ``protection`` layer): CRS from the file
    or the entry, GCJ-02 converted, plausibility checked, invalid polygons repaired; the entry's
    ``fields`` give extra columns (e.g. ``category``, ``name``, ``controls``).
    """
    if entry.reader != "file":
        from kmgis.sources import load_layer

        gdf = load_layer(entry, data)
        if not isinstance(gdf, gpd.GeoDataFrame):
            raise KmgisError(f"{entry.name}: reader {entry.reader!r} does not give polygons")
        return gdf
    from kmgis.config import resolve_path
    from kmgis.crs import check_plausible, gdf_gcj02_to_wgs84
    from kmgis.sources.user import apply_field_mapping, read_vector

    path = resolve_path(entry.path, data)
    gdf = read_vector(path, layer=entry.layer, encoding=entry.encoding, assume_crs=entry.crs, name=entry.name)
    if entry.source_crs == "GCJ-02":
        gdf = gdf_gcj02_to_wgs84(gdf)
    check_plausible(gdf, entry.name)
    gdf = gdf.to_crs(WGS84)
    attrs = apply_field_mapping(gdf, entry.fields, entry.name)
    out = gpd.GeoDataFrame(attrs, geometry=polygonal(gdf.geometry.values), crs=WGS84, index=gdf.index)
    return out[~out.geometry.is_empty & out.geometry.notna()].reset_index(drop=True)


def polygonal(geoms: Any) -> np.ndarray:
    """Valid polygonal parts of each geometry (invalid ones repaired; others → empty)."""
    arr = np.asarray(geoms, dtype=object)
    out = []
    for g in arr:
        if g is None or g.is_empty:
            out.append(shapely.Polygon())
            continue
        if not g.is_valid:
            g = shapely.make_valid(g)
        parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
        out.append(shapely.union_all(parts) if parts else shapely.Polygon())
    return np.asarray(out, dtype=object)


def _read_path_polygons(path: Path, what: str) -> gpd.GeoDataFrame:
    from kmgis.crs import check_plausible
    from kmgis.sources.user import read_vector

    gdf = read_vector(Path(path), name=what)
    check_plausible(gdf, what)
    gdf = gdf.to_crs(WGS84)
    geoms = polygonal(gdf.geometry.values)
    keep = np.array([not g.is_empty for g in geoms], dtype=bool)
    if not keep.any():
        raise KmgisError(f"{what}: {path} holds no polygons")
    return gpd.GeoDataFrame(geometry=list(geoms[keep]), crs=WGS84)


def _to_metric_union(gdf: gpd.GeoDataFrame, crs: str) -> shapely.Geometry:
    return shapely.union_all(np.asarray(gdf.to_crs(crs).geometry.values))


def read_rivers(path: Path, names: list[str], waterway: list[str]) -> tuple[gpd.GeoDataFrame, str]:
    """Named inflow-river lines (WGS84) from an OSM file (.osm.pbf/.osm) or a vector line layer.

    A line is kept when its name contains one of ``names``.  Returns the lines and a description.
    """
    path = Path(path)
    if not path.exists():
        raise KmgisError(f"--rivers: file not found: {path}")
    if path.is_dir():
        raise KmgisError(f"--rivers: {path} is a folder, expected a file")
    suffix = "".join(path.suffixes[-2:]).lower()
    if suffix.endswith((".osm.pbf", ".pbf", ".osm", ".osm.bz2")):
        gdf = _osm_waterways(path, waterway)
        what = f"OSM waterway={'|'.join(waterway)} in {path.name}"
    else:
        from kmgis.crs import check_plausible
        from kmgis.sources.user import read_vector

        gdf = read_vector(path, name="--rivers")
        check_plausible(gdf, "--rivers")
        gdf = gdf.to_crs(WGS84)
        col = next((c for c in ("name", "name:zh", "NAME", "Name", "名称") if c in gdf.columns), None)
        if col is None:
            raise KmgisError(f"--rivers: {path} has no name column (name, name:zh, NAME or 名称) to pick the main rivers")
        gdf = gpd.GeoDataFrame({"name": gdf[col].astype("object")}, geometry=gdf.geometry.values, crs=WGS84)
        gdf = gdf[gdf.geom_type.isin(["LineString", "MultiLineString"])]
        what = f"lines of {path.name}"
    if len(gdf) == 0:
        return gdf, what
    keep = gdf["name"].fillna("").astype(str).map(lambda n: any(k in n for k in names))
    return gdf[keep].reset_index(drop=True), what


def _osm_waterways(path: Path, waterway: list[str]) -> gpd.GeoDataFrame:
    import osmium

    names, geoms = [], []
    filt = osmium.filter.TagFilter(*(("waterway", w) for w in waterway)).enable_for(osmium.osm.WAY)
    try:
        fp = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations().with_filter(filt)
        for way in fp:
            if not way.is_way():
                continue
            coords = [(n.lon, n.lat) for n in way.nodes if n.location.valid()]
            if len(coords) < 2:
                continue
            names.append(way.tags.get("name:zh") or way.tags.get("name") or "")
            geoms.append(shapely.LineString(coords))
    except RuntimeError as exc:
        raise KmgisError(f"--rivers: cannot read OSM file {path}: {str(exc).splitlines()[0]}") from None
    return gpd.GeoDataFrame({"name": names}, geometry=geoms, crs=WGS84)


# --------------------------------------------------------------------------- basin from a DEM


def basin_from_dem(dem_path: Path, lake_wgs84: shapely.Geometry, max_cells: int = DEM_MAX_CELLS) -> shapely.Geometry:
    """The lake's catchment (WGS84 polygon) from a DEM by priority-flood watershed labelling.

    Seeds: the lake cells (label *lake*) and the valid cells on the DEM edge or next to nodata
    (label *out*).  Cells are visited in order of their spill elevation (max of their own and
    the cell they were reached from), each taking the label of the cell that reached it — so a
    cell gets the outlet it drains to on the depression-filled DEM (Barnes et al. 2014).  The
    catchment is the union of the *lake* cells, holes filled.  A DEM with more than
    ``max_cells`` cells is read at a coarser resolution (average).
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.features import rasterize, shapes

    dem_path = Path(dem_path)
    if not dem_path.is_file():
        raise KmgisError(f"--dem: file not found: {dem_path}")
    try:
        src = rasterio.open(dem_path)
    except rasterio.errors.RasterioIOError as exc:
        raise KmgisError(f"--dem: cannot read {dem_path}: {str(exc).splitlines()[0]}") from None
    with src:
        if src.crs is None:
            raise KmgisError(f"--dem: {dem_path} declares no CRS")
        scale = max(1.0, math.sqrt(src.width * src.height / max_cells))
        h, w = max(1, int(src.height / scale)), max(1, int(src.width / scale))
        band = src.read(1, out_shape=(h, w), resampling=Resampling.average, masked=True)
        transform = src.transform @ src.transform.scale(src.width / w, src.height / h)
        crs = src.crs
    elev = np.asarray(band.filled(np.nan), dtype="float64")
    valid = np.isfinite(elev) & ~np.ma.getmaskarray(band)
    lake_dem = gpd.GeoSeries([lake_wgs84], crs=WGS84).to_crs(crs).iloc[0]
    lake_mask = rasterize([(lake_dem, 1)], out_shape=(h, w), transform=transform, fill=0, all_touched=True,
                          dtype="uint8").astype(bool) & valid
    if not lake_mask.any():
        raise KmgisError(f"--dem: {dem_path} does not cover the lake")
    labels = _priority_flood_labels(elev, valid, lake_mask)
    polys = [shapely.geometry.shape(g) for g, v in shapes(labels.astype("uint8"), mask=labels == 1,
                                                          transform=transform) if v == 1]
    basin = shapely.union_all(polys)
    basin = shapely.union_all([shapely.Polygon(p.exterior) for p in shapely.get_parts(basin)])
    return gpd.GeoSeries([basin], crs=crs).to_crs(WGS84).iloc[0]


def _priority_flood_labels(elev: np.ndarray, valid: np.ndarray, lake: np.ndarray) -> np.ndarray:
    """Labels per cell: 1 = drains to the lake, 2 = drains off the DEM, 0 = nodata."""
    h, w = elev.shape
    labels = np.zeros((h, w), dtype=np.int8)
    flat = elev.ravel()
    lab = labels.ravel()
    closed = ~valid.ravel().copy()
    heap: list[tuple[float, int]] = []
    edge = np.zeros((h, w), dtype=bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    near_nodata = np.zeros((h, w), dtype=bool)
    inv = ~valid
    near_nodata[1:, :] |= inv[:-1, :]
    near_nodata[:-1, :] |= inv[1:, :]
    near_nodata[:, 1:] |= inv[:, :-1]
    near_nodata[:, :-1] |= inv[:, 1:]
    for mask, value in ((lake, 1), (valid & (edge | near_nodata) & ~lake, 2)):
        for i in np.flatnonzero(mask.ravel()):
            lab[i] = value
            closed[i] = True
            heap.append((float(flat[i]), int(i)))
    heapq.heapify(heap)
    offsets = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
    while heap:
        level, i = heapq.heappop(heap)
        r, c = divmod(i, w)
        for dr, dc in offsets:
            rr, cc = r + dr, c + dc
            if 0 <= rr < h and 0 <= cc < w:
                j = rr * w + cc
                if not closed[j]:
                    closed[j] = True
                    lab[j] = lab[i]
                    e = flat[j]
                    heapq.heappush(heap, (e if e > level else level, j))
    return labels


# --------------------------------------------------------------------------- inputs


def _unit_polygons(unit_ids: list[str], crs: str) -> shapely.Geometry | None:
    try:
        from kmgis.sources import load_layer

        units = load_layer(catalog_entry("kunming_units"), None)
    except (KmgisError, ModuleNotFoundError):
        return None
    sel = units[units["unit_id"].isin(unit_ids)]
    if len(sel) == 0:
        return None
    return _to_metric_union(sel, crs)


def gather_inputs(data: Path | None, rules: dict[str, Any] | None = None, *, rivers: Path | None = None,
                  basin: Path | None = None, dem: Path | None = None) -> Inputs:
    """Read the lake (required), rivers, basin and optional boundary lines for the zones."""
    from kmgis.sources import load_layer

    rules = rules or load_rules()
    crs = rules.get("metric_crs", DEFAULT_METRIC_CRS)
    spec = rules.get("inputs") or {}
    lake_name = (spec.get("lake") or {}).get("catalog") or "dianchi_lake"
    entry = catalog_entry(lake_name)
    try:
        lake_gdf = load_layer(entry, data)
    except KmgisError as exc:
        raise KmgisError(f"the Dianchi lake layer {lake_name!r} is not available ({exc}); "
                         "pass --data DIR holding dianchi_lake_osm.geojson") from None
    if not isinstance(lake_gdf, gpd.GeoDataFrame) or len(lake_gdf) == 0:
        raise KmgisError(f"the Dianchi lake layer {lake_name!r} has no polygon")
    lake = _to_metric_union(lake_gdf, crs)
    inputs = Inputs(lake=lake, crs=crs, described={
        "lake": f"catalogue layer {lake_name}: {entry.description or entry.name} ({entry.licence})"})

    # rivers
    rspec = spec.get("rivers") or {}
    river_path = Path(rivers) if rivers else None
    if river_path is None and rspec.get("catalog"):
        from kmgis.config import resolve_path

        river_path = resolve_path(catalog_entry(rspec["catalog"]).path, data)
    if river_path is not None:
        lines, what = read_rivers(river_path, list(rspec.get("names") or []), list(rspec.get("osm_waterway") or ["river"]))
        if len(lines):
            inputs.rivers = _to_metric_union(lines, crs)
            named = sorted({str(n) for n in lines["name"] if n})
            inputs.described["rivers"] = f"{len(lines)} line(s) from {what}: {', '.join(named[:12])}"
        else:
            inputs.missing["rivers"] = (f"no main inflow river found in {river_path} ({what}); "
                                        f"supply: {rspec.get('supply', '--rivers FILE')}")
    else:
        inputs.missing["rivers"] = f"supply: {rspec.get('supply', '--rivers FILE')}"

    # basin
    bspec = spec.get("basin") or {}
    if dem is not None:
        inputs.basin = gpd.GeoSeries([basin_from_dem(Path(dem), _metric_to_wgs84(lake, crs))],
                                     crs=WGS84).to_crs(crs).iloc[0]
        inputs.basin_approximate = False
        inputs.described["basin"] = f"watershed of the lake from the DEM {Path(dem).name} (priority-flood labelling)"
    elif basin is not None or bspec.get("catalog"):
        if basin is not None:
            gdf = _read_path_polygons(Path(basin), "--basin")
            label = f"basin layer {Path(basin).name}"
        else:
            gdf = read_polygon_entry(catalog_entry(bspec["catalog"]), data)
            label = f"catalogue layer {bspec['catalog']}"
        inputs.basin = _to_metric_union(gdf, crs)
        inputs.basin_approximate = False
        inputs.described["basin"] = label
    else:
        approx = bspec.get("approximation") or {}
        dist = float(approx.get("buffer_m", 20000))
        geom = lake.buffer(dist, quad_segs=QUAD_SEGS)
        units = _unit_polygons(list(approx.get("units") or []), crs)
        within = ""
        if units is not None:
            geom = geom.intersection(units)
            within = f" within {', '.join(approx.get('units') or [])}"
        inputs.basin = shapely.union_all([geom, lake])
        inputs.described["basin"] = (f"APPROXIMATION: lake + {dist:g} m{within} (assumed; not the watershed). "
                                     f"Supply {bspec.get('supply', '--dem or --basin')}")
    # optional boundary polygons named in the YAML
    for key in ("facing_hills", "red_line", "yellow_line"):
        name = (spec.get(key) or {}).get("catalog")
        if name:
            inputs.polygons[key] = _to_metric_union(read_polygon_entry(catalog_entry(name), data), crs)
            inputs.described[key] = f"catalogue layer {name}"
    return inputs


def _metric_to_wgs84(geom: shapely.Geometry, crs: str) -> shapely.Geometry:
    return gpd.GeoSeries([geom], crs=crs).to_crs(WGS84).iloc[0]


# --------------------------------------------------------------------------- derivation


def derive_zones(inputs: Inputs, rules: dict[str, Any] | None = None, data: Path | None = None) -> ZoneSet:
    """Every zone of the rules as a metric polygon, or *not derived* with what to supply."""
    rules = rules or load_rules()
    params = rules.get("parameters") or {}
    catalog = load_catalog()
    zones: list[Zone] = []
    by_id: dict[str, Zone] = {}

    def pval(name: str) -> float:
        return float(params[name]["value"])

    def passumed(name: str) -> list[str]:
        p = params[name]
        return [f"{name}={p['value']:g} (assumed)"] if p.get("assumed") else []

    def lake_plus(d: float) -> shapely.Geometry:
        return inputs.lake if d == 0 else inputs.lake.buffer(d, quad_segs=QUAD_SEGS)

    def line(side: dict[str, Any]) -> tuple[shapely.Geometry, str, list[str]]:
        if "param" in side:
            value = side["param"]
            d = pval(value) if isinstance(value, str) else float(value)
            ass = passumed(value) if isinstance(value, str) else []
            return lake_plus(d), ("the shoreline" if d == 0 else f"lake + {d:g} m"), ass
        key = side["input"]
        if key == "basin":
            basin_txt = "the basin divide" + (" (approximated)" if inputs.basin_approximate else "")
            return inputs.basin, basin_txt, []
        if key in inputs.polygons:
            return inputs.polygons[key], f"{key} layer", []
        name = side["approx_param"]
        d = pval(name)
        return lake_plus(d), f"{key} approximated as lake + {d:g} m", passumed(name)

    for z in rules["zones"]:
        pub = z.get("published") or {}
        zone = Zone(
            id=z["id"], scheme=str(z.get("scheme", "")), grade=z.get("grade"), name_zh=z["name_zh"],
            name_en=z["name_en"], effect_inside=z.get("effect_inside", "conflict"),
            controls_zh=z.get("controls_zh", ""), controls_en=z.get("controls_en", ""), source=z["source"],
            source_url=source_url(rules, z["source"]), clause=str(z.get("clause", "")),
            published_km2=float(pub["value_km2"]) if pub.get("value_km2") is not None else None,
            published_source=source_url(rules, pub.get("source")) if pub else "",
        )
        zones.append(zone)
        by_id[zone.id] = zone
        official = z.get("official")
        if official:
            _apply_official(zone, official, catalog, data, inputs.crs)
            if zone.derived:
                continue
        d = z["derive"]
        method = d["method"]
        basin_note = [] if not inputs.basin_approximate else ["basin approximated"]
        if method == "lake":
            zone.geometry, zone.method = inputs.lake, "the lake polygon"
        elif method == "lake_setback":
            dist = pval(d["setback"])
            zone.geometry = lake_plus(dist)
            zone.method = f"lake + {dist:g} m setback (shoreline stands in for the boundary piles)"
            zone.assumed = passumed(d["setback"])
        elif method == "ring":
            outer, otxt, oass = line(d["outer"])
            inner, itxt, iass = line(d["inner"])
            zone.geometry = outer.intersection(inputs.basin).difference(inner)
            zone.method = f"from {itxt} to {otxt}, within the basin"
            zone.assumed = iass + oass + (basin_note if d["outer"].get("input") == "basin" else [])
        elif method == "river_strips":
            if inputs.rivers is None:
                zone.missing = inputs.missing.get("rivers", "supply --rivers")
                zone.method = "not derived: no river lines"
                continue
            dist = pval(d["strip"]) + pval(d["half_width"])
            geom = inputs.rivers.buffer(dist, quad_segs=QUAD_SEGS).intersection(inputs.basin)
            for other in d.get("minus") or []:
                if other in by_id and by_id[other].derived:
                    geom = geom.difference(by_id[other].geometry)
            zone.geometry = geom
            zone.method = f"river centrelines + {dist:g} m ({pval(d['strip']):g} m strip + half width), within the basin"
            zone.assumed = passumed(d["strip"]) + passumed(d["half_width"])
        elif method == "basin_minus":
            geom = inputs.basin
            left_out = []
            for other in d.get("minus") or []:
                if other in by_id and by_id[other].derived:
                    geom = geom.difference(by_id[other].geometry)
                else:
                    left_out.append(other)
            zone.geometry = geom
            zone.method = "the basin minus " + ", ".join(d.get("minus") or [])
            if left_out:
                zone.method += f" (includes {', '.join(left_out)}: not derived)"
            zone.assumed = basin_note
        elif method == "basin":
            zone.geometry, zone.method = inputs.basin, "the basin"
            zone.assumed = basin_note
        if zone.geometry is not None and not zone.geometry.is_empty:
            zone.geometry = _clean(zone.geometry)
            zone.derived, zone.approximate = True, True
        else:
            zone.geometry = None
            zone.missing = zone.missing or "empty geometry: check the inputs"
    notes = [f"{k}: {v}" for k, v in inputs.described.items()]
    notes += [f"{k}: {v}" for k, v in inputs.missing.items()]
    return ZoneSet(zones, inputs.crs, dict(inputs.described), notes)


def _clean(geom: shapely.Geometry) -> shapely.Geometry:
    """Polygonal parts only, valid, without slivers below 1 m²."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area >= 1.0]
    return shapely.MultiPolygon(parts) if len(parts) > 1 else (parts[0] if parts else shapely.Polygon())


def _apply_official(zone: Zone, official: Any, catalog: dict[str, CatalogEntry], data: Path | None, crs: str) -> None:
    spec = {"layer": official} if isinstance(official, str) else dict(official)
    name = spec.get("layer")
    if name not in catalog:
        zone.missing = f"official layer {name!r} is not in layers/catalog.yaml"
        return
    gdf = read_polygon_entry(catalog[name], data)
    if spec.get("column"):
        if spec["column"] not in gdf.columns:
            raise KmgisError(f"official layer {name}: no column {spec['column']!r} (map it under 'fields')")
        gdf = gdf[gdf[spec["column"]].astype(str) == str(spec.get("value"))]
    if len(gdf) == 0:
        zone.missing = f"official layer {name!r} has no feature for this zone"
        return
    zone.geometry = _clean(_to_metric_union(gdf, crs))
    zone.derived, zone.approximate = True, False
    zone.method = f"official layer {name}"


def dianchi_zones(data: Path | None, *, rivers: Path | None = None, basin: Path | None = None,
                  dem: Path | None = None) -> ZoneSet:
    """Read the inputs and derive every zone (the API behind ``kmgis dianchi`` and check-site)."""
    rules = load_rules()
    inputs = gather_inputs(data, rules, rivers=rivers, basin=basin, dem=dem)
    return derive_zones(inputs, rules, data)


# --------------------------------------------------------------------------- map

_COLOURS = {
    "dianchi_water": "#1f78b4", "g2013_zone1": "#e31a1c", "g2013_zone2": "#fd8d3c", "g2013_zone2_rivers": "#fd8d3c",
    "g2013_zone3": "#fed976", "g2023_core": "#b2182b", "g2023_buffer": "#ef8a62", "g2023_green": "#1a9850",
    "dianchi_basin": "#666666",
}


def safe_text(text: object) -> str:
    """Text for a folium map: HTML-escaped, and braces as entities.

    folium renders its Jinja templates a second time, so ``{{ … }}`` or ``{% … %}`` in a
    name or a tooltip would be evaluated; as entities they display as braces.
    """
    return html.escape(str(text)).replace("{", "&#123;").replace("}", "&#125;")


def folium_module() -> Any:
    """``offlinefolium`` (JavaScript embedded, works offline) when installed, else ``folium``."""
    try:
        import offlinefolium as folium_mod
    except ModuleNotFoundError:  # pragma: no cover - depends on the environment
        import folium as folium_mod
    return folium_mod


def add_zone_layers(fmap: Any, zones: ZoneSet, *, show: set[str] | None = None, simplify_m: float = 10.0) -> None:
    """One toggleable layer per derived zone, with an escaped tooltip (name, area, controls)."""
    fol = folium_module()
    for z in zones.derived():
        tag = "approximate" if z.approximate else "official"
        geom = z.geometry.simplify(simplify_m) if simplify_m else z.geometry
        gj = gpd.GeoSeries([geom], crs=zones.crs).to_crs(WGS84)
        props = {
            "zone": safe_text(f"{z.name_zh} — {z.name_en}"),
            "status": safe_text(f"{tag}; {z.area_km2:,.2f} km²"
                                + (f" (published {z.published_km2:g} km²)" if z.published_km2 else "")),
            "controls": safe_text(f"{z.controls_zh} / {z.controls_en}"),
        }
        feature = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(gj.iloc[0])}]}
        colour = _COLOURS.get(z.id, "#888888")
        group = fol.FeatureGroup(name=safe_text(f"{z.name_zh} {z.name_en} [{tag}]"),
                                 show=(show is None or z.id in show))
        fol.GeoJson(feature, style_function=lambda _f, c=colour: {"color": c, "weight": 1.5, "fillColor": c,
                                                                 "fillOpacity": 0.25},
                    tooltip=fol.GeoJsonTooltip(fields=["zone", "status", "controls"],
                                               aliases=["zone", "status", "controls"])).add_to(group)
        group.add_to(fmap)


def zones_map_html(zones: ZoneSet, title: str = "滇池保护分区 Dianchi protection zones") -> str:
    """A standalone layered map of the derived zones (folium, all text escaped)."""
    fol = folium_module()
    lake = gpd.GeoSeries([zones.get("dianchi_water").geometry or shapely.Point(0, 0)], crs=zones.crs)
    c = lake.to_crs(WGS84).iloc[0].centroid
    fmap = fol.Map(location=[c.y, c.x], zoom_start=10, tiles="OpenStreetMap", control_scale=True)
    add_zone_layers(fmap, zones, show={"dianchi_water", "g2013_zone1", "g2013_zone2", "g2023_core", "g2023_buffer"})
    fol.LayerControl(collapsed=False).add_to(fmap)
    note = ("All zones are APPROXIMATE (derived from a simplified OSM lake outline and assumed distances, "
            "see layers/dianchi_zones.yaml) unless marked official. "
            + " | ".join(zones.notes))
    fmap.get_root().html.add_child(fol.Element(
        f'<div style="position:fixed;bottom:8px;left:8px;z-index:9999;max-width:46%;background:#fff;'
        f'padding:6px;font:12px sans-serif;border:1px solid #999"><b>{safe_text(title)}</b><br>'
        f"{safe_text(note)}</div>"))
    return fmap.get_root().render()


# --------------------------------------------------------------------------- run


@dataclass
class DianchiRun:
    zones: ZoneSet
    out_dir: Path
    files: list[Path]


def run_dianchi(out_root: Path, data: Path | None, *, rivers: Path | None = None, basin: Path | None = None,
                dem: Path | None = None, write_map: bool = True) -> DianchiRun:
    """Derive the zones and write ``OUT/dianchi/zones.gpkg`` (layer ``dianchi_zones``), ``zones.csv``, ``map.html``."""
    from kmgis.outputs.files import output_lock, safe_output_dir, write_csv, write_gpkg, write_text

    zones = dianchi_zones(data, rivers=rivers, basin=basin, dem=dem)
    gdf = zones.gdf()
    table = zones.table()
    html_text = zones_map_html(zones) if write_map else None
    out = safe_output_dir(Path(out_root), "dianchi")
    with output_lock(out):
        files = [write_gpkg({"dianchi_zones": gdf}, out / "zones.gpkg"), write_csv(table, out / "zones.csv")]
        if html_text is not None:
            files.append(write_text(html_text, out / "map.html"))
    return DianchiRun(zones, out, files)


def format_zone_table(zones: ZoneSet) -> str:
    """The printed summary: each zone's status and area next to the published figure."""
    lines = [f"{'zone':<20} {'status':<12} {'area km²':>10} {'published km²':>14} {'diff':>7}  name"]
    for z in zones.zones:
        status = ("official" if not z.approximate else "approximate") if z.derived else "NOT DERIVED"
        area = "—" if z.area_km2 is None else f"{z.area_km2:,.2f}"
        pub = "—" if not z.published_km2 else f"{z.published_km2:,.2f}"
        diff = ("" if z.area_km2 is None or not z.published_km2
                else f"{100.0 * (z.area_km2 - z.published_km2) / z.published_km2:+.1f}%")
        lines.append(f"{z.id:<20} {status:<12} {area:>10} {pub:>14} {diff:>7}  {z.name_zh} / {z.name_en}")
        if not z.derived:
            lines.append(f"{'':<20} {z.missing}")
    return "\n".join(lines)


def crs_label(crs: str) -> str:
    c = pyproj.CRS.from_user_input(crs)
    return f"EPSG:{c.to_epsg()}" if c.to_epsg() else c.name
