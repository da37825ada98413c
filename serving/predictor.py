"""What the service does, free of the web framework: ids in, predictions out.

`Predictor` holds the Feast store (`OnlineFeatures`), the snapshot of topology and histories,
and for every model spec with an endpoint (`gridml.models.catalog.served()`) one `ModelSlot`
and the endpoint its spec's factory builds (`DemandEndpoint`, `TheftEndpoint`,
`MaintenanceEndpoint`, or a plugin's); it refreshes models and snapshot, and ingests readings.
The BentoML service (`service.py`) is thin wiring over it; tests call both.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pandas as pd

from gridml.errors import UserError
from gridml.models import catalog
from gridml.models.contract import ModelContract
from gridml.models.spec import resolve
from gridml.serving import readings
from gridml.serving.config import ServingConfig
from gridml.serving.endpoints import EndpointContext
from gridml.serving.errors import TooLarge
from gridml.serving.metrics import metrics
from gridml.serving.models import ModelSlot
from gridml.serving.online import OnlineFeatures
from gridml.serving.snapshot import Snapshot, data_version, load_snapshot
from gridml.workspace import Workspace

log = logging.getLogger(__name__)


class Predictor:
    def __init__(self, cfg: ServingConfig, ws: Workspace, max_batch: int = 64) -> None:
        self.cfg = cfg
        self.ws = ws
        self.specs = {s.endpoint: s for s in catalog.served() if s.endpoint is not None}
        unknown = sorted(set(cfg.models) - set(self.specs))
        if unknown:
            raise UserError(
                f"serving config: models.{unknown[0]}: no model spec has this endpoint; "
                f"known: {', '.join(self.specs)}"
            )
        self.online = OnlineFeatures(
            ws, cfg.store_config, {e: s.feature_service for e, s in self.specs.items()}
        )
        self.slots = {
            e: ModelSlot(e, cfg.binding(s), self._contract_check(e)) for e, s in self.specs.items()
        }
        self._snapshot_lock = threading.Lock()
        self.snapshot: Snapshot = load_snapshot(ws, self.online.services.values())
        self.endpoints: dict[str, Any] = {}
        for name, spec in self.specs.items():
            assert spec.endpoint_factory is not None  # catalog.served() has one
            ctx = EndpointContext(
                name, cfg, self.slots[name], self.online, self._current_snapshot, ws, max_batch
            )
            self.endpoints[name] = resolve(spec.endpoint_factory)(ctx)
        self.intake = readings.Intake(ws, self.online, max_batch)
        self.refresh()

    def _current_snapshot(self) -> Snapshot:
        return self.snapshot

    def _contract_check(self, endpoint: str) -> Callable[[ModelContract], None]:
        """The load-time check of a version for `endpoint`: its FeatureService is registered
        and serves every feature it reads; the endpoint then reads that FeatureService."""

        def check(contract: ModelContract) -> None:
            views = self.online.service_views(contract.feature_service)
            contract.check_served([f for fs in views.values() for f in fs])
            self.online.bind(endpoint, contract.feature_service)

        return check

    def endpoint(self, name: str) -> Any:
        """The endpoint object named `name` (UserError naming the served ones)."""
        if name not in self.endpoints:
            served = ", ".join(self.endpoints)
            raise UserError(f"'endpoint': {name!r} is not served; served: {served}")
        return self.endpoints[name]

    # the built-in endpoints by name (the routes of service.py call them)
    @property
    def demand(self) -> Any:
        return self.endpoint("demand")

    @property
    def theft(self) -> Any:
        return self.endpoint("theft")

    @property
    def maintenance(self) -> Any:
        return self.endpoint("maintenance")

    def predict(self, name: str, ids: list[str]) -> dict[str, Any]:
        """`POST /predict`: the endpoint `name` answers `ids` with its spec's serving method."""
        endpoint = self.endpoint(name)
        return getattr(endpoint, self.specs[name].serving_method)(ids)

    def refresh(self, force: bool = False) -> dict[str, bool]:
        """Pick up alias moves and rebuilt feature tables. Returns what changed. `force`:
        retry versions that failed to load."""
        changed = {name: slot.refresh(force) for name, slot in self.slots.items()}
        if data_version(self.ws) != self.snapshot.version:
            with self._snapshot_lock:
                self.snapshot = load_snapshot(self.ws, self.online.services.values())
            changed["data"] = True
        m = metrics()
        for name, slot in self.slots.items():
            m.load_error.labels(name).set(1 if slot.last_error else 0)
            if slot.ready:
                cur = slot.current
                m.model_version.labels(name, cur.name, cur.alias).set(cur.version)
        if any(changed.values()):
            for endpoint in self.endpoints.values():
                warm = getattr(endpoint, "warm", None)
                if warm is not None:
                    warm()
        return changed

    @property
    def ready(self) -> bool:
        return any(slot.ready for slot in self.slots.values())

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready, body of GET /readyz): ready while at least one endpoint serves a model; the
        body names the endpoints without one and why."""
        serving = {n: s.current.version for n, s in self.slots.items() if s.ready}
        missing = {n: s.last_error or "no alias set" for n, s in self.slots.items() if not s.ready}
        return bool(serving), {"ready": bool(serving), "serving": serving, "no_model": missing}

    def models(self) -> list[dict[str, Any]]:
        return [
            slot.info() | {"feature_service": self.online.services[name]}
            for name, slot in self.slots.items()
        ]

    # the endpoints are self.demand (forecast, forecast_many), self.theft (score),
    # self.maintenance (risk); readings are ingested here

    def ingest(self, items: list[dict]) -> dict[str, Any]:
        """Validate, land and push fresh readings (see `readings.py`)."""
        if len(items) > self.cfg.max_readings:
            raise TooLarge(
                f"'readings': {len(items)} items, more than max_readings={self.cfg.max_readings}"
            )
        if not items:
            raise UserError("'readings': give at least one reading")
        frame = readings.readings_frame(items)
        now = pd.Timestamp.now(tz="UTC")
        window = readings.Window(
            now,
            pd.Timedelta(minutes=self.cfg.readings_max_ahead_minutes),
            pd.Timedelta(days=self.cfg.readings_max_age_days),
        )
        batch, repeats = readings.validate(frame, self.snapshot.meters.index, window)
        answer = self.intake.submit(readings.Posted(batch, repeats, len(items)))
        log.info(
            "readings: %d received, %d new, %d duplicates, %d meters pushed, landed %s",
            answer["received"],
            answer["new"],
            answer["duplicates"],
            answer["meters_updated"],
            answer["landed"] or "nothing new",
        )
        return answer
