"""The medium zone with its feature tables and Feast store, and the maintenance data and models
trained on it once per session (a copy of the zone: the shared fixture stays read-only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from gridml.training.maintenance.config import MaintenanceConfig
from gridml.training.maintenance.dataset import (
    MaintenanceData,
    Scaler,
    load_maintenance_data,
    sequences,
)
from gridml.training.maintenance.models import SequenceModel, fit_sequence_model
from gridml.workspace import Workspace

# Small and fast: the medium zone has ~27 failures in 180 days.
FAST = MaintenanceConfig(
    window_days=14, hidden=16, epochs=8, batch_size=512, lr=5e-3, patience=3, seed=0
)


@dataclass
class Trained:
    cfg: MaintenanceConfig
    data: MaintenanceData
    scaler: Scaler
    x: dict[str, np.ndarray]
    rows: dict[str, pd.DataFrame]
    model: SequenceModel


@pytest.fixture(scope="session")
def maintenance_ws(medium_store: Workspace) -> Workspace:
    return medium_store


@pytest.fixture(scope="session")
def maintenance_data(maintenance_ws: Workspace) -> MaintenanceData:
    return load_maintenance_data(maintenance_ws, FAST)


@pytest.fixture(scope="session")
def trained(maintenance_data: MaintenanceData) -> Trained:
    data = maintenance_data
    scaler = Scaler.fit(data.cube, data.train_day_mask())
    rows = {name: data.part(name) for name in ("fit", "valid", "test")}
    x = {name: sequences(data, r, scaler, FAST.window_days) for name, r in rows.items()}
    model = fit_sequence_model(
        x["fit"], rows["fit"]["label"].to_numpy(), x["valid"], rows["valid"]["label"].to_numpy(),
        data.features, FAST,
    )  # fmt: skip
    return Trained(FAST, data, scaler, x, rows, model)
