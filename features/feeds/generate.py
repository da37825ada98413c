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

from gridml.features.contracts import FEEDS, THEFT_LABELS
from gridml.features.feeds.assets import (
    POWER_FACTOR,
    choose_ratings,
    simulate_assets,
    thermal,
)
from gridml.features.feeds.calendar import Clock
from gridml.features.feeds.config import ZoneConfig
from gridml.features.feeds.consumption import draw_meter_profiles, true_demand
from gridml.features.feeds.hierarchy import build_feeders, build_meters, build_transformers
from gridml.features.feeds.outages import interrupted_share, shedding_events, unplanned_events
from gridml.features.feeds.theft import apply_attack, choose_thieves
from gridml.features.feeds.vends import generate_vends
from gridml.features.feeds.weather import generate_weather
from gridml.io import part_path, staged_dir, write_json_atomic, write_parquet_atomic
from gridml.workspace import Workspace

log = logging.getLogger(__name__)

# Independent random streams, so that changing one feed's logic does not reshuffle the others.
_STREAMS = {"hierarchy": 1, "weather": 2, "outages": 3, "theft": 4, "profiles": 5, "chunk": 100}


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
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), part_path(folder, index))


def _long(ids: np.ndarray, index: pd.DatetimeIndex, columns: dict[str, np.ndarray], key: str):
    """A (entities, hours) set of arrays as a long frame entity x timestamp."""
    n, h = next(iter(columns.values())).shape
    frame = {key: np.repeat(ids.astype(object), h), "timestamp": np.tile(index.values, n)}
    frame |= {name: arr.reshape(-1) for name, arr in columns.items()}
    df = pd.DataFrame(frame)
    df["timestamp"] = df["timestamp"].dt.tz_localize("UTC")
    return df


