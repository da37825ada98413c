"""Landed readings merged into the feed: new keys into a delta part of their meter's part
group, base parts untouched; repeats and conflicts left out; the zone's period extended; a
second merge changes nothing; many deltas are compacted into one."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from gridml.errors import ContractError
from gridml.features.contracts import FEEDS
from gridml.features.importer import _write
from gridml.features.landing import land, landing_dir
from gridml.features.merge import MAX_DELTAS, merge_landed, part_groups
from gridml.io import part_path, parts
from gridml.workspace import Workspace

T0 = pd.Timestamp("2024-01-01T00:00:00Z")


def readings(*rows: tuple[str, int, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"meter_id": m, "timestamp": T0 + pd.Timedelta(hours=h), "kwh": k} for m, h, k in rows]
    )


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path)
    folder = ws.feed_dir("readings")
    folder.mkdir(parents=True)
    _write(readings(("M1", 0, 1.0), ("M1", 1, 1.0)), FEEDS["readings"], part_path(folder, 0))
    _write(readings(("M2", 0, 2.0), ("M2", 1, 2.0)), FEEDS["readings"], part_path(folder, 1))
    ws.zone_file.write_text(json.dumps({"start": T0.isoformat(), "end": "2024-01-01T02:00:00Z"}))
    return ws


def _group(files: list[Path]) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)


def test_landed_readings_join_their_meters_group_as_delta_parts(ws: Workspace) -> None:
    bases = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in parts(ws.feed_dir("readings"))}
    land(ws, readings(("M1", 1, 1.0), ("M2", 1, 9.0), ("M1", 2, 1.5), ("M2", 3, 2.5)))
    land(ws, readings(("M3", 4, 3.0), ("M1", 2, 1.5)))
    report = merge_landed(ws)
    assert report.added["readings"] == 3  # M1@2 landed twice counts once
    assert (report.repeats["readings"], report.conflicts["readings"]) == (1, 1)
    first, second = part_groups(ws.feed_dir("readings"))
    assert [p.name for p in first] == ["part-00000.parquet", "part-00000_0001.parquet"]
    assert [p.name for p in second] == ["part-00001.parquet", "part-00001_0001.parquet"]
    for name, (data, mtime) in bases.items():  # history untouched
        path = ws.feed_dir("readings") / name
        assert (path.read_bytes(), path.stat().st_mtime_ns) == (data, mtime)
    one, two = _group(first), _group(second)
    assert list(one["meter_id"]) == ["M1"] * 3
    assert list(one["kwh"]) == [1.0, 1.0, 1.5]
    assert sorted(two["meter_id"]) == ["M2", "M2", "M2", "M3"]  # a new meter: the last group
    assert two.set_index("timestamp").loc[T0 + pd.Timedelta(hours=1), "kwh"] == 2.0
    delta = pd.read_parquet(second[1])
    assert list(delta["meter_id"]) == ["M2", "M3"] and delta["timestamp"].is_monotonic_increasing
    zone = json.loads(ws.zone_file.read_text())
    assert pd.Timestamp(zone["end"]) == T0 + pd.Timedelta(hours=5)
    again = merge_landed(ws)
    assert again.added["readings"] == 0 and again.end is None
    assert (again.repeats["readings"], again.conflicts["readings"]) == (4, 1)
    # a late hour inside the data goes to its meter's group too; a repeat of the base is found
    land(ws, readings(("M1", 0, 1.0), ("M2", -1, 2.0)))
    assert merge_landed(ws).added["readings"] == 1
    second = part_groups(ws.feed_dir("readings"))[1]
    assert len(second) == 3 and sorted(_group(second)["meter_id"]) == ["M2"] * 4 + ["M3"]


def test_deltas_are_compacted_and_the_base_never_rewritten(ws: Workspace) -> None:
    base = ws.feed_dir("readings") / "part-00000.parquet"
    before = base.stat().st_mtime_ns
    for h in range(2, 2 + MAX_DELTAS + 2):
        land(ws, readings(("M1", h, float(h))))
        assert merge_landed(ws).added["readings"] == 1
    group = part_groups(ws.feed_dir("readings"))[0]
    assert group[0] == base and base.stat().st_mtime_ns == before
    assert 1 < len(group) <= MAX_DELTAS + 1
    rows = _group(group)
    assert list(rows.sort_values("timestamp")["kwh"]) == [1.0, 1.0, *map(float, range(2, 12))]
    assert not rows.duplicated(["meter_id", "timestamp"]).any()
    assert merge_landed(ws).added["readings"] == 0


def test_landed_rows_that_break_the_contract_are_refused(ws: Workspace) -> None:
    bad = readings(("M1", 5, -1.0))
    landing_dir(ws).mkdir(parents=True)
    bad.to_parquet(landing_dir(ws) / "part-bad.parquet")
    with pytest.raises(ContractError, match="kwh"):
        merge_landed(ws)
    assert len(pd.read_parquet(parts(ws.feed_dir("readings"))[0])) == 2
