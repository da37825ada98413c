"""Demand forecasting: baselines, Prophet and LightGBM, backtests, reconciliation."""
