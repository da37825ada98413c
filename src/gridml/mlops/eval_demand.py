"""Evaluation of `demand-forecast`: the most recent origins, built through `demand_forecast_v1`
by the training code (`load_demand_data`, `design`), scored by MASE overall and by hierarchy
level, dominant customer segment and region on the hours the issue config delivers (e.g. issued
10:00 for the next local day), as the backtest scores them; baseline: the seasonal naive on the
same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError
from gridml.mlops.evaluate import Evaluator, Holdout, Score
from gridml.mlops.gates import SEGMENT_COLUMNS
from gridml.training.demand.backtest import (
    segment_of,
    series_scales,
    usable_origins,
    with_issue,
)
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import design, load_demand_data
from gridml.training.demand.features import INPUT_COLUMNS
from gridml.training.metrics import summarize
from gridml.workspace import Workspace

SEGMENT_KINDS = ("level", "segment", "region_id")


def serving_frame(inputs: pd.DataFrame) -> pd.DataFrame:
    """The model input as serving sends it (numbers other than the horizon as float)."""
    frame = inputs[INPUT_COLUMNS].reset_index(drop=True)
    numeric = frame.select_dtypes("number").columns.drop("horizon")
    return frame.astype(dict.fromkeys(numeric, "float64"))


class DemandEvaluator(Evaluator):
    metric = "mase"
    higher_is_better = False
    baseline_name = "seasonal naive"
    value_column = "yhat"
    required_outputs = ("series_id", "horizon", "yhat")
    shown_metrics = ("mase", "mae", "rmse", "smape", "pinball", "coverage", "n")

    def holdout(self, ws: Workspace, cfg: DemandConfig, days: int) -> Holdout:
        data = load_demand_data(ws, cfg)
        origins = usable_origins(data, cfg)
        start = data.end - pd.Timedelta(days=days)
        chosen = origins[origins >= start]
        if chosen.empty:
            raise MissingDataError(
                f"no forecast origin with a full {cfg.horizon_hours} h horizon in the last "
                f"{days} days of data"
            )
        d = design(data, cfg, chosen, keep_inputs=True)
        inputs = d.inputs
        assert inputs is not None  # keep_inputs=True
        keys = d.keys.reset_index(drop=True).copy()
        keys["y"] = d.y
        keys["scale"] = series_scales(data.actuals, chosen[0]).reindex(keys["series_id"]).to_numpy()
        keys["segment"] = keys["series_id"].map(segment_of(data)).fillna("unknown").to_numpy()
        keys["region_id"] = inputs["region_id"].astype(str).to_numpy()
        keys["seasonal_naive"] = d.baselines["seasonal_naive"].to_numpy()
        keys["peak"] = inputs["load_max_168h"].to_numpy(dtype=float)
        keys = with_issue(keys, cfg, data.timezone)  # scored: the delivered hours only
        frame = serving_frame(inputs)
        first = frame[(frame["series_id"] == frame["series_id"].iloc[0])]
        request = first.iloc[: cfg.horizon_hours].reset_index(drop=True)  # one series, one origin
        return Holdout(
            batches=[frame],
            truth=keys,
            start=chosen[0],
            end=chosen[-1] + pd.Timedelta(hours=cfg.horizon_hours),
            rows=int((np.isfinite(d.y) & keys["delivered"].to_numpy()).sum()),
            request=request,
            data_end=data.end,
            description=f"{len(chosen)} daily origins x {cfg.issue.delivery_hours} delivered "
            f"h x {keys['series_id'].nunique()} series",
        )

    def _score(self, truth: pd.DataFrame, pred: pd.DataFrame) -> Score:
        frame = truth.copy()
        quantiles = sorted(
            int(c[1:]) / 100 for c in pred.columns if c.startswith("q") and c[1:].isdigit()
        )
        for c in pred.columns:
            if c not in ("series_id", "horizon"):
                frame[c] = pred[c].to_numpy()
        if "delivered" in frame:  # the model forecasts every horizon; the issue delivers some
            frame = frame[frame["delivered"].to_numpy(dtype=bool)]
        overall = summarize(frame, [], quantiles).iloc[0].to_dict()
        parts = []
        for kind in SEGMENT_KINDS:
            s = summarize(frame, [kind], quantiles)
            parts.append(
                pd.DataFrame(
                    {
                        "kind": kind,
                        "segment": s[kind].astype(str),
                        "n": s["n"],
                        "positives": np.nan,
                        "value": s["mase"],
                    }
                )
            )
        segments = pd.concat(parts, ignore_index=True)[SEGMENT_COLUMNS]
        return Score({k: float(v) for k, v in overall.items()}, segments)

    def score(self, holdout: Holdout, predictions: list[pd.DataFrame]) -> Score:
        pred = predictions[0].reset_index(drop=True)
        truth = holdout.truth
        if (
            len(pred) != len(truth)
            or not (pred["series_id"].to_numpy() == truth["series_id"].to_numpy()).all()
        ):
            raise ValueError("the forecast rows do not match the hold-out rows")
        return self._score(truth, pred)

    def baseline(self, holdout: Holdout) -> Score:
        naive = holdout.truth["seasonal_naive"]
        return self._score(holdout.truth, pd.DataFrame({"yhat": naive.to_numpy()}))

    def peak(self, holdout: Holdout) -> np.ndarray:
        return holdout.truth["peak"].to_numpy(dtype=float)
