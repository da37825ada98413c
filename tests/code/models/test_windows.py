"""The theft windows: one builder, the same window in training and in serving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.models.windows import daily_calendar, day_windows
from gridml.serving.risk import theft_input
from gridml.serving.snapshot import DailyHistory
from gridml.training.theft.pyfunc import from_frame

DAYS = 7


def meter_daily() -> pd.DataFrame:
    """Two meters over 12 days; day 6 reported by nobody, M2 silent on day 9, hours unknown once."""
    stamps = pd.date_range("2024-03-01 23:00", periods=12, freq="D", tz="UTC")
    rows = [
        (m, t, float(10 * i + k), 2.0 if (m, k) == ("M1", 10) else np.nan if k == 3 else 0.0)
        for i, m in enumerate(["M1", "M2"])
        for k, t in enumerate(stamps)
        if k != 6 and (m, k) != ("M2", 9)
    ]
    return pd.DataFrame(
        rows, columns=["meter_id", "event_timestamp", "kwh_day", "outage_hours_day"]
    )


def test_calendar_keeps_a_day_nobody_reported() -> None:
    kwh, _ = daily_calendar(meter_daily())
    assert kwh.shape == (2, 12) and kwh.iloc[:, 6].isna().all()
    assert np.isnan(kwh.loc["M2"].iloc[9]) and kwh.loc["M1"].iloc[11] == 11.0
    last, _ = daily_calendar(meter_daily(), last_days=DAYS)
    assert last.shape == (2, DAYS) and (last.columns == kwh.columns[-DAYS:]).all()
    with pytest.raises(KeyError, match="kwh_day"):
        daily_calendar(meter_daily().drop(columns="kwh_day"))


def test_windows_end_at_their_day_and_pad_outside_the_calendar() -> None:
    kwh, outage = daily_calendar(meter_daily())
    raw, hours = day_windows(
        kwh.to_numpy(), outage.to_numpy(), np.array([0, 1, -1]), np.array([11, 3, 11]), DAYS
    )
    assert raw[0].tolist()[-2:] == [10.0, 11.0] and np.isnan(raw[0, 1])  # day 6: NaN
    assert hours[0, -2] == 2.0
    assert np.isnan(raw[1, :3]).all() and raw[1, 3:].tolist() == [10.0, 11.0, 12.0, 13.0]
    assert np.isnan(outage.to_numpy()[1, 3]) and hours[1, -1] == 0.0  # unknown hours: 0
    assert np.isnan(raw[2]).all() and (hours[2] == 0).all()  # unknown meter


def test_serving_window_is_the_training_window_at_the_newest_day() -> None:
    frame = meter_daily()
    kwh, outage = daily_calendar(frame)  # what training.theft.dataset.build_samples cuts
    ends = np.full(2, kwh.shape[1] - 1)
    train_raw, train_hours = day_windows(kwh.to_numpy(), outage.to_numpy(), [0, 1], ends, DAYS)

    skwh, soutage = daily_calendar(frame, last_days=DAYS + 3)  # what the service keeps
    daily = DailyHistory(
        pd.Index(skwh.index.astype(str)),
        pd.DatetimeIndex(skwh.columns),
        skwh.to_numpy(float),
        np.nan_to_num(soutage.to_numpy(float)),
    )
    online = pd.DataFrame({"meter_id": ["M1", "M2"], "kwh_day": [11.0, 21.0]})
    meters = pd.DataFrame({"transformer_id": ["T1", "T1"]}, index=["M1", "M2"])
    served = from_frame(theft_input(online, meters, daily, ["kwh_day"], DAYS), ["kwh_day"], DAYS)
    np.testing.assert_array_equal(served.raw, train_raw)
    np.testing.assert_array_equal(served.outage, train_hours)
