"""`gridml stream` against real brokers (Mosquitto: MQTT; NATS JetStream) and a real Feast
store (small zone). Each test runs once per broker kind.

A kind is skipped with a reason when nothing listens on its port (127.0.0.1:1883 / 4222).
Each test uses its own topic prefix and client ids (NATS: its own stream), so parallel runs
never share messages.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gridml.features.landing import landing_dir
from gridml.features.store.definitions import FRESH_READINGS_VIEW
from gridml.io import read_parts
from gridml.stream import consumer, payload, sink, topics
from gridml.stream.broker import MqttBroker, open_broker, open_publisher, reachable
from gridml.stream.config import BatchConfig, BrokerConfig, StreamConfig
from gridml.workspace import Workspace

pytestmark = pytest.mark.integration
KEY = ["meter_id", "timestamp"]
SERVER = {"mqtt": "Mosquitto", "nats": "nats-server -js"}


@pytest.fixture(params=["mqtt", "nats"])
def kind(request: pytest.FixtureRequest) -> str:
    broker = BrokerConfig(kind=request.param)
    if not reachable(broker):
        pytest.skip(
            f"no {request.param} broker at {broker.host}:{broker.port} (start "
            f"{SERVER[request.param]} to run the streaming tests against it)"
        )
    return str(request.param)


@pytest.fixture
def ws(store_ws: Workspace, tmp_path: Path) -> Workspace:
    """A private copy of the small zone's workspace (feeds, tables, Feast store)."""
    copy = tmp_path / "ws"
    shutil.copytree(store_ws.root, copy)
    return Workspace(copy)


@pytest.fixture
def cfg(kind: str) -> Iterator[StreamConfig]:
    run = f"gridml-test-{uuid.uuid4().hex[:10]}"
    # NATS: a killed consumer's messages come back after ack_wait (kept short here)
    cfg = StreamConfig(
        topic_prefix=run,
        broker=BrokerConfig(kind=kind, client_id=f"{run}-ingest", ack_wait_s=2),
        batch=BatchConfig(max_messages=5, max_seconds=0.2, max_in_flight=50),
    )
    yield cfg
    if kind == "nats":  # the stream is the server's (file storage): leave none behind
        from gridml.stream.jetstream import delete_stream

        delete_stream(cfg)


def fresh_readings(ws: Workspace, hours: int, meters: int) -> pd.DataFrame:
    """Readings of the hours after the feed ends (new to the workspace), a few meters."""
    feed = read_parts(ws.feed_dir("readings"))
    end = feed["timestamp"].max()
    ids = sorted(feed["meter_id"].unique())[:meters]
    stamps = [end + pd.Timedelta(hours=h + 1) for h in range(hours)]
    rows = [(m, t, round(0.1 + (i * 7 + j) % 13 / 10, 3)) for i, m in enumerate(ids)
            for j, t in enumerate(stamps)]  # fmt: skip
    return pd.DataFrame(rows, columns=["meter_id", "timestamp", "kwh"])


def publish(cfg: StreamConfig, frame: pd.DataFrame, per_message: int) -> int:
    records = frame.assign(timestamp=frame["timestamp"].map(pd.Timestamp.isoformat))
    items = records.to_dict("records")
    publisher = open_publisher(cfg, f"{cfg.topic_prefix}-pub")
    name = topics.topic(cfg.topic_prefix, "readings")
    count = 0
    for i in range(0, len(items), per_message):
        publisher.publish(name, payload.dumps("readings", items[i : i + per_message]))
        count += 1
    publisher.flush(60)
    publisher.close()
    return count


def open_session(cfg: StreamConfig) -> None:
    """Create the consumer's persistent session, so that the broker keeps what is published
    before the consumer runs."""
    broker = open_broker(cfg)
    broker.connect(topics.subscriptions(cfg.topic_prefix))
    broker.close()


