"""Data contracts: one pandera schema per feed, shared by the generator and the importer.

A feed is a table the utility (or the generator) provides. A zone needs meter `readings` or
`load_measurements` (load measured at any level); the platform works with whichever others
exist. Timestamps are timezone-aware UTC; meter energy is kWh, measured load is hourly energy in
the series' own unit (kWh or MWh, `ENERGY_UNITS`).
`docs/data-contract.md` documents the same schemas for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa

UTC = pd.DatetimeTZDtype("ns", "UTC")

SEGMENTS = ("residential_prepaid", "residential_postpaid", "commercial", "industrial")
INTERRUPTION_KINDS = ("load_shedding", "unplanned", "transformer_failure")
METER_EVENT_KINDS = ("power_down", "power_restore", "tamper")
MAINTENANCE_ACTIONS = ("inspection", "oil_treatment", "repair", "replacement")
DGA_GASES = ("h2_ppm", "ch4_ppm", "c2h2_ppm", "c2h4_ppm", "c2h6_ppm", "co_ppm", "co2_ppm")

# Readings above this are not a meter reading but a unit or wiring error (a large industrial
# customer on an LV meter draws well under 2 MWh in an hour).
MAX_HOURLY_KWH = 2_000.0

# Load measured at a level of the grid (SCADA, feeder-head or system meters). A whole system or
# zone is level `zone`, the top of the hierarchy. `meter` and `transformer` series are kept in
# kWh, the levels above in MWh (numbers stay readable: a system of 6 GW is 6,000 MWh per hour).
MEASURED_LEVELS = ("meter", "transformer", "feeder", "substation", "zone")
# Plausible hourly energy per level, kWh (a larger value is a unit or wiring error): a large
# customer on one meter, a 5 MVA distribution transformer overloaded 2x, a 33 kV feeder of
# 100 MW, a 2 GW transmission substation, a national system of 2 TW.
MAX_HOURLY_KWH_BY_LEVEL = {
    "meter": MAX_HOURLY_KWH,
    "transformer": 10_000.0,
    "feeder": 100_000.0,
    "substation": 2_000_000.0,
    "zone": 2_000_000_000.0,
}
ENERGY_UNITS = {"kWh": 1.0, "MWh": 1_000.0}  # stored unit -> kWh
# Units accepted at import: power (the average over the interval) or energy per interval, -> kW
# or kWh.
POWER_UNITS = {"kW": 1.0, "MW": 1_000.0, "GW": 1_000_000.0}
IMPORT_ENERGY_UNITS = {"kWh": 1.0, "MWh": 1_000.0, "GWh": 1_000_000.0}
IMPORT_UNITS = (*POWER_UNITS, *IMPORT_ENERGY_UNITS)


def series_unit(level: str) -> str:
    """The energy unit a measured series of `level` is stored in (and shown in)."""
    return "kWh" if level in ("meter", "transformer") else "MWh"


def within_level_bounds(df: pd.DataFrame) -> pd.Series:
    """Per row of a stored `load_measurements` frame: the value lies within its level's bound."""
    kwh = df["value"] * df["unit"].map(ENERGY_UNITS)
    return kwh.le(df["level"].map(MAX_HOURLY_KWH_BY_LEVEL)) | kwh.isna()


def _id(**kwargs: Any) -> pa.Column:
    return pa.Column(str, pa.Check.str_length(min_value=1, max_value=64), **kwargs)


def _ts(**kwargs: Any) -> pa.Column:
    return pa.Column(UTC, **kwargs)


def _num(lo: float | None = None, hi: float | None = None, **kwargs: Any) -> pa.Column:
    checks = []
    if lo is not None:
        checks.append(pa.Check.ge(lo))
    if hi is not None:
        checks.append(pa.Check.le(hi))
    return pa.Column(float, checks, **kwargs)


@dataclass(frozen=True)
class Feed:
    """A feed's contract and how it relates to the others."""

    name: str
    schema: pa.DataFrameSchema
    key: tuple[str, ...]
    time_column: str | None = None
    entity_column: str | None = None
    # column -> (feed, column) it must reference when that feed exists
    references: dict[str, tuple[str, str]] = field(default_factory=dict)
    description: str = ""


def _schema(
    name: str,
    columns: dict[str, pa.Column],
    key: list[str],
    checks: list[pa.Check] | None = None,
) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(columns, checks=checks, unique=key, strict=True, name=name)


FEEDS: dict[str, Feed] = {}
# A zone needs at least one of these: the load of its meters or load measured at some level.
LOAD_FEEDS = ("readings", "load_measurements")


def _register(feed: Feed) -> None:
    FEEDS[feed.name] = feed


