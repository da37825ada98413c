"""The demand hold-out is scored on the delivered hours only, as the backtest scores them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.mlops.eval_demand import DemandEvaluator


def test_only_delivered_hours_are_scored() -> None:
    h = np.arange(1, 49)
    truth = pd.DataFrame(
        {
            "series_id": "zone:all",
            "level": "zone",
            "segment": "residential",
            "region_id": "R01",
            "horizon": h,
            "y": 10.0,
            "scale": 1.0,
            "delivered": h > 24,  # issued 10:00 for the next local day: hours 25-48
        }
    )
    # perfect on the delivered hours, wildly wrong on the others
    pred = pd.DataFrame(
        {"series_id": "zone:all", "horizon": h, "yhat": np.where(h > 24, 10.0, 0.0)}
    )
    score = DemandEvaluator()._score(truth, pred)
    assert score.overall["mase"] == 0.0 and score.overall["n"] == 24
    everything = DemandEvaluator()._score(truth.drop(columns="delivered"), pred)
    assert everything.overall["mase"] > 0.0
