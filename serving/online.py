"""The Feast store as the endpoints use it: FeatureService references, reads by id, pushes."""

from __future__ import annotations

import sqlite3
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


def sqlite_path(store: Any) -> str | None:
    """The file of a SQLite online store (None for any other online store)."""
    config = store.config
    if getattr(config.online_store, "type", None) != "sqlite":
        return None
    from feast.infra.online_stores.sqlite import SqliteOnlineStore

    return SqliteOnlineStore._get_db_path(config)


class StoreVersion:
    """What changes whenever the content of a SQLite online store changes: SQLite's
    `data_version`, read on a connection of its own, moves on every commit by any other
    connection (`gridml features materialize`, the stream, another worker's push, this worker's
    Feast connection). Reading it costs a page-header read, no query of a table."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False)

    def __call__(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])


class RowCache:
    """Online rows by entity, for one (features, stamped) read, valid for one store version."""

    def __init__(self) -> None:
        self.version: int | None = None
        self.columns: dict[tuple, list[str]] = {}
        self.rows: dict[tuple, dict[tuple, tuple]] = {}
        self.size = 0

    def clear(self, version: int | None) -> None:
        self.version = version
        self.columns.clear()
        self.rows.clear()
        self.size = 0


class OnlineFeatures:
    """One Feast store object per worker; its SQLite connection is shared, so reads and pushes
    take a lock (a Redis online store needs none, but the lock costs little).

    With the SQLite online store, rows read are kept until the store's content changes
    (`StoreVersion`, checked on every read): a repeated read of the same entities costs no
    Feast call, and a read after any commit to the store (a push, a materialization) sees it.
    Other online stores are read on every call."""

    MAX_CACHED_ROWS = 200_000

    def __init__(self, ws: Workspace, store_config: Path | None, services: dict[str, str]) -> None:
        """`services`: endpoint name -> the FeatureService it reads (from the model specs)."""
        self.store = repo.open_store(ws, store_config)
        self._lock = threading.Lock()
        path = sqlite_path(self.store)
        self._version = StoreVersion(path) if path is not None else None
        self._cache = RowCache()
        self.feast_reads = 0  # calls that went to Feast (tests, logs)
        self.services = dict(services)
        self._push_views: dict[str, list[str] | None] = {}
        self.views: dict[str, dict[str, list[str]]] = {}
        self._service_views: dict[str, dict[str, list[str]]] = {}
        for endpoint, service in self.services.items():
            self.views[endpoint] = self.service_views(service)

    def version(self) -> int | None:
        """The store's content version (None: not known, for an online store other than
        SQLite): equal versions, equal content. What a caller derives from rows read at one
        version is valid while `version()` returns it."""
        if self._version is None:
            return None
        with self._lock:
            return self._version()

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
        if self._version is None:
            with self._lock:
                response = self.store.get_online_features(features=features, entity_rows=rows)
                self.feast_reads += 1
            return online_frame(response, stamped)
        what = (tuple(features), tuple(stamped))
        keys = [tuple(row.items()) for row in rows]
        with self._lock:
            version = self._version()
            if version != self._cache.version or self._cache.size > self.MAX_CACHED_ROWS:
                self._cache.clear(version)
            cached = self._cache.rows.setdefault(what, {})
            todo = list(dict.fromkeys(k for k in keys if k not in cached))
            if todo or what not in self._cache.columns:
                response = self.store.get_online_features(
                    features=features, entity_rows=[dict(k) for k in todo]
                )
                self.feast_reads += 1
                frame = online_frame(response, stamped)
                self._cache.columns[what] = list(frame.columns)
                for key, values in zip(todo, frame.itertuples(index=False, name=None), strict=True):
                    cached[key] = values
                self._cache.size += len(todo)
            columns = self._cache.columns[what]
            found = [cached[k] for k in keys]
        matrix = np.empty((len(found), len(columns)), dtype=object)
        for j, values in enumerate(zip(*found, strict=True)):
            matrix[:, j] = values
        return pd.DataFrame(matrix, columns=columns)

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
            self._cache.clear(None)  # the store version moves too; no read waits for it
            views = self._views_of_push_source(source)
            if views is None:
                self.store.push(source, frame)
                return
            for view in views:
                self.store.write_to_online_store(view, frame)
