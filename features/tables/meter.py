"""Meter features: hourly lags and rolling statistics, daily aggregates, peers and vends."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from gridml.features.tables import liveness
from gridml.features.tables.catalog import METER_DAILY, METER_HOURLY, METER_LIVENESS
from gridml.features.tables.timegrid import (
    DAY,
    HOUR,
    Grid,
    daily,
    days_since_events,
    lag,
    rolling,
    to_long,
)


def meter_hourly(
    meter_ids: pd.Index, kwh: np.ndarray, interrupted: np.ndarray, grid: Grid
) -> pd.DataFrame:
    """One row per meter-hour with a reading, stamped at the end of the hour."""
    with np.errstate(all="ignore"):
        cols = {
            "kwh": kwh,
            "kwh_lag_24h": lag(kwh, 24),
            "kwh_lag_168h": lag(kwh, 168),
            "kwh_mean_24h": rolling(kwh, 24, "mean"),
            "kwh_std_24h": rolling(kwh, 24, "std"),
            "kwh_max_24h": rolling(kwh, 24, "max"),
            "kwh_mean_168h": rolling(kwh, 168, "mean", min_periods=48),
            "zero_hours_24h": rolling((kwh == 0).astype(float), 24, "sum"),
            "interrupted_share": interrupted,
        }
    frame = to_long("meter_id", meter_ids, grid.hour_index() + HOUR, cols, keep=~np.isnan(kwh))
    return frame[METER_HOURLY.columns]


def meter_liveness(
    meter_ids: pd.Index, kwh: np.ndarray, grid: Grid, prior: liveness.State | None = None
) -> pd.DataFrame:
    """One row per meter-hour from the meter's first reading on (`features.tables.liveness`),
    stamped at the end of the hour; `prior`: the state before the grid (incremental window)."""
    state = prior if prior is not None else liveness.State.empty(len(meter_ids))
    cols = liveness.liveness(kwh, liveness.epoch_hour(grid.start), state)
    keep = ~np.isnan(cols["last_reading_unix_s"])
    hours = grid.hour_index() + HOUR
    frame = liveness.to_long_by_hour("meter_id", meter_ids, hours, cols, keep=keep)
    return frame[METER_LIVENESS.columns]


def meter_day_base(
    meter_ids: pd.Index, kwh: np.ndarray, interrupted: np.ndarray, grid: Grid
) -> dict[str, np.ndarray]:
    """Per-meter daily matrices (meters, days) that need only the meter's own readings."""
    n = len(meter_ids)
    kwh_day = daily(kwh, "sum")
    by_hour = kwh.reshape(n, grid.days, 24)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN days are NaN, on purpose
        night = np.nansum(by_hour[:, :, 0:6], axis=2) / np.nansum(by_hour, axis=2)
        flat = np.nanstd(by_hour, axis=2) / np.nanmean(by_hour, axis=2)
        mean_7d = rolling(kwh_day, 7, "mean", 4)
        mean_28d = rolling(kwh_day, 28, "mean", 14)
        before = lag(rolling(kwh_day, 28, "mean", 14), 7)
        change = mean_7d / before - 1.0
    return {
        "kwh_day": kwh_day,
        "kwh_day_mean_7d": mean_7d,
        "kwh_day_mean_28d": mean_28d,
        "kwh_day_std_28d": rolling(kwh_day, 28, "std", 14),
        "kwh_change_7d_28d": np.where(np.isfinite(change), change, np.nan),
        "zero_hours_day": daily((kwh == 0).astype(float) + 0 * kwh, "sum", 18),
        "outage_hours_day": daily(interrupted, "sum", 18),
        "night_share_day": np.where(np.isfinite(night), night, np.nan),
        "flatness_day": np.where(np.isfinite(flat), flat, np.nan),
        "flatness_7d": rolling(np.where(np.isfinite(flat), flat, np.nan), 7, "mean", 4),
    } | hour_noise(by_hour, interrupted.reshape(n, grid.days, 24))


PROFILE_DAYS = 28  # the meter's own hourly profile: the mean of each hour over these past days
NOISE_FLOOR = 0.02  # readings below this share of the profile's mean hour count as this share


