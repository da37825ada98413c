"""Streaming ingestion: meter readings, meter events and transformer telemetry from a broker.

`config` (experiments/stream.yaml) -> `topics` (topic layout) -> `payload` (JSON messages to
frames) -> `checks` (the import contracts over a micro-batch, message by message) -> `sink`
(landing, dead letters, the online push) -> `consumer` (micro-batches, acknowledgement after
landing, backpressure) over a `broker` adapter (`Broker` protocol; MQTT via paho-mqtt);
`replay` publishes a workspace's feeds to the broker.
"""

__all__ = ["broker", "checks", "config", "consumer", "payload", "replay", "sink", "topics"]
