"""The streaming features' one definition (features/tables/liveness.py): the last meter event,
and the transformer energy balance computed from long frames (the stream) and from hourly
matrices (the feature build) alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.features.tables import liveness
from gridml.features.tables.timegrid import Grid, to_matrix

T0 = pd.Timestamp("2024-03-01T00:00:00Z")
HOUR = pd.Timedelta(hours=1)


def test_the_last_event_of_each_meter() -> None:
    events = pd.DataFrame(
        {
            "meter_id": ["M1", "M1", "M1", "M2", "M2", "M2"],
            "timestamp": [
                T0,
                T0 + pd.Timedelta(minutes=7),
                T0 + pd.Timedelta(minutes=7),
                T0,
                T0,
                T0 - pd.Timedelta(hours=1),
            ],
            "kind": [
                "last_gasp",
                "power_restore",
                "power_restore",
                "tamper",
                "last_gasp",
                "power_restore",
            ],
        }
    )
    rows = liveness.event_rows(events)
    assert len(rows) == 4  # the exact repeat and the tie at one instant are one row each
    last = liveness.newest_per_meter(rows).set_index("meter_id")
    assert last.loc["M1", "last_event_kind"] == "power_restore"
    assert last.loc["M1", "last_event_unix_s"] == (T0 + pd.Timedelta(minutes=7)).timestamp()
    assert last.loc["M2", "last_event_kind"] == "tamper"  # a tie: the latest in EVENT_ORDER
    assert set(rows["last_event_kind"]) == {"power_down", "power_restore", "tamper"}
    assert liveness.event_rows(events.iloc[0:0]).empty


def test_the_energy_balance_is_the_same_from_frames_and_from_matrices() -> None:
    rng = np.random.default_rng(7)
    grid = Grid(T0, 1, "UTC")
    topo = pd.Series({"M1": "T1", "M2": "T1", "M3": "T2", "M4": "T2", "M5": "T3"})
    hours = grid.hour_index()
    readings = pd.DataFrame(
        [(m, h, round(float(rng.uniform(0, 2)), 3)) for m in topo.index for h in hours],
        columns=["meter_id", "timestamp", "kwh"],
    ).sample(frac=0.7, random_state=1)  # some meters unheard in some hours
    units = pd.Index(["T1", "T2", "T3"])
    telemetry = pd.DataFrame(
        [(t, h, float(rng.uniform(1, 6))) for t in units for h in hours],
        columns=["transformer_id", "timestamp", "energy_kwh"],
    ).sample(frac=0.8, random_state=2)  # some hours without telemetry
    telemetry.loc[telemetry.index[0], "energy_kwh"] = 0.0  # no share without energy
    frames = liveness.energy_balance(telemetry, readings, topo)

    meters = pd.Index(topo.index)
    kwh = to_matrix(readings, "meter_id", "kwh", meters, grid)
    rows = units.get_indexer(topo.reindex(meters))
    heard = liveness.heard_counts(~np.isnan(kwh), rows, len(units))
    sums = liveness.heard_counts(np.nan_to_num(kwh), rows, len(units))
    energy = to_matrix(telemetry, "transformer_id", "energy_kwh", units, grid)
    matrices = liveness.balance_table(units, energy, sums, heard, hours + pd.Timedelta(hours=1))

    key = ["transformer_id", "event_timestamp"]
    a = frames.sort_values(key, ignore_index=True)
    b = matrices.sort_values(key, ignore_index=True)
    assert len(a) == len(telemetry)
    pd.testing.assert_frame_equal(a, b[a.columns], check_dtype=False)
    one = a.iloc[3]
    assert one["unexplained_share"] == pytest.approx(
        (one["energy_kwh"] - one["meters_kwh"]) / one["energy_kwh"]
    )
    assert a["unexplained_share"].isna().sum() == 1
