"""Typed configuration of promotion (`experiments/promotion.yaml`) and monitoring
(`experiments/monitoring.yaml`): one block per registered model, validated before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator

from gridml.config import BaseConfig, ConfigError
from gridml.models import catalog
from gridml.training.tracking import TrackingConfig


class ModelGates(BaseConfig):
    """The gates one registered model must pass before its `champion` alias moves."""

    train_config: Path = Field(
        description="Training config `gridml retrain` trains with (YAML of the model's pipeline)."
    )
    penalty_factor: float = Field(
        1.0,
        ge=0.5,
        le=2.0,
        description="How much better than the champion the challenger must be on the primary "
        "metric, applied to the champion's score (OpenSTEF's rule): an error (lower is better) "
        "must be <= champion / factor, a score (higher is better) >= champion x factor. "
        "1.0: at least as good; 1.02: 2% better.",
    )
    max_segment_degradation: float = Field(
        0.10,
        ge=0,
        description="No segment (region, customer segment, hierarchy level) may be worse than "
        "the champion's by more than this share of the champion's metric.",
    )
    min_segment_rows: int = Field(
        50, ge=1, description="Segments with fewer scored rows are shown but not gated (noise)."
    )
    min_segment_positives: int = Field(
        3, ge=0, description="Classifiers: segments with fewer positives are not gated."
    )
    latency_budget_ms: float = Field(
        500.0, gt=0, description="Median latency of one serving-sized request, in milliseconds."
    )
    latency_repeats: int = Field(5, ge=1, le=100)
    lower_bound: float | None = Field(0.0, description="Predictions below it are impossible.")
    upper_bound: float | None = Field(None, description="Predictions above it are impossible.")
    max_ratio_to_recent_peak: float | None = Field(
        None,
        gt=1,
        description="Forecasts only: a forecast above this multiple of the series' peak of "
        "the last week (load_max_168h) is physically implausible.",
    )
    holdout_days: int = Field(
        7, ge=1, le=365, description="Most recent days evaluated on (demand: origins)."
    )
    max_staleness_days: float = Field(
        14.0,
        gt=0,
        description="The challenger's training data must end within this many days of the "
        "newest data in the workspace.",
    )


class PromotionConfig(BaseConfig):
    """Promotion gates of every model, and the checks shared by all."""

    models: dict[str, ModelGates]
    validate_contracts: bool = Field(
        True, description="Data gate: validate every feed against its contract (pandera)."
    )
    audit_log: Path | None = Field(
        None, description="Append-only audit log [default: WORKSPACE/audit/promotions.jsonl]."
    )
    tracking: TrackingConfig = TrackingConfig()

    def gates(self, model: str) -> ModelGates:
        if model not in self.models:
            raise ConfigError(
                f"no promotion gates for model {model!r}; configured: {', '.join(self.models)}"
            )
        return self.models[model]

    @model_validator(mode="after")
    def _known(self) -> Self:
        known = catalog.names()
        unknown = sorted(set(self.models) - set(known))
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; known: {known}")
        return self


class DriftThresholds(BaseConfig):
    """A feature family drifts at a hierarchy level when both its PSI and its KS statistic
    reach their thresholds (gridml.mlops.drift)."""

    psi: float = Field(0.25, gt=0, description="Population stability index (0.1 watch, 0.25 act).")
    ks: float = Field(0.2, gt=0, le=1, description="Two-sample Kolmogorov-Smirnov statistic D.")
    bins: int = Field(10, ge=2, le=100, description="Quantile bins of the reference for PSI.")
    min_rows: int = Field(
        100,
        ge=5,
        description="Rows (entity x day) each side needs for a verdict; fewer: 'not enough "
        "data'. Under about 100 rows, KS >= 0.2 and PSI >= 0.25 happen by chance alone.",
    )
    periods: int = Field(
        12,
        ge=0,
        le=60,
        description="Natural variation: the training window is cut into this many periods; "
        "the recent window drifts only when it differs from the training window more than "
        "any period differs from the rest (0: thresholds only).",
    )
    max_online_mismatch: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Train/serve skew: share of a family's online values that may differ from "
        "the offline point-in-time values of the same entities at the same moment.",
    )


class LiveThresholds(BaseConfig):
    """Live accuracy as actuals arrive: alert when a day crosses the threshold."""

    max_mase: float | None = Field(
        None,
        gt=0,
        description="Forecasts: the recent window's MASE (days weighted by their points) above "
        "it alerts; single days above it are shown, not alerted.",
    )
    min_precision: float | None = Field(
        None, ge=0, le=1, description="Classifiers: precision of the alerts below it alerts."
    )
    budget: float = Field(0.05, gt=0, le=1, description="Share of entities alerted per day.")
    min_outcomes: int = Field(5, ge=1, description="Precision is judged on at least this many.")
    min_events: int = Field(
        3,
        ge=0,
        description="asset-failure: failures in the fleet the recent window needs before "
        "precision is judged; with none, any alert list scores 0 (not enough data).",
    )


class ModelMonitoring(BaseConfig):
    recent_days: int = Field(7, ge=1, le=90, description="The recent window compared.")
    drift: DriftThresholds = DriftThresholds()
    live: LiveThresholds = LiveThresholds()
    exclude_features: tuple[str, ...] = Field(
        (), description="Features not judged (e.g. calendar fields that drift by design)."
    )


class MonitoringConfig(BaseConfig):
    """Thresholds of `gridml monitor`, per registered model."""

    models: dict[str, ModelMonitoring]
    tracking: TrackingConfig = TrackingConfig()

    def for_model(self, model: str) -> ModelMonitoring:
        if model not in self.models:
            raise ConfigError(
                f"no monitoring thresholds for model {model!r}; "
                f"configured: {', '.join(self.models)}"
            )
        return self.models[model]
