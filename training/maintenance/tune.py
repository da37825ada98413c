"""`gridml tune maintenance`: Optuna search of the transformer-failure sequence model.

The labelled unit-days are loaded once through Feast and the scaler is fitted once on the
training days; the model inputs of the fit and validation rows are cut once per window length
(the last one is kept, so consecutive trials with the same window reuse it). Each trial then only
fits the sequence model (`fit_sequence_model`: architecture, width, dropout, learning rate,
weight decay, window) with the config's epochs and early stopping. The objective is the PR-AUC
(average precision) of the fitted model on the validation days, maximised; the test days are
never read. The best validation PR-AUC so far is reported after each epoch, so the median pruner
stops trials that fall behind. The LightGBM baseline is not tuned (it is the reference).

Storage, resuming, the MLflow runs and the output are `gridml.training.tuning`'s. The parent run
`tune-maintenance` also logs the data lineage and the validation positive rate (the PR-AUC of a
random ranking); each child run its per-epoch training loss and validation PR-AUC. The output is
the input `MaintenanceRunConfig` with the best parameters in its `model` block:
`gridml train maintenance --config <output>`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from pydantic import Field

from gridml.errors import MissingDataError
from gridml.training import tracking
from gridml.training.classification import average_precision
from gridml.training.maintenance.config import MaintenanceConfig
from gridml.training.maintenance.dataset import (
    MaintenanceData,
    Scaler,
    load_maintenance_data,
    sequences,
)
from gridml.training.maintenance.models import fit_sequence_model
from gridml.training.maintenance.pipeline import (
    MaintenanceRunConfig,
    check_config_against_data,
    training_frame,
)
from gridml.training.tuning import (
    Search,
    StudyConfig,
    TuneResult,
    median_pruner,
    objective_digest,
    run_search,
    trial_run,
)
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
TUNED = ("architecture", "hidden", "dropout", "lr", "weight_decay", "window_days")
WINDOW_CHOICES = (14, 21, 30)


class MaintenanceTuneConfig(StudyConfig):
    """`gridml tune maintenance`: the shared study settings."""

    study_name: str = Field("maintenance-sequence", min_length=1)
    n_warmup_steps: int = Field(2, ge=0, description="Epochs of a trial before it may be pruned.")
    output: Path = Path("experiments/maintenance-tuned.yaml")


def search_space(trial: optuna.Trial) -> dict[str, Any]:
    """The sequence-model parameters a trial tries (MaintenanceConfig field names)."""
    return {
        "architecture": trial.suggest_categorical("architecture", ["cnn", "gru"]),
        "hidden": trial.suggest_int("hidden", 8, 64, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.4),
        "lr": trial.suggest_float("lr", 1e-3, 2e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
        "window_days": trial.suggest_categorical("window_days", list(WINDOW_CHOICES)),
    }


def tuned_model(base: MaintenanceConfig, params: dict[str, Any]) -> MaintenanceConfig:
    """`base` with the tuned fields replaced (the others kept); validated."""
    return MaintenanceConfig.model_validate(base.model_dump() | params)


def maintenance_digest(cfg: MaintenanceConfig) -> str:
    """What the objective depends on besides the tuned parameters (horizon, split, epochs...)."""
    lightgbm = {f for f in MaintenanceConfig.model_fields if f.startswith("lgbm_")}
    reporting = {"name", "alert_budget", "alert_period_days", "risk_bands", "drivers"}
    return objective_digest(cfg.model_dump(mode="json", exclude=set(TUNED) | lightgbm | reporting))


class _Inputs:
    """Fit and validation inputs of the sequence model, cut from the data for one window length
    at a time (the last one is kept)."""

    def __init__(self, data: MaintenanceData) -> None:
        self.data = data
        self.scaler = Scaler.fit(data.cube, data.train_day_mask())
        self.rows = {name: data.part(name) for name in ("fit", "valid")}
        self.y = {name: r["label"].to_numpy() for name, r in self.rows.items()}
        self._window: int | None = None
        self._x: dict[str, np.ndarray] = {}

    def x(self, window: int) -> dict[str, np.ndarray]:
        if window != self._window:
            self._x = {}  # free the previous window's arrays first
            self._x = {
                n: sequences(self.data, r, self.scaler, window) for n, r in self.rows.items()
            }
            self._window = window
        return self._x


def _objective(
    cfg: MaintenanceConfig, tune: MaintenanceTuneConfig, inputs: _Inputs
) -> Callable[[optuna.Trial], float]:
    y_fit, y_val = inputs.y["fit"], inputs.y["valid"]

    def objective(trial: optuna.Trial) -> float:
        params = search_space(trial)
        m = tuned_model(cfg, params)
        x = inputs.x(m.window_days)
        with trial_run(trial, tune.study_name, params) as run:

            def on_epoch(row: dict[str, float]) -> None:
                metrics = {"train_loss": row["loss"], "valid_pr_auc": row["val"]}
                run.report_best(row["val"], int(row["epoch"]), metrics)

            net = fit_sequence_model(
                x["fit"], y_fit, x["valid"], y_val, inputs.data.features, m, on_epoch=on_epoch
            )
            value = average_precision(y_val, net.margin(x["valid"]))
            run.complete(value)
        return value

    return objective


def tune_maintenance(
    cfg: MaintenanceRunConfig, tune: MaintenanceTuneConfig, ws: Workspace
) -> TuneResult:
    """Search the sequence model's parameters for `cfg` on `ws`'s data; write the tuned config."""
    import mlflow

    check_config_against_data(cfg, ws)
    tracking.configure(cfg.tracking, ws)
    m = cfg.model
    t0 = time.perf_counter()
    data = load_maintenance_data(ws, m)
    inputs = _Inputs(data)
    positives = int(inputs.y["valid"].sum())
    if positives == 0:
        raise MissingDataError(
            "no failure falls in the validation days: the objective (validation PR-AUC) is "
            "undefined; use a zone with more transformers or failures, or more validation_days"
        )
    log.info("loaded %d unit-days in %.1f s", len(data.rows), time.perf_counter() - t0)

    def log_parent() -> None:
        tracking.log_lineage(
            cfg,
            feature_service=m.feature_service,
            training_frame=training_frame(data, m.window_days),
            dataset_name="asset_failure_tuning",
            targets="label",
        )
        mlflow.log_metrics(
            {
                "data.fit.samples": len(inputs.y["fit"]),
                "data.fit.positives": float(inputs.y["fit"].sum()),
                "data.valid.samples": len(inputs.y["valid"]),
                "data.valid.positives": positives,
                "valid.positive_rate": positives / len(inputs.y["valid"]),
            }
        )

    search = Search(
        task="maintenance",
        title=f"{m.name}, sequence model",
        objective_label="validation PR-AUC",
        direction="maximize",
        objective=_objective(m, tune, inputs),
        pruner=median_pruner(tune),
        seed=m.seed,
        digest=maintenance_digest(m),
        tuned_config=lambda best: cfg.model_copy(update={"model": tuned_model(m, best)}),
        log_parent=log_parent,
    )
    return run_search(search, tune, ws)
