"""Typed configuration of the transformer-failure (predictive maintenance) pipeline."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from gridml.config import BaseConfig

Architecture = Literal["gru", "cnn"]


class MaintenanceConfig(BaseConfig):
    """Will a transformer fail within `horizon_days` of a day's end? Trained on daily sequences."""

    name: str = Field("maintenance", description="MLflow run name [default: the registered name].")
    feature_service: str = "asset_failure_v1"
    horizon_days: int = Field(7, ge=1, le=90, description="Label: a failure in (t, t + horizon].")
    window_days: int = Field(30, ge=1, le=365, description="Sequence length (days) per sample.")
    test_days: int = Field(60, ge=7, description="Last days of the data held out for testing.")
    gap_days: int | None = Field(
        None, ge=1, description="Days dropped before the test cut-off [default: the horizon]."
    )
    validation_days: int = Field(
        21, ge=7, description="Last training days used for early stopping and calibration."
    )
    alert_budget: float = Field(
        0.05, gt=0, le=1, description="Share of transformers alerted per alert period."
    )
    alert_period_days: int = Field(7, ge=1, le=31, description="Alerts are issued weekly.")
    risk_bands: tuple[float, float] = Field(
        (0.05, 0.25), description="Probability thresholds low|medium and medium|high."
    )
    architecture: Architecture = "cnn"  # medium zone: CNN and GRU both PR-AUC 0.83
    hidden: int = Field(16, ge=4, le=1024)
    dropout: float = Field(0.1, ge=0, lt=1)
    epochs: int = Field(30, ge=1, le=1000)
    batch_size: int = Field(512, ge=8, le=65536)
    lr: float = Field(5e-3, gt=0, le=1)
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(3, ge=1, description="Epochs without validation gain before stopping.")
    pos_weight_max: float = Field(50.0, ge=1, description="Cap of the BCE positive-class weight.")
    drivers: int = Field(3, ge=1, le=20, description="Top risk drivers reported per transformer.")
    lgbm_estimators: int = Field(200, ge=10, le=5000)
    lgbm_learning_rate: float = Field(0.05, gt=0, le=1)
    lgbm_num_leaves: int = Field(15, ge=4, le=1024)
    lgbm_min_data_in_leaf: int = Field(40, ge=1)
    seed: int = 0

    @property
    def gap(self) -> int:
        """Days between the last training label day and the test cut-off (>= horizon)."""
        return self.horizon_days if self.gap_days is None else self.gap_days

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.gap < self.horizon_days:
            raise ValueError(
                f"gap_days ({self.gap}) must be at least horizon_days ({self.horizon_days}): "
                "training labels would look into the test period"
            )
        low, high = self.risk_bands
        if not 0 < low < high < 1:
            raise ValueError(f"risk_bands must satisfy 0 < low < high < 1, got {self.risk_bands}")
        return self
