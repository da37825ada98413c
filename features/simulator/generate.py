"""Generate every feed of a synthetic pilot zone into a workspace, chunk by chunk.

Meters are processed in chunks of whole transformers (`chunk_meters`), so peak memory is bounded
whatever the zone's size; each chunk becomes one Parquet part per hourly feed. The feeds folder
is built in a staging folder and swapped in whole: a failed run leaves the old feeds untouched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import Progress

from gridml.features.contracts import FEEDS, OUTAGE_LABELS, THEFT_LABELS
from gridml.features.physics import interrupted_share
from gridml.features.simulator.assets import choose_ratings, simulate_assets, thermal
from gridml.features.simulator.calendar import Clock
from gridml.features.simulator.config import ZoneConfig
from gridml.features.simulator.consumption import draw_meter_profiles, true_demand
from gridml.features.simulator.events import Dark, events_frame, tamper_events, transformer_events
from gridml.features.simulator.faults import (
    FAULT_COLUMNS,
    Grid,
    feeder_character,
    interruption_rows,
    unplanned_faults,
)
from gridml.features.simulator.hierarchy import build_feeders, build_meters, build_transformers
from gridml.features.simulator.outages import shedding_events, unplanned_events
from gridml.features.simulator.theft import apply_attack, choose_thieves
from gridml.features.simulator.vends import generate_vends
from gridml.features.simulator.weather import generate_weather
from gridml.io import part_path, staged_dir, write_json_atomic, write_parquet_atomic
from gridml.workspace import Workspace

log = logging.getLogger(__name__)

# Independent random streams, so that changing one feed's logic does not reshuffle the others.
# The unplanned faults (restoration model) and the meter events have streams of their own.
_STREAMS = {
    "hierarchy": 1,
    "weather": 2,
    "outages": 3,
    "theft": 4,
    "profiles": 5,
    "faults": 6,
    "events": 7,
    "chunk": 100,
}
_HOURLY_FEEDS = ("readings", "transformer_telemetry", "transformer_dga")
_EVENT_COLUMNS = ["feeder_id", "transformer_id", "start", "end", "kind"]


def _rng(cfg: ZoneConfig, stream: str, *extra: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, _STREAMS[stream], *extra])


@dataclass
class GenerationReport:
    meters: int = 0
    transformers: int = 0
    hours: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def add(self, feed: str, n: int) -> None:
        self.rows[feed] = self.rows.get(feed, 0) + n


@dataclass
class _Zone:
    """Everything a chunk needs that is shared by the whole zone."""

    cfg: ZoneConfig
    clock: Clock
    utc: pd.DatetimeIndex
    local_hour: np.ndarray
    day_type_h: np.ndarray
    meters: pd.DataFrame
    transformers: pd.DataFrame
    profiles: pd.DataFrame
    thief: pd.DataFrame  # theft labels indexed by meter_id
    temp_by_region: np.ndarray  # (regions, hours)
    region_row: dict[str, int]
    feeder_out: np.ndarray  # (feeders, hours) share of each hour without supply
    asset_feeder_out: np.ndarray  # the same before the restoration model (asset ageing)
    feeder_row: dict[str, int]
    faults: pd.DataFrame  # unplanned outages (FAULT_COLUMNS), the ground truth
    tr_faults: pd.DataFrame  # interruptions rows of the transformer-level faults
    dark: dict[str, list[Dark]]  # transformer_id -> shedding and fault intervals above it
    meters_on: dict[str, int]  # meters under each node (transformer, feeder, substation)


@dataclass
class _Chunk:
    """What one chunk of transformers and their meters produced."""

    meters: int
    ratings: np.ndarray
    frames: dict[str, pd.DataFrame]  # hourly feeds of the chunk
    vends: pd.DataFrame | None
    failures: pd.DataFrame
    maintenance: pd.DataFrame
    events: list[tuple]
    meter_events: pd.DataFrame  # with the `source` of each event (an outage id) for the labels
    dark_truth: list[tuple[str, int, int, int]]  # (source, first gasp ns, gasps, meters dark)


def _chunks(meters: pd.DataFrame, transformer_ids: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """Groups of whole transformers holding about `size` meters each."""
    per_tr = meters.groupby("transformer_id", sort=False).size().reindex(transformer_ids).to_numpy()
    group, count = [], 0
    for i, c in enumerate(per_tr):
        group.append(i)
        count += c
        if count >= size:
            yield np.array(group)
            group, count = [], 0
    if group:
        yield np.array(group)


def _write_part(df: pd.DataFrame, feed: str, folder: Path, index: int) -> None:
    """Check a part against its contract (a sample of big parts) and write it."""
    sample = df if len(df) <= 200_000 else df.sample(200_000, random_state=0)
    FEEDS[feed].schema.validate(sample, lazy=True)
    folder.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), part_path(folder, index))


def _long(
    ids: np.ndarray, index: pd.DatetimeIndex, columns: dict[str, np.ndarray], key: str
) -> pd.DataFrame:
    """A set of (entities, hours) arrays as a long frame entity x timestamp."""
    n, h = next(iter(columns.values())).shape
    frame = {key: np.repeat(ids.astype(object), h), "timestamp": np.tile(index.values, n)}
    frame |= {name: arr.reshape(-1) for name, arr in columns.items()}
    df = pd.DataFrame(frame)
    df["timestamp"] = df["timestamp"].dt.tz_localize("UTC")
    return df


def _setup(cfg: ZoneConfig) -> tuple[_Zone, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The zone's hierarchy, weather, feeder interruptions and thieves."""
    clock = Clock(cfg.start, cfg.days, cfg.country, cfg.subdivision)
    utc = clock.utc_index()
    rng_h = _rng(cfg, "hierarchy")
    feeders = build_feeders(cfg, rng_h)
    transformers = build_transformers(cfg, feeders, rng_h)
    meters = build_meters(cfg, transformers, rng_h)
    region_ids = sorted(feeders["region_id"].unique())
    region_row = {r: i for i, r in enumerate(region_ids)}
    log.info(
        "zone %s: %d meters, %d transformers, %d feeders, %d days from %s (%s)",
        cfg.name,
        len(meters),
        len(transformers),
        len(feeders),
        cfg.days,
        cfg.start,
        cfg.country,
    )

    weather = generate_weather(clock, region_ids, cfg.country, _rng(cfg, "weather"))

    def by_region(column: str) -> np.ndarray:
        wide = weather.pivot(index="region_id", columns="timestamp", values=column)
        return wide.loc[region_ids].to_numpy()

    rng_o = _rng(cfg, "outages")
    feeder_ids = feeders["feeder_id"].tolist()
    rain_wide = by_region("rainfall_mm")
    rain = rain_wide[feeders["region_id"].map(region_row).to_numpy()]
    shedding = shedding_events(feeder_ids, utc, cfg.outages, rng_o)
    # the feeder faults keep their start times; their durations and the transformer and
    # substation faults come from the restoration model, on a stream of their own
    feeder_starts = unplanned_events(feeder_ids, utc, rain, cfg.outages, rng_o)
    rng_f = _rng(cfg, "faults")
    grid = Grid(
        transformers.assign(age=cfg.start.year - transformers["commissioned_year"]),
        feeder_character(feeders, transformers, cfg.start.year, cfg.outages, rng_f),
    )
    local_hour = clock.local_index().hour.to_numpy()
    faults, dropped = unplanned_faults(
        grid,
        feeder_starts[["feeder_id", "start"]],
        shedding,
        utc,
        local_hour,
        {r: np.nan_to_num(rain_wide[i]) for r, i in region_row.items()},
        cfg.outages,
        rng_f,
    )
    log.info(
        "%d unplanned outages (%s); %d drawn faults left out (their path was already out)",
        len(faults),
        ", ".join(f"{k} {v}" for k, v in faults["level"].value_counts().sort_index().items()),
        dropped,
    )
    fault_rows = interruption_rows(faults, grid)
    on_tr = fault_rows["transformer_id"].notna()
    parts = [shedding, fault_rows[~on_tr].drop(columns="transformer_id")]
    # a zone may draw no event of one kind (seed 101's short zones): leave the empty frame out
    # of the concat (pandas' deprecated empty-entry dtype rule; same result)
    events = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    feeder_out = _feeder_share(events, feeder_ids, utc)
    # the transformers' ratings and ageing (hence failures, DGA, maintenance) are simulated on
    # the load as it was before the restoration model (shedding and the feeder faults' first
    # draws): a few hours more or less of outage barely age a transformer, and the failure
    # history other models are measured on stays put
    legacy = [shedding, feeder_starts]
    asset_out = _feeder_share(
        pd.concat([p for p in legacy if len(p)] or legacy[:1], ignore_index=True), feeder_ids, utc
    )
    labels = choose_thieves(meters, utc, cfg.theft, _rng(cfg, "theft"))
    meters_on = _meters_on(meters, transformers)
    zone = _Zone(
        cfg=cfg,
        clock=clock,
        utc=utc,
        local_hour=local_hour,
        day_type_h=np.repeat(clock.day_type(), 24),
        meters=meters,
        transformers=transformers,
        profiles=draw_meter_profiles(
            meters["segment"].to_numpy(), cfg.annual_growth, _rng(cfg, "profiles")
        ),
        thief=labels.set_index("meter_id"),
        temp_by_region=by_region("temperature_c"),
        region_row=region_row,
        feeder_out=feeder_out,
        asset_feeder_out=asset_out,
        feeder_row={f: i for i, f in enumerate(feeder_ids)},
        faults=faults,
        tr_faults=fault_rows[on_tr].reset_index(drop=True),
        dark=_dark_by_transformer(grid, shedding, faults, meters_on),
        meters_on=meters_on,
    )
    return zone, weather, events, labels


