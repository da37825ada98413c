"""Where a checked micro-batch goes: the landing store (`gridml.features.landing`, shared with
`POST /readings`), the dead-letter store, and the Feast online store (push source).

Everything here is durable before the consumer acknowledges a message: landed Parquet parts
and dead-letter JSONL files are fsynced and renamed into place, both named by the digest of
their content, so a batch redelivered after a crash writes nothing new.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError
from gridml.features import landing
from gridml.features.landing import KEY, LandedIndex
from gridml.features.tables import liveness
from gridml.io import fsync_dir
from gridml.stream.checks import MSG
from gridml.workspace import Workspace

DEAD_LETTER = "dead_letter"
LANDED_FEED = {"events": "meter_events", "telemetry": "transformer_telemetry"}


def dead_letter_dir(ws: Workspace) -> Path:
    """The folder of dead letters (messages that could not land)."""
    return landing.landing_dir(ws, DEAD_LETTER)


def dead_record(topic: str, payload: bytes, received: float, reason: str) -> dict[str, Any]:
    """One dead letter: reason, topic, raw payload (text, or base64 when not UTF-8), time."""
    try:
        raw, encoding = payload.decode(), "utf-8"
    except UnicodeDecodeError:
        raw, encoding = base64.b64encode(payload).decode(), "base64"
    return {
        "received_at": pd.Timestamp(received, unit="s", tz="UTC").isoformat(),
        "topic": topic,
        "reason": reason,
        "payload": raw,
        "payload_encoding": encoding,
    }


def write_dead_letters(ws: Workspace, records: list[dict[str, Any]]) -> Path | None:
    """Append-only JSONL, one durable file per batch, named by the digest of its records."""
    if not records:
        return None
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode()
    folder = dead_letter_dir(ws)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"dead-{hashlib.sha256(text).hexdigest()[:20]}.jsonl"
    if path.is_file():
        return path
    tmp = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(folder)
    return path


def read_dead_letters(ws: Workspace) -> list[dict[str, Any]]:
    """Every dead letter recorded in the workspace, oldest file first."""
    folder = dead_letter_dir(ws)
    files = sorted(folder.glob("dead-*.jsonl")) if folder.is_dir() else []
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line]


def first_of_each_key(valid: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Across the batch's messages: exact repeats dropped; a later reading with another kWh for
    a (meter_id, timestamp) already in the batch is a conflict. Returns (kept, conflicts)."""
    if not valid.duplicated(subset=KEY).any():
        return valid, valid.iloc[:0]
    unique = valid.drop_duplicates(subset=[*KEY, "kwh"])
    later = unique.duplicated(subset=KEY, keep="first")
    return unique[~later.to_numpy()], unique[later.to_numpy()]


@dataclass
class Landed:
    new: int = 0
    repeats: int = 0
    conflicts: pd.DataFrame = field(default_factory=pd.DataFrame)  # with MSG and landed_kwh


def land_readings(ws: Workspace, index: LandedIndex, valid: pd.DataFrame) -> Landed:
    """Land the batch's new readings (idempotent on meter_id, timestamp); conflicts are
    returned, never landed."""
    kept, inner = first_of_each_key(valid)
    batch = kept[[*KEY, "kwh"]].sort_values(KEY, ignore_index=True)
    split, _ = landing.land_new(ws, index, batch)
    outer = split.conflicts.merge(kept[[*KEY, MSG]], on=KEY, how="left")
    conflicts = pd.concat([inner.assign(landed_kwh=float("nan")), outer], ignore_index=True)
    repeats = split.repeats + (len(valid) - len(kept) - len(inner))
    return Landed(len(split.new), repeats, conflicts)


def land_other(ws: Workspace, kind: str, valid: pd.DataFrame) -> int:
    """Telemetry and events: one durable part per batch (duplicates are dropped at merge)."""
    if valid.empty:
        return 0
    frame = valid.drop(columns=MSG).drop_duplicates().reset_index(drop=True)
    landing.land_frame(ws, LANDED_FEED[kind], frame)
    return len(frame)


