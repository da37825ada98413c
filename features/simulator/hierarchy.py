"""Grid hierarchy of a zone: region -> substation -> feeder -> transformer -> meter."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.features.contracts import SEGMENTS
from gridml.features.simulator.config import ZoneConfig

TARIFFS = {
    "residential_prepaid": "domestic_prepaid",
    "residential_postpaid": "domestic_postpaid",
    "commercial": "professional",
    "industrial": "industrial_mv",
}

# How a feeder's character tilts the zone's segment mix (residential, residential, commercial,
# industrial): feeders through a market or an industrial estate differ from housing estates.
FEEDER_CHARACTER = {
    "residential": np.array([1.3, 1.3, 0.4, 0.2]),
    "commercial": np.array([0.6, 0.8, 3.5, 1.0]),
    "mixed": np.array([1.0, 1.0, 1.0, 1.0]),
    "industrial": np.array([0.7, 0.7, 1.0, 6.0]),
}


def build_feeders(cfg: ZoneConfig, rng: np.random.Generator) -> pd.DataFrame:
    """One row per feeder with its substation and region, numbered in order."""
    rows: list[dict[str, str]] = []
    for r in range(cfg.regions):
        for s in range(cfg.substations_per_region):
            for _ in range(cfg.feeders_per_substation):
                rows.append(
                    {
                        "feeder_id": f"F{len(rows) + 1:03d}",
                        "substation_id": f"S{r + 1:02d}{s + 1:02d}",
                        "region_id": f"R{r + 1:02d}",
                    }
                )
    feeders = pd.DataFrame(rows)
    characters = list(FEEDER_CHARACTER)
    feeders["character"] = rng.choice(characters, size=len(feeders), p=[0.45, 0.25, 0.2, 0.1])
    # every zone has at least one commercial feeder, so commercial behaviour can be studied
    if "commercial" not in set(feeders["character"]) and len(feeders) > 1:
        feeders.loc[1, "character"] = "commercial"
    return feeders


def build_transformers(
    cfg: ZoneConfig, feeders: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Transformers spread over feeders (every feeder gets at least one); ratings come later."""
    n = cfg.transformers
    feeder_of = np.concatenate(
        [np.arange(len(feeders)), rng.integers(0, len(feeders), size=n - len(feeders))]
    )
    feeder_of.sort()
    tr = feeders.iloc[feeder_of].reset_index(drop=True)[
        ["feeder_id", "substation_id", "region_id", "character"]
    ]
    tr.insert(0, "transformer_id", [f"T{i + 1:05d}" for i in range(n)])
    start_year = cfg.start.year
    age = rng.integers(cfg.assets.age_years[0], cfg.assets.age_years[1] + 1, size=n)
    tr["commissioned_year"] = (start_year - age).astype("int64")
    return tr


def build_meters(
    cfg: ZoneConfig, transformers: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Meters on transformers, each with a segment drawn from its feeder's tilted mix."""
    n_tr = len(transformers)
    weights = rng.gamma(4.0, 1.0, size=n_tr)
    counts = np.maximum(2, np.round(weights / weights.sum() * cfg.meters)).astype(int)
    # adjust to exactly cfg.meters, keeping at least 2 per transformer
    while counts.sum() != cfg.meters:
        diff = cfg.meters - counts.sum()
        idx = rng.integers(0, n_tr)
        if diff > 0:
            counts[idx] += 1
        elif counts[idx] > 2:
            counts[idx] -= 1
    tr_of = np.repeat(np.arange(n_tr), counts)
    base = np.array(cfg.segment_mix.shares())
    segments = np.empty(cfg.meters, dtype=object)
    for i, t in enumerate(tr_of):
        p = base * FEEDER_CHARACTER[transformers.at[t, "character"]]
        segments[i] = SEGMENTS[rng.choice(len(SEGMENTS), p=p / p.sum())]
    meters = pd.DataFrame(
        {
            "meter_id": [f"M{i + 1:06d}" for i in range(cfg.meters)],
            "transformer_id": transformers["transformer_id"].to_numpy()[tr_of],
            "segment": segments.astype(str),
        }
    )
    meters["tariff"] = meters["segment"].map(TARIFFS)
    return meters
