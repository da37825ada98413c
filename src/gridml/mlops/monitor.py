"""`gridml monitor`: data drift between the model's training window and the recent window, and
live accuracy as actuals arrive; an HTML/Markdown report with plots; alerts when a threshold is
crossed (the CLI exits non-zero so that a scheduler can alert).

Drift: the FeatureService of the model, read point-in-time (the values serving read) at daily
stamps over the training window (the version's `gridml.data_start`..`gridml.data_end`) and over
the last `recent_days`; PSI and KS per hierarchy level and feature family, with a minimum number
of rows for a verdict (`drift.family_drift`).

Train/serve skew: the online store's values of every entity (what serving reads now) against
the offline point-in-time values of the same entities at the newest data (what training reads):
paired, value by value (`drift.online_skew`); a stale or broken materialization shows here.

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
from gridml.mlops.drift import NOT_ENOUGH, SKEW_COLUMNS, family_drift, online_skew
from gridml.mlops.live import LIVE_COLUMNS
from gridml.models import catalog
from gridml.models.registry import VersionInfo
from gridml.models.spec import resolve
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
MAX_STAMPS = 60


@dataclass
class MonitorResult:
    model: str
    version: int
    reference: tuple[pd.Timestamp, pd.Timestamp]
    recent: tuple[pd.Timestamp, pd.Timestamp]
    drift: pd.DataFrame  # FAMILY_COLUMNS: per hierarchy level and feature family
    live: pd.DataFrame  # LIVE_COLUMNS: day, metric, value, n, alert, verdict
    skew: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SKEW_COLUMNS))
    alerts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def daily_stamps(start: pd.Timestamp, end: pd.Timestamp, limit: int = MAX_STAMPS):
    """Daily stamps between start and end, thinned evenly to at most `limit`."""
    stamps = pd.date_range(start.ceil("D"), end.floor("D"), freq="D")
    if len(stamps) > limit:
        stamps = stamps[np.linspace(0, len(stamps) - 1, limit).round().astype(int)]
    return stamps


def service_features(ws: Workspace, service: str, stamps: pd.DatetimeIndex) -> pd.DataFrame:
    """The FeatureService's values of every entity at each stamp (point in time), with the
    stamp (`event_timestamp`)."""
    from gridml.features.store import repo
    from gridml.features.store.lookup import entity_table

    entities = entity_table(ws, service)
    grid = entities.merge(pd.DataFrame({"event_timestamp": stamps}), how="cross")
    frame = repo.training_set(ws, service, grid)
    return frame.drop(columns=list(entities.columns))


def data_end(ws: Workspace) -> pd.Timestamp:
    """The end of the zone's data."""
    from gridml.features.store.repo import zone_window

    return zone_window(ws)[1]


def online_pairs(
    ws: Workspace, service: str, at: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(offline, online): the point-in-time values training reads of every entity at `at` (the
    newest data, what `materialize` loads) and the online store's values serving reads now,
    row-aligned."""
    from gridml.features.store import repo
    from gridml.features.store.lookup import entity_table

    entities = entity_table(ws, service)
    online = repo.online_features(ws, service, entities.to_dict("records"))
    online = online.drop(columns=[c for c in entities.columns if c in online.columns])
    offline = repo.training_set(ws, service, entities.assign(event_timestamp=at))
    offline = offline.drop(columns=[*entities.columns, "event_timestamp"])
    return offline, online


# --- the whole check ------------------------------------------------------------------------


def monitor(
    ws: Workspace,
    model: str,
    info: VersionInfo,
    cfg: ModelMonitoring,
    outcomes: Path | None = None,
    outcomes_from_labels: bool = False,
) -> MonitorResult:
    """Drift, train/serve skew and live accuracy of version `info` of `model` (thresholds
    `cfg`). Alerts only on verdicts the data can carry: a family or a live metric without
    enough rows is reported as "not enough data"."""
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
    drift = family_drift(reference, current, *args, blocks=d.periods)
    result = MonitorResult(
        model,
        info.version,
        (info.train_start, info.train_end),
        recent,
        drift,
        pd.DataFrame(columns=LIVE_COLUMNS),
    )
    for row in drift[drift["drifted"]].itertuples():
        result.alerts.append(
            f"drift: {row.family} ({row.features} feature(s), {row.level}) PSI {row.psi:.3f}, "
            f"KS {row.ks:.3f} over {row.n_cur} recent rows"
        )
    thin = drift[drift["verdict"] == NOT_ENOUGH]
    if len(thin):
        levels = ", ".join(sorted({str(x) for x in thin["level"]}))
        result.notes.append(
            f"drift: {len(thin)} family x level pair(s) not judged, not enough data "
            f"(fewer than {d.min_rows} rows a side; levels {levels})"
        )
    try:  # train/serve skew: the online store against the offline values at the same moment
        offline, online = online_pairs(ws, service, end)
        result.skew = online_skew(offline, online, d.max_online_mismatch)
    except Exception as exc:  # no online store (not materialized): say so, judge the rest
        log.debug("online comparison failed", exc_info=True)
        result.notes.append(f"online store not compared: {type(exc).__name__}: {exc}")
    for row in result.skew[result.skew["skewed"]].itertuples():
        result.alerts.append(
            f"train/serve skew: {row.family} ({row.level}) {row.mismatched} of {row.n} online "
            f"values differ from the offline values at {end:%Y-%m-%d %H:%M} (materialize again?)"
        )

    loaded = mlflow.pyfunc.load_model(info.uri)
    spec = catalog.get(model)
    try:
        if spec.live is None:
            raise MissingDataError(f"{model}: its spec names no live-accuracy check")
        live = resolve(spec.live)(
            ws,
            info,
            loaded,
            cfg.recent_days,
            cfg.live,
            outcomes=outcomes,
            from_labels=outcomes_from_labels,
        )
    except MissingDataError as exc:
        live = result.live
        result.notes.append(f"live accuracy not available: {exc}")
    result.live = live
    result.alerts += live_alerts(live, cfg)
    if live.empty or (live["verdict"] == "not enough data").all():
        result.notes.append(
            "live accuracy: not enough data yet (no outcomes, or too few to judge: "
            f"min_outcomes {cfg.live.min_outcomes}, min_events {cfg.live.min_events})"
        )
    return result


def live_alerts(live: pd.DataFrame, cfg: ModelMonitoring) -> list[str]:
    """One alert per live metric flagged on the window: its overall value (days weighted by
    their outcomes) against the threshold."""
    flagged = live[live["alert"].astype(bool)]
    out = []
    for metric, rows in flagged.groupby("metric", sort=False):
        n = int(rows["n"].sum())
        overall = float((rows["value"].fillna(0) * rows["n"]).sum() / n) if n else float("nan")
        limit = (
            f"minimum {cfg.live.min_precision}"
            if metric == "precision"
            else f"maximum {cfg.live.max_mase}"
        )
        out.append(
            f"live {metric} {overall:.3f} over {n} outcomes of {len(rows)} days "
            f"({limit}; {rows['day'].min():%Y-%m-%d} .. {rows['day'].max():%Y-%m-%d})"
        )
    return out
