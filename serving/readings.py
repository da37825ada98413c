"""Fresh meter readings posted to the service: validated, deduplicated, landed, pushed online.

A batch passes the same contract as `gridml data import` (the importer's timestamp parser: an
explicit UTC offset on every timestamp; the `readings` contract through `check_frame`: ids, kWh
within 0..MAX_HOURLY_KWH, one row per key) plus what only a live feed needs: each timestamp on
the hour, not ahead of the service's clock by more than `readings_max_ahead_minutes` (clock
skew) and not older than `readings_max_age_days`. Unknown meters are refused. Nothing is
written unless all of it passes; every error names the items (1-based rows of the list).

Then, under a lock shared by the workers and the stream consumers (`landing/readings/.lock`;
the landing itself is `gridml.features.landing`, shared with `gridml stream ingest`):

1. each reading is checked against every reading already landed (`LandedIndex`, kept in step
   with the landing folder): an exact repeat of a landed (meter_id, timestamp, kwh) is counted
   in `duplicates` and not landed again; a DIFFERENT kWh for a landed (meter_id, timestamp) is
   a conflict: the whole batch is refused (HTTP 409) naming the readings, since a landed
   reading is never changed by the live feed (a correction goes through `gridml data import`);
2. the new readings are landed as one Parquet file under `WORKSPACE/landing/readings/`, named by
   the digest of their sorted rows, written atomically and durably (file and folder fsynced
   before the answer); `gridml features build` merges landed files into the readings feed;
3. each meter's newest reading is pushed to the Feast push source `meter_readings_push`
   (online view `meter_latest_reading`), unless the store already holds a newer one, so a late
   or replayed batch never moves a meter's latest reading back in time.

Concurrent posts are committed as a group (`Intake`, a `batching.Coalescer`): the batches
validated while a group commits are checked in arrival order exactly as if posted one after
the other (a batch that conflicts with an earlier one of the group is refused alone), their new
readings land as ONE durable file, and the meters are read and pushed online once. Each caller
gets its own answer (its counts; the file its readings landed in).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gridml.errors import ContractError
from gridml.features import landing
from gridml.features.contracts import FEEDS
from gridml.features.importer import parse_timestamps
from gridml.features.landing import (  # noqa: F401 (re-exported: the service's names)
    KEY,
    LandedIndex,
    Split,
    batch_digest,
    land,
    landing_dir,
    newest_to_push,
)
from gridml.features.store.definitions import (
    FRESH_READINGS_VIEW,
    LIVENESS_VIEW,
    PUSH_SOURCE,
    PUSHED,
)
from gridml.features.tables import liveness
from gridml.features.validate import check_frame, describe_rows
from gridml.serving.batching import Coalescer
from gridml.serving.errors import Conflict
from gridml.serving.online import TIMESTAMP_SUFFIX, OnlineFeatures
from gridml.workspace import Workspace

SOURCE = "request body 'readings'"
MAX_SHOWN = 5


@dataclass(frozen=True)
class Window:
    """The times a live reading may have, relative to the service's clock."""

    now: pd.Timestamp
    max_ahead: pd.Timedelta
    max_age: pd.Timedelta


def readings_frame(items: list[dict]) -> pd.DataFrame:
    """The posted items as a readings frame (UTC timestamps). Raises ContractError naming the
    items whose timestamp has no UTC offset or cannot be read."""
    frame = pd.DataFrame(items, columns=["meter_id", "timestamp", "kwh"])
    stamps, failed, errors = parse_timestamps(frame["timestamp"], "timestamp", SOURCE)
    if errors or len(failed):
        raise ContractError("; ".join(errors) or f"{SOURCE}: unreadable 'timestamp'")
    frame["timestamp"] = stamps.astype(pd.DatetimeTZDtype("ns", "UTC"))
    frame["meter_id"] = frame["meter_id"].astype(str)
    frame["kwh"] = frame["kwh"].astype(float)
    return frame


