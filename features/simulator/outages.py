"""Supply interruptions: scheduled load shedding by stage and unplanned feeder outages.

Load shedding follows Eskom's published pattern: at stage n a block is cut 3n times per four
days, two hours each, rotating between groups of feeders. Meters record no consumption while
their feeder (or transformer) is out: served energy is demand times the served share of each hour.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.features.simulator.config import OutageConfig

SHEDDING_SLOTS = (18, 6, 20, 14, 10, 22, 16, 8, 2, 12, 0, 4)  # block start hours, peak first
SHEDDING_GROUPS = 4


def shedding_events(
    feeder_ids: list[str],
    utc_index: pd.DatetimeIndex,
    cfg: OutageConfig,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Simulated load-shedding interruptions of the feeders (rotating groups) over the timeline."""
    days = len(utc_index) // 24
    n_episodes = rng.poisson(cfg.shedding_episodes_per_year * days / 365.25)
    group = {f: i % SHEDDING_GROUPS for i, f in enumerate(feeder_ids)}
    rows = []
    for _ in range(n_episodes):
        length = int(rng.integers(cfg.shedding_episode_days[0], cfg.shedding_episode_days[1] + 1))
        first = int(rng.integers(0, max(1, days - length)))
        stage = int(rng.integers(1, cfg.max_stage + 1))
        for d in range(first, min(days, first + length)):
            # 3*stage cuts per 4 days -> spread evenly over the days of the cycle
            cuts = int(np.floor(0.75 * stage * (d + 1)) - np.floor(0.75 * stage * d))
            for feeder in feeder_ids:
                g = group[feeder]
                for c in range(cuts):
                    slot = SHEDDING_SLOTS[(g * 3 + c + d) % len(SHEDDING_SLOTS)]
                    start = utc_index[d * 24] + pd.Timedelta(hours=slot)
                    rows.append((feeder, start, start + pd.Timedelta(hours=2), "load_shedding"))
    # overlapping episodes schedule the same block twice: keep it once
    return pd.DataFrame(rows, columns=["feeder_id", "start", "end", "kind"]).drop_duplicates(
        ["feeder_id", "start"], ignore_index=True
    )


def unplanned_events(
    feeder_ids: list[str],
    utc_index: pd.DatetimeIndex,
    rainfall_by_feeder: np.ndarray,
    cfg: OutageConfig,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Faults on feeders; storms (rain) make them more likely."""
    hours = len(utc_index)
    rows = []
    for i, feeder in enumerate(feeder_ids):
        n = rng.poisson(cfg.unplanned_per_feeder_year * hours / 8766.0)
        if not n:
            continue
        weight = 1.0 + 3.0 * (rainfall_by_feeder[i] > 0)
        hour = rng.choice(hours, size=n, p=weight / weight.sum())
        minute = rng.integers(0, 60, size=n)
        dur = np.clip(rng.lognormal(np.log(cfg.unplanned_median_hours), 0.8, size=n), 0.25, 24)
        for h, m, d in zip(hour, minute, dur, strict=True):
            start = utc_index[h] + pd.Timedelta(minutes=int(m))
            rows.append((feeder, start, start + pd.Timedelta(hours=float(d)), "unplanned"))
    return pd.DataFrame(rows, columns=["feeder_id", "start", "end", "kind"])
