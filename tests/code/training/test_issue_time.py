"""Issue time and delivery window: which hours a forecast delivers, their lead times, and that
nothing observed after the issue time reaches the model's features."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from gridml.config import ConfigError
from gridml.training.demand.backtest import with_issue
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import DemandData, design
from gridml.training.demand.features import (
    CONTEXT_COLUMNS,
    ORIGIN_COLUMNS,
    PROFILE_COLUMNS,
    lag_day_k,
    lag_week_k,
)

HOUR = pd.Timedelta(hours=1)


def _keys(origin_local: str, timezone: str, horizon: int = 48) -> pd.DataFrame:
    origin = pd.Timestamp(origin_local, tz=timezone).tz_convert("UTC")
    h = np.arange(1, horizon + 1)
    return pd.DataFrame({"origin": origin, "target_time": origin + (h - 1) * HOUR, "horizon": h})


def test_issued_at_ten_delivers_the_next_local_day_with_its_lead_times() -> None:
    cfg = DemandConfig()  # issued 10:00 for 00:00-24:00 of the next local day
    out = with_issue(_keys("2014-12-03", "Australia/Brisbane"), cfg, "Australia/Brisbane")
    delivered = out[out["delivered"]]
    assert delivered["horizon"].tolist() == list(range(25, 49))
    local = delivered["target_time"].dt.tz_convert("Australia/Brisbane")
    assert set(local.dt.date) == {dt.date(2014, 12, 4)}
    assert delivered["lead_hours"].tolist() == list(range(14, 38))
    issue = out["issue_time"].iloc[0].tz_convert("Australia/Brisbane")
    assert (issue.hour, issue.minute) == (10, 0)


def test_a_short_local_day_delivers_its_23_hours() -> None:
    cfg = DemandConfig()  # Paris springs forward on 2024-03-31: a 23-hour day
    out = with_issue(_keys("2024-03-30", "Europe/Paris"), cfg, "Europe/Paris")
    delivered = out[out["delivered"]]
    assert len(delivered) == 23
    local = delivered["target_time"].dt.tz_convert("Europe/Paris")
    assert set(local.dt.date) == {dt.date(2024, 3, 31)}


def test_same_day_delivery_after_the_issue_time_is_refused() -> None:
    with pytest.raises((ConfigError, ValueError), match="delivery_start_days"):
        DemandConfig.model_validate({"issue": {"time": "10:00", "delivery_start_days": 0}})
    with pytest.raises((ConfigError, ValueError), match="horizon_hours"):
        DemandConfig.model_validate({"horizon_hours": 36, "issue": {"time": "10:00"}})
    # without an issue section, a horizon that cannot reach the next day: issued at midnight
    short = DemandConfig.model_validate({"horizon_hours": 36})
    assert (short.issue.time, short.issue.delivery_start_days) == (dt.time(0, 0), 0)
    ok = DemandConfig.model_validate(
        {"horizon_hours": 24, "issue": {"time": "00:00", "delivery_start_days": 0}}
    )
    assert (ok.issue.first_horizon, ok.issue.last_horizon) == (1, 24)


def test_every_lag_of_a_delivered_hour_was_observed_before_the_issue_time() -> None:
    cfg = DemandConfig()
    h = np.arange(cfg.issue.first_horizon, cfg.issue.last_horizon + 1)
    issue_offset = cfg.issue.issue_hours  # hours from the origin (a local midnight)
    for k in (lag_day_k(h), lag_week_k(h), lag_day_k(h) + 24 * 6):
        # lag k: the hour that started k hours before the origin, ended k - 1 hours before it
        assert (k >= 1).all() and (-(k - 1) <= issue_offset).all()
        assert (k <= len(PROFILE_COLUMNS)).all()
    # the same hour one week before the target, exactly
    np.testing.assert_array_equal((h - 1) - (-lag_week_k(h)), np.full(len(h), 168))


def _tiny_data(timezone: str = "UTC") -> DemandData:
    """One series, 20 days, hourly actuals; origin features built from the actuals before each
    origin (as the feature tables do)."""
    start = pd.Timestamp("2024-01-01", tz="UTC")
    hours = pd.date_range(start, periods=20 * 24, freq="h")
    rng = np.random.default_rng(0)
    y = 10 + np.sin(np.arange(len(hours)) * 2 * np.pi / 24) + rng.normal(0, 0.1, len(hours))
    actuals = pd.DataFrame({"series_id": "zone:all", "target_time": hours, "y": y})
    rows = []
    for origin in pd.date_range(start + pd.Timedelta(days=8), periods=10, freq="D"):
        past = actuals[actuals["target_time"] < origin]["y"].to_numpy()
        row = {c: np.nan for c in ORIGIN_COLUMNS}
        row |= {
            "series_id": "zone:all",
            "region_id": "R00",
            "origin": origin,
            "level": "zone",
            "load_kwh": past[-1],
            "load_mean_24h": past[-24:].mean(),
            "load_mean_168h": past[-168:].mean(),
            "load_max_168h": past[-168:].max(),
            "interrupted_share": 0.0,
            "meters": 1.0,
        }
        row |= {c: past[-(k + 1)] for k, c in enumerate(PROFILE_COLUMNS)}
        # the load_hourly row at the issue time (10:00): the hours that ended by then
        known = actuals[actuals["target_time"] < origin + pd.Timedelta(hours=10)]["y"].to_numpy()
        row |= {
            "issue_load_kwh": known[-1],
            "issue_load_lag_24h": known[-25],
            "issue_load_lag_168h": known[-169],
            "issue_load_mean_24h": known[-24:].mean(),
        }
        rows.append(row)
    origins = pd.DataFrame(rows)
    ctx = pd.DataFrame({"region_id": "R00", "target_time": hours})
    for c in CONTEXT_COLUMNS:
        ctx[c] = 20.0 if c == "temperature_c" else 0.0
    ctx["target_hour"] = hours.hour
    return DemandData(origins, ctx, actuals, timezone, hours[0], hours[-1] + HOUR)


def test_design_features_do_not_change_when_the_future_does() -> None:
    data = _tiny_data()
    cfg = DemandConfig.model_validate({"weather_forecast_error_c": 0.0})
    origin = pd.DatetimeIndex([data.origins["origin"].iloc[5]])
    before = design(data, cfg, origin)
    issue = origin[0] + pd.Timedelta(hours=cfg.issue.issue_hours)
    later = data.actuals["target_time"] >= issue
    changed = DemandData(
        data.origins,
        data.context,
        data.actuals.assign(y=data.actuals["y"].where(~later, data.actuals["y"] * 5)),
        data.timezone,
        data.start,
        data.end,
    )
    after = design(changed, cfg, origin)
    pd.testing.assert_frame_equal(before.X, after.X)
    np.testing.assert_array_equal(before.baselines.to_numpy(), after.baselines.to_numpy())
    assert not np.allclose(before.y, after.y)  # only the targets saw the change
    # and the lags read the right past hours: the same hour one week before each target
    week = before.X["lag_same_hour_week"].to_numpy() * before.scale
    truth = data.actuals.set_index("target_time")["y"]
    expected = truth.reindex(before.keys["target_time"] - pd.Timedelta(hours=168)).to_numpy()
    np.testing.assert_allclose(week, expected)


def test_a_configured_model_without_a_score_is_named_with_its_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from gridml.training.demand.backtest import missing_models

    cfg = DemandConfig(models=("seasonal_naive", "lightgbm", "prophet"))
    summary = pd.DataFrame(
        {
            "model": ["seasonal_naive", "lightgbm"],
            "level": ["zone", "zone"],
            "n": [24, 24],
            "mase": [1.0, 0.6],
        }
    )
    reason = "no series at prophet.levels ['feeder'] in the data"
    with caplog.at_level("WARNING"):
        missing = missing_models(cfg, summary, {"prophet": reason})
    assert missing == {"prophet": reason}
    assert "prophet" in caplog.text and reason in caplog.text
    assert missing_models(cfg.model_copy(update={"models": ("lightgbm",)}), summary, {}) == {}
