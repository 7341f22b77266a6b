"""Dianchi (滇池) protection zones from the rules and the input geometries (pure: no files, no YAML).

The rules are the parsed ``layers/dianchi_zones.yaml`` (passed in as a dict): for each zone of the
2013 grading (zones 1, 2 and 3 of 《云南省滇池保护条例》) and of the 2023 "two lines, three zones"
(core, buffer and green-development zones), how it is derived, the controls that apply and the
source.  :func:`derive_zones` turns those rules and an :class:`Inputs` (the lake, rivers, basin and
boundary polygons, already read, in the metric CRS) into a :class:`ZoneSet`:

* every derived zone is ``approximate``; a zone whose ``official`` entry names a layer present in
  ``Inputs.official`` is taken from it instead and is not approximate;
* a zone that cannot be derived (no river lines, say) is reported *not derived* with what to supply.

:func:`basin_from_dem_grid` gives the lake's catchment from DEM arrays (priority-flood watershed
labelling).  All geometry is in the metric CRS of the rules (EPSG:32648, metres); areas in km².
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from kmgis.errors import KmgisError
from kmgis.model import WGS84

DEFAULT_METRIC_CRS = "EPSG:32648"
QUAD_SEGS = 16
"""Segments per quarter circle of every buffer (deterministic output)."""

METHODS = {"lake", "lake_setback", "ring", "river_strips", "basin_minus", "basin"}
EFFECTS = {"conflict", "caution", "none"}


# --------------------------------------------------------------------------- rules


def check_rules(rules: dict[str, Any], where: str = "layers/dianchi_zones.yaml") -> dict[str, Any]:
    """The zone rules, checked: known methods and effects, sources and parameters that exist.

    Returns ``rules`` unchanged; a problem is a one-line :class:`KmgisError` naming ``where``.
    """
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
        if method not in METHODS:
            raise KmgisError(f"{where}: zone {zid}: unknown derive.method {method!r} (known: {', '.join(sorted(METHODS))})")
        if z.get("effect_inside", "conflict") not in EFFECTS:
            raise KmgisError(f"{where}: zone {zid}: effect_inside must be one of {sorted(EFFECTS)}")
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
    """Names of the parameters a zone's ``derive`` entry refers to."""
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
    """The URL of the source ``key`` of the rules ('' when unknown)."""
    src = (rules.get("sources") or {}).get(key or "") or {}
    return str(src.get("url", ""))


# --------------------------------------------------------------------------- data classes


@dataclass
class Zone:
    """One zone: its rule, and its geometry in the metric CRS (metres) when derived."""

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
        """Every zone with status, area (km²) and the published figure (``zones.csv``)."""
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
    """The geometries feeding the zones, in the metric CRS (metres), with a description of each source.

    ``polygons`` holds optional boundary polygons by input key (``facing_hills``, ``red_line``,
    ``yellow_line``); ``official`` the official zone layers (WGS84 GeoDataFrames) by catalogue name;
    ``missing`` says what to supply for an input that is absent.
    """

    lake: shapely.Geometry
    crs: str
    described: dict[str, str]
    rivers: shapely.Geometry | None = None
    basin: shapely.Geometry | None = None
    basin_approximate: bool = True
    polygons: dict[str, shapely.Geometry] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    official: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)


def to_metric_union(gdf: gpd.GeoDataFrame, crs: str) -> shapely.Geometry:
    """The union of a layer's geometries in ``crs`` (metres)."""
    return shapely.union_all(np.asarray(gdf.to_crs(crs).geometry.values))


# --------------------------------------------------------------------------- derivation


def derive_zones(inputs: Inputs, rules: dict[str, Any]) -> ZoneSet:
    """Every zone of ``rules`` as a metric polygon, or *not derived* with what to supply.

    Parameters
    ----------
    inputs : the lake, rivers, basin and boundary polygons in ``inputs.crs`` (metres), and the
        official zone layers.
    rules : the parsed zone rules (``layers/dianchi_zones.yaml``, see :func:`check_rules`).

    Returns
    -------
    ZoneSet
        The zones in rule order, geometries in ``inputs.crs``; notes describe every input.
    """
    params = rules.get("parameters") or {}
    zones: list[Zone] = []
    by_id: dict[str, Zone] = {}
    for z in rules["zones"]:
        zone = _zone_of_rule(z, rules)
        zones.append(zone)
        by_id[zone.id] = zone
        official = z.get("official")
        if official:
            _apply_official(zone, official, inputs.official, inputs.crs)
            if zone.derived:
                continue
        if not _derive(zone, z["derive"], inputs, params, by_id):
            continue
        if zone.geometry is not None and not zone.geometry.is_empty:
            zone.geometry = _clean(zone.geometry)
            zone.derived, zone.approximate = True, True
        else:
            zone.geometry = None
            zone.missing = zone.missing or "empty geometry: check the inputs"
    notes = [f"{k}: {v}" for k, v in inputs.described.items()]
    notes += [f"{k}: {v}" for k, v in inputs.missing.items()]
    return ZoneSet(zones, inputs.crs, dict(inputs.described), notes)


