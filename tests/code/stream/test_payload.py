"""Payload parsing and topics: shape errors name what is wrong; options and defaults."""

from __future__ import annotations

import pytest

from gridml.stream import payload, topics


def test_readings_payload_with_a_default_meter_and_options() -> None:
    body = b'{"meter_id": "M1", "interval_minutes": 15, "sent_at": 12.5, "readings": [{"timestamp": "2024-01-01T00:00:00Z", "kwh": 1}, {"meter_id": "M2", "timestamp": "2024-01-01T00:00:00Z", "kwh": 2}]}'  # noqa: E501
    parsed = payload.parse("readings", body)
    assert parsed.interval_minutes == 15 and parsed.sent_at == 12.5
    assert [r["meter_id"] for r in parsed.records] == ["M1", "M2"]


@pytest.mark.parametrize(
    ("kind", "body", "says"),
    [
        ("readings", b"not json", "not JSON"),
        ("readings", b"\xff\xfe", "not UTF-8"),
        ("readings", b"[1, 2]", "JSON object"),
        ("readings", b'{"readings": []}', "non-empty list"),
        ("readings", b'{"readings": [1]}', "items [1] are not JSON objects"),
        ("readings", b'{"readings": [{}], "colour": 1}', "unknown field(s) ['colour']"),
        ("readings", b'{"readings": [{}], "interval_minutes": 20}', "supported intervals"),
        ("readings", b'{"readings": [{}], "interval_minutes": "15"}', "must be int"),
        ("events", b'{"events": [{}], "interval_minutes": 15}', "readings only"),
        ("telemetry", b'{"readings": [{}]}', "unknown field"),
    ],
)
def test_malformed_payloads_say_why(kind: str, body: bytes, says: str) -> None:
    with pytest.raises(payload.PayloadError) as err:
        payload.parse(kind, body)
    assert says in str(err.value)


def test_dumps_parses_back() -> None:
    records = [{"meter_id": "M1", "timestamp": "2024-01-01T00:00:00Z", "kwh": 0.5}]
    parsed = payload.parse("readings", payload.dumps("readings", records, sent_at=1.0))
    assert parsed.records == records and parsed.sent_at == 1.0


def test_topic_layout() -> None:
    assert topics.topic("p/q", "telemetry") == "p/q/transformers/telemetry"
    assert topics.kind_of("p", "p/meters/readings") == "readings"
    assert topics.kind_of("p", "p/meters/readings/headend-1/M1") == "readings"
    assert topics.kind_of("p", "p/meters/eventsx") is None
    assert topics.kind_of("p", "other/meters/events") is None
    assert set(topics.subscriptions("p")) == {
        "p/meters/readings/#",
        "p/meters/events/#",
        "p/transformers/telemetry/#",
    }
