"""`gridml train restoration`: the restoration time (P10/P50/P90) of an unplanned outage at its
detection, LightGBM quantile boosters on log hours (censoring-aware weights), the band
conformally calibrated on a time-ordered calibration split, scored on the last days against the
Kaplan-Meier median by kind of fault; tracked in MLflow, registered as
`outage-restoration@challenger`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import typer
from mlflow.pyfunc import PythonModel
from pydantic import Field

from gridml.config import BaseConfig
from gridml.errors import MissingDataError
from gridml.mlops import gates
from gridml.mlops.evaluate import Evaluator, Holdout, Score
from gridml.models.builtin import RESTORATION
from gridml.training import tracking
from gridml.training.restoration.dataset import FEATURES, load_outages
from gridml.training.restoration.models import (
    QuantileModel,
    conditional_quantiles,
    conformal_margin,
    fit_quantiles,
    km_medians,
)
from gridml.training.run import RunSettings
from gridml.workspace import Workspace

OUTPUTS = ("outage_id", "p10_h", "p50_h", "p90_h")
ELAPSED_CHECKS_H = (0.5, 1.0, 2.0, 4.0)


class RestorationConfig(BaseConfig):
    name: str = Field("restoration", description="MLflow run name [default: the registered name].")
    test_days: int = Field(180, ge=1, description="Last days of outages held out for scoring.")
    calibration_days: int = Field(120, ge=1, description="Days before them: conformal split.")
    coverage: float = Field(0.8, gt=0, lt=1, description="Target P10-P90 coverage.")
    n_estimators: int = Field(50, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(3, ge=2)
    min_child_samples: int = Field(10, ge=1)
    seed: int = 0

    def lgbm_params(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
        }


class RestorationRunConfig(RunSettings):
    REGISTERED_DEFAULT = RESTORATION.name

    model: RestorationConfig = RestorationConfig()


def split(
    frame: pd.DataFrame, data_end: pd.Timestamp, test_days: int, calibration_days: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, calibration, test) by detection time; the training rows are censored at the
    calibration cut (what was known then), the calibration rows at the test cut."""
    test_cut = data_end - pd.Timedelta(days=test_days)
    cal_cut = test_cut - pd.Timedelta(days=calibration_days)
    t = frame["detected_at"]
    return (
        censor_at(frame[t < cal_cut], cal_cut),
        censor_at(frame[(t >= cal_cut) & (t < test_cut)], test_cut),
        frame[t >= test_cut].reset_index(drop=True),
    )


def censor_at(frame: pd.DataFrame, cut: pd.Timestamp) -> pd.DataFrame:
    """The rows as they stood at `cut`: an outage still open then is censored there."""
    out = frame.reset_index(drop=True).copy()
    end = out["start"] + pd.to_timedelta(out["duration_h"], unit="h")
    late = end > cut
    out.loc[late, "duration_h"] = (cut - out.loc[late, "start"]).dt.total_seconds() / 3600.0
    out.loc[late, "event"] = 0
    return out


def baseline_hours(medians: dict[str, float], kinds: pd.Series) -> np.ndarray:
    """The Kaplan-Meier median of each row's kind (of all rows for a kind without one)."""
    return np.array([medians.get(str(k), medians["*"]) for k in kinds], dtype=float)


def scores(frame: pd.DataFrame, hours: np.ndarray, baseline: np.ndarray) -> dict[str, float]:
    """On the ended outages: MAE (hours) of the median and of the baseline, P10-P90 coverage."""
    ended = frame["event"].to_numpy() == 1
    y = frame["duration_h"].to_numpy()[ended]
    h = hours[ended]
    mae = float(np.abs(h[:, 1] - y).mean()) if len(y) else float("nan")
    base = float(np.abs(baseline[ended] - y).mean()) if len(y) else float("nan")
    return {
        "mae": mae,
        "baseline_mae": base,
        "mae_vs_baseline": mae / base if base > 0 else float("nan"),
        "coverage": float(((h[:, 0] <= y) & (y <= h[:, 2])).mean()) if len(y) else float("nan"),
        "rows": float(len(frame)),
        "ended": float(len(y)),
    }


