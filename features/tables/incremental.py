"""Incremental `gridml features build`: what the last build covered, and whether the next one
may only append the new days.

Every build writes a manifest beside the tables (WORKSPACE/offline/build_manifest.json, in the
staging folder, so it swaps in with them): the period built, the grid, the meter series asked
for, and a fingerprint of every feed (name, size and modification time of each part) taken
after the landed data was merged. The next build appends when the feeds are exactly those the
manifest describes except for what `merge_landed` just added, everything added lies at or after
the built period's end, and that end is a local midnight (a partly built last day would have
provisional daily rows); otherwise it rebuilds everything, and says why.

An incremental build computes the tables on a window: the new days plus `LOOKBACK_DAYS` of
history before them, longer than the longest window that reaches back (35 days for the 7-day
vs 28-day change, 38 for the DGA baseline: a 7-day fill then a 30-day median). The rows of the
new period are appended as new parts; history is never rewritten. The features that reach back
without bound (days since a vend or maintenance, ageing hours since the data start) read the
events before the window, or carry the previous build's value.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from gridml.features.contracts import FEEDS
from gridml.features.tables.catalog import TABLES
from gridml.features.tables.timegrid import DAY, HOUR, Grid
from gridml.io import parts, write_json_atomic
from gridml.workspace import Workspace

MANIFEST = "build_manifest.json"
FORMAT = 3  # bump when the tables' definitions change: the next build is then a full one
LOOKBACK_DAYS = 42

# How each table stamps its rows, as the offset from the start of the hour or day they
# describe: a row belongs to the new period when its stamp is at or after the old end plus
# this. None: a static table (profiles), kept as built.
STAMP_OFFSET: dict[str, pd.Timedelta | None] = {
    "meter_hourly": HOUR,  # end of the hour
    "meter_liveness": HOUR,
    "transformer_liveness": HOUR,
    "transformer_energy_balance": HOUR,
    "meter_last_event": None,  # rewritten whole by every build (events may land late)
    "load_hourly": HOUR,
    "weather_hourly": pd.Timedelta(0),  # observation time
    "meter_daily": DAY,  # end of the local day
    "transformer_daily": DAY,
    "transformer_energy_daily": DAY,
    "region_calendar": pd.Timedelta(0),  # start of the day (known ahead)
    "load_week_profile": DAY,  # each midnight after the first day, the period's end included
    "meter_profile": None,
    "series_profile": None,
}


class Manifest(BaseModel):
    """What a build covered (WORKSPACE/offline/build_manifest.json)."""

    model_config = ConfigDict(extra="forbid")

    format: int
    mode: str  # "full" | "incremental"
    built_at: dt.datetime
    zone_start: str
    zone_end: str
    grid_start: dt.datetime
    grid_days: int
    timezone: str
    meter_series: list[str]
    feeds: dict[str, list[tuple[str, int, int]]]  # feed -> (part, bytes, mtime ns)
    appended_days: int = 0


def feed_fingerprint(ws: Workspace) -> dict[str, list[tuple[str, int, int]]]:
    """Name, size and modification time of every part of every feed present."""
    out: dict[str, list[tuple[str, int, int]]] = {}
    for feed in FEEDS:
        files = parts(ws.feed_dir(feed))
        if files:
            out[feed] = [(f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    return out


def manifest_path(root: Path) -> Path:
    """Where the build manifest of the offline tables under `root` lives."""
    return root / MANIFEST


def read_manifest(ws: Workspace) -> Manifest | None:
    """The manifest of the last build of `ws`, or None when there is none (a full build)."""
    path = manifest_path(ws.offline)
    if not path.is_file():
        return None
    try:
        return Manifest.model_validate(json.loads(path.read_text()))
    except ValueError:
        return None  # an unreadable manifest: rebuild


def write_manifest(manifest: Manifest, root: Path) -> None:
    """Write `manifest` atomically beside the tables under `root`."""
    write_json_atomic(json.loads(manifest.model_dump_json()), manifest_path(root))


@dataclass(frozen=True)
class Plan:
    """How to build: `old_days` > 0 appends the days from there on (full build otherwise)."""

    reason: str
    old_days: int = 0

    @property
    def incremental(self) -> bool:
        return self.old_days > 0


def plan_build(
    ws: Workspace,
    previous: Manifest | None,
    before_merge: dict[str, list[tuple[str, int, int]]],
    first_added: dict[str, pd.Timestamp],
    zone: dict,
    grid: Grid,
    meter_series: tuple[str, ...],
    full: bool,
) -> Plan:
    """Full or incremental, and why. `before_merge`: the feeds' fingerprint before the landed
    data was merged; `first_added`: per feed, the earliest timestamp the merge added."""
    if full:
        return Plan("--full asked")
    if previous is None:
        return Plan("no previous build manifest")
    if previous.format != FORMAT:
        return Plan(f"tables format {previous.format} -> {FORMAT}")
    if any(not ws.table_dir(t).is_dir() for t in TABLES):
        return Plan("a feature table is missing")
    if list(meter_series) != previous.meter_series:
        return Plan("other --meter-series")
    if (zone["start"], zone.get("timezone")) != (previous.zone_start, previous.timezone):
        return Plan("the zone's start or time zone changed")
    if pd.Timestamp(previous.grid_start) != grid.start:
        return Plan("the grid's start moved")
    changed = sorted(
        set(before_merge) ^ set(previous.feeds)
        | {f for f in before_merge if before_merge[f] != previous.feeds.get(f)}
    )
    if changed:
        return Plan(f"feeds changed since the last build: {', '.join(changed)}")
    old_end = grid.start + previous.grid_days * DAY
    if pd.Timestamp(previous.zone_end) != old_end:
        return Plan("the last build ended within a day (its last day's rows are provisional)")
    late = sorted(feed for feed, ts in first_added.items() if ts < old_end)
    if late:
        return Plan(f"landed {', '.join(late)} before the built period's end")
    if grid.days < previous.grid_days:
        return Plan("the period shrank")
    if grid.days == previous.grid_days:
        return Plan("up to date", old_days=previous.grid_days)
    return Plan(f"{grid.days - previous.grid_days} new day(s)", old_days=previous.grid_days)


def window(grid: Grid, old_days: int) -> Grid:
    """The grid an incremental build computes on: the new days and LOOKBACK_DAYS before."""
    first = max(0, old_days - LOOKBACK_DAYS)
    return Grid(grid.start + first * DAY, grid.days - first, grid.timezone)


def new_rows(table: str, frame: pd.DataFrame, old_end: pd.Timestamp) -> pd.DataFrame:
    """The rows of `frame` that describe the period from `old_end` on."""
    offset = STAMP_OFFSET[table]
    if offset is None:
        return frame.iloc[0:0]
    return frame[frame["event_timestamp"] >= old_end + offset]
