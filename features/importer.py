"""Import a utility's own files (CSV or Parquet) as the workspace's feeds.

Everything is checked before anything is written: file types, columns, types, time stamps (each
must carry an explicit UTC offset), the contracts of `contracts.py` (through `validate.py`), ids
against the imported meters/transformers, time order, and the readings' interval. Any problem
raises one `ContractError` listing them all (file, 1-based data rows, column) and leaves the
workspace untouched. On success the imported set replaces the whole feeds folder atomically.

Readings may come every 15, 30 or 60 minutes (detected per meter, stamped at the START of the
interval); they are summed into hourly kWh, keeping only complete hours. Load measurements
(`load_measurements`, any level) likewise per series, converted once from the file's unit
(power averages or energy per interval) into hourly energy in the series' unit (kWh or MWh)
and checked against their level's plausible bound. Weather may leave out its region and every
column but the temperature; sub-hourly weather is averaged into hours. See
docs/data-contract.md.
"""

from __future__ import annotations

import logging
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import holidays
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gridml.errors import ContractError
from gridml.features.contracts import (
    ENERGY_UNITS,
    FEEDS,
    IMPORT_ENERGY_UNITS,
    IMPORT_UNITS,
    LOAD_FEEDS,
    MAX_HOURLY_KWH_BY_LEVEL,
    MEASURED_LEVELS,
    MEASUREMENTS_AS_GIVEN,
    OPTIONAL_WEATHER,
    POWER_UNITS,
    Feed,
    series_unit,
)
from gridml.features.physics import country_timezone
from gridml.features.tables.load import ZONE_ID, ZONE_REGION
from gridml.features.validate import check_frame, check_order, check_references, describe_rows
from gridml.io import part_path, staged_dir, write_json_atomic
from gridml.workspace import Workspace

log = logging.getLogger(__name__)

SUPPORTED_INTERVALS_MIN = (15, 30, 60)
METERS_PER_PART = 2_000
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
MAX_SHOWN = 5

# A time of day followed by an explicit offset: ...T00:00Z, ...00:00:00+00:00, ...00:00+0100.
_OFFSET = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$")

Kind = Literal["text", "float", "int", "time"]


@dataclass
class ImportReport:
    """What an import wrote."""

    rows: dict[str, int] = field(default_factory=dict)  # feed -> rows written
    input_rows: dict[str, int] = field(default_factory=dict)  # feed -> data rows in the file
    intervals: dict[int, int] = field(default_factory=dict)  # reading interval (min) -> meters
    dropped_hours: int = 0  # incomplete meter- or series-hours left out of the hourly sums
    measurement_intervals: dict[int, int] = field(default_factory=dict)  # minutes -> series
    series_units: dict[str, str] = field(default_factory=dict)  # measured series -> unit
    region: str = ZONE_REGION  # the region of what has none (see `zone_region`)
    readings_parts: int = 0
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None


# --- reading and type conversion -------------------------------------------------------------


def column_kind(contract: Feed, column: str) -> Kind:
    """How a contract column is stored: text, float64, int64 or UTC timestamps."""
    dtype = str(contract.schema.columns[column].dtype)
    if dtype.startswith("datetime64"):
        return "time"
    if dtype.startswith("float"):
        return "float"
    if dtype.startswith("int"):
        return "int"
    return "text"


def read_table(path: Path) -> pd.DataFrame:
    """A file as a frame, index = 0-based data row. CSV cells stay text (an empty cell is a
    missing value); Parquet columns keep their stored types. Header names are stripped."""
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        df = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
        )
    elif name.endswith(PARQUET_SUFFIXES):
        df = pd.read_parquet(path)
    else:
        raise ValueError(
            f"unsupported file type; use one of {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}"
        )
    df.columns = [str(c).strip() for c in df.columns]
    return df.reset_index(drop=True)


def _as_text(values: pd.Series) -> pd.Series:
    """Non-missing values as Python str (object dtype), missing ones as NaN."""
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) == "string":
        return values  # already (as read from CSV)
    out = values.astype(object)
    present = out.notna()
    out[present] = out[present].astype(str)
    return out.where(present, np.nan)


