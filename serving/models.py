"""The models an endpoint serves, loaded from the MLflow registry by alias and swapped whole.

A `ModelSlot` resolves its aliases (`champion`, then `challenger` by default) to a version,
loads that version completely, and only then replaces the model it serves: a request sees the
old model or the new one, never a half-loaded one. `refresh` is what the poll loop and
`/admin/reload` call; it is a no-op while the alias points where it did.

A version that fails to load is reported, never hidden: `info()` (GET /models) carries an
`error` naming the alias, the version and the reason, and `gridml_model_load_failures_total`
counts it. While a model is served, a broken target leaves it serving (the poll does not retry
the same broken version; `/admin/reload` does). With nothing served yet (start-up), the next
alias is tried: a broken champion falls back to the challenger. A response names the alias
and version it came from and says `promoted: false` (with a `warning`) when that is not the
first alias (a challenger, not promoted).

Each version is served through its own contract (`gridml.models.contract`, MLflow model
metadata): read at load time and passed to the slot's `check` (the Predictor's: the
FeatureService must serve every feature the model reads); a version that fails it does not
load, like a broken one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gridml.models import registry
from gridml.models.contract import ModelContract
from gridml.models.contract import read as read_contract
from gridml.serving.config import ModelBinding

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
    promoted: bool = True  # served through the first alias (the champion)
    contract: ModelContract | None = None  # what the version reads and answers

    def info(self) -> dict[str, Any]:
        out = {
            "registered_model": self.name,
            "version": self.version,
            "alias": self.alias,
            "promoted": self.promoted,
            "run_id": self.run_id,
            "model_uri": self.uri,
        }
        if not self.promoted:
            out["warning"] = f"served through alias {self.alias!r}: this version was not promoted"
        return out


class ModelSlot:
    """The model behind one endpoint."""

    def __init__(
        self,
        endpoint: str,
        binding: ModelBinding,
        check: Callable[[ModelContract], None] | None = None,
    ) -> None:
        """`check(contract)`: raises when the version cannot be served (it is then reported
        and not loaded); run before the version replaces the served one."""
        self.endpoint = endpoint
        self.binding = binding
        self.check = check
        self._current: Loaded | None = None
        self._lock = threading.Lock()  # one load at a time; reads never wait for it
        self.last_error: str | None = None
        self._failed: dict[int, str] = {}  # version -> why it did not load

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

    def candidates(self) -> list[tuple[int, str]]:
        """(version, alias) of each alias set, in the configured order, distinct versions."""
        return registry.candidates(self.binding.registered_model, tuple(self.binding.aliases))

    def refresh(self, force: bool = False) -> bool:
        """Load the version the aliases now point to, if it changed. True when swapped.
        `force`: retry versions that failed to load before."""
        import mlflow

        from gridml.serving.metrics import metrics

        with self._lock:
            name = self.binding.registered_model
            try:
                found = self.candidates()
            except Exception as exc:  # registry unreachable: keep serving what we have
                self.last_error = f"registry: {exc}"
                log.warning("%s: cannot read the registry: %s", self.endpoint, exc)
                return False
            if force:
                self._failed.clear()
            if not found:
                self.last_error = None
                return False
            old = self._current
            errors = []
            # while something serves, only the first alias set is a target; with nothing
            # served (start-up), fall back alias by alias
            for version, alias in found if old is None else found[:1]:
                promoted = alias == self.binding.aliases[0]
                if old is not None and old.version == version:
                    if old.alias != alias:
                        self._current = Loaded(
                            name,
                            version,
                            alias,
                            old.run_id,
                            old.uri,
                            old.model,
                            promoted,
                            old.contract,
                        )
                    self.last_error = None
                    return False
                uri = f"models:/{name}/{version}"
                if version in self._failed:
                    errors.append(self._failed[version])
                    continue
                try:
                    model = mlflow.pyfunc.load_model(uri)
                    contract = read_contract(model)
                    if self.check is not None:
                        self.check(contract)
                    run_id = registry.run_id(name, version)
                except Exception as exc:  # a broken version must not take the endpoint down
                    reason = f"alias {alias!r} -> v{version} failed to load: {str(exc)[:300]}"
                    self._failed[version] = reason
                    errors.append(reason)
                    metrics().load_failures.labels(self.endpoint, name).inc()
                    log.error("%s: could not load %s: %s", self.endpoint, uri, exc)
                    continue
                self._current = Loaded(name, version, alias, run_id, uri, model, promoted, contract)
                self.last_error = "; ".join(errors) or None
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
            self.last_error = "; ".join(errors) or None
            if old is not None and self.last_error:
                self.last_error += (
                    f"; still serving v{old.version}, which alias {old.alias!r} pointed to before"
                )
            return False

    def info(self) -> dict[str, Any]:
        loaded = self._current
        base = {"endpoint": self.endpoint, "aliases": list(self.binding.aliases)}
        if loaded is None:
            return base | {
                "registered_model": self.binding.registered_model,
                "version": None,
                "error": self.last_error,
            }
        return base | loaded.info() | {"error": self.last_error}
