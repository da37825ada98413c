"""What the model registry knows about a version: its run's lineage, config and signature.

Everything is read through MlflowClient from the configured tracking/registry stores; nothing
is written here (alias moves are in `promote`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml

from gridml.errors import MissingDataError, UserError
from gridml.training import tracking

CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass
class VersionInfo:
    """One registered version and the lineage of the run that produced it."""

    name: str
    version: int
    run_id: str
    source: str
    aliases: list[str]
    run_tags: dict[str, str]
    version_tags: dict[str, str]
    config: Any  # the run's config object (DemandConfig, MaintenanceRunConfig, ...)
    config_text: str
    metrics: dict[str, float] = field(default_factory=dict)
    start_time_ms: int | None = None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def _ts(self, tag: str) -> pd.Timestamp | None:
        value = self.run_tags.get(tag)
        return pd.Timestamp(value).tz_convert("UTC") if value else None

    @property
    def train_start(self) -> pd.Timestamp | None:
        return self._ts(tracking.TAG_DATA_START)

    @property
    def train_end(self) -> pd.Timestamp | None:
        return self._ts(tracking.TAG_DATA_END)

    @property
    def feature_service(self) -> str | None:
        return self.run_tags.get(tracking.TAG_FEATURE_SERVICE)


def client():
    from mlflow import MlflowClient

    return MlflowClient()


def aliases(name: str) -> dict[str, int]:
    """alias -> version of registered model `name` (UserError when it is not registered)."""
    from mlflow.exceptions import MlflowException

    try:
        model = client().get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise MissingDataError(
                f"no registered model {name!r} in this registry: train it first "
                f"(gridml train ...) or check --tracking-uri"
            ) from None
        raise
    return {a: int(v) for a, v in model.aliases.items()}


def load_config(class_path: str, text: str) -> Any:
    """The run's config object from its `config.yaml` and `gridml.config_class` tag."""
    module, _, cls_name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module), cls_name)
    return cls.model_validate(yaml.safe_load(text) or {})


def version_info(name: str, version: int) -> VersionInfo:
    """The version, its run's tags, metrics and parsed config (UserError names what lacks)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    c = client()
    try:
        mv = c.get_model_version(name, str(version))
    except MlflowException as exc:
        raise UserError(f"{name} has no version {version}") from exc
    if not mv.run_id:
        raise UserError(f"{name} v{version} has no training run: its lineage is unknown")
    run = c.get_run(mv.run_id)
    class_path = run.data.tags.get(tracking.TAG_CONFIG_CLASS)
    if not class_path:
        raise UserError(f"{name} v{version}: run {mv.run_id} records no config class (lineage)")
    text = mlflow.artifacts.load_text(f"runs:/{mv.run_id}/{tracking.CONFIG_ARTIFACT}")
    return VersionInfo(
        name=name,
        version=int(mv.version),
        run_id=mv.run_id,
        source=mv.source,
        aliases=list(mv.aliases),
        run_tags=dict(run.data.tags),
        version_tags=dict(mv.tags),
        config=load_config(class_path, text),
        config_text=text,
        metrics=dict(run.data.metrics),
        start_time_ms=run.info.start_time,
    )


def signature_columns(uri: str) -> tuple[dict[str, str] | None, list[str] | None]:
    """(input column -> type, output columns) of a logged model's signature (None if absent)."""
    from mlflow.models import get_model_info

    sig = get_model_info(uri).signature
    if sig is None or sig.inputs is None:
        return None, None
    inputs = {c["name"]: c["type"] for c in sig.inputs.to_dict() if "name" in c}
    outputs = [c["name"] for c in sig.outputs.to_dict() if "name" in c] if sig.outputs else None
    return inputs, outputs


def frame_schema(frame: pd.DataFrame) -> dict[str, str]:
    """column -> MLflow type name of a frame (what serving sends, as MLflow would infer it)."""
    from mlflow.models import infer_signature

    return {c["name"]: c["type"] for c in infer_signature(frame).inputs.to_dict()}
