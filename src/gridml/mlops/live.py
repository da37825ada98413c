"""Live accuracy as outcomes arrive, one check per model (`LIVE`), each returning one row per
day: day, metric, value, n (outcomes judged), alert.

- demand-forecast: the version's day-ahead forecasts of each recent origin, rebuilt through the
  FeatureService as of the origin, against the metered load that has arrived: MASE by day;
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
from gridml.mlops.registry import VersionInfo
from gridml.workspace import Workspace

OUTCOMES_COLUMNS = ["meter_id", "inspected_at", "theft_found"]
OUTCOME_DAYS = 30  # an inspection within this many days after the alert counts


def live_demand(ws: Workspace, info: VersionInfo, model, days: int, cfg, **_: object):
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
    out["alert"] = False
    if cfg.max_mase is not None:
        out["alert"] = out["value"] > cfg.max_mase
    return out


def _top(frame: pd.DataFrame, budget: float, by: str, key: str) -> pd.DataFrame:
    k = max(1, int(np.ceil(budget * frame[key].nunique())))
    rank = frame.groupby(by)["score"].rank(method="first", ascending=False)
    return frame[rank <= k]


def live_failure(ws: Workspace, info: VersionInfo, model, days: int, cfg, **_: object):
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
    return _precision_alerts(alerts, "label", cfg)


def _precision_alerts(alerts: pd.DataFrame, outcome: str, cfg) -> pd.DataFrame:
    """Daily precision of the alerts (share whose `outcome` is true), flagged when the overall
    precision, once enough outcomes are in, is under the configured minimum."""
    out = (
        alerts.groupby(alerts["event_timestamp"].dt.floor("D"))[outcome]
        .agg(value="mean", n="size")
        .reset_index(names="day")
    )
    out.insert(1, "metric", "precision")
    judged = out["n"] >= 1
    total_n = int(out["n"].sum())
    out["alert"] = False
    if cfg.min_precision is not None and total_n >= cfg.min_outcomes:
        overall = float((out["value"] * out["n"]).sum() / total_n)
        out["alert"] = judged & (overall < cfg.min_precision)
    return out


def outcomes_path(ws: Workspace) -> Path:
    return ws.root / "outcomes" / "theft-detection.csv"


def read_outcomes(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame(columns=OUTCOMES_COLUMNS)
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
    return _precision_alerts(joined, "theft_found", cfg)


#: model -> live accuracy check (same signature)
LIVE = {
    "demand-forecast": live_demand,
    "asset-failure": live_failure,
    "theft-detection": live_theft,
}
