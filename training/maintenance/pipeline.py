"""`gridml train maintenance`: fit the sequence model and the LightGBM baseline, evaluate both on
the held-out period, track and register.

Thin wiring over the library: dataset -> both models -> metrics (PR-AUC, ROC-AUC, precision and
recall at the weekly alert budget, lead time, false alarms) -> MLflow run (params, per-epoch
curves, metrics, PR and reliability plots, lineage) -> pyfunc registered as
`asset-failure@challenger`.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gridml.config import ConfigError
from gridml.errors import MissingDataError
from gridml.models.builtin import MAINTENANCE
from gridml.training import tracking
from gridml.training.classification import pr_plot, reliability_plot
from gridml.training.maintenance.config import MaintenanceConfig
from gridml.training.maintenance.dataset import (
    KEY,
    MaintenanceData,
    Scaler,
    flat_features,
    load_maintenance_data,
    sequences,
)
from gridml.training.maintenance.metrics import TIME, evaluate
from gridml.training.maintenance.models import fit_lightgbm, fit_sequence_model
from gridml.training.maintenance.pyfunc import log_maintenance_model, naive_utc
from gridml.training.run import RunSettings
from gridml.workspace import Workspace

EXAMPLE_TRANSFORMERS = 3
log = logging.getLogger(__name__)
NO_FAILURES = (
    "no failure in the training days: the model cannot have learned failure risk (at a "
    "field-like 5%/year, 50 transformers fail about twice in two years; experiments/zone.yaml "
    "and experiments/maintenance-zone.yaml raise the rate to have failures to train on)"
)


class MaintenanceRunConfig(RunSettings):
    """A maintenance training run: the model config, where it is tracked, what it registers.
    The registered name is written once: the experiment and the run name default to it
    (training/run.py)."""

    REGISTERED_DEFAULT = MAINTENANCE.name

    model: MaintenanceConfig = MaintenanceConfig()


@dataclass
class MaintenanceRun:
    run_id: str
    model_uri: str
    version: int
    metrics: pd.DataFrame  # model (architecture | lightgbm) x metric, held-out period
    input_example: pd.DataFrame
    models: dict[str, object] = field(default_factory=dict)  # fitted: <architecture>, lightgbm
    data: MaintenanceData | None = None  # the labelled, split data it was trained on


def check_config_against_data(cfg: MaintenanceRunConfig, ws: Workspace) -> None:
    """Fail fast (before any work) when the split cannot fit the workspace's data."""
    if not ws.zone_file.is_file():
        raise MissingDataError("no zone in the workspace: run `gridml data generate` first")
    zone = json.loads(ws.zone_file.read_text())
    days = (pd.Timestamp(zone["end"]) - pd.Timestamp(zone["start"])) / pd.Timedelta(days=1)
    m = cfg.model
    needed = m.test_days + 2 * m.gap + m.validation_days + 7
    if days < needed:
        raise ConfigError(
            f"the zone has {days:.0f} days: too few for test_days={m.test_days}, "
            f"gaps of {m.gap} days and validation_days={m.validation_days} (needs {needed})"
        )


def _scores(data: MaintenanceData, rows: pd.DataFrame, score: np.ndarray) -> pd.DataFrame:
    return rows[[KEY, TIME, "label"]].assign(score=score).reset_index(drop=True)


def training_frame(data: MaintenanceData, window: int) -> pd.DataFrame:
    """The training and validation rows with their labels and flat features (for lineage)."""
    rows = data.part("fit", "valid")
    return pd.concat(
        [
            rows[[KEY, TIME, "label"]].reset_index(drop=True),
            flat_features(data, rows, window).reset_index(drop=True),
        ],
        axis=1,
    )


