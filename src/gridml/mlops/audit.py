"""Audit trail of promotions and rollbacks: who, when, from which version to which, and the
verdict of every gate.

Three records of each decision:
- an append-only JSON-lines log in the workspace (`WORKSPACE/audit/promotions.jsonl`), one
  line per decision, appended under an exclusive file lock and flushed to disk;
- tags on the registered version (`gridml.promotion.*`);
- a JSON artifact in the version's training run (`audit/<time>-<action>-v<N>.json`).
"""

from __future__ import annotations

import getpass
import json
import math
import os
import socket
from pathlib import Path
from typing import Any

import pandas as pd

from gridml.io import file_lock
from gridml.workspace import Workspace

AUDIT_FILE = "promotions.jsonl"


def audit_path(ws: Workspace, path: Path | None = None) -> Path:
    """The audit log: `path` when configured, else WORKSPACE/audit/promotions.jsonl."""
    return path if path is not None else ws.root / "audit" / AUDIT_FILE


def who() -> str:
    """The person (or scheduler) acting: $GRIDML_USER, else the login name."""
    user = os.environ.get("GRIDML_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers)
        return "unknown"


def plain(value: Any) -> Any:
    """JSON-safe: NaN and infinities as null, numpy scalars as Python numbers (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def entry(
    action: str,
    model: str,
    outcome: str,
    from_version: int | None,
    to_version: int | None,
    gates: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One audit record (JSON-ready)."""
    return plain(
        {
            "time": pd.Timestamp.now(tz="UTC").isoformat(),
            "user": who(),
            "host": socket.gethostname(),
            "action": action,
            "model": model,
            "outcome": outcome,
            "from_version": from_version,
            "to_version": to_version,
            "gates": gates or [],
            **extra,
        }
    )


def append(ws: Workspace, record: dict[str, Any], path: Path | None = None) -> None:
    """Append one line to the audit log, under a lock, flushed and fsynced."""
    path = audit_path(ws, path)
    line = json.dumps(record, sort_keys=True, default=str, allow_nan=False)
    with file_lock(path.with_name(path.name + ".lock")), open(path, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def read(ws: Workspace, model: str | None = None, path: Path | None = None) -> list[dict[str, Any]]:
    """The audit records of promotion decisions (of one model, when given), oldest first."""
    path = audit_path(ws, path)
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if model is None or r["model"] == model]


def record_in_mlflow(record: dict[str, Any], run_id: str | None, tag_version: bool = True) -> None:
    """Tags on the version the decision is about (unless `tag_version` is False) and the record
    as a JSON artifact of its training run."""
    from mlflow import MlflowClient

    client = MlflowClient()
    name, version = record["model"], record["to_version"]
    if version is None:
        return
    prefix = f"gridml.{record['action']}"
    tags = {
        f"{prefix}.outcome": record["outcome"],
        f"{prefix}.time": record["time"],
        f"{prefix}.user": record["user"],
        f"{prefix}.from_version": str(record["from_version"]),
        f"{prefix}.gates": ", ".join(
            f"{gt['gate']}={'pass' if gt['passed'] else 'FAIL'}" for gt in record["gates"]
        )[:4000],
    }
    if tag_version:
        for key, value in tags.items():
            client.set_model_version_tag(name, str(version), key, value)
    if run_id:
        stamp = record["time"].replace(":", "").replace("+0000", "Z")
        client.log_text(
            run_id,
            json.dumps(record, indent=2, sort_keys=True, default=str),
            f"audit/{stamp}-{record['action']}-v{version}.json",
        )
