"""The feed contracts over a micro-batch of messages, message by message.

Each message is checked by the batch import's own functions (`features.importer`:
`convert_columns` for types and the UTC offset, the 15/30/60-min grid, `to_hourly` for the
hourly sums of complete hours; `features.validate`: the pandera contract of the feed and its
references), plus what only a live feed needs (not ahead of the clock, optionally not too old).
The checks run once over the whole batch (pandera costs ~30 ms a call, whatever the rows), and
a message with any failing row is rejected whole; its dead-letter reason comes from running the
same checks on that message alone, so rows are numbered within the message (`row 3` = its third
record).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.errors as pa_errors
import pandera.pandas as pa

from gridml.features.contracts import FEEDS, Feed
from gridml.features.importer import convert_columns, parse_timestamps, to_hourly
from gridml.features.validate import describe_rows, describe_schema_errors

EVENT_KINDS = ("last_gasp", "power_restore", "tamper")
METER_EVENTS = Feed(
    name="meter_events",
    description="Meter events: power down (last gasp), power restore, tamper.",
    schema=pa.DataFrameSchema(
        {
            "meter_id": pa.Column(str, pa.Check.str_length(min_value=1, max_value=64)),
            "timestamp": pa.Column(pd.DatetimeTZDtype("ns", "UTC")),
            "kind": pa.Column(str, pa.Check.isin(EVENT_KINDS)),
        },
        unique=["meter_id", "timestamp", "kind"],
        strict=True,
        name="meter_events",
    ),
    key=("meter_id", "timestamp", "kind"),
    time_column="timestamp",
    entity_column="meter_id",
)
CONTRACTS = {
    "readings": FEEDS["readings"],
    "events": METER_EVENTS,
    "telemetry": FEEDS["transformer_telemetry"],
}
MSG = "_msg"


@dataclass(frozen=True)
class Window:
    """The times a live record may have, relative to the consumer's clock."""

    now: pd.Timestamp
    max_ahead: pd.Timedelta
    max_age: pd.Timedelta | None = None


@dataclass
class Checked:
    valid: pd.DataFrame  # the contract's columns + MSG (readings: hourly sums)
    rejected: dict[int, str]  # message -> reason


def _problem(problems: list[tuple[pd.Index, str]], rows: pd.Index, text: str) -> None:
    if len(rows) or text:
        problems.append((rows, text))


def _grid_and_window(
    df: pd.DataFrame, minutes: pd.Series, window: Window, source: str, grid: bool
) -> list[tuple[pd.Index, str]]:
    ts = df["timestamp"]
    out: list[tuple[pd.Index, str]] = []
    if grid:
        past = (ts - ts.dt.floor("h")) / pd.Timedelta(minutes=1)
        off = df.index[((past % minutes) != 0).to_numpy()]
        if len(off):
            out.append(
                (off, f"{source}: 'timestamp' is off the interval's grid at {describe_rows(off)}")
            )
    ahead = df.index[(ts > window.now + window.max_ahead).to_numpy()]
    if len(ahead):
        out.append(
            (
                ahead,
                f"{source}: 'timestamp' is in the future at {describe_rows(ahead)} (the "
                f"consumer's clock says {window.now.isoformat()}; max_ahead_minutes)",
            )
        )
    if window.max_age is not None:
        old = df.index[(ts < window.now - window.max_age).to_numpy()]
        if len(old):
            out.append(
                (old, f"{source}: 'timestamp' is older than max_age_days at {describe_rows(old)}")
            )
    return out


