"""The one Platt calibrator of the binary classifiers (transformer failure, theft)."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from gridml.training.platt import Platt


def _sample(n: int, a: float, b: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logit = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(a * logit + b)))).astype(float)
    return logit, y


def test_recovers_slope_and_intercept() -> None:
    logit, y = _sample(4000, 2.0, -1.0)
    platt = Platt.fit(logit, y)
    assert platt.a == pytest.approx(2, abs=0.2) and platt.b == pytest.approx(-1, abs=0.2)


def test_calibrated_brier_beats_the_miscalibrated_score() -> None:
    logit, y = _sample(4000, 0.5, -2.0, seed=1)  # raw logits four times too confident, shifted
    raw = 1 / (1 + np.exp(-logit))
    p = Platt.fit(logit, y)(logit)
    assert np.mean((p - y) ** 2) < np.mean((raw - y) ** 2) - 0.05


def test_slope_is_bounded_and_mean_matches_smoothed_targets_when_separable() -> None:
    margin = np.r_[np.linspace(-30, -1, 200), np.linspace(0.5, 1, 3)]
    y = np.r_[np.zeros(200), np.ones(3)]
    platt = Platt.fit(margin, y, max_slope=5)
    assert 0 < platt.a <= 5 and np.isfinite(platt.b)
    # the free intercept matches Platt's smoothed targets: 3 * 4/5 + 200 * 1/202
    assert platt(margin).sum() == pytest.approx(3 * 4 / 5 + 200 / 202, rel=1e-4)
    separable = Platt.fit(np.array([-1.0, -0.5, 0.5, 1.0]), np.array([0, 0, 1, 1]))
    assert np.isfinite([separable.a, separable.b]).all() and 0 < separable.a <= 5


def test_extreme_logits_raise_no_overflow_warning() -> None:
    logit = np.r_[-1e6, -800.0, -40.0, 0.0, 40.0, 800.0, 1e6]
    y = np.array([0, 0, 1, 0, 1, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        platt = Platt.fit(logit, y)
        p = platt(logit)
    assert np.isfinite([platt.a, platt.b]).all()
    assert np.all((p >= 0) & (p <= 1)) and np.all(np.diff(p) >= 0)  # ranking kept


def test_one_class_is_the_identity_and_bad_input_is_refused() -> None:
    assert Platt.fit(np.array([0.1, 2.0]), np.array([0, 0])) == Platt()
    assert Platt()(np.array([0.0])) == pytest.approx([0.5])
    with pytest.raises(ValueError, match="differ in shape"):
        Platt.fit(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="finite"):
        Platt.fit(np.array([0.0, np.nan]), np.array([0, 1]))


def test_theft_models_pickled_with_the_old_name_load() -> None:
    from gridml.training.theft import models

    assert models.Platt is Platt  # logged theft models pickled `...theft.models.Platt`
    restored = pickle.loads(pickle.dumps(Platt(2.0, -1.0)))
    assert restored(np.array([0.5])) == pytest.approx([0.5])
