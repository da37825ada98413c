"""Fresh meter readings posted to the service: validated, landed, pushed online.

A batch is checked against the `readings` data contract (the one the importer and the
generator use) and against the known meters; nothing is written unless all of it passes. Then:

1. it is landed as one Parquet file under `WORKSPACE/landing/readings/`, named by the digest of
   its sorted rows and written atomically: posting the same batch twice writes the same file
   (idempotent on meter and timestamp). Nothing is lost; merging landed files into the
   readings feed before a feature build is not done yet;
2. each meter's newest reading is pushed to the Feast push source `meter_readings_push`
   (online view `meter_latest_reading`), unless the store already holds a newer one, so a late
   or replayed batch never moves a meter's latest reading back in time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gridml.errors import ContractError
from gridml.features.contracts import FEEDS
from gridml.features.validate import check_frame
from gridml.io import write_parquet_atomic
from gridml.workspace import Workspace

KEY = ["meter_id", "timestamp"]
SOURCE = "request body 'readings'"


@dataclass(frozen=True)
class Ingested:
    received: int
    duplicates: int
    pushed: int  # meters whose latest reading moved
    stale: int  # meters whose newer reading was already online
    landed: Path


def readings_frame(items: list[dict]) -> pd.DataFrame:
    """The posted items as a readings frame (UTC timestamps); raises ContractError naming the
    item when a timestamp cannot be read."""
    frame = pd.DataFrame(items, columns=["meter_id", "timestamp", "kwh"])
    stamps = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce", format="ISO8601")
    bad = frame.index[stamps.isna()]
    if len(bad):
        raise ContractError(
            f"{SOURCE}: item(s) {', '.join(str(i) for i in bad[:5])} have no valid 'timestamp' "
            "(ISO 8601 with a UTC offset, e.g. 2024-06-29T10:00:00Z)"
        )
    frame["timestamp"] = stamps.astype(pd.DatetimeTZDtype("ns", "UTC"))
    frame["meter_id"] = frame["meter_id"].astype(str)
    frame["kwh"] = frame["kwh"].astype(float)
    return frame


def validate(frame: pd.DataFrame, known_meters: pd.Index) -> tuple[pd.DataFrame, int]:
    """Drop exact repeats, then check the contract and the meter ids. Returns (batch, repeats)."""
    unique = frame.drop_duplicates().sort_values(KEY, ignore_index=True)
    repeats = len(frame) - len(unique)
    errors = check_frame(unique, FEEDS["readings"], SOURCE)
    if errors:
        raise ContractError("; ".join(errors))
    unknown = sorted(set(unique["meter_id"]) - set(known_meters))
    if unknown:
        shown = ", ".join(unknown[:10]) + (
            f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        )
        raise ContractError(f"{SOURCE}: unknown meter_id(s): {shown}")
    return unique, repeats


def batch_digest(batch: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(batch[[*KEY, "kwh"]], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:20]


def land(ws: Workspace, batch: pd.DataFrame) -> Path:
    path = ws.root / "landing" / "readings" / f"part-{batch_digest(batch)}.parquet"
    if not path.is_file():
        write_parquet_atomic(batch, path)
    return path


def newest_to_push(batch: pd.DataFrame, online_ts: pd.Series) -> pd.DataFrame:
    """Each meter's newest reading of the batch, kept only when not older than the online one.

    `online_ts`: meter_id -> the online reading's timestamp (NaT when none)."""
    newest = batch.sort_values(KEY).groupby("meter_id", as_index=False).tail(1)
    current = newest["meter_id"].map(online_ts)
    keep = current.isna() | (newest["timestamp"] >= current)
    return newest[keep.to_numpy()].reset_index(drop=True)
