"""Typed configuration of the demand-forecasting pipeline (`experiments/demand.yaml`)."""

from __future__ import annotations

import datetime as dt
from typing import Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from gridml.config import BaseConfig
from gridml.models.builtin import DEMAND
from gridml.models.layout import Level
from gridml.training.run import default_names
from gridml.training.tracking import TrackingConfig

ModelName = Literal["seasonal_naive", "profile", "lightgbm", "prophet"]
Auto = Literal["auto"]


class BacktestConfig(BaseConfig):
    """Rolling-origin backtest: retrain at each cut-off, forecast the days that follow."""

    folds: int = Field(3, ge=1, le=52)
    fold_days: int = Field(7, ge=1, le=90, description="Days of daily origins per fold.")
    end: dt.date | None = Field(
        None, description="Last day forecast by the backtest [default: the end of the data]."
    )


class LightGBMConfig(BaseConfig):
    """LightGBM global model, one booster per quantile (objective 'quantile').

    `auto` (the default of the size settings) follows the size of the training set, see
    `training/demand/defaults.py`: `n_estimators` is then chosen by early stopping on the most
    recent training days (the calibration window), leaves are fewer and smaller on small sets.
    """

    n_estimators: int | Auto = Field("auto", description="Boosting rounds, or auto.")
    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int | Auto = Field("auto", description="Leaves per tree, or auto.")
    min_data_in_leaf: int | Auto = Field("auto", description="Rows per leaf, or auto.")
    feature_fraction: float = Field(0.9, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    lambda_l2: float = Field(1.0, ge=0)
    num_threads: int = Field(0, ge=0, description="0 = all cores.")

    @field_validator("n_estimators", "num_leaves", "min_data_in_leaf")
    @classmethod
    def _sizes(cls, value: int | str, info: ValidationInfo) -> int | str:
        name = info.field_name
        assert name is not None  # a field validator always runs for a named field
        lower = {"n_estimators": 10, "num_leaves": 4, "min_data_in_leaf": 1}[name]
        upper = {"n_estimators": 5000, "num_leaves": 1024, "min_data_in_leaf": 100_000}[name]
        if isinstance(value, int) and not lower <= value <= upper:
            raise ValueError(f"must be 'auto' or a whole number from {lower} to {upper}")
        return value


class IssueConfig(BaseConfig):
    """When a forecast is issued and which hours it delivers (local time of the zone).

    The model's inputs are the FeatureService values stamped at the local midnight of the issue
    day (the latest feature snapshot at or before the issue time), so nothing observed after the
    issue time is used. Delivered: `delivery_hours` hours from the local midnight
    `delivery_start_days` days after the issue day; the backtest scores those hours only and
    reports skill per lead time (hours from the issue time to the start of the target hour)."""

    time: dt.time = Field(dt.time(10, 0), description="Local issue time, e.g. 10:00.")
    delivery_start_days: int = Field(
        1, ge=0, le=6, description="Delivery starts at local midnight this many days later."
    )
    delivery_hours: int = Field(24, ge=1, le=168, description="Hours delivered.")

    @field_validator("time", mode="before")
    @classmethod
    def _yaml_time(cls, value: object) -> object:
        """YAML 1.1 reads an unquoted 10:00 as the sexagesimal number 600 (minutes)."""
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value < 24 * 60:
                raise ValueError(f"issue time {value} is not a time of day: write it as '10:00'")
            return dt.time(value // 60, value % 60)
        return value

    @model_validator(mode="after")
    def _after_issue(self) -> Self:
        if self.delivery_start_days == 0 and self.time != dt.time(0, 0):
            raise ValueError(
                f"issue.delivery_start_days 0 delivers hours before the issue time {self.time}: "
                "use delivery_start_days >= 1 or issue time 00:00"
            )
        return self

    @property
    def first_horizon(self) -> int:
        """First delivered horizon (hours from the issue day's local midnight, 1-based)."""
        return 24 * self.delivery_start_days + 1

    @property
    def last_horizon(self) -> int:
        return 24 * self.delivery_start_days + self.delivery_hours

    @property
    def issue_hours(self) -> float:
        """Issue time in hours after the local midnight."""
        return self.time.hour + self.time.minute / 60


class CalibrationConfig(BaseConfig):
    """Conformal calibration of the LightGBM quantiles (P10, P90...): a model fitted without the
    last `days` of training origins forecasts them; per lead-time bucket of `bucket_hours`, each
    quantile is shifted by the (age-weighted) quantile of its normalised residuals that makes it
    hit its nominal level there. The shifts are logged with the model and applied by the served
    pyfunc; the backtest updates them before each issue (`adaptive`)."""

    enabled: bool = True
    days: int = Field(28, ge=3, le=180, description="Most recent training origins held out.")
    bucket_hours: int = Field(6, ge=1, le=168, description="Lead-time bucket width.")
    min_rows: int = Field(50, ge=1, description="Fewer rows in a bucket: pooled shift.")
    half_life_days: float | None = Field(
        7.0,
        gt=0,
        description="Residual weights halve every this many days of age (weighted conformal: "
        "the shifts follow the most recent errors); null: every residual weighs the same.",
    )
    adaptive: bool = Field(
        True,
        description="Backtest: before each issue, recompute the shifts from the calibration "
        "residuals plus the forecast errors observed by the issue time (what a daily "
        "recalibration does in production).",
    )


class ProphetConfig(BaseConfig):
    """Prophet, one model per series (only at the listed levels: it fits series one by one)."""

    levels: tuple[Level, ...] = Field(
        ("feeder", "zone"),
        description="Levels Prophet forecasts; levels the data lacks are skipped with a warning.",
    )
    n_workers: int = Field(2, ge=1, le=64)
    history_days: int = Field(
        90,
        ge=14,
        description="Days of history each Prophet is fitted on: a recent window, so that its "
        "trend and level follow the last three months (chosen on Victoria's November and the "
        "synthetic feeders, see README; 60 hurt the feeders, 120 Victoria).",
    )
    changepoint_prior_scale: float = Field(0.05, gt=0)
    level_correction_hours: int = Field(
        0,
        ge=0,
        le=168,
        description="Before each issue, scale the forecast by actual / Prophet's forecast over "
        "this many hours observed by the issue time; 0 (default): none (on the synthetic zone, "
        "24 h made feeder Prophet worse: 1.09x the naive against 0.84x).",
    )


class DemandConfig(BaseConfig):
    """Demand forecasting of grid load series, day-ahead by default."""

    name: str = Field("", description="MLflow run name [default: the registered name].")
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
    train_sample: float | Auto = Field(
        "auto",
        description="Share of (origin, horizon) rows kept for training, or auto (all rows of a "
        "small set, a row budget on a large one: training/demand/defaults.py).",
    )
    weather_forecast_error_c: float = Field(
        0.8, ge=0, description="Std of the simulated temperature forecast error per day ahead."
    )
    models: tuple[ModelName, ...] = ("seasonal_naive", "profile", "lightgbm", "prophet")
    issue: IssueConfig = IssueConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    backtest: BacktestConfig = BacktestConfig()
    lightgbm: LightGBMConfig = LightGBMConfig()
    prophet: ProphetConfig = ProphetConfig()
    registered_model: str = DEMAND.name
    tracking: TrackingConfig = TrackingConfig(experiment=DEMAND.name)
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

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: object) -> object:
        """The registered name is written once: experiment and run name default to it."""
        return default_names(data, DEMAND.name)

    @model_validator(mode="before")
    @classmethod
    def _issue_default(cls, data: object) -> object:
        """Without an `issue` section, a horizon too short for the next day (under 48 h) is
        issued at local midnight for its first day, as such configs were scored before."""
        if isinstance(data, dict) and "issue" not in data:
            horizon = data.get("horizon_hours", 48)
            if isinstance(horizon, int) and horizon < 48:
                hours = min(24, horizon)
                data = data | {
                    "issue": {"time": "00:00", "delivery_start_days": 0, "delivery_hours": hours}
                }
        return data

    @field_validator("train_sample")
    @classmethod
    def _train_sample(cls, value: float | str) -> float | str:
        if isinstance(value, float) and not 0 < value <= 1:
            raise ValueError("must be 'auto' or a share in (0, 1]")
        return value

    @model_validator(mode="after")
    def _delivery(self) -> Self:
        if self.issue.last_horizon > self.horizon_hours:
            raise ValueError(
                f"horizon_hours {self.horizon_hours} does not reach the end of the delivery "
                f"window (hour {self.issue.last_horizon} after the issue day's midnight): raise "
                "horizon_hours or shorten issue.delivery_start_days / delivery_hours"
            )
        return self

    @model_validator(mode="after")
    def _models(self) -> Self:
        if "lightgbm" not in self.models and "prophet" not in self.models:
            raise ValueError(
                "models must include lightgbm or prophet (baselines alone train nothing)"
            )
        return self
