"""Landed live data: readings that arrived over HTTP (`POST /readings`) or from the broker
(`gridml stream ingest`), written durably and idempotently under `WORKSPACE/landing/`.

One implementation for both paths:

1. each reading is checked against every reading already landed (`LandedIndex`, kept in step
   with the landing folder): an exact repeat of a landed (meter_id, timestamp, kwh) is counted
   in `Split.repeats` and not landed again; a DIFFERENT kWh for a landed (meter_id, timestamp)
   is a conflict (`Split.conflicts`): the caller decides (the HTTP path refuses the batch, the
   stream sends those readings to its dead-letter store), since a landed reading is never
   changed by a live feed (a correction goes through `gridml data import`);
2. the new readings are landed as one Parquet file under `WORKSPACE/landing/readings/`, named by
   the digest of their sorted rows, written atomically and durably (file and folder fsynced
   before anything is acknowledged);
3. `newest_to_push` picks each meter's newest reading for the online store, unless the store
   already holds a newer one, so a late or replayed batch never moves a meter back in time.

`merge_landed` (run by `gridml features build`) folds the landed files into the feeds.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gridml.io import file_lock, parts, write_parquet_atomic
from gridml.workspace import Workspace

KEY = ["meter_id", "timestamp"]
_SECONDS_BITS = 35  # timestamps up to the year 3058 in whole seconds


def landing_dir(ws: Workspace, feed: str = "readings") -> Path:
    """The landing folder of a feed in the workspace."""
    return ws.root / "landing" / feed


def batch_digest(batch: pd.DataFrame, columns: list[str] | None = None) -> str:
    """A short content digest of a batch's key columns (names its landed part)."""
    hashed = pd.util.hash_pandas_object(batch[columns or [*KEY, "kwh"]], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:20]


def land(ws: Workspace, batch: pd.DataFrame) -> Path:
    """Write `batch` durably as one part named by its digest (a no-op if it exists)."""
    path = landing_dir(ws) / f"part-{batch_digest(batch)}.parquet"
    if not path.is_file():
        write_parquet_atomic(batch, path, durable=True)
    return path


def land_frame(ws: Workspace, feed: str, frame: pd.DataFrame) -> Path:
    """Write any landed feed (telemetry, events) durably, named by the digest of its rows
    (a replayed batch rewrites nothing); duplicates across files are dropped at merge time."""
    path = landing_dir(ws, feed) / f"part-{batch_digest(frame, list(frame.columns))}.parquet"
    if not path.is_file():
        write_parquet_atomic(frame, path, durable=True)
    return path


@dataclass
class Split:
    """A validated batch against what already landed."""

    new: pd.DataFrame  # readings not landed yet
    repeats: int  # readings landed before with the same kWh
    conflicts: pd.DataFrame  # meter_id, timestamp, kwh (posted), landed_kwh
    new_keys: list[int] | None = None  # the index keys of `new` (LandedIndex.split sets them)


