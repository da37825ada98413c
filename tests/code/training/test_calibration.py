"""Conformal shifts per lead-time bucket bring quantile forecasts to their nominal level."""

from __future__ import annotations

import numpy as np
import pytest

from gridml.training.demand.calibration import Shifts, apply_shifts, bucket_of, fit_shifts

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
