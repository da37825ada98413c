"""`gridml monitor`: data drift between the model's training window and the recent window, and
live accuracy as actuals arrive; an HTML/Markdown report with plots; alerts when a threshold is
crossed (the CLI exits non-zero so that a scheduler can alert).

Drift: the FeatureService of the model, read point-in-time (the values serving read) at daily
stamps over the training window (the version's `gridml.data_start`..`gridml.data_end`) and over
the last `recent_days`, and the online store's current values of every entity (what serving
reads now: train/serve skew, a broken materialization); PSI and KS per feature (`drift`).

Live accuracy, per model, from an honest source of outcomes:
- demand-forecast: the champion's day-ahead forecasts of each recent origin (rebuilt through the
  FeatureService as of the origin) against the metered load that has arrived since: MASE by day;
- asset-failure: the weekly alert list against the utility's failure log (the `failures` feed):
  precision of the alerts by issue day, once the horizon has passed;
- theft-detection: the alert list against inspection outcomes logged by field teams in
  WORKSPACE/outcomes/theft-detection.csv (meter_id, inspected_at, theft_found); with
  `outcomes_from_labels` the synthetic zone's theft labels stand in for inspections of every
  alerted meter (demo and tests only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError
from gridml.mlops.config import ModelMonitoring
from gridml.mlops.drift import feature_drift
from gridml.mlops.registry import VersionInfo
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
MAX_STAMPS = 60
OUTCOMES_COLUMNS = ["meter_id", "inspected_at", "theft_found"]
OUTCOME_DAYS = 30  # an inspection within this many days after the alert counts


@dataclass
class MonitorResult:
    model: str
    version: int
    reference: tuple[pd.Timestamp, pd.Timestamp]
    recent: tuple[pd.Timestamp, pd.Timestamp]
    drift: pd.DataFrame
    live: pd.DataFrame  # day, metric, value, n, alert
    alerts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def daily_stamps(start: pd.Timestamp, end: pd.Timestamp, limit: int = MAX_STAMPS):
    stamps = pd.date_range(start.ceil("D"), end.floor("D"), freq="D")
    if len(stamps) > limit:
        stamps = stamps[np.linspace(0, len(stamps) - 1, limit).round().astype(int)]
    return stamps


def service_features(ws: Workspace, service: str, stamps: pd.DatetimeIndex) -> pd.DataFrame:
    """The FeatureService's values of every entity at each stamp (point in time)."""
    from gridml.features.store import repo
    from gridml.features.store.lookup import entity_table

    entities = entity_table(ws, service)
    grid = entities.merge(pd.DataFrame({"event_timestamp": stamps}), how="cross")
    frame = repo.training_set(ws, service, grid)
    return frame.drop(columns=[*entities.columns, "event_timestamp"])


def data_end(ws: Workspace) -> pd.Timestamp:
    from gridml.features.store.repo import zone_window

    return zone_window(ws)[1]


# --- live accuracy --------------------------------------------------------------------------


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
    out = (
        alerts.groupby(alerts["event_timestamp"].dt.floor("D"))["label"]
        .agg(value="mean", n="size")
        .reset_index(names="day")
    )
    out.insert(1, "metric", "precision")
    return _precision_alerts(out, cfg)


def _precision_alerts(out: pd.DataFrame, cfg) -> pd.DataFrame:
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
    out = (
        joined.groupby(joined["event_timestamp"].dt.floor("D"))["theft_found"]
        .agg(value="mean", n="size")
        .reset_index(names="day")
    )
    out.insert(1, "metric", "precision")
    return _precision_alerts(out, cfg)


#: model -> live accuracy check (same signature)
LIVE = {
    "demand-forecast": live_demand,
    "asset-failure": live_failure,
    "theft-detection": live_theft,
}


def online_snapshot(ws: Workspace, service: str) -> pd.DataFrame:
    """What serving reads now: the online store's values of every entity of the service."""
    from gridml.features.store import repo
    from gridml.features.store.lookup import entity_table

    entities = entity_table(ws, service)
    frame = repo.online_features(ws, service, entities.to_dict("records"))
    return frame.drop(columns=[c for c in entities.columns if c in frame.columns])


# --- the whole check ------------------------------------------------------------------------


def monitor(
    ws: Workspace,
    model: str,
    info: VersionInfo,
    cfg: ModelMonitoring,
    outcomes: Path | None = None,
    outcomes_from_labels: bool = False,
) -> MonitorResult:
    """Drift and live accuracy of version `info` of `model` (thresholds `cfg`)."""
    import mlflow

    service = info.feature_service
    if info.train_start is None or info.train_end is None or not service:
        raise MissingDataError(
            f"{model} v{info.version}: its run records no training window or FeatureService "
            "(retrain it with this version of gridml)"
        )
    end = data_end(ws)
    recent = (end - pd.Timedelta(days=cfg.recent_days), end)
    reference = service_features(ws, service, daily_stamps(info.train_start, info.train_end))
    current = service_features(ws, service, daily_stamps(*recent))
    d = cfg.drift
    args = (d.psi, d.ks, d.bins, d.min_rows, cfg.exclude_features)
    drift = feature_drift(reference, current, *args).assign(source="recent window")
    try:  # train/serve skew: the online store against the training window
        online = feature_drift(reference, online_snapshot(ws, service), *args)
        drift = pd.concat([drift, online.assign(source="online store")], ignore_index=True)
    except Exception as exc:  # no online store (not materialized): say so, judge the rest
        log.debug("online snapshot failed", exc_info=True)
        online_note = f"online store not compared: {type(exc).__name__}: {exc}"
    else:
        online_note = None
    drift = drift.sort_values(["drifted", "psi"], ascending=False, ignore_index=True)
    result = MonitorResult(
        model,
        info.version,
        (info.train_start, info.train_end),
        recent,
        drift,
        pd.DataFrame(columns=["day", "metric", "value", "n", "alert"]),
    )
    if online_note:
        result.notes.append(online_note)
    for row in drift[drift["drifted"]].itertuples():
        result.alerts.append(
            f"drift: {row.feature} PSI {row.psi:.3f}, KS {row.ks:.3f} ({row.source})"
        )

    loaded = mlflow.pyfunc.load_model(info.uri)
    try:
        live = LIVE[model](
            ws,
            info,
            loaded,
            cfg.recent_days,
            cfg.live,
            outcomes=outcomes,
            from_labels=outcomes_from_labels,
        )
        if live.empty:
            result.notes.append("no outcome logged yet for the recent alerts or forecasts")
    except MissingDataError as exc:
        live = result.live
        result.notes.append(f"live accuracy not available: {exc}")
    result.live = live
    for row in live[live["alert"].astype(bool)].itertuples():
        result.alerts.append(f"live {row.metric} {row.value:.3f} on {row.day:%Y-%m-%d}")
    return result