@dataclass
class LandedIndex:
    """kWh of every landed (meter_id, timestamp), read part by part as parts appear (each part
    once). One per worker or consumer; the landing folder's lock orders their check-and-write.

    Keys are one int64 each (a code per meter, shifted, plus the timestamp in whole seconds:
    landed readings are on the hour), held in a dict: a batch costs lookups and inserts of its
    own readings only, whatever the number landed before (a pandas index rebuilt its hash table
    of every landed reading at each batch)."""

    folder: Path
    _files: set[str] = field(default_factory=set)
    _codes: dict[str, int] = field(default_factory=dict)
    _kwh: dict[int, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _encode(self, frame: pd.DataFrame) -> np.ndarray:
        codes, uniques = pd.factorize(frame["meter_id"].to_numpy(dtype=object))  # by hash
        for m in uniques:
            self._codes.setdefault(str(m), len(self._codes))
        table = np.fromiter((self._codes[str(m)] for m in uniques), np.int64, len(uniques))
        ns = pd.DatetimeIndex(frame["timestamp"]).tz_convert("UTC").as_unit("ns").asi8
        return (table[codes] << _SECONDS_BITS) | (ns // 1_000_000_000)

    def refresh(self) -> None:
        new = [p for p in parts(self.folder) if p.name not in self._files]
        if not new:
            return
        frames = [pd.read_parquet(p, columns=[*KEY, "kwh"]) for p in new]
        self.add(pd.concat(frames, ignore_index=True))
        self._files |= {p.name for p in new}

    def add(
        self, frame: pd.DataFrame, fresh: bool = False, keys: list[int] | None = None
    ) -> list[int]:
        """Index `frame`'s readings (the first kWh of a key is kept); returns the keys added.
        `fresh`: known to be unique and not indexed yet; `keys`: theirs, when known."""
        if frame.empty:
            return []
        keys = self._encode(frame).tolist() if keys is None else keys
        values = frame["kwh"].to_numpy(dtype=float).tolist()
        if fresh:
            self._kwh.update(zip(keys, values, strict=True))
            return keys
        added = []
        for k, v in zip(keys, values, strict=True):
            if k not in self._kwh:
                self._kwh[k] = v
                added.append(k)
        return added

    def forget(self, keys: list[int]) -> None:
        """Drop keys added by `add` (a group that did not land)."""
        for k in keys:
            self._kwh.pop(k, None)

    def split(self, batch: pd.DataFrame) -> Split:
        get = self._kwh.get
        nan = float("nan")
        keys = self._encode(batch).tolist()
        landed = np.fromiter((get(k, nan) for k in keys), float, len(keys))
        seen = ~np.isnan(landed)
        same = seen & np.isclose(landed, batch["kwh"].to_numpy(dtype=float), rtol=0, atol=1e-9)
        conflicts = batch[seen & ~same].assign(landed_kwh=landed[seen & ~same])
        new_keys = [k for k, s in zip(keys, seen.tolist(), strict=True) if not s]
        return Split(batch[~seen].reset_index(drop=True), int(same.sum()), conflicts, new_keys)

    def __len__(self) -> int:
        return len(self._kwh)


def land_new(
    ws: Workspace,
    index: LandedIndex,
    batch: pd.DataFrame,
    refuse: Callable[[Split], None] | None = None,
) -> tuple[Split, Path | None]:
    """Under the landing lock: split `batch` against the landed readings, let `refuse` raise
    on the split (nothing is then written), land the new readings durably. Conflicting readings
    are never landed. Returns (split, the landed file or None when nothing is new)."""
    result = land_many(ws, index, [batch], refuse)[0]
    if isinstance(result, Exception):
        raise result
    return result


def land_many(
    ws: Workspace,
    index: LandedIndex,
    batches: list[pd.DataFrame],
    refuse: Callable[[Split], None] | None = None,
) -> list[tuple[Split, Path | None] | Exception]:
    """`land_new` of several batches in one commit (one lock, one durable file): each batch is
    split against the landed readings and the batches before it, in order, as if landed one by
    one; a batch that `refuse` raises on gets its exception and lands nothing; the new readings
    of the others land together. Returns per batch (split, the landed file or None when nothing
    of it is new) or the exception."""
    folder = landing_dir(ws)
    with index._lock, file_lock(folder / ".lock"):
        index.refresh()
        added: list[int] = []
        results: list[tuple[Split, Path | None] | Exception] = []
        new: list[pd.DataFrame] = []
        try:
            for batch in batches:
                split = index.split(batch)
                if refuse is not None:
                    try:
                        refuse(split)
                    except Exception as exc:  # the caller's refusal of this batch only
                        results.append(exc)
                        continue
                results.append((split, None))
                if not split.new.empty:
                    added += index.add(split.new, fresh=True, keys=split.new_keys)
                    new.append(split.new)
            if not new:
                return results
            path = land(ws, pd.concat(new, ignore_index=True).sort_values(KEY, ignore_index=True))
        except BaseException:
            index.forget(added)  # nothing of the group landed
            raise
        index._files.add(path.name)
        return [r if isinstance(r, Exception) or r[0].new.empty else (r[0], path) for r in results]


def newest_to_push(batch: pd.DataFrame, online_ts: pd.Series) -> pd.DataFrame:
    """Each meter's newest reading of the batch, kept only when not older than the online one.

    `online_ts`: meter_id -> the online reading's timestamp (NaT when none)."""
    if batch.empty:
        return batch.reset_index(drop=True)
    last = batch.reset_index(drop=True).groupby("meter_id", sort=True)["timestamp"].idxmax()
    newest = batch.iloc[last.to_numpy()]  # a hash group-by, not a sort of the whole batch
    current = newest["meter_id"].map(online_ts)
    keep = current.isna() | (newest["timestamp"] >= current)
    return newest[keep.to_numpy()].reset_index(drop=True)
