"""The import contracts over a batch of messages: bad messages rejected whole with reasons
numbered within the message; sub-hourly readings summed into complete hours."""

from __future__ import annotations

import pandas as pd
import pytest

from gridml.stream.checks import MSG, Window, check_batch
from gridml.stream.config import BatchConfig, StreamConfig

KNOWN = {"M1", "M2", "M3"}
NOW = pd.Timestamp("2024-02-01T00:00:00Z")
WINDOW = Window(NOW, pd.Timedelta(minutes=15))


def batch(*messages: tuple[int, list[tuple[str, str, object]]]) -> tuple[pd.DataFrame, pd.Series]:
    rows, minutes = [], []
    for msg, (interval, records) in enumerate(messages):
        for m, t, k in records:
            rows.append({"meter_id": m, "timestamp": t, "kwh": k, MSG: msg})
            minutes.append(float(interval))
    return pd.DataFrame(rows), pd.Series(minutes)


def test_good_messages_pass_and_quarter_hours_are_summed() -> None:
    quarter = [("M2", f"2024-01-01T03:{m:02d}:00Z", 0.25) for m in (0, 15, 30, 45)]
    raw, minutes = batch((60, [("M1", "2024-01-01T00:00:00Z", 1.0)]), (15, quarter))
    checked = check_batch("readings", raw, minutes, KNOWN, WINDOW)
    assert checked.rejected == {}
    got = checked.valid.set_index("meter_id")
    assert got.loc["M2", "kwh"] == pytest.approx(1.0)
    assert got.loc["M2", "timestamp"] == pd.Timestamp("2024-01-01T03:00:00Z")
    assert len(checked.valid) == 2


@pytest.mark.parametrize(
    ("interval", "records", "says"),
    [
        (60, [("M1", "2024-01-01T00:00:00Z", 1), ("M1", "2024-01-01T01:00:00", 1)], "naive"),
        (60, [("M1", "yesterday", 1)], "unparsable"),
        (60, [("M1", "2024-01-01T00:00:00Z", -1.0)], "greater_than_or_equal_to(0.0)"),
        (60, [("M1", "2024-01-01T00:00:00Z", 5000.0)], "less_than_or_equal_to(2000.0)"),
        (60, [("M1", "2024-01-01T00:00:00Z", "abc")], "not numbers"),
        (60, [("M1", "2024-01-01T00:00:00Z", None)], "missing value"),
        (60, [("M9", "2024-01-01T00:00:00Z", 1.0)], "unknown meter_id(s) M9"),
        (60, [("M1", "2024-01-01T00:30:00Z", 1.0)], "off the interval's grid"),
        (15, [("M1", "2024-01-01T00:00:00Z", 1.0)], "incomplete hour"),
        (60, [("M1", "2024-03-01T00:00:00Z", 1.0)], "in the future"),
        (
            60,
            [("M1", "2024-01-01T00:00:00Z", 1.0), ("M1", "2024-01-01T00:00:00Z", 2.0)],
            "duplicate key",
        ),
    ],
)
def test_a_bad_message_is_rejected_alone_with_its_reason(
    interval: int, records: list, says: str
) -> None:
    good = (60, [("M3", "2024-01-01T05:00:00Z", 1.5)])
    raw, minutes = batch(good, (interval, records), good)
    checked = check_batch("readings", raw, minutes, KNOWN, WINDOW)
    assert list(checked.rejected) == [1]
    assert says in checked.rejected[1]
    assert checked.rejected[1].startswith("message")
    assert set(checked.valid[MSG]) == {0, 2}


def test_row_numbers_are_within_the_message() -> None:
    good = (60, [("M3", f"2024-01-01T0{h}:00:00Z", 1.5) for h in range(5)])
    bad = (60, [("M1", "2024-01-01T00:00:00Z", 1.0), ("M1", "2024-01-01T01:00:00Z", -3.0)])
    raw, minutes = batch(good, bad)
    checked = check_batch("readings", raw, minutes, KNOWN, WINDOW)
    assert "at row 2 " in checked.rejected[1]


def test_events_and_telemetry_use_their_contracts() -> None:
    raw = pd.DataFrame(
        [
            {"meter_id": "M1", "timestamp": "2024-01-01T00:07:13Z", "kind": "last_gasp", MSG: 0},
            {"meter_id": "M1", "timestamp": "2024-01-01T00:09:00Z", "kind": "meteor", MSG: 1},
        ]
    )
    checked = check_batch("events", raw, pd.Series([60.0, 60.0]), KNOWN, WINDOW)
    assert list(checked.rejected) == [1] and "isin" in checked.rejected[1]
    tele = {
        "transformer_id": "T1",
        "timestamp": "2024-01-01T00:00:00Z",
        "loading_pct": 50.0,
        "ambient_temp_c": 20.0,
        "oil_temp_c": 40.0,
        "hot_spot_temp_c": 50.0,
        "voltage_v": 230.0,
        "energy_kwh": 100.0,
        MSG: 0,
    }
    raw = pd.DataFrame([tele, tele | {"voltage_v": 900.0, MSG: 1}, tele | {"oil_temp_c": None}])
    raw.loc[2, MSG] = 2
    checked = check_batch("telemetry", raw, pd.Series([60.0] * 3), {"T1"}, WINDOW)
    assert sorted(checked.rejected) == [1, 2]
    assert "voltage_v" in checked.rejected[1] and "missing" in checked.rejected[2]


def test_a_batch_must_fit_in_flight() -> None:
    with pytest.raises(ValueError, match="exceeds max_in_flight"):
        BatchConfig(max_messages=50, max_in_flight=10)
    assert StreamConfig.read_yaml("experiments/stream.yaml").batch.max_messages == 200


def test_repeated_timestamps_are_parsed_once_with_the_same_verdicts() -> None:
    hour = "2024-01-01T05:00:00Z"
    many = (60, [(m, hour, 1.0) for m in ("M1", "M2", "M3")] * 1)
    naive = (60, [("M1", "2024-01-01T05:00:00", 1.0), ("M2", hour, 1.0)])
    blank = (60, [("M3", None, 1.0)])
    raw, minutes = batch(many, many, many, naive, many, blank, many, many)
    checked = check_batch("readings", raw, minutes, KNOWN, WINDOW)
    assert sorted(checked.rejected) == [3, 5]
    assert "naive" in checked.rejected[3] and "at row 1 " in checked.rejected[3]
    assert "missing value" in checked.rejected[5]
    assert str(checked.valid["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert (checked.valid["timestamp"] == pd.Timestamp(hour)).all()


def test_text_ids_checked_on_distinct_values_still_reject_the_bad_message() -> None:
    """The batch checks a text column's per-value rules on its distinct values (fast path);
    a failing id sends the batch to the whole schema, which rejects that message alone."""
    long_id = "M" * 65  # the contract allows 1..64 characters
    good = (60, [("M3", f"2024-01-01T0{h}:00:00Z", 1.5) for h in range(3)])
    raw, minutes = batch(good, (60, [(long_id, "2024-01-01T00:00:00Z", 1.0)]), good)
    checked = check_batch("readings", raw, minutes, None, WINDOW)
    assert list(checked.rejected) == [1] and "str_length" in checked.rejected[1]
    assert set(checked.valid[MSG]) == {0, 2} and len(checked.valid) == 6
    clean = check_batch("readings", *batch(good, good), None, WINDOW)
    assert clean.rejected == {} and len(clean.valid) == 6
