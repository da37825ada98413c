"""The transformer-failure model as an MLflow pyfunc.

Input: a long frame of daily FeatureService `asset_failure_v1` values, one row per
(transformer_id, event_timestamp) with the feature columns, covering (up to) the last
`window_days` days of each transformer; event_timestamp in UTC, timezone-naive (MLflow's
datetime schema; naive values are read as UTC). Output: one row per transformer, scored at its
latest day: transformer_id, probability (calibrated), risk_band (low/medium/high), drivers (the
features that pushed the risk up most, comma-separated; "none" when none did).

The preprocessing (standardisation, windowing, observed mask, Platt calibration, banding) runs
inside the model, so serving cannot drift from training.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel, PythonModelContext

from gridml.models.contract import CONTRACT_KEY, ModelContract
from gridml.training import tracking
from gridml.training.maintenance.config import MaintenanceConfig
from gridml.training.maintenance.dataset import KEY, Scaler
from gridml.training.maintenance.models import SequenceModel, build_net, risk_bands
from gridml.training.platt import Platt

if TYPE_CHECKING:  # imported lazily at run time
    from torch import nn

TIME = "event_timestamp"
OUTPUT_COLUMNS = ("transformer_id", "probability", "risk_band", "drivers")
DAY = pd.Timedelta(days=1)
LEGACY_FEATURE_SERVICE = "asset_failure_v1"  # versions logged before contracts existed


def maintenance_contract(meta: dict, feature_service: str) -> ModelContract:
    """The failure model's contract: `window_days` of its features per transformer."""
    return ModelContract(
        feature_service=feature_service,
        entity=KEY,
        features=tuple(meta["features"]),
        outputs=OUTPUT_COLUMNS,
        window_days=int(meta["window_days"]),
    )


def input_windows(
    frame: pd.DataFrame, features: list[str], window: int
) -> tuple[list[str], np.ndarray]:
    """Transformers (sorted) and their raw cube [transformers, window, features]: the `window`
    days ending at each transformer's latest day; NaN for days absent from the frame."""
    missing = [c for c in (KEY, TIME, *features) if c not in frame.columns]
    if missing:
        raise ValueError(f"asset-failure model input lacks column(s): {missing}")
    times = pd.to_datetime(frame[TIME], utc=True)
    ids = frame[KEY].astype(str).to_numpy()
    transformers = sorted(set(ids))
    tix = pd.Index(transformers).get_indexer(ids)
    last = pd.Series(times.to_numpy()).groupby(tix).transform("max")
    # local day ends shift by an hour across DST changes: round to whole days
    offset = np.rint((last.to_numpy() - times.to_numpy()) / DAY).astype(int)
    pos = window - 1 - offset
    keep = (pos >= 0) & (pos < window)
    cube = np.full((len(transformers), window, len(features)), np.nan, dtype=np.float32)
    values = frame[features].to_numpy(dtype=np.float32, na_value=np.nan)
    cube[tix[keep], pos[keep]] = values[keep]
    return transformers, cube


def naive_utc(times: pd.Series) -> pd.Series:
    """Timestamps as timezone-naive UTC (MLflow's datetime schema takes naive values only)."""
    return pd.to_datetime(times, utc=True).dt.tz_localize(None)


