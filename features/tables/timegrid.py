"""Entity x hour matrices on a regular grid, and rolling statistics that only look back.

Feature code works on (entities, hours) float matrices with NaN for missing readings, so lags
and windows are exact in time even when readings are missing.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)


@dataclass(frozen=True)
class Grid:
    """Hourly UTC grid starting at a local midnight, whole local days long."""

    start: pd.Timestamp  # UTC, a local midnight
    days: int
    timezone: str

    @classmethod
    def covering(cls, first: pd.Timestamp, last: pd.Timestamp, timezone: str) -> Grid:
        lo = first.tz_convert(timezone).floor("D")
        hi = (last.tz_convert(timezone) + HOUR).ceil("D")
        return cls(lo.tz_convert("UTC"), round((hi - lo) / DAY), timezone)

    @property
    def hours(self) -> int:
        return self.days * 24

    def hour_index(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.hours, freq="h")

    def day_index(self) -> pd.DatetimeIndex:
        """UTC starts of the local days."""
        return pd.date_range(self.start, periods=self.days, freq="D")

    def positions(self, ts: pd.Series) -> np.ndarray:
        return ((ts - self.start) // HOUR).to_numpy().astype(np.int64)


def to_matrix(
    df: pd.DataFrame, entity: str, value: str, entities: pd.Index, grid: Grid, ts: str = "timestamp"
) -> np.ndarray:
    """Long frame -> (entities, hours) matrix; NaN where there is no row."""
    mat = np.full((len(entities), grid.hours), np.nan)
    rows = entities.get_indexer(df[entity])
    cols = grid.positions(df[ts])
    ok = (rows >= 0) & (cols >= 0) & (cols < grid.hours)
    mat[rows[ok], cols[ok]] = df[value].to_numpy()[ok]
    return mat


def days_since_events(
    rows: np.ndarray, day: np.ndarray, n: int, days: int, origin_day: int = 0
) -> np.ndarray:
    """(n, days) days since each row's latest event up to each day's end; NaN before any.

    `rows`/`day`: the entity row (-1: unknown) and grid day of each event. Events before the
    grid (negative `day`) from `origin_day` on count as history: an incremental build computes
    on a window of the period (origin_day < 0: the period starts before the window) and must
    see the events before it as a full build does."""
    none = np.iinfo(np.int64).min // 2
    hit = np.full((n, days), none, dtype=np.int64)
    idx = np.arange(days)
    ok = (rows >= 0) & (day >= 0) & (day < days)
    hit[rows[ok], day[ok]] = day[ok]
    prior = np.full(n, none, dtype=np.int64)
    before = (rows >= 0) & (day < 0) & (day >= origin_day)
    np.maximum.at(prior, rows[before], day[before])
    last = np.maximum(np.maximum.accumulate(hit, axis=1), prior[:, None])
    return np.where(last > none, idx[None, :] - last, np.nan)


def lag(mat: np.ndarray, steps: int) -> np.ndarray:
    """The matrix shifted `steps` columns later along time, NaN where no earlier value exists."""
    out = np.full_like(mat, np.nan)
    out[:, steps:] = mat[:, :-steps]
    return out


def rolling(mat: np.ndarray, window: int, stat: str, min_periods: int | None = None) -> np.ndarray:
    """Trailing window statistic along time (the window ends at, and includes, each column)."""
    frame = pd.DataFrame(mat.T)
    r = frame.rolling(window, min_periods=min_periods or max(1, window // 2))
    return getattr(r, stat)().to_numpy().T


def daily(mat: np.ndarray, stat: str, min_hours: int = 18) -> np.ndarray:
    """(entities, hours) -> (entities, days); days with fewer than `min_hours` values are NaN.

    `sum` is scaled up from the hours present so a few missing readings do not look like a drop.
    """
    n, hours = mat.shape
    days = mat.reshape(n, hours // 24, 24)
    count = np.sum(~np.isnan(days), axis=2)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN days are NaN, on purpose
        if stat == "sum":
            out = np.nanmean(days, axis=2) * 24
        else:
            out = getattr(np, f"nan{stat}")(days, axis=2)
    out[count < min_hours] = np.nan
    return out


def to_long(
    entity: str,
    entities: pd.Index,
    event_times: pd.DatetimeIndex,
    columns: dict[str, np.ndarray],
    keep: np.ndarray | None = None,
    hour_major: bool = False,
) -> pd.DataFrame:
    """(entities, times) matrices -> long frame with `event_timestamp`; rows where `keep`.

    Entity-major by default (each entity's times together); `hour_major`: every entity of a
    time together, so a Parquet part's row groups each cover a span of times."""
    n, t = len(entities), len(event_times)
    ids = entities.to_numpy().astype(object)
    stamps = event_times.values
    frame = pd.DataFrame(
        {
            entity: np.tile(ids, t) if hour_major else np.repeat(ids, t),
            "event_timestamp": np.repeat(stamps, n) if hour_major else np.tile(stamps, n),
        }
        | {
            name: (
                np.asarray(m, dtype=float).T if hour_major else np.asarray(m, dtype=float)
            ).reshape(-1)
            for name, m in columns.items()
        }
    )
    frame["event_timestamp"] = frame["event_timestamp"].dt.tz_localize("UTC")
    if keep is not None:
        mask = np.asarray(keep).T if hour_major else np.asarray(keep)
        frame = frame[mask.reshape(-1)].reset_index(drop=True)
    return frame
