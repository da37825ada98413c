"""Build every feature table of a workspace from its feeds (`gridml features build`).

Readings are processed part by part (bounded memory); the tables are written into a staging
folder and swapped in whole, so the offline store is never half-built. Tables whose feeds are
absent (an import with readings only) are written empty with their schema: the views exist and
return nulls, and the rest of the platform works with whichever feeds exist.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import track

from gridml.errors import MissingDataError
from gridml.features.tables import grid as grid_tables
from gridml.features.tables import load, meter, transformer
from gridml.features.tables import series as zone_series_mod
from gridml.features.tables.catalog import EVENT_TIMESTAMP, TABLES, TableSpec
from gridml.features.tables.timegrid import HOUR, Grid, to_matrix
from gridml.io import part_path, parts, read_parts, staged_dir
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
_ARROW = {"float": pa.float64(), "int": pa.int64(), "string": pa.string()}


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """The exact Arrow schema of a feature table (entities, UTC timestamp, features)."""
    return pa.schema(
        [(e, pa.string()) for e in spec.entities]
        + [(EVENT_TIMESTAMP, pa.timestamp("ns", tz="UTC"))]
        + [(name, _ARROW[kind]) for name, kind in spec.features.items()]
    )


class _Writer:
    """Writes parts of each table into the staging folder, with the table's exact schema."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.counts: dict[str, int] = {}

    def write(self, spec: TableSpec, df: pd.DataFrame) -> None:
        folder = self.root / spec.name
        folder.mkdir(exist_ok=True)
        index = len(parts(folder))
        schema = arrow_schema(spec)
        table = (
            pa.Table.from_pandas(df[spec.columns], schema=schema, preserve_index=False)
            if len(df)
            else schema.empty_table()
        )
        pq.write_table(table, part_path(folder, index))
        self.counts[spec.name] = self.counts.get(spec.name, 0) + len(df)

    def finish(self) -> dict[str, int]:
        for spec in TABLES.values():
            if spec.name not in self.counts:
                log.info("no data for %s: writing it empty", spec.name)
                self.write(spec, pd.DataFrame(columns=spec.columns))
        return self.counts


def _zone(ws: Workspace) -> dict:
    if not ws.zone_file.is_file():
        raise MissingDataError(
            f"{ws.zone_file} not found: run `gridml data generate` or `gridml data import` first"
        )
    return json.loads(ws.zone_file.read_text())


def _feed(ws: Workspace, name: str) -> pd.DataFrame | None:
    return read_parts(ws.feed_dir(name))


@dataclass
class _Context:
    """What the build steps share: the grid, the topology and the interruption shares."""

    ws: Workspace
    zone: dict
    grid: Grid
    transformers: pd.DataFrame | None
    topo: pd.DataFrame | None  # meters joined to transformers, indexed by meter_id
    interruptions: pd.DataFrame | None
    series: pd.DataFrame  # every load series (features/tables/series.zone_series)
    meter_series: tuple[str, ...] = ()

    feeders: pd.Index = field(default_factory=lambda: pd.Index([]))
    units: pd.Index = field(default_factory=lambda: pd.Index([]))
    feeder_out: np.ndarray | None = None  # (feeders, hours) share of the hour without supply
    unit_out: np.ndarray | None = None  # (transformers, hours), transformer failures
    feeder_shed: np.ndarray | None = None  # (feeders, hours), load shedding only

    def meter_interruptions(self, ids: pd.Index) -> tuple[np.ndarray, np.ndarray]:
        """(meters, hours) share of each hour without supply, and of it load shedding."""
        if self.topo is None or self.feeder_out is None:
            nan = np.full((len(ids), self.grid.hours), np.nan)
            return nan, nan
        t = self.topo.reindex(ids)
        f_rows = self.feeders.get_indexer(t["feeder_id"])
        t_rows = self.units.get_indexer(t["transformer_id"])
        out = np.clip(self.feeder_out[f_rows] + self.unit_out[t_rows], 0.0, 1.0)
        known = f_rows[:, None] >= 0
        return np.where(known, out, np.nan), np.where(known, self.feeder_shed[f_rows], np.nan)


