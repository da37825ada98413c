"""Benchmark of `gridml stream ingest` through a real MQTT broker (Mosquitto on 127.0.0.1:1883).

A bounded replay of a synthetic zone's readings (default 1,000 meters x 42 days = 1,008,000
readings, several per message) is published at QoS 1 while two consumers, each in its own
process, read the same messages from their own persistent sessions:

- the floor: an MQTT 5 client that acknowledges and drops every message (no parsing);
- the ingest: `gridml.stream.consumer` as `gridml stream ingest` runs it (parse, contract
  checks, durable landing, online push, acknowledgement after landing).

Throughput = readings / (last message done - first publication), both in the same run. The
lag is per message, from its `sent_at` to the online push of its batch. Then a paced phase
publishes at half the measured ingest rate to measure the lag when the consumer keeps up.
Published vs stored counts are read from the landing store.

    python -m bench.run_stream              # ~1M readings
    python -m bench.run_stream --quick      # ~100k readings (smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from gridml.features.simulator.config import ZoneConfig
from gridml.io import read_parts
from gridml.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
SMALL_ZONE = ROOT / "experiments" / "zone-small.yaml"
INTERVAL_S = 15 * 60  # meters read every 15 minutes send one message per interval


def _config(prefix: str, role: str, quick: bool) -> Any:
    from gridml.stream.config import BatchConfig, BrokerConfig, StreamConfig

    return StreamConfig(
        topic_prefix=prefix,
        broker=BrokerConfig(client_id=f"{prefix}-{role}"),
        # in flight > the messages of a run: Mosquitto's default queue (max_queued_messages
        # 1000 beyond those in flight) drops QoS 1 messages of a consumer further behind, and
        # the as-fast-as-possible phase publishes ~2,000 messages in ~1 s
        # N and T as experiments/stream.yaml sets them
        batch=BatchConfig(max_messages=200, max_seconds=0.5, max_in_flight=3000),
        readings_per_message=500,
    )


# --- the two consumers, each run as `python -m bench.run_stream --role ...` --------------------


def run_floor(prefix: str, expected: int, out: Path) -> None:
    """Drain the messages (QoS 1, acknowledged by the client library), doing nothing else."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from gridml.stream import topics
    from gridml.stream.broker import _client, _connect

    cfg = _config(prefix, "floor", False)
    done = threading.Event()
    state = {"n": 0, "first": 0.0, "last": 0.0}

    def on_message(_c: object, _u: object, _msg: object) -> None:
        now = time.time()
        state["first"] = state["first"] or now
        state["last"] = now
        state["n"] += 1
        if state["n"] >= expected:
            done.set()

    client = _client(cfg.broker, cfg.broker.client_id, manual_ack=False)
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = cfg.broker.session_expiry_s
    _connect(client, cfg.broker, clean_start=False, properties=props)
    client.subscribe([(s, 1) for s in topics.subscriptions(prefix)])
    Path(out.with_suffix(".ready")).write_text("ready")
    done.wait(900)
    client.disconnect()
    client.loop_stop()
    out.write_text(json.dumps(state))


def run_ingest(prefix: str, ws_root: Path, expected: int, out: Path) -> None:
    from gridml.stream import consumer, sink
    from gridml.stream.broker import MqttBroker

    cfg = _config(prefix, "ingest", False)
    ws = Workspace(ws_root)
    ingestor = consumer.Ingestor(cfg, ws, sink.OnlinePusher(ws))
    broker = MqttBroker(cfg.broker, cfg.batch.max_in_flight)
    Path(out.with_suffix(".ready")).write_text("ready")

    def stop(report: consumer.IngestReport, idle: float) -> bool:
        return report.messages >= expected or idle > 60

    profile = os.environ.get("GRIDML_BENCH_PROFILE")  # a cProfile of the consumer loop
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        report = profiler.runcall(consumer.run, cfg, ws, broker, ingestor, stop)
        profiler.dump_stats(f"{profile}.{prefix}")
    else:
        report = consumer.run(cfg, ws, broker, ingestor, stop)
    out.write_text(
        json.dumps(
            {
                "messages": report.messages,
                "landed": report.readings_landed,
                "repeats": report.readings_repeated,
                "dead": report.dead_letters,
                "last": report.last_flush,
                "lags": list(report.lags),
            }
        )
    )


# --- the run -----------------------------------------------------------------------------------


def prepare(work: Path, meters: int, days: int) -> Workspace:
    from gridml.features.simulator.generate import generate_zone
    from gridml.features.store import repo

    ws = Workspace(work / "ws")
    raw = ZoneConfig.read_yaml(SMALL_ZONE).model_dump()
    raw.update(meters=meters, days=days, meters_per_transformer=10, chunk_meters=500)
    generate_zone(ZoneConfig.model_validate(raw), ws, progress=False)
    repo.apply_definitions(ws)  # builds the tables; registers the push source
    return ws


