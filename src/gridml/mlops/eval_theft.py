"""Evaluation of `theft-detection`: the held-out meters and days of the training split,
rebuilt by the training code (`labelled_split`: FeatureService `theft_detection_v1` plus the
daily kWh windows, labels attached afterwards), each scoring day sent as one serving frame.
PR-AUC overall and by customer segment and region, precision and recall at the inspection
budgets; baseline: the transformer's energy-balance loss ratio (28 days) on the same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError
from gridml.features.store.lookup import topology
from gridml.mlops.eval_failure import classifier_segments
from gridml.mlops.evaluate import Evaluator, Holdout, Score
from gridml.training.theft import dataset
from gridml.training.theft.metrics import evaluate
from gridml.training.theft.pyfunc import to_frame
from gridml.workspace import Workspace

BASELINE_FEATURE = "loss_ratio_28d"
TIME = "event_timestamp"


class TheftEvaluator(Evaluator):
    metric = "pr_auc"
    higher_is_better = True
    baseline_name = f"energy balance ({BASELINE_FEATURE})"
    value_column = "probability"
    required_outputs = ("meter_id", "probability", "rank_in_transformer", "reason_codes")
    shown_metrics = (
        "pr_auc",
        "roc_auc",
        "precision_at_1pct",
        "precision_at_5pct",
        "recall_at_5pct",
        "positives",
        "samples",
    )

    def holdout(self, ws: Workspace, cfg, days: int) -> Holdout:
        m = cfg.model
        samples, parts = dataset.labelled_split(ws, m)
        test = samples.take(parts.test)
        meta = test.meta
        last = meta[TIME].max()
        keep = np.flatnonzero((meta[TIME] > last - pd.Timedelta(days=days)).to_numpy())
        test = test.take(keep)
        if not len(test):
            raise MissingDataError(f"theft-detection: no held-out sample in the last {days} days")
        topo = topology(ws).set_index("meter_id")
        truth = test.meta[["meter_id", "transformer_id", TIME, "label"]].copy()
        truth["segment"] = truth["meter_id"].map(topo["segment"]).fillna("unknown").to_numpy()
        truth["region_id"] = truth["meter_id"].map(topo["region_id"]).fillna("unknown").to_numpy()
        feats = test.features
        truth["baseline"] = (
            pd.to_numeric(feats[BASELINE_FEATURE], errors="coerce").to_numpy()
            if BASELINE_FEATURE in feats
            else 0.0
        )
        batches, order = [], []
        for _, idx in truth.groupby(TIME, sort=True).indices.items():
            batches.append(to_frame(test.take(idx)))
            order.append(idx)
        truth = truth.iloc[np.concatenate(order)].reset_index(drop=True)
        first = batches[-1]
        request = first[first["transformer_id"] == first["transformer_id"].iloc[0]]
        return Holdout(
            batches=batches,
            truth={"rows": truth, "cfg": m},
            start=truth[TIME].min(),
            end=truth[TIME].max(),
            rows=len(truth),
            request=request.reset_index(drop=True),
            data_end=samples.meta[TIME].max(),
            description=f"{truth[TIME].nunique()} scoring days x {truth['meter_id'].nunique()} "
            f"held-out meters, {int(truth['label'].sum())} positive samples",
        )

    def _score(self, holdout: Holdout, score: np.ndarray) -> Score:
        rows, m = holdout.truth["rows"], holdout.truth["cfg"]
        frame = rows.assign(score=score)
        overall = evaluate(
            frame["label"].to_numpy(),
            score,
            budgets=m.budgets,
            k=m.map_k,
            groups=frame[TIME].to_numpy(),
        )
        return Score(overall, classifier_segments(frame, ("segment", "region_id")))

    def score(self, holdout: Holdout, predictions: list[pd.DataFrame]) -> Score:
        rows = holdout.truth["rows"]
        probs = np.concatenate([p["probability"].to_numpy(dtype=float) for p in predictions])
        meters = np.concatenate([p["meter_id"].astype(str).to_numpy() for p in predictions])
        if len(meters) != len(rows) or (meters != rows["meter_id"].astype(str).to_numpy()).any():
            raise ValueError("the scored meters do not match the hold-out rows")
        return self._score(holdout, probs)

    def baseline(self, holdout: Holdout) -> Score:
        return self._score(holdout, np.nan_to_num(holdout.truth["rows"]["baseline"].to_numpy()))