def _context(ws: Workspace, meter_series: tuple[str, ...] = ()) -> _Context:
    zone = _zone(ws)
    grid = Grid.covering(
        pd.Timestamp(zone["start"]), pd.Timestamp(zone["end"]) - HOUR, zone["timezone"]
    )
    transformers = _feed(ws, "transformers")
    topo = zone_series_mod.topology_frame(ws)
    # the hierarchy of the meters (or, readings only, the zone's total) and the measured series
    series = zone_series_mod.zone_series(ws, meter_series, topo)
    ctx = _Context(
        ws, zone, grid, transformers, topo, _feed(ws, "interruptions"), series, meter_series
    )
    if transformers is not None:
        ctx.feeders = pd.Index(sorted(transformers["feeder_id"].unique()))
        ctx.units = pd.Index(sorted(transformers["transformer_id"].unique()))
        ev = ctx.interruptions
        on_feeder = None if ev is None else ev[ev["transformer_id"].isna()]
        shares = grid_tables.interruption_shares
        ctx.feeder_out = shares(on_feeder, "feeder_id", ctx.feeders, grid)
        ctx.unit_out = shares(ev, "transformer_id", ctx.units, grid)
        ctx.feeder_shed = shares(on_feeder, "feeder_id", ctx.feeders, grid, ("load_shedding",))
    return ctx


def _summed_series(ctx: _Context) -> pd.DataFrame:
    """The series whose load is a sum of meters (the hierarchy), not the stand-alone ones."""
    series = ctx.series
    if ctx.topo is None:
        return series[series["series_id"] == load.ZONE_ID]
    return series[series["meters"].notna()]


def _meter_pass(ctx: _Context, out: _Writer, progress: bool) -> tuple[pd.Index, dict | None]:
    """Readings part by part: meter hourly rows, daily bases, and the series load sums; then
    the load tables of every series, measured load included."""
    files = parts(ctx.ws.feed_dir("readings"))
    measured = _feed(ctx.ws, "load_measurements")
    if not files and measured is None:
        raise MissingDataError(
            f"no readings under {ctx.ws.feed_dir('readings')} and no load measurements under "
            f"{ctx.ws.feed_dir('load_measurements')}"
        )
    summed = _summed_series(ctx)
    acc = load.LoadAccumulator(summed, ctx.grid) if files and len(summed) else None
    ids_seen, bases = [], []
    for f in track(files, description="meter features", disable=not progress):
        readings = pd.read_parquet(f)
        ids = pd.Index(sorted(readings["meter_id"].unique()))
        kwh = to_matrix(readings, "meter_id", "kwh", ids, ctx.grid)
        del readings
        interrupted, shedding = ctx.meter_interruptions(ids)
        if acc is not None:
            members = (
                load.series_of_meters(ctx.topo.reindex(ids), ctx.meter_series)
                if ctx.topo is not None
                else pd.DataFrame({"zone": load.ZONE_ID}, index=ids)
            )
            acc.add(members, kwh, interrupted, shedding)
        out.write(TABLES["meter_hourly"], meter.meter_hourly(ids, kwh, interrupted, ctx.grid))
        ids_seen.append(ids)
        bases.append(meter.meter_day_base(ids, kwh, interrupted, ctx.grid))
    if len(ctx.series):
        all_ids = pd.Index(ctx.series["series_id"])
        sums = acc.matrices() if acc is not None else None
        sum_ids = acc.ids if acc is not None else pd.Index([])
        m = load.with_measurements(all_ids, sum_ids, sums, measured, ctx.grid)
        out.write(TABLES["load_hourly"], load.load_hourly(all_ids, m, ctx.grid))
        out.write(TABLES["load_week_profile"], load.load_week_profile(all_ids, m, ctx.grid))
        out.write(TABLES["series_profile"], load.series_profile(ctx.series, ctx.grid))
    if not ids_seen:
        return pd.Index([]), None
    meter_ids = pd.Index(np.concatenate([i.to_numpy() for i in ids_seen]))
    return meter_ids, {k: np.concatenate([b[k] for b in bases]) for k in bases[0]}


