"""Restoration-time pieces on tiny hand-made frames: censoring, features known at detection,
Kaplan-Meier, conformal margin, the re-estimate given elapsed time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.training.restoration.dataset import Grid, kind_of, outage_rows
from gridml.training.restoration.models import (
    conditional_quantiles,
    conformal_margin,
    ipcw,
    kaplan_meier,
    km_median,
    km_medians,
)
from gridml.training.restoration.pipeline import censor_at, scores, split

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def grid(end: pd.Timestamp = T0 + pd.Timedelta(days=2)) -> Grid:
    transformers = pd.DataFrame(
        {
            "transformer_id": ["T1", "T2", "T3"],
            "feeder_id": ["F1", "F1", "F2"],
            "substation_id": ["S1", "S1", "S1"],
            "commissioned_year": [2014, 2004, 2000],
        }
    )
    hours = pd.date_range(T0, end, freq="h")
    weather = pd.DataFrame(
        {"region_id": "R1", "timestamp": hours, "rainfall_mm": np.where(hours.hour == 21, 3.0, 0)}
    )
    return Grid(transformers, weather, "UTC", end)


def outages() -> pd.DataFrame:
    h = pd.Timedelta(hours=1)
    return pd.DataFrame(
        {
            "outage_id": ["A", "B", "C"],
            "level": ["feeder", "transformer", "substation"],
            "node_id": ["F1", "T3", "S1"],
            "cause": ["vegetation", None, "breaker_trip"],
            "start": [T0 + 21 * h, T0 + 22 * h, T0 + 46 * h],
            "end": [T0 + 25 * h, T0 + 23 * h, T0 + 50 * h],  # C still open at the end (48 h)
            "region_id": "R1",
            "customers": [40, 10, 60],
            "first_gasp": [T0 + 21 * h, T0 + 22 * h + pd.Timedelta(minutes=1), T0 + 46 * h],
        }
    )


def test_rows_censor_outages_open_at_the_end_and_keep_them() -> None:
    rows = outage_rows(outages(), grid()).set_index("outage_id")
    assert list(rows.index) == ["A", "B", "C"]  # kept, never dropped
    assert rows.at["C", "event"] == 0 and rows.at["C", "duration_h"] == pytest.approx(2.0)
    assert rows.at["A", "event"] == 1 and rows.at["A", "duration_h"] == pytest.approx(4.0)


def test_features_are_known_at_detection() -> None:
    rows = outage_rows(outages(), grid()).set_index("outage_id")
    # kind when known, else the level
    assert rows.at["A", "kind"] == "vegetation" and rows.at["B", "kind"] == "transformer"
    # B starts while A is open (A's end is later but A is open at B's detection: known then)
    assert rows.at["B", "open_in_region"] == 1 and rows.at["A", "open_in_region"] == 0
    assert rows.at["A", "rain_mm"] == 3.0 and rows.at["B", "rain_mm"] == 0.0
    assert rows.at["A", "night"] == 1 and rows.at["A", "transformers"] == 2
    assert rows.at["B", "asset_age"] == pytest.approx(24.0)
    # no label in the features: changing the end changes only the target columns
    later = outages().assign(end=outages()["end"] + pd.Timedelta(hours=5))
    a, b = outage_rows(outages(), grid()), outage_rows(later, grid())
    from gridml.training.restoration.dataset import FEATURES

    pd.testing.assert_frame_equal(a[list(FEATURES)], b[list(FEATURES)])
    assert not np.allclose(a["duration_h"], b["duration_h"])


def test_kind_of_falls_back_to_level() -> None:
    assert kind_of("fuse", "transformer") == "fuse"
    assert kind_of(None, "feeder") == kind_of("unknown", "feeder") == "feeder"


def test_kaplan_meier_by_hand() -> None:
    # times 1, 2+, 3, 4: S(1)=3/4, S(3)=3/4*1/2=3/8, S(4)=0
    times, surv = kaplan_meier(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 0, 1, 1]))
    assert list(times) == [1.0, 3.0, 4.0]
    assert surv == pytest.approx([0.75, 0.375, 0.0])
    assert km_median(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 0, 1, 1])) == 3.0
    # a censored row counts: treating 2+ as ended would give median 2
    assert km_median(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 1, 1, 1])) == 2.0


def test_km_medians_fall_back_to_all_rows() -> None:
    frame = pd.DataFrame(
        {"kind": ["a", "a", "b"], "duration_h": [1.0, 3.0, 5.0], "event": [1, 1, 0]}
    )
    medians = km_medians(frame)
    assert medians["a"] == 1.0 and "b" not in medians and medians["*"] == 3.0


def test_ipcw_weights_ended_outages_up_for_censoring() -> None:
    w = ipcw(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 0, 1, 1]))
    assert w[1] == 0.0 and w[0] == 1.0
    assert w[2] == pytest.approx(1 / (2 / 3)) and w[3] == pytest.approx(w[2])


def test_censor_at_and_split_use_only_what_was_known() -> None:
    rows = outage_rows(outages(), grid())
    cut = T0 + pd.Timedelta(hours=24)
    at = censor_at(rows, cut).set_index("outage_id")
    assert at.at["A", "event"] == 0 and at.at["A", "duration_h"] == pytest.approx(3.0)
    assert at.at["B", "event"] == 1
    train, cal, test = split(rows, T0 + pd.Timedelta(days=2), test_days=1, calibration_days=1)
    assert list(test["outage_id"]) == ["C"] and len(train) + len(cal) == 2


def test_conformal_margin_reaches_the_coverage() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(0, 1, 400)
    q = np.column_stack([np.full(400, -0.5), np.zeros(400), np.full(400, 0.5)])
    m = conformal_margin(q, y, 0.8)
    assert ((q[:, 0] - m <= y) & (y <= q[:, 2] + m)).mean() >= 0.8
    assert m > 0  # the band was too narrow


def test_reestimate_is_the_first_with_nothing_elapsed_and_never_below_elapsed() -> None:
    log_q = np.log(np.array([[0.5, 2.0, 8.0], [1.0, 1.5, 3.0]]))
    first = conditional_quantiles(log_q, np.zeros(2))
    assert first == pytest.approx(np.exp(log_q))
    later = conditional_quantiles(log_q, np.array([3.0, 5.0]))
    assert (later >= 3.0).all() and (later[1] >= 5.0).all()
    assert (np.diff(later, axis=1) >= 0).all() and (later >= first).all()


def test_scores_ignore_censored_outages() -> None:
    frame = pd.DataFrame({"duration_h": [2.0, 4.0, 1.0], "event": [1, 1, 0]})
    hours = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.1, 0.2, 0.3]])
    s = scores(frame, hours, np.array([3.0, 3.0, 3.0]))
    assert s["mae"] == pytest.approx(1.0) and s["baseline_mae"] == pytest.approx(1.0)
    assert s["coverage"] == pytest.approx(0.5) and s["ended"] == 2
