"""`ModelSpec`: one typed object per model, read by training, promotion, monitoring, model
cards and serving.

A spec names its code as `"module:attribute"` references (`Ref`), imported only when used, so
that defining a spec imports nothing heavy (torch, prophet, LightGBM).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from gridml.errors import UserError

#: "package.module:attribute"
Ref = str


def resolve(ref: Ref) -> Any:
    """The object `ref` ("package.module:attribute") names, imported now."""
    module, sep, attr = ref.partition(":")
    if not sep or not module or not attr:
        raise UserError(f"{ref!r} is not a 'package.module:attribute' reference")
    try:
        target: Any = importlib.import_module(module)
    except ImportError as exc:
        raise UserError(f"{ref!r}: cannot import {module}: {exc}") from exc
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UserError(f"{ref!r}: {module} has no attribute {attr}") from None
    return target


@dataclass(frozen=True)
class ModelSpec:
    """Everything the platform needs to know about one model.

    Code is referenced, never imported, here:
    - `run_config`: pydantic run-config class (`read_yaml`, fields `registered_model` and
      `tracking`); `trainer(cfg, ws)` trains, logs and registers a version as challenger and
      returns an object with `version` and `run_id`; `train_report(run)` prints its summary;
    - `evaluator`: a `gridml.mlops.evaluate.Evaluator` class (hold-out builder, scores,
      baseline) used by `gridml promote | retrain`;
    - `live`: the live-accuracy check of `gridml monitor` (signature of `gridml.mlops.live`);
    - `endpoint`: `factory(EndpointContext) -> endpoint object` of the service
      (`gridml.serving.endpoints`); `serving_method(ids)` answers `POST /predict`.
    """

    name: str  # registered model name (MLflow registry)
    task: str  # short name: `gridml train TASK`, default config experiments/TASK.yaml
    feature_service: str  # Feast FeatureService the model is trained and served through
    run_config: Ref
    trainer: Ref
    evaluator: Ref
    summary: str  # one line: what the model does (CLI help)
    train_help: str = ""  # the rest of `gridml train TASK --help`
    train_report: Ref | None = None
    holdout_field: str | None = None  # run-config field raised to the promotion hold-out days
    live: Ref | None = None
    live_threshold: str = "min_precision"  # field of LiveThresholds the live metric is held to
    endpoint: str | None = None  # serving endpoint name (`/models`, metrics labels)
    endpoint_factory: Ref | None = None
    serving_method: str = "predict"
    intended_use: str = "not documented"
    limits: tuple[str, ...] = ()
    headline_metrics: tuple[str, ...] = ()
    primary_metric: str = ""
    baseline_model: str | None = None  # metric prefix of the baseline the card compares with
    served_model: str | None = None  # metric prefix of the served model; None: config's

    def __post_init__(self) -> None:
        if not self.name or not self.task:
            raise ValueError("a ModelSpec needs a name and a task")
        if (self.endpoint is None) != (self.endpoint_factory is None):
            raise ValueError(f"{self.name}: give both endpoint and endpoint_factory, or neither")

    @property
    def default_config(self) -> str:
        return f"experiments/{self.task}.yaml"

    def config_class(self) -> Any:
        return resolve(self.run_config)

    def read_config(self, path: Any, **overrides: object) -> Any:
        """The run config at `path` (YAML), validated by the spec's run-config class."""
        return self.config_class().read_yaml(path, **overrides)

    def train(self, cfg: Any, ws: Any) -> Any:
        return resolve(self.trainer)(cfg, ws)

    def make_evaluator(self) -> Any:
        return resolve(self.evaluator)()
