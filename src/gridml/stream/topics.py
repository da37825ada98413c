"""The topic layout: one subtree per kind of message under a configurable prefix.

    PREFIX/meters/readings          interval readings (15/30/60 min) of one or more meters
    PREFIX/meters/events            last gasp, power restore, tamper
    PREFIX/transformers/telemetry   hourly transformer telemetry

Publishers may add levels below each (e.g. PREFIX/meters/readings/<head-end>/<meter>): the
consumer subscribes to `KIND/#` and reads the kind from the first levels after the prefix.
"""

from __future__ import annotations

KINDS = {
    "readings": "meters/readings",
    "events": "meters/events",
    "telemetry": "transformers/telemetry",
}


def topic(prefix: str, kind: str) -> str:
    """The MQTT topic of a message kind under the prefix."""
    return f"{prefix.rstrip('/')}/{KINDS[kind]}"


def subscriptions(prefix: str) -> list[str]:
    """One wildcard filter per kind (the base topic and anything below it)."""
    return [f"{topic(prefix, kind)}/#" for kind in KINDS]


def kind_of(prefix: str, name: str) -> str | None:
    """The kind of a topic under `prefix`, or None when it is not one of ours."""
    base = prefix.rstrip("/") + "/"
    if not name.startswith(base):
        return None
    rest = name[len(base) :]
    for kind, sub in KINDS.items():
        if rest == sub or rest.startswith(sub + "/"):
            return kind
    return None
