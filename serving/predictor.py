"""What the service does, free of the web framework: ids in, predictions out.

`Predictor` holds the Feast store (`OnlineFeatures`), the snapshot of topology and histories,
one `ModelSlot` per endpoint and the endpoints themselves (`DemandEndpoint`, `TheftEndpoint`,
`MaintenanceEndpoint`); it refreshes models and snapshot, and ingests readings. The BentoML
service (`service.py`) is thin wiring over it; tests call both.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pandas as pd

from gridml.errors import UserError
from gridml.serving import readings
from gridml.serving.config import ServingConfig
from gridml.serving.demand_endpoint import DemandEndpoint
from gridml.serving.errors import TooLarge
from gridml.serving.metrics import metrics
from gridml.serving.models import ModelSlot
from gridml.serving.online import SERVICES, OnlineFeatures
from gridml.serving.risk_endpoints import MaintenanceEndpoint, TheftEndpoint
from gridml.serving.snapshot import Snapshot, data_version, load_snapshot
from gridml.workspace import Workspace

log = logging.getLogger(__name__)


class Predictor:
    def __init__(self, cfg: ServingConfig, ws: Workspace, max_batch: int = 64) -> None:
        self.cfg = cfg
        self.ws = ws
        self.online = OnlineFeatures(ws, cfg.store_config)
        self.slots = {
            "demand": ModelSlot("demand", cfg.demand),
            "maintenance": ModelSlot("maintenance", cfg.maintenance),
            "theft": ModelSlot("theft", cfg.theft),
        }
        self._snapshot_lock = threading.Lock()
        self.snapshot: Snapshot = load_snapshot(ws)
        current = self._current_snapshot
        self.demand = DemandEndpoint(cfg, self.slots["demand"], self.online, current, max_batch)
        self.theft = TheftEndpoint(cfg, self.slots["theft"], self.online, current, max_batch)
        self.maintenance = MaintenanceEndpoint(
            cfg, self.slots["maintenance"], self.online, current, ws, max_batch
        )
        self.intake = readings.Intake(ws, self.online, max_batch)
        self.refresh()

    def _current_snapshot(self) -> Snapshot:
        return self.snapshot

    def refresh(self, force: bool = False) -> dict[str, bool]:
        """Pick up alias moves and rebuilt feature tables. Returns what changed. `force`:
        retry versions that failed to load."""
        changed = {name: slot.refresh(force) for name, slot in self.slots.items()}
        if data_version(self.ws) != self.snapshot.version:
            with self._snapshot_lock:
                self.snapshot = load_snapshot(self.ws)
            changed["data"] = True
        m = metrics()
        for name, slot in self.slots.items():
            m.load_error.labels(name).set(1 if slot.last_error else 0)
            if slot.ready:
                cur = slot.current
                m.model_version.labels(name, cur.name, cur.alias).set(cur.version)
        if any(changed.values()):
            self.maintenance.warm()
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
            slot.info() | {"feature_service": SERVICES[name]} for name, slot in self.slots.items()
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
