"""The run settings every training pipeline shares: what a run registers (`registered_model`),
where it is tracked (`tracking`), and the names derived from the registered one.

A YAML writes the registered name once: the MLflow experiment (`tracking.experiment`) and the
run name (`name`, of the run config or of its `model` section) default to it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import model_validator

from gridml.config import BaseConfig
from gridml.training.tracking import TrackingConfig


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


class RunSettings(BaseConfig):
    """Base of a pipeline's run config whose model config sits under `model`: a subclass sets
    `REGISTERED_DEFAULT` (its spec's name) and declares `model`; `registered_model`,
    `tracking.experiment` and `model.name` default to the registered name."""

    REGISTERED_DEFAULT: ClassVar[str]

    tracking: TrackingConfig
    registered_model: str

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: object) -> object:
        if isinstance(data, dict):
            data = {"registered_model": cls.REGISTERED_DEFAULT, **data}
        return default_names(data, cls.REGISTERED_DEFAULT, ("model",))
