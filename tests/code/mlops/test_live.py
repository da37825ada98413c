"""Live precision: "not enough data" until outcomes (and, for failures, events) are in, never a
precision of 0.000 on nothing; a low precision on enough outcomes alerts."""

from __future__ import annotations

import pandas as pd

from gridml.mlops.config import LiveThresholds
from gridml.mlops.live import NOT_ENOUGH, precision_by_day, read_outcomes

CFG = LiveThresholds(min_precision=0.3, min_outcomes=5, min_events=3)


def _alerts(days: int, per_day: int) -> pd.DataFrame:
    stamps = pd.date_range("2025-12-01", periods=days, freq="D", tz="UTC")
    return pd.DataFrame(
        {
            "meter_id": [f"M{i}" for i in range(days * per_day)],
            "event_timestamp": stamps.repeat(per_day),
        }
    )


def test_no_outcome_yet_is_not_enough_data(tmp_path) -> None:
    alerts = _alerts(3, 2)
    logged = read_outcomes(tmp_path / "none.csv")  # typed, empty: no crash on a fresh workspace
    joined = alerts.merge(logged, on="meter_id", how="inner")
    lag = joined["inspected_at"] - joined["event_timestamp"]
    assert lag.empty
    out = precision_by_day(alerts, joined, "theft_found", CFG, events=None)
    assert len(out) == 3 and (out["n"] == 0).all() and out["value"].isna().all()
    assert (out["verdict"] == NOT_ENOUGH).all() and not out["alert"].any()


def test_no_failure_in_the_window_is_not_enough_data() -> None:
    alerts = _alerts(10, 3).assign(label=0)  # 30 alerts, every one a false alarm
    out = precision_by_day(alerts, alerts, "label", CFG, events=0)
    assert (out["value"] == 0).all() and (out["verdict"] == NOT_ENOUGH).all()
    assert not out["alert"].any()


def test_low_precision_on_enough_outcomes_alerts() -> None:
    alerts = _alerts(10, 3).assign(label=0)
    alerts.loc[:1, "label"] = 1  # 2 of 30
    out = precision_by_day(alerts, alerts, "label", CFG, events=4)
    assert out["alert"].all() and (out["verdict"] == "alert").all()
    good = alerts.assign(label=1)
    assert not precision_by_day(good, good, "label", CFG, events=4)["alert"].any()