def _values(values: pd.Series) -> str:
    return ", ".join(repr(v) for v in values.head(MAX_SHOWN))


def _is_text(values: pd.Series) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values)


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


# Each parse_* returns (converted values, index of the rows that failed, messages).
Parsed = tuple[pd.Series, pd.Index, list[str]]


def _wrong_type(values: pd.Series, column: str, source: str, expected: str) -> Parsed:
    msg = f"{source}: column {column!r} has type {values.dtype}, expected {expected}"
    return pd.Series(np.nan, index=values.index), values.index, [msg]


def parse_timestamps(values: pd.Series, column: str, source: str) -> Parsed:
    """Values as datetime64[ns, UTC]. Each value must carry an explicit UTC offset (or be
    stored tz-aware); naive and unparsable values fail."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype("datetime64[ns, UTC]"), values.index[[]], []
    if not (_is_text(values) or pd.api.types.is_datetime64_dtype(values)):
        return _wrong_type(values, column, source, "timestamps")
    # naive datetimes become naive text, refused below; Arrow strings make the regex fast
    text = _as_text(values).astype("string[pyarrow]").str.strip()
    present = text.notna()
    offset = text.str.contains(_OFFSET.pattern, regex=True).fillna(False).astype(bool)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    out[offset] = pd.to_datetime(text[offset], utc=True, format="ISO8601", errors="coerce")
    no_offset = pd.to_datetime(text[present & ~offset], format="ISO8601", errors="coerce")
    naive = no_offset.index[no_offset.notna()]
    unparsable = text.index[present & out.isna()].difference(naive)
    errors = []
    if len(naive):
        errors.append(
            f"{source}: column {column!r} has naive timestamps (no UTC offset) at "
            f"{describe_rows(list(naive))} (values {_values(text[naive])}); "
            "write each with its offset, "
            "e.g. 2024-01-01T00:00:00+00:00 or 2024-01-01T00:00:00Z"
        )
    if len(unparsable):
        errors.append(
            f"{source}: column {column!r} has unparsable timestamps at "
            f"{describe_rows(list(unparsable))} "
            f"(values {_values(text[unparsable])}); expected ISO 8601 with a UTC offset, "
            "e.g. 2024-01-01T00:00:00+00:00"
        )
    return out, naive.union(unparsable), errors


def parse_numbers(values: pd.Series, column: str, source: str, whole: bool = False) -> Parsed:
    """Values as float64 (missing stay NaN). Fails text that is not a number and, when `whole`
    (an integer column), missing and fractional values."""
    if _is_number(values):
        numbers = values.astype("float64")
        bad = values.index[[]]
    elif _is_text(values):
        text = _as_text(values)
        numbers = pd.to_numeric(text, errors="coerce").astype("float64")
        bad = text.index[text.notna() & numbers.isna()]
    else:
        return _wrong_type(values, column, source, "numbers")
    errors = []
    if len(bad):
        errors.append(
            f"{source}: column {column!r} has values that are not numbers at "
            f"{describe_rows(list(bad))} "
            f"(values {_values(values[bad])})"
        )
    if whole:
        missing = numbers.index[numbers.isna()].difference(bad)
        fraction = numbers.index[numbers.notna() & (numbers % 1 != 0)]
        if len(missing):
            errors.append(f"{source}: column {column!r} is empty at {describe_rows(list(missing))}")
        if len(fraction):
            errors.append(
                f"{source}: column {column!r} has values that are not whole numbers at "
                f"{describe_rows(list(fraction))} (values {_values(values[fraction])})"
            )
        bad = bad.union(missing).union(fraction)
    return numbers, bad, errors


def parse_text(values: pd.Series, column: str, source: str) -> Parsed:
    """Values as str (object dtype); integer columns (ids stored as numbers) are accepted."""
    if _is_text(values) or pd.api.types.is_integer_dtype(values):
        return _as_text(values), values.index[[]], []
    return _wrong_type(values, column, source, "text")


def convert_columns(
    raw: pd.DataFrame, contract: Feed, source: str
) -> tuple[pd.DataFrame, pd.Index, list[str]]:
    """The contract's columns converted to their contract types, the rows holding a value that
    could not be converted, and the messages. Other columns stay for the contract check."""
    df = raw.copy()
    errors: list[str] = []
    failed = raw.index[[]]
    for column in contract.schema.columns:
        if column not in raw.columns:
            continue
        kind = column_kind(contract, column)
        if kind == "time":
            converted, bad, errs = parse_timestamps(raw[column], column, source)
        elif kind == "text":
            converted, bad, errs = parse_text(raw[column], column, source)
        else:
            converted, bad, errs = parse_numbers(raw[column], column, source, kind == "int")
        df[column] = converted
        errors += errs
        failed = failed.union(bad)
    return df, failed, errors


def drop_failed(df: pd.DataFrame, failed: pd.Index, contract: Feed) -> pd.DataFrame:
    """Leave out rows that failed conversion (so each problem is reported once) and give the
    integer columns their int64 type."""
    df = df.drop(index=failed)
    for column in contract.schema.columns:
        if column in df.columns and column_kind(contract, column) == "int":
            df[column] = df[column].astype("int64")
    return df


# --- checks -----------------------------------------------------------------------------------


def check_contract(
    df: pd.DataFrame, contract: Feed, known: dict[str, set[str]], source: str
) -> list[str]:
    """Contract, time order and reference checks of validate.py on one converted frame."""
    errors = check_frame(df, contract, source)
    if set(contract.schema.columns) - set(df.columns):
        # table-wide checks (e.g. end after start) cannot run without their columns
        errors = [e for e in errors if not e.startswith(f"{source}: column {contract.name!r} ")]
    entity, time = contract.entity_column, contract.time_column
    if entity in df.columns and time in df.columns:
        errors += check_order(df, contract, source)
    present = [c for c in contract.references if c in df.columns]
    errors += check_references(df.dropna(subset=present), contract, known, source)
    return errors


def detect_intervals(rows: pd.DataFrame, entity: str = "meter_id") -> pd.Series:
    """Per entity (meter or series), the interval in minutes: the median gap between its
    distinct timestamps (the lower median, so always a gap that occurs: gaps of 15 and 30 min
    give 15). An entity with a single row takes the most common interval of the others (60 when
    none has two rows)."""
    ts = rows[[entity, "timestamp"]].drop_duplicates()
    ts = ts.sort_values([entity, "timestamp"])
    gap = ts.groupby(entity, sort=False)["timestamp"].diff() / pd.Timedelta(minutes=1)
    minutes = gap.groupby(ts[entity]).quantile(0.5, interpolation="lower")
    known = minutes.dropna()
    fallback = float(known.mode().iat[0]) if len(known) else 60.0
    return minutes.fillna(fallback).rename("interval_min")


def check_intervals(
    rows: pd.DataFrame, minutes: pd.Series, source: str, entity: str = "meter_id"
) -> list[str]:
    """Supported intervals only (15, 30, 60 min), and every timestamp on its entity's grid."""
    errors = []
    per_row = rows[entity].map(minutes)
    what = "meter(s) read" if entity == "meter_id" else "series measured"
    for value in sorted(set(minutes.unique()) - set(SUPPORTED_INTERVALS_MIN)):
        ids = sorted(minutes.index[minutes == value])
        at = rows.index[per_row == value]
        errors.append(
            f"{source}: column 'timestamp': {len(ids)} {what} every {value:g} min "
            f"(median gap; {', '.join(ids[:MAX_SHOWN])}) at {describe_rows(list(at))}; "
            "supported "
            f"intervals are {', '.join(map(str, SUPPORTED_INTERVALS_MIN))} min"
        )
    past_hour = (rows["timestamp"] - rows["timestamp"].dt.floor("h")) / pd.Timedelta(minutes=1)
    owner = "meter" if entity == "meter_id" else "series"
    for value in SUPPORTED_INTERVALS_MIN:
        off = rows.index[(per_row == value) & (past_hour % value != 0)]
        if len(off):
            grid = ", ".join(f":{m:02d}" for m in range(0, 60, value))
            stamps = _values(rows.loc[off, "timestamp"].astype(str))
            errors.append(
                f"{source}: column 'timestamp' is off the {value}-min grid of its {owner} at "
                f"{describe_rows(list(off))} (values {stamps}); "
                f"expected {grid} past the hour (irregular readings)"
            )
    return errors


