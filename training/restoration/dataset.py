"""One row per unplanned outage at its detection time, with only what is known then.

Features (all from before detection): kind of fault (its level when the kind is unknown),
local hour and night, rain in the region's hour of the start, age of the assets below the
node, customers affected, transformers below the node and the region's outages still open at
detection. Target: the duration (hours, start to end); outages still open at the end of the
data are right-censored at it (`event` 0), never dropped and never treated as ended.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError
from gridml.io import read_parts
from gridml.workspace import Workspace

KINDS = (
    "fuse",
    "transformer_damage",
    "transformer_failure",
    "line_fault",
    "vegetation",
    "breaker_trip",
    "substation_equipment",
    "transformer",  # the level, when the kind of fault is unknown
    "feeder",
    "substation",
)
LEVEL_CODE = {"transformer": 0, "feeder": 1, "substation": 2}
FEATURES = (
    "kind_code",
    "level_code",
    "hour",
    "night",
    "rain_mm",
    "asset_age",
    "customers",
    "transformers",
    "open_in_region",
)
OUTAGE_REQUIRED = ("outage_id", "level", "node_id", "start", "end", "region_id", "customers")


@dataclass(frozen=True)
class Grid:
    transformers: pd.DataFrame  # transformer_id, feeder_id, substation_id, commissioned_year
    weather: pd.DataFrame  # region_id, timestamp, rainfall_mm
    timezone: str
    data_end: pd.Timestamp


def kind_of(cause: object, level: str) -> str:
    """The kind of fault when known, else the outage's level."""
    if isinstance(cause, str) and cause in KINDS:
        return cause
    return level


def _below(tr: pd.DataFrame, level: str, node: str) -> pd.DataFrame:
    col = {"transformer": "transformer_id", "feeder": "feeder_id", "substation": "substation_id"}
    return tr[tr[col[level]] == node]


def outage_rows(outages: pd.DataFrame, grid: Grid) -> pd.DataFrame:
    """The modelling table: `outage_id`, `detected_at`, `kind`, FEATURES, `duration_h`,
    `event` (1 ended within the data, 0 right-censored at its end)."""
    missing = [c for c in OUTAGE_REQUIRED if c not in outages.columns]
    if missing:
        raise MissingDataError(f"outages table lacks column(s) {missing}")
    o = outages[outages.get("kind", "unplanned") == "unplanned"] if "kind" in outages else outages
    o = o.sort_values("start", kind="stable").reset_index(drop=True)
    start = pd.to_datetime(o["start"], utc=True)
    end = pd.to_datetime(o["end"], utc=True)
    detected = (
        pd.to_datetime(o["first_gasp"], utc=True).fillna(start) if "first_gasp" in o else start
    )
    detected = detected.where(detected >= start, start)
    local = start.dt.tz_convert(grid.timezone)
    hour = local.dt.hour.to_numpy()
    rain = grid.weather.assign(timestamp=pd.to_datetime(grid.weather["timestamp"], utc=True))
    rain = rain.set_index(["region_id", "timestamp"])["rainfall_mm"]
    keys = pd.MultiIndex.from_arrays([o["region_id"].astype(str), start.dt.floor("h")])
    rain_mm = rain.reindex(keys).to_numpy(dtype=float)
    tr = grid.transformers
    year = start.dt.year.to_numpy()
    ages, counts = [], []
    for level, node, y in zip(o["level"], o["node_id"], year, strict=True):
        below = _below(tr, str(level), str(node))
        counts.append(len(below))
        ages.append(float((y - below["commissioned_year"]).mean()) if len(below) else np.nan)
    t = detected.to_numpy()
    s, e, region = start.to_numpy(), end.to_numpy(), o["region_id"].astype(str).to_numpy()
    # open at detection: started before it and not yet ended (known at that time)
    open_in_region = [
        int(((region == r) & (s < ti) & (e > ti)).sum()) - 1
        for r, ti in zip(region, t, strict=True)
    ]
    causes = o["cause"] if "cause" in o else pd.Series([None] * len(o))
    kind = [kind_of(c, str(lv)) for c, lv in zip(causes, o["level"], strict=True)]
    observed_end = end.where(end <= grid.data_end, grid.data_end)
    return pd.DataFrame(
        {
            "outage_id": o["outage_id"].astype(str),
            "start": start,
            "detected_at": detected,
            "kind": kind,
            "kind_code": [KINDS.index(k) for k in kind],
            "level_code": o["level"].map(LEVEL_CODE).astype(int),
            "hour": hour,
            "night": ((hour >= 20) | (hour < 6)).astype(int),
            "rain_mm": rain_mm,
            "asset_age": ages,
            "customers": o["customers"].astype(float),
            "transformers": np.asarray(counts, dtype=float),
            "open_in_region": np.maximum(open_in_region, 0),
            "duration_h": (observed_end - start).dt.total_seconds().to_numpy() / 3600.0,
            "event": (end <= grid.data_end).astype(int).to_numpy(),
        }
    )


def load_grid(ws: Workspace) -> Grid:
    """The workspace's transformers, weather, time zone and end of data."""
    if not ws.zone_file.is_file():
        raise MissingDataError(f"{ws.zone_file} not found: generate or import data first")
    zone = json.loads(ws.zone_file.read_text())
    tr = read_parts(ws.feed_dir("transformers"))
    weather = read_parts(ws.feed_dir("weather"), columns=["region_id", "timestamp", "rainfall_mm"])
    if tr is None or weather is None:
        raise MissingDataError("the restoration model needs the transformers and weather feeds")
    return Grid(tr, weather, str(zone.get("timezone") or "UTC"), pd.Timestamp(zone["end"]))


def load_outages(ws: Workspace) -> pd.DataFrame:
    """Ground-truth unplanned outages (labels/outages.parquet) as the model's rows."""
    path = ws.labels / "outages.parquet"
    if not path.is_file():
        raise MissingDataError(f"{path} not found: the zone has no outage labels")
    return outage_rows(pd.read_parquet(path), load_grid(ws))
