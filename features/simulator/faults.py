"""Unplanned outages at transformer, feeder and substation level and how long they last.

A fault takes out its node and everything below it (a substation fault, all its feeders). The
restoration time is log-normal around its kind's median (heavy-tailed), multiplied by what
drives it in the field: night, rain, rural and long feeders, asset age and how many outages
the region's crews already handle. Faults that would start while a node on their path is
already out (another fault, or scheduled load shedding) are left out: nothing new goes dark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridml.features.simulator.config import OutageConfig

# kind -> (level, median hours in the best conditions: day, dry, short urban feeder, new asset,
# crews free). The field's factors about double them on a typical zone, so that a line fault's
# median lands near 2 h, where the feeder outages were before this model (zone exposure kept).
FAULT_KINDS: dict[str, tuple[str, float]] = {
    "fuse": ("transformer", 0.75),
    "transformer_damage": ("transformer", 15.0),
    "line_fault": ("feeder", 1.0),
    "vegetation": ("feeder", 1.5),
    "breaker_trip": ("substation", 0.3),
    "substation_equipment": ("substation", 2.0),
    "transformer_failure": ("transformer", 72.0),  # asset failures (simulated with the assets)
}
LEVELS = ("transformer", "feeder", "substation")
FAULT_COLUMNS = ["outage_id", "level", "node_id", "cause", "start", "end", "region_id"]


@dataclass(frozen=True)
class Grid:
    """The zone's topology as the fault model needs it."""

    transformers: pd.DataFrame  # transformer_id, feeder_id, substation_id, region_id, age
    feeders: pd.DataFrame  # feeder_id, substation_id, region_id, rural, length_km, age

    def feeders_of(self, level: str, node: str) -> list[str]:
        col = {"transformer": "transformer_id", "feeder": "feeder_id", "substation": None}
        if level == "substation":
            return self.feeders.loc[self.feeders["substation_id"] == node, "feeder_id"].tolist()
        tr = self.transformers
        return tr.loc[tr[str(col[level])] == node, "feeder_id"].unique().tolist()

    def transformers_of(self, level: str, node: str) -> set[str]:
        col = {
            "transformer": "transformer_id",
            "feeder": "feeder_id",
            "substation": "substation_id",
        }
        tr = self.transformers
        return set(tr.loc[tr[col[level]] == node, "transformer_id"])


