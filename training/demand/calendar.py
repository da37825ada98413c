"""Holiday-period calendar features of a target day, from the `holidays` package: how far the
nearest public holiday is, and how many fall around the day (a "holiday season" such as the
year-end weeks or Easter shows as several holidays within a few days, whatever the country).

They are known ahead (a calendar), computed for any country and subdivision, and the same
function serves training (`dataset.load_demand_data`) and serving (`serving/demand.py`).
"""

from __future__ import annotations

import functools

import holidays
import numpy as np
import pandas as pd

#: Days looked at on each side of a target day.
WINDOW_DAYS = 7
HOLIDAY_PERIOD_COLUMNS = ["days_to_holiday", "days_since_holiday", "holidays_within_7d"]


@functools.lru_cache(maxsize=32)
def _holiday_days(country: str, subdivision: str | None, first: int, last: int) -> np.ndarray:
    """Public holidays of the years first..last as day numbers (days since 1970-01-01)."""
    cal = holidays.country_holidays(country, subdiv=subdivision, years=range(first, last + 1))
    days = pd.DatetimeIndex(sorted(pd.Timestamp(d) for d in cal))
    return np.unique((days - pd.Timestamp("1970-01-01")).days.to_numpy())


def holiday_period(
    local_days: pd.DatetimeIndex, country: str, subdivision: str | None = None
) -> pd.DataFrame:
    """For each local day (any time of day; its date counts): days to the next public holiday
    and since the last one (0 on a holiday, capped at WINDOW_DAYS + 1), and the number of
    public holidays within WINDOW_DAYS days on either side (the day itself included)."""
    dates = pd.DatetimeIndex(local_days).tz_localize(None).normalize()
    cap = WINDOW_DAYS + 1
    if len(dates) == 0:
        return pd.DataFrame(columns=HOLIDAY_PERIOD_COLUMNS, dtype="float64")
    day = (dates - pd.Timestamp("1970-01-01")).days.to_numpy()
    hol = _holiday_days(country, subdivision, dates.min().year - 1, dates.max().year + 1)
    if hol.size == 0:
        cap_col = np.full(len(day), float(cap))
        return pd.DataFrame(
            {
                "days_to_holiday": cap_col,
                "days_since_holiday": cap_col,
                "holidays_within_7d": np.zeros(len(day)),
            }
        )
    nxt = np.searchsorted(hol, day, side="left")
    prev = np.searchsorted(hol, day, side="right") - 1
    to_next = np.where(nxt < hol.size, hol[np.minimum(nxt, hol.size - 1)] - day, cap)
    since = np.where(prev >= 0, day - hol[np.maximum(prev, 0)], cap)
    within = np.searchsorted(hol, day + WINDOW_DAYS, side="right") - np.searchsorted(
        hol, day - WINDOW_DAYS, side="left"
    )
    return pd.DataFrame(
        {
            "days_to_holiday": np.minimum(to_next, cap).astype(float),
            "days_since_holiday": np.minimum(since, cap).astype(float),
            "holidays_within_7d": within.astype(float),
        }
    )