def to_hourly(
    rows: pd.DataFrame,
    minutes: pd.Series,
    entity: str = "meter_id",
    value: str = "kwh",
    extra: tuple[str, ...] = (),
) -> tuple[pd.DataFrame, int]:
    """Sum `value` into the hour that starts at floor(timestamp, hour), keeping complete hours
    only (all 60 / interval rows present). Returns the hourly frame, sorted by entity and hour
    and indexed by the data row of each hour's first row, and how many entity-hours were
    dropped as incomplete. `extra` columns keep the value of the hour's first row."""
    grouped = rows.assign(timestamp=rows["timestamp"].dt.floor("h"), first_row=rows.index).groupby(
        [entity, "timestamp"], sort=True
    )
    agg = grouped.agg(
        **{value: (value, "sum")},
        n=(value, "size"),
        first_row=("first_row", "min"),
        **{c: (c, "first") for c in extra},
    )
    expected = 60 / minutes.reindex(agg.index.get_level_values(entity)).to_numpy()
    complete = agg["n"].to_numpy() == expected
    hourly = agg[complete].reset_index().set_index("first_row")
    hourly.index.name = None
    return hourly[[entity, "timestamp", value, *extra]], int((~complete).sum())


def check_zone(country: str, timezone: str, subdivision: str | None = None) -> list[str]:
    """Errors in a zone's country, subdivision and time zone (empty when valid)."""
    errors = []
    supported = holidays.list_supported_countries()
    if country.upper() not in supported:
        errors.append(f"country {country!r} is not known to the holidays package")
    elif subdivision is not None and subdivision not in supported[country.upper()]:
        errors.append(
            f"subdivision {subdivision!r} of {country.upper()} is not known to the holidays "
            f"package; known: {', '.join(supported[country.upper()]) or 'none'}"
        )
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors.append(f"unknown time zone {timezone!r}; use an IANA name such as Africa/Abidjan")
    return errors


