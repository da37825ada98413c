"""Issue-time inputs read through the real Feast store: the latest hour known at the issue
time, never a later one (no leakage), and the origin's own row for a forecast issued at midnight."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import issue_times, load_demand_data
from gridml.workspace import Workspace

pytestmark = pytest.mark.integration
SMALL = Path(__file__).resolve().parents[2] / "experiments" / "demand-small.yaml"
HOUR = pd.Timedelta(hours=1)


def _config(time: str, start_days: int = 1) -> DemandConfig:
    raw = DemandConfig.read_yaml(SMALL).model_dump()
    raw |= {"horizon_hours": 48, "issue": {"time": time, "delivery_start_days": start_days}}
    return DemandConfig.model_validate(raw)


def _actual(data, series: pd.Series, start: pd.Series) -> np.ndarray:
    a = data.actuals.set_index(["series_id", "target_time"])["y"]
    return a.reindex(pd.MultiIndex.from_arrays([series, start])).to_numpy()


def test_issue_inputs_are_the_last_hour_before_the_issue_time(store_ws: Workspace) -> None:
    cfg = _config("10:00")
    data = load_demand_data(store_ws, cfg)
    o = data.origins.dropna(subset=["issue_load_kwh"])
    assert len(o) > 0.9 * len(data.origins)  # read for (nearly) every series and origin
    issue = issue_times(o["origin"], cfg, data.timezone)
    assert ((issue - o["origin"]) / HOUR == 10).all()  # Abidjan: UTC, no DST
    # the hour that ended at the issue time (09:00-10:00), not the one after it
    last = _actual(data, o["series_id"], issue - HOUR)
    np.testing.assert_allclose(o["issue_load_kwh"], last)
    later = _actual(data, o["series_id"], issue)
    assert not np.allclose(o["issue_load_kwh"], later, equal_nan=True)
    day = _actual(data, o["series_id"], issue - 25 * HOUR)
    week = _actual(data, o["series_id"], issue - 169 * HOUR)
    np.testing.assert_allclose(o["issue_load_lag_24h"], day)
    np.testing.assert_allclose(o["issue_load_lag_168h"], week)


def test_issued_at_midnight_reads_the_origin_row(store_ws: Workspace) -> None:
    data = load_demand_data(store_ws, _config("00:00", start_days=0))
    o = data.origins.dropna(subset=["issue_load_kwh"])
    np.testing.assert_allclose(o["issue_load_mean_24h"], o["load_mean_24h"])
    np.testing.assert_allclose(o["issue_load_kwh"], o["load_kwh"])
