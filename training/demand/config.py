"""Typed configuration of the demand-forecasting pipeline (`experiments/demand.yaml`)."""

from __future__ import annotations

import datetime as dt
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from gridml.config import BaseConfig
from gridml.training.tracking import TrackingConfig

Level = Literal["meter", "transformer", "feeder", "substation", "zone"]
ModelName = Literal["seasonal_naive", "profile", "lightgbm", "prophet"]


class BacktestConfig(BaseConfig):
    """Rolling-origin backtest: retrain at each cut-off, forecast the days that follow."""

    folds: int = Field(3, ge=1, le=52)
    fold_days: int = Field(7, ge=1, le=90, description="Days of daily origins per fold.")
    end: dt.date | None = Field(
        None, description="Last day forecast by the backtest [default: the end of the data]."
    )


class LightGBMConfig(BaseConfig):
    """LightGBM global model, one booster per quantile (objective 'quantile')."""

    n_estimators: int = Field(150, ge=10, le=5000)
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(31, ge=4, le=1024)
    min_data_in_leaf: int = Field(50, ge=1)
    feature_fraction: float = Field(0.9, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    num_threads: int = Field(0, ge=0, description="0 = all cores.")


class ProphetConfig(BaseConfig):
    """Prophet, one model per series (only at the listed levels: it fits series one by one)."""

    levels: tuple[Level, ...] = ("feeder",)
    n_workers: int = Field(2, ge=1, le=64)
    history_days: int = Field(120, ge=14)
    changepoint_prior_scale: float = Field(0.05, gt=0)


class DemandConfig(BaseConfig):
    """Demand forecasting of grid load series, day-ahead by default."""

    name: str = "demand-forecast"
    feature_service: str = "demand_forecast_v1"
    levels: tuple[Level, ...] = ("transformer", "feeder", "substation", "zone")
    horizon_hours: int = Field(48, ge=1, le=168, description="Hours ahead from each origin.")
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)
    history_days: int = Field(365, ge=14, description="Training window before a cut-off.")
    holdout_days: int = Field(
        0,
        ge=0,
        le=90,
        description="Most recent days kept out of the final model's training, so that promotion "
        "gates can score it on data it has not seen (the backtest is unaffected).",
    )
    train_sample: float = Field(
        0.15, gt=0, le=1, description="Share of (origin, horizon) rows kept for training."
    )
    weather_forecast_error_c: float = Field(
        0.8, ge=0, description="Std of the simulated temperature forecast error per day ahead."
    )
    models: tuple[ModelName, ...] = ("seasonal_naive", "profile", "lightgbm", "prophet")
    backtest: BacktestConfig = BacktestConfig()
    lightgbm: LightGBMConfig = LightGBMConfig()
    prophet: ProphetConfig = ProphetConfig()
    registered_model: str = "demand-forecast"
    tracking: TrackingConfig = TrackingConfig()
    seed: int = 0

    @field_validator("quantiles")
    @classmethod
    def _quantiles(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        bad = [q for q in value if not 0 < q < 1]
        if bad:
            raise ValueError(f"quantiles must lie strictly between 0 and 1, got {bad}")
        if 0.5 not in value:
            raise ValueError("quantiles must include 0.5 (the point forecast is the median)")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _models(self) -> Self:
        if "lightgbm" not in self.models and "prophet" not in self.models:
            raise ValueError(
                "models must include lightgbm or prophet (baselines alone train nothing)"
            )
        return self