def _feeder_share(events: pd.DataFrame, feeder_ids: list[str], utc: pd.DatetimeIndex) -> np.ndarray:
    """(feeders, hours) share of each hour a feeder is out."""
    return np.stack(
        [
            interrupted_share(g["start"].to_numpy(), g["end"].to_numpy(), utc[0], len(utc))
            for g in (events[events["feeder_id"] == f] for f in feeder_ids)
        ]
    )


def _meters_on(meters: pd.DataFrame, transformers: pd.DataFrame) -> dict[str, int]:
    """Meters under each transformer, feeder and substation."""
    on = meters.merge(transformers, on="transformer_id", how="left")
    out: dict[str, int] = {}
    for column in ("transformer_id", "feeder_id", "substation_id"):
        out |= {str(k): int(v) for k, v in on.groupby(column).size().items()}
    return out


def _ns(ts: pd.Timestamp) -> int:
    return int(pd.Timestamp(ts).value)


def _dark_by_transformer(
    grid: Grid, shedding: pd.DataFrame, faults: pd.DataFrame, meters_on: dict[str, int]
) -> dict[str, list[Dark]]:
    """Every interval without supply above each transformer: load shedding of its feeder (no
    outage id) and the unplanned faults of its node, feeder or substation."""
    tr = grid.transformers
    dark: dict[str, list[Dark]] = {t: [] for t in tr["transformer_id"]}
    by_feeder: dict[str, list[Dark]] = {}
    for f, s, e in zip(shedding["feeder_id"], shedding["start"], shedding["end"], strict=True):
        by_feeder.setdefault(f, []).append(Dark(_ns(s), _ns(e), "", meters_on.get(f, 0)))
    for t, f in zip(tr["transformer_id"], tr["feeder_id"], strict=True):
        dark[t] += by_feeder.get(f, [])
    for row in faults.itertuples():
        iv = Dark(
            _ns(row.start), _ns(row.end), str(row.outage_id), meters_on.get(str(row.node_id), 0)
        )
        for t in sorted(grid.transformers_of(str(row.level), str(row.node_id))):
            dark[t].append(iv)
    return dark


