"""kmgis: spatial-planning indicators for Kunming from open map data."""

__version__ = "0.1.0"
