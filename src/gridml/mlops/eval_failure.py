"""Evaluation of `asset-failure`: the held-out days of the training split (after the
challenger's training window), built through `asset_failure_v1` by the training code
(`load_maintenance_data`), each day sent as serving sends it (the last window of daily
FeatureService values of every transformer). PR-AUC overall and by region; the weekly alert
budget's precision and recall; baseline: the IEEE ageing-acceleration heuristic on the same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError
from gridml.mlops.evaluate import Evaluator, Holdout, Score
from gridml.mlops.gates import SEGMENT_COLUMNS
from gridml.training.classification import average_precision
from gridml.training.maintenance.dataset import KEY, load_maintenance_data
from gridml.training.maintenance.metrics import TIME, evaluate
from gridml.training.maintenance.pyfunc import naive_utc
from gridml.workspace import Workspace

BASELINE_FEATURE = "ageing_acceleration_mean"
MAX_WINDOW = 60  # days sent per transformer (any model's window fits)


def classifier_segments(frame: pd.DataFrame, kinds: tuple[str, ...]) -> pd.DataFrame:
    """PR-AUC by segment of a scored frame (label, score and the segment columns)."""
    parts = []
    for kind in kinds:
        for seg, g in frame.groupby(kind):
            y = g["label"].to_numpy()
            value = average_precision(y, g["score"].to_numpy()) if y.sum() else float("nan")
            parts.append((kind, str(seg), len(g), float(y.sum()), value))
    return pd.DataFrame(parts, columns=SEGMENT_COLUMNS)


class FailureEvaluator(Evaluator):
    metric = "pr_auc"
    higher_is_better = True
    baseline_name = f"heuristic ({BASELINE_FEATURE})"
    value_column = "probability"
    required_outputs = ("transformer_id", "probability", "risk_band")
    shown_metrics = (
        "pr_auc",
        "roc_auc",
        "precision_at_budget",
        "recall_at_budget",
        "positive_rate",
        "rows",
    )

    def holdout(self, ws: Workspace, cfg, days: int) -> Holdout:
        m = cfg.model
        data = load_maintenance_data(ws, m)
        test = data.part("test")
        start = data.days[-1] - pd.Timedelta(days=days)
        test = test[test[TIME] > start]
        if test.empty:
            raise MissingDataError(f"asset-failure: no labelled test day in the last {days} days")
        regions = _regions(ws)
        window = min(MAX_WINDOW, len(data.days))
        batches, keys = [], []
        for _day, rows in test.groupby(TIME, sort=True):
            dix = int(rows["dix"].iloc[0])
            lo = max(0, dix - window + 1)
            stamps = naive_utc(pd.Series(data.days[lo : dix + 1]))
            tix = np.sort(rows["tix"].to_numpy())
            cube = data.cube[tix, lo : dix + 1]  # [units, days, features]
            frame = pd.DataFrame(
                cube.reshape(-1, cube.shape[-1]).astype("float64"), columns=data.features
            )
            frame.insert(0, TIME, np.tile(stamps.to_numpy(), len(tix)))
            frame.insert(0, KEY, np.repeat([data.transformers[i] for i in tix], len(stamps)))
            batches.append(frame)
            day_keys = rows.sort_values("tix")[[KEY, TIME, "label"]].reset_index(drop=True)
            day_keys["baseline"] = cube[:, -1, data.features.index(BASELINE_FEATURE)]
            keys.append(day_keys)
        truth = pd.concat(keys, ignore_index=True)
        truth["region_id"] = truth[KEY].map(regions).fillna("unknown")
        first = batches[-1]
        request = first[first[KEY] == first[KEY].iloc[0]].reset_index(drop=True)
        return Holdout(
            batches=batches,
            truth={"rows": truth, "failures": data.failures, "cfg": m},
            start=test[TIME].min(),
            end=test[TIME].max(),
            rows=len(truth),
            request=request,
            data_end=data.days[-1],
            description=f"{test[TIME].nunique()} days x {test[KEY].nunique()} transformers, "
            f"{int(truth['label'].sum())} positive unit-days",
        )

    def _score(self, holdout: Holdout, score: np.ndarray) -> Score:
        t = holdout.truth
        frame = t["rows"].assign(score=score)
        m = t["cfg"]
        overall = evaluate(frame, t["failures"], m.alert_budget, m.alert_period_days)
        overall["rows"] = float(len(frame))
        return Score(overall, classifier_segments(frame, ("region_id",)))

    def score(self, holdout: Holdout, predictions: list[pd.DataFrame]) -> Score:
        rows = holdout.truth["rows"]
        probs = []
        for pred, (_, day) in zip(predictions, rows.groupby(TIME, sort=True), strict=True):
            p = pred.set_index("transformer_id")["probability"]
            probs.append(p.reindex(day[KEY].astype(str)).to_numpy(dtype=float))
        return self._score(holdout, np.concatenate(probs))

    def baseline(self, holdout: Holdout) -> Score:
        return self._score(holdout, np.nan_to_num(holdout.truth["rows"]["baseline"].to_numpy()))


def _regions(ws: Workspace) -> pd.Series:
    from gridml.io import read_parts

    t = read_parts(ws.feed_dir("transformers"))
    if t is None or "region_id" not in t:
        return pd.Series(dtype=str)
    return t.set_index(KEY)["region_id"].astype(str)
