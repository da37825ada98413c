"""Load series add up through the hierarchy, skip interrupted hours, and lag without look-ahead."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridml.features.tables.build import build_tables
from gridml.io import read_parts
from gridml.workspace import Workspace


@pytest.fixture(scope="module")
def tables(
    small_zone: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, pd.DataFrame]:
    ws = Workspace(tmp_path_factory.mktemp("load-tables"))
    shutil.copytree(small_zone.feeds, ws.feeds)  # the shared zone stays read-only
    build_tables(ws, progress=False)
    names = ("load_hourly", "load_week_profile", "series_profile", "meter_hourly")
    return {n: read_parts(ws.table_dir(n)) for n in names}


def _wide(load: pd.DataFrame, column: str = "load_kwh") -> pd.DataFrame:
    return load.pivot(index="event_timestamp", columns="series_id", values=column)


def test_parents_are_the_sum_of_their_children(tables: dict[str, pd.DataFrame]) -> None:
    wide = _wide(tables["load_hourly"])
    profile = tables["series_profile"].set_index("series_id")
    for level in ("feeder", "substation", "zone"):
        for parent in profile.index[profile["level"] == level]:
            children = profile.index[profile["parent_id"] == parent]
            total = wide[children].sum(axis=1, min_count=len(children))
            both = total.notna() & wide[parent].notna()
            assert both.sum() > 100
            np.testing.assert_allclose(wide.loc[both, parent], total[both], rtol=1e-9)


def test_zone_load_is_the_sum_of_its_meters(tables: dict[str, pd.DataFrame]) -> None:
    meters = tables["meter_hourly"].groupby("event_timestamp")["kwh"].agg(["sum", "count"])
    zone = _wide(tables["load_hourly"])["zone:all"]
    n = tables["series_profile"].set_index("series_id").at["zone:all", "meters"]
    full = meters["count"] == n  # hours where every meter reported
    np.testing.assert_allclose(zone[full.index[full]], meters.loc[full, "sum"], rtol=1e-9)


def test_week_profile_lags_are_past_uninterrupted_loads(tables: dict[str, pd.DataFrame]) -> None:
    load = tables["load_hourly"]
    free = load["load_kwh"].where(load["interrupted_share"] == 0)
    # load_hourly rows are stamped at the end of their hour: the hour starting k hours before
    # midnight is stamped k - 1 hours before it
    wide = load.assign(free=free).pivot(index="event_timestamp", columns="series_id", values="free")
    profile = tables["load_week_profile"].set_index(["series_id", "event_timestamp"])
    checked = 0
    for (series, midnight), row in profile.sample(40, random_state=0).iterrows():
        for k in (1, 24, 168):
            stamp = midnight - pd.Timedelta(hours=k - 1)
            want = wide[series].get(stamp, np.nan)
            got = row[f"load_{k:03d}h_ago"]
            assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want)
            checked += not np.isnan(got)
    assert checked > 50


def test_interrupted_hours_are_not_learned_as_low_demand(tables: dict[str, pd.DataFrame]) -> None:
    load = tables["load_hourly"]
    out = load[load["interrupted_share"] == 1.0]
    assert len(out) > 0 and (out["load_kwh"] == 0).all()  # nothing served...
    profile = tables["load_week_profile"]
    lags = profile.filter(like="_ago").to_numpy()
    assert np.nanmin(lags) > 0  # ...and no zero (unserved) hour enters the lags


def test_meters_can_be_series_of_their_own_without_double_counting(
    small_zone: Workspace, tmp_path: Path, tables: dict[str, pd.DataFrame]
) -> None:
    ws = Workspace(tmp_path)
    shutil.copytree(small_zone.feeds, ws.feeds)
    build_tables(ws, progress=False, meter_series=("M000001", "M000007"))
    load = read_parts(ws.table_dir("load_hourly"))
    profile = read_parts(ws.table_dir("series_profile")).set_index("series_id")
    assert profile.loc["meter:M000001", "level"] == "meter"
    assert profile.loc["meter:M000001", "parent_id"].startswith("transformer:")
    meter = tables["meter_hourly"]
    own = meter[meter["meter_id"] == "M000001"].set_index("event_timestamp")["kwh"]
    series = load[load["series_id"] == "meter:M000001"].set_index("event_timestamp")["load_kwh"]
    both = own.index.intersection(series.index)
    np.testing.assert_allclose(series[both], own[both])
    # the transformer and zone totals are the same as without meter series
    before = _wide(tables["load_hourly"])
    after = _wide(load)
    for sid in ("zone:all", profile.loc["meter:M000001", "parent_id"]):
        np.testing.assert_allclose(after[sid], before[sid])
