"""The Feast store as the endpoints use it: FeatureService references, reads by id, pushes."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError
from gridml.features.store import repo
from gridml.workspace import Workspace

TIMESTAMP_SUFFIX = "__ts"


def online_frame(response: Any, stamped: tuple[str, ...]) -> pd.DataFrame:
    """A Feast online response as a frame (one object block: a wide response builds fast;
    callers convert the columns they use); event timestamps only for the features in
    `stamped` (converting all of them doubles the cost)."""
    values = response.to_dict()
    names = list(response.proto.metadata.feature_names.val)
    for name in stamped:
        vector = response.proto.results[names.index(name)]
        values[f"{name}{TIMESTAMP_SUFFIX}"] = [ts.seconds for ts in vector.event_timestamps]
    columns = list(values)
    matrix = np.empty((len(values[columns[0]]) if columns else 0, len(columns)), dtype=object)
    for j, col in enumerate(columns):
        matrix[:, j] = values[col]
    return pd.DataFrame(matrix, columns=columns)


class OnlineFeatures:
    """One Feast store object per worker; its SQLite connection is shared, so reads and pushes
    take a lock (a Redis online store needs none, but the lock costs little)."""

    def __init__(self, ws: Workspace, store_config: Path | None, services: dict[str, str]) -> None:
        """`services`: endpoint name -> the FeatureService it reads (from the model specs)."""
        self.store = repo.open_store(ws, store_config)
        self._lock = threading.Lock()
        self.services = dict(services)
        self.views: dict[str, dict[str, list[str]]] = {}
        self._service_views: dict[str, dict[str, list[str]]] = {}
        for endpoint, service in self.services.items():
            self.views[endpoint] = self.service_views(service)

    def service_views(self, service: str) -> dict[str, list[str]]:
        """view -> features of a registered FeatureService (MissingDataError if unknown)."""
        if service not in self._service_views:
            try:
                fs = self.store.get_feature_service(service)
            except Exception as exc:
                raise MissingDataError(
                    f"FeatureService {service} is not registered: run `gridml features apply`"
                ) from exc
            self._service_views[service] = {
                p.name: [f.name for f in p.features] for p in fs.feature_view_projections
            }
        return self._service_views[service]

    def bind(self, endpoint: str, service: str) -> None:
        """Read `service` for `endpoint` from now on (the served version's FeatureService)."""
        views = self.service_views(service)
        self.services[endpoint], self.views[endpoint] = service, views

    def refs(self, endpoint: str, views: tuple[str, ...] | None = None) -> list[str]:
        """`view:feature` references of an endpoint's FeatureService (some views only)."""
        chosen = self.views[endpoint]
        return [f"{v}:{f}" for v, fs in chosen.items() if views is None or v in views for f in fs]

    def read(
        self, features: list[str], rows: list[dict[str, str]], stamped: tuple[str, ...] = ()
    ) -> pd.DataFrame:
        """Online values of `features` for the entity rows, and `<name>__ts` (epoch seconds,
        0 when the store has no row) for the features named in `stamped`."""
        with self._lock:
            response = self.store.get_online_features(features=features, entity_rows=rows)
        return online_frame(response, stamped)

    def push(self, source: str, frame: pd.DataFrame) -> None:
        with self._lock:
            self.store.push(source, frame)
