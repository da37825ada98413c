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
        self._push_views: dict[str, list[str] | None] = {}
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

    def _views_of_push_source(self, source: str) -> list[str] | None:
        """The feature views fed by push source `source`, looked up once; None when a
        FeatureService precomputes vectors from them (then Feast's own push must run)."""
        if source not in self._push_views:
            views = [
                fv.name
                for fv in [
                    *self.store.list_feature_views(),
                    *self.store.list_stream_feature_views(),
                ]
                if fv.stream_source is not None and fv.stream_source.name == source
            ]
            precomputed = any(
                getattr(svc, "precompute_online", False)
                and any(p.name in views for p in svc.feature_view_projections)
                for svc in self.store.list_feature_services()
            )
            self._push_views[source] = None if precomputed or not views else views
        return self._push_views[source]

    def push(self, source: str, frame: pd.DataFrame) -> None:
        """Feast's `push` to the online store, without re-reading the registry's every view and
        service on each call (which cost ~10x the write): the views fed by the source are
        looked up once, then written with `write_to_online_store`, as `push` does."""
        with self._lock:
            views = self._views_of_push_source(source)
            if views is None:
                self.store.push(source, frame)
                return
            for view in views:
                self.store.write_to_online_store(view, frame)
