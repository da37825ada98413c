"""Build every feature table of a workspace from its feeds (`gridml features build`).

Readings are processed part by part (bounded memory); the tables are written into a staging
folder and swapped in whole, so the offline store is never half-built. Tables whose feeds are
absent (an import with readings only) are written empty with their schema: the views exist and
return nulls, and the rest of the platform works with whichever feeds exist.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from rich.progress import track

from gridml.errors import MissingDataError
from gridml.features.tables import grid as grid_tables
from gridml.features.tables import meter, transformer
from gridml.features.tables.catalog import EVENT_TIMESTAMP, TABLES, TableSpec
from gridml.features.tables.timegrid import Grid, to_matrix
from gridml.io import part_path, parts, read_parts, staged_dir
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
_ARROW = {"float": pa.float64(), "int": pa.int64(), "string": pa.string()}


def arrow_schema(spec: TableSpec) -> pa.Schema:
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


def build_tables(ws: Workspace, progress: bool = True) -> dict[str, int]:
    """Compute all feature tables into WORKSPACE/offline; returns rows per table."""
    zone = _zone(ws)
    grid = Grid.covering(
        pd.Timestamp(zone["start"]),
        pd.Timestamp(zone["end"]) - pd.Timedelta(hours=1),
        zone["timezone"],
    )
    meters = _feed(ws, "meters")
    transformers = _feed(ws, "transformers")
    interruptions = _feed(ws, "interruptions")
    topo = None
    if meters is not None and transformers is not None:
        topo = meters.merge(transformers, on="transformer_id", how="left").set_index("meter_id")

    feeder_ids = (
        pd.Index(sorted(transformers["feeder_id"].unique()))
        if transformers is not None
        else pd.Index([])
    )
    tr_ids = (
        pd.Index(sorted(transformers["transformer_id"].unique()))
        if transformers is not None
        else pd.Index([])
    )
    feeder_out = grid_tables.interruption_shares(
        None if interruptions is None else interruptions[interruptions["transformer_id"].isna()],
        "feeder_id",
        feeder_ids,
        grid,
    )
    tr_out = grid_tables.interruption_shares(interruptions, "transformer_id", tr_ids, grid)
    feeder_load = np.zeros((len(feeder_ids), grid.hours))
    feeder_reporting = np.zeros((len(feeder_ids), grid.hours))

    with staged_dir(ws.offline) as root:
        out = _Writer(root)
        day_ids, day_bases = [], []
        reading_parts = parts(ws.feed_dir("readings"))
        if not reading_parts:
            raise MissingDataError(f"no readings under {ws.feed_dir('readings')}")
        for f in track(reading_parts, description="meter features", disable=not progress):
            readings = pd.read_parquet(f)
            ids = pd.Index(sorted(readings["meter_id"].unique()))
            kwh = to_matrix(readings, "meter_id", "kwh", ids, grid)
            del readings
            if topo is not None:
                t = topo.reindex(ids)
                f_rows = feeder_ids.get_indexer(t["feeder_id"])
                t_rows = tr_ids.get_indexer(t["transformer_id"])
                interrupted = np.clip(feeder_out[f_rows] + tr_out[t_rows], 0.0, 1.0)
                interrupted[f_rows < 0] = np.nan
                np.add.at(feeder_load, f_rows[f_rows >= 0], np.nan_to_num(kwh[f_rows >= 0]))
                np.add.at(feeder_reporting, f_rows[f_rows >= 0], ~np.isnan(kwh[f_rows >= 0]))
            else:
                interrupted = np.full_like(kwh, np.nan)
            out.write(TABLES["meter_hourly"], meter.meter_hourly(ids, kwh, interrupted, grid))
            day_ids.append(ids)
            day_bases.append(meter.meter_day_base(ids, kwh, interrupted, grid))
        all_ids = pd.Index(np.concatenate([i.to_numpy() for i in day_ids]))
        base = {k: np.concatenate([b[k] for b in day_bases]) for k in day_bases[0]}
        del day_bases
        tr_of = (
            topo.reindex(all_ids)["transformer_id"].to_numpy()
            if topo is not None
            else np.full(len(all_ids), None)
        )
        prepaid = (
            (topo.reindex(all_ids)["segment"] == "residential_prepaid").to_numpy()
            if topo is not None
            else np.zeros(len(all_ids), dtype=bool)
        )
        vend = meter.vend_features(all_ids, _feed(ws, "vends"), base["kwh_day"], prepaid, grid)
        out.write(TABLES["meter_daily"], meter.meter_daily(all_ids, base, tr_of, vend, grid))

        if topo is not None:
            profile = topo.reindex(all_ids).reset_index().rename(columns={"index": "meter_id"})
            profile["is_prepaid"] = (profile["segment"] == "residential_prepaid").astype("int64")
            profile[EVENT_TIMESTAMP] = grid.start
            out.write(TABLES["meter_profile"], profile)
            out.write(
                TABLES["feeder_hourly"],
                grid_tables.feeder_hourly(
                    feeder_ids, feeder_load, feeder_reporting, interruptions, grid
                ),
            )
            billed = pd.DataFrame(
                {
                    "transformer_id": np.repeat(tr_of, grid.days),
                    "day": np.tile(np.arange(grid.days), len(all_ids)),
                    "kwh": base["kwh_day"].reshape(-1),
                }
            )
            billed["meters"] = billed["kwh"].notna().astype(float)
            billed = billed.groupby(["transformer_id", "day"], as_index=False).agg(
                kwh=("kwh", "sum"), meters=("meters", "sum")
            )
        weather = _feed(ws, "weather")
        if weather is not None:
            out.write(TABLES["weather_hourly"], grid_tables.weather_hourly(weather, grid))
        regions = (
            transformers["region_id"]
            if transformers is not None
            else weather["region_id"]
            if weather is not None
            else None
        )
        if regions is not None:
            out.write(
                TABLES["region_calendar"],
                grid_tables.region_calendar(
                    pd.Index(sorted(regions.unique())), zone["country"], grid
                ),
            )
        tel_parts = parts(ws.feed_dir("transformer_telemetry"))
        if tel_parts:
            dga, maint = _feed(ws, "transformer_dga"), _feed(ws, "maintenance")
            for f in track(tel_parts, description="transformer features", disable=not progress):
                telemetry = pd.read_parquet(f)
                out.write(
                    TABLES["transformer_daily"],
                    transformer.transformer_daily(telemetry, dga, maint, transformers, grid),
                )
                if topo is not None:
                    out.write(
                        TABLES["transformer_energy_daily"],
                        transformer.transformer_energy(telemetry, billed, grid),
                    )
        counts = out.finish()
    for name, rows in counts.items():
        log.info("%-26s %12s rows", name, f"{rows:,}")
    return counts
