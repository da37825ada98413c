"""The Feast feature store."""
