"""Prometheus metrics of the service, beside BentoML's own request counts and latencies
(`bentoml_service_request_total`, `bentoml_service_request_duration_seconds` per endpoint).

- `gridml_model_version{endpoint, registered_model, alias}`: the version each endpoint serves;
- `gridml_prediction{endpoint}`: the distribution of what is predicted (probabilities for theft
  and failure; the P50 divided by the series' recent mean load for demand, so a feeder and the
  zone share buckets) — the first place a drifting input shows;
- `gridml_ids_total{endpoint, outcome}`: ids served, and ids answered without a prediction
  because the online store lacks their features;
- `gridml_model_load_failures_total{endpoint, registered_model}`: versions that failed to load,
  and `gridml_model_load_error{endpoint}`: 1 while the endpoint's last load failed (GET /models
  says why);
- `gridml_http_unknown_route_total` (`http.py`): requests to paths the service does not have,
  one series whatever the path.

Created lazily, once per process (BentoML exposes the process registry in multiprocess mode).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

PROBABILITY_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
RELATIVE_LOAD_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)


@dataclass(frozen=True)
class Metrics:
    model_version: Any
    probability: Any
    relative_load: Any
    ids: Any
    load_failures: Any
    load_error: Any


@functools.cache
def metrics() -> Metrics:
    """The service's Prometheus metrics, created once per process."""
    from prometheus_client import Counter, Gauge, Histogram

    return Metrics(
        model_version=Gauge(
            "gridml_model_version",
            "Registered model version served by each endpoint.",
            ["endpoint", "registered_model", "alias"],
            multiprocess_mode="mostrecent",
        ),
        probability=Histogram(
            "gridml_prediction_probability",
            "Predicted probabilities (theft, transformer failure).",
            ["endpoint"],
            buckets=PROBABILITY_BUCKETS,
        ),
        relative_load=Histogram(
            "gridml_prediction_relative_load",
            "Demand P50 divided by the series' mean load of the last week.",
            ["endpoint"],
            buckets=RELATIVE_LOAD_BUCKETS,
        ),
        ids=Counter("gridml_ids", "Ids asked for, by outcome.", ["endpoint", "outcome"]),
        load_failures=Counter(
            "gridml_model_load_failures",
            "Registered versions that failed to load.",
            ["endpoint", "registered_model"],
        ),
        load_error=Gauge(
            "gridml_model_load_error",
            "1 while the endpoint's last model load failed.",
            ["endpoint"],
            multiprocess_mode="mostrecent",
        ),
    )


def observe(histogram: Any, endpoint: str, values: Any) -> None:
    """Add the values (NaN skipped) to the endpoint's histogram."""
    child = histogram.labels(endpoint=endpoint)
    for v in values:
        if v == v:  # skip NaN
            child.observe(float(v))
