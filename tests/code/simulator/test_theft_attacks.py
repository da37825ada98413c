"""Unit tests of the six Jokar theft attacks (features/simulator/theft.py `apply_attack`)."""

from __future__ import annotations

import numpy as np
import pytest

from gridml.features.contracts import THEFT_ATTACKS
from gridml.features.simulator.theft import apply_attack

DAYS, START_DAY = 200, 3
START = START_DAY * 24


@pytest.fixture(scope="module")
def honest() -> np.ndarray:
    """A strictly positive hourly series with an uneven shape inside each day."""
    rng = np.random.default_rng(0)
    shape = 0.5 + np.sin(np.linspace(0, np.pi, 24)) ** 2 + np.linspace(0, 0.3, 24)
    return np.tile(shape, DAYS) * rng.lognormal(0.0, 0.3, DAYS * 24)


def attacked(x: np.ndarray, attack: str, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(honest days, attacked days) from the theft start, each (days, 24)."""
    out = apply_attack(x, START, attack, np.random.default_rng(seed))
    return x[START:].reshape(-1, 24), out[START:].reshape(-1, 24)


@pytest.mark.parametrize("attack", THEFT_ATTACKS)
def test_days_before_start_are_untouched_and_input_is_not_mutated(honest, attack):
    before = honest.copy()
    out = apply_attack(honest, START, attack, np.random.default_rng(1))
    np.testing.assert_array_equal(honest, before)
    assert out.shape == honest.shape
    np.testing.assert_array_equal(out[:START], honest[:START])
    assert (out >= 0).all()
    assert not np.allclose(out[START:], honest[START:]), "the attack changed nothing"


@pytest.mark.parametrize("attack", THEFT_ATTACKS)
def test_attack_from_the_first_hour_and_from_the_last_day(honest, attack):
    whole = apply_attack(honest, 0, attack, np.random.default_rng(2))
    assert not np.allclose(whole[:24], honest[:24])
    last = apply_attack(honest, len(honest) - 24, attack, np.random.default_rng(2))
    np.testing.assert_array_equal(last[:-24], honest[:-24])


def test_h1_scales_each_day_by_one_factor_in_range(honest):
    x, y = attacked(honest, "h1")
    ratio = y / x
    np.testing.assert_allclose(ratio, ratio[:, :1].repeat(24, axis=1), rtol=1e-9)
    factors = ratio[:, 0]
    assert factors.min() >= 0.1 and factors.max() <= 0.8
    # drawn per day over the whole range, not one factor for the whole period
    assert factors.min() < 0.2 and factors.max() > 0.7
    assert len(np.unique(factors.round(9))) == len(factors)


def test_h2_zeroes_one_window_of_4_to_12_consecutive_hours(honest):
    x, y = attacked(honest, "h2")
    lengths = []
    for day_x, day_y in zip(x, y, strict=True):
        zero = np.flatnonzero(day_y == 0.0)
        assert 4 <= len(zero) <= 12
        assert (np.diff(zero) == 1).all(), f"zeros not one window: {zero}"
        keep = day_y != 0.0
        np.testing.assert_array_equal(day_y[keep], day_x[keep])
        lengths.append(len(zero))
    assert min(lengths) == 4 and max(lengths) == 12, "window lengths do not span 4..12 hours"
    starts = [np.flatnonzero(d == 0.0)[0] for d in y]
    assert len(set(starts)) > 5, "the window should start at a random hour"


def test_h3_scales_each_hour_by_its_own_factor_in_range(honest):
    x, y = attacked(honest, "h3")
    ratio = y / x
    assert ratio.min() >= 0.1 and ratio.max() <= 0.8
    assert ratio.min() < 0.15 and ratio.max() > 0.75
    assert (ratio.std(axis=1) > 0.05).all(), "factors must vary within a day"


def test_h4_is_an_hourly_factor_times_the_daily_mean(honest):
    x, y = attacked(honest, "h4")
    ratio = y / x.mean(axis=1, keepdims=True)
    assert ratio.min() >= 0.1 - 1e-12 and ratio.max() <= 0.8 + 1e-12
    assert (ratio.std(axis=1) > 0.05).all()
    # the shape of the day is gone: recorded hours do not follow the honest ones
    corr = np.corrcoef(x.reshape(-1), y.reshape(-1))[0, 1]
    assert abs(corr) < 0.5


def test_h5_records_the_daily_mean_every_hour(honest):
    x, y = attacked(honest, "h5")
    np.testing.assert_allclose(y, x.mean(axis=1, keepdims=True).repeat(24, axis=1))
    np.testing.assert_allclose(y.sum(axis=1), x.sum(axis=1))


def test_h6_reverses_each_day(honest):
    x, y = attacked(honest, "h6")
    np.testing.assert_array_equal(y, x[:, ::-1])


@pytest.mark.parametrize("attack", ["h1", "h2", "h3", "h4"])
def test_reducing_attacks_record_less_than_consumed(honest, attack):
    x, y = attacked(honest, attack)
    assert y.sum() < 0.9 * x.sum()
    assert (y.sum(axis=1) <= x.sum(axis=1) + 1e-9).all()


def test_unknown_attack_is_refused(honest):
    with pytest.raises(ValueError, match="unknown attack"):
        apply_attack(honest, START, "h7", np.random.default_rng(0))
