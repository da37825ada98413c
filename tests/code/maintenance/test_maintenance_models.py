"""Maintenance data and models on the medium zone: split, skill, behaviour, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.training.maintenance.dataset import KEY, MaintenanceData, flat_features, sequences
from gridml.training.maintenance.metrics import average_precision, evaluate
from gridml.training.maintenance.models import fit_lightgbm, fit_sequence_model, risk_bands

# the medium zone's tables and torch training: integration, slow
pytestmark = [pytest.mark.integration, pytest.mark.slow]

HEAT_AND_AGEING = {  # feature -> (add, multiply) applied to the last 7 days of the window
    "oil_temp_max_c": (15.0, 1.0),
    "hot_spot_max_c": (25.0, 1.0),
    "hot_spot_max_30d": (25.0, 1.0),
    "ageing_acceleration_mean": (0.0, 20.0),
    "ageing_hours_observed": (0.0, 20.0),
    "unit_age_years": (15.0, 1.0),
}


def test_no_test_day_before_the_cutoff_and_the_gap_is_kept(
    maintenance_data: MaintenanceData,
) -> None:
    data, rows = maintenance_data, maintenance_data.rows
    cutoff, horizon = data.split.cutoff, pd.Timedelta(days=data.horizon_days)
    test = rows[rows["split"] == "test"]
    train = rows[rows["split"].isin(["fit", "valid"])]
    assert test["event_timestamp"].min() == cutoff
    assert len(test) and len(train) and test["label"].sum() > 0
    # a training label window (t, t + horizon] ends before the cut-off
    assert train["event_timestamp"].max() + horizon < cutoff
    fit, valid = rows[rows["split"] == "fit"], rows[rows["split"] == "valid"]
    assert fit["event_timestamp"].max() + horizon < valid["event_timestamp"].min()


def test_rows_of_down_units_are_dropped(maintenance_data: MaintenanceData) -> None:
    rows, failures = maintenance_data.rows, maintenance_data.failures
    assert len(failures)
    for _, fail in failures.iterrows():
        mine = rows[rows[KEY] == fail[KEY]]
        after = mine[mine["event_timestamp"] >= fail["timestamp"]]["event_timestamp"]
        # the day end right after a failure: the unit awaits replacement (>= 1 day)
        assert not (
            (after > fail["timestamp"]) & (after < fail["timestamp"] + pd.Timedelta("1D"))
        ).any()
        before = mine[mine["event_timestamp"] < fail["timestamp"]]
        last = before[before["event_timestamp"] >= fail["timestamp"] - pd.Timedelta("1D")]
        assert (last["label"] == 1).all()


def test_sequence_model_beats_random_on_the_held_out_period(trained) -> None:
    y = trained.rows["test"]["label"].to_numpy()
    p = trained.model.predict_proba(trained.x["test"])
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    assert average_precision(y, p) > 2 * y.mean()
    scored = trained.rows["test"].assign(score=p)
    out = evaluate(scored, trained.data.failures, trained.cfg.alert_budget)
    assert out["recall_at_budget"] > trained.cfg.alert_budget
    assert set(risk_bands(p, trained.cfg.risk_bands)) <= {"low", "medium", "high"}
    drivers = trained.model.drivers(trained.x["test"][:5], k=3)
    assert len(drivers) == 5 and all(set(d) <= set(trained.data.features) for d in drivers)


def test_heat_and_ageing_raise_the_predicted_risk(trained) -> None:
    data = trained.data
    rows = trained.rows["test"]
    rows = rows[rows["event_timestamp"] == rows["event_timestamp"].max()]
    base = trained.model.predict_proba(
        sequences(data, rows, trained.scaler, trained.cfg.window_days)
    )
    hot = MaintenanceData(**{**vars(data), "cube": data.cube.copy()})
    last = data.days.get_loc(rows["event_timestamp"].max())
    for name, (add, mul) in HEAT_AND_AGEING.items():
        j = data.features.index(name)
        block = hot.cube[:, last - 6 : last + 1, j]
        hot.cube[:, last - 6 : last + 1, j] = block * mul + add
    raised = trained.model.predict_proba(
        sequences(hot, rows, trained.scaler, trained.cfg.window_days)
    )
    assert raised.mean() > base.mean()
    assert np.mean(raised > base) > 0.8


def test_same_seed_same_probabilities(trained) -> None:
    cfg = trained.cfg.model_copy(update={"epochs": 2})
    y_fit = trained.rows["fit"]["label"].to_numpy()
    y_val = trained.rows["valid"]["label"].to_numpy()
    runs = [
        fit_sequence_model(
            trained.x["fit"], y_fit, trained.x["valid"], y_val, trained.data.features, cfg
        ).predict_proba(trained.x["test"])
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])


def test_lightgbm_baseline(trained) -> None:
    data, cfg = trained.data, trained.cfg.model_copy(update={"lgbm_estimators": 60})
    flat = {name: flat_features(data, r, cfg.window_days) for name, r in trained.rows.items()}
    model = fit_lightgbm(
        flat["fit"], trained.rows["fit"]["label"].to_numpy(),
        flat["valid"], trained.rows["valid"]["label"].to_numpy(), cfg,
    )  # fmt: skip
    y = trained.rows["test"]["label"].to_numpy()
    p = model.predict_proba(flat["test"])
    assert average_precision(y, p) > 2 * y.mean()
    drivers = model.drivers(flat["test"].iloc[:5], k=3)
    assert all(set(d) <= set(flat["test"].columns) for d in drivers)
