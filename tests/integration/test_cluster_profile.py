"""The scale path is real: the same definitions on Redis (online) and PostgreSQL (registry).

Runs where those servers listen on localhost (CI does); skipped elsewhere, since the embedded
defaults never need them.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from gridml.features.store import repo
from gridml.workspace import Workspace

pytestmark = pytest.mark.integration
CLUSTER = repo.REPO_DIR / "feature_store.cluster.yaml"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def cluster_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    if not (_listening(6379) and _listening(5432)):
        pytest.skip("Redis and PostgreSQL are not running on localhost")
    monkeypatch.setenv("GRIDML_REDIS", "127.0.0.1:6379,db=3")
    monkeypatch.setenv("GRIDML_PG_USER", "postgres")
    monkeypatch.setenv("GRIDML_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("GRIDML_PG_DB", "postgres")
    # a project of its own, so parallel runs and real deployments are not touched
    config = tmp_path / "feature_store.yaml"
    project = f"gridml_test_{os.getpid()}"
    config.write_text(CLUSTER.read_text().replace("project: gridml", f"project: {project}"))
    return config


def test_cluster_profile_applies_materializes_and_serves(
    store_ws: Workspace, cluster_env: Path
) -> None:
    store = repo.open_store(store_ws, cluster_env)
    try:
        repo.apply_definitions(store_ws, cluster_env)
        repo.materialize(store_ws, cluster_env)
        redis_frame = repo.online_sample(store_ws, cluster_env, "asset_failure_v1", ["T00002"])
        sqlite_frame = repo.online_sample(store_ws, None, "asset_failure_v1", ["T00002"])
        for column in ("hot_spot_max_c", "loading_pct_mean", "loss_ratio_28d"):
            assert redis_frame[column].iloc[0] == pytest.approx(sqlite_frame[column].iloc[0])
    finally:
        store.teardown()
