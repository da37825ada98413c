"""PSI and KS on tiny seeded samples: zero for identical data, large for shifted data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.mlops.drift import feature_drift, ks, psi


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


def test_identical_samples_do_not_drift(rng: np.random.Generator) -> None:
    x = rng.normal(size=500)
    assert psi(x, x) == pytest.approx(0.0, abs=1e-9)
    assert ks(x, x) == 0.0


def test_same_distribution_stays_below_thresholds(rng: np.random.Generator) -> None:
    a, b = rng.normal(size=2000), rng.normal(size=2000)
    assert psi(a, b) < 0.1
    assert ks(a, b) < 0.1


def test_shifted_distribution_drifts(rng: np.random.Generator) -> None:
    a, b = rng.normal(size=2000), rng.normal(loc=1.0, size=2000)
    assert psi(a, b) > 0.25
    assert ks(a, b) > 0.3


def test_ks_matches_a_hand_computed_case() -> None:
    # CDFs of [1, 2, 3] and [2, 3, 4] differ by at most 1/3
    assert ks([1, 2, 3], [2, 3, 4]) == pytest.approx(1 / 3)
    assert ks([1, 2], [5, 6]) == 1.0


def test_discrete_feature_and_new_category() -> None:
    ref = np.array([0, 1] * 100)
    assert psi(ref, ref) == pytest.approx(0.0, abs=1e-9)
    assert psi(ref, np.array([0, 1, 2] * 60)) > 0.25  # a value never seen in training


def test_nan_and_empty() -> None:
    assert np.isnan(psi([], [1.0]))
    assert np.isnan(ks([np.nan], [1.0]))
    assert psi([1.0, np.nan, 2.0] * 20, [1.0, 2.0] * 20) == pytest.approx(0.0, abs=1e-9)


def test_feature_drift_table(rng: np.random.Generator) -> None:
    ref = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400), "s": "x"})
    cur = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(2.0, size=400), "s": "y"})
    out = feature_drift(ref, cur)
    assert list(out["feature"]) == ["b", "a"]  # worst first; strings skipped
    assert out.set_index("feature")["drifted"].to_dict() == {"b": True, "a": False}
    assert not feature_drift(ref, cur, exclude=["b"]).set_index("feature")["drifted"]["b"]
    assert not feature_drift(ref.head(10), cur.head(10), min_rows=30)["judged"].any()
