"""The MLflow Project runs as the README documents, from another directory, and records into
the workspace's MLflow store (not a ./mlflow.db or ./mlruns of the current directory)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_features_entry_point_from_another_directory(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # a user's shell: no MLflow run or experiment state exported by earlier tests in this process
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{ws / 'mlflow.db'}"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    ws.mkdir()
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "run",
            str(ROOT / "mlproject"),
            "-e",
            "features",
            "--env-manager",
            "local",
            "-P",
            "zone=experiments/zone-small.yaml",  # resolved against the project by gridml
            "-P",
            f"workspace={ws}",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert list(elsewhere.iterdir()) == []  # no mlflow.db, no mlruns where it was started
    assert (ws / "feeds" / "zone.json").is_file() and (ws / "offline").is_dir()
    with sqlite3.connect(ws / "mlflow.db") as db:
        (status,) = db.execute("SELECT status FROM runs").fetchone()
    assert status == "FINISHED"
