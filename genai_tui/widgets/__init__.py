"""Reusable widgets, each small and self-contained. None of them calls a model library."""