class OnlinePusher:
    """Each meter's newest reading to the Feast push source, never back in time: the newest
    timestamp pushed per meter is kept (read once from the online store per meter)."""

    def __init__(self, ws: Workspace, store_config: Path | None = None) -> None:
        from gridml.features.store import repo
        from gridml.features.store.definitions import PUSH_SOURCE

        self.store = repo.open_store(ws, store_config)
        self.latest: dict[str, pd.Timestamp] = {}
        from gridml.features.store.definitions import PUSHED
        from gridml.features.tables.series import topology_frame

        missing = sorted(set(PUSHED) - {fv.name for fv in self.store.list_feature_views()})
        if missing:
            raise MissingDataError(
                f"the feature view(s) {missing} are not registered: run `gridml features apply`"
            )
        topo = topology_frame(ws)
        self.liveness = LivenessPusher(self.store, topo)
        self.grid = GridLivePusher(self.store, topo)
        # what `store.push` writes to, resolved once (push lists every view on each call)
        self.views = [
            fv.name
            for fv in self.store.list_feature_views()
            if fv.stream_source is not None and fv.stream_source.name == PUSH_SOURCE
        ]
        if not self.views:
            raise MissingDataError(
                f"no feature view reads the push source {PUSH_SOURCE}: run `gridml features apply`"
            )

    def _online_ts(self, meters: list[str]) -> None:
        from gridml.features.store.definitions import FRESH_READINGS_VIEW
        from gridml.serving.online import TIMESTAMP_SUFFIX, online_frame

        response = self.store.get_online_features(
            features=[f"{FRESH_READINGS_VIEW}:kwh"], entity_rows=[{"meter_id": m} for m in meters]
        )
        frame = online_frame(response, ("kwh",))
        seconds = pd.to_numeric(frame[f"kwh{TIMESTAMP_SUFFIX}"], errors="coerce")
        stamps = pd.to_datetime(seconds.where(seconds > 0), unit="s", utc=True)
        self.latest.update(dict(zip(meters, stamps, strict=True)))

    def push(self, readings: pd.DataFrame) -> int:
        if readings.empty:
            return 0
        meters = sorted(set(readings["meter_id"]) - set(self.latest))
        if meters:
            self._online_ts(meters)
        online = pd.Series(self.latest, dtype=object).astype("datetime64[ns, UTC]")
        push = landing.newest_to_push(readings[[*KEY, "kwh"]], online)
        if len(push):
            for view in self.views:  # as store.push(PUSH_SOURCE, push) does, view by view
                self.store.write_to_online_store(view, push)
            self.latest.update(dict(zip(push["meter_id"], push["timestamp"], strict=True)))
        self.liveness.push(readings)
        return len(push)

    def push_live(
        self, readings: pd.DataFrame, events: pd.DataFrame, telemetry: pd.DataFrame
    ) -> int:
        """The meters' last events and the transformers' energy balance (`GridLivePusher`)."""
        return self.grid.push(readings, events, telemetry)


