"""Model-behaviour tests of the demand model: it reacts to heat and holidays the way the grid
does, and its quantiles never cross, on inputs it was not trained on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import DemandData, design, load_demand_data
from gridml.training.demand.features import DAY_WEATHER_COLUMNS, make_features
from gridml.training.demand.lgbm import QuantileLGBM
from gridml.workspace import Workspace

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(learning_zone: Workspace) -> tuple[QuantileLGBM, pd.DataFrame, DemandData]:
    cfg = DemandConfig.read_yaml(ROOT / "experiments" / "demand-small.yaml").model_copy(
        update={"history_days": 200, "train_sample": 0.4, "levels": ("transformer", "feeder")}
    )
    data = load_demand_data(learning_zone, cfg)
    origins = pd.DatetimeIndex(sorted(data.origins["origin"].unique()))
    train = design(data, cfg, origins[:-14], sample=cfg.train_sample)
    model = QuantileLGBM(cfg.quantiles, cfg.lightgbm.model_copy(update={"n_estimators": 120}))
    model.fit(train.X, train.y / train.scale)
    test = design(data, cfg, origins[-14:], keep_inputs=True)
    return model, test.inputs, data


def _p50(model: QuantileLGBM, inputs: pd.DataFrame) -> np.ndarray:
    from gridml.training.demand.features import level_scale

    return model.predict(make_features(inputs))["q50"].to_numpy() * level_scale(inputs)


def _most_commercial_feeder(inputs: pd.DataFrame) -> pd.DataFrame:
    feeders = inputs[inputs["level"] == "feeder"]
    best = feeders.groupby("series_id")["share_commercial"].first().idxmax()
    return feeders[feeders["series_id"] == best]


def test_a_hotter_day_raises_a_cooling_sensitive_feeder(trained) -> None:
    model, inputs, _ = trained
    rows = _most_commercial_feeder(inputs)
    # a hotter day: every hour 5 degrees warmer, so the day's forecast mean and maximum too
    warmer = ["temperature_c", "cooling_degree_c", *DAY_WEATHER_COLUMNS]
    hotter = rows.assign(**{c: rows[c] + 5.0 for c in warmer})
    afternoon = rows["target_hour"].between(11, 17)
    base, hot = _p50(model, rows[afternoon]), _p50(model, hotter[afternoon])
    assert hot.mean() > base.mean() * 1.03
    assert (hot >= base - 1e-9).mean() > 0.8


def test_a_public_holiday_lowers_a_commercial_feeder(trained) -> None:
    model, inputs, _ = trained
    rows = _most_commercial_feeder(inputs)
    rows = rows[
        (rows["is_holiday"] == 0) & (rows["is_weekend"] == 0) & rows["target_hour"].between(9, 17)
    ]
    holiday = rows.assign(is_holiday=1)
    base, off = _p50(model, rows), _p50(model, holiday)
    assert off.mean() < base.mean() * 0.95


def test_quantiles_never_cross_even_on_odd_inputs(trained) -> None:
    model, inputs, _ = trained
    rng = np.random.default_rng(0)
    odd = inputs.sample(500, random_state=0).copy()
    odd["temperature_c"] += rng.normal(0, 8, len(odd))
    odd["load_mean_168h"] *= rng.uniform(0.2, 5, len(odd))
    q = model.predict(make_features(odd))
    assert (q["q10"] <= q["q50"]).all() and (q["q50"] <= q["q90"]).all()
