"""`gridml train demand`: backtest every model, train the final LightGBM, track and register.

Thin wiring over the library: dataset -> backtest -> reconciliation -> final fit -> MLflow run
(params, metrics, plots, lineage) -> pyfunc registered as `demand-forecast@challenger`.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gridml.errors import MissingDataError
from gridml.training import tracking
from gridml.training.demand import defaults, plots
from gridml.training.demand.backtest import (
    BacktestResult,
    evaluate_reconciliation,
    folds_over,
    run_backtest,
    usable_origins,
)
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import HOUR, design, load_demand_data, local_midnights
from gridml.training.demand.lgbm import QuantileLGBM
from gridml.training.demand.models import fit_lightgbm
from gridml.training.demand.pyfunc import log_demand_model
from gridml.workspace import Workspace


@dataclass
class DemandRun:
    run_id: str
    model_uri: str
    version: int
    backtest: BacktestResult
    reconciliation: pd.DataFrame


def check_config_against_data(cfg: DemandConfig, ws: Workspace) -> None:
    """Fail fast (before any work) when the backtest cannot fit the workspace's data."""
    if not ws.zone_file.is_file():
        raise MissingDataError("no zone in the workspace: run `gridml data generate` first")
    zone = json.loads(ws.zone_file.read_text())
    start, end = pd.Timestamp(zone["start"]), pd.Timestamp(zone["end"])
    origins = local_midnights(start + pd.Timedelta(days=8), end, zone["timezone"])
    folds_over(origins[origins + cfg.horizon_hours * HOUR <= end], cfg, zone["timezone"])


def _log_metrics(result: BacktestResult, reconciliation: pd.DataFrame) -> None:
    import mlflow

    metrics = {}
    for row in result.summary.itertuples():
        for name in ("mase", "mase_vs_naive", "pinball", "coverage", "mape", "smape"):
            metrics[f"{row.model}.{row.level}.{name}"] = float(getattr(row, name))
    for row in reconciliation.itertuples():
        metrics[f"reconciliation.{row.method}.{row.level}.mase"] = float(row.mase)
    for model, t in result.timings.items():
        metrics[f"{model}.fit_seconds"] = t["fit_s"]
        metrics[f"{model}.predict_seconds"] = t["predict_s"]
    lead = result.by_lead
    if not lead.empty:  # skill per lead hour, delivered hours only
        for row in lead[lead["model"].isin(["lightgbm", "prophet"])].itertuples():
            metrics[f"{row.model}.{row.level}.skill_lead_{int(row.lead_hours):03d}h"] = float(
                row.skill
            )
    mlflow.log_metrics({k: v for k, v in metrics.items() if v == v})  # drop NaN


def _log_final_settings(cfg: DemandConfig, model: QuantileLGBM, sample: float) -> None:
    """The values every `auto` setting resolved to for the final model (the config itself, the
    issue time included, is logged with the lineage)."""
    import mlflow

    s = model.settings
    params = {
        "resolved.train_sample": round(sample, 4),
        "resolved.calibrated": model.shifts is not None,
    }
    if s is not None:
        params |= {
            "resolved.rows": s.rows,
            "resolved.num_leaves": s.num_leaves,
            "resolved.min_data_in_leaf": s.min_data_in_leaf,
        }
    for q, n in model.rounds.items():
        params[f"resolved.rounds_q{round(q * 100):02d}"] = n
    mlflow.log_params(params)


