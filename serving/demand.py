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
class ValidDemandRequest:
    """A forecast request after validation (series resolved, defaults filled): what the model
    answers; `gridml.serving.schema.DemandRequest` is the HTTP body it comes from."""

    series: list[str]
    level: str
    horizon: int
    quantiles: list[float]
    weather: str  # "persistence" or "request"

    def answer(self, loaded: Any, out: pd.DataFrame, missing: list[str]) -> dict[str, Any]:
        """The response to this request from model output rows over (at least) its series."""
        position = {s: i for i, s in enumerate(self.series)}
        rows = out["series_id"].to_numpy()
        order = np.fromiter((position.get(s, -1) for s in rows), dtype=np.intp, count=len(rows))
        mine = np.flatnonzero(order >= 0)
        mine = mine[np.argsort(order[mine], kind="stable")]
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
            "forecasts": shape_forecasts(out, self.quantiles, mine) if len(mine) else [],
        }


def shape_forecasts(
    out: pd.DataFrame, quantiles: list[float], rows: np.ndarray | None = None
) -> list[dict]:
    """Model output rows (series_id, horizon, origin, target_time, yhat, quantile columns),
    consecutive per series, as one forecast per series: origin, then each hour's P50 and the
    quantiles asked for. `rows`: the positions to shape, in order (default: all)."""
    take = np.arange(len(out)) if rows is None else np.asarray(rows)
    stamps = pd.DatetimeIndex(out["target_time"]).as_unit("ns").asi8[take]
    times = [_iso(t) for t in stamps.tolist()]
    origins = pd.DatetimeIndex(out["origin"]).as_unit("ns").asi8[take].tolist()
    horizon = out["horizon"].to_numpy()[take].tolist()
    p50 = out["yhat"].to_numpy(dtype=float)[take].tolist()
    qs = {
        quantile_column(q): out[quantile_column(q)].to_numpy(dtype=float)[take].tolist()
        for q in quantiles
    }
    series = out["series_id"].to_numpy()[take]
    units = out["unit"].to_numpy()[take] if "unit" in out.columns else np.full(len(take), "kWh")
    forecasts: list[dict] = []
    start = 0
    for end in [*np.flatnonzero(series[1:] != series[:-1]) + 1, len(series)]:
        forecasts.append(
            {
                "series_id": str(series[start]),
                "unit": str(units[start]),  # of p50 and the quantiles: energy in the hour
                "origin": _iso(origins[start]),
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


@functools.lru_cache(maxsize=4096)
def _iso(ns: int) -> str:
    """ISO 8601 of a UTC instant in epoch nanoseconds (the hours repeat: cached)."""
    return pd.Timestamp(ns, unit="ns", tz="UTC").isoformat()


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


NUMERIC_COLUMNS = [c for c in ORIGIN_COLUMNS if c != "level"] + PROFILE_COLUMNS
#: the float columns of the model input, in INPUT_COLUMNS order
FLOAT_COLUMNS = [c for c in INPUT_COLUMNS if c not in ("series_id", "horizon", "level")]
_FLOAT_ORDER = np.array(
    [[*NUMERIC_COLUMNS, *ISSUE_COLUMNS, *CONTEXT_COLUMNS].index(c) for c in FLOAT_COLUMNS]
)
HOUR_NS = 3_600_000_000_000


@dataclass(frozen=True)
class OriginRows:
    """The origin part of the model input, one row per series: what the online store says at
    the origin (NUMERIC_COLUMNS, then ISSUE_COLUMNS), as arrays."""

    series: np.ndarray  # series ids (object)
    level: np.ndarray  # (object)
    origin_ns: np.ndarray  # the origins, UTC epoch nanoseconds (int64)
    values: np.ndarray  # (series, NUMERIC_COLUMNS + ISSUE_COLUMNS) floats, NaN where missing

    def take(self, positions: list[int]) -> OriginRows:
        idx = np.asarray(positions, dtype=np.intp)
        return OriginRows(self.series[idx], self.level[idx], self.origin_ns[idx], self.values[idx])

    @classmethod
    def concat(cls, parts: list[OriginRows]) -> OriginRows:
        return OriginRows(
            np.concatenate([p.series for p in parts]),
            np.concatenate([p.level for p in parts]),
            np.concatenate([p.origin_ns for p in parts]),
            np.concatenate([p.values for p in parts]),
        )


def origin_rows(online: pd.DataFrame) -> OriginRows:
    """`online`: one row per series (series_id, level, the origin views' features, `origin`)."""
    # Feast returns None for missing values: a float array turns them into NaN
    values = np.array(online[NUMERIC_COLUMNS].to_numpy(), dtype=float)
    issue = issue_inputs(online.reset_index(drop=True)).to_numpy(dtype=float)
    return OriginRows(
        online["series_id"].astype(str).to_numpy(dtype=object),
        online["level"].astype(str).to_numpy(dtype=object),
        pd.DatetimeIndex(online["origin"]).as_unit("ns").asi8,
        np.concatenate([values, issue], axis=1),
    )


@dataclass(frozen=True)
class ContextTable:
    """`context_frame` as arrays: CONTEXT_COLUMNS of (region, target hour) found by position."""

    regions: dict[str, int]
    targets_ns: np.ndarray  # sorted, unique
    values: np.ndarray  # (regions x targets, CONTEXT_COLUMNS), region-major

    @classmethod
    def of(cls, frame: pd.DataFrame) -> ContextTable:
        names = list(dict.fromkeys(frame["region_id"].astype(str)))
        regions = {r: i for i, r in enumerate(names)}
        stamps = pd.DatetimeIndex(frame["target_time"]).as_unit("ns").asi8
        targets = np.unique(stamps)
        values = np.full((len(names) * len(targets), len(CONTEXT_COLUMNS)), np.nan)
        rows = frame["region_id"].astype(str).map(regions).to_numpy(dtype=np.intp)
        values[rows * len(targets) + np.searchsorted(targets, stamps)] = frame[
            CONTEXT_COLUMNS
        ].to_numpy(dtype=float)
        return cls(regions, targets, values)

    def lookup(self, region: np.ndarray, target_ns: np.ndarray) -> np.ndarray:
        """(rows, CONTEXT_COLUMNS); NaN where the table lacks the (region, hour)."""
        out = np.full((len(region), len(CONTEXT_COLUMNS)), np.nan)
        r = np.array([self.regions.get(x, -1) for x in region], dtype=np.intp)
        t = np.searchsorted(self.targets_ns, target_ns)
        t_ok = t < len(self.targets_ns)
        found = (r >= 0) & t_ok
        found[t_ok] &= self.targets_ns[t[t_ok]] == target_ns[t_ok]
        out[found] = self.values[r[found] * len(self.targets_ns) + t[found]]
        return out


def input_frame(
    rows: OriginRows, region: np.ndarray, horizon: int, context: ContextTable
) -> pd.DataFrame:
    """Rows (series x horizon 1..H) in the model's input layout, plus `origin`/`target_time`
    (`region`: each series' region)."""
    n = len(rows.series)
    h = np.tile(np.arange(1, horizon + 1, dtype=np.int64), n)
    origin_ns = np.repeat(rows.origin_ns, horizon)
    target_ns = origin_ns + (h - 1) * HOUR_NS
    ctx = context.lookup(np.repeat(region, horizon), target_ns)
    floats = np.concatenate([np.repeat(rows.values, horizon, axis=0), ctx], axis=1)
    frame = pd.DataFrame(floats[:, _FLOAT_ORDER], columns=FLOAT_COLUMNS)
    frame.insert(0, "series_id", np.repeat(rows.series, horizon))
    frame.insert(1, "horizon", h)
    frame.insert(INPUT_COLUMNS.index("level"), "level", np.repeat(rows.level, horizon))
    frame["origin"] = pd.to_datetime(origin_ns, unit="ns", utc=True)
    frame["target_time"] = pd.to_datetime(target_ns, unit="ns", utc=True)
    return frame


def model_input(
    online: pd.DataFrame,
    regions: pd.Series,
    horizon: int,
    context: pd.DataFrame | ContextTable,
) -> pd.DataFrame:
    """Rows (series x horizon 1..H) in the model's input layout, plus `origin`/`target_time`.

    `online`: one row per series (series_id, the origin views' features, `origin`);
    `regions`: series_id -> region_id; `context`: from `context_frame`."""
    table = context if isinstance(context, ContextTable) else ContextTable.of(context)
    region = online["series_id"].map(regions).to_numpy(dtype=object)
    return input_frame(origin_rows(online), region, horizon, table)
