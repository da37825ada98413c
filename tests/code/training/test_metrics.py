"""Forecast metrics (gridml.training.metrics) on hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gridml.training.metrics import (
    coverage,
    interval_width,
    mae,
    mape,
    mase,
    mean_pinball,
    pinball,
    quantile_column,
    rmse,
    seasonal_scale,
    smape,
    summarize,
)

NAN = float("nan")


def test_point_metrics_by_hand() -> None:
    y, f = [1.0, 2.0, 4.0], [2.0, 2.0, 1.0]  # errors -1, 0, 3
    assert mae(y, f) == pytest.approx(4 / 3)
    assert rmse(y, f) == pytest.approx(math.sqrt(10 / 3))
    assert mape(y, f) == pytest.approx(100 * (1 + 0 + 0.75) / 3)
    assert smape(y, f) == pytest.approx(100 * (2 / 3 + 0 + 6 / 5) / 3)
    assert mase(y, f, 2.0) == pytest.approx(2 / 3)


def test_mape_skips_zero_actuals() -> None:
    assert mape([0.0, 2.0], [5.0, 1.0]) == pytest.approx(50.0)
    assert math.isnan(mape([0.0, 0.0], [1.0, 2.0]))


def test_smape_bounds_and_zero_over_zero() -> None:
    assert smape([0.0, 0.0], [0.0, 0.0]) == 0.0  # both zero: perfect, not 0/0
    assert smape([1.0, 0.0], [0.0, 3.0]) == pytest.approx(200.0)  # the worst possible
    rng = np.random.default_rng(0)
    y, f = rng.normal(size=1000), rng.normal(size=1000)
    assert 0.0 <= smape(y, f) <= 200.0


def test_perfect_forecast_scores_zero() -> None:
    y = np.array([3.0, 1.0, NAN, 7.0])
    for metric in (mae, rmse, mape, smape):
        assert metric(y, y) == 0.0
    assert mase(y, y, 1.5) == 0.0
    assert pinball(y, y, 0.9) == 0.0
    assert mean_pinball(y, {0.1: y, 0.9: y}) == 0.0


def test_pinball_by_hand() -> None:
    # q = 0.9: under-forecast by 2 costs 0.9 * 2, over-forecast by 1 costs 0.1 * 1.
    assert pinball([10.0, 10.0], [8.0, 11.0], 0.9) == pytest.approx((1.8 + 0.1) / 2)
    assert pinball([10.0, 10.0], [8.0, 11.0], 0.1) == pytest.approx((0.2 + 0.9) / 2)
    # the median's pinball loss is half the MAE
    assert pinball([1.0, 5.0], [2.0, 2.0], 0.5) == pytest.approx(mae([1.0, 5.0], [2.0]) / 2)
    assert mean_pinball([10.0, 10.0], {0.1: [8.0, 11.0], 0.9: [8.0, 11.0]}) == pytest.approx(
        (0.95 + 0.55) / 2
    )
    with pytest.raises(ValueError):
        pinball([1.0], [1.0], 1.0)


def test_coverage_and_width_by_hand() -> None:
    y, lo, hi = [1.0, 5.0, 3.0], [0.0, 0.0, 3.0], [2.0, 4.0, 6.0]  # inside, above, on the edge
    assert coverage(y, lo, hi) == pytest.approx(2 / 3)
    assert interval_width(lo, hi) == pytest.approx((2 + 4 + 3) / 3)
    assert interval_width(lo, hi, [1.0, NAN, 3.0]) == pytest.approx((2 + 3) / 2)


def test_seasonal_naive_has_mase_one_on_its_own_history() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(24 * 7 * 6)
    history = 10 + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(size=t.size)
    scale = seasonal_scale(history)
    assert scale == pytest.approx(np.mean(np.abs(history[168:] - history[:-168])))
    assert mase(history[168:], history[:-168], scale) == pytest.approx(1.0)


def test_seasonal_scale_by_hand_and_edge_cases() -> None:
    h = [1.0, 2.0, 4.0, NAN, 0.0]  # season 2: |4-1|, |NaN-2|, |0-4| -> (3 + 4) / 2
    assert seasonal_scale(h, season=2) == pytest.approx(3.5)
    assert math.isnan(seasonal_scale([1.0, 2.0], season=2))  # too short
    assert math.isnan(mase([1.0], [2.0], 0.0))  # constant history: undefined


def test_nan_actuals_are_masked_everywhere() -> None:
    y = np.array([1.0, NAN, 4.0])
    f = np.array([2.0, 100.0, 1.0])
    assert mae(y, f) == pytest.approx(2.0)
    assert rmse(y, f) == pytest.approx(math.sqrt(5.0))
    assert mape(y, f) == pytest.approx(100 * (1 + 0.75) / 2)
    assert smape(y, f) == pytest.approx(100 * (2 / 3 + 6 / 5) / 2)
    assert mase(y, f, [1.0, 50.0, 1.0]) == pytest.approx(2.0)  # the masked scale drops too
    assert pinball(y, f, 0.5) == pytest.approx(1.0)
    assert coverage(y, [0.0, 0.0, 0.0], [2.0, 0.0, 2.0]) == pytest.approx(0.5)


def test_nothing_left_gives_nan() -> None:
    y = [NAN, NAN]
    for value in (
        mae(y, [1.0, 2.0]),
        rmse(y, [1.0, 2.0]),
        mape(y, [1.0, 2.0]),
        smape(y, [1.0, 2.0]),
        mase(y, [1.0, 2.0], 1.0),
        pinball(y, [1.0, 2.0], 0.1),
        coverage(y, [0.0, 0.0], [1.0, 1.0]),
        mae([], []),
    ):
        assert math.isnan(value)


def test_a_missing_forecast_is_not_masked() -> None:
    assert math.isnan(mae([1.0, 2.0], [1.0, NAN]))
    assert math.isnan(smape([0.0, 2.0], [NAN, 2.0]))
    assert math.isnan(coverage([1.0, 2.0], [0.0, NAN], [3.0, 3.0]))


def test_quantile_column_names() -> None:
    assert [quantile_column(q) for q in (0.05, 0.1, 0.29, 0.5, 0.9)] == [
        "q05",
        "q10",
        "q29",
        "q50",
        "q90",
    ]


def test_summarize_groups_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "model": ["a", "a", "a", "b", "b"],
            "y": [1.0, 2.0, NAN, 4.0, 4.0],
            "yhat": [2.0, 2.0, 9.0, 4.0, 4.0],
            "scale": [1.0, 3.0, 5.0, 2.0, 2.0],
            "q10": [0.0, 3.0, 0.0, 3.0, 3.0],
            "q50": [2.0, 2.0, 9.0, 4.0, 4.0],
            "q90": [3.0, 4.0, 9.0, 5.0, 5.0],
        }
    )
    out = summarize(frame, by=["model"]).set_index("model")
    assert list(out.columns) == [
        "n",
        "mase",
        "mae",
        "rmse",
        "mape",
        "smape",
        "pinball",
        "coverage",
        "nominal",
        "width",
    ]
    a, b = out.loc["a"], out.loc["b"]
    assert a["n"] == 2 and b["n"] == 2
    assert a["mase"] == pytest.approx(1 / (1 + 3))  # pooled: sum|e| / sum(scale), NaN row out
    assert a["mae"] == pytest.approx(0.5)
    assert a["mape"] == pytest.approx(50.0)
    assert a["coverage"] == pytest.approx(0.5)  # y = 2 lies below q10 = 3
    assert a["nominal"] == pytest.approx(0.8)
    assert a["width"] == pytest.approx((3 + 1) / 2)
    expected_pinball = np.mean(
        [
            pinball([1.0, 2.0], [0.0, 3.0], 0.1),
            pinball([1.0, 2.0], [2.0, 2.0], 0.5),
            pinball([1.0, 2.0], [3.0, 4.0], 0.9),
        ]
    )
    assert a["pinball"] == pytest.approx(expected_pinball)
    assert b[["mase", "mae", "rmse", "mape", "smape"]].eq(0.0).all()
    assert b["coverage"] == 1.0


def test_summarize_whole_frame_and_no_quantiles() -> None:
    frame = pd.DataFrame({"y": [1.0, 3.0], "yhat": [2.0, 2.0], "scale": [1.0, 1.0]})
    out = summarize(frame, by=[], quantiles=None)
    assert len(out) == 1
    assert "pinball" not in out.columns
    assert out.loc[0, "mase"] == pytest.approx(1.0)
    with pytest.raises(KeyError, match="q10"):
        summarize(frame, by=[])
