"""Per-series Prophet forecasts (training/demand/prophet_model.py) on a tiny synthetic zone."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from gridml.training.demand import prophet_model as pm
from gridml.training.demand.prophet_model import (
    ProphetForecaster,
    ProphetSettings,
    fit_one,
    fit_predict,
    predict_one,
)

TZ = "Africa/Lagos"  # UTC+1: the load shape follows local hours, so the conversion matters
QCOLS = ["q10", "q50", "q90"]
HORIZON = 48


def _synthetic(days: int = 56, seed: int = 7) -> pd.DataFrame:
    """Two hourly series over `days`: evening-peak daily shape (local time), quieter Sundays,
    a temperature effect (strong for 'cool', weak for 'base') and multiplicative noise."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-03-04", periods=days * 24, freq="h", tz="UTC")
    local = ts.tz_convert(TZ)
    hour = local.hour.to_numpy()
    shape = 0.6 + 0.6 * np.exp(-0.5 * ((hour - 20) / 2.0) ** 2) + 0.25 * ((hour >= 8) & (hour < 18))
    weekly = np.where(local.dayofweek.to_numpy() == 6, 0.8, 1.0)
    frames = []
    for sid, level, sens in (("cool", 120.0, 0.06), ("base", 60.0, 0.005)):
        temp = (
            27.0
            + 3.5 * np.sin(2 * np.pi * (hour - 9) / 24)
            + np.repeat(rng.normal(0.0, 1.5, days), 24)
            + rng.normal(0.0, 0.3, len(ts))
        )
        cdd = np.maximum(0.0, temp - 24.0)
        noise = rng.lognormal(0.0, 0.06, len(ts))
        y = level * shape * weekly * (1.0 + sens * cdd) * noise
        frames.append(
            pd.DataFrame(
                {
                    "series_id": sid,
                    "timestamp": ts,
                    "y": y,
                    "temperature_c": temp,
                    "cooling_degree_c": cdd,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(history, future without y, truth of the future)."""
    full = _synthetic()
    cut = full["timestamp"].max() - pd.Timedelta(hours=HORIZON - 1)
    history = full[full["timestamp"] < cut].reset_index(drop=True)
    truth = full[full["timestamp"] >= cut].reset_index(drop=True)
    return history, truth.drop(columns="y"), truth


@pytest.fixture(scope="module")
def settings() -> ProphetSettings:
    return ProphetSettings(uncertainty_samples=500)


@pytest.fixture(scope="module")
def forecaster(data, settings) -> ProphetForecaster:
    return ProphetForecaster.fit(data[0], settings, timezone=TZ)


@pytest.fixture(scope="module")
def forecast(data, settings) -> pd.DataFrame:
    history, future, _ = data
    return fit_predict(history, future, settings, timezone=TZ)


def test_output_shape_and_columns(forecast, data) -> None:
    future = data[1]
    assert list(forecast.columns) == ["series_id", "timestamp", "yhat", *QCOLS]
    assert len(forecast) == len(future)
    assert forecast["timestamp"].dt.tz is not None  # UTC, as given
    keys = forecast[["series_id", "timestamp"]]
    expected = future[["series_id", "timestamp"]].sort_values(["series_id", "timestamp"])
    pd.testing.assert_frame_equal(keys, expected.reset_index(drop=True))
    assert forecast[["yhat", *QCOLS]].notna().all().all()


def test_beats_flat_mean_forecast(forecast, data) -> None:
    history, _, truth = data
    m = forecast.merge(truth, on=["series_id", "timestamp"])
    flat = m["series_id"].map(history.groupby("series_id")["y"].mean())
    mae = (m["yhat"] - m["y"]).abs().mean()
    mae_flat = (flat - m["y"]).abs().mean()
    assert mae < 0.5 * mae_flat, (mae, mae_flat)


def test_quantiles_ordered_and_cover(forecast, data) -> None:
    q = forecast[QCOLS].to_numpy()
    assert (np.diff(q, axis=1) >= 0).all()
    assert (q >= 0).all() and (forecast["yhat"] >= 0).all()
    m = forecast.merge(data[2], on=["series_id", "timestamp"])
    coverage = ((m["y"] >= m["q10"]) & (m["y"] <= m["q90"])).mean()
    assert 0.5 <= coverage <= 0.98, coverage


def test_forecaster_matches_fit_predict(forecaster, forecast, data) -> None:
    again = forecaster.predict(data[1])
    pd.testing.assert_frame_equal(again, forecast)
    assert set(forecaster.fit_seconds) == {"cool", "base"}


def test_hotter_future_raises_cooling_sensitive_load(forecaster, data) -> None:
    future = data[1]
    hot = future.assign(temperature_c=future["temperature_c"] + 5.0)
    hot["cooling_degree_c"] = np.maximum(0.0, hot["temperature_c"] - 24.0)
    base = forecaster.predict(future).set_index(["series_id", "timestamp"])
    warm = forecaster.predict(hot).set_index(["series_id", "timestamp"])
    ratio = warm.loc["cool", "yhat"].mean() / base.loc["cool", "yhat"].mean()
    assert ratio > 1.1, ratio  # truth: about +25 %


def test_nan_load_hours_are_ignored(data, settings, forecast) -> None:
    history, future, _ = data
    rng = np.random.default_rng(3)
    masked = history.copy()
    out = rng.random(len(masked)) < 0.05
    out[(masked["timestamp"] >= "2024-04-10") & (masked["timestamp"] < "2024-04-10 12:00")] = True
    masked.loc[out, "y"] = np.nan
    masked.loc[out & (rng.random(len(masked)) < 0.5), "cooling_degree_c"] = np.nan  # not needed
    with_nan = fit_predict(masked, future, settings, timezone=TZ)
    dropped = fit_predict(masked[~out], future, settings, timezone=TZ)
    pd.testing.assert_frame_equal(with_nan, dropped)  # NaN rows are exactly ignored
    rel = (with_nan["yhat"] - forecast["yhat"]).abs().mean() / forecast["yhat"].mean()
    assert rel < 0.05, rel  # and losing 5 % of the hours barely moves the forecast


@pytest.mark.slow
def test_parallel_matches_sequential(data, settings, forecast) -> None:
    history, future, _ = data
    parallel = settings.model_copy(update={"n_workers": 2})
    got = fit_predict(history, future, parallel, timezone=TZ)
    pd.testing.assert_frame_equal(
        got[["series_id", "timestamp"]], forecast[["series_id", "timestamp"]]
    )
    np.testing.assert_allclose(got[["yhat", *QCOLS]], forecast[["yhat", *QCOLS]], rtol=0, atol=1e-6)


def test_serialization_round_trip(forecaster, data) -> None:
    future = data[1]
    expected = forecaster.predict(future)
    restored = pickle.loads(pickle.dumps(forecaster))
    assert isinstance(restored, ProphetForecaster)
    assert restored.settings == forecaster.settings and restored.timezone == TZ
    pd.testing.assert_frame_equal(restored.predict(future), expected)
    from_json = ProphetForecaster.from_json(forecaster.to_json())
    pd.testing.assert_frame_equal(from_json.predict(future), expected)


def test_other_quantiles_and_unknown_series(forecaster, data) -> None:
    future = data[1]
    out = forecaster.predict(future, quantiles=(0.05, 0.5, 0.95))
    assert list(out.columns) == ["series_id", "timestamp", "yhat", "q05", "q50", "q95"]
    assert (out["q05"] <= out["q50"]).all() and (out["q50"] <= out["q95"]).all()
    with pytest.raises(ValueError, match="no fitted model"):
        forecaster.predict(future.assign(series_id="elsewhere"))
    with pytest.raises(ValueError, match="without history"):
        fit_predict(data[0], future.assign(series_id="elsewhere"), forecaster.settings)


def test_negative_forecasts_clipped_at_zero() -> None:
    ts = pd.date_range("2024-03-04", periods=21 * 24, freq="h", tz="UTC")
    hour = ts.hour.to_numpy()
    y = np.linspace(100.0, 2.0, len(ts)) + 2.0 * np.sin(2 * np.pi * hour / 24)
    history = pd.DataFrame({"timestamp": ts, "y": y})
    cfg = ProphetSettings(
        regressors=(),
        country=None,
        daily_profiles="shared",
        changepoint_prior_scale=0.5,
        uncertainty_samples=200,
    )
    model = fit_one(history, cfg, "UTC")
    future = pd.DataFrame({"timestamp": ts[-1] + pd.to_timedelta(np.arange(1, 97), "h")})
    out = predict_one(model, future, cfg, timezone="UTC")
    assert (out[["yhat", *QCOLS]] >= 0).all().all()
    assert (out["yhat"] == 0).any()  # the falling trend crosses zero within 4 days


def test_local_time_and_validation() -> None:
    ts = pd.Series(pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC"))
    local = pm.local_hours(ts, "Africa/Lagos")
    assert local.dt.tz is None and local.iloc[0] == pd.Timestamp("2024-01-01 01:00")
    with pytest.raises(ValueError, match="tz-aware"):
        pm.local_hours(ts.dt.tz_localize(None), "UTC")
    with pytest.raises(ValueError, match="holidays"):
        ProphetSettings(country="XX")
    with pytest.raises(ValueError):
        ProphetSettings(unknown_field=1)
    assert pm.quantile_column(0.1) == "q10" and pm.quantile_column(0.05) == "q05"


def test_day_types_follow_local_calendar() -> None:
    # Côte d'Ivoire 2024: Easter Monday 1 April and the day after the Night of Power (Saturday
    # 6 April) are public holidays, so rest days; Saturday 13 April is an ordinary Saturday.
    ts = pd.Series(pd.date_range("2024-03-31 23:00", "2024-04-13 12:00", freq="h", tz="UTC"))
    frame = pm.to_prophet_frame(
        pd.DataFrame({"timestamp": ts}),
        ProphetSettings(regressors=()),
        "Africa/Abidjan",
        with_y=False,
    )
    day = frame.set_index("ds")
    assert day.loc["2024-04-01 10:00", "is_restday"]
    assert day.loc["2024-04-02 10:00", "is_workday"]
    assert day.loc["2024-04-06 10:00", "is_restday"]
    assert day.loc["2024-04-07 10:00", "is_restday"]  # Sunday
    assert day.loc["2024-04-13 10:00", "is_saturday"]
    assert (frame[["is_workday", "is_saturday", "is_restday"]].sum(axis=1) == 1).all()


def test_holidays_fall_back_to_holidays_package(monkeypatch) -> None:
    prophet_cls = pm._prophet_cls()

    def unknown(self, country_name):
        raise AttributeError(f"Holidays in {country_name} are not currently supported!")

    monkeypatch.setattr(prophet_cls, "add_country_holidays", unknown)
    model = pm.build_model(ProphetSettings(country="SN"), yearly=False)
    assert model.country_holidays is None
    assert {"ds", "holiday"} <= set(model.holidays.columns)
    assert (model.holidays["ds"].dt.year == 2030).any()  # covers future years too
