"""Typed configuration of the prediction service.

Two parts:

- `ServingConfig` (`experiments/serving.yaml`): which models, limits, polling; the file named by
  `$GRIDML_SERVING_CONFIG` (default `experiments/serving.yaml`, else the defaults below);
- `ProcessSettings`: how the process runs (workers, request threads, timeout, batching, torch
  threads), from the `GRIDML_SERVING_*` environment variables that `gridml serve` sets. Read
  once, when the service is built (`service.GridML` on first access), never at import time.

The workspace comes from `$GRIDML_WORKSPACE`. API keys never live here: see `auth.py`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gridml.config import BaseConfig
from gridml.serving.schema import MAX_IDS_CEILING, MAX_READINGS_CEILING
from gridml.training.tracking import TrackingConfig

if TYPE_CHECKING:
    from gridml.models.spec import ModelSpec

CONFIG_ENV = "GRIDML_SERVING_CONFIG"
DEFAULT_CONFIG = Path("experiments/serving.yaml")


class ModelBinding(BaseConfig):
    """Which registered model an endpoint serves, and through which aliases."""

    registered_model: str = Field(description="Name in the MLflow model registry.")
    aliases: tuple[str, ...] = Field(
        default=("champion", "challenger"),
        min_length=1,
        description="Tried in order: the first alias set on the model is served.",
    )


class ServingConfig(BaseConfig):
    """Everything the service needs that is not a secret."""

    models: dict[str, ModelBinding] = Field(
        default_factory=dict,
        description="Endpoint name -> the registered model and aliases it serves; an endpoint "
        "not named serves its spec's registered model through champion, then challenger.",
    )
    tracking: TrackingConfig = TrackingConfig()
    store_config: Path | None = Field(
        default=None,
        description="Feast feature_store.yaml (default: the embedded one, SQLite online store).",
    )
    poll_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How often the registry is polled for alias moves (0: only /admin/reload).",
    )
    max_ids: int = Field(
        default=1000, ge=1, le=MAX_IDS_CEILING, description="Most ids one request may ask for."
    )
    max_readings: int = Field(
        default=50_000, ge=1, le=MAX_READINGS_CEILING, description="Most readings one POST takes."
    )
    max_body_bytes: int = Field(
        default=32 * 2**20, ge=1024, description="Largest request body (declared length), bytes."
    )
    readings_max_ahead_minutes: float = Field(
        default=15.0,
        ge=0,
        description="How far ahead of the service's clock a posted reading may be (clock skew).",
    )
    readings_max_age_days: float = Field(
        default=400.0, gt=0, description="How old a posted reading may be."
    )
    max_horizon_hours: int = Field(default=168, ge=1, le=168)
    default_horizon_hours: int = Field(default=48, ge=1, le=168)

    @model_validator(mode="before")
    @classmethod
    def _endpoint_keys(cls, data: Any) -> Any:
        """Older configs bound each endpoint at the top level (`theft: {registered_model:
        ...}`): such a block is read as `models.<endpoint>`."""
        if not isinstance(data, dict):
            return data
        fields = set(cls.model_fields)
        legacy = {
            k: v
            for k, v in data.items()
            if k not in fields
            and (isinstance(v, ModelBinding) or (isinstance(v, dict) and "registered_model" in v))
        }
        if not legacy:
            return data
        rest = {k: v for k, v in data.items() if k not in legacy}
        return rest | {"models": {**legacy, **dict(rest.get("models") or {})}}

    def binding(self, spec: ModelSpec) -> ModelBinding:
        """What the endpoint of `spec` serves: its `models` entry, else the spec's name."""
        if spec.endpoint is not None and spec.endpoint in self.models:
            return self.models[spec.endpoint]
        return ModelBinding(registered_model=spec.name)


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class ProcessSettings(BaseSettings):
    """How the service process runs: `GRIDML_SERVING_<FIELD>` environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="GRIDML_SERVING_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    config: Path | None = Field(
        default=None, description="Serving config file (default: experiments/serving.yaml)."
    )
    workers: int = Field(
        default_factory=cpu_count,
        ge=1,
        le=64,
        description="Worker processes, each with its own models and store (default: one per core).",
    )
    threads: int = Field(default=8, ge=1, le=256, description="Request threads per worker.")
    timeout: int = Field(default=60, ge=1, description="Request timeout, seconds.")
    max_batch: int = Field(
        default=64,
        ge=2,
        le=1024,
        description="Requests merged into one feature read and model call at most.",
    )
    torch_threads: int = Field(
        default=1, ge=1, le=64, description="Torch intra-op threads per worker."
    )


def load_config(path: Path | None = None) -> ServingConfig:
    """The config at `path`, `$GRIDML_SERVING_CONFIG`, `experiments/serving.yaml`, or defaults."""
    chosen = path or ProcessSettings().config
    if chosen is not None:
        return ServingConfig.read_yaml(chosen)
    if DEFAULT_CONFIG.is_file():
        return ServingConfig.read_yaml(DEFAULT_CONFIG)
    return ServingConfig()
