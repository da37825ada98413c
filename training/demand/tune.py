"""`gridml tune demand`: Optuna search of the LightGBM demand model's hyper-parameters.

The data are loaded once and the rolling-origin backtest folds (`backtest.make_folds`) are
designed once, then every trial fits the P50 booster of `QuantileLGBM` on each fold's training
design and scores the fold's test design. The objective is the MASE of the P50 at one level of
the hierarchy (feeders by default), averaged over the folds; the running average is reported
to Optuna after each fold so that `MedianPruner` stops hopeless trials early.

Only the median booster is fitted: the objective is a point metric and the quantile boosters
share its hyper-parameters, so fitting them would triple the cost of a trial for nothing the
search uses. The pinball loss logged per trial is therefore that of the P50 (MAE / 2, in kWh).

Storage and resuming
    The study lives in `TuneConfig.storage`, by default `sqlite:///<workspace>/optuna.db`. A
    study of the same name is resumed (`load_if_exists`): `trials` more trials are added to it
    and the best trial is taken over the whole study. The SQLite default is for one process.
    For parallel workers, run several `gridml tune demand` with the same `--study-name` and a
    storage made for it: `journal:<path>` (an Optuna JournalStorage log file, several processes
    on one host) or an RDB URL such as `postgresql://user@host/db` (workers on several hosts).
    Never share the SQLite file between processes running at the same time. Workers started
    together see the same number of trials, so give each its own `--sampler-seed` (otherwise
    they draw the same random start-up trials).

Tracking
    One MLflow parent run `tune-demand` per invocation (study name and storage as tags, the best
    parameters and value, the base and tuned configs as artifacts, data lineage), and one child
    run per trial (`trial-<number>`) with its parameters, per-fold metrics (step = fold) and its
    state (`optuna.state`: COMPLETE or PRUNED).

Output
    The input `DemandConfig` with its `lightgbm` block replaced by the best parameters, written
    to `TuneConfig.output`: `gridml train demand --config <output>` trains the tuned model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import yaml
from pydantic import Field

from gridml.config import BaseConfig, ConfigError
from gridml.errors import UserError
from gridml.training import tracking
from gridml.training.demand.backtest import make_folds, series_scales
from gridml.training.demand.config import DemandConfig, Level, LightGBMConfig
from gridml.training.demand.dataset import design, load_demand_data
from gridml.training.demand.lgbm import QuantileLGBM
from gridml.training.demand.pipeline import check_config_against_data
from gridml.training.metrics import mase, pinball
from gridml.workspace import Workspace

log = logging.getLogger(__name__)

PARENT_RUN_NAME = "tune-demand"
JOURNAL_PREFIX = "journal:"
TAG_STUDY = "optuna.study_name"
TAG_STORAGE = "optuna.storage"
TAG_TRIAL = "optuna.trial_number"
TAG_STATE = "optuna.state"
DIGEST_ATTR = "gridml.objective_digest"


class TuneConfig(BaseConfig):
    """How to search: budget, where the study lives, where the tuned config goes."""

    trials: int = Field(20, ge=1, description="Trials to run in this invocation.")
    storage: str | None = Field(
        None,
        description="Optuna storage: an RDB URL (sqlite:///..., postgresql://...) or "
        "journal:<path> (JournalStorage file, parallel workers on one host). "
        "None: sqlite:///<workspace>/optuna.db (one process only).",
    )
    study_name: str = Field("demand-lightgbm", min_length=1)
    timeout_s: int | None = Field(
        None, ge=1, description="Stop starting new trials after this many seconds."
    )
    n_startup_trials: int = Field(
        5,
        ge=0,
        description="Trials before the median pruner prunes (also the random trials TPE starts "
        "with).",
    )
    sampler_seed: int | None = Field(
        None,
        description="Seed of the TPE sampler. None: DemandConfig.seed + the number of trials "
        "already in the study (a resumed study does not replay its first trials). Give each "
        "parallel worker its own.",
    )
    level: Level = Field("feeder", description="Level whose P50 MASE is the objective.")
    output: Path = Path("experiments/demand-tuned.yaml")

    def storage_url(self, ws: Workspace) -> str:
        return self.storage or f"sqlite:///{Path(ws.root).absolute() / 'optuna.db'}"


@dataclass
class TuneResult:
    best_params: dict[str, Any]  # LightGBMConfig fields of the best trial
    best_value: float  # its objective: P50 MASE at `TuneConfig.level`, mean over folds
    n_trials: int  # trials in the study (resumed ones included)
    n_pruned: int  # pruned trials in the study
    output_path: Path  # the tuned DemandConfig (YAML)
    parent_run_id: str  # MLflow run `tune-demand` of this invocation


@dataclass
class _Fold:
    """One backtest fold, designed once and reused by every trial."""

    index: int
    X_train: pd.DataFrame
    y_train: np.ndarray  # normalised by the level scale (what QuantileLGBM fits)
    X_test: pd.DataFrame  # test rows at the objective level only
    scale_test: np.ndarray  # level scale of those rows (back to kWh)
    y_test: np.ndarray  # kWh, NaN where masked
    mase_scale: np.ndarray  # MASE denominator per row: the series' seasonal-naive error
    naive_test: np.ndarray  # seasonal naive forecast of those rows (reference)


def search_space(trial: optuna.Trial) -> dict[str, Any]:
    """The LightGBM parameters a trial tries (LightGBMConfig field names)."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 8, 128, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 10, 300, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 10.0, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 50, 400),
    }