class LivenessPusher:
    """The meter liveness features (`features.tables.liveness`, the offline table's definition)
    per micro-batch, written online to the `meter_liveness` view.

    The stream's clock is the newest reading hour seen; each batch writes, stamped at the end
    of that hour, the rows of the batch's meters and, when the clock moved on, of every meter
    this consumer has seen (so a silent meter's hours since its last reading grow). A meter's
    state (last reading hour, zero run) is kept here, read once from the online store."""

    def __init__(self, store: Any, topo: pd.DataFrame | None = None) -> None:
        """`topo`: meters with their transformer_id (`topology_frame`); with it, each batch
        also writes the transformers' share of meters heard in the clock's hour, and the
        state of every meter of the topology is read at start (its denominator)."""
        self.store = store
        self.meters = pd.Index([], dtype=object)
        self.state = liveness.State.empty(0)
        self.clock: int | None = None
        self.moved = False
        self.topo = topo
        self.per_unit = liveness.transformer_meters(topo) if topo is not None else None
        if topo is not None and len(topo):
            self._load(sorted(topo.index))

    def _load(self, meters: list[str]) -> None:
        from gridml.features.store.definitions import LIVENESS_VIEW

        names = ("last_reading_unix_s", "zero_run_hours")
        response = self.store.get_online_features(
            features=[f"{LIVENESS_VIEW}:{n}" for n in names],
            entity_rows=[{"meter_id": m} for m in meters],
        ).to_dict()
        col = {n: pd.to_numeric(pd.Series(response[n]), errors="coerce").to_numpy() for n in names}
        loaded = liveness.State.from_columns(col[names[0]], col[names[1]])
        self.meters = self.meters.append(pd.Index(meters, dtype=object))
        self.state = liveness.State(
            np.concatenate([self.state.last_hour, loaded.last_hour]),
            np.concatenate([self.state.zero_run, loaded.zero_run]),
        )

    def unit_rows(self, readings: pd.DataFrame, moved: bool) -> pd.DataFrame:
        """The share of each transformer's meters heard in the clock's hour (the batch's
        transformers, or all of them when the clock moved on)."""
        from gridml.features.tables.catalog import EVENT_TIMESTAMP

        if self.topo is None or self.per_unit is None or self.clock is None:
            return pd.DataFrame()
        units = self.per_unit.index
        rows = units.get_indexer(self.topo["transformer_id"].reindex(self.meters))
        heard = (self.state.last_hour == self.clock)[:, None]
        share = liveness.heard_share(
            liveness.heard_counts(heard, rows, len(units)), self.per_unit.to_numpy()
        )[:, 0]
        batch_units = self.topo["transformer_id"].reindex(readings["meter_id"].unique())
        keep = np.ones(len(units), bool) if moved else units.isin(batch_units)
        stamp = pd.Timestamp((self.clock + 1) * liveness.HOUR_S, unit="s", tz="UTC")
        return pd.DataFrame(
            {
                "transformer_id": units[keep].to_numpy(),
                EVENT_TIMESTAMP: stamp,
                "meters_heard_share": share[keep],
            }
        )

    def rows(self, readings: pd.DataFrame) -> pd.DataFrame:
        """Advance the state by the batch; the meter rows to write online."""
        from gridml.features.tables.catalog import EVENT_TIMESTAMP

        new = sorted(set(readings["meter_id"]) - set(self.meters))
        if new:
            self._load(new)
        newest = liveness.epoch_hour(readings["timestamp"].max())
        moved = self.clock is None or newest > self.clock
        now = newest if self.clock is None else max(self.clock, newest)
        values, after = liveness.step(readings, self.meters, self.state, now)
        self.state, self.clock = after, now
        self.moved = moved
        wanted = (
            np.ones(len(self.meters), bool) if moved else self.meters.isin(readings["meter_id"])
        )
        # heard of (online or here), and not ahead of the clock (a restart replaying the past)
        keep = wanted & (after.last_hour > liveness.NONE) & (after.last_hour <= now)
        frame = pd.DataFrame({k: v[keep] for k, v in values.items()})
        frame.insert(0, "meter_id", self.meters[keep].to_numpy())
        stamp = pd.Timestamp((now + 1) * liveness.HOUR_S, unit="s", tz="UTC")
        frame.insert(1, EVENT_TIMESTAMP, stamp)
        return frame

    def push(self, readings: pd.DataFrame) -> int:
        from gridml.features.store.definitions import LIVENESS_VIEW

        if readings.empty:
            return 0
        from gridml.features.store.definitions import TRANSFORMER_LIVENESS_VIEW

        frame = self.rows(readings[[*KEY, "kwh"]])
        if len(frame):
            self.store.write_to_online_store(LIVENESS_VIEW, frame)
        units = self.unit_rows(readings, self.moved)
        if len(units):
            self.store.write_to_online_store(TRANSFORMER_LIVENESS_VIEW, units)
        return len(frame)


