"""Indicators: pure functions on the data model, returning :class:`~kmgis.indicators.result.Result`.

Every indicator function takes data and parameters and returns records with a numeric
value (NaN when an input is missing, with ``status`` ``no data`` and what to supply —
never a guessed value).  Functions know nothing of files, recipes or maps.  Each indicator
is declared once in :mod:`kmgis.indicators.registry`.
"""

from kmgis.indicators.result import STATUS_NO_DATA, STATUS_OK, Indicator, Result, combine, no_data

__all__ = ["STATUS_NO_DATA", "STATUS_OK", "Indicator", "Result", "combine", "no_data"]
