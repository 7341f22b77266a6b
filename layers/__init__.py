"""kmgis.layers: the tables of this folder, shipped as package data (read by kmgis.config; no code)."""