def _spawn(role: str, prefix: str, ws: Workspace, expected: int, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "bench.run_stream", "--role", role, "--prefix", prefix,
           "--ws", str(ws.root), "--expected", str(expected), "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT)
    deadline = time.monotonic() + 120
    while not out.with_suffix(".ready").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the {role} consumer did not start")
        time.sleep(0.1)
    return proc


def _session(cfg: Any) -> None:
    from gridml.stream import topics
    from gridml.stream.broker import MqttBroker

    b = MqttBroker(cfg.broker, cfg.batch.max_in_flight)
    b.connect(topics.subscriptions(cfg.topic_prefix))
    b.close()


def phase(ws: Workspace, frame: pd.DataFrame, work: Path, name: str, rate: float | None) -> dict:
    """Publish `frame` (at `rate` readings/s, or as fast as possible) to a new prefix read by
    the floor and the ingest consumers; returns the measurements."""
    from gridml.features.landing import landing_dir
    from gridml.stream import replay
    from gridml.stream.broker import MqttPublisher

    prefix = f"gridml-bench-{uuid.uuid4().hex[:8]}"
    cfg = _config(prefix, "pub", False)
    per = cfg.readings_per_message
    chunks = list(replay.messages(frame, per))
    expected = len(chunks)
    shutil.rmtree(landing_dir(ws), ignore_errors=True)
    outs = {r: work / f"{name}-{r}.json" for r in ("floor", "ingest")}
    for role in outs:
        _session(_config(prefix, role, False))
    procs = {r: _spawn(r, prefix, ws, expected, o) for r, o in outs.items()}
    publisher = MqttPublisher(cfg.broker, f"{prefix}-pub", max_in_flight=1000)
    from gridml.stream import payload, topics

    topic = topics.topic(prefix, "readings")
    t0 = time.time()
    sent = 0
    for _, records in chunks:
        if rate is not None:
            pause = t0 + sent / rate - time.time()
            if pause > 0:
                time.sleep(pause)
        publisher.publish(topic, payload.dumps("readings", records, sent_at=time.time()))
        sent += len(records)
    publisher.flush(900)
    published_s = time.time() - t0
    publisher.close()
    for proc in procs.values():
        proc.wait(timeout=1200)
    floor = json.loads(outs["floor"].read_text())
    ingest = json.loads(outs["ingest"].read_text())
    stored = read_parts(landing_dir(ws))
    n_stored = 0 if stored is None else len(stored)
    dup = 0 if stored is None else int(stored.duplicated(["meter_id", "timestamp"]).sum())
    lags = pd.Series(ingest["lags"], dtype=float)
    return {
        "phase": name,
        "rate_target": rate,
        "messages": expected,
        "readings_published": sent,
        "publish_seconds": published_s,
        "floor_readings_per_s": sent / (floor["last"] - t0) if floor["n"] == expected else None,
        "floor_messages": floor["n"],
        "ingest_readings_per_s": ingest["landed"] / (ingest["last"] - t0),
        "ingest_messages": ingest["messages"],
        "readings_stored": n_stored,
        "duplicates_stored": dup,
        "lost": sent - n_stored,
        "dead_letters": ingest["dead"],
        "lag_p50_s": float(lags.quantile(0.5)),
        "lag_p99_s": float(lags.quantile(0.99)),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--role", choices=["floor", "ingest"])
    p.add_argument("--prefix")
    p.add_argument("--ws", type=Path)
    p.add_argument("--expected", type=int)
    p.add_argument("--keep", action="store_true")
    a = p.parse_args()
    if a.role == "floor":
        return run_floor(a.prefix, a.expected, a.out)
    if a.role == "ingest":
        return run_ingest(a.prefix, a.ws, a.expected, a.out)
    from gridml.stream.broker import reachable
    from gridml.stream.config import BrokerConfig

    if not reachable(BrokerConfig()):
        sys.exit("no MQTT broker at 127.0.0.1:1883: start Mosquitto to run this benchmark")
    meters, days = (120, 35) if a.quick else (1000, 42)
    work = Path(tempfile.mkdtemp(prefix="stream-bench-"))
    try:
        t = time.perf_counter()
        ws = prepare(work, meters, days)
        frame = read_parts(ws.feed_dir("readings")).sort_values(["timestamp", "meter_id"])
        print(f"zone of {meters} meters x {days} days: {len(frame):,} readings "
              f"(prepared in {time.perf_counter() - t:.0f} s)")  # fmt: skip
        full = phase(ws, frame, work, "as fast as possible", None)
        print(json.dumps(full, indent=2))
        paced_rate = 0.5 * full["ingest_readings_per_s"]
        part = frame.head(min(len(frame), int(paced_rate * 30)))
        paced = phase(ws, part, work, "paced at half the ingest rate", paced_rate)
        print(json.dumps(paced, indent=2))
        per_meter = 1 / INTERVAL_S * 1  # one 15-min reading per meter per interval
        results = {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_avg": os.getloadavg(),
            },
            "zone": {"meters": meters, "days": days, "readings": len(frame)},
            "phases": [full, paced],
            "ratio_ingest_to_floor": full["ingest_readings_per_s"] / full["floor_readings_per_s"],
            # one process, readings arriving as fast as it lands them / with p99 lag < 2 s
            "meters_at_15_min_per_process": full["ingest_readings_per_s"] / per_meter,
            "meters_at_15_min_per_process_paced": paced["ingest_readings_per_s"] / per_meter,
        }
        out = a.out or ROOT / "bench" / "results" / ("stream.quick.json" if a.quick else
                                                      "stream.json")  # fmt: skip
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        print(json.dumps({k: v for k, v in results.items() if k != "phases"}, indent=2))
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
