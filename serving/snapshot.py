"""What the service keeps of the workspace between requests: topology and short histories.

The Feast online store answers "the latest value of each feature"; some model inputs are short
histories instead (a transformer's last 30 days, a meter's last 8 weeks of daily kWh, the last
day of weather for a persistence forecast). Those are read once from the same offline feature
tables Feast serves, and rebuilt when the tables change (`data_version`), never per request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError, UserError
from gridml.features.store.definitions import SERVICES, service_join_keys
from gridml.features.store.lookup import entity_table, topology
from gridml.features.tables.series import series_units
from gridml.io import parts, read_parts
from gridml.models import catalog
from gridml.models.windows import daily_calendar
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
HISTORY_TABLES = (
    "meter_daily",
    "weather_hourly",
    "transformer_daily",
    "load_week_profile",
    "series_profile",
)
WEATHER_COLUMNS = ("temperature_c", "relative_humidity_pct", "cloud_cover_pct", "irradiance_wm2")
MAX_DAILY_DAYS = 16 * 7  # the longest daily kWh window a theft model may ask for


def data_version(ws: Workspace) -> tuple:
    """Changes whenever a feature table or the zone is rebuilt (folders are swapped whole)."""
    stamps: list[tuple[str, int, int]] = []
    for table in HISTORY_TABLES:
        files = parts(ws.table_dir(table))
        stamps.append((table, len(files), max((f.stat().st_mtime_ns for f in files), default=0)))
    zone = ws.zone_file
    stamps.append(("zone", 1, zone.stat().st_mtime_ns) if zone.is_file() else ("zone", 0, 0))
    return tuple(stamps)


@dataclass(frozen=True)
class Zone:
    country: str
    timezone: str
    subdivision: str | None = None  # of the country, for its public holidays too


@dataclass(frozen=True)
class DailyHistory:
    """Daily kWh and interrupted hours of every meter over the last days of the table."""

    meters: pd.Index
    days: pd.DatetimeIndex  # consecutive event timestamps (ends of local days), oldest first
    kwh: np.ndarray  # (meters, days), NaN where missing
    outage: np.ndarray  # (meters, days), 0 where unknown


@dataclass(frozen=True)
class Snapshot:
    zone: Zone
    series: pd.DataFrame  # series_id -> region_id, unit (kWh or MWh) (index series_id)
    meters: pd.DataFrame  # meter_id -> transformer_id (index meter_id)
    transformers: pd.Index
    weather: pd.DataFrame  # (region_id, local hour) -> WEATHER_COLUMNS: the last observed day
    daily: DailyHistory | None
    version: tuple


def series_service(services: Iterable[str] | None = None) -> str | None:
    """The FeatureService keyed by `series_id` (the demand model's) among `services`: the ones
    the service reads, or by default those of the served model specs; None if there is none."""
    if services is None:
        services = [s.feature_service for s in catalog.served()]
    known = [s for s in dict.fromkeys(services) if s in SERVICES]  # a plugin's may be elsewhere
    keyed = [s for s in known if service_join_keys(s)[:1] == ["series_id"]]
    if len(keyed) > 1:
        raise UserError(f"several served FeatureServices are keyed by series_id: {keyed}")
    return keyed[0] if keyed else None


def load_snapshot(ws: Workspace, services: Iterable[str] | None = None) -> Snapshot:
    """Read topology and histories; the store must have been built (`gridml features build`).
    The series are the entities of the FeatureService keyed by `series_id` among `services`
    (see `series_service`)."""
    version = data_version(ws)
    if not ws.zone_file.is_file():
        raise MissingDataError(f"{ws.zone_file} not found: generate or import data first")
    raw = json.loads(ws.zone_file.read_text())
    zone = Zone(raw.get("country", "CI"), raw["timezone"], raw.get("subdivision"))
    service = series_service(services)
    if service is None:  # no served model forecasts series
        series = pd.DataFrame(
            {"region_id": pd.Series(dtype=str)}, index=pd.Index([], name="series_id")
        )
    else:
        series = entity_table(ws, service).set_index("series_id")
    series["unit"] = series_units(ws, series.index)
    try:
        topo = topology(ws)
        meters = topo[["meter_id", "transformer_id"]].set_index("meter_id")
        transformers = pd.Index(sorted(topo["transformer_id"].dropna().unique()))
    except MissingDataError:  # readings- or measurements-only zone: no topology
        meters = pd.DataFrame({"transformer_id": pd.Series(dtype=str)})
        transformers = pd.Index([], dtype=str)
    snap = Snapshot(
        zone,
        series,
        meters,
        transformers,
        last_day_weather(ws, zone.timezone),
        daily_history(ws),
        version,
    )
    log.info(
        "snapshot: %d series, %d meters, %d transformers, daily history to %s",
        len(series),
        len(meters),
        len(transformers),
        snap.daily.days[-1] if snap.daily is not None and len(snap.daily.days) else "none",
    )
    return snap


def last_day_weather(ws: Workspace, timezone: str) -> pd.DataFrame:
    """Each region's last 24 observed hours, keyed by local hour (a persistence forecast)."""
    frame = read_parts(
        ws.table_dir("weather_hourly"), columns=["region_id", "event_timestamp", *WEATHER_COLUMNS]
    )
    if frame is None or frame.empty:
        index = pd.MultiIndex.from_arrays([[], []], names=["region_id", "hour"])
        return pd.DataFrame(columns=list(WEATHER_COLUMNS), index=index, dtype=float)
    frame = frame.sort_values("event_timestamp").groupby("region_id").tail(24)
    # weather rows are stamped at the end of the hour observed
    observed = frame["event_timestamp"] - pd.Timedelta(hours=1)
    frame = frame.assign(hour=observed.dt.tz_convert(timezone).dt.hour)
    return frame.set_index(["region_id", "hour"])[list(WEATHER_COLUMNS)].astype(float)


def daily_history(ws: Workspace, days: int = MAX_DAILY_DAYS) -> DailyHistory | None:
    """Daily kWh and interrupted hours of every meter over the last `days` calendar days (None
    without a meter_daily table)."""
    frame = read_parts(
        ws.table_dir("meter_daily"),
        columns=["meter_id", "event_timestamp", "kwh_day", "outage_hours_day"],
    )
    if frame is None or frame.empty:
        return None
    kwh, outage = daily_calendar(frame, last_days=days)
    return DailyHistory(
        pd.Index(kwh.index.astype(str)),
        pd.DatetimeIndex(kwh.columns),
        kwh.to_numpy(dtype=float),
        np.nan_to_num(outage.to_numpy(dtype=float)),
    )
