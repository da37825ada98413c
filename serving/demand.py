"""The demand model's input, assembled for a request from the online store and the calendar.

The rows have exactly the layout training gives the model (`training/demand/features.py`,
`INPUT_COLUMNS`): the series' FeatureService values at the forecast origin, the horizon, and the
context of each target hour. The model computes its features from them itself (pyfunc), so
nothing here re-implements a feature:

- origin values (`load_hourly`, `load_week_profile`, `series_profile`) come from the Feast
  online store; the origin is the local midnight the weekly profile was stamped at;
- the issue-time values (`ISSUE_COLUMNS`: the last observed hour against the same hour a day
  and a week before, the last 24 hours' mean) come from the online `load_hourly` row, the
  latest hour materialized or pushed when the request comes (training reads the row at its
  issue time, `training/demand/dataset.issue_features`; both through `issue_inputs`);
- the calendar of the target hours comes from `features/tables/grid.region_calendar`, the
  function that builds the `region_calendar` table, and the holiday period (distance to the
  nearest public holiday, holidays around the day) from `training/demand/calendar.py`, the
  function training uses;
- the weather of the target hours is the caller's temperature forecast when given; otherwise a
  persistence forecast: the region's last observed day, hour by hour (`weather: persistence`
  in the response). Cooling degrees use the table's own base temperature.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridml.features.tables.grid import COOLING_BASE_C, region_calendar
from gridml.features.tables.load import ZONE_ID
from gridml.features.tables.timegrid import Grid
from gridml.serving.snapshot import WEATHER_COLUMNS
from gridml.training.demand.calendar import HOLIDAY_PERIOD_COLUMNS, holiday_period
from gridml.training.demand.features import (
    CONTEXT_COLUMNS,
    INPUT_COLUMNS,
    ISSUE_COLUMNS,
    LEVEL_CODES,
    ORIGIN_COLUMNS,
    PROFILE_COLUMNS,
    issue_inputs,
)
from gridml.training.metrics import quantile_column

HOUR = pd.Timedelta(hours=1)
ORIGIN_VIEWS = ("load_hourly", "load_week_profile", "series_profile")
ORIGIN_FEATURE = "load_001h_ago"  # its event timestamp is the origin (a local midnight)
LEVELS = tuple(LEVEL_CODES)


def series_ids(level: str, ids: list[str]) -> list[str]:
    """`feeder` + `F001` -> `feeder:F001`; full series ids pass through; the zone's total is
    `zone` + `all` (`zone:all`), a measured system `zone` + `VIC` (`zone:VIC`)."""
    if level == "zone" and not ids:
        return [ZONE_ID]
    return [i if i.startswith(f"{level}:") else f"{level}:{i}" for i in ids]


def origin_refs(service_refs: dict[str, list[str]]) -> list[str]:
    """`view:feature` references of the views that stamp the forecast origin."""
    return [f"{view}:{f}" for view in ORIGIN_VIEWS for f in service_refs[view]]


def origins_from_online(online: pd.DataFrame) -> pd.Series:
    """The forecast origin of each row: when its weekly profile was stamped (UTC); NaT when the
    online store holds no profile for it."""
    seconds = pd.to_numeric(online[f"{ORIGIN_FEATURE}__ts"], errors="coerce")
    stamps = pd.to_datetime(seconds, unit="s", utc=True)
    return stamps.where(seconds > 0)


def target_hours(origins: pd.Series, horizon: int) -> pd.DatetimeIndex:
    """Every target hour of every origin (sorted, unique)."""
    steps = pd.to_timedelta(np.arange(horizon), unit="h")
    hours = [pd.DatetimeIndex([o]).repeat(horizon) + steps for o in origins.unique()]
    return hours[0].append(hours[1:]).unique().sort_values()


@dataclass(frozen=True)
class DemandRequest:
    """A validated forecast request."""

    series: list[str]
    level: str
    horizon: int
    quantiles: list[float]
    weather: str  # "persistence" or "request"

    def answer(self, loaded: Any, out: pd.DataFrame, missing: list[str]) -> dict[str, Any]:
        """The response to this request from model output rows over (at least) its series."""
        mine = out[out["series_id"].isin(self.series)]
        order = pd.Index(self.series).get_indexer(mine["series_id"])
        mine = mine.iloc[np.argsort(order, kind="stable")]
        absent = set(missing)
        lacking = [s for s in self.series if s in absent]
        return {
            "model": loaded.info(),
            "level": self.level,
            "horizon": self.horizon,
            "weather": self.weather,
            "missing": [
                {"id": s, "reason": "no load profile in the online store (run materialize)"}
                for s in lacking
            ],
            "forecasts": shape_forecasts(mine, self.quantiles) if len(mine) else [],
        }


def shape_forecasts(out: pd.DataFrame, quantiles: list[float]) -> list[dict]:
    """Model output rows (series_id, horizon, origin, target_time, yhat, quantile columns),
    consecutive per series, as one forecast per series: origin, then each hour's P50 and the
    quantiles asked for."""
    rows = out
    times = [t.isoformat() for t in pd.DatetimeIndex(rows["target_time"])]
    origins = pd.DatetimeIndex(rows["origin"])
    horizon = rows["horizon"].to_numpy().tolist()
    p50 = out["yhat"].to_numpy(dtype=float).tolist()
    qs = {
        quantile_column(q): out[quantile_column(q)].to_numpy(dtype=float).tolist()
        for q in quantiles
    }
    series = rows["series_id"].to_numpy()
    units = rows["unit"].to_numpy() if "unit" in rows.columns else np.full(len(rows), "kWh")
    forecasts: list[dict] = []
    start = 0
    for end in [*np.flatnonzero(series[1:] != series[:-1]) + 1, len(series)]:
        forecasts.append(
            {
                "series_id": str(series[start]),
                "unit": str(units[start]),  # of p50 and the quantiles: energy in the hour
                "origin": origins[start].isoformat(),
                "hours": [
                    {
                        "target_time": times[i],
                        "horizon": horizon[i],
                        "p50": p50[i],
                        "quantiles": {name: values[i] for name, values in qs.items()},
                    }
                    for i in range(start, end)
                ],
            }
        )
        start = end
    return forecasts


@functools.lru_cache(maxsize=64)
def _calendar(
    regions: tuple[str, ...],
    start: pd.Timestamp,
    days: int,
    country: str,
    timezone: str,
    subdivision: str | None = None,
) -> pd.DataFrame:
    """`region_calendar` rows of the days a forecast covers (cached: a calendar is fixed)."""
    grid = Grid(start, days, timezone)
    frame = region_calendar(pd.Index(regions), country, grid, subdivision)
    return frame.set_index(["region_id", "event_timestamp"])


def context_frame(
    regions: list[str],
    targets: pd.DatetimeIndex,
    country: str,
    timezone: str,
    weather: pd.DataFrame,
    temperature: list[float] | None,
    subdivision: str | None = None,
) -> pd.DataFrame:
    """(region_id, target_time) -> CONTEXT_COLUMNS for every target hour of every region."""
    grid = Grid.covering(targets.min(), targets.max(), timezone)
    calendar = _calendar(tuple(regions), grid.start, grid.days, country, timezone, subdivision)
    local = targets.tz_convert(timezone)
    day_start = local.floor("D").tz_convert("UTC")
    n = len(targets)
    period = holiday_period(local, country, subdivision)
    parts = []
    for region in regions:
        cal = calendar.reindex(pd.MultiIndex.from_arrays([[region] * n, day_start]))
        hourly = weather.reindex(pd.MultiIndex.from_arrays([[region] * n, local.hour]))
        cols: dict[str, np.ndarray] = {"target_hour": local.hour.to_numpy(dtype=float)}
        for col in ("is_holiday", "is_holiday_tomorrow", "day_of_week", "is_weekend"):
            cols[col] = cal[col].to_numpy(dtype=float)
        for col in HOLIDAY_PERIOD_COLUMNS:
            cols[col] = period[col].to_numpy(dtype=float)
        for col in WEATHER_COLUMNS:
            cols[col] = hourly[col].to_numpy(dtype=float) if col in hourly else np.full(n, np.nan)
        if temperature is not None:
            cols["temperature_c"] = np.asarray(temperature[:n], dtype=float)
        cols["cooling_degree_c"] = np.maximum(0.0, cols["temperature_c"] - COOLING_BASE_C)
        parts.append(pd.DataFrame({"region_id": region, "target_time": targets, **cols}))
    return pd.concat(parts, ignore_index=True)


def model_input(
    online: pd.DataFrame,
    regions: pd.Series,
    horizon: int,
    context: pd.DataFrame,
) -> pd.DataFrame:
    """Rows (series x horizon 1..H) in the model's input layout, plus `origin`/`target_time`.

    `online`: one row per series (series_id, the origin views' features, `origin`);
    `regions`: series_id -> region_id; `context`: from `context_frame`."""
    n = len(online)
    numeric = [c for c in ORIGIN_COLUMNS if c != "level"] + PROFILE_COLUMNS
    # Feast returns None for missing values: a float array turns them into NaN
    values = np.array(online[numeric].to_numpy(), dtype=float)
    issue = issue_inputs(online.reset_index(drop=True)).to_numpy(dtype=float)
    values = np.repeat(np.concatenate([values, issue], axis=1), horizon, axis=0)
    h = np.tile(np.arange(1, horizon + 1), n)
    origin = np.repeat(online["origin"].to_numpy(), horizon)
    target = pd.DatetimeIndex(origin, tz="UTC") + pd.to_timedelta(h - 1, unit="h")
    region = np.repeat(online["series_id"].map(regions).to_numpy(), horizon)
    ctx = context.set_index(["region_id", "target_time"])[CONTEXT_COLUMNS]
    ctx_values = ctx.reindex(pd.MultiIndex.from_arrays([region, target])).to_numpy(dtype=float)
    floats = pd.DataFrame(
        np.concatenate([values, ctx_values], axis=1),
        columns=[*numeric, *ISSUE_COLUMNS, *CONTEXT_COLUMNS],
    )
    keys = pd.DataFrame(
        {
            "series_id": np.repeat(online["series_id"].astype(str).to_numpy(), horizon),
            "horizon": h.astype("int64"),
            "level": np.repeat(online["level"].astype(str).to_numpy(), horizon),
            "origin": origin,
            "target_time": target,
        }
    )
    frame = pd.concat([keys, floats], axis=1)
    return frame[[*INPUT_COLUMNS, "origin", "target_time"]]
