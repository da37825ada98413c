"""The demand model as an MLflow pyfunc: it takes the frame serving assembles (FeatureService
values at the origin, horizon, target-hour context) and returns P50 and the quantiles in kWh.
The feature computation (`make_features`) runs inside the model, so serving cannot drift.

Rows forecast from their origin (the local midnight the FeatureService values are stamped at)
`horizon` hours ahead; the conformal shifts of the quantiles (`calibration.json`, per lead-time
bucket) are applied here as in the backtest. The issue time and delivery window the model was
scored on are logged with its run (`issue.*` params); the model forecasts every horizon it was
trained for and the caller keeps the hours it delivers."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from gridml.models.contract import CONTRACT_KEY, ModelContract
from gridml.training import tracking
from gridml.training.demand.calibration import Shifts, apply_shifts
from gridml.training.demand.features import (
    INPUT_COLUMNS,
    ORIGIN_COLUMNS,
    PROFILE_COLUMNS,
    level_scale,
    make_features,
)
from gridml.training.demand.lgbm import QuantileLGBM
from gridml.training.metrics import quantile_column

if TYPE_CHECKING:
    import lightgbm as lgb

OUTPUT_COLUMNS = ("series_id", "horizon", "yhat")
LEGACY_FEATURE_SERVICE = "demand_forecast_v1"  # versions logged before contracts existed


def demand_contract(
    quantiles: tuple[float, ...], feature_service: str, horizon_hours: int | None
) -> ModelContract:
    """The demand model's contract: origin features read by series at the origin."""
    return ModelContract(
        feature_service=feature_service,
        entity="series_id",
        features=tuple(dict.fromkeys([*ORIGIN_COLUMNS, *PROFILE_COLUMNS])),
        outputs=(*OUTPUT_COLUMNS, *(quantile_column(q) for q in quantiles)),
        horizon_hours=horizon_hours,
        quantiles=tuple(quantiles),
    )


class DemandForecastModel(PythonModel):
    """Quantile boosters (LightGBM text files) + the shared feature code."""

    def __init__(self, quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)) -> None:
        self.quantiles = tuple(quantiles)
        self.boosters: dict[float, lgb.Booster] = {}
        self.shifts: Shifts | None = None

    def contract(self) -> ModelContract:
        """The contract of a version logged without one (older versions)."""
        return demand_contract(self.quantiles, LEGACY_FEATURE_SERVICE, None)  # horizon: run's

    def load_context(self, context: PythonModelContext) -> None:
        import lightgbm as lgb

        self.boosters = {
            q: lgb.Booster(model_file=context.artifacts[quantile_column(q)]) for q in self.quantiles
        }
        calibration = context.artifacts.get("calibration")
        if calibration:  # models logged before calibration existed have none
            self.shifts = Shifts.from_dict(json.loads(Path(calibration).read_text()))

    def predict(
        self,
        context: PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict | None = None,
    ) -> pd.DataFrame:
        X = make_features(model_input)
        scale = level_scale(model_input)
        raw = np.column_stack([self.boosters[q].predict(X, num_threads=1) for q in self.quantiles])
        if self.shifts is not None:
            raw = apply_shifts(raw, model_input["horizon"].to_numpy(), self.shifts)
        raw = np.maximum(np.sort(raw, axis=1) * scale[:, None], 0.0)
        out = pd.DataFrame(raw, columns=[quantile_column(q) for q in self.quantiles])
        out.insert(0, "yhat", out[quantile_column(0.5)])
        out.insert(0, "horizon", model_input["horizon"].to_numpy())
        out.insert(0, "series_id", model_input["series_id"].to_numpy())
        return out


def log_demand_model(model: QuantileLGBM, example: pd.DataFrame, name: str = "model") -> str:
    """Log the boosters as a pyfunc with signature and input example; returns the model URI."""
    from mlflow.models import infer_signature

    horizon = int(example["horizon"].max())
    example = example[INPUT_COLUMNS].head(5).reset_index(drop=True)
    # numbers other than the horizon may be missing (a feed a utility lacks): declare them float
    numeric = example.select_dtypes("number").columns.drop("horizon")
    example = example.astype(dict.fromkeys(numeric, "float64"))
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = {}
        for q, booster in model.boosters.items():
            path = Path(tmp) / f"{quantile_column(q)}.txt"
            booster.save_model(str(path), num_iteration=model.rounds.get(q))
            artifacts[quantile_column(q)] = str(path)
        if model.shifts is not None:
            path = Path(tmp) / "calibration.json"
            path.write_text(json.dumps(model.shifts.to_dict(), indent=1))
            artifacts["calibration"] = str(path)
        contract = demand_contract(model.quantiles, tracking.logged_feature_service(), horizon)
        python_model = DemandForecastModel(model.quantiles)
        python_model.boosters = model.boosters
        python_model.shifts = model.shifts
        signature = infer_signature(example, python_model.predict(None, example))
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=DemandForecastModel(model.quantiles),
            artifacts=artifacts,
            signature=signature,
            input_example=example,
            metadata={CONTRACT_KEY: contract.to_dict()},
            pip_requirements=["mlflow==3.17.2", "lightgbm==4.7.0", "pandas>=2.3,<2.4", "numpy"],
        )
    return info.model_uri
