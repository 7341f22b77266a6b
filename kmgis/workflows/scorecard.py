"""Indicator records against the plan targets of ``layers/targets.yaml``: the scorecard table.

A scorecard row joins one :class:`~kmgis.indicators.Indicator` record with one applicable
target (or none): the numeric value (NaN without data), its ``status``, unit, target,
comparison, whether it is met, the scope, the data source, the plan clause and the method.
Labels and definitions come from the indicator registry; an id it does not declare is an
error.  Building the table writes nothing (the writers are in :mod:`kmgis.outputs`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from kmgis.errors import KmgisError
from kmgis.indicators import Indicator, registry

COLUMNS = [
    "indicator", "label_zh", "label_en", "value", "status", "unit", "target", "comparison", "meets", "scope",
    "target_id", "year", "source", "clause", "method", "definition", "parameters",
]

# recipe scope → target scopes that apply to it
_SCOPES = {
    "county_seat": {"county_seat", "any"},
    "central_city": {"central_city", "any"},
    "sample": {"county_seat", "any"},
}


def check_targets(table: Mapping[str, Any]) -> list[dict]:
    """The ``targets`` of a parsed ``targets.yaml``, each naming a declared indicator (else one error)."""
    targets = list(table.get("targets") or [])
    registry.check_ids([t["indicator"] for t in targets], "layers/targets.yaml")
    return targets


def applicable_targets(targets: Sequence[dict], recipe_scope: str, target_ids: list[str] | None = None) -> list[dict]:
    """The targets for a recipe scope (or exactly those listed by id)."""
    if recipe_scope not in _SCOPES:
        raise KmgisError(f"unknown recipe scope {recipe_scope!r}; known: {', '.join(_SCOPES)}")
    if target_ids:
        return [t for t in targets if t["id"] in target_ids]
    return [t for t in targets if t["scope"] in _SCOPES[recipe_scope]]


def meets(value: float | None, comparison: str, target: float | None) -> str:
    """``yes`` / ``no`` for numeric targets, ``—`` for report-only, ``no data`` without a value.

    >>> meets(9.1, ">=", 8.5), meets(7.1, ">=", 8.5), meets(float("nan"), ">=", 8.5)
    ('yes', 'no', 'no data')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    if comparison == "report" or target is None:
        return "—"
    if comparison == ">=":
        return "yes" if value >= target else "no"
    if comparison == "<=":
        return "yes" if value <= target else "no"
    raise KmgisError(f"unknown comparison {comparison!r} in layers/targets.yaml (known: >=, <=, report)")


def _fmt_params(params: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in sorted(params.items()))


def _unverified_prefix(ind: Indicator) -> str:
    """``verified: false (…) — `` when the record rests on standard values no text was read for."""
    unverified = ind.params.get("unverified_standard_values") or []
    return f"verified: false ({', '.join(map(str, unverified))}) — " if unverified else ""


def _base_row(ind: Indicator, sources: Mapping[str, str], decimals: int) -> dict[str, Any]:
    entry = registry.spec(ind.indicator)
    value = round(ind.value, decimals) if ind.has_value else math.nan
    return {
        "indicator": ind.indicator, "label_zh": entry.zh, "label_en": entry.en, "value": value,
        "status": ind.status, "unit": ind.unit, "scope": ind.scope,
        "source": " | ".join(sources[k] for k in ind.inputs if k in sources) or "—",
        "method": _unverified_prefix(ind) + (ind.method if ind.has_value else f"no data: {ind.missing}"),
        "definition": entry.definition,
        "parameters": _fmt_params(ind.params),
    }


def build_scorecard(
    indicators: Sequence[Indicator], targets: Sequence[dict], documents: Mapping[str, str], recipe_scope: str,
    sources: Mapping[str, str], *, target_ids: list[str] | None = None, decimals: int = 3,
) -> pd.DataFrame:
    """One row per (indicator, applicable target); indicators with no target get one row.

    ``targets``/``documents``: the parsed ``targets.yaml`` (:func:`check_targets`);
    ``sources`` maps a model layer name (``roads``, ``parks``, …) to a one-line description
    of where it came from (file, SHA-256, date, licence).  ``value`` is numeric (rounded to
    ``decimals``; NaN with ``status`` ``no data``).
    """
    chosen = applicable_targets(targets, recipe_scope, target_ids)
    rows = []
    for ind in indicators:
        base = _base_row(ind, sources, decimals)
        matched = [t for t in chosen if t["indicator"] == ind.indicator]
        if not matched:
            rows.append(base | {"target": "", "comparison": "", "meets": "—" if ind.has_value else "no data",
                                "target_id": "", "year": "", "clause": ""})
        for t in matched:
            clause = f"{t['document']} {documents.get(t['document'], '')}: {t['clause']}"
            if t.get("interpretation"):
                clause += f" (interpretation: {t['interpretation']})"
            rows.append(base | {
                "target": t.get("value", ""), "comparison": t["comparison"],
                "meets": meets(base["value"], t["comparison"], t.get("value")),
                "target_id": t["id"], "year": t.get("year", ""), "clause": clause,
            })
    return pd.DataFrame(rows, columns=COLUMNS)
