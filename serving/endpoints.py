"""Endpoint factories named by the model specs (`ModelSpec.endpoint_factory`): each builds
the object that answers its model's route from one `EndpointContext`, so the `Predictor`
builds every endpoint the same way, whichever models the catalog holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gridml.serving.config import ServingConfig
from gridml.serving.models import ModelSlot
from gridml.serving.online import OnlineFeatures
from gridml.serving.snapshot import Snapshot
from gridml.workspace import Workspace


@dataclass(frozen=True)
class EndpointContext:
    """What an endpoint may use: the service config, its model slot, the online store (its
    FeatureService's views under `name`), the current snapshot and the workspace."""

    name: str  # the endpoint's name (ModelSpec.endpoint)
    cfg: ServingConfig
    slot: ModelSlot
    online: OnlineFeatures
    snapshot: Callable[[], Snapshot]
    ws: Workspace
    max_batch: int = 64  # requests merged into one feature read and model call at most


def demand(ctx: EndpointContext) -> Any:
    """The demand forecast endpoint of the service."""
    from gridml.serving.demand_endpoint import DemandEndpoint

    return DemandEndpoint(ctx.cfg, ctx.slot, ctx.online, ctx.snapshot, ctx.max_batch)


def maintenance(ctx: EndpointContext) -> Any:
    """The transformer failure-risk endpoint of the service."""
    from gridml.serving.risk_endpoints import MaintenanceEndpoint

    return MaintenanceEndpoint(ctx.cfg, ctx.slot, ctx.online, ctx.snapshot, ctx.ws, ctx.max_batch)


def theft(ctx: EndpointContext) -> Any:
    """The theft-scoring endpoint of the service."""
    from gridml.serving.risk_endpoints import TheftEndpoint

    return TheftEndpoint(ctx.cfg, ctx.slot, ctx.online, ctx.snapshot, ctx.max_batch)
