"""Model features of a demand forecast, computed row by row from the model's input frame.

The input frame is what serving assembles too: one row per (series, target hour) holding the
series' FeatureService values at the forecast origin (including the last 168 hourly loads),
the latest hourly load known at the issue time (`ISSUE_COLUMNS`: the `load_hourly` row stamped
at the issue time, after the origin), the `horizon` in hours and the context of the target hour
(weather as forecast, calendar).
Loads are divided by the series' recent mean level so one global model serves a transformer
of 5 kWh/h and a zone of 2 MWh/h alike; predictions are multiplied back.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from gridml.features.tables.catalog import LOAD_WEEK_PROFILE
from gridml.training.demand.calendar import HOLIDAY_PERIOD_COLUMNS

LEVEL_CODES = {"meter": -1, "transformer": 0, "feeder": 1, "substation": 2, "zone": 3}
PROFILE_COLUMNS = list(LOAD_WEEK_PROFILE.features)
CONTEXT_COLUMNS = [
    "temperature_c",
    "cooling_degree_c",
    "relative_humidity_pct",
    "cloud_cover_pct",
    "irradiance_wm2",
    "is_holiday",
    "is_holiday_tomorrow",
    *HOLIDAY_PERIOD_COLUMNS,  # training/demand/calendar.py, from the same holidays
    "day_of_week",
    "is_weekend",
    "target_hour",
]
ORIGIN_COLUMNS = [
    "load_kwh",
    "load_mean_24h",
    "load_mean_168h",
    "load_max_168h",
    "interrupted_share",
    "level",
    "meters",
    "share_residential",
    "share_commercial",
    "share_industrial",
    "share_prepaid",
]
#: `load_hourly` features read at the issue time (the row of the last hour ended by then).
ISSUE_SOURCE = {
    "issue_load_kwh": "load_kwh",
    "issue_load_lag_24h": "load_lag_24h",
    "issue_load_lag_168h": "load_lag_168h",
    "issue_load_mean_24h": "load_mean_24h",
}
ISSUE_COLUMNS = list(ISSUE_SOURCE)
INPUT_COLUMNS = [
    "series_id",
    "horizon",
    *ORIGIN_COLUMNS,
    *ISSUE_COLUMNS,
    *PROFILE_COLUMNS,
    *CONTEXT_COLUMNS,
]
#: Forecast temperature over the target's whole local day (horizons of one day share them).
DAY_WEATHER_COLUMNS = ["temperature_day_mean_c", "temperature_day_max_c"]


def issue_inputs(hourly: pd.DataFrame) -> pd.DataFrame:
    """ISSUE_COLUMNS from `load_hourly` values read at the issue time (load_kwh,
    interrupted_share, load_lag_24h, load_lag_168h, load_mean_24h): the last hour's load is
    masked when it was interrupted (unserved demand, as for targets and lags)."""
    values = {new: pd.to_numeric(hourly[old], errors="coerce") for new, old in ISSUE_SOURCE.items()}
    interrupted = pd.to_numeric(hourly["interrupted_share"], errors="coerce").fillna(0.0)
    values["issue_load_kwh"] = values["issue_load_kwh"].where(interrupted == 0)
    return pd.DataFrame(values, index=hourly.index).astype("float64")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.where(np.isfinite(den) & (den > 0), num / den, np.nan)


def lag_day_k(horizon: np.ndarray) -> np.ndarray:
    """Lag (hours before the origin) of the same hour on the latest day known at the origin."""
    return 24 * np.ceil(horizon / 24).astype(int) - horizon + 1


def lag_week_k(horizon: np.ndarray) -> np.ndarray:
    """Lag of the same hour one week before the target (valid for horizons up to 168 h)."""
    return 169 - horizon


def _pick(profile: np.ndarray, k: np.ndarray) -> np.ndarray:
    """profile[i, k_i - 1] with NaN where k is outside 1..168."""
    ok = (k >= 1) & (k <= profile.shape[1])
    out = np.full(len(k), np.nan)
    rows = np.flatnonzero(ok)
    out[rows] = profile[rows, k[rows] - 1]
    return out


def level_scale(frame: pd.DataFrame) -> np.ndarray:
    """The series' recent mean hourly load at the origin: the unit of the normalised model."""
    scale = frame["load_mean_168h"].to_numpy(dtype=float)
    fallback = frame["load_mean_24h"].to_numpy(dtype=float)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, fallback)
    return np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)


