"""Electricity theft: who steals (clustered by transformer), from when, and the six Jokar attacks.

On each day x = (x_1..x_24) from the theft start, the meter records instead:
h1 a*x (one a ~ U(0.1, 0.8) per day); h2 zero over a window of 4-12 hours; h3 g_t*x_t with
g_t ~ U(0.1, 0.8) per hour; h4 g_t*mean(x); h5 mean(x); h6 the day reversed.
The transformer still meters the true energy, so the energy balance shows the loss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.features.simulator.config import TheftAttackConfig


def choose_thieves(
    meters: pd.DataFrame,
    utc_index: pd.DatetimeIndex,
    cfg: TheftAttackConfig,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Theft labels: meter_id, theft_start (a local midnight, in UTC), attack_type."""
    n_thieves = round(cfg.share * len(meters))
    if n_thieves == 0:
        return pd.DataFrame(
            {
                "meter_id": pd.Series(dtype=str),
                "theft_start": pd.Series(dtype="datetime64[ns, UTC]"),
                "attack_type": pd.Series(dtype=str),
            }
        )
    transformers = meters["transformer_id"].unique()
    n_prone = max(1, round(cfg.prone_transformer_share * len(transformers)))
    prone = set(rng.choice(transformers, size=n_prone, replace=False))
    on_prone = meters["transformer_id"].isin(prone).to_numpy()
    weight = np.where(on_prone, cfg.clustered_share / max(1, on_prone.sum()), 0.0) + np.where(
        ~on_prone, (1 - cfg.clustered_share) / max(1, (~on_prone).sum()), 0.0
    )
    chosen = rng.choice(len(meters), size=n_thieves, replace=False, p=weight / weight.sum())
    days = len(utc_index) // 24
    first = min(cfg.min_history_days, days - 1)
    last = max(first + 1, days - 14)
    start_day = rng.integers(first, last, size=n_thieves)
    return pd.DataFrame(
        {
            "meter_id": meters["meter_id"].to_numpy()[chosen],
            "theft_start": utc_index[start_day * 24],
            "attack_type": rng.choice(list(cfg.attack_types), size=n_thieves),
        }
    ).sort_values("meter_id", ignore_index=True)


def apply_attack(
    readings: np.ndarray, start_hour: int, attack: str, rng: np.random.Generator
) -> np.ndarray:
    """The recorded series of one meter (hours,) after theft from `start_hour` (a day start)."""
    out = readings.copy()
    days = out[start_hour:].reshape(-1, 24)
    n = len(days)
    if attack == "h1":
        days *= rng.uniform(0.1, 0.8, size=(n, 1))
    elif attack == "h2":
        dur = rng.integers(4, 13, size=n)
        begin = rng.integers(0, 24 - dur + 1)
        hours = np.arange(24)[None, :]
        days[(hours >= begin[:, None]) & (hours < (begin + dur)[:, None])] = 0.0
    elif attack == "h3":
        days *= rng.uniform(0.1, 0.8, size=(n, 24))
    elif attack == "h4":
        days[:] = rng.uniform(0.1, 0.8, size=(n, 24)) * days.mean(axis=1, keepdims=True)
    elif attack == "h5":
        days[:] = days.mean(axis=1, keepdims=True)
    elif attack == "h6":
        days[:] = days[:, ::-1].copy()
    else:
        raise ValueError(f"unknown attack type {attack!r}")
    out[start_hour:] = days.reshape(-1)
    return out
