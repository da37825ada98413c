"""`gridml stream`: ingest meter readings, events and telemetry from a broker; replay feeds."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Annotated

import typer

from gridml.cli.common import WorkspaceOption, user_errors, workspace

app = typer.Typer(
    help="Real time: consume readings from a broker, MQTT or NATS JetStream (land, push "
    "online), replay feeds.",
    no_args_is_help=True,
)
log = logging.getLogger("gridml.stream")
DEFAULT_CONFIG = Path("experiments/stream.yaml")

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="Stream config (YAML, see StreamConfig).")
]
PrefixOption = Annotated[
    str | None, typer.Option("--prefix", help="Override the topic prefix.", show_default=False)
]


def _config(path: Path, prefix: str | None, client_id: str | None = None):
    from gridml.stream.config import StreamConfig

    cfg = StreamConfig.read_yaml(path, topic_prefix=prefix) if path.is_file() else None
    if cfg is None:
        if path != DEFAULT_CONFIG:
            StreamConfig.read_yaml(path)  # raises: file not found
        cfg = StreamConfig(**({"topic_prefix": prefix} if prefix else {}))
    broker: dict[str, str] = {}
    if client_id:
        broker["client_id"] = client_id
    if cfg.broker.password is None and os.environ.get("GRIDML_STREAM_PASSWORD"):
        broker["password"] = os.environ["GRIDML_STREAM_PASSWORD"]
    if broker:
        cfg = cfg.model_copy(update={"broker": cfg.broker.model_copy(update=broker)})
    return cfg


@app.command()
def ingest(
    config: ConfigOption = DEFAULT_CONFIG,
    prefix: PrefixOption = None,
    client_id: Annotated[
        str | None,
        typer.Option(help="Override the client id (MQTT session, NATS durable consumer)."),
    ] = None,
    stop_after: Annotated[
        int | None, typer.Option(help="Stop after this many messages (default: run on).")
    ] = None,
    idle_exit: Annotated[
        float | None, typer.Option(help="Stop after this many seconds without a message.")
    ] = None,
    online: Annotated[
        bool, typer.Option(help="Push each meter's newest reading to the online store.")
    ] = True,
    ws: WorkspaceOption = None,
) -> None:
    """Consume readings, events and telemetry; land them durably, push online, then ack.

    Invalid messages go to WORKSPACE/landing/dead_letter/ with their reason; they never stop
    the stream. Ctrl-C (or SIGTERM) lands and acknowledges the current batch, then stops.
    """
    from gridml.stream import consumer, sink
    from gridml.stream.broker import open_broker, url

    stopping: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stopping.append(signum)

    def should_stop(report: consumer.IngestReport, idle: float) -> bool:
        return bool(
            stopping
            or (stop_after is not None and report.messages >= stop_after)
            or (idle_exit is not None and idle >= idle_exit)
        )

    with user_errors():
        cfg = _config(config, prefix, client_id)
        w = workspace(ws)
        pusher = sink.OnlinePusher(w) if online and cfg.push_online else None
        ingestor = consumer.Ingestor(cfg, w, pusher)
        broker = open_broker(cfg)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)
        typer.echo(f"ingesting from {url(cfg)} as {cfg.broker.client_id} into {w.root / 'landing'}")
        report = consumer.run(cfg, w, broker, ingestor, should_stop)
    lags = report.lag_quantiles()
    lag = f"; lag p50 {lags['p50']:.3f} s, p99 {lags['p99']:.3f} s" if lags else ""
    typer.echo(
        f"{report.messages:,} messages in {report.batches:,} batches: "
        f"{report.readings_landed:,} readings landed, {report.readings_repeated:,} repeats, "
        f"{report.readings_pushed:,} meters pushed online, events "
        f"{report.records_landed['events']:,}, telemetry {report.records_landed['telemetry']:,}, "
        f"{report.dead_letters:,} dead letters, {report.seconds:.1f} s{lag}"
    )


@app.command()
def replay(
    config: ConfigOption = DEFAULT_CONFIG,
    prefix: PrefixOption = None,
    speedup: Annotated[
        float | None,
        typer.Option(
            help="Feed hours per wall-clock hour (3600: one hour a second); "
            "default: as fast as possible."
        ),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="First hour to publish (ISO 8601 with offset).")
    ] = None,
    hours: Annotated[int | None, typer.Option(help="How many hours to publish.")] = 24,
    limit: Annotated[int | None, typer.Option(help="At most this many readings.")] = None,
    telemetry: Annotated[bool, typer.Option(help="Publish transformer telemetry too.")] = False,
    ws: WorkspaceOption = None,
) -> None:
    """Publish the workspace's readings (synthetic or imported) to the broker, hour by hour."""
    import pandas as pd

    from gridml.stream import replay as rp
    from gridml.stream.broker import open_publisher

    with user_errors():
        cfg = _config(config, prefix)
        w = workspace(ws)
        first = pd.Timestamp(start) if start else None
        frames = {"readings": rp.feed_window(w, "readings", first, hours)}
        if telemetry:
            frames["transformer_telemetry"] = rp.feed_window(
                w, "transformer_telemetry", first, hours
            )
        publisher = open_publisher(cfg, f"{cfg.broker.client_id}-replay")
        try:
            report = rp.publish(
                publisher, cfg.topic_prefix, frames, cfg.readings_per_message, speedup, limit
            )
        finally:
            publisher.close()
    total = sum(report.records.values())
    typer.echo(
        f"published {report.messages:,} messages ({total:,} records: {report.records}) to "
        f"{cfg.topic_prefix} in {report.seconds:.1f} s"
    )


