"""Outputs: writers of results (files, scorecard, maps, summary); they only read results."""
