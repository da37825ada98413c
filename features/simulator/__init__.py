"""Synthetic data feeds of a pilot zone."""
