"""How numbers are shown: decimals per unit, one table for every report, page and workbook.

Persons are whole numbers, shares one decimal, densities two.  A unit not in the table is a
one-line error naming the known units (tests check that every registered indicator's unit
is in it), so a new unit cannot be shown with an arbitrary precision.
"""

from __future__ import annotations

import math

from kmgis.errors import KmgisError

UNIT_DECIMALS: dict[str, int] = {
    "persons": 0,
    "persons/km²": 0,
    "residents": 0,
    "stations": 0,
    "lines": 0,
    "sites": 0,
    "facilities": 0,
    "intersections/km²": 1,
    "%": 1,
    "percentage points": 1,
    "m²/person": 1,
    "km": 1,
    "m": 0,
    "min": 1,
    "km²": 2,
    "km/km²": 2,
    "z": 2,
    "score 0–3": 2,
}
"""Decimals shown per unit (the stored values keep full precision)."""


def unit_decimals(unit: str) -> int:
    """Decimals to show for ``unit``.

    Units of the form ``of N members`` (counts out of a total) are whole numbers.

    >>> unit_decimals("persons"), unit_decimals("%"), unit_decimals("km/km²"), unit_decimals("of 9 members")
    (0, 1, 2, 0)
    """
    unit = str(unit).strip()
    if unit in UNIT_DECIMALS:
        return UNIT_DECIMALS[unit]
    if unit.startswith("of ") and unit.endswith((" members", " units")):
        return 0
    raise KmgisError(f"no number format for unit {unit!r}; known units: {', '.join(UNIT_DECIMALS)}")


def excel_format(unit: str) -> str:
    """The Excel number format of ``unit``: thousands separators and :func:`unit_decimals` decimals.

    >>> excel_format("persons"), excel_format("km/km²")
    ('#,##0', '#,##0.00')
    """
    d = unit_decimals(unit)
    return "#,##0" + ("." + "0" * d if d else "")


def format_value(value: object, unit: str, *, strict: bool = True) -> str:
    """``value`` with thousands separators and the unit's decimals; non-numbers come back as text.

    NaN and None are ``no data`` (the scorecard's word for a missing value).  A unit without a
    format raises :class:`KmgisError`; with ``strict=False`` (pages drawn from files a user may
    have edited) the value is shown as written instead.

    >>> format_value(3758158.116, "persons"), format_value(5.98712, "km/km²"), format_value(None, "%")
    ('3,758,158', '5.99', 'no data')
    >>> format_value("—", "%"), format_value("7.125", "furlongs", strict=False)
    ('—', '7.125')
    """
    if value is None:
        return "no data"
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value) if str(value).strip() else "no data"
    if math.isnan(x):
        return "no data"
    if not math.isfinite(x):
        return str(value)
    try:
        decimals = unit_decimals(unit)
    except KmgisError:
        if strict:
            raise
        return str(value)
    return f"{x:,.{decimals}f}"
