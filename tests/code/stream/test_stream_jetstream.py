"""The NATS side of the broker settings and the topic <-> subject mapping (no server needed;
the adapter itself runs against nats-server in tests/integration/test_stream.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gridml.stream import topics
from gridml.stream.broker import MqttBroker, open_broker, url
from gridml.stream.config import BrokerConfig, StreamConfig
from gridml.stream.jetstream import NatsBroker, subject, topic_of


def test_the_port_defaults_to_the_kind() -> None:
    assert BrokerConfig().port == 1883
    assert BrokerConfig(kind="nats").port == 4222
    assert BrokerConfig(kind="nats", port=4333).port == 4333


def test_topics_map_to_subjects_and_back() -> None:
    for kind in topics.KINDS:
        name = topics.topic("h7-x", kind) + "/site-1"
        assert "/" not in subject(name)
        assert topics.kind_of("h7-x", topic_of(subject(name))) == kind


def test_nats_names_are_checked_and_named() -> None:
    cfg = StreamConfig(topic_prefix="utility/zone-1", broker=BrokerConfig(kind="nats"))
    assert cfg.stream_name == "utility_zone-1"
    assert url(cfg).startswith("nats://127.0.0.1:4222/utility_zone-1")
    with pytest.raises(ValidationError, match="topic_prefix"):
        StreamConfig(topic_prefix="grid.ml", broker=BrokerConfig(kind="nats"))
    with pytest.raises(ValidationError, match="client_id"):
        StreamConfig(broker=BrokerConfig(kind="nats", client_id="a.b"))
    StreamConfig(topic_prefix="grid.ml")  # a dot is fine in an MQTT topic


def test_open_broker_picks_the_adapter_of_the_kind() -> None:
    assert isinstance(open_broker(StreamConfig()), MqttBroker)
    assert isinstance(open_broker(StreamConfig(broker=BrokerConfig(kind="nats"))), NatsBroker)


def test_no_nats_server_is_a_clear_error_not_a_hang() -> None:
    from gridml.stream.broker import BrokerUnavailable, open_publisher

    cfg = StreamConfig(topic_prefix="h7-none", broker=BrokerConfig(kind="nats", port=9))
    broker = open_broker(cfg)
    with pytest.raises(BrokerUnavailable, match=r"127\.0\.0\.1:9 unreachable"):
        broker.connect(topics.subscriptions(cfg.topic_prefix))
    with pytest.raises(BrokerUnavailable, match="unreachable"):
        open_publisher(cfg, "h7-none-pub")