@app.command()
def demo(
    config: ConfigOption = DEFAULT_CONFIG,
    hours: Annotated[int, typer.Option(help="Replay the feed's last hours.")] = 6,
    ws: WorkspaceOption = None,
) -> None:
    """A short live round trip (for `make demo`): replay the readings' last hours through the
    broker into a consumer that lands them and pushes them online. Says it skipped (exit 0)
    when no broker is reachable."""
    import uuid

    import pandas as pd

    from gridml.stream import consumer, replay, sink, topics
    from gridml.stream.broker import open_broker, open_publisher, reachable, url

    with user_errors():
        cfg = _config(config, None)
        what = "MQTT broker" if cfg.broker.kind == "mqtt" else "NATS JetStream server"
        what_server = "Mosquitto" if cfg.broker.kind == "mqtt" else "nats-server -js"
        if not reachable(cfg.broker):
            typer.echo(
                f"stream demo skipped: no {what} at {cfg.broker.host}:{cfg.broker.port} "
                f"(start {what_server} to see readings arrive live)"
            )
            return
        run = f"gridml-demo-{uuid.uuid4().hex[:8]}"
        cfg = cfg.model_copy(
            update={
                "topic_prefix": run,
                "broker": cfg.broker.model_copy(update={"client_id": f"{run}-ingest"}),
            }
        )
        w = workspace(ws)
        feed = replay.feed_window(w, "readings", None, None)
        start = feed["timestamp"].max() - pd.Timedelta(hours=hours - 1)
        frame = feed[feed["timestamp"] >= start]
        session = open_broker(cfg)
        session.connect(topics.subscriptions(run))  # the session keeps what is published next
        session.close()
        publisher = open_publisher(cfg, f"{run}-replay")
        try:
            sent = replay.publish(
                publisher, run, {"readings": frame}, cfg.readings_per_message, None
            )
        finally:
            publisher.close()
        ingestor = consumer.Ingestor(cfg, w, sink.OnlinePusher(w) if cfg.push_online else None)
        broker = open_broker(cfg)
        report = consumer.run(
            cfg, w, broker, ingestor, lambda r, idle: r.messages >= sent.messages or idle > 10
        )
    typer.echo(
        f"stream demo: published {sent.messages} messages ({len(frame):,} readings of the last "
        f"{hours} h) to {url(cfg)}; ingested "
        f"{report.readings_landed:,} new + {report.readings_repeated:,} already landed, "
        f"{report.readings_pushed} meters pushed online, {report.dead_letters} dead letters"
    )
