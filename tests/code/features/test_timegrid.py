"""Rolling statistics and lags look only backwards; daily sums tolerate a few gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.features.tables.timegrid import Grid, daily, lag, rolling, to_matrix


def test_rolling_window_ends_at_the_current_hour() -> None:
    x = np.arange(10, dtype=float)[None, :]
    got = rolling(x, 3, "mean", min_periods=3)
    assert np.isnan(got[0, :2]).all()
    np.testing.assert_allclose(got[0, 2:], [1, 2, 3, 4, 5, 6, 7, 8])


def test_changing_the_future_does_not_change_the_past() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((2, 200))
    y = x.copy()
    y[:, 150:] *= 10
    for fn in (
        lambda m: rolling(m, 24, "mean"),
        lambda m: rolling(m, 24, "std"),
        lambda m: lag(m, 24),
    ):
        np.testing.assert_array_equal(fn(x)[:, :150], fn(y)[:, :150])


def test_lag_shifts_forward_in_time() -> None:
    x = np.arange(5, dtype=float)[None, :]
    np.testing.assert_array_equal(lag(x, 2), [[np.nan, np.nan, 0, 1, 2]])


def test_daily_sum_scales_up_small_gaps_and_drops_large_ones() -> None:
    x = np.ones((1, 48))
    x[0, :3] = np.nan  # 21 of 24 hours: scaled to 24
    x[0, 24:32] = np.nan  # 16 of 24 hours: unknown
    got = daily(x, "sum")
    assert got[0, 0] == 24.0 and np.isnan(got[0, 1])


def test_grid_starts_at_local_midnight_and_places_rows() -> None:
    first = pd.Timestamp("2024-01-01 05:30", tz="UTC")
    grid = Grid.covering(first, first + pd.Timedelta(hours=30), "Africa/Lagos")  # UTC+1
    assert grid.start == pd.Timestamp("2023-12-31 23:00", tz="UTC")
    assert grid.days == 2
    df = pd.DataFrame(
        {"id": ["a"], "timestamp": [pd.Timestamp("2024-01-01 00:00", tz="UTC")], "v": [3.0]}
    )
    mat = to_matrix(df, "id", "v", pd.Index(["a"]), grid)
    assert mat[0, 1] == 3.0 and np.isnan(mat).sum() == grid.hours - 1
