"""Context features: interruptions, weather and the local calendar."""

from __future__ import annotations

import holidays
import numpy as np
import pandas as pd

from gridml.features.physics import interrupted_share
from gridml.features.tables.catalog import REGION_CALENDAR, WEATHER_HOURLY
from gridml.features.tables.timegrid import DAY, Grid, rolling, to_long, to_matrix

COOLING_BASE_C = 24.0


def interruption_shares(
    interruptions: pd.DataFrame | None,
    column: str,
    ids: pd.Index,
    grid: Grid,
    kinds: tuple[str, ...] | None = None,
) -> np.ndarray:
    """(ids, hours) share of each hour interrupted, from events keyed by `column`."""
    out = np.zeros((len(ids), grid.hours))
    if interruptions is None or not len(interruptions):
        return out
    ev = interruptions if kinds is None else interruptions[interruptions["kind"].isin(kinds)]
    ev = ev[ev[column].notna()]
    for key, group in ev.groupby(column):
        row = ids.get_indexer([key])[0]
        if row >= 0:
            out[row] = interrupted_share(
                group["start"].to_numpy(), group["end"].to_numpy(), grid.start, grid.hours
            )
    return out


def weather_hourly(weather: pd.DataFrame, grid: Grid) -> pd.DataFrame:
    """Observed weather, stamped at the observation time, with cooling degrees and 24 h stats."""
    regions = pd.Index(sorted(weather["region_id"].unique()))
    temp = to_matrix(weather, "region_id", "temperature_c", regions, grid)
    cols = {
        name: to_matrix(weather, "region_id", name, regions, grid)
        for name in ("relative_humidity_pct", "cloud_cover_pct", "irradiance_wm2", "rainfall_mm")
    }
    cols |= {
        "temperature_c": temp,
        "cooling_degree_c": np.maximum(0.0, temp - COOLING_BASE_C),
        "temperature_mean_24h": rolling(temp, 24, "mean"),
        "temperature_max_24h": rolling(temp, 24, "max"),
    }
    frame = to_long("region_id", regions, grid.hour_index(), cols, keep=~np.isnan(temp))
    return frame[WEATHER_HOURLY.columns]


def region_calendar(
    region_ids: pd.Index, country: str, grid: Grid, subdivision: str | None = None
) -> pd.DataFrame:
    """Calendar of each local day, stamped at the day's start (a calendar is known ahead);
    public holidays of `country`, and of its `subdivision` when given (e.g. AU, VIC)."""
    local_days = grid.day_index().tz_convert(grid.timezone)
    years = range(local_days[0].year, local_days[-1].year + 2)
    cal = holidays.country_holidays(country, subdiv=subdivision, years=years)
    is_holiday = np.array([d.date() in cal for d in local_days], dtype=float)
    tomorrow = np.array([(d + DAY).date() in cal for d in local_days], dtype=float)
    dow = local_days.dayofweek.to_numpy().astype(float)
    n = len(region_ids)
    cols = {
        "is_holiday": np.tile(is_holiday, (n, 1)),
        "is_holiday_tomorrow": np.tile(tomorrow, (n, 1)),
        "day_of_week": np.tile(dow, (n, 1)),
        "is_weekend": np.tile((dow >= 5).astype(float), (n, 1)),
    }
    frame = to_long("region_id", region_ids, grid.day_index(), cols)
    for col in REGION_CALENDAR.features:
        frame[col] = frame[col].astype("int64")
    return frame[REGION_CALENDAR.columns]
