"""Predictive maintenance of distribution transformers: failure within the horizon."""