def train_demand(cfg: DemandConfig, ws: Workspace) -> DemandRun:
    """Backtest, fit and log the demand models in one MLflow run; the run's results."""
    import mlflow

    check_config_against_data(cfg, ws)
    tracking.configure(cfg.tracking, ws)
    t0 = time.perf_counter()
    data = load_demand_data(ws, cfg)
    with mlflow.start_run(run_name=cfg.name) as run:
        mlflow.set_tag("gridml.task", "demand-forecast")
        result = run_backtest(data, cfg)
        if result.missing:
            mlflow.set_tag(
                "gridml.models_without_score",
                "; ".join(f"{m}: {why}" for m, why in result.missing.items())[:5000],
            )
        hierarchy = _hierarchy(data.origins, ws)
        reconciliation = (
            evaluate_reconciliation(result, hierarchy)
            if "lightgbm" in cfg.models
            else pd.DataFrame(columns=["method", "level", "mase"])
        )
        _log_metrics(result, reconciliation)

        origins = usable_origins(data, cfg)
        if cfg.holdout_days:  # the most recent days stay unseen (promotion evaluates on them)
            cut = data.end - pd.Timedelta(days=cfg.holdout_days)
            origins = origins[origins + cfg.horizon_hours * HOUR <= cut]
            if origins.empty:
                raise MissingDataError(f"holdout_days={cfg.holdout_days} leaves no training day")
        final_origins = origins[origins >= origins[-1] - pd.Timedelta(days=cfg.history_days)]
        n_series = data.origins["series_id"].nunique()
        sample = defaults.train_sample(cfg, n_series * len(final_origins) * cfg.horizon_hours)
        final = design(data, cfg, final_origins, sample=sample, keep_inputs=True)
        model = fit_lightgbm(cfg, final)
        _log_final_settings(cfg, model, sample)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            result.summary.to_csv(out / "backtest_summary.csv", index=False)
            result.detail.to_csv(out / "backtest_by_segment_horizon.csv", index=False)
            reconciliation.to_csv(out / "reconciliation.csv", index=False)
            result.by_lead.to_csv(out / "skill_by_lead_time.csv", index=False)
            backtest_forecasts(result.predictions).to_parquet(
                out / "backtest_forecasts.parquet", index=False
            )
            plots.worst_days(result.predictions, out / "worst_days.png", data.timezone)
            if model.shifts is not None:
                (out / "calibration.json").write_text(json.dumps(model.shifts.to_dict(), indent=1))
            plots.forecast_vs_actual(result.predictions, out / "forecast_vs_actual.png")
            plots.error_profiles(result.predictions, out / "error_profiles.png", data.timezone)
            plots.feature_importance(model.importance(), out / "feature_importance.png")
            mlflow.log_artifacts(str(out), artifact_path="evaluation")
        training_frame = final.X.assign(y=final.y)
        tracking.log_lineage(
            cfg,
            feature_service=cfg.feature_service,
            training_frame=training_frame,
            dataset_name="demand_training",
            window=(final_origins[0], final_origins[-1] + (cfg.horizon_hours - 1) * HOUR),
        )
        uri = log_demand_model(model, final.inputs)
        version = tracking.register(
            uri, cfg.registered_model, "challenger", tags={"run_id": run.info.run_id}
        )
        mlflow.log_metric("total_seconds", time.perf_counter() - t0)
    return DemandRun(run.info.run_id, uri, version, result, reconciliation)


FORECAST_COLUMNS = [
    "fold",
    "model",
    "series_id",
    "level",
    "origin",
    "issue_time",
    "target_time",
    "horizon",
    "lead_hours",
    "delivered",
    "y",
    "yhat",
]


def backtest_forecasts(predictions: pd.DataFrame) -> pd.DataFrame:
    """Every backtest forecast beside its actual, one row per (model, series, origin, target
    hour), with the quantiles: the per-origin record a data scientist looks at."""
    qs = sorted(c for c in predictions.columns if c.startswith("q") and c[1:].isdigit())
    return predictions[FORECAST_COLUMNS + qs].sort_values(
        ["model", "series_id", "origin", "target_time"], kind="mergesort"
    )


def _hierarchy(origins: pd.DataFrame, ws: Workspace) -> pd.DataFrame:
    """series_id, level, parent_id of the modelled series (a parent outside them: a root)."""
    from gridml.io import read_parts

    profile = read_parts(ws.table_dir("series_profile"))
    if profile is None:
        raise MissingDataError("no series_profile table: run `gridml features build` first")
    profile = profile[["series_id", "parent_id"]]
    h = origins.drop_duplicates("series_id")[["series_id", "level"]].merge(profile, on="series_id")
    h = h[h["level"] != "meter"].copy()  # single meters: forecast, not summed in the hierarchy
    h.loc[~h["parent_id"].isin(h["series_id"]), "parent_id"] = ""
    return h