def generate_zone(cfg: ZoneConfig, ws: Workspace, progress: bool = True) -> GenerationReport:
    """Generate all feeds and the theft labels of `cfg` into `ws` (replacing what was there)."""
    t0 = time.perf_counter()
    clock = Clock(cfg.start, cfg.days, cfg.country)
    utc = clock.utc_index()
    local = clock.local_index()
    hours = clock.hours
    local_hour = local.hour.to_numpy()
    day_type_h = np.repeat(clock.day_type(), 24)

    rng_h = _rng(cfg, "hierarchy")
    feeders = build_feeders(cfg, rng_h)
    transformers = build_transformers(cfg, feeders, rng_h)
    meters = build_meters(cfg, transformers, rng_h)
    region_ids = sorted(feeders["region_id"].unique())
    report = GenerationReport(meters=len(meters), transformers=len(transformers), hours=hours)
    log.info(
        "zone %s: %d meters, %d transformers, %d feeders, %d days from %s (%s)",
        cfg.name, len(meters), len(transformers), len(feeders), cfg.days, cfg.start, cfg.country,
    )  # fmt: skip

    weather = generate_weather(clock, region_ids, cfg.country, _rng(cfg, "weather"))
    temp_by_region = weather.pivot(index="region_id", columns="timestamp", values="temperature_c")
    temp_by_region = temp_by_region.loc[region_ids].to_numpy()
    rain_by_region = weather.pivot(index="region_id", columns="timestamp", values="rainfall_mm")
    rain_by_region = rain_by_region.loc[region_ids].to_numpy()
    region_row = {r: i for i, r in enumerate(region_ids)}

    rng_o = _rng(cfg, "outages")
    feeder_ids = feeders["feeder_id"].tolist()
    feeder_region = feeders["region_id"].map(region_row).to_numpy()
    events = pd.concat(
        [
            shedding_events(feeder_ids, utc, cfg.outages, rng_o),
            unplanned_events(feeder_ids, utc, rain_by_region[feeder_region], cfg.outages, rng_o),
        ],
        ignore_index=True,
    )
    feeder_out = np.stack(
        [
            interrupted_share(g["start"].to_numpy(), g["end"].to_numpy(), utc[0], hours)
            if len(g := events[events["feeder_id"] == f])
            else np.zeros(hours)
            for f in feeder_ids
        ]
    )
    feeder_row = {f: i for i, f in enumerate(feeder_ids)}

    labels = choose_thieves(meters, utc, cfg.theft, _rng(cfg, "theft"))
    thief = labels.set_index("meter_id")
    profiles = draw_meter_profiles(
        meters["segment"].to_numpy(), cfg.annual_growth, _rng(cfg, "profiles")
    )
    tr_index = transformers.set_index("transformer_id")
    ratings = np.zeros(len(transformers))
    tr_events, failures, maintenance, vends = [], [], [], []

    with staged_dir(ws.feeds) as feeds_dir, staged_dir(ws.labels) as labels_dir:
        for name in ("readings", "transformer_telemetry", "transformer_dga"):
            (feeds_dir / name).mkdir()
        chunks = list(_chunks(meters, transformers["transformer_id"].to_numpy(), cfg.chunk_meters))
        with Progress(disable=not progress, transient=True) as bar:
            task = bar.add_task("generating meters", total=len(meters))
            for c, tr_rows in enumerate(chunks):
                rng = _rng(cfg, "chunk", c)
                tr = transformers.iloc[tr_rows]
                m_mask = meters["transformer_id"].isin(tr["transformer_id"]).to_numpy()
                m = meters[m_mask].reset_index(drop=True)
                prof = profiles[m_mask].reset_index(drop=True)
                tr_of_meter = tr_index.loc[m["transformer_id"], :]
                region_of_meter = tr_of_meter["region_id"].map(region_row).to_numpy()
                demand = true_demand(prof, local_hour, day_type_h, temp_by_region,
                                     region_of_meter, rng)  # fmt: skip
                served_share = 1.0 - feeder_out[tr_of_meter["feeder_id"].map(feeder_row).to_numpy()]
                starts = np.flatnonzero(
                    np.r_[True, m["transformer_id"].to_numpy()[1:] != m["transformer_id"].to_numpy()[:-1]]
                )  # fmt: skip
                load = np.add.reduceat(demand * served_share, starts, axis=0)
                rating = choose_ratings(load, cfg.assets, rng)
                ratings[tr_rows] = rating
                ambient = temp_by_region[tr["region_id"].map(region_row).to_numpy()]
                age = cfg.start.year - tr["commissioned_year"].to_numpy()
                hist = simulate_assets(tr["transformer_id"].to_numpy(), age, thermal(load, rating),
                                       ambient, utc, cfg.assets, rng)  # fmt: skip
                energized = np.ones_like(load)
                for i, a, b in hist.repairs:
                    energized[i, a:b] = 0.0
                    tr_events.append((tr["feeder_id"].iat[i], tr["transformer_id"].iat[i],
                                      utc[a], utc[a] + pd.Timedelta(hours=b - a), "transformer_failure"))  # fmt: skip
                failures.append(hist.failures)
                maintenance.append(hist.maintenance)
                meter_tr_row = np.repeat(np.arange(len(tr)), np.diff(np.r_[starts, len(m)]))
                served = demand * served_share * energized[meter_tr_row]
                del demand
                load = np.add.reduceat(served, starts, axis=0)
                state = thermal(load, rating)
                feeder_energized = 1.0 - feeder_out[tr["feeder_id"].map(feeder_row).to_numpy()]
                on = energized * (feeder_energized > 0)
                k = state.loading
                losses = (0.003 * rating[:, None] * on + 0.012 * rating[:, None] * k**2
                          + 0.025 * load * k)  # fmt: skip
                energy_in = (load + losses) * rng.normal(1.0, 0.003, load.shape)
                hot_spot = ambient + state.top_oil_rise + state.hot_spot_rise + hist.fault_heat_c
                telemetry = _long(
                    tr["transformer_id"].to_numpy(),
                    utc,
                    {
                        "loading_pct": np.round(100 * k, 2),
                        "ambient_temp_c": np.round(ambient, 2),
                        "oil_temp_c": np.round(ambient + state.top_oil_rise + 0.35 * hist.fault_heat_c, 2),
                        "hot_spot_temp_c": np.round(hot_spot, 2),
                        "voltage_v": np.round(on * (236 - 0.12 * 100 * k + rng.normal(0, 1.5, k.shape)), 1),
                        "energy_kwh": np.round(np.maximum(energy_in, 0.0), 4),
                    },
                    "transformer_id",
                )  # fmt: skip
                _write_part(telemetry, "transformer_telemetry", feeds_dir / "transformer_telemetry", c)
                _write_part(hist.dga, "transformer_dga", feeds_dir / "transformer_dga", c)
                report.add("transformer_telemetry", len(telemetry))
                report.add("transformer_dga", len(hist.dga))
                del telemetry

                recorded = _record(served, m, thief, utc, cfg, rng)
                # a meter without supply records nothing, whatever its tampering (h4-h6 move
                # energy between hours) or fault (a stuck register)
                recorded[(served_share == 0.0) | (energized[meter_tr_row] == 0.0)] = 0.0
                present = rng.random(recorded.shape) >= cfg.missing_reading_share
                readings = _long(m["meter_id"].to_numpy(), utc, {"kwh": np.round(recorded, 4)}, "meter_id")
                readings = readings[present.reshape(-1)]
                _write_part(readings, "readings", feeds_dir / "readings", c)
                report.add("readings", len(readings))
                del readings

                prepaid = (m["segment"] == "residential_prepaid").to_numpy()
                if prepaid.any():
                    daily = recorded[prepaid].reshape(int(prepaid.sum()), clock.days, 24).sum(axis=2)
                    vends.append(generate_vends(m["meter_id"].to_numpy()[prepaid], daily, utc[::24], rng))
                bar.advance(task, len(m))  # fmt: skip

        tr_out = transformers.drop(columns=["character"]).assign(rating_kva=ratings)
        tr_events_df = pd.DataFrame(
            tr_events, columns=["feeder_id", "transformer_id", "start", "end", "kind"]
        )
        interruptions = pd.concat(
            [f for f in (events.assign(transformer_id=None), tr_events_df) if len(f)],
            ignore_index=True,
        )[["feeder_id", "transformer_id", "start", "end", "kind"]]
        interruptions = interruptions.sort_values(["start", "feeder_id"], ignore_index=True)
        interruptions["transformer_id"] = interruptions["transformer_id"].astype(object)
        singles = {
            "meters": meters,
            "transformers": tr_out[list(FEEDS["transformers"].schema.columns)],
            "weather": weather,
            "interruptions": interruptions,
            "failures": pd.concat(failures, ignore_index=True),
            "maintenance": pd.concat(maintenance, ignore_index=True).drop_duplicates(),
            "vends": pd.concat(vends, ignore_index=True) if vends else None,
        }
        for name, df in singles.items():
            if df is None:
                continue
            contract = FEEDS[name]
            order = [c for c in (contract.entity_column, contract.time_column) if c]
            df = df.sort_values(order or list(contract.key), ignore_index=True)
            for col in ("timestamp", "start", "end"):
                if col in df.columns:
                    df[col] = pd.to_datetime(df[col], utc=True).astype("datetime64[ns, UTC]")
            (feeds_dir / name).mkdir()
            _write_part(df, name, feeds_dir / name, 0)
            report.add(name, len(df))
        THEFT_LABELS.validate(labels)
        write_parquet_atomic(labels, labels_dir / "theft_labels.parquet")
        write_json_atomic(
            {
                "name": cfg.name,
                "source": "synthetic",
                "country": cfg.country,
                "timezone": clock.timezone,
                "start": utc[0].isoformat(),
                "end": (utc[-1] + pd.Timedelta(hours=1)).isoformat(),
                "feeds": sorted(report.rows),
                "config": cfg.model_dump(mode="json"),
            },
            feeds_dir / "zone.json",
        )
    report.seconds = time.perf_counter() - t0
    log.info("generated %s rows in %.1f s", f"{report.total_rows:,}", report.seconds)
    return report


def _record(
    served: np.ndarray,
    meters: pd.DataFrame,
    thief: pd.DataFrame,
    utc: pd.DatetimeIndex,
    cfg: ZoneConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    """What the meters record: served energy, altered by theft and by meter faults."""
    recorded = served  # served is not used again by the caller
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


__all__ = ["POWER_FACTOR", "GenerationReport", "generate_zone"]