def _hourly(
    df: pd.DataFrame, minutes: pd.Series, source: str
) -> tuple[pd.DataFrame, list[tuple[pd.Index, str]]]:
    """Readings summed into complete hours within each message (`to_hourly`)."""
    unit = df[MSG].astype(str) + "|" + df["meter_id"]
    per_unit = minutes.groupby(unit).first()
    rows = df.assign(_unit=unit)
    hour = rows["timestamp"].dt.floor("h")
    count = rows.groupby(["_unit", hour])["kwh"].transform("size")
    incomplete = rows.index[(count.to_numpy() != 60 / minutes.to_numpy())]
    problems = []
    if len(incomplete):
        problems.append(
            (
                incomplete,
                f"{source}: incomplete hour(s) of sub-hourly readings at "
                f"{describe_rows(incomplete)} (every 15/30-min reading of an hour must come in "
                "the same message)",
            )
        )
    hourly, _ = to_hourly(rows, per_unit, entity="_unit", extra=("meter_id", MSG))
    return hourly.drop(columns="_unit"), problems


@functools.cache
def _row_schema(kind: str) -> pa.DataFrameSchema:
    """The feed's contract less its uniqueness: a key repeated within a message is checked
    apart (`problems_of`); across messages it is a repeat or a conflict, settled at landing."""
    schema = copy.deepcopy(CONTRACTS[kind].schema)
    schema.unique = None
    return schema


@functools.cache
def _split_schema(kind: str) -> tuple[pa.DataFrameSchema, dict[str, pa.DataFrameSchema]] | None:
    """The row schema less its text columns, and one schema per text column; None when the
    schema has frame-level checks (then only the whole schema says what passes)."""
    schema = _row_schema(kind)
    texts = [c for c, col in schema.columns.items() if str(col.dtype) == "str"]
    if schema.checks or not texts:
        return None
    return schema.remove_columns(texts), {c: schema.select_columns([c]) for c in texts}


def _passes_fast(df: pd.DataFrame, kind: str) -> bool:
    """Whether `df` passes the row schema, checking the text columns (ids: their checks are
    per value) on their distinct values only: pandera's check of a text column visits every
    element in Python, and a batch repeats each meter id once per reading. A failure is not
    explained here: the caller then runs the whole schema, which names the rows."""
    split = _split_schema(kind)
    if split is None:
        return False
    rest, texts = split
    try:
        rest.validate(df.drop(columns=[MSG, *texts]), lazy=False)
        for column, schema in texts.items():
            values = pd.unique(df[column].to_numpy(dtype=object))
            schema.validate(pd.DataFrame({column: values}), lazy=False)
    except (pa_errors.SchemaError, pa_errors.SchemaErrors):
        return False
    return True


def _contract(df: pd.DataFrame, kind: str, source: str) -> list[tuple[pd.Index, str]]:
    contract = CONTRACTS[kind]
    if source == "batch" and _passes_fast(df, kind):
        return []
    try:
        _row_schema(kind).validate(df.drop(columns=MSG), lazy=True)
    except pa_errors.SchemaErrors as exc:
        index = exc.failure_cases["index"]
        rows = pd.Index(index.dropna().astype(int).unique())
        if index.isna().any():  # a table-level failure (a missing column): every row
            rows = df.index
        return [(rows, "; ".join(describe_schema_errors(exc, source, contract.key)))]
    return []


def _convert(
    raw: pd.DataFrame, contract: Feed, source: str, fast: bool
) -> tuple[pd.DataFrame, pd.Index, list[str]]:
    """`convert_columns`; `fast`: the timestamps of a batch repeat (every meter reads the same
    hours), so each distinct text is parsed once (failing rows found by code; their messages'
    reasons come from the plain path, run on each failing message alone)."""
    if not fast or raw.get("timestamp") is None or raw["timestamp"].dtype != object:
        return convert_columns(raw, contract, source)
    codes, uniques = pd.factorize(raw["timestamp"])
    if len(uniques) * 4 > len(raw):
        return convert_columns(raw, contract, source)
    df, failed, errors = convert_columns(raw.drop(columns="timestamp"), contract, source)
    stamps, bad, more = parse_timestamps(pd.Series(uniques, dtype=object), "timestamp", source)
    values = stamps.to_numpy()[codes]
    values[codes < 0] = pd.NaT
    df.insert(list(raw.columns).index("timestamp"), "timestamp", values)
    df["timestamp"] = df["timestamp"].astype(stamps.dtype)
    failed = failed.union(raw.index[np.isin(codes, bad.to_numpy())])
    return df, failed, errors + more


