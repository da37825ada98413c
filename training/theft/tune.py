"""`gridml tune theft`: Optuna search of the Wide & Deep theft model.

The (meter, scoring day) samples are built once through Feast, labelled and split by customer
and by time once; each trial then only fits `WideDeepTheft` (branch widths, CNN channels,
dropout, learning rate, weight decay) on the training meters with the config's epochs and early
stopping. The objective is the PR-AUC of the fitted model on the validation meters, maximised;
the held-out test meters and days are never read. The best validation PR-AUC so far is reported
after each epoch, so the median pruner stops trials that fall behind. The LightGBM baseline is
not tuned (it is the reference).

Storage, resuming, the MLflow runs and the output are `gridml.training.tuning`'s. The parent run
`tune-theft` also logs the data lineage and the validation positive rate (the PR-AUC of a random
ranking); each child run its per-epoch training loss and validation PR-AUC. The output is the
input `TheftRunConfig` with the best parameters in `model.wide_deep`:
`gridml train theft --config <output>`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from pydantic import Field

from gridml.errors import MissingDataError
from gridml.training import tracking
from gridml.training.theft import dataset
from gridml.training.theft.config import TheftConfig, WideDeepConfig
from gridml.training.theft.dataset import TheftSamples
from gridml.training.theft.metrics import pr_auc
from gridml.training.theft.models import WideDeepTheft
from gridml.training.theft.pipeline import TheftRunConfig, data_metrics, lineage_frame
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
TUNED = ("wide_hidden", "channels", "tab_hidden", "dropout", "lr", "weight_decay")


class TheftTuneConfig(StudyConfig):
    """`gridml tune theft`: the shared study settings."""

    study_name: str = Field("theft-wide-deep", min_length=1)
    n_warmup_steps: int = Field(2, ge=0, description="Epochs of a trial before it may be pruned.")
    output: Path = Path("experiments/theft-tuned.yaml")


def search_space(trial: optuna.Trial) -> dict[str, Any]:
    """The Wide & Deep parameters a trial tries (WideDeepConfig field names)."""
    return {
        "wide_hidden": trial.suggest_int("wide_hidden", 16, 256, log=True),
        "channels": trial.suggest_int("channels", 4, 64, log=True),
        "tab_hidden": trial.suggest_int("tab_hidden", 8, 128, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        "lr": trial.suggest_float("lr", 5e-4, 1e-2, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True),
    }


def tuned_model(base: TheftConfig, params: dict[str, Any]) -> TheftConfig:
    """`base` with the tuned Wide & Deep fields replaced (the others kept); validated."""
    wide_deep = WideDeepConfig.model_validate(base.wide_deep.model_dump() | params)
    return base.model_copy(update={"wide_deep": wide_deep})


def theft_digest(cfg: TheftConfig) -> str:
    """What the objective depends on besides the tuned parameters (window, labels, split...)."""
    relevant = cfg.model_dump(
        mode="json",
        exclude={"name", "budgets", "map_k", "models", "lightgbm", "registered_model"},
    )
    relevant["wide_deep"] = {k: v for k, v in relevant["wide_deep"].items() if k not in TUNED}
    return objective_digest(relevant)


def _objective(
    cfg: TheftConfig, tune: TheftTuneConfig, train: TheftSamples, val: TheftSamples
) -> Callable[[optuna.Trial], float]:
    def objective(trial: optuna.Trial) -> float:
        params = search_space(trial)
        m = tuned_model(cfg, params)
        with trial_run(trial, tune.study_name, params) as run:

            def on_epoch(row: dict[str, float]) -> None:
                metrics = {"train_loss": row["train_loss"], "valid_pr_auc": row["val_pr_auc"]}
                run.report_best(row["val_pr_auc"], int(row["epoch"]), metrics)

            model = WideDeepTheft(m).fit(train, val, on_epoch=on_epoch)
            value = pr_auc(val.labels, model.logits(val))
            run.complete(value)
        return value

    return objective


def tune_theft(cfg: TheftRunConfig, tune: TheftTuneConfig, ws: Workspace) -> TuneResult:
    """Search the Wide & Deep parameters for `cfg` on `ws`'s data; write the tuned config."""
    import mlflow

    m = cfg.model
    tracking.configure(cfg.tracking, ws)
    t0 = time.perf_counter()
    samples, parts = dataset.labelled_split(ws, m)
    train, val = samples.take(parts.train), samples.take(parts.val)  # never the test part
    if val.labels.sum() == 0:
        raise MissingDataError(
            "no theft among the validation meters: the objective (validation PR-AUC) is "
            "undefined; use a zone with more meters or thieves, or a larger val_share"
        )
    log.info("built %d samples in %.1f s", len(samples), time.perf_counter() - t0)

    def log_parent() -> None:
        tracking.log_lineage(
            cfg,
            feature_service=m.feature_service,
            training_frame=lineage_frame(train),
            dataset_name="theft_tuning",
            targets="label",
        )
        mlflow.set_tag("gridml.split_cutoff", str(parts.cutoff))
        mlflow.log_metrics(
            data_metrics(train=train, val=val) | {"valid.positive_rate": float(val.labels.mean())}
        )

    search = Search(
        task="theft",
        title=f"{m.name}, Wide & Deep",
        objective_label="validation PR-AUC",
        direction="maximize",
        objective=_objective(m, tune, train, val),
        pruner=median_pruner(tune),
        seed=m.seed,
        digest=theft_digest(m),
        tuned_config=lambda best: cfg.model_copy(update={"model": tuned_model(m, best)}),
        log_parent=log_parent,
    )
    return run_search(search, tune, ws)
