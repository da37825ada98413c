"""Import a utility's own files (CSV or Parquet) as the workspace's feeds.

Everything is checked before anything is written: file types, columns, types, time stamps (each
must carry an explicit UTC offset), the contracts of `contracts.py` (through `validate.py`), ids
against the imported meters/transformers, time order, and the readings' interval. Any problem
raises one `ContractError` listing them all (file, 1-based data rows, column) and leaves the
workspace untouched. On success the imported set replaces the whole feeds folder atomically.

Readings may come every 15, 30 or 60 minutes (detected per meter, stamped at the START of the
interval); they are summed into hourly kWh, keeping only complete hours. See
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
from gridml.features.contracts import FEEDS, Feed
from gridml.features.feeds.calendar import country_timezone
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
    dropped_hours: int = 0  # incomplete meter-hours left out of the hourly readings
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


def detect_intervals(readings: pd.DataFrame) -> pd.Series:
    """Per meter, the reading interval in minutes: the median gap between its distinct
    timestamps (the lower median, so always a gap that occurs: gaps of 15 and 30 min give 15).
    A meter with a single reading takes the most common interval of the others (60 when no
    meter has two readings)."""
    ts = readings[["meter_id", "timestamp"]].drop_duplicates()
    ts = ts.sort_values(["meter_id", "timestamp"])
    gap = ts.groupby("meter_id", sort=False)["timestamp"].diff() / pd.Timedelta(minutes=1)
    minutes = gap.groupby(ts["meter_id"]).quantile(0.5, interpolation="lower")
    known = minutes.dropna()
    fallback = float(known.mode().iat[0]) if len(known) else 60.0
    return minutes.fillna(fallback).rename("interval_min")


def check_intervals(readings: pd.DataFrame, minutes: pd.Series, source: str) -> list[str]:
    """Supported intervals only (15, 30, 60 min), and every timestamp on its meter's grid."""
    errors = []
    per_row = readings["meter_id"].map(minutes)
    for value in sorted(set(minutes.unique()) - set(SUPPORTED_INTERVALS_MIN)):
        meters = sorted(minutes.index[minutes == value])
        rows = readings.index[per_row == value]
        errors.append(
            f"{source}: column 'timestamp': {len(meters)} meter(s) read every {value:g} min "
            f"(median gap; {', '.join(meters[:MAX_SHOWN])}) at {describe_rows(list(rows))}; "
            "supported "
            f"intervals are {', '.join(map(str, SUPPORTED_INTERVALS_MIN))} min"
        )
    past_hour = (readings["timestamp"] - readings["timestamp"].dt.floor("h")) / pd.Timedelta(
        minutes=1
    )
    for value in SUPPORTED_INTERVALS_MIN:
        off = readings.index[(per_row == value) & (past_hour % value != 0)]
        if len(off):
            grid = ", ".join(f":{m:02d}" for m in range(0, 60, value))
            stamps = _values(readings.loc[off, "timestamp"].astype(str))
            errors.append(
                f"{source}: column 'timestamp' is off the {value}-min grid of its meter at "
                f"{describe_rows(list(off))} (values {stamps}); "
                f"expected {grid} past the hour (irregular readings)"
            )
    return errors


def to_hourly(readings: pd.DataFrame, minutes: pd.Series) -> tuple[pd.DataFrame, int]:
    """Sum readings into the hour that starts at floor(timestamp, hour), keeping complete hours
    only (all 60 / interval readings present). Returns the hourly frame, sorted by meter and
    hour and indexed by the data row of each hour's first reading, and how many meter-hours
    were dropped as incomplete."""
    grouped = readings.assign(
        timestamp=readings["timestamp"].dt.floor("h"), first_row=readings.index
    ).groupby(["meter_id", "timestamp"], sort=True)
    agg = grouped.agg(kwh=("kwh", "sum"), n=("kwh", "size"), first_row=("first_row", "min"))
    expected = 60 / minutes.reindex(agg.index.get_level_values("meter_id")).to_numpy()
    complete = agg["n"].to_numpy() == expected
    hourly = agg[complete].reset_index().set_index("first_row")
    hourly.index.name = None
    return hourly[["meter_id", "timestamp", "kwh"]], int((~complete).sum())


