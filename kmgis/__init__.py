"""kmgis: spatial-planning indicators for Kunming from open map data."""

from kmgis._version import __version__

__all__ = ["__version__"]
