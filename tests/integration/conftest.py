"""A real Feast store (DuckDB offline, SQLite online, file registry) over the small zone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gridml.features.feeds.config import ZoneConfig
from gridml.features.feeds.generate import generate_zone
from gridml.features.store import repo
from gridml.features.tables.build import build_tables
from gridml.workspace import Workspace

SMALL_ZONE = Path(__file__).resolve().parents[2] / "experiments" / "zone-small.yaml"


@pytest.fixture(scope="session")
def store_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Small zone generated, feature tables built, definitions applied, online store loaded."""
    ws = Workspace(tmp_path_factory.mktemp("store-ws"))
    generate_zone(ZoneConfig.read_yaml(SMALL_ZONE), ws, progress=False)
    build_tables(ws, progress=False)
    repo.apply_definitions(ws)
    repo.materialize(ws)
    return ws


@pytest.fixture
def clean_mlflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MLflow variables unset during the test; MLflow's global state cleared afterwards."""
    import mlflow

    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
