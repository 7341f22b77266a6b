"""kmgis.recipes: the recipes of this folder, shipped as package data (kmgis.config.packaged_recipe; no code)."""
