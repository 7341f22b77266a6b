"""The indicator contract: what every indicator function returns.

An indicator function takes data (model layers, a network, residents) and parameters and
returns a :class:`Result`: one or more :class:`Indicator` records (numeric ``value``, NaN
when the input is missing, with a ``status`` and what to supply), the per-feature values
where they exist (index-aligned with the input, momepy style) and any derived layers.
:meth:`Result.to_frame` gives the tidy table.  Nothing here reads files or prints.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import geopandas as gpd
import pandas as pd

from kmgis.errors import KmgisError

STATUS_OK = "ok"
STATUS_NO_DATA = "no data"

FRAME_COLUMNS = ["indicator", "value", "unit", "status", "missing", "scope", "method", "inputs", "params"]


def _as_float(value: Any) -> float:
    if value is None:
        return math.nan
    return float(value)


@dataclass(frozen=True)
class Indicator:
    """One computed indicator value with everything needed to trace it.

    ``indicator``: ASCII id with the unit in the name (``road_density_km_per_km2``);
    ``value``: the number as a float (NaN = no data); ``unit``: the unit as text
    (``km/km²``); ``scope``: the area / population it refers to; ``method``: how it was
    computed; ``inputs``: the model layers used; ``params``: the parameters; ``missing``:
    with no data, what to supply.

    >>> Indicator("road_length_km", 12, "km", "built-up area", "sum").value
    12.0
    >>> no_data("green_ratio_pct", "%", "built-up area", "green: supply OSM").status
    'no data'
    """

    indicator: str
    value: float
    unit: str
    scope: str
    method: str
    inputs: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    missing: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _as_float(self.value))
        object.__setattr__(self, "inputs", tuple(self.inputs))

    @property
    def has_value(self) -> bool:
        """True when ``value`` is a finite number."""
        return math.isfinite(self.value)

    @property
    def status(self) -> str:
        """``ok`` with a value, ``no data`` without one."""
        return STATUS_OK if self.has_value else STATUS_NO_DATA

    def as_row(self) -> dict[str, Any]:
        """The record as a row of :meth:`Result.to_frame` (params as sorted JSON text)."""
        return {
            "indicator": self.indicator, "value": self.value, "unit": self.unit, "status": self.status,
            "missing": self.missing or "", "scope": self.scope, "method": self.method,
            "inputs": ",".join(self.inputs), "params": json.dumps(self.params, sort_keys=True, default=str,
                                                                 ensure_ascii=False),
        }


def no_data(indicator: str, unit: str, scope: str, missing: str, *, method: str = "", **params: Any) -> Indicator:
    """A ``no data`` record (value NaN) naming what to supply."""
    return Indicator(indicator, math.nan, unit, scope, method or "not computed: input missing", (), params, missing)


class Result(Sequence[Indicator]):
    """What an indicator function returns: records, per-feature values and derived layers.

    A sequence of :class:`Indicator` records (iterate, ``len``, index by position), also
    addressable by id (``result["road_density_km_per_km2"]``).  ``per_feature``: a
    DataFrame index-aligned with the input features (e.g. each resident's walking distance
    in metres), or None; ``layers``: derived GeoDataFrames (e.g. the built-up patch).

    >>> r = Result([Indicator("road_length_km", 3.5, "km", "area", "sum")])
    >>> r["road_length_km"].value, r.values.to_dict()
    (3.5, {'road_length_km': 3.5})
    >>> r.to_frame()[["indicator", "value", "status"]].to_dict("records")
    [{'indicator': 'road_length_km', 'value': 3.5, 'status': 'ok'}]
    """

    def __init__(self, records: Iterable[Indicator], *, per_feature: pd.DataFrame | None = None,
                 layers: dict[str, gpd.GeoDataFrame] | None = None) -> None:
        self.records: tuple[Indicator, ...] = tuple(records)
        self.per_feature = per_feature
        self.layers: dict[str, gpd.GeoDataFrame] = dict(layers or {})

    @overload
    def __getitem__(self, key: int) -> Indicator: ...
    @overload
    def __getitem__(self, key: str) -> Indicator: ...
    @overload
    def __getitem__(self, key: slice) -> tuple[Indicator, ...]: ...

    def __getitem__(self, key):
        if isinstance(key, str):
            for rec in self.records:
                if rec.indicator == key:
                    return rec
            raise KeyError(f"no indicator {key!r} in this result; it has {', '.join(self.ids)}")
        return self.records[key]

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Indicator]:
        return iter(self.records)

    def __repr__(self) -> str:
        shown = ", ".join(f"{r.indicator}={r.value:.6g}" if r.has_value else f"{r.indicator}=no data"
                          for r in self.records)
        return f"Result({shown})"

    @property
    def ids(self) -> list[str]:
        """The records' indicator ids, in order."""
        return [r.indicator for r in self.records]

    @property
    def values(self) -> pd.Series:
        """The values as a float Series indexed by indicator id (NaN = no data)."""
        return pd.Series([r.value for r in self.records], index=pd.Index(self.ids, name="indicator"),
                         dtype=float, name="value")

    def to_frame(self) -> pd.DataFrame:
        """The tidy table: one row per record, numeric ``value`` and a ``status`` column."""
        return pd.DataFrame([r.as_row() for r in self.records], columns=FRAME_COLUMNS)

    def __add__(self, other: Result) -> Result:
        return combine([self, other])


def combine(results: Sequence[Result | Indicator]) -> Result:
    """Records of several results (or single records) in order; layers merged, per-feature dropped."""
    records: list[Indicator] = []
    layers: dict[str, gpd.GeoDataFrame] = {}
    for r in results:
        if isinstance(r, Indicator):
            records.append(r)
            continue
        records.extend(r.records)
        for name, layer in r.layers.items():
            if name in layers:
                raise KmgisError(f"two results carry a layer named {name!r}")
            layers[name] = layer
    return Result(records, layers=layers)
