"""Training-set-size rules behind the `auto` settings of the demand LightGBM.

The same shipped config must serve one system total with a year of hourly history (about 17,000
training rows) and a synthetic zone of hundreds of series (millions of rows). Fixed settings
tuned for the second starve the first (a 15 % sample of 17,000 rows left LightGBM worse than the
seasonal naive). The rule, applied wherever a setting is `auto`:

- `train_sample`: every (series, origin, horizon) row while the candidate rows fit in
  `ROW_BUDGET` (200,000); above it, the share that keeps about `ROW_BUDGET` rows.
- `min_data_in_leaf`: one row in `ROWS_PER_LEAF_ROW` (1,000) of the rows kept, between 20 and
  50.
- `num_leaves`: 31, or 15 under `TINY_ROWS` (5,000) rows kept.
- `n_estimators`: what a fixed boosting budget buys, `ROUND_BUDGET` (30 M) row-rounds / rows
  kept, between 150 and 600 rounds (a year of one series: 600; 200,000 rows: 150), with early
  stopping as a guard: the model fitted without the calibration window (the most recent
  training days, `calibration.days`) stops after a third of those rounds without improving its
  pinball loss on that window, and each quantile keeps its best round count for the model
  fitted on every row. Without a calibration window (`calibration.enabled: false`), no early
  stopping.

An explicit number in the config is used as given. `gridml tune demand` searches further.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridml.training.demand.config import DemandConfig, LightGBMConfig

ROW_BUDGET = 200_000
ROWS_PER_LEAF_ROW = 1_000
MIN_LEAF_ROWS, MAX_LEAF_ROWS = 20, 50
TINY_ROWS = 5_000
ROUND_BUDGET = 30_000_000
MIN_ROUNDS, MAX_ROUNDS = 150, 600


def train_sample(cfg: DemandConfig, candidate_rows: int) -> float:
    """Share of the candidate training rows to keep (`train_sample`, or the rule when auto)."""
    if cfg.train_sample != "auto":
        return float(cfg.train_sample)
    if candidate_rows <= ROW_BUDGET:
        return 1.0
    return ROW_BUDGET / candidate_rows


@dataclass(frozen=True)
class BoosterSettings:
    """LightGBM settings with every `auto` resolved for a training set of `rows` rows."""

    rows: int
    num_leaves: int
    min_data_in_leaf: int
    n_estimators: int  # the maximum when early stopping
    early_stopping: bool
    patience: int = 0  # rounds without improvement before stopping


def booster_settings(params: LightGBMConfig, rows: int, can_stop_early: bool) -> BoosterSettings:
    """Resolve the `auto` size settings of `params` for `rows` training rows; early stopping
    applies only to an `auto` n_estimators and when a validation window exists."""
    leaf = params.min_data_in_leaf
    if leaf == "auto":
        leaf = int(np.clip(round(rows / ROWS_PER_LEAF_ROW), MIN_LEAF_ROWS, MAX_LEAF_ROWS))
    leaves = params.num_leaves
    if leaves == "auto":
        leaves = 15 if rows < TINY_ROWS else 31
    rounds = params.n_estimators
    stop = rounds == "auto" and can_stop_early
    if rounds == "auto":
        rounds = int(np.clip(ROUND_BUDGET / max(rows, 1), MIN_ROUNDS, MAX_ROUNDS))
    return BoosterSettings(rows, int(leaves), int(leaf), int(rounds), stop, int(rounds) // 3)
