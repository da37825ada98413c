"""The streaming detector on tiny hand-made grids: where it places an outage, how it widens,
closes, forgets lone gasps, keeps load shedding apart and counts customers."""

from __future__ import annotations

import pandas as pd
import pytest

from gridml.errors import ContractError
from gridml.outage.detector import Detector, DetectorConfig
from gridml.outage.replay import Inputs, run
from gridml.outage.topology import Schedule, Topology

T0 = pd.Timestamp("2024-03-01T10:00:00Z")
S = 10**9


def grid() -> tuple[pd.DataFrame, pd.DataFrame]:
    """S1 -> F1 (T1: M01-M04, T2: M05-M08), F2 (T3: M09-M12, T4: M13-M16); S2 -> F3 (T5)."""
    tr = pd.DataFrame(
        {
            "transformer_id": ["T1", "T2", "T3", "T4", "T5"],
            "feeder_id": ["F1", "F1", "F2", "F2", "F3"],
            "substation_id": ["S1", "S1", "S1", "S1", "S2"],
        }
    )
    meters = pd.DataFrame(
        {
            "meter_id": [f"M{i:02d}" for i in range(1, 21)],
            "transformer_id": [f"T{(i - 1) // 4 + 1}" for i in range(1, 21)],
            "segment": [
                "commercial" if i % 4 == 0 else "residential_prepaid" for i in range(1, 21)
            ],
        }
    )
    return meters, tr


def detector(shedding: list[tuple[str, pd.Timestamp, pd.Timestamp]] = ()) -> Detector:
    meters, tr = grid()
    topo = Topology.build(meters, tr)
    rows = pd.DataFrame(
        [(f, None, s, e, "load_shedding") for f, s, e in shedding],
        columns=["feeder_id", "transformer_id", "start", "end", "kind"],
    )
    return Detector(topo, Schedule.build(rows, topo), DetectorConfig())


def at(seconds: float) -> int:
    return T0.value + int(seconds * S)


def node(det: Detector, out) -> tuple[str, str]:
    row = det.describe(out)
    return str(row["level"]), str(row["node_id"])


def test_two_gasps_of_one_transformer_raise_it_and_a_restore_closes_it() -> None:
    det = detector()
    assert det.feed("M01", at(0), "power_down") is None  # one gasp: a customer's own breaker?
    out = det.feed("M03", at(2), "power_down")
    assert out is not None and node(det, out) == ("transformer", "T1")
    assert det.describe(out)["customers"] == 4
    assert out.start == at(0) and out.detected_at == at(2)
    closed = det.feed("M02", at(3600), "power_restore")  # a meter that never gasped
    assert closed is out and out.end == at(3600)
    assert det.open == {} and det.down == {}


def test_gasps_on_a_second_transformer_widen_the_outage_to_the_feeder() -> None:
    det = detector()
    det.feed("M01", at(0), "power_down")
    first = det.feed("M02", at(1), "power_down")
    assert first is not None and node(det, first) == ("transformer", "T1")
    widened = det.feed("M07", at(5), "power_down")
    assert widened is first  # the same outage, its scope widened
    assert node(det, widened) == ("feeder", "F1") and widened.widened == 1
    assert det.describe(widened)["first_node_id"] == "T1"
    assert det.describe(widened)["customers"] == 8
    assert det.customers(widened) == {"residential_prepaid": 6, "commercial": 2}


def test_both_feeders_of_a_substation_make_it_the_substation() -> None:
    det = detector()
    for i, m in enumerate(["M01", "M05", "M09", "M14"]):
        det.feed(m, at(i), "power_down")
    ((_key, out),) = det.open.items()
    assert node(det, out) == ("substation", "S1")
    assert det.describe(out)["customers"] == 16  # not S2's meters
    # one restore anywhere under it closes it
    assert det.feed("M16", at(900), "power_restore") is out
    assert det.finish()[0].end == at(900)


def test_a_feeder_with_one_transformer_is_never_raised_above_it() -> None:
    det = detector()
    det.feed("M17", at(0), "power_down")
    out = det.feed("M20", at(1), "power_down")
    assert out is not None and node(det, out) == ("transformer", "T5")


