"""Model-behaviour tests of the transformer-failure model, through its pyfunc input (a long frame
of daily asset_failure_v1 values, what serving sends): a unit that runs hotter (oil and hot-spot
temperatures) and has aged more is scored riskier, on every in-service transformer at several
days of the held-out period, and cooling it down does the opposite."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridml.training.maintenance.dataset import (
    KEY,
    MaintenanceData,
    Scaler,
    load_maintenance_data,
    sequences,
)
from gridml.training.maintenance.models import fit_sequence_model
from gridml.training.maintenance.pipeline import MaintenanceRunConfig
from gridml.training.maintenance.pyfunc import TIME, AssetFailureModel, model_meta, naive_utc
from gridml.workspace import Workspace

pytestmark = pytest.mark.slow
SMALL = Path(__file__).resolve().parents[2] / "experiments" / "maintenance-small.yaml"
HOT_DAYS = 7  # the last week of the window runs hotter
HEAT_C = {"oil_temp_max_c": 10.0, "hot_spot_max_c": 15.0}
AGEING_FACTOR = 4.0  # IEEE C57.91: +15 K at the hot spot ages insulation about 4-5x faster


@dataclass
class Trained:
    pyfunc: AssetFailureModel
    data: MaintenanceData
    window: int
    inputs: list[pd.DataFrame]  # pyfunc input of the in-service units, one frame per test day


def _frame(data: MaintenanceData, rows: pd.DataFrame, window: int) -> pd.DataFrame:
    """The long pyfunc input of `rows` (one day, several transformers): each unit's last
    `window` days of features ending at that day."""
    days = data.days[rows["dix"].iloc[0] - window + 1 : rows["dix"].iloc[0] + 1]
    parts = []
    for tix in rows["tix"]:
        values = data.cube[tix, rows["dix"].iloc[0] - window + 1 : rows["dix"].iloc[0] + 1]
        part = pd.DataFrame(values.astype("float64"), columns=data.features)
        part.insert(0, TIME, naive_utc(pd.Series(days)))
        part.insert(0, KEY, data.transformers[tix])
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def trained(medium_store: Workspace) -> Trained:
    cfg = MaintenanceRunConfig.read_yaml(SMALL).model
    data = load_maintenance_data(medium_store, cfg)
    scaler = Scaler.fit(data.cube, data.train_day_mask())
    fit, valid = data.part("fit"), data.part("valid")
    net = fit_sequence_model(
        sequences(data, fit, scaler, cfg.window_days), fit["label"].to_numpy(),
        sequences(data, valid, scaler, cfg.window_days), valid["label"].to_numpy(),
        data.features, cfg,
    )  # fmt: skip
    pyfunc = AssetFailureModel(model_meta(net, scaler, cfg))
    pyfunc._set(net.net)
    test = data.part("test")
    days = sorted(test["dix"].unique())[:: max(1, len(test["dix"].unique()) // 4)]
    inputs = [_frame(data, test[test["dix"] == d], cfg.window_days) for d in days]
    return Trained(pyfunc, data, cfg.window_days, inputs)


def _hotter(frame: pd.DataFrame, window: int, sign: float = 1.0) -> pd.DataFrame:
    """The same units, their last HOT_DAYS days hotter (sign -1: cooler), their insulation
    ageing AGEING_FACTOR times faster (slower) on those days, the extra ageing hours added to
    (removed from) their accumulated ageing."""
    out = frame.copy()
    last = (out.groupby(KEY).cumcount() >= window - HOT_DAYS).to_numpy()
    for name, heat in HEAT_C.items():
        out.loc[last, name] += sign * heat
    out["hot_spot_max_30d"] = np.maximum(
        out["hot_spot_max_30d"], out.groupby(KEY)["hot_spot_max_c"].cummax()
    )
    if sign < 0:
        out.loc[last, "hot_spot_max_30d"] -= HEAT_C["hot_spot_max_c"]
    factor = AGEING_FACTOR**sign
    faa = out["ageing_acceleration_mean"]
    extra = np.where(last, np.nan_to_num(faa) * (factor - 1.0) * 24.0, 0.0)
    out.loc[last, "ageing_acceleration_mean"] = faa[last] * factor
    out["ageing_hours_observed"] += pd.Series(extra).groupby(out[KEY]).cumsum()
    return out


def _aged(frame: pd.DataFrame, factor: float) -> pd.DataFrame:
    """The same units with `factor` times the accumulated ageing, nothing else changed."""
    return frame.assign(ageing_hours_observed=frame["ageing_hours_observed"] * factor)


def _probabilities(trained: Trained, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> np.ndarray:
    return np.concatenate(
        [trained.pyfunc.predict(None, edit(f))["probability"].to_numpy() for f in trained.inputs]
    )


def _base(trained: Trained) -> np.ndarray:
    return _probabilities(trained, lambda f: f)


def test_heat_and_ageing_raise_the_failure_probability(trained: Trained) -> None:
    base = _base(trained)
    hot = _probabilities(trained, lambda f: _aged(_hotter(f, trained.window), 2.0))
    assert len(base) >= 200  # every in-service unit at several held-out days
    assert np.mean(hot > base) > 0.9
    assert np.median(hot / base) > 1.2
    assert np.mean(hot) > np.mean(base)


def test_accumulated_ageing_alone_raises_it(trained: Trained) -> None:
    # The ageing features span orders of magnitude: on a linear input scale the model ignored
    # them (half the units went down); the scaler now standardises them on a log scale.
    base, aged = _base(trained), _probabilities(trained, lambda f: _aged(f, 2.0))
    assert np.mean(aged > base) > 0.9
    assert np.median(aged / base) > 1.02


def test_cooling_down_lowers_it(trained: Trained) -> None:
    base = _base(trained)
    cool = _probabilities(trained, lambda f: _aged(_hotter(f, trained.window, -1.0), 0.5))
    assert np.mean(cool < base) > 0.9
    assert np.median(cool / base) < 0.85
