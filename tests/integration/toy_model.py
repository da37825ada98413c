"""The toy model's code (spec: toy_spec.py): a least-squares fit of `loading_pct_max` on
`loading_pct_mean` and `ambient_mean_c`, read through the FeatureService asset_failure_v1,
tracked and registered like the real models, evaluated for promotion, served by name.

The logged model carries its own contract as MLflow model metadata (FeatureService, inputs,
output); the endpoint reads the features the contract names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import typer
from mlflow.pyfunc import PythonModel
from pydantic import Field

from gridml.config import BaseConfig
from gridml.errors import MissingDataError, UserError
from gridml.mlops import gates
from gridml.mlops.evaluate import Evaluator, Holdout, Score
from gridml.models.contract import CONTRACT_KEY, ModelContract
from gridml.models.contract import read as read_contract
from gridml.training import tracking
from gridml.training.tracking import TrackingConfig
from gridml.workspace import Workspace

KEY, TIME = "transformer_id", "event_timestamp"


class ToyConfig(BaseConfig):
    registered_model: str = "toy-loading"
    tracking: TrackingConfig = TrackingConfig(experiment="toy-loading")
    feature_service: str = "asset_failure_v1"
    target: str = "loading_pct_max"
    inputs: tuple[str, ...] = ("loading_pct_mean", "ambient_mean_c")
    holdout_days: int = Field(7, ge=1, description="The last days are never trained on.")


def features(ws: Workspace, cfg: ToyConfig, stamps: pd.DatetimeIndex) -> pd.DataFrame:
    """The FeatureService's values of every transformer at each daily stamp (point in time)."""
    from gridml.features.store import repo
    from gridml.features.store.lookup import entity_table

    entities = entity_table(ws, cfg.feature_service)[[KEY]]
    grid = entities.merge(pd.DataFrame({TIME: stamps}), how="cross")
    frame = repo.training_set(ws, cfg.feature_service, grid)
    return frame.dropna(subset=[cfg.target, *cfg.inputs]).reset_index(drop=True)


def windows(ws: Workspace, days: int) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """(training stamps, hold-out stamps): daily, the last `days` held out."""
    from gridml.features.store.repo import zone_window

    start, end = zone_window(ws)
    stamps = pd.date_range(start.ceil("D") + pd.Timedelta(days=7), end.floor("D"), freq="D")
    return stamps[:-days], stamps[-days:]


class ToyModel(PythonModel):
    def __init__(self, coef: np.ndarray, means: np.ndarray, inputs: tuple[str, ...]) -> None:
        self.coef, self.means, self.inputs = coef, means, inputs

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        x = model_input[list(self.inputs)].to_numpy(dtype=float)
        x = np.where(np.isnan(x), self.means, x)
        value = np.c_[np.ones(len(x)), x] @ self.coef
        return pd.DataFrame({KEY: model_input[KEY].astype(str).to_numpy(), "value": value})


@dataclass
class ToyRun:
    run_id: str
    version: int
    mae: float


def train_toy(cfg: ToyConfig, ws: Workspace) -> ToyRun:
    import mlflow
    from mlflow.models import infer_signature

    tracking.configure(cfg.tracking, ws)
    train_stamps, _ = windows(ws, cfg.holdout_days)
    frame = features(ws, cfg, train_stamps)
    if frame.empty:
        raise MissingDataError("toy: no training rows")
    x = frame[list(cfg.inputs)].to_numpy(dtype=float)
    y = frame[cfg.target].to_numpy(dtype=float)
    coef = np.linalg.lstsq(np.c_[np.ones(len(x)), x], y, rcond=None)[0]
    model = ToyModel(coef, x.mean(axis=0), cfg.inputs)
    example = frame[[KEY, *cfg.inputs]].head(5).reset_index(drop=True)
    mae = float(np.abs(model.predict(None, frame)["value"] - y).mean())
    contract = ModelContract(
        feature_service=cfg.feature_service, entity=KEY, features=cfg.inputs, outputs=(KEY, "value")
    )
    with mlflow.start_run(run_name="toy") as run:
        mlflow.log_metrics({"linear.mae": mae, "linear.rows": float(len(frame))})
        tracking.log_lineage(
            cfg,
            feature_service=cfg.feature_service,
            training_frame=frame,
            dataset_name="toy_training",
            targets=cfg.target,
        )
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=infer_signature(example, model.predict(None, example)),
            input_example=example,
            metadata={CONTRACT_KEY: contract.to_dict()},
        )
        version = tracking.register(info.model_uri, cfg.registered_model, "challenger")
    return ToyRun(run.info.run_id, version, mae)


