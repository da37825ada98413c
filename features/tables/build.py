"""Build every feature table of a workspace from its feeds (`gridml features build`).

Readings are processed part by part (bounded memory); the tables are written into a staging
folder and swapped in whole, so the offline store is never half-built. Tables whose feeds are
absent (an import with readings only) are written empty with their schema: the views exist and
return nulls, and the rest of the platform works with whichever feeds exist.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gridml.errors import MissingDataError
from gridml.features.merge import part_groups
from gridml.features.tables import grid as grid_tables
from gridml.features.tables import incremental, liveness, load, meter, transformer
from gridml.features.tables import series as zone_series_mod
from gridml.features.tables.catalog import EVENT_TIMESTAMP, TABLES, TableSpec
from gridml.features.tables.steps import BuildSteps
from gridml.features.tables.timegrid import DAY, HOUR, Grid, to_long, to_matrix
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
    """Writes parts of each table into the staging folder, with the table's exact schema.

    Incremental (`old_end` set): the previous build's parts are linked in first, and only the
    rows of the period from `old_end` on are written, as new parts."""

    def __init__(
        self, root: Path, previous: Path | None = None, old_end: pd.Timestamp | None = None
    ) -> None:
        self.root = root
        self.counts: dict[str, int] = {}
        self.old_end = old_end
        if previous is not None:
            for spec in TABLES.values():
                folder = root / spec.name
                folder.mkdir()
                for f in parts(previous / spec.name):
                    _link_or_copy(f, folder / f.name)

    def write(self, spec: TableSpec, df: pd.DataFrame) -> None:
        if self.old_end is not None:
            df = incremental.new_rows(spec.name, df, self.old_end)
            if not len(df):
                self.counts.setdefault(spec.name, 0)
                return
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

    def replace(self, spec: TableSpec, df: pd.DataFrame) -> None:
        """Write the whole table, in an incremental build too (the previous build's parts,
        linked into staging, are dropped): for a table whose history can change (events
        landed late)."""
        folder = self.root / spec.name
        for f in parts(folder):
            f.unlink()
        old_end, self.old_end = self.old_end, None
        try:
            self.write(spec, df)
        finally:
            self.old_end = old_end

    def finish(self) -> dict[str, int]:
        for spec in TABLES.values():
            if self.old_end is not None:
                self.counts.setdefault(spec.name, 0)
            elif spec.name not in self.counts:
                log.info("no data for %s: writing it empty", spec.name)
                self.write(spec, pd.DataFrame(columns=spec.columns))
        return self.counts


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


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
    grid: Grid  # what is computed: the whole period, or an incremental build's window
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
    origin_day: int = 0  # the period's first day on `grid`'s days (< 0 in a window)
    aged_before: pd.Series | None = None  # ageing hours observed before the window
    live_before: pd.DataFrame | None = None  # meter_liveness at the window's start (by meter)
    # per transformer and hour: its meters' kWh summed and count heard (the energy balance)
    unit_sums: tuple[pd.Index, np.ndarray, np.ndarray] | None = None

    @property
    def windowed(self) -> bool:
        return self.origin_day < 0

    def read(self, group: list[Path], entity: str) -> tuple[pd.Index, pd.DataFrame]:
        """A feed part group's entities (sorted) and its rows on the grid (a base part and its
        delta parts: `merge.part_groups`): all of them in a full build; in a window only its
        rows, filtered while reading (the entities still come from the whole group, so an
        entity silent in the window keeps its rows, as in a full build)."""
        if not self.windowed:
            frame = pd.concat([pd.read_parquet(p) for p in group], ignore_index=True)
            return pd.Index(sorted(frame[entity].unique())), frame
        ids: set[str] = set()
        frames = []
        start = pa.scalar(self.grid.start, pa.timestamp("ns", tz="UTC"))
        for path in group:  # one read: entities from the dictionary, then the window's rows
            table = pq.read_table(path, read_dictionary=[entity])
            ids |= {v for chunk in table[entity].chunks for v in chunk.dictionary.to_pylist()}
            frame = table.filter(pc.greater_equal(table["timestamp"], start)).to_pandas()
            frames.append(frame.assign(**{entity: frame[entity].astype(object)}))
        return pd.Index(sorted(ids)), pd.concat(frames, ignore_index=True)

    def meter_interruptions(self, ids: pd.Index) -> tuple[np.ndarray, np.ndarray]:
        """(meters, hours) share of each hour without supply, and of it load shedding."""
        # the three arrays are set together (with the transformers feed), or none of them
        if (
            self.topo is None
            or self.feeder_out is None
            or self.unit_out is None
            or self.feeder_shed is None
        ):
            nan = np.full((len(ids), self.grid.hours), np.nan)
            return nan, nan
        t = self.topo.reindex(ids)
        f_rows = self.feeders.get_indexer(t["feeder_id"])
        t_rows = self.units.get_indexer(t["transformer_id"])
        out = np.clip(self.feeder_out[f_rows] + self.unit_out[t_rows], 0.0, 1.0)
        known = f_rows[:, None] >= 0
        return np.where(known, out, np.nan), np.where(known, self.feeder_shed[f_rows], np.nan)


def _period(zone: dict) -> Grid:
    return Grid.covering(
        pd.Timestamp(zone["start"]), pd.Timestamp(zone["end"]) - HOUR, zone["timezone"]
    )


def _context(
    ws: Workspace, zone: dict, grid: Grid, meter_series: tuple[str, ...] = (), origin_day: int = 0
) -> _Context:
    transformers = _feed(ws, "transformers")
    topo = zone_series_mod.topology_frame(ws)
    # the hierarchy of the meters (or, readings only, the zone's total) and the measured series
    series = zone_series_mod.zone_series(ws, meter_series, topo)
    ctx = _Context(
        ws, zone, grid, transformers, topo, _feed(ws, "interruptions"), series, meter_series
    )
    ctx.origin_day = origin_day
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


def _meter_pass(ctx: _Context, out: _Writer, steps: BuildSteps) -> tuple[pd.Index, dict | None]:
    """Readings part by part: meter hourly rows, daily bases, and the series load sums; then
    the load tables of every series, measured load included."""
    files = part_groups(ctx.ws.feed_dir("readings"))
    measured = _feed(ctx.ws, "load_measurements")
    if not files and measured is None:
        raise MissingDataError(
            f"no readings under {ctx.ws.feed_dir('readings')} and no load measurements under "
            f"{ctx.ws.feed_dir('load_measurements')}"
        )
    summed = _summed_series(ctx)
    acc = load.LoadAccumulator(summed, ctx.grid) if files and len(summed) else None
    ids_seen, bases = [], []
    per_unit = liveness.transformer_meters(ctx.topo) if ctx.topo is not None else None
    heard = np.zeros((0 if per_unit is None else len(per_unit), ctx.grid.hours))
    unit_kwh = np.zeros_like(heard)
    for i, f in enumerate(files, 1):
        steps.step(f"meter features: part {i} of {len(files)}")
        ids, readings = ctx.read(f, "meter_id")
        kwh = to_matrix(readings, "meter_id", "kwh", ids, ctx.grid)
        del readings
        if per_unit is not None and ctx.topo is not None:
            rows = per_unit.index.get_indexer(ctx.topo.reindex(ids)["transformer_id"])
            heard += liveness.heard_counts(~np.isnan(kwh), rows, len(per_unit))
            unit_kwh += liveness.heard_counts(np.nan_to_num(kwh), rows, len(per_unit))
        interrupted, shedding = ctx.meter_interruptions(ids)
        if acc is not None:
            members = (
                load.series_of_meters(ctx.topo.reindex(ids), ctx.meter_series)
                if ctx.topo is not None
                else pd.DataFrame({"zone": load.ZONE_ID}, index=ids)
            )
            acc.add(members, kwh, interrupted, shedding)
        out.write(TABLES["meter_hourly"], meter.meter_hourly(ids, kwh, interrupted, ctx.grid))
        out.write(
            TABLES["meter_liveness"], meter.meter_liveness(ids, kwh, ctx.grid, _prior(ctx, ids))
        )
        ids_seen.append(ids)
        bases.append(meter.meter_day_base(ids, kwh, interrupted, ctx.grid))
    if per_unit is not None and files:
        share = liveness.heard_share(heard, per_unit.to_numpy())
        hours = ctx.grid.hour_index() + HOUR
        frame = to_long("transformer_id", per_unit.index, hours, {"meters_heard_share": share})
        out.write(TABLES["transformer_liveness"], frame)
        ctx.unit_sums = (per_unit.index, unit_kwh, heard)
    if len(ctx.series):
        steps.step(f"load tables: {len(ctx.series)} series")
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
    vends = meter.vend_features(
        ids, _feed(ctx.ws, "vends"), base["kwh_day"], prepaid, ctx.grid, ctx.origin_day
    )
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
    ctx: _Context, out: _Writer, billed: pd.DataFrame | None, steps: BuildSteps
) -> None:
    files = part_groups(ctx.ws.feed_dir("transformer_telemetry"))
    if not files:
        return
    dga, maint = _feed(ctx.ws, "transformer_dga"), _feed(ctx.ws, "maintenance")
    for i, f in enumerate(files, 1):
        steps.step(f"transformer features: part {i} of {len(files)}")
        ids, telemetry = ctx.read(f, "transformer_id")
        daily = transformer.transformer_daily(
            telemetry, dga, maint, ctx.transformers, ctx.grid, ctx.origin_day, ctx.aged_before, ids
        )
        out.write(TABLES["transformer_daily"], daily)
        if billed is not None:
            energy = transformer.transformer_energy(telemetry, billed, ctx.grid, ids)
            out.write(TABLES["transformer_energy_daily"], energy)
        if ctx.unit_sums is not None:
            units, unit_kwh, heard = ctx.unit_sums
            rows = units.get_indexer(ids)
            found = (rows >= 0)[:, None]
            balance = liveness.balance_table(
                ids,
                to_matrix(telemetry, "transformer_id", "energy_kwh", ids, ctx.grid),
                np.where(found, unit_kwh[rows], 0.0),
                np.where(found, heard[rows], 0.0),
                ctx.grid.hour_index() + HOUR,
            )
            out.write(TABLES["transformer_energy_balance"], balance)


def _meter_events(ws: Workspace) -> pd.DataFrame:
    """Meter events: landed by the stream (landing/meter_events) and any meter_events feed."""
    from gridml.features.landing import landing_dir

    frames = [read_parts(landing_dir(ws, "meter_events")), read_parts(ws.feed_dir("meter_events"))]
    found = [f[["meter_id", "timestamp", "kind"]] for f in frames if f is not None and len(f)]
    if not found:
        return pd.DataFrame(columns=["meter_id", "timestamp", "kind"])
    return pd.concat(found, ignore_index=True)


def _prior(ctx: _Context, ids: pd.Index) -> liveness.State | None:
    """The liveness state of `ids` before an incremental window (None in a full build)."""
    if ctx.live_before is None:
        return None
    rows = ctx.live_before.reindex(ids)
    return liveness.State.from_columns(
        rows["last_reading_unix_s"].to_numpy(), rows["zero_run_hours"].to_numpy()
    )


def _live_before(ws: Workspace, at: pd.Timestamp) -> pd.DataFrame:
    """The previous build's meter_liveness rows stamped at `at` (the window's start: the end
    of the hour before it), indexed by meter."""
    import pyarrow.dataset as ds

    rows = read_parts(
        ws.table_dir("meter_liveness"),
        columns=["meter_id", "last_reading_unix_s", "zero_run_hours"],
        filter_expr=ds.field(EVENT_TIMESTAMP) == pa.scalar(at, pa.timestamp("ns", tz="UTC")),
    )
    if rows is None:
        return pd.DataFrame(columns=["last_reading_unix_s", "zero_run_hours"])
    return rows.drop_duplicates("meter_id").set_index("meter_id")


def _aged_before(ws: Workspace, at: pd.Timestamp) -> pd.Series:
    """The ageing hours observed per transformer up to `at` (the previous build's row
    stamped there: the end of the day before an incremental build's window)."""
    import pyarrow.dataset as ds

    rows = read_parts(
        ws.table_dir("transformer_daily"),
        columns=["transformer_id", EVENT_TIMESTAMP, "ageing_hours_observed"],
        filter_expr=ds.field(EVENT_TIMESTAMP) == pa.scalar(at, pa.timestamp("ns", tz="UTC")),
    )
    if rows is None:
        return pd.Series(dtype=float)
    return rows.drop_duplicates("transformer_id").set_index("transformer_id")[
        "ageing_hours_observed"
    ]


def build_tables(
    ws: Workspace,
    progress: bool = True,
    meter_series: tuple[str, ...] = (),
    full: bool = False,
) -> dict[str, int]:
    """Compute the feature tables into WORKSPACE/offline; returns rows written per table.

    `meter_series`: meters to forecast on their own (load series `meter:<id>`). Live data
    landed under WORKSPACE/landing is merged into the feeds first (`features.merge`). When
    the previous build's manifest shows that only new days arrived, only those are computed
    and appended (`features.tables.incremental`; the counts are the rows appended); `full`
    rebuilds everything."""
    from gridml.features.merge import merge_landed

    meter_series = tuple(meter_series)
    previous = incremental.read_manifest(ws)
    before = incremental.feed_fingerprint(ws)
    report = merge_landed(ws)
    zone = _zone(ws)
    period = _period(zone)
    plan = incremental.plan_build(
        ws, previous, before, report.first, zone, period, meter_series, full
    )
    if plan.incremental and plan.old_days == period.days:
        log.info("feature tables up to date (%d days); nothing to build", period.days)
        return dict.fromkeys(TABLES, 0)
    log.info("%s feature build: %s", "incremental" if plan.incremental else "full", plan.reason)
    grid = incremental.window(period, plan.old_days) if plan.incremental else period
    origin_day = round((period.start - grid.start) / DAY)
    feed_parts = [parts(ws.feed_dir(f)) for f in ("readings", "transformer_telemetry")]
    total = 5 + sum(len(p) for p in feed_parts)
    with BuildSteps(total, enabled=progress) as steps, staged_dir(ws.offline) as root:
        steps.step("reading the feeds and the grid")
        ctx = _context(ws, zone, grid, meter_series, origin_day)
        old_end = period.start + plan.old_days * DAY if plan.incremental else None
        if ctx.windowed:
            ctx.aged_before = _aged_before(ws, grid.start)
            ctx.live_before = _live_before(ws, grid.start)
        out = _Writer(root, ws.offline if plan.incremental else None, old_end)
        ids, base = _meter_pass(ctx, out, steps)
        steps.step("daily meter features, energy balance")
        billed = _meter_daily(ctx, out, ids, base) if base is not None else None
        del base
        steps.step("weather and calendar")
        _context_tables(ctx, out)
        _transformer_tables(ctx, out, billed, steps)
        out.replace(TABLES["meter_last_event"], liveness.event_rows(_meter_events(ws)))
        steps.step("writing the tables")
        counts = out.finish()
        manifest = incremental.Manifest(
            format=incremental.FORMAT,
            mode="incremental" if plan.incremental else "full",
            built_at=pd.Timestamp.now(tz="UTC").to_pydatetime(),
            zone_start=zone["start"],
            zone_end=zone["end"],
            grid_start=period.start.to_pydatetime(),
            grid_days=period.days,
            timezone=zone["timezone"],
            meter_series=list(meter_series),
            feeds=incremental.feed_fingerprint(ws),
            appended_days=period.days - plan.old_days if plan.incremental else 0,
        )
        incremental.write_manifest(manifest, root)
    for name, rows in counts.items():
        log.info("%-26s %12s rows", name, f"{rows:,}")
    return counts