def tuned_lightgbm(base: LightGBMConfig, params: dict[str, Any]) -> LightGBMConfig:
    """`base` with the tuned fields replaced (untuned ones, e.g. num_threads, kept); validated."""
    return LightGBMConfig(**(base.model_dump() | params))


def make_storage(url: str) -> str | optuna.storages.BaseStorage:
    """An Optuna storage for `url`: `journal:<path>` -> JournalStorage, else the RDB URL."""
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url.removeprefix(JOURNAL_PREFIX).removeprefix("//")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(str(path))
        return optuna.storages.JournalStorage(backend)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///").split("?", 1)[0]).parent.mkdir(
            parents=True, exist_ok=True
        )
    return url


def redact(url: str) -> str:
    """The storage URL without its password (for logs and MLflow tags)."""
    if url.startswith(JOURNAL_PREFIX) or "@" not in url:
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: hide everything before the host
        return "***@" + url.rsplit("@", 1)[1]


def objective_digest(cfg: DemandConfig, tune: TuneConfig) -> str:
    """What the objective depends on besides the LightGBM parameters (data window, folds,
    horizon, levels...): a study resumed under another digest mixes incomparable trials."""
    relevant = cfg.model_dump(
        mode="json",
        exclude={"name", "models", "lightgbm", "prophet", "tracking", "registered_model"},
    )
    relevant["objective_level"] = tune.level
    text = json.dumps(relevant, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prepare_folds(cfg: DemandConfig, ws: Workspace, level: str) -> tuple[list[_Fold], pd.DataFrame]:
    """Load the data and design every backtest fold once; also return the training frame of
    all folds (for lineage)."""
    data = load_demand_data(ws, cfg)
    folds, frames = [], []
    for fold in make_folds(data, cfg):
        train = design(data, cfg, fold.train_origins, sample=cfg.train_sample)
        test = design(data, cfg, fold.test_origins)
        at = (test.keys["level"] == level).to_numpy()
        if not at.any():
            raise ConfigError(f"fold {fold.index} has no {level} series to score")
        scales = series_scales(data.actuals, fold.cutoff)
        folds.append(
            _Fold(
                index=fold.index,
                X_train=train.X,
                y_train=train.y / train.scale,
                X_test=test.X[at].reset_index(drop=True),
                scale_test=test.scale[at],
                y_test=test.y[at],
                mase_scale=scales.reindex(test.keys["series_id"][at]).to_numpy(),
                naive_test=test.baselines["seasonal_naive"].to_numpy()[at],
            )
        )
        frames.append(train.X.assign(y=train.y, fold=fold.index))
        log.info(
            "fold %d: cut-off %s, %d training rows, %d %s test rows",
            fold.index,
            fold.cutoff,
            len(train.y),
            int(at.sum()),
            level,
        )
    return folds, pd.concat(frames, ignore_index=True)


def _score(fold: _Fold, params: LightGBMConfig, seed: int) -> tuple[float, float]:
    """Fit the P50 booster on the fold; (MASE, pinball in kWh) of its P50 on the test rows."""
    model = QuantileLGBM((0.5,), params, seed).fit(fold.X_train, fold.y_train)
    p50 = model.predict(fold.X_test, num_threads=params.num_threads)["q50"].to_numpy()
    yhat = np.maximum(p50 * fold.scale_test, 0.0)
    return mase(fold.y_test, yhat, fold.mase_scale), pinball(fold.y_test, yhat, 0.5)


def _objective(
    cfg: DemandConfig, tune: TuneConfig, folds: list[_Fold]
) -> Callable[[optuna.Trial], float]:
    import mlflow

    def objective(trial: optuna.Trial) -> float:
        params = search_space(trial)
        lgbm = tuned_lightgbm(cfg.lightgbm, params)
        t0 = time.perf_counter()
        values: list[float] = []
        pruned = False
        tags = {TAG_STUDY: tune.study_name, TAG_TRIAL: str(trial.number)}
        with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True, tags=tags) as run:
            trial.set_user_attr("mlflow_run_id", run.info.run_id)
            mlflow.log_params(params)
            for fold in folds:
                fold_mase, fold_pinball = _score(fold, lgbm, cfg.seed)
                values.append(fold_mase)
                running = float(np.mean(values))
                mlflow.log_metrics(
                    {
                        f"{tune.level}.mase": fold_mase,
                        f"{tune.level}.pinball_p50": fold_pinball,
                        "objective_so_far": running,
                    },
                    step=fold.index,
                )
                trial.report(running, step=fold.index)
                if trial.should_prune():
                    pruned = True
                    break
            value = float(np.mean(values))
            mlflow.log_metric("fit_seconds", time.perf_counter() - t0)
            mlflow.set_tag(TAG_STATE, "PRUNED" if pruned else "COMPLETE")
            if not pruned:
                mlflow.log_metric("objective", value)
        log.debug(  # Optuna logs each trial at INFO already
            "trial %d: %s %.4f after %d fold(s) in %.1f s",
            trial.number,
            "pruned at" if pruned else "objective",
            value,
            len(values),
            time.perf_counter() - t0,
        )
        if pruned:
            raise optuna.TrialPruned(f"pruned after fold {len(values) - 1}: {value:.4f}")
        return value

    return objective


