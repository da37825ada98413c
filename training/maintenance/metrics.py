"""Metrics of failure prediction: ranking (PR-AUC, ROC-AUC) and the operational view of a
weekly alert budget (precision, recall, lead time of the first alert, false alarms)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.training.classification import average_precision, roc_auc

KEY = "transformer_id"
TIME = "event_timestamp"


def issue_days(times: pd.Series, period_days: int = 7) -> pd.Series:
    """Whether each row's day is an alert issue day: every `period_days` from the first day."""
    days = (times - times.min()) // pd.Timedelta(days=1)
    return days % period_days == 0


def weekly_alerts(
    frame: pd.DataFrame, budget: float, period_days: int = 7, score: str = "score"
) -> pd.DataFrame:
    """The issue-day rows of `frame` (transformer_id, event_timestamp, score, ...) with `alert`:
    on each issue day the top ceil(budget * transformers in the fleet) scores are alerted."""
    fleet = frame[KEY].nunique()
    k = max(1, int(np.ceil(budget * fleet)))
    issued = frame[issue_days(frame[TIME], period_days)].copy()
    rank = issued.groupby(TIME)[score].rank(method="first", ascending=False)
    issued["alert"] = rank <= k
    return issued


def precision_recall_at_budget(alerts: pd.DataFrame, label: str = "label") -> tuple[float, float]:
    """Precision and recall of the alerts over issue-day rows (label: fails within horizon)."""
    hits = (alerts["alert"] & (alerts[label] == 1)).sum()
    n_alerts = alerts["alert"].sum()
    positives = (alerts[label] == 1).sum()
    precision = hits / n_alerts if n_alerts else float("nan")
    recall = hits / positives if positives else float("nan")
    return float(precision), float(recall)


def lead_times(
    alerts: pd.DataFrame,
    failures: pd.DataFrame,
    max_lead_days: float = 28,
    period: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> pd.Series:
    """Days from the first alert to each failure in the evaluated `period` (start, end]
    [default: the alerts' first and last day]: the earliest alert of the unit in
    [failure - max_lead_days, failure) after its previous failure. NaN for a failure no alert
    preceded. Indexed like the failures kept."""
    start, end = period or (alerts[TIME].min(), alerts[TIME].max())
    inside = failures[(failures["timestamp"] > start) & (failures["timestamp"] <= end)]
    fired = alerts[alerts["alert"]]
    out = {}
    for i, fail in inside.iterrows():
        unit = failures[failures[KEY] == fail[KEY]]["timestamp"]
        previous = unit[unit < fail["timestamp"]].max()
        lo = fail["timestamp"] - pd.Timedelta(days=max_lead_days)
        if pd.notna(previous):
            lo = max(lo, previous)
        mine = fired[(fired[KEY] == fail[KEY]) & (fired[TIME] >= lo)]
        mine = mine[mine[TIME] < fail["timestamp"]]
        out[i] = (
            (fail["timestamp"] - mine[TIME].min()) / pd.Timedelta(days=1) if len(mine) else np.nan
        )
    return pd.Series(out, dtype=float)


def false_alarms_per_100_years(alerts: pd.DataFrame, unit_days: int, label: str = "label"):
    """Alerts whose unit did not fail within the horizon, per 100 transformer-years observed."""
    false = (alerts["alert"] & (alerts[label] == 0)).sum()
    return float(false / (unit_days / 365.25) * 100) if unit_days else float("nan")


def evaluate(
    frame: pd.DataFrame,
    failures: pd.DataFrame,
    budget: float = 0.05,
    period_days: int = 7,
    max_lead_days: float = 28,
) -> dict[str, float]:
    """All metrics of scored rows (transformer_id, event_timestamp, label, score)."""
    y, s = frame["label"].to_numpy(), frame["score"].to_numpy()
    alerts = weekly_alerts(frame, budget, period_days)
    precision, recall = precision_recall_at_budget(alerts)
    leads = lead_times(alerts, failures, max_lead_days, (frame[TIME].min(), frame[TIME].max()))
    return {
        "pr_auc": average_precision(y, s),
        "roc_auc": roc_auc(y, s),
        "positive_rate": float(np.mean(y)),
        "precision_at_budget": precision,
        "recall_at_budget": recall,
        "failures": float(len(leads)),
        "failures_alerted": float(leads.notna().sum()),
        "median_lead_days": float(leads.median()) if leads.notna().any() else float("nan"),
        "false_alarms_per_100_years": false_alarms_per_100_years(alerts, len(frame)),
    }
