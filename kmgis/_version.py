"""The version of kmgis (one place; read by the package, the CLI and run.json)."""

__version__ = "0.1.0"
