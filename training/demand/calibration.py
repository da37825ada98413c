"""Conformal calibration of quantile forecasts per lead-time bucket.

Quantile boosters trained on in-sample rows give intervals that are too narrow out of sample
(P10-P90 covered 73 % of real hours instead of 80 %). The fix is split-conformal: a model that
did not see the most recent training days (the calibration window) forecasts them; for each
quantile q other than the median and each bucket of horizons, the shift d is the empirical
q-quantile of the normalised residuals y - forecast_q there (with the finite-sample correction of
conformal prediction, so the band widens rather than narrows on few rows). The shifted quantile
then hits its nominal level on that window: P(y <= forecast_q + d) = q. The median is left as is
(the point forecast stays the model's own). Buckets with fewer than `min_rows` residuals use the
shift pooled over every horizon.

Residuals may carry weights that decay with their age (weighted conformal prediction for
data that drift, Barber, Candes, Ramdas & Tibshirani 2023: the test point counts with weight 1,
a residual `half_life_days` old with 1/2): the shift then follows the most recent errors, and
`adaptive_shifts` recomputes it before each issue from the residuals observed by then, so the
band widens within days after a change of regime instead of at the next retraining.

Shifts are in the model's normalised unit (load / series level), so one table serves every
series; the served pyfunc applies the same table (`apply_shifts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Shifts:
    """Per-bucket additive shifts (normalised unit): rows = bucket, columns = quantiles."""

    quantiles: tuple[float, ...]
    bucket_hours: int
    table: pd.DataFrame  # index: bucket number (horizon - 1) // bucket_hours; columns: quantiles
    pooled: dict[float, float]

    def to_dict(self) -> dict:
        return {
            "quantiles": list(self.quantiles),
            "bucket_hours": self.bucket_hours,
            "buckets": [int(b) for b in self.table.index],
            "shifts": {str(q): [float(v) for v in self.table[q]] for q in self.quantiles},
            "pooled": {str(q): float(v) for q, v in self.pooled.items()},
        }

    @classmethod
    def from_dict(cls, raw: dict) -> Shifts:
        qs = tuple(float(q) for q in raw["quantiles"])
        table = pd.DataFrame(
            {q: raw["shifts"][str(q)] for q in qs}, index=pd.Index(raw["buckets"], dtype=int)
        )
        pooled = {float(q): float(v) for q, v in raw["pooled"].items()}
        return cls(qs, int(raw["bucket_hours"]), table, pooled)


def bucket_of(horizon: np.ndarray, bucket_hours: int) -> np.ndarray:
    """Lead-time bucket of each horizon (1-based hours after the forecast origin)."""
    return (np.asarray(horizon, dtype=int) - 1) // bucket_hours


def conformal_level(q: float, n: int) -> float:
    """The empirical quantile level that makes a shifted quantile valid with n residuals:
    ceil((n + 1) q) / n above the median, floor((n + 1) q) / n below it (clipped to [0, 1])."""
    if n <= 0:
        return q
    if q > 0.5:
        return min(1.0, math.ceil((n + 1) * q) / n)
    return max(0.0, math.floor((n + 1) * q) / n)


def _upper(residuals: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Weighted conformal q-quantile (q > 0.5): the smallest residual whose weight at or below
    it reaches q of the total plus the test point's unit weight (the largest when none does)."""
    order = np.argsort(residuals, kind="stable")
    r, w = residuals[order], weights[order]
    cum = np.cumsum(w) / (w.sum() + 1.0)
    at = int(np.searchsorted(cum, q - 1e-12, side="left"))
    return float(r[min(at, r.size - 1)])


def _shift(residuals: np.ndarray, q: float, weights: np.ndarray | None = None) -> float:
    if weights is None:
        return float(
            np.quantile(
                residuals,
                conformal_level(q, residuals.size),
                method="higher" if q > 0.5 else "lower",
            )
        )
    if q > 0.5:
        return _upper(residuals, weights, q)
    return -_upper(-residuals, weights, 1.0 - q)


def age_weights(age_days: np.ndarray, half_life_days: float | None) -> np.ndarray | None:
    """Weight of residuals `age_days` old: halved every `half_life_days` (None: all equal)."""
    if half_life_days is None:
        return None
    return np.power(0.5, np.maximum(np.asarray(age_days, dtype=float), 0.0) / half_life_days)


