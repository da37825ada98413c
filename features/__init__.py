"""Data feeds, contracts and the Feast feature store."""
