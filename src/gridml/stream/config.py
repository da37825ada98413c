"""The stream's settings (experiments/stream.yaml): broker, topics, micro-batches, checks."""

from __future__ import annotations

from pydantic import Field, model_validator

from gridml.config import BaseConfig


class BrokerConfig(BaseConfig):
    """Where the broker is and who we are to it."""

    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker TCP port.")
    client_id: str = Field(
        default="gridml-ingest",
        min_length=1,
        max_length=128,
        description="MQTT client id: the persistent session's name (keep it stable across "
        "restarts so unacknowledged messages are redelivered).",
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
        "messages) while the consumer is away.",
    )


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
