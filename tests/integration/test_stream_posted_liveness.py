"""`POST /readings` keeps the streamed liveness features current: the posted meters' rows of
`meter_liveness` advance from their online state (real Feast store, small zone)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from gridml.features.store.definitions import LIVENESS_VIEW
from gridml.io import read_parts
from gridml.serving import readings
from gridml.serving.online import OnlineFeatures
from gridml.workspace import Workspace

pytestmark = pytest.mark.integration
NAMES = ("last_reading_unix_s", "hours_since_reading", "zero_run_hours")


def test_posted_readings_update_the_meter_liveness_features(
    store_ws: Workspace, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(store_ws.root, ws.root)
    feed = read_parts(ws.feed_dir("readings"))
    end = feed["timestamp"].max()
    meters = sorted(feed["meter_id"].unique())[:2]
    online = OnlineFeatures(ws, None, {})
    intake = readings.Intake(ws, online)

    def post(*rows: tuple[str, int, float]) -> None:
        items = [{"meter_id": m, "timestamp": (end + pd.Timedelta(hours=h)).isoformat(),
                  "kwh": k} for m, h, k in rows]  # fmt: skip
        batch, repeats = readings.validate(readings.readings_frame(items), pd.Index(meters))
        intake.submit(readings.Posted(batch, repeats, len(items)))

    def state() -> pd.DataFrame:
        refs = [f"{LIVENESS_VIEW}:{n}" for n in NAMES]
        return online.read(refs, [{"meter_id": m} for m in meters]).set_index("meter_id")

    post((meters[0], 1, 0.0), (meters[1], 1, 0.5))
    post((meters[0], 2, 0.0))
    got = state()
    two = (end + pd.Timedelta(hours=2)).value // 10**9
    assert got.loc[meters[0], "last_reading_unix_s"] == two
    assert got.loc[meters[0], "hours_since_reading"] == 0
    assert got.loc[meters[0], "zero_run_hours"] == 2  # two zero hours in a row, two posts
    assert got.loc[meters[1], "hours_since_reading"] == 0  # its row was written by the 1st post
    assert got.loc[meters[1], "last_reading_unix_s"] == two - 3600
    post((meters[0], 0, 0.0))  # late: older than the online state, changes nothing
    pd.testing.assert_frame_equal(state(), got)
