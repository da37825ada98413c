"""The service's online reads are kept until the store changes (issue 13): a repeated read
costs no Feast call, and a read after a push, by this service or by another process, never
answers the old value. Real Feast store (SQLite online) over the small zone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from gridml.features.store import repo
from gridml.features.store.definitions import FRESH_READINGS_VIEW, PUSH_SOURCE
from gridml.serving.online import OnlineFeatures
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
KWH = [f"{FRESH_READINGS_VIEW}:kwh"]


def _kwh(online: OnlineFeatures, meters: list[str]) -> list[float | None]:
    frame = online.read(KWH, [{"meter_id": m} for m in meters], stamped=("kwh",))
    assert frame["meter_id"].tolist() == meters
    return frame["kwh"].tolist()


def _reading(meter: str, hour: str, kwh: float) -> pd.DataFrame:
    return pd.DataFrame({"meter_id": [meter], "timestamp": [pd.Timestamp(hour)], "kwh": [kwh]})


@pytest.fixture
def own_ws(store_ws: Workspace, tmp_path: Path) -> Workspace:
    """A copy of the session's store: this test pushes readings dated 2099, which must not
    reach the other tests' online store (the stream tests read the newest reading back)."""
    copy = tmp_path / "ws"
    shutil.copytree(store_ws.root, copy)
    return Workspace(copy)


def test_repeated_reads_are_cached_until_any_writer_changes_the_store(own_ws: Workspace) -> None:
    store_ws = own_ws
    online = OnlineFeatures(store_ws, None, {})
    meters = ["M000001", "M000002"]
    first = _kwh(online, meters)
    reads = online.feast_reads
    assert _kwh(online, meters) == first and _kwh(online, meters[:1]) == first[:1]
    assert online.feast_reads == reads  # served from the cache
    assert _kwh(online, [*meters, "M000003"])[:2] == first
    assert online.feast_reads == reads + 1  # only the new meter was read

    # this service's own push
    online.push(PUSH_SOURCE, _reading(meters[0], "2099-01-01T00:00:00Z", 0.123))
    assert _kwh(online, meters)[0] == pytest.approx(0.123)

    # another process's write (the stream consumer, a materialization): its own connection
    other = repo.open_store(store_ws)
    other.write_to_online_store(
        FRESH_READINGS_VIEW, _reading(meters[1], "2099-01-01T01:00:00Z", 4.5)
    )
    reads = online.feast_reads
    assert _kwh(online, meters) == [pytest.approx(0.123), pytest.approx(4.5)]
    assert online.feast_reads == reads + 1
    # and the timestamps come back with the values
    frame = online.read(KWH, [{"meter_id": meters[1]}], stamped=("kwh",))
    assert pd.to_datetime(frame["kwh__ts"].iloc[0], unit="s", utc=True) == pd.Timestamp(
        "2099-01-01T01:00:00Z"
    )
