"""Indicator results against the plan targets of ``layers/targets.yaml``.

A scorecard row joins one :class:`~kmgis.indicators.Indicator` with one applicable target
(or none): value, unit, target, comparison, whether it is met, the scope, the data source,
the plan clause and the method.  Indicators without data say ``no data`` and what to supply.
"""

from __future__ import annotations

import math

import pandas as pd

from kmgis.config import load_layers_yaml
from kmgis.indicators import Indicator

COLUMNS = [
    "indicator", "label_zh", "label_en", "value", "unit", "target", "comparison", "meets", "scope",
    "target_id", "year", "source", "clause", "method", "definition", "parameters",
]

# recipe scope → target scopes that apply to it
_SCOPES = {
    "county_seat": {"county_seat", "any"},
    "central_city": {"central_city", "any"},
    "sample": {"county_seat", "any"},
}


def applicable_targets(recipe_scope: str, target_ids: list[str] | None = None) -> list[dict]:
    """The targets of ``layers/targets.yaml`` for a recipe scope (or exactly those listed)."""
    targets = load_layers_yaml("targets")["targets"]
    if target_ids:
        return [t for t in targets if t["id"] in target_ids]
    return [t for t in targets if t["scope"] in _SCOPES[recipe_scope]]


def _definition(indicator: str) -> dict:
    table = load_layers_yaml("indicators")["indicators"]
    if indicator in table:
        return table[indicator]
    prefixes = [k for k in table if k.endswith("_") and indicator.startswith(k)]
    return table[max(prefixes, key=len)] if prefixes else {}


def meets(value: float | None, comparison: str, target: float | None) -> str:
    """``yes`` / ``no`` for numeric targets, ``—`` for report-only, ``no data`` without a value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    if comparison == "report" or target is None:
        return "—"
    if comparison == ">=":
        return "yes" if value >= target else "no"
    if comparison == "<=":
        return "yes" if value <= target else "no"
    raise ValueError(f"unknown comparison {comparison!r} in layers/targets.yaml")


def _fmt_params(params: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in sorted(params.items()))


def build_scorecard(
    indicators: list[Indicator], recipe_scope: str, sources: dict[str, str], *, target_ids: list[str] | None = None,
    decimals: int = 3,
) -> pd.DataFrame:
    """One row per (indicator, applicable target); indicators with no target get one row.

    ``sources`` maps a model layer name (``roads``, ``parks``, …) to a one-line description
    of where it came from (file, SHA-256, date, licence).
    """
    targets = applicable_targets(recipe_scope, target_ids)
    docs = load_layers_yaml("targets")["documents"]
    rows = []
    for ind in indicators:
        d = _definition(ind.indicator)
        value = round(float(ind.value), decimals) if ind.has_value else None
        src = " | ".join(sources[k] for k in ind.inputs if k in sources) or "—"
        method = ind.method if ind.has_value else f"no data: {ind.missing}"
        base = {
            "indicator": ind.indicator, "label_zh": d.get("zh", ""), "label_en": d.get("en", ""),
            "value": "no data" if value is None else value, "unit": ind.unit, "scope": ind.scope,
            "source": src, "method": method, "definition": d.get("definition", ""),
            "parameters": _fmt_params(ind.params),
        }
        matched = [t for t in targets if t["indicator"] == ind.indicator]
        if not matched:
            rows.append(base | {"target": "", "comparison": "", "meets": "—" if value is not None else "no data",
                                "target_id": "", "year": "", "clause": ""})
        for t in matched:
            clause = f"{t['document']} {docs.get(t['document'], '')}: {t['clause']}"
            if t.get("interpretation"):
                clause += f" (interpretation: {t['interpretation']})"
            rows.append(base | {
                "target": t.get("value", ""), "comparison": t["comparison"],
                "meets": meets(value, t["comparison"], t.get("value")),
                "target_id": t["id"], "year": t.get("year", ""), "clause": clause,
            })
    return pd.DataFrame(rows, columns=COLUMNS)