def _zone_of_rule(z: dict[str, Any], rules: dict[str, Any]) -> Zone:
    """A zone with its rule's names, controls and sources, not yet derived."""
    pub = z.get("published") or {}
    return Zone(
        id=z["id"], scheme=str(z.get("scheme", "")), grade=z.get("grade"), name_zh=z["name_zh"],
        name_en=z["name_en"], effect_inside=z.get("effect_inside", "conflict"),
        controls_zh=z.get("controls_zh", ""), controls_en=z.get("controls_en", ""), source=z["source"],
        source_url=source_url(rules, z["source"]), clause=str(z.get("clause", "")),
        published_km2=float(pub["value_km2"]) if pub.get("value_km2") is not None else None,
        published_source=source_url(rules, pub.get("source")) if pub else "",
    )


def _pval(params: dict[str, Any], name: str) -> float:
    """The value of parameter ``name`` (metres)."""
    return float(params[name]["value"])


def _passumed(params: dict[str, Any], name: str) -> list[str]:
    """``["name=value (assumed)"]`` when the parameter is assumed, else ``[]``."""
    p = params[name]
    return [f"{name}={p['value']:g} (assumed)"] if p.get("assumed") else []


def _lake_plus(lake: shapely.Geometry, d_m: float) -> shapely.Geometry:
    """The lake buffered by ``d_m`` metres (the lake itself for 0)."""
    return lake if d_m == 0 else lake.buffer(d_m, quad_segs=QUAD_SEGS)


def _line(side: dict[str, Any], inputs: Inputs, params: dict[str, Any]) -> tuple[shapely.Geometry, str, list[str]]:
    """One side of a ring: (the polygon inside that line, its description, the assumptions)."""
    if "param" in side:
        value = side["param"]
        d = _pval(params, value) if isinstance(value, str) else float(value)
        ass = _passumed(params, value) if isinstance(value, str) else []
        return _lake_plus(inputs.lake, d), ("the shoreline" if d == 0 else f"lake + {d:g} m"), ass
    key = side["input"]
    if key == "basin":
        basin_txt = "the basin divide" + (" (approximated)" if inputs.basin_approximate else "")
        return inputs.basin, basin_txt, []
    if key in inputs.polygons:
        return inputs.polygons[key], f"{key} layer", []
    name = side["approx_param"]
    d = _pval(params, name)
    return _lake_plus(inputs.lake, d), f"{key} approximated as lake + {d:g} m", _passumed(params, name)


def _minus_derived(geom: shapely.Geometry, others: list[str], by_id: dict[str, Zone]) -> tuple[shapely.Geometry, list[str]]:
    """``geom`` minus the derived zones of ``others``; also the ids of those not derived (left in)."""
    left_out = []
    for other in others:
        if other in by_id and by_id[other].derived:
            geom = geom.difference(by_id[other].geometry)
        else:
            left_out.append(other)
    return geom, left_out