def ingest(cfg: StreamConfig, ws: Workspace, idle: float = 1.5) -> consumer.IngestReport:
    ingestor = consumer.Ingestor(cfg, ws, sink.OnlinePusher(ws))
    broker = open_broker(cfg)
    return consumer.run(cfg, ws, broker, ingestor, lambda _r, idle_s: idle_s >= idle)


def stored(ws: Workspace) -> pd.DataFrame:
    return read_parts(landing_dir(ws)).sort_values(KEY, ignore_index=True)


def test_published_readings_arrive_in_the_landing_and_online_stores(
    ws: Workspace, cfg: StreamConfig
) -> None:
    sent = fresh_readings(ws, hours=6, meters=12)
    open_session(cfg)
    messages = publish(cfg, sent, per_message=7)
    report = ingest(cfg, ws)
    assert report.messages == messages and report.dead_letters == 0
    got = stored(ws)
    pd.testing.assert_frame_equal(got, sent.sort_values(KEY, ignore_index=True))
    newest = sent.sort_values("timestamp").groupby("meter_id").tail(1).set_index("meter_id")
    online = sink.OnlinePusher(ws).store.get_online_features(
        features=[f"{FRESH_READINGS_VIEW}:kwh"],
        entity_rows=[{"meter_id": m} for m in newest.index],
    )
    assert online.to_dict()["kwh"] == pytest.approx(list(newest["kwh"]))
    # published again (a replay): nothing new lands, nothing is duplicated
    publish(cfg, sent, per_message=5)
    again = ingest(cfg, ws)
    assert again.readings_landed == 0 and again.readings_repeated == len(sent)
    assert len(stored(ws)) == len(sent)


def test_malformed_messages_go_to_the_dead_letter_store_with_reasons(
    ws: Workspace, cfg: StreamConfig
) -> None:
    good = fresh_readings(ws, hours=2, meters=3)
    meter, end = good["meter_id"].iat[0], good["timestamp"].max()
    name = topics.topic(cfg.topic_prefix, "readings")
    bad = {
        b"{not json": "not JSON",
        payload.dumps("readings", [{"meter_id": "NOPE", "timestamp": end.isoformat(), "kwh": 1}]):
            "unknown meter_id",
        payload.dumps("readings", [{"meter_id": meter, "timestamp": "2024-01-01T00:00:00",
                                    "kwh": 1}]): "naive",
        payload.dumps("readings", [{"meter_id": meter, "timestamp": end.isoformat(),
                                    "kwh": -4}]): "greater_than_or_equal_to",
    }  # fmt: skip
    open_session(cfg)
    publisher = open_publisher(cfg, f"{cfg.topic_prefix}-pub")
    for body in bad:
        publisher.publish(name, body)
    publisher.publish(topics.topic(cfg.topic_prefix, "events"), b'{"events": [{"x": 1}]}')
    publisher.flush(30)
    publisher.close()
    publish(cfg, good, per_message=3)
    report = ingest(cfg, ws)
    assert report.dead_letters == len(bad) + 1
    letters = sink.read_dead_letters(ws)
    by_payload = {r["payload"].encode(): r for r in letters}
    for body, says in bad.items():
        assert says in by_payload[body]["reason"]
        assert by_payload[body]["topic"] == name
    assert "missing field(s)" in by_payload[b'{"events": [{"x": 1}]}']["reason"]
    # the stream went on: every good reading landed
    assert len(stored(ws)) == len(good)


def _write_config(cfg: StreamConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    return path


@pytest.fixture
def ingest_process(ws: Workspace, tmp_path: Path) -> Iterator:
    procs: list[subprocess.Popen] = []

    def start(config: Path, *extra: str) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "gridml.cli.main", "stream", "ingest", "-c", str(config),
               "-w", str(ws.root), *extra]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # reaps it and closes its pipe