def _shown(frame: pd.DataFrame, rows: pd.Index) -> str:
    values = ", ".join(
        f"{frame.at[i, 'meter_id']}@{frame.at[i, 'timestamp'].isoformat()}"
        for i in rows[:MAX_SHOWN]
    )
    return f"{describe_rows(list(rows))} ({values})"


def check_times(frame: pd.DataFrame, window: Window) -> list[str]:
    """Every timestamp on the hour and inside the window; one message per failed rule."""
    ts = frame["timestamp"]
    errors = []
    off_grid = frame.index[(ts != ts.dt.floor("h")).to_numpy()]
    if len(off_grid):
        errors.append(
            f"{SOURCE}: 'timestamp' is not on the hour at {_shown(frame, off_grid)}; the live "
            "feed takes hourly readings stamped at the start of the hour (import 15/30-min "
            "readings with `gridml data import`)"
        )
    ahead = frame.index[(ts > window.now + window.max_ahead).to_numpy()]
    if len(ahead):
        errors.append(
            f"{SOURCE}: 'timestamp' is in the future at {_shown(frame, ahead)}; the service's "
            f"clock says {window.now.isoformat()} and allows {window.max_ahead} of clock skew "
            "(readings_max_ahead_minutes)"
        )
    old = frame.index[(ts < window.now - window.max_age).to_numpy()]
    if len(old):
        errors.append(
            f"{SOURCE}: 'timestamp' is older than {window.max_age.days} days at "
            f"{_shown(frame, old)} (readings_max_age_days; import history with "
            "`gridml data import`)"
        )
    return errors


def validate(
    frame: pd.DataFrame, known_meters: pd.Index, window: Window | None = None
) -> tuple[pd.DataFrame, int]:
    """Drop exact repeats, then check times, the contract and the meter ids. Returns
    (batch sorted by key, repeats within the batch)."""
    if window is not None:
        errors = check_times(frame, window)
        if errors:
            raise ContractError("; ".join(errors))
    unique = frame.drop_duplicates().sort_values(KEY, ignore_index=True)
    repeats = len(frame) - len(unique)
    errors = check_frame(unique, FEEDS["readings"], SOURCE)
    if errors:
        raise ContractError("; ".join(errors))
    ids = unique["meter_id"].unique()
    unknown = sorted(ids[known_meters.get_indexer(ids) < 0])
    if unknown:
        shown = ", ".join(unknown[:10]) + (
            f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        )
        raise ContractError(f"{SOURCE}: unknown meter_id(s): {shown}")
    return unique, repeats


def check_conflicts(split: Split) -> None:
    """Raise Conflict naming readings that differ from what already landed."""
    if split.conflicts.empty:
        return
    c = split.conflicts
    shown = ", ".join(
        f"{m}@{t.isoformat()} posted {k:g} kWh, landed {lk:g}"
        for m, t, k, lk in c[[*KEY, "kwh", "landed_kwh"]].head(MAX_SHOWN).itertuples(index=False)
    )
    more = f" and {len(c) - MAX_SHOWN} more" if len(c) > MAX_SHOWN else ""
    raise Conflict(
        f"{SOURCE}: {len(c)} reading(s) differ from readings already landed: {shown}{more}; "
        "a landed reading is not changed by the live feed (nothing of this batch was written; "
        "correct history with `gridml data import`)"
    )


def land_new(ws: Workspace, index: LandedIndex, batch: pd.DataFrame) -> tuple[Split, Path | None]:
    """Land `batch` (`gridml.features.landing`), refusing the whole batch on a conflict."""
    return landing.land_new(ws, index, batch, refuse=check_conflicts)


def land_many(
    ws: Workspace, index: LandedIndex, batches: list[pd.DataFrame]
) -> list[tuple[Split, Path | None] | Exception]:
    """`land_new` of several batches in one commit; a batch with a conflict gets its Conflict
    and lands nothing (`gridml.features.landing.land_many`)."""
    return landing.land_many(ws, index, batches, refuse=check_conflicts)


