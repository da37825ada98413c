"""Electricity-theft detection: samples from Feast and the daily series, a LightGBM baseline and a
PyTorch Wide & Deep CNN (Zheng et al. 2018), inspection-budget metrics and reason codes."""