def reestimate_scores(frame: pd.DataFrame, log_q: np.ndarray, raw: np.ndarray) -> dict[str, float]:
    """For each elapsed time t: MAE of the first median and of the re-estimate on the ended
    outages still open after t."""
    y = frame["duration_h"].to_numpy()
    ended = frame["event"].to_numpy() == 1
    first = np.exp(log_q[:, 1])
    out = {}
    for t in ELAPSED_CHECKS_H:
        sel = ended & (y > t)
        if not sel.any():
            continue
        again = reestimate(log_q[sel], raw[sel], np.full(sel.sum(), t))[:, 1]
        out[f"mae_first_open_{t:g}h"] = float(np.abs(first[sel] - y[sel]).mean())
        out[f"mae_reestimate_{t:g}h"] = float(np.abs(again - y[sel]).mean())
    return out


def reestimate(log_q: np.ndarray, raw: np.ndarray, elapsed_h: np.ndarray) -> np.ndarray:
    """Hours P10/P50/P90 given the elapsed time: the band from the calibrated distribution
    truncated at it, the median from the boosters' own (the conformal margin is a band
    correction, not a spread of the centre; on a small calibration split it is large)."""
    band = conditional_quantiles(log_q, elapsed_h)
    centre = conditional_quantiles(raw, elapsed_h)[:, 1]
    band[:, 1] = np.clip(centre, band[:, 0], band[:, 2])
    return band


def model_input(rows: pd.DataFrame) -> pd.DataFrame:
    """What the pyfunc is sent: the outage id and FEATURES as floats."""
    out = rows[["outage_id", *FEATURES]].reset_index(drop=True)
    return out.astype({f: "float64" for f in FEATURES})


