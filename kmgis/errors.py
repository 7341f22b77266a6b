"""The one exception type for user errors.

A :class:`KmgisError` carries a one-line message that names the input and what is
wrong with it; the CLI prints it without a traceback and exits with code 2.
"""


class KmgisError(Exception):
    """A user error (bad input, missing data, invalid recipe): printed as one line."""

    exit_code = 2
