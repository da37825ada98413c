"""Pure parts of theft model choice and features: the family chosen by validation, the split's
strata and folds, and the hourly-noise feature that exposes per-hour tampering."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.features.simulator.theft import apply_attack
from gridml.features.tables.meter import hour_noise
from gridml.training.platt import Platt
from gridml.training.theft.config import TheftConfig
from gridml.training.theft.dataset import TheftSamples, split
from gridml.training.theft.models import CrossFitted, choose_family


def _fitted(name: str, val: float) -> CrossFitted:
    return CrossFitted(name=name, members=[], calibration=Platt(), validation_pr_auc=val)


def test_the_higher_validation_pr_auc_serves_and_a_tie_goes_to_the_preferred() -> None:
    wd, gbm = _fitted("wide_deep", 0.90), _fitted("lightgbm", 0.93)
    assert choose_family([wd, gbm]).name == "lightgbm"
    assert choose_family([_fitted("wide_deep", 0.95), gbm]).name == "wide_deep"
    tie = [_fitted("lightgbm", 0.9), _fitted("wide_deep", 0.9)]
    assert choose_family(tie, preferred="wide_deep").name == "wide_deep"
    assert choose_family(tie, preferred="lightgbm").name == "lightgbm"


def _samples(rng: np.random.Generator, per_type: int = 7, honest: int = 60) -> TheftSamples:
    meters, kinds = [], []
    for kind in ["", "h1", "h3", "h5"]:
        n = honest if kind == "" else per_type
        meters += [f"{kind or 'ok'}-{i}" for i in range(n)]
        kinds += [kind] * n
    days = pd.date_range("2025-01-01", periods=10, freq="7D", tz="UTC")
    meta = pd.DataFrame(
        [
            (m, "t1", d, int(k != "" and j >= 3), k if (k and j >= 3) else "")
            for m, k in zip(meters, kinds, strict=True)
            for j, d in enumerate(days)
        ],
        columns=["meter_id", "transformer_id", "event_timestamp", "label", "attack_type"],
    )
    n = len(meta)
    feats = pd.DataFrame({"x": rng.normal(size=n)})
    return TheftSamples(meta, feats, np.ones((n, 14)), np.zeros((n, 14)))


def test_split_folds_partition_by_meter_with_each_attack_type_in_each_part() -> None:
    s = _samples(np.random.default_rng(0))
    cfg = TheftConfig(weeks=2, test_share=0.4, folds=3, test_days=21)
    parts = split(s, cfg)
    meta = s.meta
    test_m = set(meta["meter_id"].iloc[parts.test])
    val_sets = [set(meta["meter_id"].iloc[va]) for _, va in parts.folds]
    for (fit, va), members in zip(parts.folds, val_sets, strict=True):
        assert not members & set(meta["meter_id"].iloc[fit])  # disjoint by meter
        assert not members & test_m
        kinds = set(meta["attack_type"].iloc[va])
        assert {"h1", "h3", "h5"} <= kinds  # every fold validates on every attack type
    assert sum(len(v) for v in val_sets) == len(set.union(*val_sets))  # folds disjoint
    early = np.flatnonzero(~meta.index.isin(parts.test) & ~meta["meter_id"].isin(test_m))
    early = early[meta["event_timestamp"].iloc[early] <= parts.cutoff]
    np.testing.assert_array_equal(parts.validated, early)  # every training sample validated once
    test_kinds = meta.iloc[parts.test].groupby("attack_type")["meter_id"].nunique()
    for kind in ("h1", "h3", "h5"):
        assert test_kinds[kind] == round(0.4 * 7)  # strata: the same share of each type


def test_one_fold_keeps_a_single_validation_part() -> None:
    s = _samples(np.random.default_rng(1))
    parts = split(s, TheftConfig(weeks=2, test_share=0.4, folds=1, val_share=0.25, test_days=21))
    assert len(parts.folds) == 1
    np.testing.assert_array_equal(parts.folds[0][1], parts.val)
    assert len(set(s.meta["meter_id"].iloc[parts.val])) < 0.5 * s.meta["meter_id"].nunique()


@pytest.mark.parametrize(("attack", "raised"), [("h3", True), ("h4", True), ("h1", False)])
def test_hour_noise_rises_when_hours_are_tampered_one_by_one(attack: str, raised: bool) -> None:
    rng = np.random.default_rng(3)
    days = 90
    shape = np.tile(0.5 + 0.4 * np.sin(np.arange(24) / 24 * 2 * np.pi), days)
    honest = shape * rng.lognormal(0, 0.3, days * 24)
    stolen = apply_attack(honest, 60 * 24, attack, rng)
    both = np.stack([honest, stolen]).reshape(2, days, 24)
    out = hour_noise(both, np.zeros_like(both))["hour_noise_7d"]
    before, after = out[:, 55], out[:, 80]
    assert before[1] == pytest.approx(before[0])  # identical until the theft starts
    assert bool(after[1] > 1.5 * after[0]) is raised


def test_hour_noise_leaves_out_interrupted_hours() -> None:
    rng = np.random.default_rng(4)
    days = 40
    x = np.tile(1.0 + np.sin(np.arange(24) / 24 * 2 * np.pi), days) * rng.lognormal(
        0, 0.2, days * 24
    )
    cut = x.copy()
    cut[35 * 24 : 35 * 24 + 5] = 0.0  # a 5-hour outage: zero readings
    interrupted = np.zeros(days * 24)
    interrupted[35 * 24 : 35 * 24 + 5] = 1.0
    out = hour_noise(cut.reshape(1, days, 24), interrupted.reshape(1, days, 24))["hour_noise_day"]
    plain = hour_noise(x.reshape(1, days, 24), np.zeros((1, days, 24)))["hour_noise_day"]
    assert abs(out[0, 35] - plain[0, 35]) < 0.1
    assert np.isnan(out[0, :14]).all()  # no profile yet