def feeder_character(
    feeders: pd.DataFrame,
    transformers: pd.DataFrame,
    start_year: int,
    cfg: OutageConfig,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Feeders with rural/urban, length (km) and mean asset age (years at the zone's start)."""
    out = feeders[["feeder_id", "substation_id", "region_id"]].copy()
    out["rural"] = rng.random(len(out)) < cfg.rural_feeder_share
    out["length_km"] = np.round(
        np.where(out["rural"], rng.uniform(15.0, 60.0, len(out)), rng.uniform(2.0, 12.0, len(out))),
        1,
    )
    age = (start_year - transformers["commissioned_year"]).groupby(transformers["feeder_id"]).mean()
    out["age"] = out["feeder_id"].map(age).fillna(age.mean()).to_numpy()
    return out


def restoration_hours(
    median: float,
    *,
    night: bool,
    rain: bool,
    rural: bool,
    length_km: float,
    age: float,
    busy: int,
    cfg: OutageConfig,
    rng: np.random.Generator,
) -> float:
    """One restoration time, hours: the kind's median times the field's factors, log-normal."""
    r = cfg.restoration
    factor = (
        (r.night if night else 1.0)
        * (r.rain if rain else 1.0)
        * (r.rural if rural else 1.0)
        * (1.0 + r.per_10_km * length_km / 10.0)
        * (1.0 + r.per_year_of_age * age)
        * (1.0 + r.per_busy_crew * busy)
    )
    hours = median * factor * float(np.exp(rng.normal(0.0, r.sigma)))
    return float(min(max(hours, 1.0 / 60.0), r.max_hours))


def _fault_times(
    n_nodes: int, rate: float, utc: pd.DatetimeIndex, rain: np.ndarray, rng: np.random.Generator
) -> list[tuple[int, pd.Timestamp]]:
    """(node row, start) of Poisson faults, three times likelier in an hour with rain."""
    hours = len(utc)
    out = []
    for i in range(n_nodes):
        n = rng.poisson(rate * hours / 8766.0)
        if not n:
            continue
        weight = 1.0 + 3.0 * (rain[i] > 0)
        hour = rng.choice(hours, size=n, p=weight / weight.sum())
        second = rng.integers(0, 3600, size=n)
        out += [
            (i, utc[h] + pd.Timedelta(seconds=int(s))) for h, s in zip(hour, second, strict=True)
        ]
    return out


def unplanned_faults(
    grid: Grid,
    feeder_starts: pd.DataFrame,
    shedding: pd.DataFrame,
    utc: pd.DatetimeIndex,
    local_hour: np.ndarray,
    rain_by_region: dict[str, np.ndarray],
    cfg: OutageConfig,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, int]:
    """The zone's unplanned outages (one row per fault, `FAULT_COLUMNS`) and how many drawn
    faults were left out because their path was already out.

    `feeder_starts` (feeder_id, start) are the feeder faults' start times (drawn as before the
    restoration model, so that they stay put); transformer and substation faults are drawn here.
    """
    fd = grid.feeders.set_index("feeder_id")
    tr = grid.transformers.set_index("transformer_id")
    ss = grid.feeders.groupby("substation_id", sort=True).agg(
        region_id=("region_id", "first"),
        rural=("rural", "mean"),
        length_km=("length_km", "max"),
        age=("age", "mean"),
    )
    candidates: list[tuple[pd.Timestamp, str, str]] = []  # (start, level, node)
    candidates += [
        (s, "feeder", f)
        for f, s in zip(feeder_starts["feeder_id"], feeder_starts["start"], strict=True)
    ]
    tr_rain = (
        np.stack([rain_by_region[r] for r in tr["region_id"]])
        if len(tr)
        else np.zeros((0, len(utc)))
    )
    for i, s in _fault_times(len(tr), cfg.transformer_faults_per_year, utc, tr_rain, rng):
        candidates.append((s, "transformer", str(tr.index[i])))
    ss_rain = np.stack([rain_by_region[r] for r in ss["region_id"]])
    for i, s in _fault_times(len(ss), cfg.substation_faults_per_year, utc, ss_rain, rng):
        candidates.append((s, "substation", str(ss.index[i])))
    candidates.sort(key=lambda c: (c[0], LEVELS.index(c[1]), c[2]))

    shed = {f: g[["start", "end"]].to_numpy() for f, g in shedding.groupby("feeder_id")}
    accepted: list[tuple[pd.Timestamp, pd.Timestamp, set[str], str]] = []  # start, end, trs, region
    rows: list[tuple[object, ...]] = []
    dropped = 0
    for start, level, node in candidates:
        hour = min(len(utc) - 1, max(0, int((start - utc[0]) / pd.Timedelta(hours=1))))
        if level == "transformer":
            region, rural = (
                str(tr.at[node, "region_id"]),
                bool(fd.at[tr.at[node, "feeder_id"], "rural"]),
            )
            length, age = (
                float(fd.at[tr.at[node, "feeder_id"], "length_km"]),
                float(tr.at[node, "age"]),
            )
            damage = rng.random() < cfg.transformer_damage_share
            cause = "transformer_damage" if damage else "fuse"
        elif level == "feeder":
            region, rural = str(fd.at[node, "region_id"]), bool(fd.at[node, "rural"])
            length, age = float(fd.at[node, "length_km"]), float(fd.at[node, "age"])
            wet = rain_by_region[region][hour] > 0
            cause = "vegetation" if rng.random() < (0.6 if wet else 0.2) else "line_fault"
        else:
            region, rural = str(ss.at[node, "region_id"]), bool(ss.at[node, "rural"] >= 0.5)
            length, age = float(ss.at[node, "length_km"]), float(ss.at[node, "age"])
            cause = "breaker_trip" if rng.random() < 0.6 else "substation_equipment"
        busy = sum(1 for s, e, _, r in accepted if r == region and s <= start < e)
        hours = restoration_hours(
            FAULT_KINDS[cause][1],
            night=bool(local_hour[hour] >= 20 or local_hour[hour] < 6),
            rain=bool(rain_by_region[region][hour] > 0),
            rural=rural,
            length_km=length,
            age=age,
            busy=busy,
            cfg=cfg,
            rng=rng,
        )
        end = start + pd.Timedelta(seconds=max(60, round(hours * 3600)))
        trs = grid.transformers_of(level, node)
        feeders = grid.feeders_of(level, node)
        clash = any(s < end and start < e and trs & t for s, e, t, _ in accepted) or any(
            ((iv[:, 0] < end) & (start < iv[:, 1])).any()
            for f in feeders
            if (iv := shed.get(f)) is not None
        )
        if clash:
            dropped += 1
            continue
        accepted.append((start, end, trs, region))
        rows.append((f"U{len(rows) + 1:06d}", level, node, cause, start, end, region))
    return pd.DataFrame(rows, columns=FAULT_COLUMNS), dropped


def interruption_rows(faults: pd.DataFrame, grid: Grid) -> pd.DataFrame:
    """The faults as `interruptions` rows: one per feeder (feeder and substation faults), or
    feeder and transformer (transformer faults); kind `unplanned`."""
    tr = grid.transformers.set_index("transformer_id")
    rows = []
    for f in faults.itertuples():
        if f.level == "transformer":
            rows.append((tr.at[f.node_id, "feeder_id"], f.node_id, f.start, f.end, "unplanned"))
        else:
            for feeder in grid.feeders_of(str(f.level), str(f.node_id)):
                rows.append((feeder, None, f.start, f.end, "unplanned"))
    return pd.DataFrame(rows, columns=["feeder_id", "transformer_id", "start", "end", "kind"])
