"""`gridml stream ingest`: micro-batches from the broker, landed, pushed, then acknowledged.

The loop takes messages from the broker adapter until the batch holds N messages
(`batch.max_messages`) or its first message has waited T seconds (`batch.max_seconds`), then:
parse each message (`payload`), check the batch against the feed contracts (`checks`), write
dead letters and landed parts durably (`sink`), push each meter's newest reading online, and
only then acknowledge every message of the batch. A crash at any point before the
acknowledgement leaves the messages with the broker, which redelivers them; landing is
idempotent on (meter_id, timestamp), so nothing is lost and nothing is duplicated.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from gridml.features.landing import LandedIndex, landing_dir
from gridml.features.validate import known_ids
from gridml.stream import checks, payload, sink, topics
from gridml.stream.broker import Broker, Message
from gridml.stream.config import StreamConfig
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
KNOWN = {"readings": "meters.meter_id", "events": "meters.meter_id"}
KNOWN["telemetry"] = "transformers.transformer_id"


@dataclass
class IngestReport:
    messages: int = 0
    batches: int = 0
    readings_landed: int = 0
    readings_repeated: int = 0
    readings_pushed: int = 0
    records_landed: dict[str, int] = field(default_factory=lambda: {"events": 0, "telemetry": 0})
    dead_letters: int = 0
    seconds: float = 0.0
    last_flush: float = 0.0  # epoch seconds when the last batch was landed and acknowledged
    # publish -> online visibility, per message that carries `sent_at` (the latest 100,000)
    lags: collections.deque = field(default_factory=lambda: collections.deque(maxlen=100_000))

    def lag_quantiles(self) -> dict[str, float]:
        if not self.lags:
            return {}
        values = np.fromiter(self.lags, float)
        return {"p50": float(np.quantile(values, 0.5)), "p99": float(np.quantile(values, 0.99))}


@dataclass
class Ingestor:
    """Processes one batch of messages; holds what lives across batches (landed index,
    known ids, the online pusher)."""

    cfg: StreamConfig
    ws: Workspace
    pusher: sink.OnlinePusher | None
    index: LandedIndex = field(init=False)
    known: dict[str, set[str]] = field(init=False)

    def __post_init__(self) -> None:
        self.index = LandedIndex(landing_dir(self.ws))
        self.known = known_ids(self.ws.feeds)

    def window(self) -> checks.Window:
        c = self.cfg.checks
        age = None if c.max_age_days is None else pd.Timedelta(days=c.max_age_days)
        return checks.Window(
            pd.Timestamp.now(tz="UTC"), pd.Timedelta(minutes=c.max_ahead_minutes), age
        )

    def process(self, batch: list[Message], report: IngestReport) -> None:
        dead: list[dict] = []
        parsed: dict[str, list[tuple[int, payload.Parsed]]] = {k: [] for k in topics.KINDS}
        for i, m in enumerate(batch):
            kind = topics.kind_of(self.cfg.topic_prefix, m.topic)
            try:
                if kind is None:
                    raise payload.PayloadError("topic outside the documented layout")
                parsed[kind].append((i, payload.parse(kind, m.payload)))
            except payload.PayloadError as exc:
                dead.append(sink.dead_record(m.topic, m.payload, m.received, str(exc)))
        window = self.window()
        readings = pd.DataFrame()
        others: dict[str, pd.DataFrame] = {"events": pd.DataFrame(), "telemetry": pd.DataFrame()}
        for kind, items in parsed.items():
            if not items:
                continue
            raw, minutes = _records(items)
            result = checks.check_batch(kind, raw, minutes, self.known.get(KNOWN[kind]), window)
            for i, reason in result.rejected.items():
                m = batch[i]
                dead.append(sink.dead_record(m.topic, m.payload, m.received, reason))
            if kind == "readings":
                readings = result.valid
                landed = sink.land_readings(self.ws, self.index, result.valid)
                report.readings_landed += landed.new
                report.readings_repeated += landed.repeats
                dead += _conflicts(landed.conflicts, batch)
            else:
                report.records_landed[kind] += sink.land_other(self.ws, kind, result.valid)
                others[kind] = result.valid
        sink.write_dead_letters(self.ws, dead)
        report.dead_letters += len(dead)
        if self.pusher is not None and not readings.empty:
            report.readings_pushed += self.pusher.push(readings)
        if self.pusher is not None:
            fresh = readings[[*sink.KEY, "kwh"]] if len(readings) else readings
            self.pusher.push_live(fresh, others["events"], others["telemetry"])
        now = time.time()
        for _, p in parsed["readings"]:
            if p.sent_at is not None:
                report.lags.append(now - p.sent_at)


def _records(items: list[tuple[int, payload.Parsed]]) -> tuple[pd.DataFrame, pd.Series]:
    rows = [r for _, p in items for r in p.records]
    msg = np.repeat([i for i, _ in items], [len(p.records) for _, p in items])
    minutes = np.repeat([p.interval_minutes for _, p in items], [len(p.records) for _, p in items])
    raw = _frame(rows)
    raw[checks.MSG] = msg
    return raw, pd.Series(minutes.astype(float), index=raw.index)


def _frame(rows: list[dict]) -> pd.DataFrame:
    """The records as a frame: through Arrow (twice pandas' speed on lists of dicts), or by
    pandas when Arrow cannot type a column (mixed types: the checks then name the rows)."""
    try:
        return pa.Table.from_pylist(rows).to_pandas()
    except (pa.ArrowException, ValueError, TypeError):
        return pd.DataFrame(rows)


def _conflicts(conflicts: pd.DataFrame, batch: list[Message]) -> list[dict]:
    out = []
    for i, group in conflicts.groupby(checks.MSG) if len(conflicts) else []:
        shown = ", ".join(
            f"{r.meter_id}@{r.timestamp.isoformat()} {r.kwh:g} kWh"
            for r in group.head(5).itertuples()
        )
        m = batch[int(i)]
        reason = (
            f"{len(group)} reading(s) differ from readings already landed or earlier in the "
            f"batch: {shown}; a landed reading is not changed by the live feed (correct history "
            "with `gridml data import`); the message's other readings were landed"
        )
        out.append(sink.dead_record(m.topic, m.payload, m.received, reason))
    return out


def run(
    cfg: StreamConfig,
    ws: Workspace,
    broker: Broker,
    ingestor: Ingestor,
    should_stop: Callable[[IngestReport, float], bool],
) -> IngestReport:
    """Consume until `should_stop(report, idle_seconds)`; the last batch is landed and
    acknowledged before returning."""
    report = IngestReport()
    start = last = time.monotonic()
    broker.connect(topics.subscriptions(cfg.topic_prefix))
    batch: list[Message] = []
    opened = 0.0
    try:
        while True:
            now = time.monotonic()
            wait = cfg.batch.max_seconds - (now - opened) if batch else 0.2
            message = broker.get(timeout=wait)
            if message is not None:
                if not batch:
                    opened = time.monotonic()
                batch.append(message)
                last = time.monotonic()
            due = len(batch) >= cfg.batch.max_messages or (
                batch and time.monotonic() - opened >= cfg.batch.max_seconds
            )
            if due:
                _flush(batch, ingestor, broker, report)
                batch = []
            if not batch and should_stop(report, time.monotonic() - last):
                break
    finally:
        report.seconds = time.monotonic() - start
        broker.close()
    return report


def _flush(batch: list[Message], ingestor: Ingestor, broker: Broker, report: IngestReport) -> None:
    ingestor.process(batch, report)
    for m in batch:  # only now: everything of the batch is durable
        broker.ack(m)
    report.messages += len(batch)
    report.batches += 1
    report.last_flush = time.time()
    log.debug("batch of %d messages landed and acknowledged", len(batch))
