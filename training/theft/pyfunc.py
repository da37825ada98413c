"""The Wide & Deep theft model as an MLflow pyfunc, preprocessing inside.

Input: ONE frame, one row per meter at one scoring day t (what serving assembles):
- `meter_id`, `transformer_id` (strings);
- the FeatureService `theft_detection_v1` values at t (columns as Feast names them, as floats);
- `kwh_lag_00` ... `kwh_lag_{weeks*7-1}`: the meter's daily kWh, lag 0 = the day ending at t,
  NaN where missing;
- `outage_lag_00` ... : the interrupted hours of the same days (0 where unknown).

Output: `meter_id`, `probability` (calibrated, in [0, 1]), `rank_in_transformer` (1 = the most
suspicious meter among the frame's rows of the same transformer) and `reason_codes` (a string:
up to three `code: text` reasons joined by " | ", judged against honest training meters; "none"
when no signal stands out). The normalisation, CNN grid, tabular scaling and calibration are the
training code's own (`TheftSamples`, `WideDeepTheft`), so serving cannot drift from training.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel, PythonModelContext

from gridml.models.contract import CONTRACT_KEY, ModelContract
from gridml.models.layout import THEFT_KEY_COLUMNS as KEY_COLUMNS
from gridml.models.layout import lag_columns
from gridml.training import tracking
from gridml.training.theft.dataset import TheftSamples
from gridml.training.theft.models import WideDeepTheft, _net, reason_codes

OUTPUT_COLUMNS = ("meter_id", "probability", "rank_in_transformer", "reason_codes")
NO_REASON = "none"
LEGACY_FEATURE_SERVICE = "theft_detection_v1"  # versions logged before contracts existed


def theft_contract(
    feature_columns: list[str], days: int, weeks: int, feature_service: str
) -> ModelContract:
    """The theft model's contract: the meter's features and `days` of daily kWh history."""
    return ModelContract(
        feature_service=feature_service,
        entity="meter_id",
        features=tuple(feature_columns),
        outputs=OUTPUT_COLUMNS,
        history_days=int(days),
        extra={"weeks": int(weeks)},
    )


def to_frame(samples: TheftSamples) -> pd.DataFrame:
    """The pyfunc's input layout of some samples (the inverse of `from_frame`)."""
    days = samples.raw.shape[1]
    # raw is oldest -> newest; lag k = days - 1 - k
    kwh = pd.DataFrame(samples.raw[:, ::-1], columns=lag_columns("kwh", days))
    out = pd.DataFrame(samples.outage[:, ::-1], columns=lag_columns("outage", days))
    keys = samples.meta[list(KEY_COLUMNS)].astype(str).reset_index(drop=True)
    feats = samples.features.apply(pd.to_numeric, errors="coerce").astype("float64")
    return pd.concat([keys, feats.reset_index(drop=True), kwh, out], axis=1)


def from_frame(frame: pd.DataFrame, feature_columns: list[str], days: int) -> TheftSamples:
    """The samples of a pyfunc input frame (lag columns back to oldest-first windows)."""
    meta = frame[list(KEY_COLUMNS)].astype(str).reset_index(drop=True)
    features = (
        frame[feature_columns].apply(pd.to_numeric, errors="coerce").astype(float)
    ).reset_index(drop=True)
    raw = frame[lag_columns("kwh", days)].to_numpy(dtype=float)[:, ::-1]
    outage = np.nan_to_num(frame[lag_columns("outage", days)].to_numpy(dtype=float)[:, ::-1])
    return TheftSamples(meta, features, np.ascontiguousarray(raw), np.ascontiguousarray(outage))


def _reason_text(reasons: list[dict]) -> str:
    return " | ".join(f"{r['code']}: {r['text']}" for r in reasons) or NO_REASON


