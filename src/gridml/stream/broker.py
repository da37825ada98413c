"""The broker behind a small interface, so that another bus (Kafka, ...) is one more adapter:
`Broker` (consume, acknowledge) and `Publisher` (publish, wait until the broker has every
message). `MqttBroker` / `MqttPublisher`: MQTT 5 through paho-mqtt 2; `NatsBroker` /
`NatsPublisher` (`gridml.stream.jetstream`): NATS JetStream. `open_broker` / `open_publisher`
pick one by `broker.kind`.

At-least-once on MQTT: subscriptions at QoS 1 in a persistent session (clean start off, a
session expiry), manual acknowledgement (`manual_ack=True`; `ack` sends the PUBACK), and a
receive maximum (`max_in_flight`) so the broker stops sending while that many messages are
unacknowledged. Received messages wait in a bounded queue; when it is full the network thread
blocks, stops reading the socket, and the broker holds the rest: memory stays bounded.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gridml.errors import UserError
from gridml.stream.config import BrokerConfig, StreamConfig

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)


class BrokerUnavailable(UserError):
    """The broker cannot be reached (or refused the connection)."""


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    received: float  # epoch seconds
    token: object  # what `ack` needs (MQTT: the message id)


class Broker(Protocol):
    def connect(self, subscriptions: list[str]) -> None: ...

    def get(self, timeout: float) -> Message | None: ...

    def ack(self, message: Message) -> None: ...

    def close(self) -> None: ...


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes) -> None: ...

    def flush(self, timeout: float) -> None: ...

    def close(self) -> None: ...


def _client(cfg: BrokerConfig, client_id: str, manual_ack: bool):
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if cfg.username:
        client.username_pw_set(cfg.username, cfg.password)
    return client


def _connect(client, cfg: BrokerConfig, clean_start: bool, properties=None) -> None:
    connected = threading.Event()
    failure: list[str] = []

    def on_connect(_c, _u, _flags, reason, _props) -> None:
        if reason.is_failure:
            failure.append(str(reason))
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(
            cfg.host, cfg.port, cfg.keepalive_s, clean_start=clean_start, properties=properties
        )
    except OSError as exc:
        raise BrokerUnavailable(f"MQTT broker {cfg.host}:{cfg.port} unreachable: {exc}") from None
    client.loop_start()
    if not connected.wait(10) or failure:
        client.loop_stop()
        why = failure[0] if failure else "no CONNACK within 10 s"
        raise BrokerUnavailable(f"MQTT broker {cfg.host}:{cfg.port} refused: {why}")


def reachable(cfg: BrokerConfig, timeout: float = 1.0) -> bool:
    """Whether something listens at the broker's address (for skips and `make demo`)."""
    import socket

    try:
        with socket.create_connection((cfg.host, cfg.port), timeout=timeout):
            return True
    except OSError:
        return False


class MqttBroker:
    """Consume QoS 1 messages from a persistent MQTT 5 session, acknowledging on request."""

    def __init__(self, cfg: BrokerConfig, max_in_flight: int) -> None:
        self.cfg = cfg
        self.max_in_flight = max_in_flight
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=max_in_flight)
        self._closing = threading.Event()
        self._client: mqtt.Client | None = None

    def connect(self, subscriptions: list[str]) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        client = _client(self.cfg, self.cfg.client_id, manual_ack=True)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.cfg.session_expiry_s
        props.ReceiveMaximum = self.max_in_flight
        subscribed = threading.Event()
        client.on_message = self._on_message
        client.on_subscribe = lambda *_a: subscribed.set()
        self._client = client
        _connect(client, self.cfg, clean_start=False, properties=props)
        client.subscribe([(s, 1) for s in subscriptions])
        # a resumed session may deliver before the SUBACK (and fill the queue): either will do
        deadline = time.monotonic() + 10
        while not (subscribed.is_set() or self._queue.qsize()) and time.monotonic() < deadline:
            subscribed.wait(0.05)
        if not (subscribed.is_set() or self._queue.qsize()):
            raise BrokerUnavailable("MQTT broker did not acknowledge the subscription in 10 s")

    def _on_message(self, _client, _userdata, msg) -> None:
        message = Message(msg.topic, bytes(msg.payload), time.time(), (msg.mid, msg.qos))
        while not self._closing.is_set():
            try:
                self._queue.put(message, timeout=0.2)  # full: stop reading (backpressure)
                return
            except queue.Full:
                continue

    def get(self, timeout: float) -> Message | None:
        try:
            return self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    def ack(self, message: Message) -> None:
        if self._client is None:
            raise RuntimeError("MqttBroker.ack before connect")
        if not isinstance(message.token, tuple):
            raise TypeError(f"not a message of this broker (token {message.token!r})")
        mid, qos = message.token
        if qos > 0:
            self._client.ack(mid, qos)

    def close(self) -> None:
        self._closing.set()
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()


class MqttPublisher:
    """Publish at QoS 1; `flush` waits until the broker acknowledged every message."""

    def __init__(self, cfg: BrokerConfig, client_id: str, max_in_flight: int = 1000) -> None:
        self._client = _client(cfg, client_id, manual_ack=False)
        self._client.max_inflight_messages_set(max_in_flight)
        self._pending: list = []
        _connect(self._client, cfg, clean_start=True)

    def publish(self, topic: str, payload: bytes) -> None:
        info = self._client.publish(topic, payload, qos=1)
        self._pending.append(info)
        if len(self._pending) > 10_000:
            self._pending = [i for i in self._pending if not i.is_published()]

    def flush(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        for info in self._pending:
            info.wait_for_publish(max(deadline - time.monotonic(), 0.01))
            if not info.is_published():
                raise BrokerUnavailable(f"the broker did not acknowledge messages in {timeout} s")
        self._pending = []

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def url(cfg: StreamConfig) -> str:
    """Where the stream is, for messages: mqtt://host:port/PREFIX or nats://host:port/STREAM."""
    b = cfg.broker
    where = cfg.topic_prefix if b.kind == "mqtt" else f"{cfg.stream_name} ({cfg.topic_prefix}.>)"
    return f"{b.kind}://{b.host}:{b.port}/{where}"


def open_broker(cfg: StreamConfig, max_in_flight: int | None = None) -> Broker:
    """The consumer side of the configured bus (`broker.kind`); connect() starts it."""
    n = cfg.batch.max_in_flight if max_in_flight is None else max_in_flight
    if cfg.broker.kind == "nats":
        from gridml.stream.jetstream import NatsBroker

        return NatsBroker(cfg, n)
    return MqttBroker(cfg.broker, n)


def open_publisher(cfg: StreamConfig, client_id: str, max_in_flight: int = 1000) -> Publisher:
    """The publishing side of the configured bus, connected."""
    if cfg.broker.kind == "nats":
        from gridml.stream.jetstream import NatsPublisher

        return NatsPublisher(cfg, max_in_flight)
    return MqttPublisher(cfg.broker, client_id, max_in_flight)
