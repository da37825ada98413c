"""`gridml stream replay`: publish a workspace's feeds to the broker, hour by hour.

Readings (and transformer telemetry, with `--telemetry`) of a time window are packed into
messages of `readings_per_message` records (several meters per message) and published at QoS 1.
With a speed-up S, the hour h of the feed is published at start + (h - first hour) / S of wall
time; without one, as fast as the broker takes them. Each message carries `sent_at` (epoch
seconds at publication) so a consumer can measure the lag to online visibility.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd
import pyarrow.dataset as ds

from gridml.errors import MissingDataError
from gridml.io import read_parts
from gridml.stream import payload, topics
from gridml.stream.broker import Publisher
from gridml.workspace import Workspace

FEED_KIND = {"readings": "readings", "transformer_telemetry": "telemetry"}


@dataclass
class ReplayReport:
    messages: int = 0
    records: dict[str, int] = field(default_factory=dict)  # feed -> records published
    seconds: float = 0.0


def feed_window(
    ws: Workspace, feed: str, start: pd.Timestamp | None, hours: int | None
) -> pd.DataFrame:
    """The feed's rows of [start, start + hours), sorted by time (all rows when unbounded)."""
    folder = ws.feed_dir(feed)
    expr = None
    if start is not None:
        expr = ds.field("timestamp") >= start
        if hours is not None:
            expr = expr & (ds.field("timestamp") < start + pd.Timedelta(hours=hours))
    frame = read_parts(folder, filter_expr=expr)
    if frame is None:
        raise MissingDataError(f"no {feed} feed in {ws.feeds}: generate or import one first")
    if start is None and hours is not None:
        first = frame["timestamp"].min()
        frame = frame[frame["timestamp"] < first + pd.Timedelta(hours=hours)]
    return frame.sort_values(["timestamp", *frame.columns[:1]], ignore_index=True)


def messages(frame: pd.DataFrame, per_message: int) -> Iterator[tuple[pd.Timestamp, list[dict]]]:
    """(hour, records) chunks of at most `per_message` records, hour by hour."""
    out = frame.assign(timestamp=frame["timestamp"].map(lambda t: t.isoformat()))
    hours = pd.DatetimeIndex(frame["timestamp"]).as_unit("ns").asi8
    records = out.to_dict("records")
    i = 0
    while i < len(records):
        j = min(i + per_message, len(records))
        # a message never spans two hours
        while j > i + 1 and hours[j - 1] != hours[i]:
            j -= 1
        yield pd.Timestamp(int(hours[i]), unit="ns", tz="UTC"), records[i:j]
        i = j


def publish(
    publisher: Publisher,
    prefix: str,
    frames: dict[str, pd.DataFrame],
    per_message: int,
    speedup: float | None,
    limit: int | None = None,
) -> ReplayReport:
    """Publish each feed's records in time order; `limit` bounds the records per feed."""
    report = ReplayReport()
    wall0 = time.monotonic()
    for feed, frame in frames.items():
        kind = FEED_KIND[feed]
        if limit is not None:
            frame = frame.head(limit)
        name = topics.topic(prefix, kind)
        first = frame["timestamp"].min() if len(frame) else None
        sent = 0
        for hour, records in messages(frame, per_message):
            if speedup is not None:
                due = wall0 + (hour - first).total_seconds() / speedup
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            publisher.publish(name, payload.dumps(kind, records, sent_at=time.time()))
            report.messages += 1
            sent += len(records)
        report.records[feed] = sent
    publisher.flush(timeout=600)
    report.seconds = time.monotonic() - wall0
    return report