def test_lone_gasps_are_forgotten_after_the_evidence_window() -> None:
    det = detector()
    det.feed("M01", at(0), "power_down")  # its restore was lost
    ttl = DetectorConfig().evidence_ttl_s
    assert det.feed("M02", at(ttl + 60), "power_down") is None  # too late to go with M01
    assert set(det.down) == {det.topo.meter_row["M02"]}
    det.feed("M02", at(ttl + 600), "power_restore")
    assert det.down == {} and det.finish() == []


def test_load_shedding_gasps_are_never_an_unplanned_outage() -> None:
    start, end = T0, T0 + pd.Timedelta(hours=2)
    det = detector([("F1", start, end)])
    for i, m in enumerate([f"M{k:02d}" for k in range(1, 9)]):
        det.feed(m, at(i), "power_down")
    assert det.open == {}
    det.feed("M01", at(7200 + 5), "power_restore")
    (shed,) = det.finish()
    assert shed.kind == "load_shedding" and node(det, shed) == ("feeder", "F1")
    assert det.describe(shed)["cause"] == "load_shedding"
    # the same gasps right after the block are an outage
    det.feed("M01", at(7200 + 60), "power_down")
    out = det.feed("M02", at(7200 + 61), "power_down")
    assert out is not None and out.kind == "unplanned"


def test_a_shedding_block_whose_restores_were_lost_ends_with_its_schedule() -> None:
    hour = pd.Timedelta(hours=1)
    det = detector([("F1", T0, T0 + 2 * hour), ("F1", T0 + 6 * hour, T0 + 8 * hour)])
    det.feed("M01", at(1), "power_down")
    det.feed("M02", at(6 * 3600 + 1), "power_down")  # the next block; no restore in between
    first, second = det.finish()
    assert (first.start, first.end) == (at(1), at(2 * 3600))
    assert second.start == at(6 * 3600 + 1) and second.end is None


def test_an_old_outage_below_stays_apart_from_a_new_one() -> None:
    det = detector()
    det.feed("M01", at(0), "power_down")
    old = det.feed("M02", at(1), "power_down")  # T1 fails, waits days for a spare
    assert old is not None
    day = 86_400
    det.feed("M05", at(day), "power_down")
    new = det.feed("M06", at(day + 1), "power_down")
    # T1's meters are dark for their own reason: they do not make F1 out
    assert new is not None and new is not old and node(det, new) == ("transformer", "T2")
    det.feed("M05", at(day + 3600), "power_restore")
    assert new.end == at(day + 3600) and old.end is None
    assert node(det, old) == ("transformer", "T1")


def test_the_live_streams_last_gasp_is_a_power_down() -> None:
    det = detector()
    det.feed("M01", at(0), "last_gasp")
    assert det.feed("M02", at(1), "last_gasp") is not None


def test_unknown_meters_and_tamper_alarms_are_ignored() -> None:
    det = detector()
    assert det.feed("M99", at(0), "power_down") is None
    assert det.feed("M01", at(1), "tamper") is None
    assert det.down == {}


def test_replay_sorts_events_and_writes_one_row_per_outage() -> None:
    meters, tr = grid()
    topo = Topology.build(meters, tr)
    events = pd.DataFrame(
        {
            "meter_id": ["M02", "M01", "M03"],
            "timestamp": pd.to_datetime([at(2), at(0), at(1800)], utc=True),
            "kind": ["power_down", "power_down", "power_restore"],
        }
    ).sort_values("timestamp")
    out = run(Inputs(topo, Schedule.build(None, topo), events))
    assert len(out) == 1
    row = out.iloc[0]
    assert (row["level"], row["node_id"], row["customers"]) == ("transformer", "T1", 4)
    assert row["customers_commercial"] == 1 and row["customers_residential_prepaid"] == 3
    assert row["start"] == T0 and row["end"] == T0 + pd.Timedelta(minutes=30)


def test_a_meter_on_an_unknown_transformer_is_a_clear_error() -> None:
    meters, tr = grid()
    meters.loc[3, "transformer_id"] = "T9"
    with pytest.raises(ContractError, match="meter M04 on T9"):
        Topology.build(meters, tr)
