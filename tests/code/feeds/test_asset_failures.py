"""Transformer failures (features/feeds/assets.py): the hazard is calibrated to the configured
annual failure rate, about a quarter of failures are sudden, the hazard rises with ageing and
overload, and dissolved gases announce the other failures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.features.feeds.assets import POWER_FACTOR, simulate_assets, thermal
from gridml.features.feeds.config import AssetConfig

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


@pytest.fixture(scope="module")
def fleet_runs():
    """Failures of a 400-unit fleet over two years at 10%/year, for four random seeds."""
    ids, age, state, ambient, utc, overloaded = synthetic_fleet(400, 730)
    cfg = AssetConfig(annual_failure_rate=0.1)
    runs = [
        simulate_assets(ids, age, state, ambient, utc, cfg, np.random.default_rng(seed))
        for seed in range(4)
    ]
    units = pd.DataFrame({"transformer_id": ids, "age": age, "overloaded": overloaded})
    return runs, units, cfg, 400 * 730 / 365.25


def test_failure_rate_matches_the_configured_rate(fleet_runs):
    runs, _, cfg, unit_years = fleet_runs
    rate = np.mean([len(h.failures) for h in runs]) / unit_years
    # 4 x 80 expected failures: +-20% is more than 3 standard errors
    assert 0.8 * cfg.annual_failure_rate < rate < 1.2 * cfg.annual_failure_rate, rate


@pytest.mark.parametrize("rate", [0.02, 0.5])
def test_failure_rate_is_calibrated_at_low_and_high_rates(rate):
    ids, age, state, ambient, utc, _ = synthetic_fleet(300, 365, seed=1)
    cfg = AssetConfig(annual_failure_rate=rate)
    reps = 12 if rate < 0.1 else 3
    counts = [
        len(simulate_assets(ids, age, state, ambient, utc, cfg, np.random.default_rng(s)).failures)
        for s in range(reps)
    ]
    observed = np.mean(counts) / 300
    expected_total = rate * 300 * reps
    tolerance = 3.5 / np.sqrt(expected_total)  # relative, about 3.5 Poisson standard errors
    assert abs(observed / rate - 1) < max(0.1, tolerance), (observed, rate)


def test_no_failures_at_a_zero_rate():
    ids, age, state, ambient, utc, _ = synthetic_fleet(50, 60)
    hist = simulate_assets(ids, age, state, ambient, utc, AssetConfig(annual_failure_rate=0.0),
                           np.random.default_rng(0))  # fmt: skip
    assert hist.failures.empty and not hist.repairs


def test_about_a_quarter_of_failures_are_sudden(fleet_runs):
    runs, *_ = fleet_runs
    modes = pd.concat([h.failures for h in runs])["failure_mode"]
    assert set(modes) <= {"lightning", "insulation_ageing", "overload", "winding_fault"}
    assert 0.15 < modes.isin(SUDDEN).mean() < 0.35
    assert modes.nunique() == 4


def test_old_and_overloaded_units_fail_more(fleet_runs):
    runs, units, *_ = fleet_runs
    failures = pd.concat([h.failures for h in runs])
    per_unit = failures.groupby("transformer_id").size().reindex(units["transformer_id"])
    units = units.assign(failures=per_unit.fillna(0).to_numpy())
    old = units.loc[units["age"] >= 25, "failures"].mean()
    young = units.loc[units["age"] <= 10, "failures"].mean()
    assert old > 1.5 * young, (old, young)
    hot = units.loc[units["overloaded"], "failures"].mean()
    cool = units.loc[~units["overloaded"], "failures"].mean()
    assert hot > 1.5 * cool, (hot, cool)


def test_a_replaced_unit_restarts_its_ageing(fleet_runs):
    runs, *_ = fleet_runs
    hist = runs[0]
    replaced = [(i, back) for i, _, back in hist.repairs if back < hist.aged_hours.shape[1]]
    assert replaced
    for i, back in replaced:
        assert hist.aged_hours[i, back] < hist.aged_hours[i, back - 1]
        assert hist.aged_hours[i, back] < 24 * 1000  # a new unit: under a day of heavy ageing


# --------------------------------------------------------------------------- generated zone


def test_zone_failure_rate_is_plausible(medium_data, medium_zone_cfg):
    failures = medium_data["failures"]
    unit_years = len(medium_data["transformers"]) * medium_zone_cfg.days / 365.25
    rate = len(failures) / unit_years
    configured = medium_zone_cfg.assets.annual_failure_rate
    assert 0.3 * configured < rate < 3 * configured, rate
    assert failures["timestamp"].between(medium_data.start, medium_data.end).all()


def test_failing_transformers_are_older_and_more_loaded(medium_data):
    tr = medium_data["transformers"]
    failing = tr["transformer_id"].isin(medium_data["failures"]["transformer_id"]).to_numpy()
    assert failing.sum() >= 10
    age = medium_data.start.year - tr["commissioned_year"]
    assert age[failing].mean() > age[~failing].mean() + 2, (age[failing].mean(), age.mean())
    loading = medium_data.matrix("transformer_telemetry", "loading_pct")
    overload_share = (loading > 100).mean(axis=1)
    assert overload_share[failing].mean() > overload_share[~failing].mean()


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


def test_gases_stay_below_fault_levels_for_most_healthy_days(medium_data):
    dga = medium_data["transformer_dga"]
    # IEEE C57.104 condition-1 limits: a healthy fleet is mostly below them
    assert (dga["h2_ppm"] < 100).mean() > 0.9
    assert (dga["c2h2_ppm"] < 1).mean() > 0.8
