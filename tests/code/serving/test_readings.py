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


def test_unreadable_or_naive_timestamps_name_the_item() -> None:
    with pytest.raises(ContractError, match=r"timestamp.*row 2 .*noon"):
        readings.readings_frame(items(("M1", "2024-01-01T00:00:00Z", 1.0), ("M1", "noon", 1.0)))
    with pytest.raises(ContractError, match=r"no UTC offset.*row 1"):
        readings.readings_frame(items(("M1", "2024-01-01T00:00:00", 1.0)))


NOW = pd.Timestamp("2024-06-01T12:20:00Z")
WINDOW = readings.Window(NOW, pd.Timedelta(minutes=15), pd.Timedelta(days=400))


@pytest.mark.parametrize(
    ("stamp", "says"),
    [
        ("2024-06-01T03:07:00Z", "not on the hour"),
        ("2024-06-01T13:00:00Z", "in the future"),
        ("2099-01-01T00:00:00Z", "in the future"),
        ("1970-01-01T00:00:00Z", "older than 400 days"),
    ],
)
def test_live_readings_must_be_hourly_and_inside_the_window(stamp: str, says: str) -> None:
    frame = readings.readings_frame(items(("M1", "2024-06-01T10:00:00Z", 1.0), ("M1", stamp, 1.0)))
    with pytest.raises(ContractError, match=rf"{says}.*row 2 \(M1@"):
        readings.validate(frame, KNOWN, WINDOW)


def test_a_reading_within_the_clock_skew_passes() -> None:
    frame = readings.readings_frame(items(("M1", "2024-06-01T12:00:00+00:00", 1.0)))
    batch, _ = readings.validate(frame, KNOWN, WINDOW)
    assert len(batch) == 1


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


def test_landed_readings_dedupe_per_key_and_conflicts_are_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    index = readings.LandedIndex(readings.landing_dir(ws))
    first, _ = readings.validate(
        readings.readings_frame(
            items(("M1", "2024-01-01T01:00:00Z", 1.0), ("M2", "2024-01-01T01:00:00Z", 2.0))
        ),
        KNOWN,
    )
    split, path = readings.land_new(ws, index, first)
    assert (len(split.new), split.repeats, path is not None) == (2, 0, True)
    # part of the batch again, plus one new reading: only the new one lands
    part, _ = readings.validate(
        readings.readings_frame(
            items(("M1", "2024-01-01T01:00:00Z", 1.0), ("M1", "2024-01-01T02:00:00Z", 1.5))
        ),
        KNOWN,
    )
    split, second = readings.land_new(ws, index, part)
    assert (len(split.new), split.repeats) == (1, 1)
    assert pd.read_parquet(second)["kwh"].tolist() == [1.5]
    # a fresh index (another worker, a restart) sees what landed
    other = readings.LandedIndex(readings.landing_dir(ws))
    conflict, _ = readings.validate(
        readings.readings_frame(items(("M2", "2024-01-01T01:00:00Z", 9.0))), KNOWN
    )
    with pytest.raises(
        readings.Conflict, match=r"M2@2024-01-01T01:00:00\+00:00 posted 9 kWh, landed 2"
    ):
        readings.land_new(ws, other, conflict)
    assert len(other) == 3
    split, none = readings.land_new(ws, other, part)
    assert (len(split.new), split.repeats, none) == (0, 2, None)
    assert len(list(readings.landing_dir(ws).glob("part-*.parquet"))) == 2


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


def test_landing_is_durable_file_then_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import stat

    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    batch, _ = readings.validate(
        readings.readings_frame(items(("M1", "2024-01-01T01:00:00Z", 1.0))), KNOWN
    )
    path = readings.land(Workspace(tmp_path), batch)
    assert synced == ["file", "dir"]
    pd.testing.assert_frame_equal(pd.read_parquet(path), batch)


def test_a_group_commit_is_checked_in_order_as_if_posted_one_by_one(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    index = readings.LandedIndex(readings.landing_dir(ws))

    def batch(*rows: tuple[str, str, float]) -> pd.DataFrame:
        return readings.validate(readings.readings_frame(items(*rows)), KNOWN)[0]

    first = batch(("M1", "2024-01-01T01:00:00Z", 1.0))
    repeat = batch(("M1", "2024-01-01T01:00:00Z", 1.0), ("M2", "2024-01-01T01:00:00Z", 2.0))
    conflict = batch(("M1", "2024-01-01T01:00:00Z", 5.0), ("M2", "2024-01-01T02:00:00Z", 3.0))
    results = readings.land_many(ws, index, [first, repeat, conflict])
    (s1, p1), (s2, p2) = results[0], results[1]
    assert (len(s1.new), s1.repeats, len(s2.new), s2.repeats) == (1, 0, 1, 1)
    assert p1 == p2 and p1 is not None  # one durable file for the group
    assert isinstance(results[2], readings.Conflict)  # against the group's first post
    assert "posted 5 kWh, landed 1" in str(results[2])
    landed = pd.read_parquet(p1)
    assert landed[["meter_id", "kwh"]].values.tolist() == [["M1", 1.0], ["M2", 2.0]]
    # nothing of the refused post landed; a fresh index (another worker) sees the group
    fresh = readings.LandedIndex(readings.landing_dir(ws))
    fresh.refresh()
    split = fresh.split(conflict)
    assert (len(fresh), len(split.new), len(split.conflicts)) == (2, 1, 1)