def observes_dst(timezone: str, start: pd.Timestamp, end: pd.Timestamp) -> bool:
    """Whether the zone's UTC offset changes between `start` and `end` (daylight saving)."""
    days = pd.date_range(start.floor("D"), end.ceil("D"), freq="D", tz="UTC")
    return days.tz_convert(timezone).map(lambda t: t.utcoffset()).nunique() > 1


# --- writing ----------------------------------------------------------------------------------


def arrow_schema(contract: Feed) -> pa.Schema:
    """The contract as Parquet types (an all-missing nullable column stays a string column)."""
    types = {
        "text": pa.string(),
        "float": pa.float64(),
        "int": pa.int64(),
        "time": pa.timestamp("ns", tz="UTC"),
    }
    return pa.schema(
        [pa.field(c, types[column_kind(contract, c)]) for c in contract.schema.columns]
    )


def sort_columns(contract: Feed) -> list[str]:
    """Entity, then time, then the rest of the key: time order within each entity."""
    first = [c for c in (contract.entity_column, contract.time_column) if c is not None]
    return first + [c for c in contract.key if c not in first]


def _write(df: pd.DataFrame, contract: Feed, path: Path) -> None:
    table = pa.Table.from_pandas(
        df[list(contract.schema.columns)], schema=arrow_schema(contract), preserve_index=False
    )
    pq.write_table(table, path)


def write_feeds(
    frames: dict[str, pd.DataFrame], folder: Path, meters_per_part: int = METERS_PER_PART
) -> int:
    """Write each feed as part-00000.parquet (readings in parts of whole meters); returns the
    number of readings parts."""
    n_parts = 0
    for name, df in frames.items():
        contract = FEEDS[name]
        df = df.sort_values(sort_columns(contract), kind="stable", ignore_index=True)
        (folder / name).mkdir()
        if name != "readings":
            _write(df, contract, part_path(folder / name, 0))
            continue
        codes = pd.factorize(df["meter_id"], sort=True)[0] // meters_per_part
        for n_parts, (_, part) in enumerate(df.groupby(codes, sort=True), start=1):
            _write(part, contract, part_path(folder / name, n_parts - 1))
    return n_parts


