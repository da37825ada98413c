"""A copied or moved workspace is independent of the original.

MLflow's SQLite store (`WORKSPACE/mlflow.db`: experiments' artifact locations, runs' artifact
URIs, model versions' sources) and Feast's file registry (`WORKSPACE/feature_repo/registry.db`:
the Parquet sources of every feature view) hold absolute paths. A workspace records where it
lives in `WORKSPACE/workspace.json`; when it is opened somewhere else (`ensure_located`, called
when the Feast store is opened and when MLflow tracking is configured), the paths into the old
location are rewritten to the new one, once, under a file lock:

- in `mlflow.db`, every text value that holds the old root (as a path or a `file://` URI);
- the Feast registry is re-applied from the workspace's own feature tables.

`gridml workspace relocate [--from OLD]` does it explicitly (for a workspace copied before it
recorded its location). Stores outside the workspace (a tracking server, PostgreSQL, the cluster
profile's SQL registry) are not touched: they are shared, not copied. One workspace is opened
under one path: hosts that mount it at different paths would rewrite it back and forth (share
a tracking server and PostgreSQL instead).
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from gridml.workspace import Workspace

log = logging.getLogger(__name__)
LOCATION_FILE = "workspace.json"
MLFLOW_DB = "mlflow.db"
FEAST_REGISTRY = "registry.db"
# set while relocating: opening the Feast store to re-apply must not relocate again
_relocating: contextvars.ContextVar[bool] = contextvars.ContextVar("relocating", default=False)


@dataclass
class Relocation:
    old: Path | None
    new: Path
    mlflow_values: int = 0  # text values rewritten in mlflow.db
    feast_reapplied: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        return self.old is not None and self.old != self.new


def location_file(ws: Workspace) -> Path:
    """The file where the workspace records its location."""
    return ws.root / LOCATION_FILE


def recorded_root(ws: Workspace) -> Path | None:
    """Where the workspace was when it last recorded its location (None: never recorded)."""
    path = location_file(ws)
    if not path.is_file():
        return None
    try:
        return Path(json.loads(path.read_text())["root"])
    except (ValueError, KeyError, TypeError):
        log.warning("%s is unreadable: recording the current location", path)
        return None


def record_location(ws: Workspace) -> None:
    """Record the workspace's current root in its location file."""
    from gridml.io import write_json_atomic  # pandas: not at import time (fast CLI)

    ws.root.mkdir(parents=True, exist_ok=True)
    write_json_atomic({"root": str(ws.root)}, location_file(ws))


# where a plain absolute path may start: the value's start, after a quote, blank, `=`, `,`,
# bracket, or a URI scheme (`file://`, `sqlite:///`); never inside another path or URI
_PATH_START = r"(?:^|(?<=[\s\"'=,(\[])|(?<=://)|(?<=:///))"


def _needles(root: Path) -> list[str]:
    """LIKE patterns of the root as stored: a plain path, a `file://` URI (escaped)."""
    return sorted({f"%{root}%", f"%{root.as_uri()}%"})


def rewrite_value(value: str, old: Path, new: Path) -> str:
    """`value` with every path under `old`, plain or as a `file://` URI, moved under `new`
    (one pass, so a new location inside the old one is not rewritten twice)."""
    uri_old, uri_new = old.as_uri(), new.as_uri()
    plain = f"{_PATH_START}{re.escape(str(old))}"  # a path, not the middle of another one
    pattern = re.compile(f"{re.escape(uri_old)}(?=[/?#]|$)|{plain}(?=/|$)")
    return pattern.sub(lambda m: uri_new if m.group(0) == uri_old else str(new), value)


def rewrite_sqlite(db: Path, old: Path, new: Path) -> int:
    """Rewrite every text value holding `old` in every table of SQLite `db`; return the count.

    One transaction: all or nothing."""
    con = sqlite3.connect(db, timeout=60)
    count = 0
    try:
        con.execute("BEGIN IMMEDIATE")
        tables = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        needles = _needles(old)
        for table in tables:
            cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            for col in cols:
                where = " OR ".join(f'"{col}" LIKE ?' for _ in needles)
                rows = con.execute(
                    f'SELECT rowid, "{col}" FROM "{table}" WHERE typeof("{col}") = \'text\' '
                    f"AND ({where})",
                    needles,
                ).fetchall()
                for rowid, value in rows:
                    updated = rewrite_value(value, old, new)
                    if updated != value:
                        con.execute(
                            f'UPDATE "{table}" SET "{col}" = ? WHERE rowid = ?', (updated, rowid)
                        )
                        count += 1
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:
        con.close()
    return count


def relocate(ws: Workspace, old: Path | None = None) -> Relocation:
    """Point the workspace's stores at its current location (from `old`, default: the recorded
    location). Idempotent; records the new location last."""
    from gridml.io import file_lock

    with file_lock(ws.root / (LOCATION_FILE + ".lock")):
        old = old if old is not None else recorded_root(ws)
        result = Relocation(old, ws.root)
        if result.moved:
            assert old is not None
            db = ws.root / MLFLOW_DB
            if db.is_file():
                result.mlflow_values = rewrite_sqlite(db, old, ws.root)
            if (ws.feature_repo / FEAST_REGISTRY).is_file():
                from gridml.features.store import repo

                token = _relocating.set(True)
                try:
                    repo.apply_definitions(ws)
                finally:
                    _relocating.reset(token)
                result.feast_reapplied = True
            log.warning(
                "workspace moved from %s to %s: %d MLflow paths rewritten%s",
                old,
                ws.root,
                result.mlflow_values,
                ", Feast registry re-applied" if result.feast_reapplied else "",
            )
        if old != ws.root:
            record_location(ws)
    return result


def _same_folder(a: Path | None, b: Path) -> bool:
    """The same folder reached by another path (a bind mount, a symlinked parent)."""
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:  # the recorded place is gone: a copy or a move
        return False


def ensure_located(ws: Workspace) -> Relocation | None:
    """Relocate when the workspace was recorded elsewhere; record its location when it never was.
    Cheap when nothing moved (one small file read)."""
    if _relocating.get():
        return None
    recorded = recorded_root(ws)
    if recorded == ws.root or _same_folder(recorded, ws.root):
        return None
    if recorded is None and not ws.root.is_dir():
        return None  # nothing there yet: recorded when something is written
    return relocate(ws)