class AssetFailureModel(PythonModel):
    """Sequence net (state dict) + scaler + Platt calibration + risk bands."""

    def __init__(self, meta: dict | None = None) -> None:
        self.meta = meta or {}
        self.model: SequenceModel | None = None
        self.scaler: Scaler | None = None

    def contract(self) -> ModelContract:
        """The contract of a version logged without one (older versions)."""
        return maintenance_contract(self.meta, LEGACY_FEATURE_SERVICE)

    def load_context(self, context: PythonModelContext) -> None:
        import torch

        self.meta = json.loads(Path(context.artifacts["meta"]).read_text())
        m = self.meta
        net = build_net(m["architecture"], 2 * len(m["features"]), m["hidden"], m["dropout"])
        net.load_state_dict(torch.load(context.artifacts["net"], map_location="cpu"))
        self._set(net)

    def _set(self, net: nn.Module) -> None:
        m = self.meta
        self.model = SequenceModel(net, list(m["features"]), Platt(m["platt_a"], m["platt_b"]))
        self.scaler = Scaler(
            np.asarray(m["mean"], np.float32),
            np.asarray(m["std"], np.float32),
            np.asarray(m.get("log_offset") or [None] * len(m["mean"]), np.float32),  # older: none
        )

    def predict(
        self,
        context: PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict | None = None,
    ) -> pd.DataFrame:
        if self.model is None or self.scaler is None:
            raise RuntimeError("failure model not loaded: call load_context first")
        m = self.meta
        transformers, raw = input_windows(model_input, m["features"], m["window_days"])
        observed = ~np.isnan(raw)
        z = np.where(observed, self.scaler.transform(raw), 0.0)
        x = np.concatenate([z, observed], axis=-1).astype(np.float32)
        p = self.model.predict_proba(x) if len(x) else np.zeros(0)
        drivers = self.model.drivers(x, k=m["drivers"]) if len(x) else []
        return pd.DataFrame(
            {
                "transformer_id": transformers,
                "probability": p.astype(float),
                "risk_band": risk_bands(p, tuple(m["risk_bands"])).astype(str),
                "drivers": [", ".join(d) if d else "none" for d in drivers],
            }
        )


def model_meta(model: SequenceModel, scaler: Scaler, cfg: MaintenanceConfig) -> dict:
    """What the pyfunc needs besides the weights: features, architecture, scaler, calibration,
    bands."""
    offset = (
        scaler.log_offset if scaler.log_offset is not None else np.full_like(scaler.mean, np.nan)
    )
    return {
        "features": list(model.features),
        "architecture": cfg.architecture,
        "hidden": cfg.hidden,
        "dropout": cfg.dropout,
        "window_days": cfg.window_days,
        "drivers": cfg.drivers,
        "risk_bands": list(cfg.risk_bands),
        "platt_a": model.calibration.a,
        "platt_b": model.calibration.b,
        "mean": scaler.mean.astype(float).tolist(),
        "std": scaler.std.astype(float).tolist(),
        "log_offset": [float(c) if np.isfinite(c) else None for c in offset],  # null: linear
    }


def log_maintenance_model(
    model: SequenceModel,
    scaler: Scaler,
    cfg: MaintenanceConfig,
    example: pd.DataFrame,
    name: str = "model",
) -> str:
    """Log the sequence model as a pyfunc with signature and input example; returns its URI."""
    import torch
    from mlflow.models import infer_signature

    example = example[[KEY, TIME, *model.features]].reset_index(drop=True)
    example = example.astype(dict.fromkeys(model.features, "float64") | {KEY: str})
    example[TIME] = naive_utc(example[TIME])
    meta = model_meta(model, scaler, cfg)
    contract = maintenance_contract(meta, tracking.logged_feature_service())
    net = model.net
    with tempfile.TemporaryDirectory() as tmp:
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
        torch.save(state, Path(tmp) / "net.pt")
        (Path(tmp) / "meta.json").write_text(json.dumps(meta))
        local = AssetFailureModel(meta)
        local._set(net)
        signature = infer_signature(example, local.predict(None, example))
        info = mlflow.pyfunc.log_model(
            name=name,
            python_model=AssetFailureModel(),
            artifacts={"net": str(Path(tmp) / "net.pt"), "meta": str(Path(tmp) / "meta.json")},
            signature=signature,
            input_example=example,
            metadata={CONTRACT_KEY: contract.to_dict()},
            pip_requirements=["mlflow==3.17.2", "torch", "pandas>=2.3,<2.4", "numpy"],
        )
    return info.model_uri
