"""Benchmarks of kmgis against reference libraries (run as modules, never asserted in tests)."""