def _derive(zone: Zone, d: dict[str, Any], inputs: Inputs, params: dict[str, Any], by_id: dict[str, Zone]) -> bool:
    """Set the zone's raw geometry, method and assumptions from its ``derive`` rule.

    Returns False when the zone cannot be derived at all (its ``missing`` then says why).
    """
    method = d["method"]
    basin_note = [] if not inputs.basin_approximate else ["basin approximated"]
    if method == "lake":
        zone.geometry, zone.method = inputs.lake, "the lake polygon"
    elif method == "lake_setback":
        dist = _pval(params, d["setback"])
        zone.geometry = _lake_plus(inputs.lake, dist)
        zone.method = f"lake + {dist:g} m setback (shoreline stands in for the boundary piles)"
        zone.assumed = _passumed(params, d["setback"])
    elif method == "ring":
        outer, otxt, oass = _line(d["outer"], inputs, params)
        inner, itxt, iass = _line(d["inner"], inputs, params)
        zone.geometry = outer.intersection(inputs.basin).difference(inner)
        zone.method = f"from {itxt} to {otxt}, within the basin"
        zone.assumed = iass + oass + (basin_note if d["outer"].get("input") == "basin" else [])
    elif method == "river_strips":
        if inputs.rivers is None:
            zone.missing = inputs.missing.get("rivers", "supply --rivers")
            zone.method = "not derived: no river lines"
            return False
        dist = _pval(params, d["strip"]) + _pval(params, d["half_width"])
        geom = inputs.rivers.buffer(dist, quad_segs=QUAD_SEGS).intersection(inputs.basin)
        zone.geometry, _ = _minus_derived(geom, d.get("minus") or [], by_id)
        zone.method = (f"river centrelines + {dist:g} m ({_pval(params, d['strip']):g} m strip + half width), "
                       "within the basin")
        zone.assumed = _passumed(params, d["strip"]) + _passumed(params, d["half_width"])
    elif method == "basin_minus":
        zone.geometry, left_out = _minus_derived(inputs.basin, d.get("minus") or [], by_id)
        zone.method = "the basin minus " + ", ".join(d.get("minus") or [])
        if left_out:
            zone.method += f" (includes {', '.join(left_out)}: not derived)"
        zone.assumed = basin_note
    elif method == "basin":
        zone.geometry, zone.method = inputs.basin, "the basin"
        zone.assumed = basin_note
    return True


def _clean(geom: shapely.Geometry) -> shapely.Geometry:
    """Polygonal parts only, valid, without slivers below 1 m²."""
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area >= 1.0]
    return shapely.MultiPolygon(parts) if len(parts) > 1 else (parts[0] if parts else shapely.Polygon())


def _apply_official(zone: Zone, official: Any, layers: dict[str, gpd.GeoDataFrame], crs: str) -> None:
    """Take the zone from its official layer (``official``: a layer name, or layer/column/value)."""
    spec = {"layer": official} if isinstance(official, str) else dict(official)
    name = spec.get("layer")
    if name not in layers:
        zone.missing = f"official layer {name!r} is not in layers/catalog.yaml"
        return
    gdf = layers[name]
    if spec.get("column"):
        if spec["column"] not in gdf.columns:
            raise KmgisError(f"official layer {name}: no column {spec['column']!r} (map it under 'fields')")
        gdf = gdf[gdf[spec["column"]].astype(str) == str(spec.get("value"))]
    if len(gdf) == 0:
        zone.missing = f"official layer {name!r} has no feature for this zone"
        return
    zone.geometry = _clean(to_metric_union(gdf, crs))
    zone.derived, zone.approximate = True, False
    zone.method = f"official layer {name}"


def official_layer_names(rules: dict[str, Any]) -> list[str]:
    """The layer names the rules' ``official`` entries refer to, in rule order, once each."""
    names: list[str] = []
    for z in rules.get("zones") or []:
        official = z.get("official")
        if official:
            name = official if isinstance(official, str) else dict(official).get("layer")
            if name not in names:
                names.append(name)
    return names


# --------------------------------------------------------------------------- basin from a DEM


def basin_from_dem_grid(elevation_m: np.ndarray, valid: np.ndarray, transform: Any, crs: Any,
                        lake_wgs84: shapely.Geometry, source: str = "the DEM") -> shapely.Geometry:
    """The lake's catchment (WGS84 polygon) from DEM arrays by priority-flood watershed labelling.

    Seeds: the lake cells (label *lake*) and the valid cells on the DEM edge or next to nodata
    (label *out*).  Cells are visited in order of their spill elevation (max of their own and
    the cell they were reached from), each taking the label of the cell that reached it — so a
    cell gets the outlet it drains to on the depression-filled DEM (Barnes et al. 2014).  The
    catchment is the union of the *lake* cells, holes filled.

    Parameters
    ----------
    elevation_m : elevations (metres) of the grid, rows north to south.
    valid : True where the cell has an elevation.
    transform : the grid's affine transform (rasterio / affine), in ``crs`` units.
    crs : the grid's CRS.
    lake_wgs84 : the lake polygon, WGS84.
    source : names the DEM in the error when it does not cover the lake.
    """
    from rasterio.features import rasterize, shapes

    h, w = elevation_m.shape
    lake_dem = gpd.GeoSeries([lake_wgs84], crs=WGS84).to_crs(crs).iloc[0]
    lake_mask = rasterize([(lake_dem, 1)], out_shape=(h, w), transform=transform, fill=0, all_touched=True,
                          dtype="uint8").astype(bool) & valid
    if not lake_mask.any():
        raise KmgisError(f"{source} does not cover the lake")
    labels = _priority_flood_labels(elevation_m, valid, lake_mask)
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
