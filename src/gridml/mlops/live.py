"""Live accuracy as outcomes arrive, one check per model (named by its spec), each returning one
row per day: day, metric, value, n (outcomes judged), alert.

- demand-forecast: the version's day-ahead forecasts of each recent origin, rebuilt through the
  FeatureService as of the origin, against the metered load that has arrived: MASE by day,
  alerting when the window's MASE (days weighted by their points) is over `max_mase`;
- asset-failure: the daily alert list (top `budget` of the fleet) against the utility's failure
  log (the `failures` feed), once the horizon has passed: precision by day;
- theft-detection: the alert list against inspection outcomes logged by field teams in
  WORKSPACE/outcomes/theft-detection.csv (meter_id, inspected_at, theft_found); with
  `from_labels` the synthetic zone's theft labels stand in (demo and tests only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError
from gridml.models.registry import VersionInfo
from gridml.workspace import Workspace

OUTCOMES_COLUMNS = ["meter_id", "inspected_at", "theft_found"]
LIVE_COLUMNS = ["day", "metric", "value", "n", "alert", "verdict"]
OK, ALERT, NOT_ENOUGH = "ok", "alert", "not enough data"
OUTCOME_DAYS = 30  # an inspection within this many days after the alert counts


def live_demand(ws: Workspace, info: VersionInfo, model, days: int, cfg, **_: object):
    """Daily MASE of the demand model over the last `days` (LIVE_COLUMNS), judged on the window."""
    from gridml.mlops.eval_demand import DemandEvaluator
    from gridml.training.metrics import mase

    ev = DemandEvaluator()
    h = ev.holdout(ws, info.config, days)
    pred = model.predict(h.batches[0])
    t = h.truth.assign(yhat=pred["yhat"].to_numpy())
    rows = []
    for day, g in t.groupby(t["origin"].dt.floor("D")):
        value = mase(g["y"], g["yhat"], g["scale"])
        rows.append((day, "mase", value, int(g["y"].notna().sum())))
    out = pd.DataFrame(rows, columns=["day", "metric", "value", "n"])
    # judged on the window, not day by day: one bad day among seven is ordinary noise
    judged = out[(out["n"] > 0) & out["value"].notna()]
    total = int(judged["n"].sum())
    overall = float((judged["value"] * judged["n"]).sum() / total) if total else float("nan")
    low = cfg.max_mase is not None and total > 0 and overall > cfg.max_mase
    out["alert"] = bool(low)
    out["verdict"] = ALERT if low else OK if total else NOT_ENOUGH
    return out[LIVE_COLUMNS]


def _top(frame: pd.DataFrame, budget: float, by: str, key: str) -> pd.DataFrame:
    k = max(1, int(np.ceil(budget * frame[key].nunique())))
    rank = frame.groupby(by)["score"].rank(method="first", ascending=False)
    return frame[rank <= k]


def live_failure(ws: Workspace, info: VersionInfo, model, days: int, cfg, **_: object):
    """Daily precision of the failure model's weekly alerts on the latest labelled days."""
    from gridml.mlops.eval_failure import FailureEvaluator

    ev = FailureEvaluator()
    h = ev.holdout(ws, info.config, days)  # labelled: the horizon has passed
    rows = h.truth["rows"]
    scores = []
    for batch, (_, day) in zip(h.batches, rows.groupby("event_timestamp", sort=True), strict=True):
        p = model.predict(batch).set_index("transformer_id")["probability"]
        scores.append(day.assign(score=p.reindex(day["transformer_id"].astype(str)).to_numpy()))
    scored = pd.concat(scores, ignore_index=True)
    alerts = _top(scored, cfg.budget, "event_timestamp", "transformer_id")
    failed = scored.loc[scored["label"].astype(bool), "transformer_id"].nunique()
    return precision_by_day(alerts, alerts, "label", cfg, events=int(failed))


