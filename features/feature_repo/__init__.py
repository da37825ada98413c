"""The Feast feature repo: feature_store.yaml (embedded defaults), the cluster profile, and
the definitions Feast's own CLI can apply."""
