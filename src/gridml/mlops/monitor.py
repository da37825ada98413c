"""`gridml monitor`: data drift between the model's training window and the recent window, and
live accuracy as actuals arrive; an HTML/Markdown report with plots; alerts when a threshold is
crossed (the CLI exits non-zero so that a scheduler can alert).

Drift: the FeatureService of the model, read point-in-time (the values serving read) at daily
stamps over the training window (the version's `gridml.data_start`..`gridml.data_end`) and over
the last `recent_days`, and the online store's current values of every entity (what serving
reads now: train/serve skew, a broken materialization); PSI and KS per feature (`drift`).

Live accuracy (`live`): demand MASE by day against the metered load; failure-alert precision
against the failure log; theft-alert precision against logged inspection outcomes.
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
from gridml.mlops.live import LIVE
from gridml.mlops.registry import VersionInfo
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
MAX_STAMPS = 60


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