def precision_by_day(
    alerts: pd.DataFrame, judged: pd.DataFrame, outcome: str, cfg, events: int | None
) -> pd.DataFrame:
    """Daily precision (LIVE_COLUMNS) of the alerts: the share of the `judged` alerts (those
    with an outcome) whose `outcome` is true; one row per day with alerts, value NaN and n 0
    where no outcome is in yet.

    The verdict is "not enough data" until at least `min_outcomes` outcomes are in and the
    window holds `min_events` positives (`events`: failures in the whole fleet; None: not
    gated); without failures, every alert list scores 0, which says nothing about the model.
    Then it is judged on
    the overall precision: "alert" when under `min_precision` (every row flagged), else "ok"."""
    if alerts.empty:
        return pd.DataFrame(columns=LIVE_COLUMNS)
    days = pd.DatetimeIndex(sorted(alerts["event_timestamp"].dt.floor("D").unique()), name="day")
    by_day = judged.groupby(judged["event_timestamp"].dt.floor("D"))[outcome]
    out = by_day.agg(value="mean", n="size").reindex(days).reset_index()
    out["n"] = out["n"].fillna(0).astype(int)
    out["value"] = out["value"].astype(float)
    out.insert(1, "metric", "precision")
    total = int(out["n"].sum())
    enough = total >= cfg.min_outcomes and (events is None or events >= cfg.min_events)
    overall = float((out["value"].fillna(0) * out["n"]).sum() / total) if total else float("nan")
    low = cfg.min_precision is not None and enough and overall < cfg.min_precision
    out["alert"] = bool(low)
    out["verdict"] = ALERT if low else OK if enough else NOT_ENOUGH
    return out[LIVE_COLUMNS]


def outcomes_path(ws: Workspace) -> Path:
    """The CSV of logged theft inspection outcomes in the workspace."""
    return ws.root / "outcomes" / "theft-detection.csv"


def read_outcomes(path: Path) -> pd.DataFrame:
    """The logged inspection outcomes (typed; empty when none is logged yet)."""
    if not path.is_file():
        return pd.DataFrame(
            {
                "meter_id": pd.Series(dtype=str),
                "inspected_at": pd.Series(dtype="datetime64[ns, UTC]"),
                "theft_found": pd.Series(dtype=int),
            }
        )
    frame = pd.read_csv(path)
    missing = [c for c in OUTCOMES_COLUMNS if c not in frame]
    if missing:
        raise MissingDataError(f"{path}: outcome file lacks column(s) {missing}")
    frame["inspected_at"] = pd.to_datetime(frame["inspected_at"], utc=True, format="ISO8601")
    return frame


def outcomes_from_labels(ws: Workspace, alerts: pd.DataFrame) -> pd.DataFrame:
    """Stand-in for field inspections: every alerted meter inspected the day after its alert,
    theft found when the zone's labels say it was stealing by then (synthetic zones only)."""
    from gridml.training.theft.dataset import read_labels

    labels = read_labels(ws).set_index("meter_id")["theft_start"]
    when = alerts["event_timestamp"] + pd.Timedelta(days=1)
    start = alerts["meter_id"].map(labels)
    return pd.DataFrame(
        {
            "meter_id": alerts["meter_id"].to_numpy(),
            "inspected_at": when.to_numpy(),
            "theft_found": (start.notna() & (start <= when)).astype(int).to_numpy(),
        }
    )


def live_theft(
    ws: Workspace,
    info: VersionInfo,
    model,
    days: int,
    cfg,
    outcomes: Path | None = None,
    from_labels: bool = False,
) -> pd.DataFrame:
    """Daily precision of the theft model's alerts against inspection outcomes (or the labels)."""
    from gridml.training.theft.dataset import build_samples, read_daily
    from gridml.training.theft.pyfunc import to_frame

    m = info.config.model
    stamps = pd.DatetimeIndex(sorted(read_daily(ws)["event_timestamp"].unique()))
    recent = stamps[stamps > stamps[-1] - pd.Timedelta(days=days)][:: max(1, m.stride_days)]
    samples = build_samples(ws, m, days=recent)
    frames = []
    for _, idx in samples.meta.groupby("event_timestamp").indices.items():
        part = samples.take(idx)
        p = model.predict(to_frame(part))
        frames.append(part.meta.assign(score=p["probability"].to_numpy()))
    scored = pd.concat(frames, ignore_index=True)
    alerts = _top(scored, cfg.budget, "event_timestamp", "meter_id")
    logged = (
        outcomes_from_labels(ws, alerts)
        if from_labels
        else read_outcomes(outcomes or outcomes_path(ws))
    )
    joined = alerts.merge(logged, on="meter_id", how="inner")
    lag = joined["inspected_at"] - joined["event_timestamp"]
    joined = joined[(lag >= pd.Timedelta(0)) & (lag <= pd.Timedelta(days=OUTCOME_DAYS))]
    joined = joined.drop_duplicates(["meter_id", "event_timestamp"])
    # inspections are the events: 0 thefts found in many inspections is a verdict
    return precision_by_day(alerts, joined, "theft_found", cfg, events=None)
