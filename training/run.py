"""The run settings every training pipeline shares: what a run registers (`registered_model`),
where it is tracked (`tracking`), and the names derived from the registered one.

A YAML writes the registered name once: the MLflow experiment (`tracking.experiment`) and the
run name (`name`, of the run config or of its `model` section) default to it.
"""

from __future__ import annotations

from typing import Any


def default_names(data: Any, registered_default: str, name_at: tuple[str, ...] = ()) -> Any:
    """`data` (a run config's raw mapping) with `tracking.experiment` and the run name (the
    `name` field under the path `name_at`) set to the registered name where not given."""
    if not isinstance(data, dict):
        return data
    registered = data.get("registered_model") or registered_default
    out = dict(data)
    tracking = out.get("tracking")
    if tracking is None or (isinstance(tracking, dict) and "experiment" not in tracking):
        out["tracking"] = {**(tracking or {}), "experiment": registered}
    holder: dict[str, Any] = out
    for key in name_at:
        inner = holder.get(key)
        if inner is not None and not isinstance(inner, dict):
            return out  # a config object given as such: leave it
        holder[key] = dict(inner or {})
        holder = holder[key]
    holder.setdefault("name", registered)
    return out
