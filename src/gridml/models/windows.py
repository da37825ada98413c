"""The theft model's daily windows, built one way for training and serving.

A meter's input is its daily kWh and interrupted hours over the `days` days ending at the scoring
day. Both sides first lay the `meter_daily` rows on a calendar of consecutive days (a day that no
meter reported is a NaN column, not skipped), then cut each window from it: training at every
scoring day, serving at the newest day. Windows are oldest first; the pyfuncs' `*_lag_*` columns
are the same windows newest first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAILY_COLUMNS = ("meter_id", "event_timestamp", "kwh_day", "outage_hours_day")


def daily_calendar(
    frame: pd.DataFrame, last_days: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(kwh, outage hours) as meter x day frames over consecutive days from the first stamp (or
    the last `last_days` days) to the newest; NaN where a meter has no row that day."""
    missing = [c for c in DAILY_COLUMNS if c not in frame.columns]
    if missing:
        raise KeyError(f"meter_daily rows lack column(s) {missing}")
    stamps = pd.DatetimeIndex(frame["event_timestamp"].unique())
    first = stamps.min()
    if last_days is not None:
        first = max(first, stamps.max() - pd.Timedelta(days=last_days - 1))
        frame = frame[frame["event_timestamp"] >= first]
    full = pd.date_range(first, stamps.max(), freq="D")
    kwh = frame.pivot(index="meter_id", columns="event_timestamp", values="kwh_day")
    kwh = kwh.reindex(columns=full)
    outage = frame.pivot(index="meter_id", columns="event_timestamp", values="outage_hours_day")
    return kwh, outage.reindex(index=kwh.index, columns=full)


def day_windows(
    kwh: np.ndarray, outage: np.ndarray, rows: np.ndarray, ends: np.ndarray, days: int
) -> tuple[np.ndarray, np.ndarray]:
    """(raw kWh, outage hours), each (n, days) oldest first: row `rows[i]` of the calendar over
    the `days` columns ending at column `ends[i]`. Unknown rows (-1) and days before the
    calendar are NaN kWh and 0 hours; unknown hours are 0."""
    rows = np.asarray(rows, dtype=int)
    cols = np.asarray(ends, dtype=int)[:, None] - np.arange(days)[::-1][None, :]
    ok = (rows[:, None] >= 0) & (cols >= 0) & (cols < kwh.shape[1])
    safe_rows = np.where(rows >= 0, rows, 0)[:, None]
    safe_cols = np.clip(cols, 0, max(kwh.shape[1] - 1, 0))
    if kwh.shape[0] == 0 or kwh.shape[1] == 0:
        shape = (len(rows), days)
        return np.full(shape, np.nan), np.zeros(shape)
    raw = np.where(ok, kwh[safe_rows, safe_cols], np.nan)
    hours = np.where(ok, np.nan_to_num(outage[safe_rows, safe_cols]), 0.0)
    return raw, hours
