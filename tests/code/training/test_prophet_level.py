"""Prophet's level correction at issue time: the ratio of actual to forecast over the hours
observed by the issue time, never a later hour."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.training.demand.prophet_forecaster import level_ratios


def _rows() -> tuple[pd.DataFrame, pd.Series]:
    origins = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    keys = pd.concat(
        [
            pd.DataFrame(
                {
                    "series_id": "zone:all",
                    "origin": o,
                    "target_time": pd.date_range(o, periods=48, freq="h"),
                }
            )
            for o in origins
        ],
        ignore_index=True,
    )
    issue = keys["origin"] + pd.Timedelta(hours=10)
    return keys, issue


def test_ratio_of_the_hours_observed_by_the_issue_time() -> None:
    keys, issue = _rows()
    point = pd.Series(np.full(len(keys), 10.0))
    # actual load is 8 until 2024-01-02 10:00, then 20: origin 2 (issued 01-02 10:00) sees 8
    y = np.where(keys["target_time"] < pd.Timestamp("2024-01-02 10:00", tz="UTC"), 8.0, 20.0)
    ratio = level_ratios(keys, y, point, issue, hours=24)
    second = (keys["origin"] == keys["origin"].unique()[1]).to_numpy()
    np.testing.assert_allclose(ratio[second], 0.8)
    # the first origin knows its own 10 hours after midnight, all at 8
    np.testing.assert_allclose(ratio[:48], 0.8)
    # the third (issued 01-03 10:00) sees the 24 hours from 01-02 10:00: all at 20
    np.testing.assert_allclose(ratio[~second][48:], 2.0)


def test_nothing_known_leaves_the_forecast_as_is() -> None:
    keys, issue = _rows()
    point = pd.Series(np.full(len(keys), 10.0))
    ratio = level_ratios(keys, np.full(len(keys), np.nan), point, issue, hours=24)
    np.testing.assert_array_equal(ratio, 1.0)
