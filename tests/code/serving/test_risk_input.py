"""Theft and failure model inputs assembled by the service."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.serving.risk import failure_input, merge_latest, theft_input
from gridml.serving.snapshot import DailyHistory


def test_theft_lags_count_back_from_the_latest_day() -> None:
    days = pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC")
    kwh = np.arange(20, dtype=float).reshape(2, 10)
    daily = DailyHistory(pd.Index(["M1", "M2"]), days, kwh, np.zeros((2, 10)))
    online = pd.DataFrame({"meter_id": ["M2", "M3"], "kwh_day": [1.0, None]})
    meters = pd.DataFrame({"transformer_id": ["T1", "T1", "T2"]}, index=["M1", "M2", "M3"])
    frame = theft_input(online, meters, daily, ["kwh_day"], days=14)
    assert frame["transformer_id"].tolist() == ["T1", "T2"]
    assert frame.loc[0, "kwh_lag_00"] == 19.0 and frame.loc[0, "kwh_lag_09"] == 10.0
    assert np.isnan(frame.loc[0, "kwh_lag_10"])  # older than the history: missing
    assert frame.loc[1, [f"kwh_lag_{k:02d}" for k in range(14)]].isna().all()  # unknown meter
    assert np.isnan(frame.loc[1, "kwh_day"])


def window() -> pd.DataFrame:
    stamps = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "transformer_id": ["T1"] * 3,
            "event_timestamp": stamps,
            "oil_temp_max_c": [60.0, 61.0, 62.0],
        }
    )


def test_online_row_replaces_the_same_day_and_appends_a_newer_one() -> None:
    same = pd.Timestamp("2024-01-03", tz="UTC").timestamp()
    online = pd.DataFrame(
        {"transformer_id": ["T1"], "oil_temp_max_c": [70.0], "oil_temp_max_c__ts": [int(same)]}
    )
    merged = merge_latest(window(), online, ["oil_temp_max_c"])
    assert merged["oil_temp_max_c"].tolist() == [60.0, 61.0, 70.0]
    newer = online.assign(oil_temp_max_c__ts=int(same) + 86_400)
    merged = merge_latest(window(), newer, ["oil_temp_max_c"])
    assert merged["oil_temp_max_c"].tolist() == [60.0, 61.0, 62.0, 70.0]
    absent = online.assign(oil_temp_max_c__ts=0)  # not in the online store
    assert len(merge_latest(window(), absent, ["oil_temp_max_c"])) == 3


def test_failure_input_uses_naive_utc_times() -> None:
    frame = failure_input(window(), ["T1"], ["oil_temp_max_c"])
    assert frame["event_timestamp"].dt.tz is None
    assert len(failure_input(window(), ["T9"], ["oil_temp_max_c"])) == 0