def input_example(data: MaintenanceData, cfg: MaintenanceConfig, n: int) -> pd.DataFrame:
    """The model input of `n` transformers at the last day: their last `window_days` days of
    FeatureService values (long: transformer_id, event_timestamp as naive UTC, features)."""
    days = data.days[-cfg.window_days :]
    parts = []
    for tix, tid in list(enumerate(data.transformers))[:n]:
        values = data.cube[tix, -len(days) :]
        part = pd.DataFrame(values.astype("float64"), columns=data.features)
        part.insert(0, TIME, naive_utc(pd.Series(days)))
        part.insert(0, KEY, str(tid))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def train_maintenance(cfg: MaintenanceRunConfig, ws: Workspace) -> MaintenanceRun:
    """Train, evaluate and log the failure models in one MLflow run; the run's results."""
    import mlflow

    check_config_against_data(cfg, ws)
    m = cfg.model
    tracking.configure(cfg.tracking, ws)
    t0 = time.perf_counter()
    data = load_maintenance_data(ws, m)
    rows = {name: data.part(name) for name in ("fit", "valid", "test")}
    y = {name: r["label"].to_numpy() for name, r in rows.items()}
    with mlflow.start_run(run_name=m.name) as run:
        mlflow.set_tag("gridml.task", MAINTENANCE.name)
        if not y["fit"].any():
            log.warning(NO_FAILURES)
            mlflow.set_tag("gridml.warning", NO_FAILURES)
        scaler = Scaler.fit(data.cube, data.train_day_mask())
        x = {name: sequences(data, r, scaler, m.window_days) for name, r in rows.items()}
        t1 = time.perf_counter()
        net = fit_sequence_model(x["fit"], y["fit"], x["valid"], y["valid"], data.features, m)
        seq_seconds = time.perf_counter() - t1
        for h in net.history:
            step = int(h["epoch"])
            mlflow.log_metric(f"{m.architecture}.train_loss", h["loss"], step=step)
            mlflow.log_metric(f"{m.architecture}.valid_score", h["val"], step=step)
        flat = {name: flat_features(data, r, m.window_days) for name, r in rows.items()}
        t1 = time.perf_counter()
        gbm = fit_lightgbm(flat["fit"], y["fit"], flat["valid"], y["valid"], m)
        gbm_seconds = time.perf_counter() - t1

        scored = {
            m.architecture: _scores(data, rows["test"], net.predict_proba(x["test"])),
            "lightgbm": _scores(data, rows["test"], gbm.predict_proba(flat["test"])),
        }
        results = {
            name: evaluate(frame, data.failures, m.alert_budget, m.alert_period_days)
            for name, frame in scored.items()
        }
        results[m.architecture] |= {"fit_seconds": seq_seconds, "epochs": len(net.history)}
        results["lightgbm"] |= {
            "fit_seconds": gbm_seconds,
            "best_iteration": float(gbm.booster.best_iteration or gbm.booster.num_trees()),
        }
        metrics = {
            f"{name}.{key}": float(v)
            for name, res in results.items()
            for key, v in res.items()
            if v == v  # drop NaN
        }
        mlflow.log_metrics(metrics)
        table = pd.DataFrame(results).T.rename_axis("model").reset_index()

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            table.to_csv(out / "metrics.csv", index=False)
            pd.DataFrame(net.history).to_csv(out / "training_curve.csv", index=False)
            curves = {n: (f["label"].to_numpy(), f["score"].to_numpy()) for n, f in scored.items()}
            pr_plot(curves, out / "pr_curve.png", "Precision-recall, held-out period")
            reliability_plot(
                curves, out / "calibration.png", "Calibration, held-out period", "failure"
            )
            mlflow.log_artifacts(str(out), artifact_path="evaluation")

        tracking.log_lineage(
            cfg,
            feature_service=m.feature_service,
            training_frame=training_frame(data, m.window_days),
            dataset_name="asset_failure_training",
            targets="label",
        )
        example = input_example(data, m, EXAMPLE_TRANSFORMERS)
        uri = log_maintenance_model(net, scaler, m, example)
        version = tracking.register(
            uri, cfg.registered_model, "challenger", tags={"run_id": run.info.run_id}
        )
        mlflow.log_metric("total_seconds", time.perf_counter() - t0)
    models = {m.architecture: net, "lightgbm": gbm}
    return MaintenanceRun(run.info.run_id, uri, version, table, example, models, data)
