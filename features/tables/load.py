"""Grid load series at every level of the hierarchy: transformer, feeder, substation, zone.

A series' load is the sum of its meters' readings (scaled up for the few missing ones), or its
measured load (`load_measurements`): a measured series whose id is a series of the hierarchy
(e.g. `feeder:F001`) replaces the sum of its meters in the hours measured (the levels above stay
sums of meters unless measured too); one whose id is not stands alone at its own level, with no
parent. Every series carries the energy unit of its load (`unit`: kWh for meter sums, the
measured series' unit otherwise; `load_kwh` holds the load in that unit). Hours with an
interruption are unserved demand, not low demand: the rolling statistics and the weekly profile
ignore them (NaN), and `interrupted_share` says how much of the series was out.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from gridml.features.tables.catalog import LOAD_HOURLY, LOAD_WEEK_PROFILE, SERIES_PROFILE
from gridml.features.tables.timegrid import DAY, HOUR, Grid, lag, rolling, to_long, to_matrix

LEVELS = ("transformer", "feeder", "substation", "zone")
ZONE_ID = "zone:all"
ZONE_REGION = "R00"  # the region of a zone whose grid topology is unknown (readings only)


METER_LEVEL = "meter"  # single meters forecast on request, outside the summed hierarchy
HIERARCHY_UNIT = "kWh"  # the unit of every load summed from meters
SERIES_COLUMNS = [
    "series_id",
    "level",
    "unit",
    "region_id",
    "parent_id",
    "meters",
    "share_residential",
    "share_commercial",
    "share_industrial",
    "share_prepaid",
]


def series_of_meters(topology: pd.DataFrame, meter_series: Iterable[str] = ()) -> pd.DataFrame:
    """For each meter (rows of `topology`, indexed by meter_id), the series id it belongs to at
    every level; the `meter` column names the meters that are series of their own (else NaN)."""
    chosen = topology.index.isin(list(meter_series))
    return pd.DataFrame(
        {
            "transformer": "transformer:" + topology["transformer_id"].astype(str),
            "feeder": "feeder:" + topology["feeder_id"].astype(str),
            "substation": "substation:" + topology["substation_id"].astype(str),
            "zone": ZONE_ID,
            METER_LEVEL: np.where(chosen, "meter:" + topology.index.astype(str), None),
        },
        index=topology.index,
    )


def series_table(topology: pd.DataFrame, meter_series: Iterable[str] = ()) -> pd.DataFrame:
    """One row per series: level, region (weather and calendar), parent, size and customer mix.

    `topology` is indexed by meter_id; `meter_series` lists meters forecast on their own (their
    parent is their transformer, but they are not summed into it twice)."""
    members = series_of_meters(topology, meter_series)
    rows = []
    for i, level in enumerate((METER_LEVEL, *LEVELS)):
        parent = (METER_LEVEL, *LEVELS)[i + 1] if i + 1 <= len(LEVELS) else None
        for sid, idx in members.dropna(subset=[level]).groupby(level).groups.items():
            meters = topology.loc[idx]
            seg = meters["segment"].value_counts(normalize=True)
            rows.append(
                {
                    "series_id": sid,
                    "level": level,
                    "unit": HIERARCHY_UNIT,
                    "region_id": meters["region_id"].mode().iat[0],
                    "parent_id": members.loc[idx, parent].iat[0] if parent else "",
                    "meters": float(len(meters)),
                    "share_residential": float(
                        seg.get("residential_prepaid", 0) + seg.get("residential_postpaid", 0)
                    ),
                    "share_commercial": float(seg.get("commercial", 0)),
                    "share_industrial": float(seg.get("industrial", 0)),
                    "share_prepaid": float(seg.get("residential_prepaid", 0)),
                }
            )
    return pd.DataFrame(rows)


def zone_only_series(meters: int, region: str = ZONE_REGION) -> pd.DataFrame:
    """The series of a zone imported with readings only: its total load, nothing below."""
    return pd.DataFrame(
        [
            {
                "series_id": ZONE_ID,
                "level": "zone",
                "unit": HIERARCHY_UNIT,
                "region_id": region,
                "parent_id": "",
                "meters": float(meters),
            }
        ]
    ).assign(
        share_residential=np.nan,
        share_commercial=np.nan,
        share_industrial=np.nan,
        share_prepaid=np.nan,
    )


def with_measured_series(
    hierarchy: pd.DataFrame | None, measured: pd.DataFrame | None
) -> pd.DataFrame:
    """The hierarchy's series plus each measured series (series_id, level, region_id, unit)
    whose id is not in it: stand-alone, no parent, size and customer mix unknown (NaN)."""
    frames = [] if hierarchy is None else [hierarchy[SERIES_COLUMNS]]
    if measured is not None:
        known = set() if hierarchy is None else set(hierarchy["series_id"])
        alone = measured[~measured["series_id"].isin(known)]
        frames.append(
            alone[["series_id", "level", "unit", "region_id"]].assign(
                parent_id="",
                meters=np.nan,
                share_residential=np.nan,
                share_commercial=np.nan,
                share_industrial=np.nan,
                share_prepaid=np.nan,
            )[SERIES_COLUMNS]
        )
    if not frames:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def with_measurements(
    ids: pd.Index,
    summed_ids: pd.Index,
    summed: dict[str, np.ndarray] | None,
    measured: pd.DataFrame | None,
    grid: Grid,
) -> dict[str, np.ndarray]:
    """The load matrices of every series `ids`: the meter sums (`summed`, rows `summed_ids`,
    from `LoadAccumulator.matrices`) with the measured load (`load_measurements` rows) in the
    hours measured. A stand-alone measured series is never interrupted as far as the feeds
    tell (share 0) and has no meter count (NaN)."""
    shape = (len(ids), grid.hours)
    out = {
        "load": np.full(shape, np.nan),
        "interrupted": np.zeros(shape),
        "shedding": np.zeros(shape),
        "reporting": np.full(shape, np.nan),
    }
    if summed is not None and len(summed_ids):
        rows = ids.get_indexer(summed_ids)
        for key in out:
            out[key][rows] = summed[key]
    if measured is not None and len(measured):
        value = to_matrix(measured, "series_id", "value", ids, grid)
        out["load"] = np.where(np.isnan(value), out["load"], value)
    out["unconstrained"] = np.where(out["interrupted"] > 0, np.nan, out["load"])
    return out


class LoadAccumulator:
    """Sums meter matrices into series matrices, part by part (bounded memory)."""

    def __init__(self, series: pd.DataFrame, grid: Grid) -> None:
        self.ids = pd.Index(series["series_id"])
        self.size = series.set_index("series_id")["meters"].to_numpy()
        self.level = series["level"].to_numpy()
        self.parent = self.ids.get_indexer(series["parent_id"])
        shape = (len(self.ids), grid.hours)
        self.load = np.zeros(shape)
        self.reporting = np.zeros(shape)
        self.interrupted = np.zeros(shape)
        self.shedding = np.zeros(shape)
        self.grid = grid

    def add(
        self, members: pd.DataFrame, kwh: np.ndarray, interrupted: np.ndarray, shedding: np.ndarray
    ) -> None:
        """`members`: series ids per meter row of the matrices, one column per level present
        (from `series_of_meters`)."""
        seen = ~np.isnan(kwh)
        for level in members.columns:
            rows = self.ids.get_indexer(members[level])
            mine = rows >= 0  # meters that are not a series of their own at this level
            rows = rows[mine]
            np.add.at(self.load, rows, np.where(seen, kwh, 0.0)[mine])
            np.add.at(self.reporting, rows, seen[mine])
            np.add.at(self.interrupted, rows, np.nan_to_num(interrupted)[mine])
            np.add.at(self.shedding, rows, np.nan_to_num(shedding)[mine])

    def matrices(self) -> dict[str, np.ndarray]:
        """Transformer loads are scaled up for missing readings; every level above is the sum
        of its children, so the hierarchy stays coherent (a parent is NaN when a child is)."""
        size = self.size[:, None]
        with np.errstate(all="ignore"):
            load = np.where(self.reporting > 0, self.load * size / self.reporting, np.nan)
        for child_level in LEVELS[:-1]:
            rows = np.flatnonzero(self.level == child_level)
            parents = np.unique(self.parent[rows])
            load[parents] = 0.0
            np.add.at(load, self.parent[rows], load[rows])
        interrupted = self.interrupted / size
        return {
            "load": load,
            "unconstrained": np.where(interrupted > 0, np.nan, load),
            "interrupted": interrupted,
            "shedding": self.shedding / size,
            "reporting": self.reporting,
        }


def load_hourly(ids: pd.Index, m: dict[str, np.ndarray], grid: Grid) -> pd.DataFrame:
    """Hourly rows stamped at the end of the hour; rolling statistics skip interrupted hours."""
    free = m["unconstrained"]
    cols = {
        "load_kwh": m["load"],
        "load_lag_24h": lag(free, 24),
        "load_lag_168h": lag(free, 168),
        "load_mean_24h": rolling(free, 24, "mean", 6),
        "load_mean_168h": rolling(free, 168, "mean", 48),
        "load_max_168h": rolling(free, 168, "max", 48),
        "interrupted_share": m["interrupted"],
        "shedding_share": m["shedding"],
        "meters_reporting": m["reporting"],
    }
    frame = to_long("series_id", ids, grid.hour_index() + HOUR, cols, keep=~np.isnan(m["load"]))
    return frame[LOAD_HOURLY.columns]


def load_week_profile(ids: pd.Index, m: dict[str, np.ndarray], grid: Grid) -> pd.DataFrame:
    """At each local midnight, the series' last 168 hourly loads (lag k = the hour that started
    k hours before midnight; NaN where interrupted): what a day-ahead or week-ahead forecast
    issued at midnight can know."""
    free = m["unconstrained"]
    n = len(ids)
    # every midnight after the first day, the grid's end included (the latest origin)
    midnights = np.arange(1, grid.days + 1) * 24
    cols = {}
    for k in range(1, 169):
        at = midnights - k
        values = np.full((n, len(midnights)), np.nan)
        ok = at >= 0
        values[:, ok] = free[:, at[ok]]
        cols[f"load_{k:03d}h_ago"] = values
    times = grid.day_index()[1:].append(pd.DatetimeIndex([grid.start + grid.days * DAY]))
    frame = to_long("series_id", ids, times, cols)
    return frame[LOAD_WEEK_PROFILE.columns]


def series_profile(series: pd.DataFrame, grid: Grid) -> pd.DataFrame:
    """The series_profile rows, stamped the day before the grid starts."""
    frame = series.assign(event_timestamp=grid.start - DAY)
    return frame[SERIES_PROFILE.columns]