def signature(example: pd.DataFrame, output: pd.DataFrame) -> Any:
    """The pyfunc's signature; `elapsed_h` (hours the outage has been open) is optional."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema

    sig = infer_signature(example, output)
    cols = [ColSpec(c.type, c.name, required=c.name != "elapsed_h") for c in sig.inputs.inputs]
    return ModelSignature(Schema(cols), sig.outputs)  # type: ignore[arg-type]


class RestorationModel(PythonModel):
    """Input: FEATURES (+ `outage_id`, optional `elapsed_h`); output: OUTPUTS (hours), the
    re-estimate given the elapsed time where one is given."""

    def __init__(self, model: QuantileModel) -> None:
        self.model = model

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        log_q = self.model.log_quantiles(model_input)
        elapsed = (
            model_input["elapsed_h"].fillna(0).to_numpy(dtype=float)
            if "elapsed_h" in model_input
            else np.zeros(len(model_input))
        )
        raw = self.model.log_quantiles(model_input, widened=False)
        hours = reestimate(log_q, raw, elapsed)
        return pd.DataFrame(
            {
                "outage_id": model_input["outage_id"].astype(str).to_numpy(),
                "p10_h": hours[:, 0],
                "p50_h": hours[:, 1],
                "p90_h": hours[:, 2],
            }
        )


@dataclass
class RestorationRun:
    run_id: str
    version: int
    metrics: dict[str, float]


def fit(
    frame: pd.DataFrame, data_end: pd.Timestamp, cfg: RestorationConfig
) -> tuple[QuantileModel, dict[str, float], pd.DataFrame]:
    """Fit, calibrate and score; (model, metrics, test rows)."""
    train, cal, test = split(frame, data_end, cfg.test_days, cfg.calibration_days)
    if train["event"].sum() < 10 or test.empty:
        raise MissingDataError(
            f"restoration: {int(train['event'].sum())} ended training outages and {len(test)} "
            "test outages; need at least 10 and 1 (more days or a smaller test_days)"
        )
    model = fit_quantiles(train, FEATURES, cfg.lgbm_params(), cfg.seed)
    ended = cal[cal["event"] == 1]
    model.widen = conformal_margin(
        model.log_quantiles(ended), np.log(ended["duration_h"].to_numpy()), cfg.coverage
    )
    known = censor_at(pd.concat([train, cal]), data_end - pd.Timedelta(days=cfg.test_days))
    base = baseline_hours(km_medians(known), test["kind"])
    log_q = model.log_quantiles(test)
    metrics = scores(test, np.exp(log_q), base)
    metrics |= reestimate_scores(test, log_q, model.log_quantiles(test, widened=False))
    metrics |= {"conformal_margin_log": model.widen, "train_rows": float(len(train))}
    return model, metrics, test


def train_restoration(cfg: RestorationRunConfig, ws: Workspace) -> RestorationRun:
    """Fit, calibrate, score on the last days, log and register the scored model."""
    import mlflow

    from gridml.models.contract import CONTRACT_KEY, ModelContract
    from gridml.training.restoration.dataset import load_grid

    tracking.configure(cfg.tracking, ws)
    frame = load_outages(ws)
    data_end = load_grid(ws).data_end
    model, metrics, test = fit(frame, data_end, cfg.model)
    # the registered model is the one scored: trained before the held-out days, which stay
    # unseen for `gridml promote`'s hold-out gate
    pyfunc = RestorationModel(model)
    test_cut = data_end - pd.Timedelta(days=cfg.model.test_days)
    seen = frame[frame["detected_at"] < test_cut].reset_index(drop=True)
    example = model_input(test.head(3)).assign(elapsed_h=0.0)
    contract = ModelContract(
        feature_service=RESTORATION.feature_service,
        entity="outage_id",
        features=FEATURES,
        outputs=OUTPUTS,
    )
    with mlflow.start_run(run_name=cfg.model.name) as run:
        tracking.log_lineage(
            cfg,
            feature_service=RESTORATION.feature_service,
            training_frame=seen,
            dataset_name="restoration_training",
            targets="duration_h",
            window=(frame["detected_at"].min(), seen["detected_at"].max()),
        )
        mlflow.log_metrics({f"lightgbm.{k}": v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.log_metric("kaplan_meier.mae", metrics["baseline_mae"])
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=pyfunc,
            signature=signature(example, pyfunc.predict(None, example)),
            input_example=example,
            metadata={CONTRACT_KEY: contract.to_dict()},
        )
        version = tracking.register(
            info.model_uri, cfg.registered_model, "challenger", tags={"run_id": run.info.run_id}
        )
    return RestorationRun(run.info.run_id, version, metrics)


def report(run: RestorationRun) -> None:
    """Print the held-out numbers beside their goals."""
    m = run.metrics
    typer.echo(
        f"restoration: MAE of the median {m['mae']:.2f} h vs Kaplan-Meier "
        f"{m['baseline_mae']:.2f} h "
        f"({m['mae_vs_baseline']:.2f}x, goal <= 0.7x); P10-P90 coverage {m['coverage']:.0%} "
        f"(goal 75-85%) on {int(m['ended'])} ended held-out outages; version {run.version}"
    )


class RestorationEvaluator(Evaluator):
    """`gridml promote outage-restoration`: the outages detected in the last `days` days,
    the Kaplan-Meier median by kind (from the outages before them) as the baseline."""

    metric = "mae"
    higher_is_better = False
    baseline_name = "Kaplan-Meier median by kind"
    value_column = "p50_h"
    required_outputs = OUTPUTS
    shown_metrics = ("mae", "coverage", "rows")

    def holdout(self, ws: Workspace, cfg: Any, days: int) -> Holdout:
        from gridml.training.restoration.dataset import load_grid

        frame = load_outages(ws)
        data_end = load_grid(ws).data_end
        cut = data_end - pd.Timedelta(days=days)
        test = frame[frame["detected_at"] >= cut].reset_index(drop=True)
        if test.empty:
            raise MissingDataError(f"restoration: no outage detected in the last {days} days")
        medians = km_medians(censor_at(frame[frame["detected_at"] < cut], cut))
        batch = model_input(test).assign(elapsed_h=0.0)  # at detection
        truth = test[["duration_h", "event"]].assign(baseline=baseline_hours(medians, test["kind"]))
        return Holdout(
            batches=[batch],
            truth=truth,
            start=cut,
            end=data_end,
            rows=len(test),
            request=batch.head(3).reset_index(drop=True),
            data_end=data_end,
            description=f"{len(test)} outages detected in the last {days} days",
        )

    def _score(self, holdout: Holdout, hours: np.ndarray) -> Score:
        s = scores(holdout.truth, hours, holdout.truth["baseline"].to_numpy())
        overall = {k: s[k] for k in ("mae", "coverage", "rows")}
        return Score(overall, pd.DataFrame(columns=gates.SEGMENT_COLUMNS))

    def score(self, holdout: Holdout, predictions: list[pd.DataFrame]) -> Score:
        p = pd.concat(predictions)
        return self._score(holdout, p[["p10_h", "p50_h", "p90_h"]].to_numpy())

    def baseline(self, holdout: Holdout) -> Score:
        b = holdout.truth["baseline"].to_numpy()
        s = self._score(holdout, np.column_stack([b, b, b]))
        s.overall["coverage"] = float("nan")
        return s