def fit_shifts(
    y_norm: np.ndarray,
    pred_norm: np.ndarray,
    horizon: np.ndarray,
    quantiles: tuple[float, ...],
    bucket_hours: int,
    min_rows: int,
    weights: np.ndarray | None = None,
) -> Shifts:
    """Shifts from out-of-sample normalised actuals `y_norm` and predictions `pred_norm`
    (one column per quantile, in `quantiles` order) at the given horizons; `weights` (e.g.
    `age_weights`) make it a weighted conformal quantile."""
    y = np.asarray(y_norm, dtype=float)
    ok = np.isfinite(y) & np.isfinite(pred_norm).all(axis=1)
    y, pred, buckets = y[ok], pred_norm[ok], bucket_of(horizon, bucket_hours)[ok]
    w = None if weights is None else np.asarray(weights, dtype=float)[ok]
    if not y.size:
        raise ValueError("no finite residual to calibrate on")
    pooled, columns = {}, {}
    present = np.unique(buckets)
    for j, q in enumerate(quantiles):
        resid = y - pred[:, j]
        pooled[q] = 0.0 if q == 0.5 else _shift(resid, q, w)
        values = []
        for b in present:
            inside = buckets == b
            r = resid[inside]
            wb = None if w is None else w[inside]
            values.append(
                0.0 if q == 0.5 else _shift(r, q, wb) if r.size >= min_rows else pooled[q]
            )
        columns[q] = values
    table = pd.DataFrame(columns, index=pd.Index(present, dtype=int))
    return Shifts(tuple(quantiles), bucket_hours, table, pooled)


def apply_shifts(raw_norm: np.ndarray, horizon: np.ndarray, shifts: Shifts) -> np.ndarray:
    """Add each row's bucket shift to its normalised quantile predictions (columns in
    `shifts.quantiles` order); a bucket not seen in calibration gets the pooled shift."""
    buckets = bucket_of(horizon, shifts.bucket_hours)
    pooled = np.array([shifts.pooled[q] for q in shifts.quantiles])
    table = shifts.table.reindex(buckets).to_numpy(dtype=float)
    table = np.where(np.isnan(table), pooled[None, :], table)
    return raw_norm + table


@dataclass(frozen=True)
class Residuals:
    """Out-of-sample normalised actuals and raw quantile predictions with their horizon and
    target hour (UTC): what shifts are computed from, kept to recompute them as time passes."""

    y_norm: np.ndarray
    pred_norm: np.ndarray  # columns in quantile order
    horizon: np.ndarray
    target_time: np.ndarray  # datetime64[ns], UTC

    def observed_by(self, at: np.datetime64) -> np.ndarray:
        """Rows whose target hour had ended by `at` (known when a forecast is issued then)."""
        return np.asarray(self.target_time + np.timedelta64(1, "h") <= at, dtype=bool)

    def age_days(self, at: np.datetime64) -> np.ndarray:
        """Age in days of each row's target hour at `at`."""
        age = np.asarray(at - self.target_time, dtype="timedelta64[ns]")
        return age / np.timedelta64(1, "D")

    def concat(self, other: Residuals) -> Residuals:
        return Residuals(
            np.concatenate([self.y_norm, other.y_norm]),
            np.concatenate([self.pred_norm, other.pred_norm]),
            np.concatenate([self.horizon, other.horizon]),
            np.concatenate([self.target_time, other.target_time]),
        )

    def take(self, mask: np.ndarray) -> Residuals:
        return Residuals(
            self.y_norm[mask], self.pred_norm[mask], self.horizon[mask], self.target_time[mask]
        )


def shifts_at(
    residuals: Residuals,
    at: np.datetime64,
    quantiles: tuple[float, ...],
    bucket_hours: int,
    min_rows: int,
    half_life_days: float | None,
) -> Shifts:
    """Shifts from the residuals observed by `at`, weighted by their age at `at`."""
    known = residuals.take(residuals.observed_by(at))
    return fit_shifts(
        known.y_norm,
        known.pred_norm,
        known.horizon,
        quantiles,
        bucket_hours,
        min_rows,
        age_weights(known.age_days(at), half_life_days),
    )
