"""The load series of a workspace: the hierarchy its meters make and the series it measures.

One function, `zone_series`, used by `gridml features build` (to write the load tables and the
series profile) and by the lookups of training and serving (to know every series and its
region), so both see the same series.
"""

from __future__ import annotations

import json

import pandas as pd

from gridml.features.tables import load
from gridml.io import parts, read_parts
from gridml.workspace import Workspace

MEASURED_COLUMNS = ["series_id", "level", "region_id", "unit"]


def zone_region(zone: dict) -> str:
    """The region of series that have none (a zone's total without topology, measurements
    without `region_id`), as recorded at import; R00 for older workspaces."""
    return zone.get("region") or load.ZONE_REGION


def read_zone(ws: Workspace) -> dict:
    """The zone file's content (empty when there is none)."""
    return json.loads(ws.zone_file.read_text()) if ws.zone_file.is_file() else {}


def topology_frame(ws: Workspace) -> pd.DataFrame | None:
    """Meters joined to their transformers, indexed by meter_id; None without both feeds."""
    meters = read_parts(ws.feed_dir("meters"))
    transformers = read_parts(ws.feed_dir("transformers"))
    if meters is None or transformers is None:
        return None
    return meters.merge(transformers, on="transformer_id", how="left").set_index("meter_id")


def measured_series(ws: Workspace) -> pd.DataFrame | None:
    """series_id, level, region_id, unit of each measured series (None without the feed)."""
    frame = read_parts(ws.feed_dir("load_measurements"), columns=MEASURED_COLUMNS)
    if frame is None:
        return None
    return frame.drop_duplicates("series_id").reset_index(drop=True)


def reading_meters(ws: Workspace) -> int:
    """How many meters have readings (0 without readings)."""
    files = parts(ws.feed_dir("readings"))
    if not files:
        return 0
    ids = pd.concat(pd.read_parquet(f, columns=["meter_id"]) for f in files)["meter_id"]
    return int(ids.nunique())


def zone_series(
    ws: Workspace,
    meter_series: tuple[str, ...] = (),
    topo: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every load series of the workspace (the columns of `load.series_table` plus `unit`):
    the hierarchy of its meters (or the zone's total without topology), then each measured
    series whose id is not one of them (a measured id that is one of them joins it)."""
    zone = read_zone(ws)
    topo = topo if topo is not None else topology_frame(ws)
    if topo is not None:
        hierarchy = load.series_table(topo, meter_series)
    else:
        meters = reading_meters(ws)
        hierarchy = load.zone_only_series(meters, zone_region(zone)) if meters else None
    return load.with_measured_series(hierarchy, measured_series(ws))


def series_units(ws: Workspace, ids: pd.Index) -> pd.Series:
    """The energy unit of each series' load, indexed by `ids` (series_profile.unit as built by
    `gridml features build`; kWh where not recorded): what plots, cards and responses say."""
    profile = read_parts(ws.table_dir("series_profile"))
    if profile is None or "unit" not in profile.columns:
        return pd.Series(load.HIERARCHY_UNIT, index=ids, name="unit")
    units = profile.drop_duplicates("series_id").set_index("series_id")["unit"]
    return units.reindex(ids).fillna(load.HIERARCHY_UNIT).rename("unit")
