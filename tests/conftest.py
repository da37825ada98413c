"""Shared fixtures: small synthetic zones generated once per test session.

`small_zone` is `experiments/zone-small.yaml` (60 meters, 70 days; under a second) and is what
most tests should use. `medium_zone` is the same zone scaled to 400 meters on 100 transformers
over 180 days with a high failure rate (a few seconds), for invariants that need statistical
power: energy balance, failure rates, load shapes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gridml.features.simulator.config import ZoneConfig
from gridml.features.simulator.generate import generate_zone
from gridml.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
SMALL_ZONE_YAML = ROOT / "experiments" / "zone-small.yaml"


@pytest.fixture(scope="session")
def small_zone_cfg() -> ZoneConfig:
    """The tiny test zone's configuration (experiments/zone-small.yaml)."""
    return ZoneConfig.read_yaml(SMALL_ZONE_YAML)


@pytest.fixture(scope="session")
def small_zone(small_zone_cfg: ZoneConfig, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace holding the generated small zone (feeds and labels). Treat it as read-only."""
    ws = Workspace(tmp_path_factory.mktemp("small_zone"))
    generate_zone(small_zone_cfg, ws, progress=False)
    return ws


@pytest.fixture(scope="session")
def medium_zone_cfg(small_zone_cfg: ZoneConfig) -> ZoneConfig:
    """The small zone scaled up: 400 meters on 100 transformers, 180 days, 50% failures/year."""
    raw = small_zone_cfg.model_dump()
    raw.update(name="medium-zone", meters=400, meters_per_transformer=4, days=180, chunk_meters=200)
    raw["assets"] = raw["assets"] | {"annual_failure_rate": 0.5}
    return ZoneConfig.model_validate(raw)


@pytest.fixture(scope="session")
def medium_zone(medium_zone_cfg: ZoneConfig, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A workspace holding the generated medium zone. Treat it as read-only."""
    ws = Workspace(tmp_path_factory.mktemp("medium_zone"))
    generate_zone(medium_zone_cfg, ws, progress=False)
    return ws


@pytest.fixture(scope="session")
def medium_store(medium_zone: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A copy of the medium zone (feeds and labels) with its feature tables and Feast store,
    built once for every test that trains on it. Tests may add runs and models to it."""
    import shutil

    from gridml.features.store import repo
    from gridml.features.tables.build import build_tables

    ws = Workspace(tmp_path_factory.mktemp("medium_store"))
    shutil.copytree(medium_zone.feeds, ws.feeds)
    shutil.copytree(medium_zone.labels, ws.labels)
    build_tables(ws, progress=False)
    repo.apply_definitions(ws)
    return ws