@pytest.mark.slow
def test_a_consumer_killed_mid_stream_loses_and_duplicates_nothing(
    ws: Workspace, cfg: StreamConfig, tmp_path: Path, ingest_process
) -> None:
    sent = fresh_readings(ws, hours=50, meters=40)  # 2,000 readings in 400 messages
    config = _write_config(cfg, tmp_path / "stream.yaml")
    open_session(cfg)
    publish(cfg, sent, per_message=5)
    first = ingest_process(config)
    deadline = time.monotonic() + 120
    folder = landing_dir(ws)
    while len(list(folder.glob("part-*.parquet"))) < 3:
        assert time.monotonic() < deadline and first.poll() is None, first.stdout.read()
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    before = len(stored(ws))
    assert 0 < before < len(sent), "the consumer was not killed mid-stream"
    second = ingest_process(config, "--idle-exit", "3")
    out, _ = second.communicate(timeout=180)
    assert second.returncode == 0, out
    got = stored(ws)
    assert not got.duplicated(KEY).any()
    pd.testing.assert_frame_equal(got, sent.sort_values(KEY, ignore_index=True))


def test_streamed_readings_reach_the_offline_tables_after_a_build(
    ws: Workspace, cfg: StreamConfig
) -> None:
    from gridml.features.merge import merge_landed
    from gridml.features.tables.build import build_tables

    sent = fresh_readings(ws, hours=30, meters=5)
    open_session(cfg)
    publish(cfg, sent, per_message=10)
    ingest(cfg, ws)
    build_tables(ws, progress=False)
    table = read_parts(ws.table_dir("meter_hourly"))
    # meter_hourly rows are stamped at the end of the hour observed
    got = table.assign(timestamp=table["event_timestamp"] - pd.Timedelta(hours=1))
    got = got.merge(sent, on=KEY, suffixes=("", "_sent"))
    assert len(got) == len(sent)
    assert got["kwh"].to_numpy() == pytest.approx(got["kwh_sent"].to_numpy())
    feed = read_parts(ws.feed_dir("readings"))
    assert not feed.duplicated(KEY).any()
    # merging again (the next build) adds nothing
    again = merge_landed(ws)
    assert again.added["readings"] == 0 and again.repeats["readings"] == len(sent)


def test_events_and_telemetry_are_landed_and_telemetry_merged(
    ws: Workspace, cfg: StreamConfig
) -> None:
    from gridml.features.merge import merge_landed

    tele = read_parts(ws.feed_dir("transformer_telemetry"))
    last = tele.sort_values("timestamp").groupby("transformer_id").tail(1).head(3)
    fresh = last.assign(timestamp=last["timestamp"] + pd.Timedelta(hours=1))
    fresh = fresh.assign(timestamp=fresh["timestamp"].map(pd.Timestamp.isoformat))
    meter = read_parts(ws.feed_dir("meters"))["meter_id"].iat[0]
    events = [
        {"meter_id": meter, "timestamp": "2024-03-01T10:07:13Z", "kind": "last_gasp"},
        {"meter_id": meter, "timestamp": "2024-03-01T11:40:00+00:00", "kind": "power_restore"},
    ]
    open_session(cfg)
    publisher = open_publisher(cfg, f"{cfg.topic_prefix}-pub")
    name = topics.topic(cfg.topic_prefix, "telemetry")
    publisher.publish(name + "/site-1", payload.dumps("telemetry", fresh.to_dict("records")))
    publisher.publish(topics.topic(cfg.topic_prefix, "events"), payload.dumps("events", events))
    publisher.flush(30)
    publisher.close()
    report = ingest(cfg, ws)
    assert report.records_landed == {"events": 2, "telemetry": 3} and report.dead_letters == 0
    landed_events = read_parts(landing_dir(ws, "meter_events"))
    assert sorted(landed_events["kind"]) == ["last_gasp", "power_restore"]
    merged = merge_landed(ws)
    assert merged.added["transformer_telemetry"] == 3
    feed = read_parts(ws.feed_dir("transformer_telemetry"))
    assert len(feed) == len(tele) + 3 and not feed.duplicated(["transformer_id", "timestamp"]).any()