@dataclass(frozen=True)
class Posted:
    """One validated POST: its readings (sorted by key) and the repeats within it."""

    batch: pd.DataFrame
    repeats: int
    received: int


class Intake:
    """Land and push validated posts, committing concurrent posts as a group."""

    def __init__(self, ws: Workspace, online: OnlineFeatures, max_batch: int = 64) -> None:
        self.ws = ws
        self.online = online
        self.landed = LandedIndex(landing_dir(ws))
        self.batcher: Coalescer[Posted, dict] = Coalescer("readings", self._commit, max_batch)
        self._liveness: bool | None = None

    def submit(self, posted: Posted) -> dict:
        return self.batcher.submit(posted)

    def _online_ts(self, meters: list[str]) -> pd.Series:
        online = self.online.read(
            [f"{FRESH_READINGS_VIEW}:kwh"], [{"meter_id": m} for m in meters], stamped=("kwh",)
        ).set_index("meter_id")
        seconds = pd.to_numeric(online[f"kwh{TIMESTAMP_SUFFIX}"], errors="coerce")
        return pd.to_datetime(seconds.where(seconds > 0), unit="s", utc=True)

    def _commit(self, posts: list[Posted]) -> list[dict | Exception]:
        landed = land_many(self.ws, self.landed, [p.batch for p in posts])
        accepted = [n for n, r in enumerate(landed) if not isinstance(r, Exception)]
        meters = sorted({m for n in accepted for m in posts[n].batch["meter_id"].unique()})
        online_ts = self._online_ts(meters) if meters else pd.Series(dtype="datetime64[ns, UTC]")
        out: list[dict | Exception] = []
        pushes: list[pd.DataFrame] = []
        for posted, result in zip(posts, landed, strict=True):
            if isinstance(result, Exception):
                out.append(result)
                continue
            split, path = result
            # in arrival order, each against the online store as the posts before left it
            push = newest_to_push(posted.batch, online_ts)
            if len(push):
                pushes.append(push)
                online_ts = online_ts.copy()
                online_ts.loc[push["meter_id"].to_numpy()] = push["timestamp"].to_numpy()
            n_meters = posted.batch["meter_id"].nunique()
            out.append(
                {
                    "received": posted.received,
                    "new": len(split.new),
                    "duplicates": posted.repeats + split.repeats,
                    "meters_updated": len(push),
                    "meters_already_newer": n_meters - len(push),
                    "landed": path.name if path else None,
                }
            )
        if pushes:
            newest = pd.concat(pushes, ignore_index=True).sort_values(KEY)
            self.online.push(PUSH_SOURCE, newest.groupby("meter_id", as_index=False).tail(1))
        if accepted:
            self._push_liveness(pd.concat([posts[n].batch for n in accepted], ignore_index=True))
        return out

    def _push_liveness(self, readings: pd.DataFrame) -> None:
        """The posted meters' `meter_liveness` rows (`liveness.meter_rows`, the stream's
        definition), from their online state; skipped when the view is not registered."""
        if self._liveness is None:  # looked up once: a store applied before the view lacks it
            views = self.online.store.list_feature_views()
            self._liveness = any(fv.name == LIVENESS_VIEW for fv in views)
        if not self._liveness:
            return
        meters = pd.Index(sorted(readings["meter_id"].unique()), dtype=object)
        names = ("last_reading_unix_s", "zero_run_hours")
        state = (
            self.online.read(
                [f"{LIVENESS_VIEW}:{n}" for n in names], [{"meter_id": m} for m in meters]
            )
            .set_index("meter_id")
            .reindex(meters)
        )
        cols = {n: pd.to_numeric(state[n], errors="coerce").to_numpy(dtype=float) for n in names}
        rows = liveness.meter_rows(readings, cols[names[0]], cols[names[1]], meters)
        if len(rows):
            self.online.push(PUSHED[LIVENESS_VIEW], rows)
