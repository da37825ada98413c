"""The served theft model (the family chosen by validation: Wide & Deep or LightGBM, one
model per validation fold) as an MLflow pyfunc, preprocessing inside.

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
training code's own (`TheftSamples`, `CrossFitted`, `WideDeepTheft` / `LightGBMTheft`), so
serving cannot drift from training.
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
from gridml.training.theft.models import (
    CrossFitted,
    LightGBMTheft,
    TabularScaler,
    WideDeepTheft,
    _net,
    reason_codes,
)

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
    """The served family's fold models (Wide & Deep nets with their tabular scalers, or
    LightGBM boosters), their Platt calibration and the reason-code reference.

    Versions logged before the family was chosen hold one Wide & Deep net (`scaler`, artifact
    `net`) and load as such."""

    def __init__(self, model: CrossFitted, feature_columns: list[str]) -> None:
        cfg = model.cfg
        self.cfg = cfg.model_copy(
            update={"wide_deep": cfg.wide_deep.model_copy(update={"device": "cpu"})}
        )
        self.family = model.name
        self.feature_columns = list(feature_columns)
        self.calibration = model.calibration
        # per fold model: the Wide & Deep tabular scaler, or the LightGBM feature columns
        self.scalers = [getattr(m, "scaler", None) for m in model.members]
        self.columns = [list(getattr(m, "columns", [])) for m in model.members]
        self.model: CrossFitted | WideDeepTheft | None = None
        self.reference: TheftSamples | None = None

    def contract(self) -> ModelContract:
        """The contract of a version logged without one (older versions)."""
        return theft_contract(
            self.feature_columns, self.cfg.days, self.cfg.weeks, LEGACY_FEATURE_SERVICE
        )

    def _wide_deep(self, scaler: TabularScaler, state: dict) -> WideDeepTheft:
        member = WideDeepTheft(self.cfg)
        member.scaler = scaler
        net = _net(self.cfg.days, self.cfg.weeks, 2 * len(scaler.columns), self.cfg.wide_deep)
        net.load_state_dict(state)
        net.eval()
        member.net = net
        return member

    def _lightgbm(self, columns: list[str], text: str) -> LightGBMTheft:
        import lightgbm as lgb

        member = LightGBMTheft(self.cfg)
        member.columns = columns
        member.booster = lgb.Booster(model_str=text)
        return member

    def _build(self, members: list, reference: pd.DataFrame) -> None:
        """`members`: per fold model, a Wide & Deep state dict or a LightGBM model string."""
        family = getattr(self, "family", None)
        if family is None:  # a version logged before the family choice: one Wide & Deep net
            legacy = self._wide_deep(self.scaler, members[0])  # type: ignore[attr-defined]
            legacy.calibration = self.calibration
            self.model = legacy
        else:
            per_model = self.columns if family == "lightgbm" else self.scalers
            pairs = zip(per_model, members, strict=True)
            build = self._lightgbm if family == "lightgbm" else self._wide_deep
            fitted: list = [build(a, b) for a, b in pairs]  # type: ignore[arg-type]
            self.model = CrossFitted(family, fitted, self.calibration, float("nan"))
        n = len(reference)
        empty = np.zeros((n, self.cfg.days))
        self.reference = TheftSamples(pd.DataFrame(index=range(n)), reference, empty, empty)

    def load_context(self, context: PythonModelContext) -> None:
        art = context.artifacts
        if getattr(self, "family", None) == "lightgbm":
            members: list = [Path(art[f"member{k}"]).read_text() for k in range(len(self.columns))]
        else:
            import torch

            keys = ["net"] if "net" in art else [f"member{k}" for k in range(len(self.scalers))]
            members = [torch.load(art[k], map_location="cpu", weights_only=True) for k in keys]
        self._build(members, pd.read_parquet(art["reference"]))

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


def _member_payloads(model: CrossFitted) -> list:
    """Per fold model: the Wide & Deep net's state dict (CPU) or the LightGBM model string."""
    out: list = []
    for member in model.members:
        if isinstance(member, LightGBMTheft):
            if member.booster is None:
                raise RuntimeError("fit the LightGBM theft model before logging it")
            out.append(member.booster.model_to_string(num_iteration=member.booster.best_iteration))
        else:
            if member.net is None:
                raise RuntimeError("fit the Wide & Deep theft model before logging it")
            out.append({k: v.detach().cpu() for k, v in member.net.state_dict().items()})
    return out


def log_theft_model(
    model: CrossFitted,
    example: TheftSamples,
    reference: TheftSamples,
    name: str = "model",
) -> str:
    """Log the served family's fold models as one pyfunc with signature and input example;
    returns its URI. `reference`: honest training samples the reason codes are judged against."""
    from mlflow.models import infer_signature

    feature_columns = list(example.features.columns)
    contract = theft_contract(
        feature_columns, model.cfg.days, model.cfg.weeks, tracking.logged_feature_service()
    )
    example_frame = to_frame(example.take(np.arange(min(5, len(example)))))
    ref = reference.features.apply(pd.to_numeric, errors="coerce").astype("float64")
    payloads = _member_payloads(model)
    with tempfile.TemporaryDirectory() as tmp:
        artifacts = {}
        for k, payload in enumerate(payloads):
            if isinstance(payload, str):
                path = Path(tmp) / f"member{k}.lgb.txt"
                path.write_text(payload)
            else:
                import torch

                path = Path(tmp) / f"member{k}.pt"
                torch.save(payload, path)
            artifacts[f"member{k}"] = str(path)
        ref_path = Path(tmp) / "reason_reference.parquet"
        ref.reset_index(drop=True).to_parquet(ref_path)
        artifacts["reference"] = str(ref_path)
        python_model = TheftDetectionModel(model, feature_columns)
        python_model._build(payloads, ref.reset_index(drop=True))
        signature = infer_signature(example_frame, python_model.predict(None, example_frame))
        requirement = "lightgbm" if model.name == "lightgbm" else "torch"
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=TheftDetectionModel(model, feature_columns),
            artifacts=artifacts,
            signature=signature,
            input_example=example_frame,
            metadata={CONTRACT_KEY: contract.to_dict(), "gridml.family": model.name},
            pip_requirements=[
                "mlflow==3.17.2",
                requirement,
                "pandas>=2.3,<2.4",
                "numpy",
                "pyarrow",
            ],
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
