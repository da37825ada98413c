"""A zone large enough to learn from (half a year, holidays, heat), with its Feast store."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridml.features.simulator.config import ZoneConfig
from gridml.features.simulator.generate import generate_zone
from gridml.features.store import repo
from gridml.features.tables.build import build_tables
from gridml.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def learning_zone(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    cfg = ZoneConfig.read_yaml(ROOT / "experiments" / "zone-small.yaml").model_copy(
        update={
            "name": "learning-zone",
            "meters": 240,
            "meters_per_transformer": 12,
            "days": 200,
            "chunk_meters": 240,
        }
    )
    ws = Workspace(tmp_path_factory.mktemp("learning-zone"))
    generate_zone(ZoneConfig.model_validate(cfg.model_dump()), ws, progress=False)
    build_tables(ws, progress=False)
    repo.apply_definitions(ws)
    return ws