def _simulate_chunk(zone: _Zone, index: int, tr_rows: np.ndarray) -> _Chunk:
    """Demand, supply, transformer physics and metering of one group of transformers."""
    cfg, utc, rng = zone.cfg, zone.utc, _rng(zone.cfg, "chunk", index)
    tr = zone.transformers.iloc[tr_rows]
    in_chunk = zone.meters["transformer_id"].isin(tr["transformer_id"]).to_numpy()
    m = zone.meters[in_chunk].reset_index(drop=True)
    tr_of_meter = zone.transformers.set_index("transformer_id").loc[m["transformer_id"]]
    demand = true_demand(
        zone.profiles[in_chunk].reset_index(drop=True),
        zone.local_hour,
        zone.day_type_h,
        zone.temp_by_region,
        tr_of_meter["region_id"].map(zone.region_row).to_numpy(),
        rng,
    )
    feeder_rows = tr_of_meter["feeder_id"].map(zone.feeder_row).to_numpy()
    supplied = 1.0 - zone.feeder_out[feeder_rows]
    tr_ids = m["transformer_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, tr_ids[1:] != tr_ids[:-1]])
    meter_tr_row = np.repeat(np.arange(len(tr)), np.diff(np.r_[starts, len(m)]))

    # transformers: size them, age them, let some fail (their customers lose supply meanwhile)
    load = np.add.reduceat(demand * (1.0 - zone.asset_feeder_out[feeder_rows]), starts, axis=0)
    rating = choose_ratings(load, cfg.assets, rng)
    ambient = zone.temp_by_region[tr["region_id"].map(zone.region_row).to_numpy()]
    hist = simulate_assets(
        tr["transformer_id"].to_numpy(),
        cfg.start.year - tr["commissioned_year"].to_numpy(),
        thermal(load, rating),
        ambient,
        utc,
        cfg.assets,
        rng,
    )
    energized = np.ones((len(tr), zone.clock.hours))
    events = []
    dark = {t: list(zone.dark[t]) for t in tr["transformer_id"]}
    for i, a, b in hist.repairs:
        energized[i, a:b] = 0.0
        end = utc[a] + pd.Timedelta(hours=b - a)
        tr_id = tr["transformer_id"].iat[i]
        events.append((tr["feeder_id"].iat[i], tr_id, utc[a], end, "transformer_failure"))
        source = _failure_id(zone, tr_id, utc[a])
        dark[tr_id].append(Dark(_ns(utc[a]), _ns(end), source, zone.meters_on.get(tr_id, 0)))
    # unplanned faults of the transformers themselves (their feeder's are in `supplied`)
    tr_supplied = np.ones((len(tr), zone.clock.hours))
    for i, t in enumerate(tr["transformer_id"]):
        own = zone.tr_faults[zone.tr_faults["transformer_id"] == t]
        if len(own):
            tr_supplied[i] = 1.0 - interrupted_share(
                own["start"].to_numpy(), own["end"].to_numpy(), utc[0], zone.clock.hours
            )
    energized_now = energized * tr_supplied
    served = demand * supplied * energized_now[meter_tr_row]
    del demand
    telemetry = _telemetry(
        tr,
        np.add.reduceat(served, starts, axis=0),
        rating,
        ambient,
        energized * (tr_supplied > 0.0),
        zone,
        hist.fault_heat_c,
        rng,
    )

    # meters: what they record (theft, faults), what goes missing, what prepaid customers buy
    no_supply = (supplied == 0.0) | (energized_now[meter_tr_row] == 0.0)
    recorded = _record(served, m, zone.thief, utc, cfg, rng)
    # a meter without supply records nothing, whatever its tampering (h4-h6 move energy between
    # hours) or fault (a stuck register)
    recorded[no_supply] = 0.0
    present = rng.random(recorded.shape) >= cfg.missing_reading_share
    readings = _long(m["meter_id"].to_numpy(), utc, {"kwh": np.round(recorded, 4)}, "meter_id")
    readings = readings[present.reshape(-1)]
    prepaid = (m["segment"] == "residential_prepaid").to_numpy()
    vends = None
    if prepaid.any():
        daily = recorded[prepaid].reshape(int(prepaid.sum()), zone.clock.days, 24).sum(axis=2)
        vends = generate_vends(m["meter_id"].to_numpy()[prepaid], daily, utc[::24], rng)
    meter_events, dark_truth = _meter_events(zone, index, m, dark)
    return _Chunk(
        meters=len(m),
        ratings=rating,
        frames={
            "readings": readings,
            "transformer_telemetry": telemetry,
            "transformer_dga": hist.dga,
        },
        vends=vends,
        failures=hist.failures,
        maintenance=hist.maintenance,
        events=events,
        meter_events=meter_events,
        dark_truth=dark_truth,
    )


def _meter_events(
    zone: _Zone, index: int, m: pd.DataFrame, dark: dict[str, list[Dark]]
) -> tuple[pd.DataFrame, list[tuple[str, int, int, int]]]:
    """The meter events of a chunk (its own random stream: the other feeds do not move)."""
    rng = _rng(zone.cfg, "events", index)
    period = (_ns(zone.utc[0]), _ns(zone.utc[-1] + pd.Timedelta(hours=1)))
    rows: list[tuple[str, int, str, str]] = []
    truth: list[tuple[str, int, int, int]] = []
    for t, group in m.groupby("transformer_id", sort=False):
        ev, tt = transformer_events(
            group["meter_id"].to_numpy(), dark[str(t)], period, zone.cfg.outages.events, rng
        )
        rows += ev
        truth += tt
    starts = zone.thief["theft_start"].to_dict()
    rows += tamper_events(m["meter_id"].to_numpy(), starts, period, zone.cfg.outages.events, rng)
    df = events_frame(rows).sort_values(["meter_id", "timestamp", "kind"], ignore_index=True)
    return df, truth


def _telemetry(
    tr: pd.DataFrame,
    load: np.ndarray,
    rating: np.ndarray,
    ambient: np.ndarray,
    energized: np.ndarray,
    zone: _Zone,
    fault_heat: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Hourly transformer monitor readings; `energy_kwh` is the transformer's own meter (load
    plus no-load, load and LV network losses), the reference of the energy balance."""
    state = thermal(load, rating)
    feeder_on = zone.feeder_out[tr["feeder_id"].map(zone.feeder_row).to_numpy()] < 1.0
    on = energized * feeder_on
    k = state.loading
    r = rating[:, None]
    losses = 0.003 * r * on + 0.012 * r * k**2 + 0.025 * load * k
    energy_in = (load + losses) * rng.normal(1.0, 0.003, load.shape)
    top_oil = ambient + state.top_oil_rise
    voltage = on * (236 - 0.12 * 100 * k + rng.normal(0, 1.5, k.shape))
    return _long(
        tr["transformer_id"].to_numpy(),
        zone.utc,
        {
            "loading_pct": np.round(100 * k, 2),
            "ambient_temp_c": np.round(ambient, 2),
            "oil_temp_c": np.round(top_oil + 0.35 * fault_heat, 2),
            "hot_spot_temp_c": np.round(top_oil + state.hot_spot_rise + fault_heat, 2),
            "voltage_v": np.round(voltage, 1),
            "energy_kwh": np.round(np.maximum(energy_in, 0.0), 4),
        },
        "transformer_id",
    )


def _record(
    served: np.ndarray,
    meters: pd.DataFrame,
    thief: pd.DataFrame,
    utc: pd.DatetimeIndex,
    cfg: ZoneConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """What the meters record: served energy, altered by theft and by meter faults (in place)."""
    recorded = served
    hours = recorded.shape[1]
    for i, meter_id in enumerate(meters["meter_id"]):
        if meter_id in thief.index:
            row = thief.loc[meter_id]
            start_hour = int((row["theft_start"] - utc[0]) / pd.Timedelta(hours=1))
            recorded[i] = apply_attack(recorded[i], start_hour, row["attack_type"], rng)
        elif rng.random() < cfg.meter_fault_share:
            length = int(rng.integers(3, 21)) * 24
            a = int(rng.integers(0, max(1, hours - length)))
            recorded[i, a : a + length] = recorded[i, a] if rng.random() < 0.5 else 0.0
    return recorded


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate event frames, skipping empty ones (a chunk without failures)."""
    full = [f for f in frames if len(f)]
    return pd.concat(full, ignore_index=True) if full else frames[0].iloc[0:0]


def _event_tables(
    zone: _Zone,
    weather: pd.DataFrame,
    feeder_events: pd.DataFrame,
    chunks: list[_Chunk],
    ratings: np.ndarray,
) -> dict[str, pd.DataFrame]:
    """The one-part feeds, sorted by entity then time, with UTC timestamps."""
    tr_events = pd.DataFrame([e for c in chunks for e in c.events], columns=_EVENT_COLUMNS)
    interruptions = pd.concat(
        [
            f
            for f in (feeder_events.assign(transformer_id=None), zone.tr_faults, tr_events)
            if len(f)
        ],
        ignore_index=True,
    )[_EVENT_COLUMNS]
    interruptions["transformer_id"] = interruptions["transformer_id"].astype(object)
    vends = [c.vends for c in chunks if c.vends is not None]
    tables = {
        "meters": zone.meters,
        "transformers": zone.transformers.assign(rating_kva=ratings)[
            list(FEEDS["transformers"].schema.columns)
        ],
        "weather": weather,
        "interruptions": interruptions,
        "failures": _concat([c.failures for c in chunks]),
        "maintenance": _concat([c.maintenance for c in chunks]),
    }
    if vends:
        tables["vends"] = pd.concat(vends, ignore_index=True)
    out = {}
    for name, df in tables.items():
        contract = FEEDS[name]
        order = [c for c in (contract.entity_column, contract.time_column) if c]
        df = df.drop_duplicates().sort_values(order or list(contract.key), ignore_index=True)
        for col in ("timestamp", "start", "end"):
            if col in df.columns:
                df[col] = pd.to_datetime(df[col], utc=True).astype("datetime64[ns, UTC]")
        out[name] = df
    return out


def _failure_id(zone: _Zone, transformer_id: str, start: pd.Timestamp) -> str:
    """The outage id of a transformer failure: its transformer and first hour."""
    return f"A{transformer_id}-{int((start - zone.utc[0]) / pd.Timedelta(hours=1))}"


def outage_labels(zone: _Zone, chunks: list[_Chunk]) -> pd.DataFrame:
    """Ground truth of the unplanned outages (faults and transformer failures): node, cause,
    start, end, customers under the node, meters that went dark with it (not already dark),
    last gasps delivered and the first one's time."""
    region = zone.transformers.set_index("transformer_id")["region_id"]
    failures = [
        (_failure_id(zone, tr_id, start), "transformer", tr_id, "transformer_failure", start, end)
        for c in chunks
        for _feeder, tr_id, start, end, _kind in c.events
    ]
    failed = pd.DataFrame(failures, columns=FAULT_COLUMNS[:-1])
    failed["region_id"] = failed["node_id"].map(region)
    table = pd.concat(
        [f for f in (zone.faults, failed) if len(f)] or [zone.faults],
        ignore_index=True,
    )
    truth = pd.DataFrame(
        [t for c in chunks for t in c.dark_truth], columns=["source", "first", "gasps", "dark"]
    )
    truth["first"] = truth["first"].astype("Int64").where(truth["first"] >= 0)
    agg = truth.groupby("source").agg(
        first=("first", "min"), gasps=("gasps", "sum"), dark=("dark", "sum")
    )
    table["customers"] = table["node_id"].map(zone.meters_on).astype("int64")
    table["meters_dark"] = table["outage_id"].map(agg["dark"]).fillna(0).astype("int64")
    table["gasps"] = table["outage_id"].map(agg["gasps"]).fillna(0).astype("int64")
    first = table["outage_id"].map(agg["first"])
    table["first_gasp"] = pd.to_datetime(first, utc=True).astype("datetime64[ns, UTC]")
    for col in ("start", "end"):
        table[col] = pd.to_datetime(table[col], utc=True).astype("datetime64[ns, UTC]")
    return table.sort_values(["start", "outage_id"], ignore_index=True)


def generate_zone(cfg: ZoneConfig, ws: Workspace, progress: bool = True) -> GenerationReport:
    """Generate all feeds and the theft labels of `cfg` into `ws` (replacing what was there)."""
    t0 = time.perf_counter()
    zone, weather, feeder_events, labels = _setup(cfg)
    report = GenerationReport(
        meters=len(zone.meters), transformers=len(zone.transformers), hours=zone.clock.hours
    )
    ratings = np.zeros(len(zone.transformers))
    done: list[_Chunk] = []
    groups = list(
        _chunks(zone.meters, zone.transformers["transformer_id"].to_numpy(), cfg.chunk_meters)
    )
    with staged_dir(ws.feeds) as feeds_dir, staged_dir(ws.labels) as labels_dir:
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("generating meters", total=len(zone.meters))
            for index, tr_rows in enumerate(groups):
                chunk = _simulate_chunk(zone, index, tr_rows)
                ratings[tr_rows] = chunk.ratings
                for feed in _HOURLY_FEEDS:
                    _write_part(chunk.frames[feed], feed, feeds_dir / feed, index)
                    report.add(feed, len(chunk.frames[feed]))
                events = chunk.meter_events.drop(columns="source")
                _write_part(events, "meter_events", feeds_dir / "meter_events", index)
                report.add("meter_events", len(events))
                chunk.frames = {}  # the hourly frames are on disk: free them
                chunk.meter_events = chunk.meter_events.iloc[0:0]
                done.append(chunk)
                bar.advance(task, chunk.meters)
        for name, df in _event_tables(zone, weather, feeder_events, done, ratings).items():
            _write_part(df, name, feeds_dir / name, 0)
            report.add(name, len(df))
        THEFT_LABELS.validate(labels)
        write_parquet_atomic(labels, labels_dir / "theft_labels.parquet")
        outages = outage_labels(zone, done)
        OUTAGE_LABELS.validate(outages)
        write_parquet_atomic(outages, labels_dir / "outages.parquet")
        write_json_atomic(
            {
                "name": cfg.name,
                "source": "synthetic",
                "country": cfg.country,
                "subdivision": cfg.subdivision,
                "timezone": zone.clock.timezone,
                "start": zone.utc[0].isoformat(),
                "end": (zone.utc[-1] + pd.Timedelta(hours=1)).isoformat(),
                "feeds": sorted(report.rows),
                "config": cfg.model_dump(mode="json"),
            },
            feeds_dir / "zone.json",
        )
    report.seconds = time.perf_counter() - t0
    log.info("generated %s rows in %.1f s", f"{report.total_rows:,}", report.seconds)
    return report
