"""Typed configuration: every config is a pydantic model loaded from `experiments/*.yaml`.

Unknown keys and impossible values fail fast, naming the file and the field, before any work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from gridml.errors import UserError

# The repository a development (editable) install runs from: `experiments/...` resolves against
# it from any directory. In an installed wheel this folder holds no experiments/ and nothing
# changes.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def resolve_config_path(path: str | Path) -> Path:
    """`path` itself when it is a file or absolute; else the project's file of that relative
    path when there is one (`experiments/demand.yaml` from any directory); else `path`."""
    given = Path(path)
    if given.is_file() or given.is_absolute():
        return given
    in_project = PROJECT_ROOT / given
    return in_project if in_project.is_file() else given


class ConfigError(UserError, ValueError):
    """A configuration file that cannot be used; the message names the file and the field."""


class BaseConfig(BaseModel):
    """Base of every gridml config: frozen, no unknown keys, YAML round-trip."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    @classmethod
    def read_yaml(cls, path: str | Path, **overrides: object) -> Self:
        """Load and validate a YAML file; `overrides` replace top-level fields (CLI flags).

        A relative path missing from the current directory is looked up in the project
        (`resolve_config_path`), so `experiments/*.yaml` work from any directory."""
        path = resolve_config_path(path)
        if not path.is_file():
            raise ConfigError(
                f"{path}: config file not found (looked in {Path.cwd()} and {PROJECT_ROOT})"
            )
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        raw.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise ConfigError(f"{path}: {format_validation_error(exc)}") from exc

    def write_yaml(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))


def format_validation_error(exc: ValidationError) -> str:
    """One line per bad field: `field.path: message (got value)`."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        got = err.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{where}: {err['msg']}{shown}")
    return "; ".join(lines)
