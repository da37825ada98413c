"""Meter liveness: the one definition shared by the offline table (`meter_liveness`, written by
`gridml features build`) and the stream consumer (pushed to the online store per micro-batch),
so that training and serving see the same values for the same hour.

Per meter and hour h (the row is stamped at the end of the hour, like `meter_hourly`):
- `last_reading_unix_s`: start of the latest hour up to h with a reading (epoch seconds);
- `hours_since_reading`: h minus that hour (0: a reading in hour h);
- `zero_run_hours`: the run of consecutive hours with a zero reading that ends at that latest
  reading (0 when it is not zero); an hour without a reading ends a run.
Before a meter's first reading there is no row (NaN). Per transformer and hour h:
- `meters_heard_share`: the share of its meters (by the topology) with a reading in hour h.

`liveness` works on an (entities, hours) kWh matrix (NaN: no reading) plus each entity's state
before the matrix's first hour, so a window (an incremental build, a micro-batch) continues
exactly where the history before it ended.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridml.features.tables.timegrid import to_long

HOUR_S = 3600
NONE = np.iinfo(np.int64).min // 2  # "no reading yet", as an hour number


@dataclass(frozen=True)
class State:
    """Per entity, before the first hour: hour number (epoch hours) of the last reading
    (`NONE` when none) and the zero run ending at it."""

    last_hour: np.ndarray  # int64
    zero_run: np.ndarray  # float

    @classmethod
    def empty(cls, n: int) -> State:
        return cls(np.full(n, NONE, dtype=np.int64), np.zeros(n))

    @classmethod
    def from_columns(cls, last_unix_s: np.ndarray, zero_run: np.ndarray) -> State:
        """From the feature columns (NaN where unknown)."""
        last = np.asarray(last_unix_s, dtype=float)
        known = ~np.isnan(last)
        hours = np.where(known, np.floor(np.nan_to_num(last) / HOUR_S), 0).astype(np.int64)
        run = np.nan_to_num(np.asarray(zero_run, dtype=float))
        return cls(np.where(known, hours, NONE), np.where(known, run, 0.0))


def epoch_hour(ts: pd.Timestamp) -> int:
    """The hour number (hours since the Unix epoch) of a UTC timestamp's hour."""
    return int(ts.floor("h").value // (HOUR_S * 10**9))


def liveness(kwh: np.ndarray, first_hour: int, prior: State) -> dict[str, np.ndarray]:
    """(entities, hours) matrices of the three features; column j is epoch hour first_hour + j.

    `kwh`: hourly readings, NaN where none; `prior`: each entity's state before first_hour
    (readings in `kwh` at or before `prior.last_hour` must be NaN: `step` drops them)."""
    hours = kwh.shape[1]
    idx = first_hour + np.arange(hours, dtype=np.int64)
    has = ~np.isnan(kwh)
    last = np.maximum(
        np.maximum.accumulate(np.where(has, idx[None, :], NONE), axis=1),
        prior.last_hour[:, None],
    )
    known = last > NONE
    zero = has & (kwh == 0)
    count = np.cumsum(zero, axis=1)
    run = count - np.maximum.accumulate(np.where(zero, 0, count), axis=1)
    # a run that starts the hour after the prior last reading continues the prior run
    continues = (run > 0) & (idx[None, :] - run == prior.last_hour[:, None])
    run = run + np.where(continues, prior.zero_run[:, None], 0.0)
    pos = np.maximum.accumulate(np.where(has, np.arange(hours)[None, :], -1), axis=1)
    at_last = np.take_along_axis(run, np.clip(pos, 0, None), axis=1).astype(float)
    current = np.where(pos >= 0, at_last, prior.zero_run[:, None])
    return {
        "last_reading_unix_s": np.where(known, last * HOUR_S, np.nan).astype(float),
        "hours_since_reading": np.where(known, idx[None, :] - last, np.nan).astype(float),
        "zero_run_hours": np.where(known, current, np.nan),
    }


def last_state(features: dict[str, np.ndarray]) -> State:
    """Each entity's state after the last column of `liveness`'s output."""
    return State.from_columns(
        features["last_reading_unix_s"][:, -1], features["zero_run_hours"][:, -1]
    )


def step(
    readings: pd.DataFrame, meters: pd.Index, prior: State, now_hour: int
) -> tuple[dict[str, np.ndarray], State]:
    """The stream's micro-batch: `readings` (meter_id, hourly `timestamp`, kwh) on top of each
    meter's `prior` state; returns the features of `meters` at epoch hour `now_hour` and their
    state after it. Readings at or before a meter's last reading (late or repeated) and after
    `now_hour` are ignored: the stream never goes back in time."""
    hour = readings["timestamp"].dt.floor("h").astype("int64").to_numpy() // (HOUR_S * 10**9)
    rows = meters.get_indexer(readings["meter_id"])
    first = int(min(hour.min(), now_hour)) if len(hour) else now_hour
    kwh = np.full((len(meters), now_hour - first + 1), np.nan)
    ok = (rows >= 0) & (hour <= now_hour)
    ok[ok] &= hour[ok] > prior.last_hour[rows[ok]]
    kwh[rows[ok], hour[ok] - first] = readings["kwh"].to_numpy(dtype=float)[ok]
    features = liveness(kwh, first, prior)
    return {k: v[:, -1] for k, v in features.items()}, last_state(features)


def transformer_meters(topo: pd.DataFrame) -> pd.Series:
    """Meters per transformer (the share's denominator), by transformer_id, sorted."""
    return topo.groupby("transformer_id").size().sort_index().astype(float)


def heard_counts(heard: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """(n, hours) meters heard per transformer: `heard` (meters, hours) bool, `rows` each
    meter's transformer row (-1: none)."""
    out = np.zeros((n, heard.shape[1]))
    ok = rows >= 0
    np.add.at(out, rows[ok], heard[ok].astype(float))
    return out


def heard_share(counts: np.ndarray, meters: np.ndarray) -> np.ndarray:
    """Share of each transformer's meters heard (NaN for a transformer without meters)."""
    with np.errstate(all="ignore"):
        return np.where(meters[:, None] > 0, counts / meters[:, None], np.nan)


def to_long_by_hour(
    entity: str,
    entities: pd.Index,
    event_times: pd.DatetimeIndex,
    columns: dict[str, np.ndarray],
    keep: np.ndarray | None = None,
) -> pd.DataFrame:
    """(entities, hours) matrices -> long frame in hour-major order (every entity of an hour
    together), rows where `keep`. Written so, a table part's row groups each cover a span of
    hours, and reading one hour's rows (an incremental build's state at its window's start)
    skips the other row groups by their statistics instead of decoding the whole history."""
    return to_long(entity, entities, event_times, columns, keep, hour_major=True)


def meter_rows(readings: pd.DataFrame, prior_unix_s: np.ndarray, prior_run: np.ndarray,
               meters: pd.Index) -> pd.DataFrame:  # fmt: skip
    """The online `meter_liveness` rows of `meters` after `readings` (meter_id, hourly
    `timestamp`, kwh) on top of their state as the online store holds it (`prior_unix_s`,
    `prior_run`: the features' values, NaN when none), at the clock of the readings' newest
    hour, stamped at its end; a meter whose online state is already past that hour is left out
    (never back in time). What a stream micro-batch writes for its meters (`step`), without a
    consumer's memory: `POST /readings` reads the state, advances it, writes the rows."""
    from gridml.features.tables.catalog import EVENT_TIMESTAMP

    prior = State.from_columns(prior_unix_s, prior_run)
    now = epoch_hour(readings["timestamp"].max())
    values, after = step(readings, meters, prior, now)
    keep = (after.last_hour > NONE) & (after.last_hour <= now)
    frame = pd.DataFrame({k: v[keep] for k, v in values.items()})
    frame.insert(0, "meter_id", meters[keep].to_numpy())
    frame.insert(1, EVENT_TIMESTAMP, pd.Timestamp((now + 1) * HOUR_S, unit="s", tz="UTC"))
    return frame


# --- last meter event and the transformer's hourly energy balance -------------------------
# One definition each, for the offline tables (`gridml features build`) and the stream
# (`gridml.stream.sink.GridLivePusher`).

EVENT_ORDER = {"power_down": 0, "power_restore": 1, "tamper": 2}  # ties at one instant
# the stream's payload says last_gasp, the meter_events import feed power_down: one kind
EVENT_ALIASES = {"last_gasp": "power_down"}


def event_rows(events: pd.DataFrame) -> pd.DataFrame:
    """`meter_last_event` rows: one per meter and instant (meter_id, timestamp, kind), stamped
    at the event's time, with `last_event_kind` and `last_event_unix_s`. Exact repeats are
    dropped; several kinds at one instant keep the latest in EVENT_ORDER. A point-in-time
    join (or the newest row per meter, `newest_per_meter`) gives each meter's last event."""
    from gridml.features.tables.catalog import EVENT_TIMESTAMP

    cols = ["meter_id", EVENT_TIMESTAMP, "last_event_kind", "last_event_unix_s"]
    if events.empty:
        return pd.DataFrame(columns=cols)
    frame = events[["meter_id", "timestamp", "kind"]]
    frame = frame.assign(kind=frame["kind"].replace(EVENT_ALIASES)).drop_duplicates()
    order = frame["kind"].map(EVENT_ORDER).fillna(len(EVENT_ORDER))
    frame = frame.assign(_order=order).sort_values(["meter_id", "timestamp", "_order"])
    frame = frame.drop_duplicates(["meter_id", "timestamp"], keep="last")
    stamps = pd.DatetimeIndex(frame["timestamp"]).tz_convert("UTC").as_unit("ns")
    return pd.DataFrame(
        {
            "meter_id": frame["meter_id"].astype(str).to_numpy(),
            EVENT_TIMESTAMP: stamps,
            "last_event_kind": frame["kind"].astype(str).to_numpy(),
            "last_event_unix_s": stamps.asi8 / 1e9,
        }
    ).reset_index(drop=True)


def newest_per_meter(rows: pd.DataFrame) -> pd.DataFrame:
    """The newest `event_rows` row of each meter (what the online store holds)."""
    from gridml.features.tables.catalog import EVENT_TIMESTAMP

    return rows.sort_values(EVENT_TIMESTAMP).groupby("meter_id", sort=True).tail(1)


def energy_balance(
    telemetry: pd.DataFrame, readings: pd.DataFrame, meter_unit: pd.Series
) -> pd.DataFrame:
    """`transformer_energy_balance` rows, per transformer and hour with telemetry, stamped at
    the end of the hour: `energy_kwh` (the transformer's metered energy), `meters_kwh` (the
    sum of its meters' readings in the hour, any interval), `meters_heard` (meters with a
    reading in it) and `unexplained_share` ((energy - meters) / energy; NaN when the energy
    is not positive). `meter_unit`: each meter's transformer_id (the topology)."""
    from gridml.features.tables.catalog import EVENT_TIMESTAMP

    cols = ["transformer_id", EVENT_TIMESTAMP, "energy_kwh", "meters_kwh", "meters_heard",
            "unexplained_share"]  # fmt: skip
    tele = telemetry.dropna(subset=["energy_kwh"])
    if tele.empty:
        return pd.DataFrame(columns=cols)
    hour = pd.DatetimeIndex(tele["timestamp"]).tz_convert("UTC").floor("h").as_unit("ns")
    energy = (
        pd.DataFrame(
            {
                "transformer_id": tele["transformer_id"].to_numpy(),
                "hour": hour,
                "energy_kwh": tele["energy_kwh"].to_numpy(dtype=float),
            }
        )
        .groupby(["transformer_id", "hour"], sort=True)["energy_kwh"]
        .sum()
    )
    unit = meter_unit.reindex(readings["meter_id"]).to_numpy()
    rhour = pd.DatetimeIndex(readings["timestamp"]).tz_convert("UTC").floor("h").as_unit("ns")
    heard = pd.DataFrame(
        {
            "transformer_id": unit,
            "hour": rhour,
            "meter_id": readings["meter_id"].to_numpy(),
            "kwh": readings["kwh"].to_numpy(dtype=float),
        }
    ).dropna(subset=["transformer_id"])
    by = heard.groupby(["transformer_id", "hour"], sort=True)
    sums = pd.DataFrame({"meters_kwh": by["kwh"].sum(), "meters_heard": by["meter_id"].nunique()})
    out = energy.to_frame().join(sums, how="left")
    out["meters_kwh"] = out["meters_kwh"].fillna(0.0)
    out["meters_heard"] = out["meters_heard"].fillna(0).astype(float)
    out["unexplained_share"] = unexplained_share(
        out["energy_kwh"].to_numpy(), out["meters_kwh"].to_numpy()
    )
    out = out.reset_index()
    out[EVENT_TIMESTAMP] = out.pop("hour") + pd.Timedelta(hours=1)
    return out[cols]


def unexplained_share(energy: np.ndarray, meters: np.ndarray) -> np.ndarray:
    """(energy - meters) / energy: the share of the transformer's energy its meters do not
    explain (losses, theft, unread meters); NaN where the energy is not positive."""
    with np.errstate(all="ignore"):
        return np.where(energy > 0, (energy - meters) / energy, np.nan)


def balance_table(
    unit_ids: pd.Index,
    energy: np.ndarray,
    meters_kwh: np.ndarray,
    heard: np.ndarray,
    event_times: pd.DatetimeIndex,
) -> pd.DataFrame:
    """The offline `transformer_energy_balance` rows from (transformers, hours) matrices: the
    telemetry energy (NaN: none), its meters' kWh sum and count heard per hour; rows where
    there is telemetry, stamped at `event_times` (the hours' ends). `energy_balance` is the
    same from long frames (the stream's)."""
    cols = {
        "energy_kwh": energy,
        "meters_kwh": meters_kwh,
        "meters_heard": heard,
        "unexplained_share": unexplained_share(energy, meters_kwh),
    }
    return to_long_by_hour("transformer_id", unit_ids, event_times, cols, ~np.isnan(energy))
