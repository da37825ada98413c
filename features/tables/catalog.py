"""The catalog of feature tables: one spec per table, the single source of feature names and
types for the table builders, the Feast definitions and (later) serving."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gridml.features.contracts import DGA_GASES

EVENT_TIMESTAMP = "event_timestamp"
OWNER = "data-platform@gridml"


@dataclass(frozen=True)
class TableSpec:
    name: str
    entities: tuple[str, ...]  # join keys, e.g. ("meter_id",)
    features: dict[str, str]  # column -> "float" | "int" | "string"
    ttl: dt.timedelta  # 0 = never expires
    description: str
    owner: str = OWNER

    @property
    def columns(self) -> list[str]:
        return [*self.entities, EVENT_TIMESTAMP, *self.features]


def _floats(*names: str) -> dict[str, str]:
    return dict.fromkeys(names, "float")


METER_HOURLY = TableSpec(
    "meter_hourly",
    ("meter_id",),
    _floats(
        "kwh",
        "kwh_lag_24h",
        "kwh_lag_168h",
        "kwh_mean_24h",
        "kwh_std_24h",
        "kwh_max_24h",
        "kwh_mean_168h",
        "zero_hours_24h",
        "interrupted_share",
    ),
    dt.timedelta(hours=6),
    "Hourly meter consumption with lags and rolling statistics over the past (no look-ahead).",
)
METER_DAILY = TableSpec(
    "meter_daily",
    ("meter_id",),
    _floats(
        "kwh_day",
        "kwh_day_mean_7d",
        "kwh_day_mean_28d",
        "kwh_day_std_28d",
        "kwh_change_7d_28d",
        "peer_change_7d_28d",
        "change_vs_peers",
        "zero_hours_day",
        "outage_hours_day",
        "night_share_day",
        "flatness_day",
        "flatness_7d",
        "hour_noise_day",
        "hour_noise_7d",
        "vend_count_30d",
        "vend_kwh_30d",
        "days_since_vend",
        "vend_to_metered_30d",
    ),
    dt.timedelta(days=2),
    "Daily meter aggregates, change against its own past and its transformer peers, vends.",
)
METER_PROFILE = TableSpec(
    "meter_profile",
    ("meter_id",),
    {"segment": "string", "tariff": "string", "transformer_id": "string", "is_prepaid": "int"},
    dt.timedelta(0),
    "Static attributes of a meter and its place in the grid.",
)
LOAD_HOURLY = TableSpec(
    "load_hourly",
    ("series_id",),
    _floats(
        "load_kwh",  # in the series' unit (series_profile.unit): kWh, or MWh for measured series
        "load_lag_24h",
        "load_lag_168h",
        "load_mean_24h",
        "load_mean_168h",
        "load_max_168h",
        "interrupted_share",
        "shedding_share",
        "meters_reporting",
    ),
    dt.timedelta(hours=6),
    "Hourly load of a grid series (transformer, feeder, substation, zone): the sum of its "
    "meters, lags and rolling statistics that skip interrupted hours, and the share interrupted.",
)
LOAD_WEEK_PROFILE = TableSpec(
    "load_week_profile",
    ("series_id",),
    _floats(*(f"load_{k:03d}h_ago" for k in range(1, 169))),
    dt.timedelta(days=1),
    "At each local midnight, the last 168 hourly loads of a series (NaN where interrupted): "
    "the horizon-respecting lags of day-ahead and week-ahead forecasts.",
)
SERIES_PROFILE = TableSpec(
    "series_profile",
    ("series_id",),
    {
        "level": "string",
        "unit": "string",
        "parent_id": "string",
        "meters": "float",
        "share_residential": "float",
        "share_commercial": "float",
        "share_industrial": "float",
        "share_prepaid": "float",
    },
    dt.timedelta(0),
    "Static attributes of a grid series: level, energy unit of its load (kWh or MWh), parent, "
    "size and customer mix (its region is a join key of the entity rows, for weather and "
    "calendar).",
)
WEATHER_HOURLY = TableSpec(
    "weather_hourly",
    ("region_id",),
    _floats(
        "temperature_c",
        "relative_humidity_pct",
        "cloud_cover_pct",
        "irradiance_wm2",
        "rainfall_mm",
        "cooling_degree_c",
        "temperature_mean_24h",
        "temperature_max_24h",
    ),
    dt.timedelta(hours=6),
    "Observed hourly weather per region, with cooling degrees above 24 C.",
)
REGION_CALENDAR = TableSpec(
    "region_calendar",
    ("region_id",),
    {"is_holiday": "int", "is_holiday_tomorrow": "int", "day_of_week": "int", "is_weekend": "int"},
    dt.timedelta(days=1),
    "Local calendar of a region's day: public holidays of the zone's country, weekends.",
)
TRANSFORMER_DAILY = TableSpec(
    "transformer_daily",
    ("transformer_id",),
    _floats(
        "loading_pct_mean",
        "loading_pct_max",
        "overload_hours",
        "overload_hours_30d",
        "hot_spot_max_c",
        "hot_spot_max_30d",
        "oil_temp_max_c",
        "ambient_mean_c",
        "voltage_min_v",
        "ageing_acceleration_mean",
        "ageing_hours_observed",
        "unit_age_years",
        "rating_kva",
        "days_since_maintenance",
        "days_since_oil_treatment",
        *DGA_GASES,
        *(g.replace("_ppm", "_ratio_30d") for g in DGA_GASES),
    ),
    dt.timedelta(days=2),
    "Daily transformer telemetry, IEEE C57.91 ageing, DGA gases and maintenance history.",
)
TRANSFORMER_ENERGY = TableSpec(
    "transformer_energy_daily",
    ("transformer_id",),
    _floats(
        "energy_in_kwh",
        "energy_billed_kwh",
        "loss_kwh",
        "loss_ratio",
        "loss_ratio_7d",
        "loss_ratio_28d",
        "meters_reporting",
    ),
    dt.timedelta(days=2),
    "Daily energy balance: energy metered at the transformer minus its customers' meters.",
)

METER_LIVENESS = TableSpec(
    "meter_liveness",
    ("meter_id",),
    _floats("last_reading_unix_s", "hours_since_reading", "zero_run_hours"),
    dt.timedelta(hours=6),
    "Per meter-hour from its first reading on: time of the last reading, hours since it, and "
    "the run of consecutive zero-reading hours ending at it (features/tables/liveness.py; the "
    "stream consumer pushes the same definition online).",
)

TRANSFORMER_LIVENESS = TableSpec(
    "transformer_liveness",
    ("transformer_id",),
    _floats("meters_heard_share"),
    dt.timedelta(hours=6),
    "Per transformer-hour: the share of its meters with a reading in the hour "
    "(features/tables/liveness.py; streamed online alike).",
)

METER_LAST_EVENT = TableSpec(
    "meter_last_event",
    ("meter_id",),
    {"last_event_kind": "string", "last_event_unix_s": "float"},
    dt.timedelta(days=30),
    "Per meter event (power down 'last_gasp', power_restore, tamper), stamped at its time: a "
    "point-in-time lookup gives the meter's last event and its time (features/tables/"
    "liveness.py; the stream consumer pushes the same rows online).",
)

TRANSFORMER_ENERGY_BALANCE = TableSpec(
    "transformer_energy_balance",
    ("transformer_id",),
    _floats("energy_kwh", "meters_kwh", "meters_heard", "unexplained_share"),
    dt.timedelta(hours=6),
    "Per transformer-hour with telemetry: the energy metered at the transformer, the sum of its "
    "meters heard in the hour, and the share unexplained (features/tables/liveness.py; "
    "streamed online alike).",
)

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        METER_HOURLY,
        METER_DAILY,
        METER_PROFILE,
        METER_LIVENESS,
        LOAD_HOURLY,
        LOAD_WEEK_PROFILE,
        SERIES_PROFILE,
        WEATHER_HOURLY,
        REGION_CALENDAR,
        TRANSFORMER_DAILY,
        TRANSFORMER_ENERGY,
        TRANSFORMER_LIVENESS,
        METER_LAST_EVENT,
        TRANSFORMER_ENERGY_BALANCE,
    )
}
