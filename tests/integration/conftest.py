"""A real Feast store (DuckDB offline, SQLite online, file registry) over the small zone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gridml.features.simulator.config import ZoneConfig
from gridml.features.simulator.generate import generate_zone
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


# --- the prediction service (tests/integration/test_serving*.py) ------------------------------


@pytest.fixture(scope="session")
def serving_ws(medium_zone: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Medium zone -> features -> Feast (online store loaded) -> the three small models."""
    import shutil

    from gridml.training.demand.config import DemandConfig
    from gridml.training.demand.pipeline import train_demand
    from gridml.training.maintenance.pipeline import MaintenanceRunConfig, train_maintenance
    from gridml.training.theft.pipeline import TheftRunConfig, train_theft

    ws = Workspace(tmp_path_factory.mktemp("serving"))
    shutil.copytree(medium_zone.feeds, ws.feeds)
    shutil.copytree(medium_zone.labels, ws.labels)
    build_tables(ws, progress=False)
    repo.apply_definitions(ws)
    repo.materialize(ws)
    with pytest.MonkeyPatch.context() as mp:
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID"):
            mp.delenv(var, raising=False)
        exp = SMALL_ZONE.parent

        # the smoke configs, registered under the production names on purpose (serving binds
        # those names); by default they register as NAME-smoke
        def small(cls, name: str, production: str):
            return cls.read_yaml(exp / name, registered_model=production)

        train_demand(small(DemandConfig, "demand-small.yaml", "demand-forecast"), ws)
        train_maintenance(
            small(MaintenanceRunConfig, "maintenance-small.yaml", "asset-failure"), ws
        )
        train_theft(small(TheftRunConfig, "theft-small.yaml", "theft-detection"), ws)
    return ws


@pytest.fixture(scope="session")
def keys(serving_ws: Workspace) -> dict[str, str]:
    from gridml.serving.auth import create_key

    path = serving_ws.root / "api-keys.yaml"
    return {
        role: create_key(path, f"test-{role}", [role]) for role in ("reader", "ingest", "admin")
    }


@pytest.fixture(scope="module")
def served(serving_ws: Workspace, keys: dict[str, str], tmp_path_factory) -> Iterator:
    """The service running on the serving workspace (a `serving_server.Server`), one per test
    module so that no server outlives its tests (the workspace is built once per session)."""
    from serving_server import SERVING_CONFIG, running

    with running(serving_ws.root, tmp_path_factory.mktemp("server"), SERVING_CONFIG) as server:
        yield server


@pytest.fixture(scope="module")
def server(served) -> str:
    return served.url
