"""Conformal shifts per lead-time bucket bring quantile forecasts to their nominal level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.training.demand.calibration import (
    Residuals,
    Shifts,
    age_weights,
    apply_shifts,
    bucket_of,
    fit_shifts,
    shifts_at,
)

QS = (0.1, 0.5, 0.9)


def _too_narrow(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Actuals whose spread grows with the horizon, and quantile forecasts that are too narrow
    (they assume a spread of 0.5 everywhere)."""
    horizon = rng.integers(1, 49, n)
    sd = 0.5 + horizon / 24.0
    y = rng.normal(0.0, sd)
    z = 1.2816  # standard normal 90 % point
    pred = np.column_stack([np.full(n, -z * 0.5), np.zeros(n), np.full(n, z * 0.5)])
    return y, pred, horizon


def _coverage(y: np.ndarray, pred: np.ndarray) -> float:
    return float(((y >= pred[:, 0]) & (y <= pred[:, -1])).mean())


def test_shifted_quantiles_reach_their_level_on_new_data() -> None:
    rng = np.random.default_rng(0)
    y, pred, h = _too_narrow(rng, 20_000)
    assert _coverage(y, pred) < 0.6  # the uncalibrated band is far too narrow
    shifts = fit_shifts(y, pred, h, QS, bucket_hours=6, min_rows=50)
    y2, pred2, h2 = _too_narrow(rng, 20_000)
    out = apply_shifts(pred2, h2, shifts)
    assert 0.78 <= _coverage(y2, out) <= 0.83
    assert (y2 <= out[:, 0]).mean() == pytest.approx(0.1, abs=0.015)
    assert (y2 <= out[:, 2]).mean() == pytest.approx(0.9, abs=0.015)
    np.testing.assert_array_equal(out[:, 1], pred2[:, 1])  # the median is left alone
    # each lead-time bucket is calibrated, not just the pool: early and late horizons alike
    for lo, hi in [(1, 6), (43, 48)]:
        rows = (h2 >= lo) & (h2 <= hi)
        assert 0.74 <= _coverage(y2[rows], out[rows]) <= 0.86


def test_buckets_with_few_rows_use_the_pooled_shift() -> None:
    rng = np.random.default_rng(1)
    y, pred, h = _too_narrow(rng, 2_000)
    h[:5] = 100  # a bucket of five rows
    shifts = fit_shifts(y, pred, h, QS, bucket_hours=6, min_rows=50)
    sparse = bucket_of(np.array([100]), 6)[0]
    assert shifts.table.loc[sparse, 0.9] == shifts.pooled[0.9]
    unseen = apply_shifts(np.zeros((1, 3)), np.array([160]), shifts)  # a bucket never seen
    np.testing.assert_allclose(unseen[0], [shifts.pooled[q] for q in QS])


def test_shifts_round_trip_through_their_json_form() -> None:
    rng = np.random.default_rng(2)
    y, pred, h = _too_narrow(rng, 3_000)
    shifts = fit_shifts(y, pred, h, QS, bucket_hours=12, min_rows=50)
    again = Shifts.from_dict(shifts.to_dict())
    np.testing.assert_allclose(apply_shifts(pred, h, again), apply_shifts(pred, h, shifts))


def test_no_finite_residual_is_an_error() -> None:
    with pytest.raises(ValueError, match="no finite residual"):
        fit_shifts(np.full(3, np.nan), np.zeros((3, 3)), np.ones(3), QS, 6, 1)


def _residuals(y: np.ndarray, start: str) -> Residuals:
    n = y.size
    pred = np.column_stack([np.full(n, -1.0), np.zeros(n), np.full(n, 1.0)])
    times = pd.date_range(start, periods=n, freq="h").to_numpy()
    return Residuals(y, pred, np.full(n, 30), times)


def test_equal_weights_give_the_split_conformal_order_statistic() -> None:
    """With n equal weights, the P90 shift is the ceil((n + 1) 0.9)-th smallest residual and
    the P10 shift the floor((n + 1) 0.1)-th smallest (split conformal)."""
    rng = np.random.default_rng(1)
    y, pred, h = _too_narrow(rng, 3_001)
    weighted = fit_shifts(y, pred, h, QS, 6, 50, weights=np.ones(y.size))
    n = y.size
    upper = np.sort(y - pred[:, 2])[int(np.ceil((n + 1) * 0.9)) - 1]
    lower = np.sort(y - pred[:, 0])[int(np.floor((n + 1) * 0.1)) - 1]
    assert weighted.pooled[0.9] == upper and weighted.pooled[0.1] == lower


def test_age_weighted_shifts_follow_the_recent_errors() -> None:
    """Four weeks of small errors, then two days of errors far below P10: with a half-life the
    band moves down towards them; without, it barely moves."""
    rng = np.random.default_rng(2)
    calm = _residuals(rng.normal(0.0, 0.5, 28 * 24), "2024-01-01")
    shock = _residuals(rng.normal(-3.0, 0.5, 2 * 24), "2024-01-29")
    pool = calm.concat(shock)
    at = np.datetime64("2024-01-31T00:00", "ns")
    flat = shifts_at(pool, at, QS, 6, 50, half_life_days=None)
    recent = shifts_at(pool, at, QS, 6, 50, half_life_days=2.0)
    assert recent.pooled[0.1] < flat.pooled[0.1] - 1.0
    weights = age_weights(np.array([0.0, 2.0, 4.0]), 2.0)
    np.testing.assert_allclose(weights, [1.0, 0.5, 0.25])


def test_shifts_never_read_an_error_observed_after_the_issue_time() -> None:
    rng = np.random.default_rng(3)
    pool = _residuals(rng.normal(0.0, 0.5, 20 * 24), "2024-01-01")
    at = np.datetime64("2024-01-15T10:00", "ns")
    before = shifts_at(pool, at, QS, 6, 50, half_life_days=7.0)
    later = ~pool.observed_by(at)
    assert later.any() and not pool.observed_by(at)[pool.target_time >= at].any()
    # the hour 09:00-10:00 ends at the issue time: observed; 10:00-11:00 is not
    assert pool.observed_by(at)[pool.target_time == np.datetime64("2024-01-15T09:00", "ns")].all()
    changed = Residuals(
        np.where(later, 1e6, pool.y_norm), pool.pred_norm, pool.horizon, pool.target_time
    )
    after = shifts_at(changed, at, QS, 6, 50, half_life_days=7.0)
    pd.testing.assert_frame_equal(before.table, after.table)