def hour_noise(by_hour: np.ndarray, interrupted: np.ndarray) -> dict[str, np.ndarray]:
    """How far a day's hours stray from the meter's own usual hourly profile (theft features).

    The profile: each hour's mean over the `PROFILE_DAYS` days before the day (from the meter's
    own readings only). `hour_noise_day`: the standard deviation over the day's hours of
    log(reading / profile); a day scaled as a whole (a lower level) leaves it unchanged, hours
    tampered one by one (or replaced by a flat or random profile) raise it. Hours with a supply
    interruption are left out (the meter reads zero while the supply is off); a day needs 18
    hours. `hour_noise_7d`: its mean over the last 7 days (at least 4)."""
    n, days, _ = by_hour.shape
    served = np.where(interrupted > 0, np.nan, by_hour)
    per_hour = served.transpose(0, 2, 1).reshape(n * 24, days)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN days are NaN, on purpose
        profile = lag(rolling(per_hour, PROFILE_DAYS, "mean", PROFILE_DAYS // 2), 1)
        profile = profile.reshape(n, 24, days).transpose(0, 2, 1)
        floor = NOISE_FLOOR * np.nanmean(profile, axis=2, keepdims=True)
        resid = np.log(np.maximum(served, floor)) - np.log(np.maximum(profile, floor))
        enough = np.sum(np.isfinite(resid), axis=2) >= 18
        noise = np.where(enough, np.nanstd(resid, axis=2), np.nan)
    noise = np.where(np.isfinite(noise), noise, np.nan)
    return {"hour_noise_day": noise, "hour_noise_7d": rolling(noise, 7, "mean", 4)}


def peer_change(change: np.ndarray, transformer_of: np.ndarray) -> np.ndarray:
    """Median 7d-vs-28d change of the meters on the same transformer (NaN without peers)."""
    out = np.full_like(change, np.nan)
    for tr in pd.unique(transformer_of):
        rows = np.flatnonzero(transformer_of == tr)
        if len(rows) >= 2:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # days where no peer has data
                out[rows] = np.nanmedian(change[rows], axis=0)
    return out


def vend_features(
    meter_ids: pd.Index,
    vends: pd.DataFrame | None,
    kwh_day: np.ndarray,
    prepaid: np.ndarray,
    grid: Grid,
    origin_day: int = 0,
) -> dict[str, np.ndarray]:
    """Rolling vend counts and energy bought for prepaid meters (NaN for the others).

    `origin_day` (<= 0): the first day of the period on `grid`'s days; the vends between it and
    the grid's start count for `days_since_vend` (an incremental build's window)."""
    n, days = kwh_day.shape
    count = np.zeros((n, days))
    bought = np.zeros((n, days))
    rows = day = np.zeros(0, dtype=np.int64)
    if vends is not None and len(vends):
        rows = meter_ids.get_indexer(vends["meter_id"])
        day = ((vends["timestamp"] - grid.start) // DAY).to_numpy().astype(np.int64)
        ok = (rows >= 0) & (day >= 0) & (day < days)
        np.add.at(count, (rows[ok], day[ok]), 1.0)
        np.add.at(bought, (rows[ok], day[ok]), vends["kwh"].to_numpy()[ok])
    count_30 = rolling(count, 30, "sum", 1)
    bought_30 = rolling(bought, 30, "sum", 1)
    metered_30 = rolling(np.nan_to_num(kwh_day), 30, "sum", 1)
    since = days_since_events(rows, day, n, days, origin_day)
    with np.errstate(all="ignore"):
        ratio = bought_30 / metered_30
    out = {
        "vend_count_30d": count_30,
        "vend_kwh_30d": bought_30,
        "days_since_vend": since,
        "vend_to_metered_30d": np.where(np.isfinite(ratio), ratio, np.nan),
    }
    return {k: np.where(prepaid[:, None], v, np.nan) for k, v in out.items()}


def meter_daily(
    meter_ids: pd.Index,
    base: dict[str, np.ndarray],
    transformer_of: np.ndarray,
    vend: dict[str, np.ndarray],
    grid: Grid,
) -> pd.DataFrame:
    """Daily meter rows, stamped at the end of the local day (when the day is known)."""
    peers = peer_change(base["kwh_change_7d_28d"], transformer_of)
    cols = (
        base
        | vend
        | {
            "peer_change_7d_28d": peers,
            "change_vs_peers": base["kwh_change_7d_28d"] - peers,
        }
    )
    frame = to_long("meter_id", meter_ids, grid.day_index() + DAY, cols)
    return frame[METER_DAILY.columns]
