"""A utility with meter readings only (no topology, weather or outage log) still gets a demand
model that beats the seasonal naive: its zone total, from the same pipeline."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gridml.features.store import repo
from gridml.features.tables.build import build_tables
from gridml.training.demand.backtest import run_backtest
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import load_demand_data
from gridml.workspace import Workspace

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_readings_only_zone_beats_the_seasonal_naive(
    learning_zone: Workspace, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path)
    shutil.copytree(learning_zone.feed_dir("readings"), ws.feed_dir("readings"))
    shutil.copy(learning_zone.zone_file, ws.zone_file)
    counts = build_tables(ws, progress=False)
    assert counts["weather_hourly"] == 0 and counts["load_hourly"] > 0
    repo.apply_definitions(ws)
    raw = DemandConfig.read_yaml(ROOT / "experiments" / "demand-small.yaml").model_dump()
    raw.update(
        levels=["zone"],
        history_days=150,
        train_sample=1.0,
        models=["seasonal_naive", "lightgbm"],
        backtest={"folds": 2, "fold_days": 7},
    )
    raw["lightgbm"].update(n_estimators=300)  # one series: more rounds than the tiny default
    cfg = DemandConfig.model_validate(raw)
    result = run_backtest(load_demand_data(ws, cfg), cfg)
    assert result.metric("lightgbm", "zone", "mase_vs_naive") < 1.0
