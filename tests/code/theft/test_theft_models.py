"""Theft models on the medium zone: better than chance on unseen meters, react to a meter
bypass (h1) more than to a supply outage, deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.training.theft import dataset
from gridml.training.theft.metrics import roc_auc
from gridml.training.theft.models import LightGBMTheft, WideDeepTheft, reason_codes

# the medium zone's samples and torch training: integration, slow
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_wide_deep_beats_random_on_held_out_meters(wide_deep, theft_samples, theft_split):
    test = theft_samples.take(theft_split.test)
    p = wide_deep.predict_proba(test)
    assert ((p >= 0) & (p <= 1)).all()
    assert roc_auc(test.labels, p) > 0.7


def test_lightgbm_beats_random(theft_samples, theft_split, theft_cfg):
    s = theft_samples
    model = LightGBMTheft(theft_cfg).fit(s.take(theft_split.train), s.take(theft_split.val))
    test = s.take(theft_split.test)
    assert roc_auc(test.labels, model.predict_proba(test)) > 0.7


def _last_day_honest(samples: dataset.TheftSamples, split) -> dataset.TheftSamples:
    test = samples.take(split.test)
    last = test.meta["event_timestamp"].max()
    return test.take(np.flatnonzero((test.meta["event_timestamp"] == last) & (test.labels == 0)))


def _refresh(s: dataset.TheftSamples, raw, outage, peers=None) -> pd.DataFrame:
    feats = s.features.copy()
    for k, v in dataset.own_series_features(raw).items():
        feats[k] = v
    if peers is not None:
        feats["peer_change_7d_28d"] = peers
    feats["change_vs_peers"] = feats["kwh_change_7d_28d"] - feats["peer_change_7d_28d"]
    return feats


def test_h1_attack_raises_score_more_than_outage(wide_deep, theft_samples, theft_split):
    honest = _last_day_honest(theft_samples, theft_split)
    base = wide_deep.predict_proba(honest)
    # h1 on the last 3 weeks: the meter records 30% of the energy
    raw = honest.raw.copy()
    raw[:, -21:] *= 0.3
    attacked = honest.with_days(raw, honest.outage, _refresh(honest, raw, honest.outage))
    rise_h1 = wide_deep.predict_proba(attacked) - base
    # outage of 3 days on every meter of each transformer (peers included)
    raw = honest.raw.copy()
    raw[:, -3:] = 0.0
    outage = honest.outage.copy()
    outage[:, -3:] = 24.0
    own = dataset.own_series_features(raw)["kwh_change_7d_28d"]
    peers = pd.Series(own).groupby(honest.meta["transformer_id"].to_numpy()).transform("median")
    feats = _refresh(honest, raw, outage, peers.to_numpy())
    feats["outage_hours_day"] = 24.0
    feats["zero_hours_day"] = 24.0
    feats[["night_share_day", "flatness_day"]] = np.nan
    rise_out = wide_deep.predict_proba(honest.with_days(raw, outage, feats)) - base
    assert rise_h1.mean() > 0.1
    assert np.median(rise_h1) > 0
    assert rise_out.mean() < rise_h1.mean() / 2


def test_wide_deep_is_deterministic(theft_samples, theft_split, theft_cfg):
    cfg = theft_cfg.model_copy(
        update={"wide_deep": theft_cfg.wide_deep.model_copy(update={"epochs": 2})}
    )
    train = theft_samples.take(theft_split.train[::3])
    val = theft_samples.take(theft_split.val)
    test = theft_samples.take(theft_split.test[:200])
    a = WideDeepTheft(cfg).fit(train, val).predict_proba(test)
    b = WideDeepTheft(cfg).fit(train, val).predict_proba(test)
    np.testing.assert_array_equal(a, b)


def test_reason_codes_explain_thieves(theft_samples, theft_split):
    train = theft_samples.take(theft_split.train)
    honest = train.take(np.flatnonzero(train.labels == 0))
    test = theft_samples.take(theft_split.test)
    thieves = test.take(np.flatnonzero(test.labels == 1))
    codes = reason_codes(thieves, honest, top=3)
    assert len(codes) == len(thieves)
    assert np.mean([bool(c) for c in codes]) > 0.5
    for c in codes:
        assert len(c) <= 3 and [r["tail"] for r in c] == sorted(r["tail"] for r in c)
        assert all(isinstance(r["text"], str) and r["text"] for r in c)
