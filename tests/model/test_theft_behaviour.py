"""Model-behaviour tests of the theft model, through its pyfunc input (what serving sends): an h1
attack (each day's consumption multiplied by a random factor in [0.1, 0.8], as the zone
generator's attack model) raises an honest meter's theft score; a supply outage alone (days of
zero kWh that the outage_lag columns mark as interrupted) does not, on many held-out meters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridml.training.theft import dataset
from gridml.training.theft.models import CrossFitted, WideDeepTheft
from gridml.training.theft.pipeline import TheftRunConfig
from gridml.training.theft.pyfunc import TheftDetectionModel, lag_columns, to_frame
from gridml.workspace import Workspace

pytestmark = pytest.mark.slow
SMALL = Path(__file__).resolve().parents[2] / "experiments" / "theft-small.yaml"
ATTACK_DAYS = 21  # h1 on the last three weeks of the window
OUTAGE_DAYS = 3  # a three-day interruption ending at the scoring day


@dataclass
class Trained:
    pyfunc: TheftDetectionModel
    honest: pd.DataFrame  # pyfunc input: honest held-out meters at every test scoring day
    stamps: np.ndarray  # the scoring day of each of those rows
    days: int


@pytest.fixture(scope="module")
def trained(medium_store: Workspace) -> Trained:
    cfg = TheftRunConfig.read_yaml(SMALL).model
    cfg = cfg.model_copy(update={"wide_deep": cfg.wide_deep.model_copy(update={"epochs": 8})})
    samples = dataset.attach_labels(
        dataset.build_samples(medium_store, cfg), dataset.read_labels(medium_store), cfg
    )
    parts = dataset.split(samples, cfg)
    train = samples.take(parts.train)
    model = WideDeepTheft(cfg).fit(train, samples.take(parts.val))
    served = CrossFitted("wide_deep", [model], model.calibration, float("nan"))
    pyfunc = TheftDetectionModel(served, list(samples.features.columns))
    state = {k: v.detach().cpu() for k, v in model.net.state_dict().items()}
    honest_train = train.take(np.flatnonzero(train.labels == 0))
    pyfunc._build([state], honest_train.features.astype("float64").reset_index(drop=True))
    test = samples.take(parts.test)
    honest = test.take(np.flatnonzero(test.labels == 0))
    return Trained(pyfunc, to_frame(honest), honest.meta["event_timestamp"].to_numpy(), cfg.days)


def _kwh(frame: pd.DataFrame, days: int) -> np.ndarray:
    """Daily kWh (n, days), oldest first, from the pyfunc's kwh_lag columns."""
    return frame[lag_columns("kwh", days)].to_numpy(dtype=float)[:, ::-1].copy()


def _with_series(
    frame: pd.DataFrame, raw: np.ndarray, outage: np.ndarray | None = None
) -> pd.DataFrame:
    """`frame` with another daily series (and outage hours), the meter's own-series features
    recomputed from it as the meter_daily table computes them."""
    days = raw.shape[1]
    out = frame.copy()
    out[lag_columns("kwh", days)] = raw[:, ::-1]
    if outage is not None:
        out[lag_columns("outage", days)] = outage[:, ::-1]
    for name, values in dataset.own_series_features(raw).items():
        out[name] = values
    return out


def _score(trained: Trained, frame: pd.DataFrame) -> np.ndarray:
    return trained.pyfunc.predict(None, frame)["probability"].to_numpy()


def _h1(trained: Trained) -> np.ndarray:
    rng = np.random.default_rng(0)
    raw = _kwh(trained.honest, trained.days)
    raw[:, -ATTACK_DAYS:] *= rng.uniform(0.1, 0.8, size=(len(raw), ATTACK_DAYS))
    attacked = _with_series(trained.honest, raw)
    attacked["change_vs_peers"] = attacked["kwh_change_7d_28d"] - attacked["peer_change_7d_28d"]
    return _score(trained, attacked)


def _outage(trained: Trained) -> np.ndarray:
    """The whole transformer is out: every meter reads zero, the interruption feed marks the
    hours, and the peers' change moves with the meter's own."""
    frame = trained.honest
    raw = _kwh(frame, trained.days)
    raw[:, -OUTAGE_DAYS:] = 0.0
    outage = frame[lag_columns("outage", trained.days)].to_numpy(dtype=float)[:, ::-1].copy()
    outage[:, -OUTAGE_DAYS:] = 24.0
    out = _with_series(frame, raw, outage)
    peers = out.groupby([out["transformer_id"], trained.stamps])["kwh_change_7d_28d"]
    out["peer_change_7d_28d"] = peers.transform("median")
    out["change_vs_peers"] = out["kwh_change_7d_28d"] - out["peer_change_7d_28d"]
    out[["outage_hours_day", "zero_hours_day"]] = 24.0
    out[["night_share_day", "flatness_day"]] = np.nan
    return _score(trained, out)


def test_the_honest_meters_score_low(trained: Trained) -> None:
    base = _score(trained, trained.honest)
    assert len(base) > 300
    assert np.median(base) < 0.2


def test_an_h1_attack_raises_the_theft_score(trained: Trained) -> None:
    base, h1 = _score(trained, trained.honest), _h1(trained)
    rise = h1 - base
    assert np.mean(rise > 0) > 0.9
    assert np.median(rise) > 0.3


def test_an_outage_alone_does_not_look_like_theft(trained: Trained) -> None:
    base, h1, out = _score(trained, trained.honest), _h1(trained), _outage(trained)
    rise_out, rise_h1 = out - base, h1 - base
    assert np.median(rise_out) < 0.05
    assert rise_out.mean() < rise_h1.mean() / 4
    assert np.mean(out >= h1) < 0.05  # the attack outscores the outage on (nearly) every row
    # no more honest meters over an even-odds score than without the outage (+2% of rows)
    assert np.mean(out > 0.5) <= np.mean(base > 0.5) + 0.02
