"""The liveness definition on tiny matrices: first reading, silence, zero runs across gaps,
and a window continuing from the state before it exactly as the whole history does."""

from __future__ import annotations

import numpy as np

from gridml.features.tables.liveness import HOUR_S, State, last_state, liveness

N = np.nan
T0 = 480_000  # an epoch hour


def test_first_reading_silence_and_zero_runs() -> None:
    kwh = np.array(
        [
            [N, N, 0.0, 0.0, N, 0.0, 0.0, 0.0, 1.5, N],  # zero run, gap, new run, reading
            [N, N, N, N, N, N, N, N, N, N],  # never heard
            [2.0, N, N, N, N, N, N, N, N, N],  # silent for hours after one reading
        ]
    )
    f = liveness(kwh, T0, State.empty(3))
    since, run, last = f["hours_since_reading"], f["zero_run_hours"], f["last_reading_unix_s"]
    assert np.isnan(since[0, :2]).all() and np.isnan(run[0, :2]).all()  # before the first
    np.testing.assert_array_equal(since[0, 2:], [0, 0, 1, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(run[0, 2:], [1, 2, 2, 1, 2, 3, 0, 0])  # the gap ends a run
    assert last[0, -1] == (T0 + 8) * HOUR_S
    assert np.isnan(since[1]).all() and np.isnan(last[1]).all()
    np.testing.assert_array_equal(since[2], np.arange(10))
    np.testing.assert_array_equal(run[2], np.zeros(10))
    assert (last[2] == T0 * HOUR_S).all()


def test_window_continues_the_history() -> None:
    rng = np.random.default_rng(3)
    kwh = rng.choice([0.0, 0.0, 1.0, N], size=(6, 48))
    kwh[0, 20:] = N  # silent across the split
    kwh[1, 15:30] = 0.0  # a zero run across the split
    whole = liveness(kwh, T0, State.empty(6))
    head = liveness(kwh[:, :24], T0, State.empty(6))
    tail = liveness(kwh[:, 24:], T0 + 24, last_state(head))
    for name, mat in whole.items():
        np.testing.assert_array_equal(mat[:, 24:], tail[name], err_msg=name)
    assert whole["zero_run_hours"][1, 29] >= 15
    assert whole["hours_since_reading"][0, -1] >= 28


def test_state_from_columns_round_trip() -> None:
    state = State.from_columns(np.array([N, T0 * HOUR_S]), np.array([N, 4.0]))
    f = liveness(np.array([[N, 0.0], [0.0, N]]), T0 + 1, state)
    np.testing.assert_array_equal(f["zero_run_hours"], [[N, 1.0], [5.0, 5.0]])
    np.testing.assert_array_equal(f["hours_since_reading"], [[N, 0.0], [0.0, 1.0]])


def test_step_matches_the_matrix() -> None:
    import pandas as pd

    from gridml.features.tables.liveness import step

    rng = np.random.default_rng(5)
    kwh = rng.choice([0.0, 0.0, 1.0, N], size=(4, 30))
    meters = pd.Index([f"M{i}" for i in range(4)])
    whole = liveness(kwh, T0, State.empty(4))
    state = State.empty(4)
    late = pd.DataFrame({"meter_id": [], "timestamp": pd.to_datetime([], utc=True), "kwh": []})
    for lo, hi in ((0, 7), (7, 8), (8, 19), (19, 30)):  # uneven micro-batches
        r, c = np.nonzero(~np.isnan(kwh[:, lo:hi]))
        batch = pd.DataFrame(
            {
                "meter_id": meters[r],
                "timestamp": pd.to_datetime((T0 + lo + c) * HOUR_S, unit="s", utc=True),
                "kwh": kwh[r, lo + c],
            }
        )
        # the previous batch again, other values: repeats of hours already seen are ignored
        values, state = step(pd.concat([late, batch]), meters, state, T0 + hi - 1)
        late = batch.assign(kwh=9.0)
        for name, mat in whole.items():
            np.testing.assert_array_equal(values[name], mat[:, hi - 1], err_msg=name)


def test_share_of_meters_heard_per_transformer() -> None:
    import pandas as pd

    from gridml.features.tables.liveness import heard_counts, heard_share, transformer_meters

    topo = pd.DataFrame(
        {"transformer_id": ["T1", "T1", "T1", "T2", None]}, index=["a", "b", "c", "d", "e"]
    )
    per_unit = transformer_meters(topo)
    assert list(per_unit.index) == ["T1", "T2"] and list(per_unit) == [3, 1]
    heard = np.array([[1, 0], [1, 0], [0, 0], [0, 1], [1, 1]], dtype=bool)  # "e": no transformer
    rows = per_unit.index.get_indexer(topo["transformer_id"])
    share = heard_share(heard_counts(heard, rows, 2), per_unit.to_numpy())
    np.testing.assert_allclose(share, [[2 / 3, 0.0], [0.0, 1.0]])


def test_meter_rows_advance_the_online_state_and_never_go_back() -> None:
    """`POST /readings`' rows: the posted meters' state read from online, advanced by the
    post, at the clock of its newest hour; a meter already past that hour is left out."""
    import pandas as pd

    from gridml.features.tables.liveness import meter_rows

    def at(h: int) -> pd.Timestamp:
        return pd.Timestamp((T0 + h) * HOUR_S, unit="s", tz="UTC")

    posted = pd.DataFrame(
        {
            "meter_id": ["A", "B", "C", "D"],
            "timestamp": [at(5), at(3), at(5), at(4)],
            "kwh": [0.0, 1.0, 2.0, 1.0],
        }
    )
    meters = pd.Index(["A", "B", "C", "D"], dtype=object)
    # A: a zero run of 2 ending at hour 4; B: heard at hour 2; C: never; D: heard at hour 9
    prior_s = np.array([(T0 + 4) * HOUR_S, (T0 + 2) * HOUR_S, N, (T0 + 9) * HOUR_S])
    prior_run = np.array([2.0, 0.0, N, 0.0])
    rows = meter_rows(posted, prior_s, prior_run, meters).set_index("meter_id")
    assert list(rows.index) == ["A", "B", "C"]  # D's online state is ahead of the clock
    assert (rows["event_timestamp"] == at(6)).all()  # the end of the newest hour
    np.testing.assert_array_equal(rows["hours_since_reading"], [0, 2, 0])
    np.testing.assert_array_equal(rows["zero_run_hours"], [3, 0, 0])  # A's run continues
    np.testing.assert_array_equal(
        rows["last_reading_unix_s"], [(T0 + 5) * HOUR_S, (T0 + 3) * HOUR_S, (T0 + 5) * HOUR_S]
    )
