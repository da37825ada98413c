"""Typed configuration of theft detection (Wide & Deep CNN and a LightGBM baseline)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from gridml.config import BaseConfig

ModelName = Literal["lightgbm", "wide_deep"]
RETIRED_FIELDS = ("models", "registered_model")


class TheftLightGBMConfig(BaseConfig):
    """Gradient-boosting baseline on the Feast features and simple sequence statistics."""

    n_estimators: int = Field(300, ge=10, le=5000)
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(15, ge=4, le=1024)
    min_data_in_leaf: int = Field(20, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    early_stopping_rounds: int = Field(30, ge=1)
    num_threads: int = Field(4, ge=0, description="0 = all cores.")


class WideDeepConfig(BaseConfig):
    """Wide & Deep CNN: dense branch on the flat series, 2-D CNN on the weeks x 7 grid."""

    wide_hidden: int = Field(64, ge=4, le=1024)
    channels: int = Field(16, ge=2, le=256)
    tab_hidden: int = Field(32, ge=4, le=1024)
    dropout: float = Field(0.2, ge=0, lt=1)
    epochs: int = Field(40, ge=1, le=1000)
    batch_size: int = Field(128, ge=8, le=8192)
    lr: float = Field(2e-3, gt=0, le=1)
    weight_decay: float = Field(1e-4, ge=0)
    patience: int = Field(6, ge=1, description="Epochs without validation gain before stopping.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto = CUDA when available, else CPU."
    )


class TheftConfig(BaseConfig):
    """Theft detection on (meter, scoring day) samples, split by customer and by time."""

    name: str = Field("theft", description="MLflow run name [default: the registered name].")
    feature_service: str = "theft_detection_v1"
    weeks: int = Field(8, ge=2, le=52, description="Weeks of daily kWh in the sequence input.")
    stride_days: int = Field(7, ge=1, le=91, description="Days between scoring days.")
    min_theft_days: int = Field(
        7, ge=1, description="A thief counts as positive once it has stolen this many days."
    )
    test_share: float = Field(0.25, gt=0, lt=1, description="Share of meters held out for test.")
    val_share: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="With folds = 1: share of training meters kept for early stopping/calibration.",
    )
    folds: int = Field(
        3,
        ge=1,
        le=10,
        description="Validation folds of the meters not held out (stratified by attack type): "
        "each family is fitted once per fold, early-stopped on the fold it leaves out; the "
        "out-of-fold scores choose the served family and fit its calibration, and a family "
        "scores with the mean logit of its fold models. 1: one validation part (val_share).",
    )
    test_days: int = Field(
        42, ge=1, description="Scoring days in the last `test_days` days are test; earlier: train."
    )
    budgets: tuple[float, ...] = (0.01, 0.05)
    map_k: int = Field(100, ge=1)
    lightgbm: TheftLightGBMConfig = TheftLightGBMConfig()
    wide_deep: WideDeepConfig = WideDeepConfig()
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: object) -> object:
        """`models` (both models always train) and `registered_model` (the run config's counts)
        were never read: configs and logged runs that still carry them load without them."""
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in RETIRED_FIELDS}
        return data

    @property
    def days(self) -> int:
        return self.weeks * 7

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        bad = [b for b in value if not 0 < b <= 1]
        if bad or not value:
            raise ValueError(f"inspection budgets must lie in (0, 1], got {bad or value}")
        return tuple(sorted(set(value)))