class GridLivePusher:
    """Per micro-batch, online: each meter's last event (`meter_last_event`) and each
    transformer's energy balance of its newest hour with telemetry
    (`transformer_energy_balance`), by the offline tables' definitions
    (`features.tables.liveness.event_rows`, `energy_balance`).

    The balance needs the readings and telemetry of an hour, which arrive in any order and
    batch: this consumer keeps the newest `keep_hours` of both (deduplicated on their keys) and
    rewrites the balance of every hour a batch touches. Never back in time: a transformer's
    row for an hour older than the newest written, or a meter's event older than the one
    online, is not written. After a restart the kept hours start empty: an hour's balance
    counts what this consumer saw (a redelivered batch included) until the hour is complete
    again; the offline table, built from the landed data, is exact."""

    def __init__(self, store: Any, topo: pd.DataFrame | None, keep_hours: int = 48) -> None:
        self.store = store
        self.keep = pd.Timedelta(hours=keep_hours)
        self.meter_unit = (
            topo["transformer_id"] if topo is not None and len(topo) else pd.Series(dtype=object)
        )
        utc = pd.Series(dtype="datetime64[ns, UTC]")
        self.readings = pd.DataFrame(
            {"meter_id": pd.Series(dtype=object), "timestamp": utc, "kwh": pd.Series(dtype=float)}
        )
        self.telemetry = pd.DataFrame(
            {"transformer_id": pd.Series(dtype=object), "timestamp": utc,
             "energy_kwh": pd.Series(dtype=float)}
        )  # fmt: skip
        self.last_event: dict[str, float] = {}
        self.unit_hour: dict[str, int] = {}  # newest stamp written (ns)

    def _online_events(self, meters: list[str]) -> None:
        from gridml.features.store.definitions import LAST_EVENT_VIEW

        response = self.store.get_online_features(
            features=[f"{LAST_EVENT_VIEW}:last_event_unix_s"],
            entity_rows=[{"meter_id": m} for m in meters],
        ).to_dict()
        seconds = pd.to_numeric(pd.Series(response["last_event_unix_s"]), errors="coerce")
        self.last_event.update(dict(zip(meters, seconds.fillna(-np.inf), strict=True)))

    def push_events(self, events: pd.DataFrame) -> int:
        from gridml.features.store.definitions import LAST_EVENT_VIEW

        if events.empty:
            return 0
        rows = liveness.newest_per_meter(liveness.event_rows(events))
        new = sorted(set(rows["meter_id"]) - set(self.last_event))
        if new:
            self._online_events(new)
        known = rows["meter_id"].map(self.last_event).astype(float)
        rows = rows[rows["last_event_unix_s"].to_numpy() >= known.to_numpy()]
        if len(rows):
            self.store.write_to_online_store(LAST_EVENT_VIEW, rows.reset_index(drop=True))
            self.last_event.update(zip(rows["meter_id"], rows["last_event_unix_s"], strict=True))
        return len(rows)

    def _keep(self, frame: pd.DataFrame, new: pd.DataFrame, key: list[str]) -> pd.DataFrame:
        both = new if frame.empty else pd.concat([frame, new], ignore_index=True)
        both = both.drop_duplicates(subset=key, keep="first")
        newest = both["timestamp"].max()
        return both[both["timestamp"] > newest - self.keep].reset_index(drop=True)

    def push_balance(self, readings: pd.DataFrame, telemetry: pd.DataFrame) -> int:
        from gridml.features.store.definitions import ENERGY_BALANCE_VIEW
        from gridml.features.tables.catalog import EVENT_TIMESTAMP

        tele = (
            telemetry[["transformer_id", "timestamp", "energy_kwh"]].dropna()
            if "energy_kwh" in telemetry
            else telemetry.iloc[0:0]
        )
        if readings.empty and tele.empty:
            return 0
        if len(readings):
            self.readings = self._keep(self.readings, readings[[*KEY, "kwh"]], KEY)
        if len(tele):
            self.telemetry = self._keep(self.telemetry, tele, ["transformer_id", "timestamp"])
        if self.telemetry.empty:
            return 0
        touched = {t for f in (readings, tele) if len(f) for t in f["timestamp"].dt.floor("h")}
        in_touched = self.telemetry["timestamp"].dt.floor("h").isin(touched)
        rows = liveness.energy_balance(
            self.telemetry[in_touched.to_numpy()],
            self.readings[self.readings["timestamp"].dt.floor("h").isin(touched).to_numpy()],
            self.meter_unit,
        )
        if rows.empty:
            return 0
        rows = rows.sort_values(EVENT_TIMESTAMP).groupby("transformer_id").tail(1)
        stamps = rows[EVENT_TIMESTAMP].astype("int64").to_numpy()
        floor = np.array(
            [self.unit_hour.get(t, np.iinfo(np.int64).min) for t in rows["transformer_id"]]
        )
        rows = rows[stamps >= floor].reset_index(drop=True)
        if len(rows):
            self.store.write_to_online_store(ENERGY_BALANCE_VIEW, rows)
            stamps = rows[EVENT_TIMESTAMP].astype("int64").to_numpy()
            self.unit_hour.update(zip(rows["transformer_id"], stamps.tolist(), strict=True))
        return len(rows)

    def push(self, readings: pd.DataFrame, events: pd.DataFrame, telemetry: pd.DataFrame) -> int:
        return self.push_events(events) + self.push_balance(readings, telemetry)
