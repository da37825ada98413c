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

from gridml.training.demand.calibration import (
    Residuals,
    age_weights,
    apply_shifts,
    fit_shifts,
    shifts_at,
)
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import Design, issue_times
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
    """The quantile LightGBM; with `calibration.adaptive`, the conformal shifts of each test
    origin are recomputed from the calibration residuals plus the test errors observed by its
    issue time (the rows of earlier origins whose target hour had ended), never later ones."""

    name: str
    cfg: DemandConfig
    model: QuantileLGBM | None = None
    residuals: Residuals | None = None
    timezone: str = "UTC"

    def fit(self, train: Design, history: pd.DataFrame) -> LightGBMForecaster:
        self.model, self.residuals = fit_lightgbm_calibrated(self.cfg, train)
        return self

    def predict(self, test: Design) -> pd.DataFrame:
        assert self.model is not None, "fit first"
        if self.cfg.calibration.adaptive and self.residuals is not None:
            out = self._adaptive(test)
        else:
            out = self.model.predict(test.X)
        return out.mul(test.scale, axis=0).clip(lower=0.0).reset_index(drop=True)

    def _adaptive(self, test: Design) -> pd.DataFrame:
        assert self.model is not None and self.residuals is not None
        cal = self.cfg.calibration
        raw = self.model.predict_raw(test.X)
        horizon = test.X["horizon"].to_numpy()
        origin = pd.to_datetime(test.keys["origin"], utc=True).reset_index(drop=True)
        scored = Residuals(
            np.asarray(test.y / test.scale, dtype=float),
            raw,
            horizon,
            pd.to_datetime(test.keys["target_time"], utc=True).dt.tz_localize(None).to_numpy(),
        )
        pool = self.residuals.concat(scored)
        out = np.empty_like(raw)
        firsts = origin.drop_duplicates()
        issues = issue_times(firsts, self.cfg, self.timezone).fillna(firsts)
        for first, issue in zip(firsts, issues, strict=True):
            rows = (origin == first).to_numpy()
            at = np.datetime64(issue.tz_convert("UTC").tz_localize(None), "ns")
            shifts = shifts_at(
                pool, at, self.cfg.quantiles, cal.bucket_hours, cal.min_rows, cal.half_life_days
            )
            out[rows] = apply_shifts(raw[rows], horizon[rows], shifts)
        cols = [quantile_column(q) for q in self.cfg.quantiles]
        return pd.DataFrame(np.sort(out, axis=1), columns=cols, index=test.X.index)


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
    return fit_lightgbm_calibrated(cfg, train)[0]


def fit_lightgbm_calibrated(
    cfg: DemandConfig, train: Design
) -> tuple[QuantileLGBM, Residuals | None]:
    """`fit_lightgbm` and the calibration window's residuals (None when not calibrated). The
    shifts weigh residuals by their age at the end of the training targets."""
    y = train.y / train.scale
    model = QuantileLGBM(cfg.quantiles, cfg.lightgbm, cfg.seed)
    if not cfg.calibration.enabled:
        return model.fit(train.X, y), None
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
        return model.fit(train.X, y), None
    probe = QuantileLGBM(cfg.quantiles, cfg.lightgbm, cfg.seed).fit(
        train.X[before], y[before], valid=(train.X[cal], y[cal])
    )
    targets = pd.to_datetime(train.keys["target_time"], utc=True).dt.tz_localize(None)
    residuals = Residuals(
        y[cal],
        probe.predict_raw(train.X[cal]),
        train.X["horizon"].to_numpy()[cal],
        targets.to_numpy()[cal],
    )
    end = targets.max() + pd.Timedelta(hours=1)
    shifts = fit_shifts(
        residuals.y_norm,
        residuals.pred_norm,
        residuals.horizon,
        cfg.quantiles,
        cfg.calibration.bucket_hours,
        cfg.calibration.min_rows,
        age_weights(residuals.age_days(np.datetime64(end, "ns")), cfg.calibration.half_life_days),
    )
    stopped = probe.settings is not None and probe.settings.early_stopping
    model.fit(train.X, y, rounds=dict(probe.rounds) if stopped else None)
    model.shifts = shifts
    return model, residuals


def _prophet_factory(cfg: DemandConfig) -> Forecaster:
    from gridml.training.demand.prophet_forecaster import ProphetForecasterAdapter

    return ProphetForecasterAdapter("prophet", cfg)


def build_forecaster(name: str, cfg: DemandConfig, country: str, timezone: str) -> Forecaster:
    """A forecaster of the registry; Prophet also needs the zone's holidays and time zone."""
    model = FORECASTERS[name](cfg)
    if name == "prophet":
        from gridml.training.demand.prophet_forecaster import ProphetForecasterAdapter

        assert isinstance(model, ProphetForecasterAdapter)  # what _prophet_factory builds
        model.country, model.timezone = country, timezone
    if isinstance(model, LightGBMForecaster):
        model.timezone = timezone  # issue times of the adaptive calibration
    return model


FORECASTERS: dict[str, Callable[[DemandConfig], Forecaster]] = {
    "seasonal_naive": lambda cfg: BaselineForecaster("seasonal_naive", cfg.quantiles),
    "profile": lambda cfg: BaselineForecaster("profile", cfg.quantiles),
    "lightgbm": lambda cfg: LightGBMForecaster("lightgbm", cfg),
    "prophet": _prophet_factory,
}
