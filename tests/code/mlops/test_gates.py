"""Pure promotion gates on tiny hand-made numbers: each gate passes and fails where it should."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.mlops import gates as g


def seg(values: dict[str, float], n: int = 100, positives: float = np.nan) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "kind": "level",
            "segment": list(values),
            "n": n,
            "positives": positives,
            "value": list(values.values()),
        }
    )


@pytest.mark.parametrize(
    ("challenger", "champion", "higher", "factor", "ok"),
    [
        (0.80, 0.82, False, 1.0, True),  # lower error wins
        (0.83, 0.82, False, 1.0, False),
        (0.81, 0.82, False, 1.02, False),  # 2% better needed: 0.82 / 1.02 = 0.804
        (0.80, 0.82, False, 1.02, True),
        (0.60, 0.55, True, 1.05, True),  # score: 0.55 x 1.05 = 0.5775
        (0.57, 0.55, True, 1.05, False),
        (float("nan"), 0.5, True, 1.0, False),  # a NaN metric never passes
    ],
)
def test_metric_gate_applies_the_penalty_factor_to_the_champion(
    challenger: float, champion: float, higher: bool, factor: float, ok: bool
) -> None:
    assert g.metric_gate("m", challenger, champion, higher, factor).passed is ok


def test_metric_gate_without_champion_passes() -> None:
    r = g.metric_gate("mase", 0.9, None, False)
    assert r.passed and "no champion" in r.detail


def test_segment_gate_catches_one_degraded_segment() -> None:
    old = seg({"feeder": 0.80, "zone": 0.50})
    ok = g.segment_gate(seg({"feeder": 0.70, "zone": 0.54}), old, False, 0.10)
    bad = g.segment_gate(seg({"feeder": 0.70, "zone": 0.60}), old, False, 0.10)
    assert ok.passed
    assert not bad.passed and "level=zone" in bad.detail and "feeder" not in bad.detail


def test_segment_gate_ignores_small_segments() -> None:
    old, new = seg({"zone": 0.5}, n=10), seg({"zone": 5.0}, n=10)
    assert g.segment_gate(new, old, False, 0.1, min_rows=50).passed
    assert not g.segment_gate(new, old, False, 0.1, min_rows=5).passed


def test_segment_gate_for_scores_and_positives() -> None:
    old = seg({"R01": 0.6}, positives=10)
    assert not g.segment_gate(seg({"R01": 0.4}, positives=10), old, True, 0.2).passed
    assert g.segment_gate(seg({"R01": 0.4}, positives=2), old, True, 0.2, min_positives=5).passed


def test_baseline_gate_needs_strictly_better() -> None:
    assert g.baseline_gate("mase", 0.8, 0.95, False, "naive").passed
    assert not g.baseline_gate("mase", 0.95, 0.95, False, "naive").passed
    assert not g.baseline_gate("pr_auc", 0.1, 0.2, True, "prevalence").passed


def test_signature_gate() -> None:
    served = {"series_id": "string", "horizon": "long", "load_kwh": "double"}
    ok = g.signature_gate({"series_id": "string", "horizon": "double"}, served, ["yhat"], ["yhat"])
    assert ok.passed  # numeric types are compatible
    missing = g.signature_gate({"bogus": "double"}, served, ["yhat"], ["yhat"])
    assert not missing.passed and "bogus" in missing.detail
    wrong_type = g.signature_gate({"series_id": "double"}, served, ["yhat"], ["yhat"])
    assert not wrong_type.passed
    no_output = g.signature_gate({"horizon": "long"}, served, ["q50"], ["yhat"])
    assert not no_output.passed and "yhat" in no_output.detail
    assert not g.signature_gate(None, served, None, ["yhat"]).passed


def test_predictions_gate_finite_and_physical() -> None:
    assert g.predictions_gate(np.array([0.0, 1.0, 2.0]), 0.0, None).passed
    assert not g.predictions_gate(np.array([0.0, np.inf]), 0.0, None).passed
    assert not g.predictions_gate(np.array([0.0, np.nan]), None, None).passed
    assert not g.predictions_gate(np.array([-0.1, 0.5]), 0.0, 1.0).passed
    assert not g.predictions_gate(np.array([0.2, 1.5]), 0.0, 1.0).passed
    peak = np.array([10.0, 10.0])
    assert g.predictions_gate(np.array([5.0, 25.0]), 0.0, None, peak, 3.0).passed
    assert not g.predictions_gate(np.array([5.0, 35.0]), 0.0, None, peak, 3.0).passed
    assert not g.predictions_gate(np.array([]), 0.0, None).passed


def test_latency_gate_uses_the_median() -> None:
    assert g.latency_gate([1.0, 2.0, 100.0], 5.0).passed
    assert not g.latency_gate([10.0, 20.0, 1.0], 5.0).passed


def test_data_gates() -> None:
    end = pd.Timestamp("2024-03-11", tz="UTC")
    assert g.staleness_gate(end - pd.Timedelta(days=7), end, 14).passed
    assert not g.staleness_gate(end - pd.Timedelta(days=30), end, 14).passed
    assert not g.staleness_gate(None, end, 14).passed
    start = pd.Timestamp("2024-03-04", tz="UTC")
    assert g.unseen_gate(start - pd.Timedelta(hours=1), start).passed
    assert not g.unseen_gate(start, start).passed
    assert g.contracts_gate([]).passed and not g.contracts_gate(["readings: bad"]).passed
    assert g.contracts_gate(None).passed


def test_all_passed_needs_at_least_one_gate() -> None:
    ok = g.GateResult("a", "data", True, "")
    assert g.all_passed([ok]) and not g.all_passed([])
    assert not g.all_passed([ok, g.GateResult("b", "data", False, "")])
