"""Workflows: compose sources, network, population and indicators into results (nothing written)."""
