"""Labels, down days, censoring, the time split and calibration on hand-made cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from gridml.training.maintenance.config import MaintenanceConfig
from gridml.training.maintenance.dataset import label_rows, time_split, windows
from gridml.training.maintenance.models import risk_bands


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_labels_down_days_and_censoring_on_a_hand_made_case() -> None:
    days = pd.date_range("2024-01-02", "2024-01-11", freq="D", tz="UTC")
    entity = pd.DataFrame(
        {
            "transformer_id": ["T1"] * len(days) + ["T2"] * len(days),
            "event_timestamp": list(days) * 2,
        }
    )
    failures = pd.DataFrame(
        {
            "transformer_id": ["T1", "T2"],
            "timestamp": [_ts("2024-01-05 10:00"), _ts("2024-01-09 00:00")],
        }
    )
    replacements = pd.DataFrame({"transformer_id": ["T1"], "timestamp": [_ts("2024-01-07 09:00")]})
    out = label_rows(entity, failures, replacements, horizon_days=2, end=days[-1])
    out = out.set_index(["transformer_id", out["event_timestamp"].dt.strftime("%m-%d")])

    t1 = out.loc["T1"]
    assert t1["label"].to_dict() == {
        "01-02": 0, "01-03": 0, "01-04": 1, "01-05": 1, "01-06": 0,
        "01-07": 0, "01-08": 0, "01-09": 0, "01-10": 0, "01-11": 0,
    }  # fmt: skip
    # down from the failure (01-05 10:00) until the replacement (01-07 09:00)
    assert list(t1.index[t1["down"]]) == ["01-06", "01-07"]
    assert list(t1.index[t1["censored"]]) == ["01-10", "01-11"]

    t2 = out.loc["T2"]
    # a failure exactly at t + horizon is inside (t, t + horizon]; at t itself it is not
    assert list(t2.index[t2["label"] == 1]) == ["01-07", "01-08"]
    assert list(t2.index[t2["down"]]) == ["01-09", "01-10", "01-11"]  # never replaced


def test_row_order_is_kept() -> None:
    entity = pd.DataFrame(
        {
            "transformer_id": ["B", "A", "B"],
            "event_timestamp": [_ts("2024-01-03"), _ts("2024-01-02"), _ts("2024-01-02")],
        }
    )
    failures = pd.DataFrame({"transformer_id": ["B"], "timestamp": [_ts("2024-01-03 12:00")]})
    empty = pd.DataFrame({"transformer_id": [], "timestamp": pd.to_datetime([], utc=True)})
    out = label_rows(entity, failures, empty, horizon_days=1)
    assert out["transformer_id"].tolist() == ["B", "A", "B"]
    assert out["label"].tolist() == [1, 0, 0]


def test_split_keeps_a_gap_of_at_least_the_horizon() -> None:
    cfg = MaintenanceConfig(horizon_days=7, test_days=30, validation_days=14)
    days = pd.date_range("2024-01-01", periods=120, freq="D", tz="UTC")
    split = time_split(days, cfg)
    assert split.cutoff == days[-30]
    assert split.train_end == split.cutoff - pd.Timedelta(days=7)
    parts = split.assign(pd.Series(days), pd.Timedelta(days=cfg.gap))
    fit, valid, test = (days[(parts == name).to_numpy()] for name in ("fit", "valid", "test"))
    assert test.min() == split.cutoff and len(test) == 30
    assert valid.max() + pd.Timedelta(days=7) < split.cutoff
    assert fit.max() + pd.Timedelta(days=7) < valid.min()
    with pytest.raises(ValidationError, match="at least horizon"):
        MaintenanceConfig(horizon_days=7, gap_days=3)


def test_windows_end_at_the_row_day_and_pad_with_nan() -> None:
    cube = np.arange(2 * 5 * 1, dtype=np.float32).reshape(2, 5, 1)
    out = windows(cube, np.array([1, 0]), np.array([1, 4]), window=3)
    assert np.isnan(out[0, 0, 0]) and out[0, 1:, 0].tolist() == [5, 6]
    assert out[1, :, 0].tolist() == [2, 3, 4]


def test_risk_bands() -> None:
    bands = risk_bands(np.array([0.01, 0.05, 0.2, 0.25, 0.9]), (0.05, 0.25))
    assert bands.tolist() == ["low", "medium", "medium", "high", "high"]
