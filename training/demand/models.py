"""The demand forecasters behind one interface, in a registry (no chain of ifs).

Each forecaster fits on a training `Design` (plus the actuals history, for Prophet) and returns,
for a test `Design`, quantile columns `q10`, `q50`, ... in kWh; `q50` is the point forecast.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from gridml.training.demand.calibration import fit_shifts
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import Design
from gridml.training.demand.lgbm import QuantileLGBM
from gridml.training.metrics import quantile_column

log = logging.getLogger(__name__)
MIN_FIT_ROWS = 500  # fewer rows before the calibration window: no calibration, no early stop


class Forecaster(Protocol):
    name: str

    def fit(self, train: Design, history: pd.DataFrame) -> Forecaster: ...

    def predict(self, test: Design) -> pd.DataFrame: ...


@dataclass
class BaselineForecaster:
    """A baseline point forecast with quantiles from its own normalised training residuals,
    per level and horizon day (so even baselines get a calibrated band)."""

    name: str
    quantiles: tuple[float, ...]
    residual_q: pd.DataFrame = field(default_factory=pd.DataFrame)

    def _groups(self, d: Design) -> pd.MultiIndex:
        day = (d.keys["horizon"].to_numpy() - 1) // 24
        return pd.MultiIndex.from_arrays([d.keys["level"].to_numpy(), day])

    def fit(self, train: Design, history: pd.DataFrame) -> BaselineForecaster:
        point = train.baselines[self.name].to_numpy()
        err = pd.Series((train.y - point) / train.scale, index=self._groups(train))
        err = err[np.isfinite(err.to_numpy())]
        self.residual_q = err.groupby(level=[0, 1]).quantile(list(self.quantiles)).unstack()
        return self

    def predict(self, test: Design) -> pd.DataFrame:
        point = test.baselines[self.name].to_numpy()
        offsets = self.residual_q.reindex(self._groups(test)).to_numpy()
        out = point[:, None] + test.scale[:, None] * offsets
        out = np.sort(np.maximum(out, 0.0), axis=1)
        frame = pd.DataFrame(out, columns=[quantile_column(q) for q in self.quantiles])
        frame[quantile_column(0.5)] = point  # the baseline itself stays the point forecast
        return frame


@dataclass
class LightGBMForecaster:
    name: str
    cfg: DemandConfig
    model: QuantileLGBM | None = None

    def fit(self, train: Design, history: pd.DataFrame) -> LightGBMForecaster:
        self.model = fit_lightgbm(self.cfg, train)
        return self

    def predict(self, test: Design) -> pd.DataFrame:
        assert self.model is not None, "fit first"
        return (
            self.model.predict(test.X)
            .mul(test.scale, axis=0)
            .clip(lower=0.0)
            .reset_index(drop=True)
        )


def calibration_split(cfg: DemandConfig, keys: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the calibration window (the last `calibration.days` origins) and of the rows
    whose target precedes its first origin (what the calibration model may learn from)."""
    origins = pd.to_datetime(keys["origin"], utc=True)
    first = origins.max() - pd.Timedelta(days=cfg.calibration.days - 1)
    cal = (origins >= first).to_numpy()
    before = (pd.to_datetime(keys["target_time"], utc=True) < first).to_numpy()
    return cal, before


def fit_lightgbm(cfg: DemandConfig, train: Design) -> QuantileLGBM:
    """The quantile LightGBM of `cfg` on `train`, with early stopping (n_estimators auto) and
    conformal shifts (calibration.enabled) learnt by a first model that leaves the calibration
    window out; the returned model is then fitted on every row."""
    y = train.y / train.scale
    model = QuantileLGBM(cfg.quantiles, cfg.lightgbm, cfg.seed)
    if not cfg.calibration.enabled:
        return model.fit(train.X, y)
    cal, before = calibration_split(cfg, train.keys)
    cal &= np.isfinite(y)
    if cal.sum() < cfg.calibration.min_rows or np.isfinite(y[before]).sum() < MIN_FIT_ROWS:
        log.warning(
            "too little data for a %d-day calibration window (%d rows in it, %d before): "
            "quantiles not calibrated",
            cfg.calibration.days,
            int(cal.sum()),
            int(before.sum()),
        )
        return model.fit(train.X, y)
    probe = QuantileLGBM(cfg.quantiles, cfg.lightgbm, cfg.seed).fit(
        train.X[before], y[before], valid=(train.X[cal], y[cal])
    )
    shifts = fit_shifts(
        y[cal],
        probe.predict_raw(train.X[cal]),
        train.X["horizon"].to_numpy()[cal],
        cfg.quantiles,
        cfg.calibration.bucket_hours,
        cfg.calibration.min_rows,
    )
    stopped = probe.settings is not None and probe.settings.early_stopping
    model.fit(train.X, y, rounds=dict(probe.rounds) if stopped else None)
    model.shifts = shifts
    return model


def _prophet_factory(cfg: DemandConfig) -> Forecaster:
    from gridml.training.demand.prophet_forecaster import ProphetForecasterAdapter

    return ProphetForecasterAdapter("prophet", cfg)


def build_forecaster(name: str, cfg: DemandConfig, country: str, timezone: str) -> Forecaster:
    """A forecaster of the registry; Prophet also needs the zone's holidays and time zone."""
    model = FORECASTERS[name](cfg)
    if name == "prophet":
        model.country, model.timezone = country, timezone
    return model


FORECASTERS: dict[str, Callable[[DemandConfig], Forecaster]] = {
    "seasonal_naive": lambda cfg: BaselineForecaster("seasonal_naive", cfg.quantiles),
    "profile": lambda cfg: BaselineForecaster("profile", cfg.quantiles),
    "lightgbm": lambda cfg: LightGBMForecaster("lightgbm", cfg),
    "prophet": _prophet_factory,
}
