"""Relocating a workspace's SQLite store: every path under the old root, plain or as a file URI,
moves under the new root; nothing else changes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gridml.relocate import ensure_located, recorded_root, rewrite_sqlite, rewrite_value
from gridml.workspace import Workspace

OLD, NEW = Path("/data/ws"), Path("/srv/new place/ws")


def test_rewrite_value_moves_paths_and_uris_under_the_root_only() -> None:
    assert rewrite_value("file:///data/ws/mlartifacts/1", OLD, NEW) == (
        "file:///srv/new%20place/ws/mlartifacts/1"
    )
    assert (
        rewrite_value("/data/ws/mlartifacts/1/a", OLD, NEW) == "/srv/new place/ws/mlartifacts/1/a"
    )
    assert rewrite_value("sqlite:////data/ws/mlflow.db", OLD, NEW) == (
        "sqlite:////srv/new place/ws/mlflow.db"
    )
    assert rewrite_value("/data/ws2/x", OLD, NEW) == "/data/ws2/x"  # another folder
    assert rewrite_value("s3://b/data/ws/x", OLD, NEW) == "s3://b/data/ws/x"  # not a local path
    assert rewrite_value("models:/m-1234", OLD, NEW) == "models:/m-1234"
    inside = Path("/data/ws/copy")  # a new location inside the old one: rewritten once
    assert rewrite_value("/data/ws/a", OLD, inside) == "/data/ws/copy/a"


def test_rewrite_sqlite_touches_text_under_the_old_root(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE runs (id INTEGER, artifact_uri TEXT, note TEXT, value REAL)")
    con.executemany(
        "INSERT INTO runs VALUES (?, ?, ?, ?)",
        [
            (1, "file:///data/ws/mlartifacts/1/r1/artifacts", "keep", 1.5),
            (2, "s3://bucket/data/ws/x", "/data/ws/y", 2.0),
            (3, None, "/data/wsx", 3.0),
        ],
    )
    con.commit()
    con.close()
    assert rewrite_sqlite(db, OLD, NEW) == 2
    rows = sqlite3.connect(db).execute("SELECT * FROM runs ORDER BY id").fetchall()
    assert rows == [
        (1, "file:///srv/new%20place/ws/mlartifacts/1/r1/artifacts", "keep", 1.5),
        (2, "s3://bucket/data/ws/x", "/srv/new place/ws/y", 2.0),
        (3, None, "/data/wsx", 3.0),
    ]
    assert rewrite_sqlite(db, OLD, NEW) == 0  # idempotent


def test_a_workspace_records_its_location_and_a_copy_notices(tmp_path: Path) -> None:
    import shutil

    ws = Workspace(tmp_path / "a")
    ws.root.mkdir()
    assert ensure_located(ws) is not None and recorded_root(ws) == ws.root
    assert ensure_located(ws) is None  # nothing moved: nothing to do
    copy = Workspace(tmp_path / "b")
    shutil.copytree(ws.root, copy.root)
    result = ensure_located(copy)
    assert result is not None and result.moved and result.old == ws.root
    assert recorded_root(copy) == copy.root and recorded_root(ws) == ws.root


def test_the_same_folder_under_another_path_is_not_a_move(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "a")
    ws.root.mkdir()
    ensure_located(ws)
    (tmp_path / "link").symlink_to(ws.root)
    assert ensure_located(Workspace(tmp_path / "link")) is None
    assert recorded_root(ws) == ws.root
