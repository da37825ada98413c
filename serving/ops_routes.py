"""The routes operations pages and applications use beyond "these ids" (role `reader`):

- `POST /maintenance/risk/top` `{"n": 20}`: transformers ranked by failure probability, with
  their drivers and the weekly inspection budget (`budget`: how many fit in it);
- `POST /theft/top` `{"n": 50, "transformer_id": null}`: meters ranked by theft probability,
  with reason codes and their transformer's energy balance;
- `POST /ids` `{"level": "feeder", "limit": 1000, "after": null}`: the valid ids of a level,
  sorted, paged;
- `POST /actuals` `{"ids": ["F001"], "level": "feeder", "start": ..., "end": ...}`: hourly
  metered load over a range (at most 92 days).

A mixin of the BentoML service class (`service._GridML`): the routes are BentoML APIs like the
others, so the same edge rules apply (bounded strict bodies, JSON only, unknown paths 404), and
`auth.ROUTE_ROLES` names their role. The logic is `ops.Ops`, one per worker.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import bentoml
from pydantic import Field

from gridml.serving.errors import answered
from gridml.serving.ops import Ops
from gridml.serving.schema import Id, Ids, Level, Timestamp

log = logging.getLogger("gridml.serving")

TopN = Annotated[
    int, Field(strict=True, ge=1, le=10_000, description="How many of the ranked list (1..10000).")
]
PageSize = Annotated[int, Field(strict=True, ge=1, le=10_000, description="Ids per page.")]
SeriesLevel = Literal["transformer", "feeder", "substation", "zone"]


def ops_of(instance: Any) -> Ops:
    """The `Ops` of a service instance (created on first use, one per worker), after following
    a reload another worker announced (the routes and the dashboard answer with what it serves)."""
    follow = getattr(instance, "_current", None)
    if follow is not None:
        follow()
    ops = instance.__dict__.get("_gridml_ops")
    if ops is None:
        ops = instance.__dict__.setdefault("_gridml_ops", Ops(instance.predictor))
    return ops


class OpsRoutes:
    """The ranked-list and lookup routes; the class using it holds `predictor`."""

    predictor: Any

    @bentoml.api(route="/maintenance/risk/top")
    @answered
    def maintenance_risk_top(self, n: TopN = 20) -> dict[str, Any]:
        """The `n` transformers most likely to fail within the horizon, ranked, with their
        risk band and drivers; `budget` is how many the weekly inspection budget
        (`budget_share` of all transformers) covers."""
        return ops_of(self).top_risk(n)

    @bentoml.api(route="/theft/top")
    @answered
    def theft_top(
        self,
        n: TopN = 50,
        transformer_id: Id | None = Field(
            default=None, description="Only this transformer's meters.", examples=["T00001"]
        ),
    ) -> dict[str, Any]:
        """The `n` meters most likely to be stealing, ranked, with reason codes and their
        transformer's latest daily energy balance (energy in, billed, loss ratio)."""
        return ops_of(self).top_theft(n, transformer_id)

    @bentoml.api(route="/ids")
    @answered
    def ids(
        self,
        level: Level = "feeder",
        limit: PageSize = 1000,
        after: Id | None = Field(default=None, description="The last id of the previous page."),
    ) -> dict[str, Any]:
        """The valid ids of a level (meter, transformer, feeder, substation, zone), sorted;
        `next_after` pages on."""
        return ops_of(self).list_ids(level, limit, after)

    @bentoml.api(route="/actuals")
    @answered
    def actuals(
        self,
        start: Timestamp,
        end: Timestamp,
        ids: Ids = Field(examples=[["F001"]]),
        level: SeriesLevel = "feeder",
    ) -> dict[str, Any]:
        """Hourly metered load (kWh in the hour, by the hour's start, UTC) of grid series from
        `start` (inclusive) to `end` (exclusive), at most 92 days."""
        return ops_of(self).actuals(ids, level, start, end)
