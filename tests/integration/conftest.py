"""A real Feast store (DuckDB offline, SQLite online, file registry) over the small zone."""

from __future__ import annotations

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