def tune_demand(cfg: DemandConfig, tune: TuneConfig, ws: Workspace) -> TuneResult:
    """Search LightGBM parameters for `cfg` on `ws`'s data; write the tuned config."""
    import mlflow

    if "lightgbm" not in cfg.models:
        raise ConfigError("models must include lightgbm to tune it (the tuned config trains it)")
    if tune.level not in cfg.levels:
        raise ConfigError(f"the objective level {tune.level!r} is not in levels {cfg.levels}")
    check_config_against_data(cfg, ws)
    storage_url = tune.storage_url(ws)
    storage = make_storage(storage_url)
    tracking.configure(cfg.tracking, ws)

    t0 = time.perf_counter()
    folds, training_frame = prepare_folds(cfg, ws, tune.level)
    log.info("designed %d folds in %.1f s", len(folds), time.perf_counter() - t0)

    study = optuna.create_study(
        storage=storage,
        study_name=tune.study_name,
        direction="minimize",
        load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=tune.n_startup_trials, n_warmup_steps=0
        ),
    )
    existing = len(study.trials)
    # A resumed study gets a sampler seeded past the trials it holds, so that its random
    # start-up trials do not replay those of the first run.
    seed = tune.sampler_seed if tune.sampler_seed is not None else cfg.seed + existing
    study.sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=tune.n_startup_trials)
    digest = objective_digest(cfg, tune)
    previous = study.user_attrs.get(DIGEST_ATTR)
    if previous is None:
        study.set_user_attr(DIGEST_ATTR, digest)
    elif previous != digest:
        log.warning(
            "study %r was run with another data window, folds or objective (digest %s, now %s): "
            "its trials are not comparable with the new ones; use another --study-name",
            tune.study_name,
            previous,
            digest,
        )

    with mlflow.start_run(run_name=PARENT_RUN_NAME) as parent:
        mlflow.set_tags(
            {
                "gridml.task": "demand-tune",
                TAG_STUDY: tune.study_name,
                TAG_STORAGE: redact(storage_url),
            }
        )
        tracking.log_lineage(
            cfg,
            feature_service=cfg.feature_service,
            training_frame=training_frame,
            dataset_name="demand_tuning",
            targets="y",
        )
        mlflow.log_params(
            tracking.flatten_params(
                tune.model_dump(mode="json") | {"storage": redact(storage_url)}, prefix="tune."
            )
        )
        naive = [mase(f.y_test, f.naive_test, f.mase_scale) for f in folds]
        mlflow.log_metric(f"seasonal_naive.{tune.level}.mase", float(np.mean(naive)))

        ran: list[int] = []
        study.optimize(
            _objective(cfg, tune, folds),
            n_trials=tune.trials,
            timeout=tune.timeout_s,
            callbacks=[lambda _study, trial: ran.append(trial.number)],
        )

        states = [t.state for t in study.trials]
        n_pruned = states.count(optuna.trial.TrialState.PRUNED)
        try:
            best = study.best_trial
        except ValueError:
            raise UserError(
                f"no trial of study {tune.study_name!r} completed ({n_pruned} pruned, "
                f"{states.count(optuna.trial.TrialState.FAIL)} failed): see the log"
            ) from None
        best_params = dict(best.params)
        tuned = cfg.model_copy(update={"lightgbm": tuned_lightgbm(cfg.lightgbm, best_params)})
        output = Path(tune.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        tuned.write_yaml(output)
        header = (
            f"# {cfg.name}, LightGBM tuned by `gridml tune demand`: study {tune.study_name!r}, "
            f"trial {best.number} of {len(study.trials)},\n# objective ({tune.level} P50 MASE, "
            f"mean over {len(folds)} folds) {best.value:.4f}.\n"
            f"# Train it: gridml train demand --config {output}\n"
        )
        output.write_text(header + output.read_text())

        mlflow.log_params({f"best.{k}": v for k, v in best_params.items()})
        mlflow.set_tag("optuna.best_trial", str(best.number))
        mlflow.log_metrics(
            {
                "best_value": float(best.value),
                "n_trials": len(study.trials),
                "n_trials_run": len(ran),
                "n_pruned": n_pruned,
                "total_seconds": time.perf_counter() - t0,
            }
        )
        mlflow.log_text(
            yaml.safe_dump(tuned.model_dump(mode="json"), sort_keys=False), "tuned.yaml"
        )

    log.info(
        "study %r: best %.4f (trial %d) over %d trials, %d pruned; wrote %s",
        tune.study_name,
        best.value,
        best.number,
        len(study.trials),
        n_pruned,
        output,
    )
    return TuneResult(
        best_params=best_params,
        best_value=float(best.value),
        n_trials=len(study.trials),
        n_pruned=n_pruned,
        output_path=output,
        parent_run_id=parent.info.run_id,
    )
