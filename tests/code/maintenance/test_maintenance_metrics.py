"""Failure metrics on small hand-computed arrays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.training.maintenance.metrics import (
    average_precision,
    evaluate,
    lead_times,
    precision_recall_at_budget,
    roc_auc,
    weekly_alerts,
)


def test_average_precision_and_roc_auc_by_hand() -> None:
    y, s = np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.1])
    assert average_precision(y, s) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert roc_auc(y, s) == pytest.approx(3 / 4)
    assert average_precision(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert roc_auc(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert np.isnan(average_precision(np.zeros(3), np.arange(3)))
    assert np.isnan(roc_auc(np.ones(3), np.arange(3)))


def test_against_scikit_learn_on_random_ties() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.1).astype(int)
    s = np.round(rng.random(500) + 0.3 * y, 1)  # many ties
    assert average_precision(y, s) == pytest.approx(metrics.average_precision_score(y, s))
    assert roc_auc(y, s) == pytest.approx(metrics.roc_auc_score(y, s))


def _fleet() -> tuple[pd.DataFrame, pd.DataFrame]:
    """4 transformers x 14 days; T1 fails on day 3.5, T3 on day 9 (horizon 7)."""
    days = pd.date_range("2024-03-01", periods=14, freq="D", tz="UTC")
    ids = ["T1", "T2", "T3", "T4"]
    frame = pd.DataFrame(
        [(t, d) for t in ids for d in days], columns=["transformer_id", "event_timestamp"]
    )
    frame["score"] = 0.1
    frame["label"] = 0
    at = frame.set_index(["transformer_id", "event_timestamp"]).index
    frame.loc[at.isin([("T1", days[0])]), ["score", "label"]] = [0.9, 1]  # caught on day 0
    frame.loc[at.isin([("T2", days[7])]), "score"] = 0.8  # false alarm on day 7
    frame.loc[at.isin([("T3", days[7])]), ["score", "label"]] = [0.5, 1]  # missed
    failures = pd.DataFrame(
        {
            "transformer_id": ["T1", "T3", "T4"],
            "timestamp": [
                days[0] + pd.Timedelta(hours=84),
                days[9],
                days[0] - pd.Timedelta(days=5),  # before the evaluated period: ignored
            ],
        }
    )
    return frame, failures


def test_alert_budget_precision_recall_lead_time_and_false_alarms() -> None:
    frame, failures = _fleet()
    alerts = weekly_alerts(frame, budget=0.25, period_days=7)  # 1 of 4 per week
    assert len(alerts) == 8  # two issue days x 4 transformers
    assert alerts.loc[alerts["alert"], "transformer_id"].tolist() == ["T1", "T2"]
    assert precision_recall_at_budget(alerts) == (0.5, 0.5)
    leads = lead_times(
        alerts, failures, period=(frame.event_timestamp.min(), frame.event_timestamp.max())
    )
    assert leads.tolist()[0] == pytest.approx(3.5) and np.isnan(leads.tolist()[1])
    out = evaluate(frame, failures, budget=0.25)
    assert out["median_lead_days"] == pytest.approx(3.5)
    assert out["failures"] == 2 and out["failures_alerted"] == 1
    assert out["false_alarms_per_100_years"] == pytest.approx(1 / (56 / 365.25) * 100)