def test_backpressure_the_broker_holds_what_is_not_acknowledged(cfg: StreamConfig) -> None:
    open_session(cfg)
    broker = open_broker(cfg, max_in_flight=5)
    broker.connect(topics.subscriptions(cfg.topic_prefix))
    try:
        publisher = open_publisher(cfg, f"{cfg.topic_prefix}-pub")
        name = topics.topic(cfg.topic_prefix, "readings")
        for i in range(40):
            publisher.publish(name, str(i).encode())
        publisher.flush(30)
        publisher.close()
        time.sleep(1.0)
        if isinstance(broker, MqttBroker):  # the receive maximum: the rest waits at the broker
            assert broker._queue.qsize() == 5
        got = [broker.get(2.0) for _ in range(5)]
        assert broker.get(0.5) is None  # nothing more until something is acknowledged
        for m in got:
            broker.ack(m)
        more = [broker.get(2.0) for _ in range(5)]
        assert all(m is not None for m in more)
        assert [int(m.payload) for m in got + more] == list(range(10))
    finally:
        broker.close()


def test_streamed_liveness_features_equal_the_offline_ones(
    ws: Workspace, cfg: StreamConfig
) -> None:
    from gridml.features.store.definitions import LIVENESS_VIEW
    from gridml.features.tables.build import build_tables
    from gridml.features.tables.catalog import METER_LIVENESS

    sent = fresh_readings(ws, hours=8, meters=5)
    ids = sorted(sent["meter_id"].unique())
    hour = (sent["timestamp"] - sent["timestamp"].min()) // pd.Timedelta(hours=1)
    on = sent["meter_id"].eq
    sent.loc[on(ids[0]) & (hour >= 2), "kwh"] = 0.0  # a zero run up to the end
    sent.loc[on(ids[2]) & (hour <= 3), "kwh"] = 0.0  # zeros, then a gap, then a reading
    sent = sent[~(on(ids[1]) & (hour >= 3)) & ~(on(ids[2]) & hour.isin([4, 5]))]  # silences
    open_session(cfg)
    publish(cfg, sent, per_message=3)
    report = ingest(cfg, ws)
    assert report.dead_letters == 0
    names = list(METER_LIVENESS.features)
    response = sink.OnlinePusher(ws).store.get_online_features(
        features=[f"{LIVENESS_VIEW}:{n}" for n in names], entity_rows=[{"meter_id": m} for m in ids]
    )
    online = pd.DataFrame(response.to_dict()).set_index("meter_id")[names].astype(float)
    build_tables(ws, progress=False)
    table = read_parts(ws.table_dir("meter_liveness"))
    at = sent["timestamp"].max() + pd.Timedelta(hours=1)  # the end of the stream's last hour
    offline = table[table["event_timestamp"] == at].set_index("meter_id").loc[ids, names]
    pd.testing.assert_frame_equal(online, offline, check_names=False)
    # per transformer: the share of its meters heard in that hour
    from gridml.features.store.definitions import TRANSFORMER_LIVENESS_VIEW
    from gridml.features.tables.series import topology_frame

    units = sorted(topology_frame(ws)["transformer_id"].reindex(ids).unique())
    response = sink.OnlinePusher(ws).store.get_online_features(
        features=[f"{TRANSFORMER_LIVENESS_VIEW}:meters_heard_share"],
        entity_rows=[{"transformer_id": t} for t in units],
    )
    shares = read_parts(ws.table_dir(TRANSFORMER_LIVENESS_VIEW))
    shares = shares[shares["event_timestamp"] == at].set_index("transformer_id")
    expected = shares.loc[units, "meters_heard_share"].to_numpy()
    assert response.to_dict()["meters_heard_share"] == pytest.approx(list(expected))
    assert 0 < expected.sum() < len(units)  # some meters heard, not all
    # the cases are there: a run of 6 zero hours, a meter silent for 5 hours
    assert offline.loc[ids[0], "zero_run_hours"] == 6
    assert offline.loc[ids[1], "hours_since_reading"] == 5
    assert offline.loc[ids[2], "zero_run_hours"] == 0