# --- entry point ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WideSeries:
    """One measured series in a wide file of the user's own layout (a timestamp column, the
    series' value column, maybe a temperature column, any other columns ignored), read as the
    `load_measurements` feed and, with `temperature_column`, the `weather` feed too."""

    series_id: str  # e.g. zone:VIC (the level is its prefix unless `level` is given)
    value_column: str
    time_column: str = "timestamp"
    temperature_column: str | None = None
    level: str | None = None

    @property
    def series_level(self) -> str:
        return self.level or self.series_id.split(":", 1)[0]

    def columns(self, feed_name: str) -> dict[str, str]:
        """File column -> contract column for a feed read from the wide file."""
        if feed_name == "weather":
            return {self.time_column: "timestamp", str(self.temperature_column): "temperature_c"}
        return {self.time_column: "timestamp", self.value_column: "value"}

    def in_file_terms(self, feed_name: str, message: str) -> str:
        """A problem message naming the file's own columns instead of the contract's."""
        for column, contract_column in self.columns(feed_name).items():
            message = message.replace(f"column '{contract_column}'", f"column '{column}'")
        return message

    def frame(self, feed_name: str, raw: pd.DataFrame, source: str) -> pd.DataFrame:
        """The feed's columns from the wide file (row numbers kept); ValueError naming the
        file and the missing column(s)."""
        wanted = self.columns(feed_name)
        missing = [c for c in wanted if c not in raw.columns]
        if missing:
            options = {
                self.time_column: "--time-column",
                self.value_column: "--value-column",
                str(self.temperature_column): "--temperature-column",
            }
            named = ", ".join(f"{c!r} ({options[c]})" for c in missing)
            raise ValueError(
                f"{source}: no column {named}; its columns: {', '.join(map(str, raw.columns))}"
            )
        out = raw[list(wanted)].rename(columns=wanted)
        if feed_name == "load_measurements":
            out = out.assign(series_id=self.series_id, level=self.series_level)
        return out


def _load(
    feed_name: str, path: Path, source: str, wide: WideSeries | None = None
) -> tuple[pd.DataFrame | None, pd.Index, list[str]]:
    """Read and convert one file; None when it cannot be read or holds no rows. With `wide`,
    the measurements (and weather) are read from the wide file's named columns."""
    nothing = pd.RangeIndex(0)
    if not path.is_file():
        return None, nothing, [f"{source}: no such file (for feed {feed_name})"]
    try:
        raw = read_table(path)
    except Exception as exc:  # whatever the parser raises is a problem of the file
        msg = f"{source}: cannot read it as {feed_name} ({type(exc).__name__}: {exc})"
        return None, nothing, [msg]
    if raw.empty:
        return None, nothing, [f"{source}: no data rows (leave out a feed you do not have)"]
    if wide is not None and feed_name in WIDE_FEEDS:
        try:
            raw = wide.frame(feed_name, raw, source)
        except ValueError as exc:
            return None, nothing, [str(exc)]
    return convert_columns(raw, FEEDS[feed_name], source)


#: Feeds a wide single-series file can give.
WIDE_FEEDS = ("load_measurements", "weather")


def _hourly_readings(
    readings: pd.DataFrame, source: str, report: ImportReport
) -> tuple[pd.DataFrame, list[str]]:
    """Interval checks, then the hourly sums checked against the contract."""
    if not {"meter_id", "timestamp", "kwh"} <= set(readings.columns):
        return readings, []  # the contract check has reported the missing column(s)
    usable = readings.dropna(subset=["meter_id", "timestamp"])
    minutes = detect_intervals(usable)
    errors = check_intervals(usable, minutes, source)
    if errors:
        return readings, errors
    hourly, report.dropped_hours = to_hourly(readings, minutes)
    report.intervals = {int(k): int(v) for k, v in minutes.value_counts().sort_index().items()}
    if hourly.empty:
        return hourly, [f"{source}: no complete hour of readings"]
    if (minutes == 60).all():
        return hourly, []  # the hours are the readings, already checked
    totals = f"{source} (hourly totals; row = first reading of the hour)"
    return hourly, check_contract(hourly, FEEDS["readings"], {}, totals)