def check_zone(country: str, timezone: str) -> list[str]:
    errors = []
    if country.upper() not in holidays.list_supported_countries():
        errors.append(f"country {country!r} is not known to the holidays package")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors.append(f"unknown time zone {timezone!r}; use an IANA name such as Africa/Abidjan")
    return errors


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


def _load(
    feed_name: str, path: Path, source: str
) -> tuple[pd.DataFrame | None, pd.Index, list[str]]:
    """Read and convert one file; None when it cannot be read or holds no rows."""
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
    return convert_columns(raw, FEEDS[feed_name], source)


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


def check_files(
    files: Mapping[str, str | Path], report: ImportReport
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Read, convert and check every file; the frames ready to write (readings hourly) and the
    problems of all files, in the order of `files`."""
    errors = []
    unknown = sorted(set(files) - set(FEEDS))
    if unknown:
        errors.append(f"unknown feed(s) {unknown}; known feeds: {', '.join(FEEDS)}")
    if "readings" not in files:
        errors.append("readings: required feed is missing (meter_id, timestamp, kwh)")
    sources = {f: str(path) for f, path in files.items() if f in FEEDS}
    frames: dict[str, pd.DataFrame] = {}
    feed_errors: dict[str, list[str]] = {}
    known: dict[str, set[str]] = {}  # ids of the imported meters/transformers, all rows
    for feed_name, source in sources.items():
        df, failed, feed_errors[feed_name] = _load(feed_name, Path(source), source)
        if df is None:
            continue
        report.input_rows[feed_name] = len(df)
        for contract in FEEDS.values():
            for other, column in contract.references.values():
                if other == feed_name and column in df.columns:
                    known[f"{other}.{column}"] = set(df[column].dropna())
        frames[feed_name] = drop_failed(df, failed, FEEDS[feed_name])
    for feed_name, df in frames.items():
        feed_errors[feed_name] += check_contract(df, FEEDS[feed_name], known, sources[feed_name])
    if "readings" in frames and not feed_errors["readings"]:
        frames["readings"], feed_errors["readings"] = _hourly_readings(
            frames["readings"], sources["readings"], report
        )
    errors += [e for feed_name in sources for e in feed_errors[feed_name]]
    return frames, errors


def import_feeds(
    files: Mapping[str, str | Path],
    ws: Workspace,
    *,
    country: str = "CI",
    name: str = "imported-zone",
    timezone: str | None = None,
    meters_per_part: int = METERS_PER_PART,
) -> ImportReport:
    """Validate `files` (feed name -> CSV or Parquet path; `readings` is required) and, only if
    every one conforms, replace the workspace's whole feeds folder with them (and zone.json).

    `timezone` (default: the country's) is checked and recorded in zone.json only; the files'
    timestamps must carry their own UTC offset. Raises `ContractError` listing every problem,
    one per line, and writes nothing, when any file breaks its contract.
    """
    timezone = timezone or country_timezone(country)
    report = ImportReport()
    frames, errors = check_files(files, report)
    errors = check_zone(country, timezone) + errors
    if errors:
        raise ContractError(
            f"nothing was imported; {len(errors)} problem(s) (see docs/data-contract.md):\n"
            + "\n".join(errors)
        )

    if report.dropped_hours:
        log.warning(
            "readings: left out %d incomplete meter-hour(s) (a reading of the hour is missing)",
            report.dropped_hours,
        )
    frames = {n: df[list(FEEDS[n].schema.columns)] for n, df in frames.items()}
    hours = frames["readings"]["timestamp"]
    report.start, report.end = hours.min(), hours.max() + pd.Timedelta(hours=1)
    with staged_dir(ws.feeds) as staging:
        report.readings_parts = write_feeds(frames, staging, meters_per_part)
        write_json_atomic(
            {
                "name": name,
                "source": "import",
                "country": country.upper(),
                "timezone": timezone,
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
