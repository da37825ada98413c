"""`gridml tune demand`: Optuna search of the LightGBM demand model's hyper-parameters.

The data are loaded once and the rolling-origin backtest folds (`backtest.make_folds`) are
designed once, then every trial fits the P50 booster of `QuantileLGBM` on each fold's training
design and scores the fold's test design. The objective is the MASE of the P50 at one level of
the hierarchy (feeders by default), averaged over the folds; the running average is reported
to Optuna after each fold so that `MedianPruner` stops hopeless trials early.

Only the median booster is fitted: the objective is a point metric and the quantile boosters
share its hyper-parameters, so fitting them would triple the cost of a trial for nothing the
search uses. The pinball loss logged per trial is therefore that of the P50 (MAE / 2, in kWh).

Storage, resuming, sampling, the MLflow parent and child runs and the output are shared with
the other models' searches: see `gridml.training.tuning`. Here, the parent run `tune-demand`
also logs the data lineage and the seasonal naive's MASE (the reference), each child run its
per-fold metrics (step = fold). The output is the input `DemandConfig` with its `lightgbm`
block replaced by the best parameters: `gridml train demand --config <output>`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from pydantic import Field

from gridml.config import ConfigError
from gridml.training import tracking
from gridml.training.demand.backtest import fold_sample, make_folds, series_scales, with_issue
from gridml.training.demand.config import DemandConfig, Level, LightGBMConfig
from gridml.training.demand.dataset import design, load_demand_data
from gridml.training.demand.lgbm import QuantileLGBM
from gridml.training.demand.pipeline import check_config_against_data
from gridml.training.metrics import mase, pinball
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


class TuneConfig(StudyConfig):
    """`gridml tune demand`: the shared study settings plus the objective's level."""

    study_name: str = Field("demand-lightgbm", min_length=1)
    level: Level = Field("feeder", description="Level whose P50 MASE is the objective.")
    output: Path = Path("experiments/demand-tuned.yaml")


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


def demand_digest(cfg: DemandConfig, tune: TuneConfig) -> str:
    """What the objective depends on besides the LightGBM parameters (data window, folds,
    horizon, levels...)."""
    relevant = cfg.model_dump(
        mode="json",
        exclude={"name", "models", "lightgbm", "prophet", "tracking", "registered_model"},
    )
    return objective_digest(relevant | {"objective_level": tune.level})


def prepare_folds(cfg: DemandConfig, ws: Workspace, level: str) -> tuple[list[_Fold], pd.DataFrame]:
    """Load the data and design every backtest fold once; also return the training frame of
    all folds (for lineage)."""
    data = load_demand_data(ws, cfg)
    folds, frames = [], []
    for fold in make_folds(data, cfg):
        train = design(
            data, cfg, fold.train_origins, sample=fold_sample(data, cfg, fold.train_origins)
        )
        test = design(data, cfg, fold.test_origins)
        delivered = with_issue(test.keys, cfg, data.timezone)["delivered"].to_numpy()
        at = (test.keys["level"] == level).to_numpy() & delivered
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
    def objective(trial: optuna.Trial) -> float:
        params = search_space(trial)
        lgbm = tuned_lightgbm(cfg.lightgbm, params)
        values: list[float] = []
        with trial_run(trial, tune.study_name, params) as run:
            for fold in folds:
                fold_mase, fold_pinball = _score(fold, lgbm, cfg.seed)
                values.append(fold_mase)
                metrics = {
                    f"{tune.level}.mase": fold_mase,
                    f"{tune.level}.pinball_p50": fold_pinball,
                }
                run.report(float(np.mean(values)), fold.index, metrics)
            value = float(np.mean(values))
            run.complete(value)
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
    tracking.configure(cfg.tracking, ws)

    t0 = time.perf_counter()
    folds, training_frame = prepare_folds(cfg, ws, tune.level)
    log.info("designed %d folds in %.1f s", len(folds), time.perf_counter() - t0)

    def log_parent() -> None:
        tracking.log_lineage(
            cfg,
            feature_service=cfg.feature_service,
            training_frame=training_frame,
            dataset_name="demand_tuning",
            targets="y",
        )
        naive = [mase(f.y_test, f.naive_test, f.mase_scale) for f in folds]
        mlflow.log_metric(f"seasonal_naive.{tune.level}.mase", float(np.mean(naive)))

    search = Search(
        task="demand",
        title=f"{cfg.name}, LightGBM",
        objective_label=f"{tune.level} P50 MASE, mean over {len(folds)} folds",
        direction="minimize",
        objective=_objective(cfg, tune, folds),
        pruner=median_pruner(tune),
        seed=cfg.seed,
        digest=demand_digest(cfg, tune),
        tuned_config=lambda best: cfg.model_copy(
            update={"lightgbm": tuned_lightgbm(cfg.lightgbm, best)}
        ),
        log_parent=log_parent,
    )
    return run_search(search, tune, ws)
