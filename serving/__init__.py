"""Serving: the BentoML prediction service over the model registry and the online store.

`service` (HTTP wiring) -> `predictor` (ids in, predictions out) -> `demand_endpoint`,
`risk_endpoints` -> input assembly (`demand`, `risk`, `readings`) over `online` (Feast),
`snapshot` (topology and short histories) and `models` (registry aliases, hot swap); `auth`
(API keys, roles, access log), `http` (the edge: unknown paths, content types, keys in URLs,
docs page, readiness), `schema` (bounded request bodies), `metrics` (Prometheus), `config`
(experiments/serving.yaml).
"""

__all__ = [
    "auth",
    "config",
    "demand",
    "demand_endpoint",
    "errors",
    "http",
    "metrics",
    "models",
    "online",
    "predictor",
    "readings",
    "risk",
    "risk_endpoints",
    "schema",
    "service",
    "snapshot",
]