def report(run: ToyRun) -> None:
    typer.echo(f"toy: training MAE {run.mae:.3f}")


class ToyEvaluator(Evaluator):
    metric = "mae"
    higher_is_better = False
    baseline_name = "mean loading"
    value_column = "value"
    required_outputs = (KEY, "value")
    shown_metrics = ("mae", "rows")

    def holdout(self, ws: Workspace, cfg: ToyConfig, days: int) -> Holdout:
        from gridml.features.store.repo import zone_window

        _, stamps = windows(ws, days)
        frame = features(ws, cfg, stamps)
        if frame.empty:
            raise MissingDataError(f"toy: no hold-out rows in the last {days} days")
        batch = frame[[KEY, *cfg.inputs]]
        return Holdout(
            batches=[batch],
            truth=frame.assign(baseline=frame["loading_pct_mean"])[[cfg.target, "baseline"]]
            .rename(columns={cfg.target: "y"})
            .reset_index(drop=True),
            start=stamps[0],
            end=stamps[-1],
            rows=len(frame),
            request=batch.head(3).reset_index(drop=True),
            data_end=zone_window(ws)[1],
            description=f"{len(stamps)} days x {frame[KEY].nunique()} transformers",
        )

    def _score(self, holdout: Holdout, values: np.ndarray) -> Score:
        y = holdout.truth["y"].to_numpy(dtype=float)
        overall = {"mae": float(np.abs(values - y).mean()), "rows": float(len(y))}
        return Score(overall, pd.DataFrame(columns=gates.SEGMENT_COLUMNS))

    def score(self, holdout: Holdout, predictions: list[pd.DataFrame]) -> Score:
        return self._score(holdout, np.concatenate([p["value"].to_numpy() for p in predictions]))

    def baseline(self, holdout: Holdout) -> Score:
        return self._score(holdout, holdout.truth["baseline"].to_numpy(dtype=float))


class ToyEndpoint:
    """`POST /predict {"endpoint": "toy", "ids": [...]}`: the served version's contract names
    its FeatureService and inputs; they are read from the online store by transformer id."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def predict(self, ids: list[str]) -> dict[str, Any]:
        loaded = self.ctx.slot.current
        contract = read_contract(loaded.model)
        if contract.feature_service != self.ctx.online.services[self.ctx.name]:
            raise UserError("the served version was trained on another FeatureService")
        inputs = list(contract.features)
        view_of = {f: v for v, fs in self.ctx.online.views[self.ctx.name].items() for f in fs}
        missing = [c for c in inputs if c not in view_of]
        if missing:
            raise UserError(f"the FeatureService lacks the model's input(s) {missing}")
        online = self.ctx.online.read(
            [f"{view_of[c]}:{c}" for c in inputs], [{KEY: i} for i in ids]
        )
        frame = online[[KEY, *inputs]].astype({c: "float64" for c in inputs})
        known = frame[inputs].notna().any(axis=1).to_numpy()
        out = loaded.model.predict(frame[known].reset_index(drop=True))
        return {
            "model": loaded.info(),
            "predictions": [{"id": r[KEY], "value": float(r["value"])} for _, r in out.iterrows()],
            "missing": [{"id": i, "reason": "no features"} for i in frame.loc[~known, KEY]],
        }
