"""Prepaid token purchases (STS vends): customers top up when their credit runs low.

Credit is drawn by the energy the meter records, so a bypassed meter (theft) buys less often.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PRICE_PER_KWH = 80.0  # local currency units per kWh (about the CI social tariff, in XOF)


def generate_vends(
    meter_ids: np.ndarray,
    recorded_daily_kwh: np.ndarray,
    day_starts: pd.DatetimeIndex,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Vends of prepaid meters; `recorded_daily_kwh` is (meters, days)."""
    rows = []
    n, days = recorded_daily_kwh.shape
    for i in range(n):
        daily = recorded_daily_kwh[i]
        cum = np.cumsum(daily)
        typical = max(0.5, float(np.median(daily[: min(days, 30)])))
        # each purchase covers 4-20 days of typical use, rounded to 500 currency units
        n_max = int(cum[-1] / (typical * 4)) + 3
        cover = rng.uniform(4, 20, size=n_max) * typical
        amount = np.maximum(500.0, np.round(cover * PRICE_PER_KWH / 500.0) * 500.0)
        kwh = amount / PRICE_PER_KWH
        # the next purchase happens when about 85-100% of the credit bought so far is used
        credit = np.cumsum(kwh)
        trigger = np.concatenate([[0.0], credit[:-1] * rng.uniform(0.85, 1.0, size=n_max - 1)])
        day = np.searchsorted(cum, trigger)
        keep = day < days
        day, amount, kwh = day[keep], amount[keep], kwh[keep]
        hour = rng.integers(7, 22, size=len(day))
        minute = rng.integers(0, 60, size=len(day))
        ts = day_starts[day] + pd.to_timedelta(hour * 60 + minute, unit="min")
        rows.append(
            pd.DataFrame({"meter_id": meter_ids[i], "timestamp": ts, "amount": amount, "kwh": kwh})
        )
    if not rows:
        return pd.DataFrame(columns=["meter_id", "timestamp", "amount", "kwh"])
    # two vends the same day keep distinct minutes; drop the rare exact duplicate
    return pd.concat(rows, ignore_index=True).drop_duplicates(["meter_id", "timestamp"])
