"""Atomic file and folder writes, and reading feeds/tables stored as folders of Parquet parts.

A writer never leaves a half-written store: files are written beside their target and renamed
into place; multi-part folders are built in a staging folder and swapped in whole. A write that
is acknowledged to someone (a landed batch of readings) is also durable (`durable=True`): the
file and then its folder are fsynced, so a power cut after the answer cannot lose it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock across processes, held for the block (POSIX flock; a no-op
    where fcntl is missing). The lock file is created beside what it guards."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in `folder` durable (a no-op where folders cannot be
    opened, as on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_parquet_atomic(df: pd.DataFrame, path: Path, durable: bool = False) -> None:
    """Write `df` to `path` so that readers see the old file or the new one, never a part.
    `durable`: fsync the file before the rename and the folder after it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
        if durable:
            with open(tmp, "wb") as handle:
                pq.write_table(table, handle)
                handle.flush()
                os.fsync(handle.fileno())
        else:
            pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        fsync_dir(path.parent)


def write_json_atomic(obj: Any, path: Path) -> None:
    """Write `obj` as JSON to `path` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces `final`, on error it is removed.

    The swap is two renames on the same file system; `final` is never partly written.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.with_name(f".{final.name}.staging-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def part_path(folder: Path, index: int) -> Path:
    """The path of Parquet part number `index` in a folder."""
    return folder / f"part-{index:05d}.parquet"


def parts(folder: Path) -> list[Path]:
    """The Parquet parts of a feed or table folder, in order (empty if absent)."""
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


def read_parts(
    folder: Path, columns: list[str] | None = None, filter_expr: ds.Expression | None = None
) -> pd.DataFrame | None:
    """Read all parts of a folder into one frame; None when the folder holds none."""
    files = parts(folder)
    if not files:
        return None
    table = ds.dataset([str(f) for f in files], format="parquet").to_table(
        columns=columns, filter=filter_expr
    )
    return table.to_pandas()


def glob_of(folder: Path) -> str:
    """The glob DuckDB and Feast read a multi-part folder with."""
    return str(folder / "part-*.parquet")
