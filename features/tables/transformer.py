"""Transformer features: daily telemetry, IEEE C57.91 ageing, DGA, maintenance, energy balance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.features.contracts import DGA_GASES
from gridml.features.physics import ageing_acceleration
from gridml.features.tables.catalog import TRANSFORMER_DAILY, TRANSFORMER_ENERGY
from gridml.features.tables.timegrid import (
    DAY,
    Grid,
    daily,
    days_since_events,
    lag,
    rolling,
    to_long,
    to_matrix,
)


def _days_since(events: pd.DataFrame, ids: pd.Index, grid: Grid, origin_day: int = 0) -> np.ndarray:
    """(ids, days) days since the latest event up to each day's end (NaN before any); events
    from `origin_day` (<= 0, on the grid's days) before the grid count too."""
    rows = day = np.zeros(0, dtype=np.int64)
    if len(events):
        rows = ids.get_indexer(events["transformer_id"])
        day = ((events["timestamp"] - grid.start) // DAY).to_numpy().astype(np.int64)
    return days_since_events(rows, day, len(ids), grid.days, origin_day)


def transformer_daily(
    telemetry: pd.DataFrame,
    dga: pd.DataFrame | None,
    maintenance: pd.DataFrame | None,
    transformers: pd.DataFrame | None,
    grid: Grid,
    origin_day: int = 0,
    aged_before: pd.Series | None = None,
    ids: pd.Index | None = None,
) -> pd.DataFrame:
    """Daily rows per transformer, stamped at the end of the local day.

    An incremental build computes on a window of the period: `origin_day` (<= 0) is the
    period's first day on the window's days (maintenance before the window counts), and
    `aged_before` (by transformer_id) the ageing hours observed up to the window's start (the
    previous build's value; 0 where absent). `ids`: the transformers (default: those in
    `telemetry`)."""
    if ids is None:
        ids = pd.Index(sorted(telemetry["transformer_id"].unique()))
    m = {
        c: to_matrix(telemetry, "transformer_id", c, ids, grid)
        for c in ("loading_pct", "hot_spot_temp_c", "oil_temp_c", "ambient_temp_c", "voltage_v")
    }
    maint = (
        maintenance
        if maintenance is not None
        else pd.DataFrame(columns=["transformer_id", "timestamp", "action"])
    )
    replaced = maint[maint["action"] == "replacement"]
    since_replacement = _days_since(replaced, ids, grid, origin_day)
    # equivalent ageing hours observed since the data start or the unit's replacement
    faa = ageing_acceleration(m["hot_spot_temp_c"])
    faa_day = np.nan_to_num(daily(faa, "sum", 12))
    cum = np.cumsum(faa_day, axis=1)
    reset_at = np.where(np.isnan(since_replacement), -1, np.arange(grid.days) - since_replacement)
    base = np.take_along_axis(cum, np.maximum(reset_at, 0).astype(int), axis=1)
    before = np.zeros((len(ids), 1))
    if aged_before is not None:
        before[:, 0] = aged_before.reindex(ids).fillna(0.0).to_numpy(dtype=float)
    aged = np.where(reset_at >= 0, cum - base, cum + before)
    overload = daily((m["loading_pct"] > 100).astype(float) + 0 * m["loading_pct"], "sum", 12)
    hs_max = daily(m["hot_spot_temp_c"], "max", 12)
    cols = {
        "loading_pct_mean": daily(m["loading_pct"], "mean", 12),
        "loading_pct_max": daily(m["loading_pct"], "max", 12),
        "overload_hours": overload,
        "overload_hours_30d": rolling(overload, 30, "sum", 7),
        "hot_spot_max_c": hs_max,
        "hot_spot_max_30d": rolling(hs_max, 30, "max", 7),
        "oil_temp_max_c": daily(m["oil_temp_c"], "max", 12),
        "ambient_mean_c": daily(m["ambient_temp_c"], "mean", 12),
        "voltage_min_v": daily(np.where(m["voltage_v"] > 0, m["voltage_v"], np.nan), "min", 1),
        "ageing_acceleration_mean": daily(faa, "mean", 12),
        "ageing_hours_observed": aged,
        "days_since_maintenance": _days_since(maint, ids, grid, origin_day),
        "days_since_oil_treatment": _days_since(
            maint[maint["action"] == "oil_treatment"], ids, grid, origin_day
        ),
    }
    day_years = grid.day_index().year.to_numpy()[None, :].astype(float)
    if transformers is not None:
        info = transformers.set_index("transformer_id").reindex(ids)
        age = day_years - info["commissioned_year"].to_numpy(dtype=float)[:, None]
        cols["unit_age_years"] = np.where(
            np.isnan(since_replacement), age, since_replacement / 365.25
        )
        cols["rating_kva"] = np.repeat(
            info["rating_kva"].to_numpy(dtype=float)[:, None], grid.days, axis=1
        )
    else:
        cols["unit_age_years"] = cols["rating_kva"] = np.full((len(ids), grid.days), np.nan)
    for gas in DGA_GASES:
        level = np.full((len(ids), grid.days), np.nan)
        if dga is not None and len(dga):
            rows = ids.get_indexer(dga["transformer_id"])
            day = ((dga["timestamp"] - grid.start) // DAY).to_numpy().astype(np.int64)
            ok = (rows >= 0) & (day >= 0) & (day < grid.days)
            level[rows[ok], day[ok]] = dga[gas].to_numpy()[ok]
            level = pd.DataFrame(level.T).ffill(limit=7).to_numpy().T
        cols[gas] = level
        baseline = lag(rolling(level, 30, "median", 7), 1)
        with np.errstate(all="ignore"):
            cols[gas.replace("_ppm", "_ratio_30d")] = level / baseline
    frame = to_long("transformer_id", ids, grid.day_index() + DAY, cols)
    return frame[TRANSFORMER_DAILY.columns]


def transformer_energy(
    telemetry: pd.DataFrame, billed: pd.DataFrame, grid: Grid, ids: pd.Index | None = None
) -> pd.DataFrame:
    """Energy in (transformer meter) vs billed (sum of its meters' days), per local day.

    `billed` has transformer_id x day matrices flattened: columns transformer_id, day, kwh, meters.
    `ids`: the transformers (default: those in `telemetry`).
    """
    if ids is None:
        ids = pd.Index(sorted(telemetry["transformer_id"].unique()))
    energy_in = daily(to_matrix(telemetry, "transformer_id", "energy_kwh", ids, grid), "sum", 20)
    out = np.full_like(energy_in, np.nan)
    reporting = np.zeros_like(energy_in)
    rows = ids.get_indexer(billed["transformer_id"])
    ok = rows >= 0
    out[rows[ok], billed["day"].to_numpy()[ok]] = billed["kwh"].to_numpy()[ok]
    reporting[rows[ok], billed["day"].to_numpy()[ok]] = billed["meters"].to_numpy()[ok]
    loss = energy_in - out
    with np.errstate(all="ignore"):
        cols = {
            "energy_in_kwh": energy_in,
            "energy_billed_kwh": out,
            "loss_kwh": loss,
            "loss_ratio": loss / energy_in,
            "loss_ratio_7d": rolling(loss, 7, "sum", 4) / rolling(energy_in, 7, "sum", 4),
            "loss_ratio_28d": rolling(loss, 28, "sum", 14) / rolling(energy_in, 28, "sum", 14),
            "meters_reporting": reporting,
        }
    cols = {k: np.where(np.isfinite(v), v, np.nan) for k, v in cols.items()}
    frame = to_long("transformer_id", ids, grid.day_index() + DAY, cols)
    return frame[TRANSFORMER_ENERGY.columns]