_register(
    Feed(
        name="readings",
        description="Meter consumption, hourly kWh (imported 15/30-min readings are summed).",
        schema=_schema(
            "readings",
            {"meter_id": _id(), "timestamp": _ts(), "kwh": _num(0.0, MAX_HOURLY_KWH)},
            ["meter_id", "timestamp"],
        ),
        key=("meter_id", "timestamp"),
        time_column="timestamp",
        entity_column="meter_id",
        references={"meter_id": ("meters", "meter_id")},
    )
)


def _measurement_columns(units: tuple[str, ...]) -> dict[str, pa.Column]:
    return {
        "series_id": _id(),
        "level": pa.Column(str, pa.Check.isin(MEASURED_LEVELS)),
        "region_id": pa.Column(str, pa.Check.str_length(1, 64), nullable=True),
        "timestamp": _ts(),
        "value": _num(0.0),
        "unit": pa.Column(str, pa.Check.isin(units)),
    }


_register(
    Feed(
        name="load_measurements",
        description="Load measured at a level of the grid, hourly energy in the series' unit "
        "(imported power averages or energy per 15/30/60 min are converted and summed).",
        schema=_schema(
            "load_measurements",
            _measurement_columns(tuple(ENERGY_UNITS)),
            ["series_id", "timestamp"],
            checks=[
                pa.Check(
                    within_level_bounds,
                    error="value above the plausible hourly energy of its level",
                )
            ],
        ),
        key=("series_id", "timestamp"),
        time_column="timestamp",
        entity_column="series_id",
    )
)
# The same rows as a utility's file gives them, before conversion: any unit of IMPORT_UNITS,
# any interval; the bounds are checked by the importer on the converted values.
MEASUREMENTS_AS_GIVEN = Feed(
    name="load_measurements",
    schema=_schema(
        "load_measurements",
        _measurement_columns(IMPORT_UNITS),
        ["series_id", "timestamp"],
    ),
    key=("series_id", "timestamp"),
    time_column="timestamp",
    entity_column="series_id",
)

_register(
    Feed(
        name="meters",
        description="One row per meter: where it hangs in the grid and who the customer is.",
        schema=_schema(
            "meters",
            {
                "meter_id": _id(),
                "transformer_id": _id(),
                "segment": pa.Column(str, pa.Check.isin(SEGMENTS)),
                "tariff": pa.Column(str),
            },
            ["meter_id"],
        ),
        key=("meter_id",),
        entity_column="meter_id",
        references={"transformer_id": ("transformers", "transformer_id")},
    )
)
_register(
    Feed(
        name="transformers",
        description="Distribution transformers and their place in region/substation/feeder.",
        schema=_schema(
            "transformers",
            {
                "transformer_id": _id(),
                "feeder_id": _id(),
                "substation_id": _id(),
                "region_id": _id(),
                "rating_kva": _num(5.0, 5_000.0),
                "commissioned_year": pa.Column(int, pa.Check.in_range(1950, 2100)),
            },
            ["transformer_id"],
        ),
        key=("transformer_id",),
        entity_column="transformer_id",
    )
)
_register(
    Feed(
        name="weather",
        description="Hourly weather per region (observed); only the temperature is required.",
        schema=_schema(
            "weather",
            {
                "region_id": _id(),
                "timestamp": _ts(),
                "temperature_c": _num(-30.0, 60.0),
                "relative_humidity_pct": _num(0.0, 100.0, nullable=True),
                "cloud_cover_pct": _num(0.0, 100.0, nullable=True),
                "irradiance_wm2": _num(0.0, 1_400.0, nullable=True),
                "rainfall_mm": _num(0.0, 300.0, nullable=True),
            },
            ["region_id", "timestamp"],
        ),
        key=("region_id", "timestamp"),
        time_column="timestamp",
        entity_column="region_id",
    )
)
_register(
    Feed(
        name="interruptions",
        description="Supply interruptions per feeder (or one transformer): load shedding, outages.",
        schema=_schema(
            "interruptions",
            {
                "feeder_id": _id(),
                "transformer_id": pa.Column(str, nullable=True),
                "start": _ts(),
                "end": _ts(),
                "kind": pa.Column(str, pa.Check.isin(INTERRUPTION_KINDS)),
            },
            ["feeder_id", "transformer_id", "start", "kind"],
            checks=[pa.Check(lambda d: d["end"] > d["start"], error="end must be after start")],
        ),
        key=("feeder_id", "transformer_id", "start", "kind"),
        time_column="start",
        entity_column="feeder_id",
    )
)
_register(
    Feed(
        name="transformer_telemetry",
        description="Hourly transformer telemetry and metered energy (for the energy balance).",
        schema=_schema(
            "transformer_telemetry",
            {
                "transformer_id": _id(),
                "timestamp": _ts(),
                "loading_pct": _num(0.0, 400.0),
                "ambient_temp_c": _num(-30.0, 60.0),
                "oil_temp_c": _num(-30.0, 200.0),
                "hot_spot_temp_c": _num(-30.0, 250.0),
                "voltage_v": _num(0.0, 300.0),
                "energy_kwh": _num(0.0, 10_000.0),
            },
            ["transformer_id", "timestamp"],
        ),
        key=("transformer_id", "timestamp"),
        time_column="timestamp",
        entity_column="transformer_id",
        references={"transformer_id": ("transformers", "transformer_id")},
    )
)
_register(
    Feed(
        name="transformer_dga",
        description="Dissolved gas analysis of transformer oil, daily samples, ppm.",
        schema=_schema(
            "transformer_dga",
            {"transformer_id": _id(), "timestamp": _ts()}
            | {gas: _num(0.0, 100_000.0) for gas in DGA_GASES},
            ["transformer_id", "timestamp"],
        ),
        key=("transformer_id", "timestamp"),
        time_column="timestamp",
        entity_column="transformer_id",
        references={"transformer_id": ("transformers", "transformer_id")},
    )
)
_register(
    Feed(
        name="maintenance",
        description="Maintenance log of transformers.",
        schema=_schema(
            "maintenance",
            {
                "transformer_id": _id(),
                "timestamp": _ts(),
                "action": pa.Column(str, pa.Check.isin(MAINTENANCE_ACTIONS)),
            },
            ["transformer_id", "timestamp", "action"],
        ),
        key=("transformer_id", "timestamp", "action"),
        time_column="timestamp",
        entity_column="transformer_id",
        references={"transformer_id": ("transformers", "transformer_id")},
    )
)
_register(
    Feed(
        name="failures",
        description="Transformer failures (the utility's failure log; also the maintenance label).",
        schema=_schema(
            "failures",
            {"transformer_id": _id(), "timestamp": _ts(), "failure_mode": pa.Column(str)},
            ["transformer_id", "timestamp"],
        ),
        key=("transformer_id", "timestamp"),
        time_column="timestamp",
        entity_column="transformer_id",
        references={"transformer_id": ("transformers", "transformer_id")},
    )
)
_register(
    Feed(
        name="vends",
        description="Prepaid token purchases (vend events).",
        schema=_schema(
            "vends",
            {
                "meter_id": _id(),
                "timestamp": _ts(),
                "amount": _num(0.0),
                "kwh": _num(0.0, 100_000.0),
            },
            ["meter_id", "timestamp"],
        ),
        key=("meter_id", "timestamp"),
        time_column="timestamp",
        entity_column="meter_id",
        references={"meter_id": ("meters", "meter_id")},
    )
)

