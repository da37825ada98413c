"""Served energy under a shedding schedule: demand times the supplied share of each hour."""

from __future__ import annotations

import pandas as pd

from gridml.training.demand.served import expected_served


def test_cut_hours_serve_nothing_and_partial_hours_their_share() -> None:
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    forecast = pd.DataFrame(
        {
            "series_id": ["feeder:F001"] * 4 + ["feeder:F002"] * 4,
            "target_time": [t0 + pd.Timedelta(hours=h) for h in range(4)] * 2,
            "q10": 8.0,
            "q50": 10.0,
            "q90": 12.0,
        }
    )
    schedule = pd.DataFrame(
        {
            "series_id": ["feeder:F001"],
            "start": [t0 + pd.Timedelta(hours=1)],
            "end": [t0 + pd.Timedelta(hours=2, minutes=30)],
        }
    )
    out = expected_served(forecast, schedule)
    f1 = out[out["series_id"] == "feeder:F001"]["served_q50"].tolist()
    assert f1 == [10.0, 0.0, 5.0, 10.0]
    assert (out[out["series_id"] == "feeder:F002"]["served_q50"] == 10.0).all()
    assert out["served_q90"].sum() < out["q90"].sum()
