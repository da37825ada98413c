"""The connectivity model the detector walks: meter -> transformer -> feeder -> substation,
and the load-shedding schedule (known in advance) per feeder."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridml.errors import ContractError

LEVELS = ("transformer", "feeder", "substation")


@dataclass(frozen=True)
class Topology:
    """Integer-indexed hierarchy. Node keys are (level index 0..2, row in that level)."""

    meter_ids: list[str]
    transformer_ids: list[str]
    feeder_ids: list[str]
    substation_ids: list[str]
    meter_tr: np.ndarray  # transformer row of each meter
    tr_feeder: np.ndarray  # feeder row of each transformer
    feeder_ss: np.ndarray  # substation row of each feeder
    segment: list[str]  # customer segment of each meter ('' when unknown)
    meter_row: dict[str, int]
    # meters and transformers under each node, by level (transformer, feeder, substation)
    meters_under: tuple[list[list[int]], ...]
    transformers_under: tuple[list[list[int]], ...]

    @classmethod
    def build(cls, meters: pd.DataFrame, transformers: pd.DataFrame) -> Topology:
        """From the `meters` and `transformers` feeds; ContractError naming the meter whose
        transformer is unknown."""
        tr = transformers.sort_values("transformer_id", ignore_index=True)
        tr_ids = tr["transformer_id"].astype(str).tolist()
        feeders = sorted(tr["feeder_id"].astype(str).unique())
        subs = sorted(tr["substation_id"].astype(str).unique())
        f_row = {f: i for i, f in enumerate(feeders)}
        s_row = {s: i for i, s in enumerate(subs)}
        tr_feeder = tr["feeder_id"].map(f_row).to_numpy(dtype=np.int64)
        by_feeder = tr.drop_duplicates("feeder_id").set_index("feeder_id")["substation_id"]
        feeder_ss = np.array([s_row[str(by_feeder[f])] for f in feeders], dtype=np.int64)
        t_row = {t: i for i, t in enumerate(tr_ids)}
        m = meters.sort_values("meter_id", ignore_index=True)
        unknown = ~m["transformer_id"].isin(t_row)
        if unknown.any():
            first = m[unknown].iloc[0]
            raise ContractError(
                f"meters: {int(unknown.sum())} meter(s) on a transformer missing from the "
                f"transformers feed, e.g. meter {first['meter_id']} on {first['transformer_id']}"
            )
        meter_tr = m["transformer_id"].map(t_row).to_numpy(dtype=np.int64)
        segment = m["segment"].astype(str).tolist() if "segment" in m.columns else [""] * len(m)
        n_tr, n_f, n_s = len(tr_ids), len(feeders), len(subs)
        m_t: list[list[int]] = [[] for _ in range(n_tr)]
        for i, t in enumerate(meter_tr):
            m_t[t].append(i)
        t_f: list[list[int]] = [[] for _ in range(n_f)]
        for t, f in enumerate(tr_feeder):
            t_f[f].append(t)
        f_s: list[list[int]] = [[] for _ in range(n_s)]
        for f, s in enumerate(feeder_ss):
            f_s[s].append(f)
        m_f = [[mm for t in ts for mm in m_t[t]] for ts in t_f]
        t_s = [[t for f in fs for t in t_f[f]] for fs in f_s]
        m_s = [[mm for t in ts for mm in m_t[t]] for ts in t_s]
        ids = m["meter_id"].astype(str).tolist()
        return cls(
            meter_ids=ids,
            transformer_ids=tr_ids,
            feeder_ids=feeders,
            substation_ids=subs,
            meter_tr=meter_tr,
            tr_feeder=tr_feeder,
            feeder_ss=feeder_ss,
            segment=segment,
            meter_row={x: i for i, x in enumerate(ids)},
            meters_under=(m_t, m_f, m_s),
            transformers_under=([[t] for t in range(n_tr)], t_f, t_s),
        )

    def node_id(self, level: int, row: int) -> str:
        return (self.transformer_ids, self.feeder_ids, self.substation_ids)[level][row]

    def children(self, level: int, row: int) -> list[int]:
        """Rows of the node's children one level down (level > 0)."""
        if level == 1:
            return self.transformers_under[1][row]
        return [f for f in range(len(self.feeder_ids)) if self.feeder_ss[f] == row]


@dataclass(frozen=True)
class Schedule:
    """Load-shedding blocks per feeder row: sorted starts and ends, ns UTC."""

    starts: dict[int, list[int]]
    ends: dict[int, list[int]]

    @classmethod
    def build(cls, interruptions: pd.DataFrame | None, topo: Topology) -> Schedule:
        starts: dict[int, list[int]] = {}
        ends: dict[int, list[int]] = {}
        if interruptions is not None and len(interruptions):
            shed = interruptions[interruptions["kind"] == "load_shedding"]
            f_row = {f: i for i, f in enumerate(topo.feeder_ids)}
            shed = shed[shed["feeder_id"].isin(f_row)].sort_values(["feeder_id", "start"])
            for f, g in shed.groupby("feeder_id"):
                row = f_row[str(f)]
                starts[row] = g["start"].astype("int64").tolist()
                ends[row] = g["end"].astype("int64").tolist()
        return cls(starts, ends)

    def block(self, feeder: int, t: int, tolerance: int) -> tuple[int, int] | None:
        """The block of `feeder` that covers time `t` (from `tolerance` ns before its start, a
        clock difference, to its end), if any."""
        starts = self.starts.get(feeder)
        if not starts:
            return None
        i = bisect.bisect_right(starts, t + tolerance) - 1
        if i >= 0 and t < self.ends[feeder][i]:
            return starts[i], self.ends[feeder][i]
        return None
