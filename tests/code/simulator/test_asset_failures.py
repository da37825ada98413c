"""Transformer failures (features/simulator/assets.py): the hazard is calibrated to the configured
annual failure rate, about a quarter of failures are sudden, the hazard rises with ageing and
overload, and dissolved gases announce the other failures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.features.simulator.assets import POWER_FACTOR, simulate_assets, thermal
from gridml.features.simulator.config import AssetConfig

SUDDEN = {"lightning"}


def synthetic_fleet(n: int, days: int, seed: int = 0):
    """A fleet like the generator's: evening-peaking load, 15% of units loaded past their
    rating at peak (a few of them far past it), ages 1..35 years, tropical ambient."""
    rng = np.random.default_rng(seed)
    hours = days * 24
    hour = np.arange(hours) % 24
    shape = 0.45 + 0.55 * np.exp(-(((hour - 20) / 3.0) ** 2))  # peak 1.0 at 20 h
    overloaded = rng.random(n) < 0.15
    peak = np.where(overloaded, rng.uniform(1.05, 1.35, n), rng.uniform(0.5, 0.9, n))
    peak[overloaded & (rng.random(n) < 0.3)] = 1.8  # far past the rating: extreme stress
    rating = np.full(n, 100.0)
    noise = rng.lognormal(0.0, 0.08, (n, hours))
    load_kw = peak[:, None] * shape[None, :] * rating[:, None] * POWER_FACTOR * noise
    ambient = 27.0 + 4.0 * np.cos(2 * np.pi * (hour - 15) / 24)[None, :].repeat(n, axis=0)
    age = rng.integers(1, 36, size=n)
    utc = pd.date_range("2024-01-01", periods=hours, freq="h", tz="UTC")
    ids = np.array([f"T{i:05d}" for i in range(n)])
    return ids, age, thermal(load_kw, rating), ambient, utc, overloaded


FLEET_UNITS, FLEET_DAYS = 200, 365


@pytest.fixture(scope="module")
def fleet():
    return synthetic_fleet(FLEET_UNITS, FLEET_DAYS)


def failure_counts(fleet, rate: float, seeds: range) -> list[int]:
    ids, age, state, ambient, utc, _ = fleet
    cfg = AssetConfig(annual_failure_rate=rate)
    return [
        len(simulate_assets(ids, age, state, ambient, utc, cfg, np.random.default_rng(s)).failures)
        for s in seeds
    ]


@pytest.fixture(scope="module")
def fleet_runs(fleet):
    """Failures of the fleet over a year at 30%/year, for four random seeds."""
    ids, age, state, ambient, utc, overloaded = fleet
    cfg = AssetConfig(annual_failure_rate=0.3)
    runs = [
        simulate_assets(ids, age, state, ambient, utc, cfg, np.random.default_rng(seed))
        for seed in range(4)
    ]
    units = pd.DataFrame({"transformer_id": ids, "age": age, "overloaded": overloaded})
    return runs, units, cfg, FLEET_UNITS * FLEET_DAYS / 365.25


@pytest.mark.slow  # simulates a fleet over years (or the medium zone)
def test_failure_rate_matches_the_configured_rate(fleet_runs):
    """Failed units are replaced by new ones; the expected count still matches the rate (it
    fell to a fifth of it when the hazard was calibrated on the installed units alone)."""
    runs, _, cfg, unit_years = fleet_runs
    rate = np.mean([len(h.failures) for h in runs]) / unit_years
    # 4 x 60 expected failures: +-20% is about 3 standard errors
    assert 0.8 * cfg.annual_failure_rate < rate < 1.2 * cfg.annual_failure_rate, rate


@pytest.mark.slow  # simulates a fleet over years, several seeds
@pytest.mark.parametrize(("rate", "seeds"), [(0.05, 8), (0.5, 2)])
def test_failure_rate_is_calibrated_at_low_and_high_rates(fleet, rate, seeds):
    counts = failure_counts(fleet, rate, range(10, 10 + seeds))
    unit_years = FLEET_UNITS * FLEET_DAYS / 365.25
    observed = np.mean(counts) / unit_years
    tolerance = 3.5 / np.sqrt(rate * unit_years * seeds)  # about 3.5 Poisson standard errors
    assert abs(observed / rate - 1) < max(0.1, tolerance), (observed, rate)


def test_no_failures_at_a_zero_rate():
    ids, age, state, ambient, utc, _ = synthetic_fleet(50, 60)
    hist = simulate_assets(
        ids,
        age,
        state,
        ambient,
        utc,
        AssetConfig(annual_failure_rate=0.0),
        np.random.default_rng(0),
    )
    assert hist.failures.empty and not hist.repairs


@pytest.mark.slow  # simulates a fleet over years (or the medium zone)
def test_about_a_quarter_of_failures_are_sudden(fleet_runs):
    runs, *_ = fleet_runs
    modes = pd.concat([h.failures for h in runs])["failure_mode"]
    assert set(modes) <= {"lightning", "insulation_ageing", "overload", "winding_fault"}
    assert 0.15 < modes.isin(SUDDEN).mean() < 0.35
    assert modes.nunique() == 4


@pytest.mark.slow  # simulates a fleet over years (or the medium zone)
def test_old_and_overloaded_units_fail_more(fleet_runs):
    """Share of units failing at least once: old vs young units among those within their
    rating (used insulation life), and overloaded vs the others."""
    runs, units, *_ = fleet_runs
    failed = np.mean([units["transformer_id"].isin(h.failures["transformer_id"]) for h in runs], 0)
    within = ~units["overloaded"].to_numpy()
    old = failed[within & (units["age"] >= 25).to_numpy()].mean()
    young = failed[within & (units["age"] <= 10).to_numpy()].mean()
    assert old > 2 * young, (old, young)
    assert failed[~within].mean() > 2 * failed[within].mean()


@pytest.mark.slow  # simulates a fleet over years (or the medium zone)
def test_a_replaced_unit_restarts_its_ageing(fleet_runs):
    runs, *_ = fleet_runs
    hist = runs[0]
    replaced = [(i, back) for i, _, back in hist.repairs if back < hist.aged_hours.shape[1]]
    assert replaced
    for i, back in replaced:
        assert hist.aged_hours[i, back] < hist.aged_hours[i, back - 1]
        assert hist.aged_hours[i, back] < 24 * 1000  # a new unit: under a day of heavy ageing


# --------------------------------------------------------------------------- generated zone


@pytest.mark.slow  # simulates a fleet over years (or the medium zone)
def test_zone_failure_rate_is_plausible(medium_data, medium_zone_cfg):
    failures = medium_data["failures"]
    unit_years = len(medium_data["transformers"]) * medium_zone_cfg.days / 365.25
    rate = len(failures) / unit_years
    configured = medium_zone_cfg.assets.annual_failure_rate
    assert 0.3 * configured < rate < 3 * configured, rate
    assert failures["timestamp"].between(medium_data.start, medium_data.end).all()


@pytest.mark.slow  # simulates a fleet over years (or the medium zone)
def test_failing_transformers_are_older_and_more_loaded(medium_data):
    tr = medium_data["transformers"]
    failing = tr["transformer_id"].isin(medium_data["failures"]["transformer_id"]).to_numpy()
    assert failing.sum() >= 10
    age = medium_data.start.year - tr["commissioned_year"]
    assert age[failing].mean() > age[~failing].mean() + 2, (age[failing].mean(), age.mean())
    loading = medium_data.matrix("transformer_telemetry", "loading_pct")
    overload_share = (loading > 100).mean(axis=1)
    assert overload_share[failing].mean() > overload_share[~failing].mean()


@pytest.mark.slow  # simulates a fleet over years (or the medium zone)
def test_dissolved_gases_rise_before_gradual_failures(medium_data):
    """H2 and C2H2 in the 3 days before a non-sudden failure exceed 3x the unit's own level a
    month earlier (before any incipient fault can start)."""
    dga = medium_data["transformer_dga"].set_index(["transformer_id", "timestamp"]).sort_index()
    checked = 0
    for f in medium_data["failures"].itertuples():
        if f.failure_mode in SUDDEN:
            continue
        gases = dga.loc[f.transformer_id]
        days_before = (f.timestamp - gases.index) / pd.Timedelta(days=1)
        recent = gases[(days_before > 0) & (days_before <= 3)]
        baseline = gases[(days_before > 35) & (days_before <= 65)]
        if len(baseline) < 20 or not len(recent):
            continue
        checked += 1
        for gas in ("h2_ppm", "c2h2_ppm"):
            assert recent[gas].mean() > 3 * baseline[gas].median(), (f, gas)
    assert checked >= 5


@pytest.mark.slow  # simulates a fleet over years (or the medium zone)
def test_gases_stay_below_fault_levels_for_most_healthy_days(medium_data):
    dga = medium_data["transformer_dga"]
    # IEEE C57.104 condition-1 limits: a healthy fleet is mostly below them
    assert (dga["h2_ppm"] < 100).mean() > 0.9
    assert (dga["c2h2_ppm"] < 1).mean() > 0.8
