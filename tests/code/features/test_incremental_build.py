"""Incremental `gridml features build`: a zone built up to day D, one more day landed and
merged, an incremental build appends it; the tables equal a full build of the same data. A
feed changed outside the merge, or landed data inside the built period, forces a full build."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from gridml.features.landing import land, land_frame
from gridml.features.tables import incremental
from gridml.features.tables.build import _period, build_tables
from gridml.features.tables.catalog import EVENT_TIMESTAMP, TABLES
from gridml.features.tables.incremental import LOOKBACK_DAYS, STAMP_OFFSET, read_manifest
from gridml.io import parts, read_parts
from gridml.workspace import Workspace

DAY = pd.Timedelta(days=1)


def _cut(ws: Workspace, feed: str, at: pd.Timestamp) -> pd.DataFrame:
    """Drop the feed's rows from `at` on (part by part, schema kept); return them."""
    held = []
    for f in parts(ws.feed_dir(feed)):
        table = pq.read_table(f)
        late = pc.greater_equal(
            table["timestamp"], pc.cast(pd.Timestamp(at), table["timestamp"].type)
        )
        held.append(table.filter(late).to_pandas())
        pq.write_table(table.filter(pc.invert(late)), f)
    return pd.concat(held, ignore_index=True)


def _tables(ws: Workspace) -> dict[str, pd.DataFrame]:
    out = {}
    for name, spec in TABLES.items():
        frame = read_parts(ws.table_dir(name))
        key = [*spec.entities, EVENT_TIMESTAMP]
        out[name] = frame.sort_values(key, kind="stable", ignore_index=True)
    return out


@pytest.fixture(scope="module")
def built(small_zone: Workspace, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The small zone built up to its last day, then that day landed and built incrementally;
    beside it, a full build of the same final data."""
    ws = Workspace(tmp_path_factory.mktemp("incr") / "ws")
    shutil.copytree(small_zone.root, ws.root)
    zone = json.loads(ws.zone_file.read_text())
    last_day = pd.Timestamp(zone["end"]) - DAY
    readings = _cut(ws, "readings", last_day)
    telemetry = _cut(ws, "transformer_telemetry", last_day)
    zone_before = zone | {"end": last_day.isoformat()}
    ws.zone_file.write_text(json.dumps(zone_before))
    meter = readings["meter_id"].iat[0]
    events = [(meter, last_day - DAY, "last_gasp"), (meter, last_day + DAY / 2, "power_restore")]
    events = pd.DataFrame(events, columns=["meter_id", "timestamp", "kind"])
    land_frame(ws, "meter_events", events.iloc[:1])  # meter events: one landed before...
    first = build_tables(ws, progress=False)
    before = read_manifest(ws)
    land(ws, readings)
    land_frame(ws, "transformer_telemetry", telemetry)
    land_frame(ws, "meter_events", events)  # ...then both (a repeat, and a later one)
    appended = build_tables(ws, progress=False)
    after = read_manifest(ws)
    full_ws = Workspace(ws.root.parent / "full")
    shutil.copytree(ws.root, full_ws.root)
    build_tables(full_ws, progress=False, full=True)
    return {
        "ws": ws,
        "zone": zone,
        "first": first,
        "before": before,
        "appended": appended,
        "after": after,
        "full": full_ws,
    }


def test_one_new_day_is_appended_not_rebuilt(built: dict) -> None:
    before, after = built["before"], built["after"]
    assert (before.mode, after.mode) == ("full", "incremental")
    assert after.appended_days == 1 and after.grid_days == before.grid_days + 1
    assert pd.Timestamp(after.zone_end) == pd.Timestamp(built["zone"]["end"])
    # one day of meter-hours appended, not the history
    meters = read_parts(built["ws"].feed_dir("meters"))["meter_id"].nunique()
    assert 0 < built["appended"]["meter_hourly"] <= meters * 24
    assert built["appended"]["meter_daily"] == meters
    assert built["first"]["meter_hourly"] > 30 * built["appended"]["meter_hourly"]
    assert built["appended"]["meter_profile"] == 0  # static tables kept as built
    # the window is shorter than the period: history was not recomputed
    assert before.grid_days > LOOKBACK_DAYS


@pytest.mark.parametrize("table", sorted(TABLES))
def test_incremental_tables_equal_a_full_build(built: dict, table: str) -> None:
    """Same rows, same keys, same values up to rounding: pandas' rolling sums run over the
    whole series, so a window started later differs in the last bits (rtol 1e-9)."""
    mine, full = _tables(built["ws"])[table], _tables(built["full"])[table]
    assert len(mine) == len(full) and len(full)
    pd.testing.assert_frame_equal(mine, full, check_exact=False, rtol=1e-9, atol=1e-12)


def test_unbounded_features_carry_across_the_window(built: dict) -> None:
    """Days since a vend and the ageing hours reach back past the window: they still match."""
    last = pd.Timestamp(built["zone"]["end"])
    for ws in (built["ws"], built["full"]):
        daily = read_parts(ws.table_dir("transformer_daily"))
        row = daily[daily[EVENT_TIMESTAMP] == last]
        assert (row["ageing_hours_observed"] > 0).all()
    vend = _tables(built["ws"])["meter_daily"]
    since = vend.loc[vend[EVENT_TIMESTAMP] == last, "days_since_vend"]
    assert np.nanmax(since.to_numpy()) >= 0


def test_every_table_has_a_stamp_offset() -> None:
    assert set(STAMP_OFFSET) == set(TABLES)


def test_a_feed_changed_outside_the_merge_rebuilds_everything(built: dict, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(built["ws"].root, ws.root)
    weather = parts(ws.feed_dir("weather"))[0]
    pd.read_parquet(weather).to_parquet(weather, index=False)  # rewritten: a new fingerprint
    counts = build_tables(ws, progress=False)
    assert read_manifest(ws).mode == "full"
    assert counts["meter_hourly"] == len(read_parts(ws.table_dir("meter_hourly")))


def test_landed_data_inside_the_built_period_plans_a_full_build(built: dict) -> None:
    ws = built["ws"]
    zone = json.loads(ws.zone_file.read_text())
    period = _period(zone)
    plan = functools.partial(
        incremental.plan_build,
        ws,
        read_manifest(ws),
        incremental.feed_fingerprint(ws),
        zone=zone,
        grid=period,
        meter_series=(),
        full=False,
    )
    end = pd.Timestamp(zone["end"])
    assert plan(first_added={}).reason == "up to date"
    late = plan(first_added={"readings": end - pd.Timedelta(hours=1)})
    assert not late.incremental and "before the built period's end" in late.reason
    assert not plan(first_added={}, full=True).incremental
    assert not incremental.plan_build(ws, None, {}, {}, zone, period, (), False).incremental


def test_cli_says_up_to_date_and_rebuilds_on_full(built: dict, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gridml.cli.main import app

    ws = Workspace(tmp_path / "ws")
    shutil.copytree(built["ws"].root, ws.root)
    runner = CliRunner()
    again = runner.invoke(app, ["features", "build", "-w", str(ws.root)])
    assert again.exit_code == 0, again.output
    assert "up to date" in again.output
    full = runner.invoke(app, ["features", "build", "-w", str(ws.root), "--full"])
    assert full.exit_code == 0, full.output
    assert "feature tables: full" in full.output
    assert read_manifest(ws).mode == "full"
