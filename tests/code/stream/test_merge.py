"""Landed readings merged into the feed: new keys into their meter's part, in order; repeats
and conflicts left out; the zone's period extended; a second merge changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from gridml.errors import ContractError
from gridml.features.contracts import FEEDS
from gridml.features.importer import _write
from gridml.features.landing import land, landing_dir
from gridml.features.merge import merge_landed
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


def test_landed_readings_join_their_meters_part(ws: Workspace) -> None:
    land(ws, readings(("M1", 1, 1.0), ("M2", 1, 9.0), ("M1", 2, 1.5), ("M2", 3, 2.5)))
    land(ws, readings(("M3", 4, 3.0), ("M1", 2, 1.5)))
    report = merge_landed(ws)
    assert report.added["readings"] == 3  # M1@2 landed twice counts once
    assert (report.repeats["readings"], report.conflicts["readings"]) == (1, 1)
    first, second = (pd.read_parquet(p) for p in parts(ws.feed_dir("readings")))
    assert list(first["meter_id"]) == ["M1"] * 3
    assert list(first["kwh"]) == [1.0, 1.0, 1.5]
    assert list(second["meter_id"]) == ["M2", "M2", "M2", "M3"]  # a new meter: the last part
    assert second.set_index("timestamp").loc[T0 + pd.Timedelta(hours=1), "kwh"] == 2.0
    assert first["timestamp"].is_monotonic_increasing
    zone = json.loads(ws.zone_file.read_text())
    assert pd.Timestamp(zone["end"]) == T0 + pd.Timedelta(hours=5)
    again = merge_landed(ws)
    assert again.added["readings"] == 0 and again.end is None


def test_landed_rows_that_break_the_contract_are_refused(ws: Workspace) -> None:
    bad = readings(("M1", 5, -1.0))
    landing_dir(ws).mkdir(parents=True)
    bad.to_parquet(landing_dir(ws) / "part-bad.parquet")
    with pytest.raises(ContractError, match="kwh"):
        merge_landed(ws)
    assert len(pd.read_parquet(parts(ws.feed_dir("readings"))[0])) == 2


def test_rows_after_the_part_are_inserted_in_order_without_a_resort() -> None:
    """The append path (new hours after every row of a sorted part) gives the order a full
    sort gives; rows inside the part's span take the sorting path; the result is the same."""
    import pyarrow as pa

    from gridml.features.importer import arrow_schema
    from gridml.features.merge import _merged

    contract = FEEDS["readings"]
    part = readings(("M1", 0, 1.0), ("M1", 1, 1.0), ("M3", 0, 3.0), ("M3", 1, 3.0))
    for new in (
        readings(("M3", 2, 3.5), ("M2", 3, 2.0), ("M1", 2, 1.5), ("M4", 2, 4.0)),
        readings(("M2", 0, 2.0), ("M3", 2, 3.5)),  # M2@0 is inside the span: sorted
    ):
        expected = pd.concat([part, new]).sort_values(["meter_id", "timestamp"], ignore_index=True)
        table = pa.Table.from_pandas(part, schema=arrow_schema(contract), preserve_index=False)
        merged = _merged(table, new, contract).to_pandas()
        pd.testing.assert_frame_equal(merged, expected[list(merged.columns)])