def interval_kwh(values: pd.Series, units: pd.Series, minutes: pd.Series) -> pd.Series:
    """Energy of each row's interval in kWh: a power (kW, MW, GW; the average over the
    interval) times the interval, or an energy (kWh, MWh, GWh) as it is."""
    power = units.map(POWER_UNITS)
    energy = units.map(IMPORT_ENERGY_UNITS)
    return values * power.fillna(0.0) * minutes / 60.0 + values * energy.fillna(0.0)


def check_level_bounds(
    rows: pd.DataFrame, hourly_kwh: pd.Series, source: str, column: str = "value"
) -> list[str]:
    """Rows whose hourly energy (kWh, or the hourly rate of a shorter interval) is above the
    plausible bound of their level (`MAX_HOURLY_KWH_BY_LEVEL`)."""
    errors = []
    bound = rows["level"].map(MAX_HOURLY_KWH_BY_LEVEL)
    for level in MEASURED_LEVELS:
        over = rows.index[(rows["level"] == level) & (hourly_kwh > bound)]
        if len(over):
            shown = ", ".join(
                f"{v!r} {u}" for v, u in rows.loc[over, [column, "unit"]].head(MAX_SHOWN).values
            )
            errors.append(
                f"{source}: column {column!r} is above the plausible hourly energy of level "
                f"{level!r} ({MAX_HOURLY_KWH_BY_LEVEL[level]:,.0f} kWh) at "
                f"{describe_rows(list(over))} (values {shown}); check the unit (--unit or the "
                "'unit' column) and the level"
            )
    return errors


def _hourly_measurements(
    rows: pd.DataFrame, source: str, report: ImportReport, hierarchy: set[str]
) -> tuple[pd.DataFrame, list[str]]:
    """Measured load as hourly energy in each series' unit: one level per series, supported
    intervals, per-level bounds on every row and on the hourly totals."""
    errors = []
    for column in ("level", "region_id"):
        count = rows.groupby("series_id")[column].nunique()
        mixed = sorted(count.index[count > 1])
        if mixed:
            at = rows.index[rows["series_id"].isin(mixed)]
            errors.append(
                f"{source}: column {column!r} differs within series "
                f"{', '.join(mixed[:MAX_SHOWN])} at {describe_rows(list(at))}; a series has one"
            )
    if errors:
        return rows, errors
    minutes = detect_intervals(rows, "series_id")
    errors = check_intervals(rows, minutes, source, "series_id")
    if errors:
        return rows, errors
    per_row = rows["series_id"].map(minutes)
    kwh = interval_kwh(rows["value"], rows["unit"], per_row)
    errors = check_level_bounds(rows, kwh * 60.0 / per_row, source)
    if errors:
        return rows, errors
    hourly, dropped = to_hourly(
        rows.assign(value=kwh), minutes, "series_id", "value", ("level", "region_id")
    )
    report.dropped_hours += dropped
    report.measurement_intervals = {
        int(k): int(v) for k, v in minutes.value_counts().sort_index().items()
    }
    if hourly.empty:
        return hourly, [f"{source}: no complete hour of measurements"]
    # a series that joins the hierarchy is summed and compared with its meters: kWh like them
    unit = pd.Series(
        np.where(hourly["series_id"].isin(hierarchy), "kWh", hourly["level"].map(series_unit)),
        index=hourly.index,
    )
    hourly = hourly.assign(value=hourly["value"] / unit.map(ENERGY_UNITS), unit=unit)
    report.series_units = dict(zip(hourly["series_id"], hourly["unit"], strict=True))
    totals = f"{source} (hourly energy; row = first measurement of the hour)"
    return hourly, check_contract(hourly, FEEDS["load_measurements"], {}, totals)


def hourly_weather(weather: pd.DataFrame) -> pd.DataFrame:
    """Sub-hourly weather (e.g. every 30 min) averaged into the hour that starts at
    floor(timestamp, hour); hourly rows stay as they are."""
    hour = weather["timestamp"].dt.floor("h")
    if hour.equals(weather["timestamp"]):
        return weather
    grouped = weather.assign(timestamp=hour).groupby(["region_id", "timestamp"], sort=True)
    return grouped.mean(numeric_only=True).reset_index()


