"""Unplanned outages and meter events of the synthetic zone: the restoration model, last gasps
and restores of the meters under a dead node, their silence in the readings, load shedding apart,
and the ground truth kept out of the feeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.features.contracts import OUTAGE_LABELS
from gridml.features.simulator.config import MeterEventConfig, OutageConfig
from gridml.features.simulator.events import Dark, loss_share, merge_dark, transformer_events
from gridml.features.simulator.faults import restoration_hours

DRIVERS = {"night": False, "rain": False, "rural": False, "length_km": 5.0, "age": 5.0, "busy": 0}


def _medians(**change: object) -> tuple[float, float]:
    """Median restoration hours of 2,000 draws, baseline and with `change`."""
    cfg = OutageConfig()
    out = []
    for drivers in (DRIVERS, DRIVERS | change):
        rng = np.random.default_rng(0)
        draws = [restoration_hours(2.0, cfg=cfg, rng=rng, **drivers) for _ in range(2000)]
        out.append(float(np.median(draws)))
    return out[0], out[1]


@pytest.mark.parametrize(
    "change",
    [
        {"night": True},
        {"rain": True},
        {"rural": True},
        {"length_km": 40.0},
        {"age": 30.0},
        {"busy": 3},
    ],
    ids=lambda c: next(iter(c)),
)
def test_each_driver_lengthens_restoration(change: dict[str, object]) -> None:
    base, changed = _medians(**change)
    assert changed > 1.1 * base


def test_restoration_is_heavy_tailed() -> None:
    rng = np.random.default_rng(1)
    draws = np.array(
        [restoration_hours(2.0, cfg=OutageConfig(), rng=rng, **DRIVERS) for _ in range(4000)]
    )
    assert np.percentile(draws, 95) > 4 * np.median(draws)
    assert draws.mean() > 1.3 * np.median(draws)


def test_overlapping_dark_periods_merge_and_keep_who_started_them() -> None:
    merged = merge_dark(
        [Dark(10, 20, "b", 5), Dark(0, 15, "a", 3), Dark(30, 40, "c", 1), Dark(40, 50, "d", 1)]
    )
    assert merged == [Dark(0, 20, "a", 3), Dark(30, 50, "c", 1)]


def test_storms_lose_more_last_gasps() -> None:
    cfg = MeterEventConfig()
    assert loss_share(1, cfg) < loss_share(cfg.storm_meters // 2, cfg) < loss_share(10**6, cfg)
    assert loss_share(10**6, cfg) == pytest.approx(cfg.last_gasp_loss_storm)
    meters = np.array([f"M{i}" for i in range(2000)])
    sec = 10**9
    events, truth = transformer_events(
        meters,
        [Dark(100 * sec, 200 * sec, "X", 10**6)],
        (0, 10**6 * sec),
        cfg.model_copy(update={"single_meter_per_year": 0.0}),
        np.random.default_rng(0),
    )
    gasps = [e for e in events if e[2] == "power_down"]
    assert abs(len(gasps) / 2000 - (1 - cfg.last_gasp_loss_storm)) < 0.05
    assert truth == [("X", min(e[1] for e in gasps), len(gasps), 2000)]
    assert all(100 * sec <= e[1] < 200 * sec for e in gasps)
    assert all(e[1] >= 200 * sec for e in events if e[2] == "power_restore")


def test_labels_follow_their_contract_and_stay_out_of_the_feeds(small_data) -> None:
    labels = pd.read_parquet(small_data.ws.labels / "outages.parquet")
    OUTAGE_LABELS.validate(labels)
    assert not (small_data.ws.feeds / "outages").exists()
    assert set(small_data["meter_events"].columns) == {"meter_id", "timestamp", "kind"}


def test_gasps_come_from_the_meters_under_the_dead_node(medium_data) -> None:
    labels = pd.read_parquet(medium_data.ws.labels / "outages.parquet")
    assert set(labels["level"]) == {"transformer", "feeder", "substation"}
    grid = medium_data.meters_on_grid().merge(
        medium_data["transformers"][["transformer_id", "substation_id"]], on="transformer_id"
    )
    events = medium_data["meter_events"]
    gasps = events[events["kind"] == "power_down"]
    checked = 0
    column = {"transformer": "transformer_id", "feeder": "feeder_id", "substation": "substation_id"}
    for o in labels[labels["gasps"] > 0].itertuples():
        under = set(grid.loc[grid[column[o.level]] == o.node_id, "meter_id"])
        assert o.customers == len(under)
        near = gasps[
            (gasps["timestamp"] >= o.start)
            & (gasps["timestamp"] < o.start + pd.Timedelta(minutes=2))
        ]
        mine = near[near["meter_id"].isin(under)]
        assert len(mine) >= o.gasps > 0, o
        assert mine["timestamp"].min() == o.first_gasp
        checked += 1
    assert checked > 20
    # a realistic share of last gasps is lost: neither none nor most
    share = labels["gasps"].sum() / labels["meters_dark"].sum()
    assert 0.4 < share < 0.85


def test_meters_behind_a_dead_transformer_record_nothing(medium_data) -> None:
    labels = pd.read_parquet(medium_data.ws.labels / "outages.parquet")
    kwh = medium_data.matrix("readings", "kwh")
    meters = medium_data["meters"]
    checked = 0
    for o in labels[labels["level"] == "transformer"].itertuples():
        a = int(medium_data.hour_of(pd.Series([o.start.ceil("h")]))[0])
        b = min(medium_data.hours, int(medium_data.hour_of(pd.Series([o.end.floor("h")]))[0]))
        if b <= a:
            continue
        during = kwh[(meters["transformer_id"] == o.node_id).to_numpy(), a:b]
        assert np.nansum(during) == 0.0, o
        checked += 1
    assert checked > 5


def test_shedding_gasps_are_not_unplanned_outages(small_data) -> None:
    labels = pd.read_parquet(small_data.ws.labels / "outages.parquet")
    shed = small_data["interruptions"]
    shed = shed[shed["kind"] == "load_shedding"]
    gasps = small_data["meter_events"]
    gasps = gasps[gasps["kind"] == "power_down"]
    at_shed_start = gasps["timestamp"].dt.floor("h").isin(set(shed["start"]))
    assert at_shed_start.sum() > 100  # load shedding makes meters gasp too
    # no unplanned feeder outage overlaps its feeder's shedding (it would explain nothing)
    for o in labels[labels["level"] == "feeder"].itertuples():
        on = shed[shed["feeder_id"] == o.node_id]
        assert not ((on["start"] < o.end) & (o.start < on["end"])).any(), o