def test_streamed_last_events_and_energy_balance_equal_the_offline_ones(
    ws: Workspace, cfg: StreamConfig
) -> None:
    from gridml.features.store.definitions import ENERGY_BALANCE_VIEW, LAST_EVENT_VIEW
    from gridml.features.tables.build import build_tables
    from gridml.features.tables.series import topology_frame

    sent = fresh_readings(ws, hours=3, meters=8)
    ids = sorted(sent["meter_id"].unique())
    topo = topology_frame(ws)
    units = sorted(topo["transformer_id"].reindex(ids).unique())
    tele = read_parts(ws.feed_dir("transformer_telemetry"))
    template = tele.sort_values("timestamp").groupby("transformer_id").tail(1)
    template = template.set_index("transformer_id").loc[units].reset_index()
    hours = sorted(sent["timestamp"].unique())
    fresh = pd.concat(
        [template.assign(timestamp=h, energy_kwh=2.5 + i + 0.5 * np.arange(len(units)))
         for i, h in enumerate(hours)], ignore_index=True,
    )  # fmt: skip
    fresh = fresh.assign(timestamp=fresh["timestamp"].map(pd.Timestamp.isoformat))
    # after the feeds end (a zone's meter_events feed, if any, holds only earlier events)
    when = [(hours[0] + pd.Timedelta(minutes=m)).isoformat() for m in (7, 100, 130)]
    events = [
        {"meter_id": ids[0], "timestamp": when[0], "kind": "last_gasp"},
        {"meter_id": ids[0], "timestamp": when[1], "kind": "power_restore"},
        {"meter_id": ids[1], "timestamp": when[2], "kind": "tamper"},
    ]
    open_session(cfg)
    publish(cfg, sent, per_message=5)
    publisher = open_publisher(cfg, f"{cfg.topic_prefix}-pub")
    publisher.publish(
        topics.topic(cfg.topic_prefix, "telemetry"),
        payload.dumps("telemetry", fresh.to_dict("records")),
    )
    publisher.publish(topics.topic(cfg.topic_prefix, "events"), payload.dumps("events", events))
    publisher.flush(30)
    publisher.close()
    report = ingest(cfg, ws)
    assert report.dead_letters == 0, sink.read_dead_letters(ws)
    store = sink.OnlinePusher(ws).store
    names = ["energy_kwh", "meters_kwh", "meters_heard", "unexplained_share"]
    response = store.get_online_features(
        features=[f"{ENERGY_BALANCE_VIEW}:{n}" for n in names],
        entity_rows=[{"transformer_id": t} for t in units],
    )
    online = pd.DataFrame(response.to_dict()).set_index("transformer_id")[names].astype(float)
    got = store.get_online_features(
        features=[f"{LAST_EVENT_VIEW}:last_event_kind", f"{LAST_EVENT_VIEW}:last_event_unix_s"],
        entity_rows=[{"meter_id": m} for m in ids[:2]],
    ).to_dict()
    build_tables(ws, progress=False)
    table = read_parts(ws.table_dir(ENERGY_BALANCE_VIEW))
    at = sent["timestamp"].max() + pd.Timedelta(hours=1)
    offline = table[table["event_timestamp"] == at].set_index("transformer_id").loc[units, names]
    pd.testing.assert_frame_equal(online, offline, check_names=False)
    heard = sent[sent["timestamp"] == sent["timestamp"].max()]
    assert offline["meters_kwh"].sum() == pytest.approx(heard["kwh"].sum())
    assert offline["unexplained_share"].notna().all()
    last = read_parts(ws.table_dir(LAST_EVENT_VIEW)).sort_values("event_timestamp")
    last = last.groupby("meter_id").tail(1).set_index("meter_id").loc[ids[:2]]
    assert got["last_event_kind"] == list(last["last_event_kind"]) == ["power_restore", "tamper"]
    assert got["last_event_unix_s"] == pytest.approx(list(last["last_event_unix_s"]))