def hierarchy_series(frames: Mapping[str, pd.DataFrame]) -> set[str]:
    """Ids of the load series that the imported meters and topology make (their load is the sum
    of meters): a measured series with one of these ids joins the hierarchy."""
    ids: set[str] = set()
    if "transformers" in frames:
        t = frames["transformers"]
        for level in ("transformer", "feeder", "substation"):
            ids |= {f"{level}:{i}" for i in t[f"{level}_id"].dropna()}
    for name in ("readings", "meters"):
        if name in frames and "meter_id" in frames[name].columns:
            ids |= {f"meter:{i}" for i in frames[name]["meter_id"].dropna()}
    if "readings" in frames:
        ids.add(ZONE_ID)
    return ids


def zone_region(frames: Mapping[str, pd.DataFrame], region: str | None) -> str:
    """The region of whatever has none (weather and measurements without `region_id`, the total
    of a zone without topology): `region`, else the only region of the transformers (or, without
    them, of the weather), else R00."""
    if region:
        return region
    for name in ("transformers", "weather"):
        if name in frames and "region_id" in frames[name].columns:
            regions = frames[name]["region_id"].dropna().unique()
            if len(regions) == 1:
                return str(regions[0])
            return ZONE_REGION
    return ZONE_REGION


def fill_defaults(name: str, df: pd.DataFrame, region: str, unit: str | None) -> pd.DataFrame:
    """Columns a file may leave out: the region (weather, measurements), the unit of the
    measurements (`--unit`, also for empty cells) and weather other than the temperature."""
    df = df.copy()
    if name in ("weather", "load_measurements") and "region_id" not in df.columns:
        df["region_id"] = region
    if name == "load_measurements":
        if "region_id" in df.columns:
            df["region_id"] = df["region_id"].fillna(region)
        if unit is not None:
            df["unit"] = df["unit"].fillna(unit) if "unit" in df.columns else unit
    if name == "weather":
        for column in OPTIONAL_WEATHER:
            if column not in df.columns:
                df[column] = np.nan
    return df


def given_contract(name: str) -> Feed:
    """The contract a file is checked against as given (before any conversion)."""
    return MEASUREMENTS_AS_GIVEN if name == "load_measurements" else FEEDS[name]


