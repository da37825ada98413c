"""NATS JetStream behind the broker interface (`Broker`, `Publisher`): nats-py (asyncio) on
an event loop in a thread of its own, so the consumer loop stays synchronous.

Topics map to subjects level by level (`PREFIX/meters/readings/site-1` is the subject
`PREFIX.meters.readings.site-1`); one JetStream stream (file storage, `session_expiry_s` max
age) holds `PREFIX.>`, created by whichever of consumer and publisher comes first, so what is
published before the consumer first runs is kept.

At-least-once, the contract of the MQTT adapter: a durable pull consumer (named by
`client_id`) with explicit acknowledgement; `ack` is called only after the batch is landed,
and a message not acknowledged within `ack_wait_s` (a consumer killed) is redelivered to the
next consumer of that name. `max_in_flight` is the consumer's `max_ack_pending` and the most
messages fetched and not yet acknowledged: past it nothing is fetched and the server holds the
rest (backpressure, bounded memory).
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from gridml.stream.broker import BrokerUnavailable, Message, reachable
from gridml.stream.config import StreamConfig

T = TypeVar("T")
FETCH_MAX = 256  # messages asked for per pull request


def subject(topic: str) -> str:
    """The NATS subject of a topic (levels joined by '.')."""
    return topic.strip("/").replace("/", ".")


def topic_of(name: str) -> str:
    """The topic of a NATS subject (what the consumer's topic layout reads)."""
    return name.replace(".", "/")


class _Loop:
    """An asyncio loop in a daemon thread; `call` runs a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


async def _connect(cfg: StreamConfig) -> Any:
    import nats

    b = cfg.broker
    url = f"nats://{b.host}:{b.port}"
    # nats-py retries a first connection as a reconnection (forever, here): ask the socket first
    if not reachable(b, timeout=2.0):
        raise BrokerUnavailable(f"NATS server {url} unreachable: nothing listens there")
    try:
        connecting = nats.connect(
            servers=[url],
            user=b.username,
            password=b.password,
            connect_timeout=5,
            allow_reconnect=True,
            max_reconnect_attempts=-1,  # once connected, ride out a server restart
            ping_interval=b.keepalive_s,
        )
        return await asyncio.wait_for(connecting, 15)
    except Exception as exc:  # nats-py raises its own and OS errors, by version
        raise BrokerUnavailable(f"NATS server {url} refused: {exc!r}") from None


async def _close(nc: Any) -> None:
    """Send what is buffered (acknowledgements), then close (a drain would wait on the pull
    subscription's expired requests)."""
    await nc.flush(timeout=10)
    await nc.close()


async def _ensure_stream(js: Any, cfg: StreamConfig) -> None:
    """The stream of PREFIX.> (file storage); an existing stream of that name is kept as is."""
    from nats.js.api import StorageType
    from nats.js.api import StreamConfig as JsStreamConfig
    from nats.js.errors import NotFoundError

    name = cfg.stream_name
    subjects = [f"{subject(cfg.topic_prefix)}.>"]
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(
            JsStreamConfig(
                name=name,
                subjects=subjects,
                storage=StorageType.FILE,
                max_age=float(cfg.broker.session_expiry_s),
            )
        )
        return
    if not set(subjects) <= set(info.config.subjects or []):
        raise BrokerUnavailable(
            f"JetStream stream {name!r} holds {info.config.subjects}, not {subjects}: set "
            "broker.stream to another name"
        )


class NatsBroker:
    """Consume from a durable JetStream pull consumer, acknowledging on request."""

    def __init__(self, cfg: StreamConfig, max_in_flight: int) -> None:
        self.cfg = cfg
        self.max_in_flight = max_in_flight
        self._loop: _Loop | None = None
        self._nc: Any = None
        self._sub: Any = None
        self._ready: collections.deque[Message] = collections.deque()
        self._unacked = 0
        self._acks: list[Future[None]] = []

    def connect(self, subscriptions: list[str]) -> None:
        """Subscribes to the whole prefix (`subscriptions`, MQTT filters under it, are the
        topic layout's kinds; other subjects under the prefix reach the dead letters)."""
        base = subject(self.cfg.topic_prefix)
        outside = [s for s in subscriptions if not subject(s).startswith(base + ".")]
        if outside:
            raise ValueError(f"subscriptions {outside} are outside the prefix {base}")
        self._loop = _Loop()
        try:
            self._loop.call(self._open(base), timeout=30)
        except BaseException:
            self.close()
            raise

    async def _open(self, base: str) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import BadRequestError

        self._nc = await _connect(self.cfg)
        js = self._nc.jetstream()
        await _ensure_stream(js, self.cfg)
        durable = self.cfg.broker.client_id
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.cfg.broker.ack_wait_s,
            max_ack_pending=self.max_in_flight,
            filter_subject=f"{base}.>",
        )
        try:
            await js.add_consumer(self.cfg.stream_name, config)
        except BadRequestError as exc:  # exists with other settings: keep it, say so
            raise BrokerUnavailable(
                f"JetStream consumer {durable!r} of stream {self.cfg.stream_name!r} exists with "
                f"other settings ({exc.description}); delete it or use another client_id"
            ) from None
        self._sub = await js.pull_subscribe_bind(durable=durable, stream=self.cfg.stream_name)

    async def _fetch(self, batch: int, timeout: float) -> list[Any]:
        import nats.errors

        # bounded here too: a pull whose answer is lost must not block the consumer (messages
        # that arrive after it are taken by the next fetch, or redelivered after ack_wait)
        try:
            fetch = self._sub.fetch(batch=batch, timeout=timeout)
            return list(await asyncio.wait_for(fetch, timeout + 2))
        except (TimeoutError, nats.errors.TimeoutError):
            return []

    def get(self, timeout: float) -> Message | None:
        if self._loop is None:
            raise RuntimeError("NatsBroker.get before connect")
        if not self._ready:
            room = self.max_in_flight - self._unacked
            if room <= 0:  # the server holds the rest until something is acknowledged
                time.sleep(max(timeout, 0.0))
                return None
            wait = max(timeout, 0.05)
            got = self._loop.call(self._fetch(min(room, FETCH_MAX), wait), timeout=wait + 30)
            now = time.time()
            for m in got:
                self._ready.append(Message(topic_of(m.subject), bytes(m.data), now, m))
            self._unacked += len(got)
        return self._ready.popleft() if self._ready else None

    def ack(self, message: Message) -> None:
        if self._loop is None:
            raise RuntimeError("NatsBroker.ack before connect")
        if not hasattr(message.token, "ack"):
            raise TypeError(f"not a message of this broker (token {message.token!r})")
        self._acks.append(self._loop.submit(message.token.ack()))
        self._unacked -= 1
        if len(self._acks) >= 1000:
            self._settle()

    def _settle(self) -> None:
        """Wait for the acknowledgements sent so far (raises the first failure)."""
        acks, self._acks = self._acks, []
        for f in acks:
            f.result(30)

    def close(self) -> None:
        if self._loop is None:
            return
        try:
            self._settle()
            if self._nc is not None:
                self._loop.call(_close(self._nc), timeout=30)
        finally:
            self._loop.stop()
            self._loop = None


class NatsPublisher:
    """Publish to JetStream; `flush` waits until the server stored every message."""

    def __init__(self, cfg: StreamConfig, max_in_flight: int = 1000) -> None:
        self.max_in_flight = max_in_flight
        self._loop = _Loop()
        self._pending: list[asyncio.Future[Any]] = []
        try:
            self._nc = self._loop.call(_connect(cfg), timeout=30)
            self._js = self._nc.jetstream(publish_async_max_pending=max_in_flight)
            self._loop.call(_ensure_stream(self._js, cfg), timeout=30)
        except BaseException:
            self._loop.stop()
            raise

    async def _publish(self, name: str, payload: bytes) -> Any:
        return await self._js.publish_async(name, payload)

    def publish(self, topic: str, payload: bytes) -> None:
        # publish_async returns the future of the server's acknowledgement
        future = self._loop.call(self._publish(subject(topic), payload), timeout=60)
        self._pending.append(future)
        if len(self._pending) > 10_000:
            self._pending = [f for f in self._pending if not f.done() or f.exception()]

    async def _wait(self, timeout: float) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        done, left = await asyncio.wait(pending, timeout=timeout)
        if left:
            raise BrokerUnavailable(f"NATS did not acknowledge {len(left)} messages in {timeout} s")
        failed = [f.exception() for f in done if f.exception() is not None]
        if failed:
            raise BrokerUnavailable(f"NATS refused {len(failed)} messages: {failed[0]}")

    def flush(self, timeout: float = 60.0) -> None:
        self._loop.call(self._wait(timeout), timeout=timeout + 5)

    def close(self) -> None:
        try:
            self._loop.call(_close(self._nc), timeout=30)
        finally:
            self._loop.stop()


def delete_stream(cfg: StreamConfig) -> bool:
    """Delete the configured JetStream stream and its consumers (tests and benchmarks clean up
    after themselves); False when there was none."""
    from nats.js.errors import NotFoundError

    async def run() -> bool:
        nc = await _connect(cfg)
        try:
            await nc.jetstream().delete_stream(cfg.stream_name)
            return True
        except NotFoundError:
            return False
        finally:
            await nc.close()

    loop = _Loop()
    try:
        return loop.call(run(), timeout=30)
    finally:
        loop.stop()
