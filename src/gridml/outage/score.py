"""Score detected outages against a synthetic zone's ground truth (labels/outages.parquet).

A true outage counts when at least one meter went dark with it (one that starts while its whole
scope is already dark is invisible to any detector). A detected unplanned outage matches a true
one when their transformers overlap and the detection's start lies within `window` of the true
start (one to one, earliest detection first). Scope is exactly right when the detected node
holds exactly the true node's transformers (a feeder with one transformer is that transformer);
`scope_exact_at_detection` judges the node first raised, before later gasps widened it.
Detection delay: detection time minus the true outage's first delivered last gasp.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from gridml.outage.topology import LEVELS, Schedule, Topology

SECOND = 10**9


@dataclass(frozen=True)
class Score:
    true_outages: int
    detected_unplanned: int
    matched: int
    recall: float
    precision: float
    median_delay_s: float
    p90_delay_s: float
    scope_exact: float
    scope_exact_at_detection: float
    shedding_blocks_seen: int
    shedding_raised_as_unplanned: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _transformers(topo: Topology, level: str, node: str) -> frozenset[int]:
    ids = (topo.transformer_ids, topo.feeder_ids, topo.substation_ids)[LEVELS.index(level)]
    row = ids.index(node)
    return frozenset(topo.transformers_under[LEVELS.index(level)][row])


def score(
    detected: pd.DataFrame,
    truth: pd.DataFrame,
    topo: Topology,
    schedule: Schedule,
    window_s: int = 900,
) -> Score:
    """Recall, precision, delays and scope of `detected` (the outages table) against `truth`."""
    visible = truth[truth["meters_dark"] > 0].sort_values("start", ignore_index=True)
    unplanned = detected[detected["kind"] == "unplanned"].reset_index(drop=True)
    nodes = zip(unplanned["level"], unplanned["node_id"], strict=True)
    d_trs = [_transformers(topo, str(lv), str(n)) for lv, n in nodes]
    firsts = zip(unplanned["first_level"], unplanned["first_node_id"], strict=True)
    d_first = [_transformers(topo, str(lv), str(n)) for lv, n in firsts]
    d_start = unplanned["start"].astype("int64").to_numpy()
    d_at = unplanned["detected_at"].astype("int64").to_numpy()
    used = np.zeros(len(unplanned), dtype=bool)
    delays, exact, exact_first = [], [], []
    for row in visible.itertuples():
        trs = _transformers(topo, str(row.level), str(row.node_id))
        t0 = pd.Timestamp(row.start).value
        ok = (~used) & (d_start >= t0 - 60 * SECOND) & (d_start <= t0 + window_s * SECOND)
        cands = [i for i in np.flatnonzero(ok) if d_trs[i] & trs]
        if not cands:
            continue
        i = min(cands, key=lambda j: d_at[j])
        used[i] = True
        exact.append(d_trs[i] == trs)
        exact_first.append(d_first[i] == trs)
        if pd.notna(row.first_gasp):
            delays.append((d_at[i] - pd.Timestamp(row.first_gasp).value) / SECOND)
    # detections that are load shedding in disguise: unmatched, inside a block of their feeders
    raised = 0
    for i in np.flatnonzero(~used):
        feeders = {int(topo.tr_feeder[t]) for t in d_trs[i]}
        if any(schedule.block(f, int(d_start[i]), 120 * SECOND) for f in feeders):
            raised += 1
    n_true, n_det, n_match = len(visible), len(unplanned), int(used.sum())
    shed_seen = int((detected["kind"] == "load_shedding").sum())
    return Score(
        true_outages=n_true,
        detected_unplanned=n_det,
        matched=n_match,
        recall=n_match / n_true if n_true else float("nan"),
        precision=n_match / n_det if n_det else float("nan"),
        median_delay_s=float(np.median(delays)) if delays else float("nan"),
        p90_delay_s=float(np.percentile(delays, 90)) if delays else float("nan"),
        scope_exact=float(np.mean(exact)) if exact else float("nan"),
        scope_exact_at_detection=float(np.mean(exact_first)) if exact_first else float("nan"),
        shedding_blocks_seen=shed_seen,
        shedding_raised_as_unplanned=raised,
    )
