"""The catalog of model specs: the one place a command or the service looks a model up.

Filled lazily on the first lookup: the built-in specs (`builtin.SPECS`), then every `ModelSpec`
defined at the top level of the modules named in `$GRIDML_MODEL_SPECS` (comma-separated module
names, e.g. a plugin package or a test's toy model). The variable reaches `gridml serve`'s
worker processes through their environment, so an extra spec is trained, promoted and served
without editing any shared module. `register` adds one at run time in this process.
"""

from __future__ import annotations

import importlib
import os
import threading

from gridml.errors import UserError
from gridml.models.spec import ModelSpec

SPECS_ENV = "GRIDML_MODEL_SPECS"

_specs: dict[str, ModelSpec] | None = None
_lock = threading.Lock()


def _add(found: dict[str, ModelSpec], spec: ModelSpec, origin: str) -> None:
    old = found.get(spec.name)
    if old is not None and old != spec:
        raise UserError(f"{origin}: model {spec.name!r} is already defined by another spec")
    clash = [s.name for s in found.values() if s.name != spec.name and s.task == spec.task]
    clash += [
        s.name
        for s in found.values()
        if s.name != spec.name and spec.endpoint and s.endpoint == spec.endpoint
    ]
    if clash:
        raise UserError(f"{origin}: {spec.name!r} reuses the task or endpoint of {clash[0]!r}")
    found[spec.name] = spec


def module_specs(module: str) -> list[ModelSpec]:
    """The `ModelSpec` objects defined at the top level of `module` (imported now)."""
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise UserError(f"${SPECS_ENV}: cannot import {module!r}: {exc}") from exc
    specs = [v for v in vars(mod).values() if isinstance(v, ModelSpec)]
    if not specs:
        raise UserError(f"${SPECS_ENV}: module {module!r} defines no ModelSpec")
    return specs


def _load() -> dict[str, ModelSpec]:
    global _specs
    with _lock:
        if _specs is None:
            from gridml.models.builtin import SPECS

            found: dict[str, ModelSpec] = {}
            for spec in SPECS:
                _add(found, spec, "gridml.models.builtin")
            extra = os.environ.get(SPECS_ENV, "")
            for module in filter(None, (m.strip() for m in extra.split(","))):
                for spec in module_specs(module):
                    _add(found, spec, module)
            _specs = found
        return _specs


def register(spec: ModelSpec) -> ModelSpec:
    """Add `spec` to the catalog of this process (same spec again: no-op)."""
    specs = _load()
    with _lock:
        _add(specs, spec, "register")
    return spec


def specs() -> list[ModelSpec]:
    """Every known spec, built-ins first."""
    return list(_load().values())


def names() -> list[str]:
    """The names of every known model spec."""
    return list(_load())


def get(name: str) -> ModelSpec:
    """The spec of registered model `name` (UserError naming the known ones)."""
    found = _load()
    if name not in found:
        raise UserError(f"unknown model {name!r}; known: {', '.join(found)}")
    return found[name]


def by_task(task: str) -> ModelSpec:
    """The spec of task `task` (UserError naming the known tasks)."""
    for spec in _load().values():
        if spec.task == task:
            return spec
    raise UserError(f"no model with task {task!r}; known: {', '.join(s.task for s in specs())}")


def served() -> list[ModelSpec]:
    """The specs the service has an endpoint for."""
    return [s for s in _load().values() if s.endpoint is not None]


def reset() -> None:
    """Forget the catalog (tests): the next lookup reads built-ins and $GRIDML_MODEL_SPECS."""
    global _specs
    with _lock:
        _specs = None
