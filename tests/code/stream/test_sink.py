"""Landing a batch: repeats dropped, conflicts kept apart, durable and idempotent files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gridml.features.landing import LandedIndex, landing_dir
from gridml.stream import sink
from gridml.stream.checks import MSG
from gridml.workspace import Workspace

T0 = pd.Timestamp("2024-01-01T00:00:00Z")


def frame(*rows: tuple[str, int, float, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"timestamp": T0 + pd.Timedelta(hours=h), "kwh": k, "meter_id": m, MSG: msg}
            for m, h, k, msg in rows
        ]
    )


def landed(ws: Workspace) -> pd.DataFrame:
    return pd.concat(pd.read_parquet(p) for p in landing_dir(ws).glob("part-*.parquet"))


def test_repeats_and_conflicts_across_messages_and_with_the_landed(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    index = LandedIndex(landing_dir(ws))
    first = sink.land_readings(ws, index, frame(("M1", 0, 1.0, 0), ("M1", 1, 1.0, 0)))
    assert (first.new, first.repeats, len(first.conflicts)) == (2, 0, 0)
    # redelivered message 0 + a new reading + a reading that contradicts the landed one
    # + the same key twice in the batch with different kWh (the later is a conflict)
    again = frame(
        ("M1", 0, 1.0, 0), ("M1", 1, 1.0, 0), ("M2", 0, 2.0, 1), ("M1", 1, 9.0, 2),
        ("M3", 0, 3.0, 3), ("M3", 0, 4.0, 4),
    )  # fmt: skip
    second = sink.land_readings(ws, LandedIndex(landing_dir(ws)), again)
    assert (second.new, second.repeats) == (2, 2)
    assert sorted(second.conflicts[MSG]) == [2, 4]
    stored = landed(ws)
    assert len(stored) == 4 and not stored.duplicated(["meter_id", "timestamp"]).any()
    assert stored.set_index("meter_id").loc["M3", "kwh"] == 3.0
    # the same batch once more lands nothing
    third = sink.land_readings(ws, LandedIndex(landing_dir(ws)), again)
    assert third.new == 0 and len(landed(ws)) == 4


def test_dead_letters_are_durable_idempotent_and_keep_the_raw_payload(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    records = [
        sink.dead_record("p/meters/readings", b"{bad", 1.7e9, "payload is not JSON"),
        sink.dead_record("p/meters/readings", b"\xff", 1.7e9, "payload is not UTF-8 text"),
    ]
    path = sink.write_dead_letters(ws, records)
    assert sink.write_dead_letters(ws, records) == path
    got = sink.read_dead_letters(ws)
    assert [r["payload"] for r in got] == ["{bad", "/w=="]
    assert got[1]["payload_encoding"] == "base64" and got[0]["reason"] == "payload is not JSON"
    assert got[0]["received_at"].startswith("2023-11-14T22:13:20")
    assert sink.write_dead_letters(ws, []) is None
