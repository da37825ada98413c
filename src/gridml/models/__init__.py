"""What each model is, in one place: `ModelSpec` (spec.py), the built-in specs (builtin.py) and
the catalog every command and the service look a model up in (catalog.py).

This package sits below `training/`, `mlops/` and `serving/` and imports none of them: a spec
names its code as `"module:attribute"` strings, resolved when used.
"""