def problems_of(
    kind: str,
    raw: pd.DataFrame,
    minutes: pd.Series,
    known: set[str] | None,
    window: Window,
    source: str,
) -> tuple[pd.DataFrame, list[tuple[pd.Index, str]]]:
    """The records of `raw` (one or more messages; MSG = message) checked; returns the
    contract-typed frame (readings: hourly) and the problems as (rows of `raw`, message)."""
    contract = CONTRACTS[kind]
    columns = [c for c in raw.columns if c != MSG]
    df, failed, errors = _convert(raw[columns], contract, source, fast=source == "batch")
    df[MSG] = raw[MSG]
    problems: list[tuple[pd.Index, str]] = []
    _problem(problems, failed, "; ".join(errors))
    df = df.drop(index=failed)
    missing = set(contract.schema.columns) - set(df.columns)
    extra = set(columns) - set(contract.schema.columns)
    if missing or extra:
        text = f"{source}: " + "; ".join(
            [f"missing field(s) {sorted(missing)}"] * bool(missing)
            + [f"unexpected field(s) {sorted(extra)}"] * bool(extra)
        )
        return df.iloc[:0], [*problems, (raw.index, text)]
    required = [n for n, c in contract.schema.columns.items() if not c.nullable]
    empty = df.index[df[required].isna().any(axis=1).to_numpy()]
    if len(empty):
        problems.append((empty, f"{source}: missing value(s) at {describe_rows(empty)}"))
        df = df.drop(index=empty)
    problems += _grid_and_window(df, minutes[df.index], window, source, kind != "events")
    entity = contract.entity_column
    if df.duplicated([MSG, *contract.key]).any():  # rare: the details only then
        dup = df.duplicated([MSG, *contract.key], keep=False) & ~df.duplicated(keep=False)
        rows = df.index[dup.to_numpy()]
        if len(rows):
            key = ", ".join(contract.key)
            problems.append((rows, f"{source}: duplicate key ({key}) at {describe_rows(rows)}"))
        df = df.drop_duplicates()
    if kind == "readings" and (minutes[df.index] != 60).any():  # hourly readings are the hours
        df, more = _hourly(df, minutes[df.index], source)
        problems += more
    problems += _contract(df, kind, source)
    if known is not None and entity in df.columns:
        unknown = df.index[~df[entity].isin(known).to_numpy()]
        if len(unknown):
            ids = sorted(df.loc[unknown, entity].astype(str).unique())
            problems.append(
                (
                    unknown,
                    f"{source}: unknown {entity}(s) {', '.join(ids[:5])} at "
                    f"{describe_rows(unknown)}",
                )
            )
    return df, problems


def check_batch(
    kind: str,
    raw: pd.DataFrame,
    minutes: pd.Series,
    known: set[str] | None,
    window: Window,
) -> Checked:
    """Check a batch's records (`raw`, MSG = message number) once; reject each message that
    has a failing record, with the reasons found by checking that message alone."""
    df, problems = problems_of(kind, raw, minutes, known, window, "batch")
    bad_rows = pd.Index([], dtype="int64")
    for rows, _ in problems:
        bad_rows = bad_rows.union(pd.Index(rows, dtype="int64"))
    bad = sorted(set(raw.loc[bad_rows, MSG].astype(int)))
    rejected = {}
    for msg in bad:
        mine = raw[raw[MSG] == msg].reset_index(drop=True)
        own_minutes = minutes[raw[MSG] == msg].reset_index(drop=True)
        _, own = problems_of(kind, mine, own_minutes, known, window, "message")
        texts = [t for _, t in own if t] or [t for _, t in problems if t]
        rejected[msg] = "; ".join(dict.fromkeys(texts))
    valid = df[~df[MSG].isin(bad)]
    return Checked(valid.reset_index(drop=True), rejected)
