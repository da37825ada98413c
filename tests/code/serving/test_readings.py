"""Posted readings: contract checks that name the item, idempotent landing, no step back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gridml.errors import ContractError
from gridml.serving import readings
from gridml.workspace import Workspace

KNOWN = pd.Index(["M1", "M2"])


def items(*rows: tuple[str, str, float]) -> list[dict]:
    return [{"meter_id": m, "timestamp": t, "kwh": k} for m, t, k in rows]


def test_unreadable_timestamp_names_the_item() -> None:
    with pytest.raises(ContractError, match=r"item\(s\) 1 .*timestamp"):
        readings.readings_frame(items(("M1", "2024-01-01T00:00:00Z", 1.0), ("M1", "noon", 1.0)))


def test_exact_repeats_are_dropped_and_conflicts_refused() -> None:
    frame = readings.readings_frame(
        items(("M1", "2024-01-01T01:00:00Z", 1.0), ("M1", "2024-01-01T01:00:00Z", 1.0))
    )
    batch, repeats = readings.validate(frame, KNOWN)
    assert (len(batch), repeats) == (1, 1)
    conflict = readings.readings_frame(
        items(("M1", "2024-01-01T01:00:00Z", 1.0), ("M1", "2024-01-01T01:00:00Z", 2.0))
    )
    with pytest.raises(ContractError, match="duplicate key"):
        readings.validate(conflict, KNOWN)


def test_contract_and_unknown_meters_are_refused() -> None:
    huge = readings.readings_frame(items(("M1", "2024-01-01T01:00:00Z", 9_999.0)))
    with pytest.raises(ContractError, match="'kwh'"):
        readings.validate(huge, KNOWN)
    stranger = readings.readings_frame(items(("M9", "2024-01-01T01:00:00Z", 1.0)))
    with pytest.raises(ContractError, match=r"unknown meter_id.*M9"):
        readings.validate(stranger, KNOWN)


def test_landing_the_same_batch_twice_writes_one_file(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    frame = readings.readings_frame(
        items(("M2", "2024-01-01T02:00:00Z", 0.5), ("M1", "2024-01-01T01:00:00Z", 1.0))
    )
    batch, _ = readings.validate(frame, KNOWN)
    first = readings.land(ws, batch)
    again, _ = readings.validate(frame.iloc[::-1], KNOWN)  # same rows, another order
    assert readings.land(ws, again) == first
    assert len(list(first.parent.iterdir())) == 1
    pd.testing.assert_frame_equal(pd.read_parquet(first), batch)


def test_only_the_newest_reading_not_older_than_online_is_pushed() -> None:
    frame = readings.readings_frame(
        items(
            ("M1", "2024-01-01T01:00:00Z", 1.0),
            ("M1", "2024-01-01T03:00:00Z", 3.0),
            ("M2", "2024-01-01T01:00:00Z", 0.4),
        )
    )
    online = pd.Series(
        pd.to_datetime([pd.NaT, "2024-01-01T05:00:00Z"], utc=True), index=["M1", "M2"]
    )
    push = readings.newest_to_push(frame, online)
    assert push["meter_id"].tolist() == ["M1"]
    assert push["kwh"].tolist() == [3.0]
