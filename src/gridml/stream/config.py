"""The stream's settings (experiments/stream.yaml): broker, topics, micro-batches, checks."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from gridml.config import BaseConfig

DEFAULT_PORT = {"mqtt": 1883, "nats": 4222}
NATS_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class BrokerConfig(BaseConfig):
    """Where the broker is and who we are to it."""

    kind: Literal["mqtt", "nats"] = Field(
        default="mqtt",
        description="The bus: 'mqtt' (MQTT 5, e.g. Mosquitto) or 'nats' (NATS JetStream).",
    )
    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    port: int = Field(
        default=1883,
        ge=1,
        le=65535,
        description="Broker TCP port (default: 1883 for mqtt, 4222 for nats).",
    )
    client_id: str = Field(
        default="gridml-ingest",
        min_length=1,
        max_length=128,
        description="MQTT client id: the persistent session's name; NATS: the durable "
        "consumer's name (keep it stable across restarts so unacknowledged messages are "
        "redelivered).",
    )
    username: str | None = Field(default=None, description="User name, when the broker asks.")
    password: str | None = Field(
        default=None, description="Password (prefer the GRIDML_STREAM_PASSWORD variable)."
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keepalive, seconds.")
    session_expiry_s: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="How long the broker keeps the session (subscriptions and unacknowledged "
        "messages) while the consumer is away; NATS: the JetStream stream's max age.",
    )
    stream: str | None = Field(
        default=None,
        description="NATS: the JetStream stream holding PREFIX.> (default: the topic prefix, "
        "'/' as '_'); created by the first consumer or publisher.",
    )
    ack_wait_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="NATS: a message not acknowledged this long after delivery is redelivered "
        "(longer than a micro-batch takes to land).",
    )

    @model_validator(mode="before")
    @classmethod
    def _port_of_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("port") is None:
            return {**data, "port": DEFAULT_PORT.get(data.get("kind") or "mqtt", 1883)}
        return data


class BatchConfig(BaseConfig):
    """Micro-batches: land and push every N messages or T seconds, whichever first."""

    max_messages: int = Field(default=200, ge=1, description="N: messages per micro-batch.")
    max_seconds: float = Field(
        default=0.5, gt=0, le=60, description="T: the longest a message waits to be landed."
    )
    max_in_flight: int = Field(
        default=1000,
        ge=1,
        le=65535,
        description="Unacknowledged messages the broker may send us (MQTT 5 receive maximum); "
        "the bound on the consumer's memory: past it the broker holds the messages.",
    )

    @model_validator(mode="after")
    def _batch_fits_in_flight(self) -> BatchConfig:
        if self.max_messages > self.max_in_flight:
            raise ValueError(
                f"max_messages={self.max_messages} exceeds max_in_flight={self.max_in_flight}: "
                "a batch is acknowledged only once landed, so it must fit in flight"
            )
        return self


class ChecksConfig(BaseConfig):
    """What a live reading may look like beyond the feed contract."""

    max_ahead_minutes: float = Field(
        default=15.0, ge=0, description="Clock skew allowed: readings further ahead are refused."
    )
    max_age_days: float | None = Field(
        default=None,
        gt=0,
        description="Readings older than this are refused (None: any age, as a replay of "
        "history needs).",
    )


class StreamConfig(BaseConfig):
    """`gridml stream ingest` and `gridml stream replay`."""

    broker: BrokerConfig = BrokerConfig()
    topic_prefix: str = Field(
        default="gridml",
        min_length=1,
        pattern=r"^[^#+]+$",
        description="Root of the topic tree: PREFIX/meters/readings, PREFIX/meters/events, "
        "PREFIX/transformers/telemetry (docs/streaming.md).",
    )
    batch: BatchConfig = BatchConfig()
    checks: ChecksConfig = ChecksConfig()
    push_online: bool = Field(
        default=True, description="Push each meter's newest reading to the Feast online store."
    )
    readings_per_message: int = Field(
        default=200, ge=1, le=10_000, description="Replay: readings packed into one message."
    )

    @model_validator(mode="after")
    def _nats_names(self) -> StreamConfig:
        if self.broker.kind != "nats":
            return self
        levels = self.topic_prefix.strip("/").split("/")
        bad = [v for v in levels if not NATS_NAME.match(v)]
        if bad:
            raise ValueError(
                f"topic_prefix {self.topic_prefix!r}: with broker.kind nats each level must be "
                f"letters, digits, '_' or '-' (got {bad}); topics map to subjects with '.'"
            )
        for name, value in (("client_id", self.broker.client_id), ("stream", self.stream_name)):
            if not NATS_NAME.match(value):
                raise ValueError(
                    f"broker.{name} {value!r}: a NATS name is letters, digits, '_' or '-'"
                )
        return self

    @property
    def stream_name(self) -> str:
        """NATS: the JetStream stream's name."""
        return self.broker.stream or self.topic_prefix.strip("/").replace("/", "_")