def check_files(
    files: Mapping[str, str | Path],
    report: ImportReport,
    *,
    unit: str | None = None,
    region: str | None = None,
    wide: WideSeries | None = None,
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Read, convert and check every file; the frames ready to write (readings and measurements
    hourly, weather hourly) and the problems of all files, in the order of `files`."""
    errors = []
    unknown = sorted(set(files) - set(FEEDS))
    if unknown:
        errors.append(f"unknown feed(s) {unknown}; known feeds: {', '.join(FEEDS)}")
    if not set(LOAD_FEEDS) & set(files):
        errors.append(
            "readings or load_measurements: give at least one (meter readings: meter_id, "
            "timestamp, kwh; or measured load: series_id, level, timestamp, value, unit)"
        )
    if unit is not None and unit not in IMPORT_UNITS:
        errors.append(f"unit {unit!r} is not one of {', '.join(IMPORT_UNITS)}")
        unit = None
    sources = {f: str(path) for f, path in files.items() if f in FEEDS}
    frames: dict[str, pd.DataFrame] = {}
    feed_errors: dict[str, list[str]] = {}
    known: dict[str, set[str]] = {}  # ids of the imported meters/transformers, all rows
    for feed_name, source in sources.items():
        df, failed, feed_errors[feed_name] = _load(feed_name, Path(source), source, wide)
        if df is None:
            continue
        report.input_rows[feed_name] = len(df)
        for contract in FEEDS.values():
            for other, column in contract.references.values():
                if other == feed_name and column in df.columns:
                    known[f"{other}.{column}"] = set(df[column].dropna())
        frames[feed_name] = drop_failed(df, failed, FEEDS[feed_name])
    report.region = zone_region(frames, region)
    for feed_name, df in frames.items():
        frames[feed_name] = df = fill_defaults(feed_name, df, report.region, unit)
        contract = given_contract(feed_name)
        feed_errors[feed_name] += check_contract(df, contract, known, sources[feed_name])
    if "readings" in frames and not feed_errors["readings"]:
        frames["readings"], feed_errors["readings"] = _hourly_readings(
            frames["readings"], sources["readings"], report
        )
    if "load_measurements" in frames and not feed_errors["load_measurements"]:
        frames["load_measurements"], feed_errors["load_measurements"] = _hourly_measurements(
            frames["load_measurements"],
            sources["load_measurements"],
            report,
            hierarchy_series(frames),
        )
    if "weather" in frames and not feed_errors["weather"]:
        frames["weather"] = hourly_weather(frames["weather"])
    if wide is not None:
        for feed_name in set(WIDE_FEEDS) & set(feed_errors):
            feed_errors[feed_name] = [
                wide.in_file_terms(feed_name, e) for e in feed_errors[feed_name]
            ]
    errors += [e for feed_name in sources for e in feed_errors[feed_name]]
    return frames, errors


def import_feeds(
    files: Mapping[str, str | Path],
    ws: Workspace,
    *,
    country: str = "CI",
    subdivision: str | None = None,
    name: str = "imported-zone",
    timezone: str | None = None,
    region: str | None = None,
    unit: str | None = None,
    meters_per_part: int = METERS_PER_PART,
    wide: WideSeries | None = None,
) -> ImportReport:
    """Validate `files` (feed name -> CSV or Parquet path; `readings` or `load_measurements` is
    required) and, only if every one conforms, replace the workspace's whole feeds folder with
    them (and zone.json).

    `timezone` (default: the country's) is checked and recorded in zone.json only; the files'
    timestamps must carry their own UTC offset. `subdivision` (a region of `country` the
    `holidays` package knows, e.g. AU VIC) selects the public holidays with the country.
    `region` names the region of what has none (see `zone_region`); `unit` is the unit of the
    measurements that have no `unit` column or cell (one of `IMPORT_UNITS`); `wide` reads the
    measurements (and the weather) from a single series' wide file (`WideSeries`). Raises
    `ContractError` listing every problem, one per line, and writes nothing, when any file
    breaks its contract.
    """
    timezone = timezone or country_timezone(country)
    report = ImportReport()
    frames, errors = check_files(files, report, unit=unit, region=region, wide=wide)
    errors = check_zone(country, timezone, subdivision) + errors
    if errors:
        raise ContractError(
            f"nothing was imported; {len(errors)} problem(s) (see docs/data-contract.md):\n"
            + "\n".join(errors)
        )

    if report.dropped_hours:
        log.warning(
            "left out %d incomplete hour(s) of a meter or a measured series (a reading of the "
            "hour is missing)",
            report.dropped_hours,
        )
    frames = {n: df[list(FEEDS[n].schema.columns)] for n, df in frames.items()}
    hours = pd.concat([frames[n]["timestamp"] for n in LOAD_FEEDS if n in frames])
    report.start, report.end = hours.min(), hours.max() + pd.Timedelta(hours=1)
    if observes_dst(timezone, report.start, report.end):
        log.warning(
            "time zone %s changes its UTC offset (daylight saving) within the data: the "
            "platform's local days are 24 hours from the first local midnight, so days, hours "
            "and holidays are shifted by the change for part of the period; prefer a zone with "
            "a fixed offset matching the utility's clock (e.g. Australia/Brisbane for AEST)",
            timezone,
        )
    with staged_dir(ws.feeds) as staging:
        report.readings_parts = write_feeds(frames, staging, meters_per_part)
        write_json_atomic(
            {
                "name": name,
                "source": "import",
                "country": country.upper(),
                "subdivision": subdivision,
                "timezone": timezone,
                "region": report.region,
                "start": report.start.isoformat(),
                "end": report.end.isoformat(),
                "feeds": sorted(frames),
            },
            staging / "zone.json",
        )
    report.rows = {n: len(df) for n, df in frames.items()}
    log.info(
        "imported %s into %s", ", ".join(f"{n} {r:,}" for n, r in report.rows.items()), ws.feeds
    )
    return report