def baselines(frame: pd.DataFrame) -> pd.DataFrame:
    """Seasonal naive (same hour last week) and profile (mean of the same hour over the last
    7 days) in kWh; the naive falls back to the profile when last week's hour was interrupted."""
    profile = frame[PROFILE_COLUMNS].to_numpy(dtype=float)
    h = frame["horizon"].to_numpy(dtype=int)
    week = _pick(profile, lag_week_k(h))
    same_hour = np.stack([_pick(profile, lag_day_k(h) + 24 * d) for d in range(7)], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a week fully interrupted: NaN
        prof = np.nanmean(same_hour, axis=1)
    return pd.DataFrame(
        {"seasonal_naive": np.where(np.isnan(week), prof, week), "profile": prof},
        index=frame.index,
    )


def day_weather(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean and maximum forecast temperature of each row's target day (local day = horizon day,
    the origin being a local midnight), over the rows of that series and day in `frame`: a
    request or a design block holding a whole day gets the whole day's values."""
    day = (frame["horizon"].to_numpy(dtype=int) - 1) // 24
    temp = frame["temperature_c"].astype("float64")
    groups = [frame["series_id"].to_numpy(), day]
    by = temp.groupby(groups, sort=False)
    return pd.DataFrame(
        {
            "temperature_day_mean_c": by.transform("mean").to_numpy(),
            "temperature_day_max_c": by.transform("max").to_numpy(),
        },
        index=frame.index,
    )


def make_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The LightGBM design matrix of an input frame (one row per series x target hour)."""
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"demand model input lacks column(s): {missing}")
    scale = level_scale(frame)
    profile = frame[PROFILE_COLUMNS].to_numpy(dtype=float) / scale[:, None]
    h = frame["horizon"].to_numpy(dtype=int)
    k_day = lag_day_k(h)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        same_hour = np.stack([_pick(profile, k_day + 24 * d) for d in range(7)], axis=1)
        features = {
            "horizon": h.astype(float),
            "lag_same_hour_day": _pick(profile, k_day),
            "lag_same_hour_2d": _pick(profile, k_day + 24),
            "lag_same_hour_week": _pick(profile, lag_week_k(h)),
            "same_hour_mean_7d": np.nanmean(same_hour, axis=1),
            "same_hour_max_7d": np.nanmax(same_hour, axis=1),
            "last_hour": profile[:, 0],
            "mean_24h": frame["load_mean_24h"].to_numpy(dtype=float) / scale,
            "max_168h": frame["load_max_168h"].to_numpy(dtype=float) / scale,
            "log_scale": np.log(scale),
            "level": frame["level"].map(LEVEL_CODES).to_numpy(dtype=float),
            "log_meters": np.log(frame["meters"].to_numpy(dtype=float)),
        }
    # what the hours between the origin and the issue time say: the last hour against the
    # same hour a day and a week before, and the last 24 hours' mean (a level shift starting)
    issue = {c: frame[c].to_numpy(dtype=float) for c in ISSUE_COLUMNS}
    features["issue_vs_day"] = _ratio(issue["issue_load_kwh"], issue["issue_load_lag_24h"])
    features["issue_vs_week"] = _ratio(issue["issue_load_kwh"], issue["issue_load_lag_168h"])
    features["issue_mean_24h"] = issue["issue_load_mean_24h"] / scale
    for col in (
        "share_residential",
        "share_commercial",
        "share_industrial",
        "share_prepaid",
        *CONTEXT_COLUMNS,
    ):
        features[col] = frame[col].to_numpy(dtype=float)
    # given by the training design (from the whole day's forecast), else from the frame's rows
    daily = frame if set(DAY_WEATHER_COLUMNS) <= set(frame.columns) else day_weather(frame)
    for col in DAY_WEATHER_COLUMNS:
        features[col] = daily[col].to_numpy(dtype=float)
    return pd.DataFrame(features, index=frame.index)
