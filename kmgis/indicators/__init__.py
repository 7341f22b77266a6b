"""Indicators: pure functions on the data model, returning values with units.

Every indicator function returns one or more :class:`Indicator` records.  A record whose
input layer is missing has ``value=None`` and ``missing`` naming what to supply — never a
guessed value.  Functions know nothing of files, recipes or maps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Indicator:
    """One computed indicator value with everything needed to trace it.

    ``indicator``: ASCII id with the unit in the name (``road_density_km_per_km2``);
    ``value``: the number (None = no data); ``unit``: the unit as text (``km/km²``);
    ``scope``: what area / population it refers to; ``method``: how it was computed;
    ``inputs``: the model layers used; ``params``: the parameters; ``missing``: with no
    data, which layer to supply.
    """

    indicator: str
    value: float | None
    unit: str
    scope: str
    method: str
    inputs: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    missing: str | None = None

    @property
    def has_value(self) -> bool:
        return self.value is not None and not (isinstance(self.value, float) and math.isnan(self.value))


def no_data(indicator: str, unit: str, scope: str, missing: str, *, method: str = "", **params: Any) -> Indicator:
    """A ``no data`` record naming the layer to supply."""
    return Indicator(indicator, None, unit, scope, method or "not computed: input missing", (), params, missing)