_register(
    Feed(
        name="meter_events",
        description="AMI meter events stamped to the second: power_down (last gasp), "
        "power_restore, tamper.",
        schema=_schema(
            "meter_events",
            {
                "meter_id": _id(),
                "timestamp": _ts(),
                "kind": pa.Column(str, pa.Check.isin(METER_EVENT_KINDS)),
            },
            ["meter_id", "timestamp", "kind"],
        ),
        key=("meter_id", "timestamp", "kind"),
        time_column="timestamp",
        entity_column="meter_id",
        references={"meter_id": ("meters", "meter_id")},
    )
)

# Weather a file may leave out (missing values); the temperature is always needed.
OPTIONAL_WEATHER = ("relative_humidity_pct", "cloud_cover_pct", "irradiance_wm2", "rainfall_mm")

# Ground truth that the utility does not see; kept out of `feeds/` so feature code cannot read it.
THEFT_ATTACKS = ("h1", "h2", "h3", "h4", "h5", "h6")
THEFT_LABELS = pa.DataFrameSchema(
    {
        "meter_id": _id(unique=True),
        "theft_start": _ts(),
        "attack_type": pa.Column(str, pa.Check.isin(THEFT_ATTACKS)),
    },
    strict=True,
    name="theft_labels",
)


# Ground truth of the unplanned outages of a synthetic zone (labels/outages.parquet).
OUTAGE_LEVELS = ("transformer", "feeder", "substation")
OUTAGE_LABELS = pa.DataFrameSchema(
    {
        "outage_id": _id(unique=True),
        "level": pa.Column(str, pa.Check.isin(OUTAGE_LEVELS)),
        "node_id": _id(),
        "cause": pa.Column(str),
        "start": _ts(),
        "end": _ts(),
        "region_id": _id(),
        "customers": pa.Column(int, pa.Check.ge(1)),
        "meters_dark": pa.Column(int, pa.Check.ge(0)),
        "gasps": pa.Column(int, pa.Check.ge(0)),
        "first_gasp": _ts(nullable=True),
    },
    strict=True,
    name="outage_labels",
)


def feed(name: str) -> Feed:
    """The contract of a feed by name; the error lists the known feeds."""
    try:
        return FEEDS[name]
    except KeyError:
        raise KeyError(f"unknown feed {name!r}; known feeds: {', '.join(FEEDS)}") from None
