"""The models an endpoint serves, loaded from the MLflow registry by alias and swapped whole.

A `ModelSlot` resolves its aliases (`champion`, then `challenger` by default) to a version,
loads that version completely, and only then replaces the model it serves: a request sees the
old model or the new one, never a half-loaded one. `refresh` is what the poll loop and
`/admin/reload` call; it is a no-op while the alias points where it did.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from gridml.serving.config import ModelBinding
from gridml.training import tracking

log = logging.getLogger(__name__)


class ModelUnavailable(RuntimeError):
    """No alias of the binding is set: nothing to serve yet."""


@dataclass(frozen=True)
class Loaded:
    """One registered version, loaded."""

    name: str
    version: int
    alias: str
    run_id: str
    uri: str
    model: Any  # mlflow.pyfunc.PyFuncModel

    def info(self) -> dict[str, Any]:
        return {
            "registered_model": self.name,
            "version": self.version,
            "alias": self.alias,
            "run_id": self.run_id,
            "model_uri": self.uri,
        }


class ModelSlot:
    """The model behind one endpoint."""

    def __init__(self, endpoint: str, binding: ModelBinding) -> None:
        self.endpoint = endpoint
        self.binding = binding
        self._current: Loaded | None = None
        self._lock = threading.Lock()  # one load at a time; reads never wait for it
        self.last_error: str | None = None

    @property
    def current(self) -> Loaded:
        loaded = self._current
        if loaded is None:
            raise ModelUnavailable(
                f"no version of {self.binding.registered_model!r} carries alias "
                f"{' or '.join(self.binding.aliases)}: train and register one first"
                + (f" ({self.last_error})" if self.last_error else "")
            )
        return loaded

    @property
    def ready(self) -> bool:
        return self._current is not None

    def refresh(self) -> bool:
        """Load the version the aliases now point to, if it changed. True when swapped."""
        import mlflow
        from mlflow import MlflowClient

        with self._lock:
            name = self.binding.registered_model
            try:
                found = tracking.resolve(name, tuple(self.binding.aliases))
            except Exception as exc:  # registry unreachable: keep serving what we have
                self.last_error = f"registry: {exc}"
                log.warning("%s: cannot read the registry: %s", self.endpoint, exc)
                return False
            if found is None:
                self.last_error = None
                return False
            version, alias = found
            old = self._current
            if old is not None and old.version == version:
                if old.alias != alias:
                    self._current = Loaded(name, version, alias, old.run_id, old.uri, old.model)
                return False
            uri = f"models:/{name}/{version}"
            try:
                model = mlflow.pyfunc.load_model(uri)
                run_id = MlflowClient().get_model_version(name, str(version)).run_id or ""
            except Exception as exc:  # a broken version must not take the endpoint down
                self.last_error = f"loading {uri}: {exc}"
                log.error("%s: could not load %s: %s", self.endpoint, uri, exc)
                return False
            self._current = Loaded(name, version, alias, run_id, uri, model)
            self.last_error = None
            log.info(
                "%s now serves %s v%d (%s, run %s)%s",
                self.endpoint,
                name,
                version,
                alias,
                run_id,
                f"; was v{old.version}" if old else "",
            )
            return True

    def info(self) -> dict[str, Any]:
        loaded = self._current
        base = {"endpoint": self.endpoint, "aliases": list(self.binding.aliases)}
        if loaded is None:
            return base | {
                "registered_model": self.binding.registered_model,
                "version": None,
                "error": self.last_error,
            }
        return base | loaded.info()