class TheftDetectionModel(PythonModel):
    """Wide & Deep net (state dict), tabular scaler, Platt calibration, reason-code reference."""

    def __init__(self, model: WideDeepTheft, feature_columns: list[str]) -> None:
        cfg = model.cfg
        self.cfg = cfg.model_copy(
            update={"wide_deep": cfg.wide_deep.model_copy(update={"device": "cpu"})}
        )
        self.feature_columns = list(feature_columns)
        self.scaler = model.scaler
        self.calibration = model.calibration
        self.model: WideDeepTheft | None = None
        self.reference: TheftSamples | None = None

    def contract(self) -> ModelContract:
        """The contract of a version logged without one (older versions)."""
        return theft_contract(
            self.feature_columns, self.cfg.days, self.cfg.weeks, LEGACY_FEATURE_SERVICE
        )

    def _build(self, state: dict, reference: pd.DataFrame) -> None:
        model = WideDeepTheft(self.cfg)
        model.scaler, model.calibration = self.scaler, self.calibration
        n_tab = 2 * len(self.scaler.columns)
        net = _net(self.cfg.days, self.cfg.weeks, n_tab, self.cfg.wide_deep)
        net.load_state_dict(state)
        net.eval()
        model.net = net
        self.model = model
        n = len(reference)
        empty = np.zeros((n, self.cfg.days))
        self.reference = TheftSamples(pd.DataFrame(index=range(n)), reference, empty, empty)

    def load_context(self, context: PythonModelContext) -> None:
        import torch

        state = torch.load(context.artifacts["net"], map_location="cpu", weights_only=True)
        self._build(state, pd.read_parquet(context.artifacts["reference"]))

    def predict(
        self,
        context: PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict | None = None,
    ) -> pd.DataFrame:
        if self.model is None or self.reference is None:
            raise RuntimeError("theft model not loaded: call load_context first")
        samples = from_frame(model_input, self.feature_columns, self.cfg.days)
        prob = np.clip(self.model.predict_proba(samples), 0.0, 1.0)
        out = pd.DataFrame({"meter_id": samples.meta["meter_id"], "probability": prob})
        rank = out.groupby(samples.meta["transformer_id"])["probability"].rank(
            ascending=False, method="first"
        )
        out["rank_in_transformer"] = rank.astype("int64")
        codes = reason_codes(samples, self.reference) if len(samples) else []
        out["reason_codes"] = [_reason_text(r) for r in codes]
        return out


def log_theft_model(
    model: WideDeepTheft,
    example: TheftSamples,
    reference: TheftSamples,
    name: str = "model",
) -> str:
    """Log the Wide & Deep model as a pyfunc with signature and input example; returns its URI.

    `reference`: honest training samples the reason codes are judged against."""
    import torch
    from mlflow.models import infer_signature

    feature_columns = list(example.features.columns)
    contract = theft_contract(
        feature_columns, model.cfg.days, model.cfg.weeks, tracking.logged_feature_service()
    )
    example_frame = to_frame(example.take(np.arange(min(5, len(example)))))
    ref = reference.features.apply(pd.to_numeric, errors="coerce").astype("float64")
    if model.net is None:
        raise RuntimeError("fit the Wide & Deep theft model before logging it")
    with tempfile.TemporaryDirectory() as tmp:
        net_path = Path(tmp) / "net.pt"
        ref_path = Path(tmp) / "reason_reference.parquet"
        state = {k: v.detach().cpu() for k, v in model.net.state_dict().items()}
        torch.save(state, net_path)
        ref.reset_index(drop=True).to_parquet(ref_path)
        python_model = TheftDetectionModel(model, feature_columns)
        python_model._build(state, ref.reset_index(drop=True))
        signature = infer_signature(example_frame, python_model.predict(None, example_frame))
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=TheftDetectionModel(model, feature_columns),
            artifacts={"net": str(net_path), "reference": str(ref_path)},
            signature=signature,
            input_example=example_frame,
            metadata={CONTRACT_KEY: contract.to_dict()},
            pip_requirements=["mlflow==3.17.2", "torch", "pandas>=2.3,<2.4", "numpy", "pyarrow"],
        )
    return info.model_uri


__all__ = [
    "OUTPUT_COLUMNS",
    "TheftDetectionModel",
    "from_frame",
    "lag_columns",
    "log_theft_model",
    "to_frame",
]
