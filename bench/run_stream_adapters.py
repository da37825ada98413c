"""The broker adapters' own cost, MQTT vs NATS JetStream in one run: publish M messages of 500
readings (default 900: under Mosquitto's default queue of 1000 per absent session), then drain
them through `open_broker` (get; ack per batch of 200), nothing landed. Needs Mosquitto on
1883 and nats-server -js on 4222. `python -m bench.run_stream_adapters [M]`."""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

import pandas as pd

from gridml.stream import payload, topics
from gridml.stream.broker import open_broker, open_publisher
from gridml.stream.config import BatchConfig, BrokerConfig, StreamConfig

PER = 500


def one(kind: str, messages: int, body: bytes) -> dict:
    run = f"bench-adapters-{uuid.uuid4().hex[:6]}"
    cfg = StreamConfig(
        topic_prefix=run,
        broker=BrokerConfig(kind=kind, client_id=f"{run}-c"),
        batch=BatchConfig(max_messages=200, max_in_flight=1000),
    )
    session = open_broker(cfg)  # the session / durable consumer keeps what is published next
    session.connect(topics.subscriptions(run))
    session.close()
    publisher = open_publisher(cfg, f"{run}-p")
    t = time.perf_counter()
    for _ in range(messages):
        publisher.publish(topics.topic(run, "readings"), body)
    publisher.flush(300)
    publisher.close()
    published = time.perf_counter() - t
    broker = open_broker(cfg)
    broker.connect(topics.subscriptions(run))
    t = time.perf_counter()
    received, batch = 0, []
    while received < messages:
        m = broker.get(2.0)
        if m is None:
            break
        batch.append(m)
        received += 1
        if len(batch) == 200 or received == messages:
            for x in batch:
                broker.ack(x)
            batch = []
    drained = time.perf_counter() - t
    broker.close()
    if kind == "nats":
        from gridml.stream.jetstream import delete_stream

        delete_stream(cfg)
    return {
        "received": received,
        "publish_s": round(published, 2),
        "drain_s": round(drained, 2),
        "drain_readings_per_s": round(received * PER / drained),
    }


def main() -> None:
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 900
    t0 = pd.Timestamp("2024-01-01T00:00:00Z").isoformat()
    records = [{"meter_id": f"M{i:06d}", "timestamp": t0, "kwh": 0.123} for i in range(PER)]
    body = payload.dumps("readings", records)
    out: dict = {"messages": messages, "readings_per_message": PER, "payload_bytes": len(body)}
    out["load_before"] = os.getloadavg()
    for kind in ("mqtt", "nats"):
        out[kind] = one(kind, messages, body)
    rate = {k: out[k]["drain_readings_per_s"] for k in ("mqtt", "nats")}
    out["nats_over_mqtt_drain"] = round(rate["nats"] / rate["mqtt"], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