def _meter_daily(ctx: _Context, out: _Writer, ids: pd.Index, base: dict) -> pd.DataFrame | None:
    """Daily meter rows (peers, vends) and the static profile; returns the billed energy per
    transformer-day for the energy balance (None without topology)."""
    topo = ctx.topo.reindex(ids) if ctx.topo is not None else None
    tr_of = topo["transformer_id"].to_numpy() if topo is not None else np.full(len(ids), None)
    prepaid = (
        (topo["segment"] == "residential_prepaid").to_numpy()
        if topo is not None
        else np.zeros(len(ids), dtype=bool)
    )
    vends = meter.vend_features(ids, _feed(ctx.ws, "vends"), base["kwh_day"], prepaid, ctx.grid)
    out.write(TABLES["meter_daily"], meter.meter_daily(ids, base, tr_of, vends, ctx.grid))
    if topo is None:
        return None
    profile = topo.reset_index().rename(columns={"index": "meter_id"})
    profile["is_prepaid"] = prepaid.astype("int64")
    profile[EVENT_TIMESTAMP] = ctx.grid.start
    out.write(TABLES["meter_profile"], profile)
    billed = pd.DataFrame(
        {
            "transformer_id": np.repeat(tr_of, ctx.grid.days),
            "day": np.tile(np.arange(ctx.grid.days), len(ids)),
            "kwh": base["kwh_day"].reshape(-1),
        }
    )
    billed["meters"] = billed["kwh"].notna().astype(float)
    return billed.groupby(["transformer_id", "day"], as_index=False).agg(
        kwh=("kwh", "sum"), meters=("meters", "sum")
    )


def _context_tables(ctx: _Context, out: _Writer) -> None:
    """Weather and the regions' calendar."""
    weather = _feed(ctx.ws, "weather")
    if weather is not None:
        out.write(TABLES["weather_hourly"], grid_tables.weather_hourly(weather, ctx.grid))
    regions = set(ctx.series["region_id"].dropna()) or {zone_series_mod.zone_region(ctx.zone)}
    for frame in (ctx.transformers, weather):
        if frame is not None:
            regions |= set(frame["region_id"].dropna())
    region_ids = pd.Index(sorted(regions))
    calendar = grid_tables.region_calendar(
        region_ids, ctx.zone["country"], ctx.grid, ctx.zone.get("subdivision")
    )
    out.write(TABLES["region_calendar"], calendar)


def _transformer_tables(
    ctx: _Context, out: _Writer, billed: pd.DataFrame | None, progress: bool
) -> None:
    files = parts(ctx.ws.feed_dir("transformer_telemetry"))
    if not files:
        return
    dga, maint = _feed(ctx.ws, "transformer_dga"), _feed(ctx.ws, "maintenance")
    for f in track(files, description="transformer features", disable=not progress):
        telemetry = pd.read_parquet(f)
        daily = transformer.transformer_daily(telemetry, dga, maint, ctx.transformers, ctx.grid)
        out.write(TABLES["transformer_daily"], daily)
        if billed is not None:
            energy = transformer.transformer_energy(telemetry, billed, ctx.grid)
            out.write(TABLES["transformer_energy_daily"], energy)


def build_tables(
    ws: Workspace, progress: bool = True, meter_series: tuple[str, ...] = ()
) -> dict[str, int]:
    """Compute all feature tables into WORKSPACE/offline; returns rows per table.

    `meter_series`: meters to forecast on their own (load series `meter:<id>`). Live data
    landed under WORKSPACE/landing is merged into the feeds first (`features.merge`)."""
    from gridml.features.merge import merge_landed

    merge_landed(ws)
    ctx = _context(ws, tuple(meter_series))
    with staged_dir(ws.offline) as root:
        out = _Writer(root)
        ids, base = _meter_pass(ctx, out, progress)
        billed = _meter_daily(ctx, out, ids, base) if base is not None else None
        del base
        _context_tables(ctx, out)
        _transformer_tables(ctx, out, billed, progress)
        counts = out.finish()
    for name, rows in counts.items():
        log.info("%-26s %12s rows", name, f"{rows:,}")
    return counts
