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


def test_feature_families_group_lags_and_windows_only() -> None:
    from gridml.mlops.drift import feature_family

    assert feature_family("load_001h_ago") == feature_family("load_168h_ago") == "load_Nh_ago"
    assert feature_family("kwh_day_mean_7d") == feature_family("kwh_day_mean_28d")
    assert feature_family("loss_ratio") != feature_family("loss_ratio_7d")
    assert feature_family("c2h2_ppm") != feature_family("c2h4_ppm")  # gases stay apart


def _levels(rng: np.random.Generator, days: int, shift: float = 1.0) -> pd.DataFrame:
    """168 lag columns of 50 transformers (small loads) and 1 zone (large load) per day."""
    frames = []
    for level, n, scale in (("transformer", 50, 10.0), ("zone", 1, 600.0)):
        base = rng.gamma(4.0, scale / 4.0, size=(n * days, 1))
        lags = base * rng.uniform(0.8, 1.2, size=(n * days, 168)) * shift
        frame = pd.DataFrame(lags, columns=[f"load_{k:03d}h_ago" for k in range(1, 169)])
        frames.append(frame.assign(level=level, meters=float(n)))
    return pd.concat(frames, ignore_index=True)


def test_unchanged_data_raises_no_family_alert(rng: np.random.Generator) -> None:
    from gridml.mlops.drift import NOT_ENOUGH, family_drift

    out = family_drift(_levels(rng, 60), _levels(rng, 7), min_rows=100)
    assert not out["drifted"].any(), out
    verdicts = out.set_index(["level", "family"])["verdict"]
    assert verdicts[("transformer", "load_Nh_ago")] == "stable"  # one verdict for 168 lags
    assert verdicts[("zone", "load_Nh_ago")] == NOT_ENOUGH  # 7 rows cannot carry a verdict
    assert len(out) == 4  # 2 levels x 2 families, never 168 rows


def test_shifted_loads_drift_at_the_level_with_enough_rows(rng: np.random.Generator) -> None:
    from gridml.mlops.drift import family_drift

    out = family_drift(_levels(rng, 60), _levels(rng, 7, shift=1.5), min_rows=100)
    drifted = out[out["drifted"]]
    assert list(zip(drifted["level"], drifted["family"], strict=True)) == [
        ("transformer", "load_Nh_ago")
    ]


def test_online_skew_compares_values_pair_by_pair() -> None:
    from gridml.mlops.drift import online_skew

    offline = pd.DataFrame(
        {"level": ["a"] * 4, "x_24h": [1.0, 2.0, 3.0, np.nan], "y": [1.0, 1.0, 1.0, 1.0]}
    )
    online = offline.assign(y=[1.0, 1.0, 5.0, 1.0])  # one stale value of y
    out = online_skew(offline, online, max_share=0.01).set_index("family")
    assert out.loc["y", "mismatched"] == 1 and out.loc["y", "skewed"]
    assert out.loc["x_Nh", "mismatched"] == 0 and out.loc["x_Nh", "n"] == 3
    assert not online_skew(offline, offline)["skewed"].any()


def test_a_recent_episode_like_those_in_training_is_not_drift(rng: np.random.Generator) -> None:
    """Outage hours: one period in six of the training window is a load-shedding episode; a
    recent window inside such an episode is what training saw, not drift. Consumption, steady
    in training, scaled by 1.5 is drift."""
    from gridml.mlops.drift import family_drift

    stamps = pd.date_range("2024-01-01", periods=60, freq="10D", tz="UTC")
    episode = np.isin(np.arange(60), np.arange(20, 30))
    ref = pd.DataFrame(
        {
            "event_timestamp": np.repeat(stamps, 50),
            "outage_hours_day": rng.poisson(np.repeat(np.where(episode, 6.0, 0.5), 50)),
            "kwh_day": rng.gamma(4.0, 2.0, size=3000),
        }
    )
    recent = pd.DataFrame(
        {"outage_hours_day": rng.poisson(6.0, size=500), "kwh_day": rng.gamma(4.0, 3.0, 500)}
    )
    out = family_drift(ref, recent, min_rows=100).set_index("family")
    outage = out.loc["outage_hours_day"]
    assert outage["psi"] > 0.25 and outage["natural_psi"] > outage["psi"]
    assert not outage["drifted"] and out.loc["kwh_day", "drifted"]
    plain = family_drift(ref.drop(columns="event_timestamp"), recent, min_rows=100)
    plain = plain.set_index("family").loc["outage_hours_day"]
    assert plain["drifted"] and plain["natural_psi"] == 0  # without stamps: thresholds only
