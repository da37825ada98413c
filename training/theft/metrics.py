"""Theft-detection metrics for an inspection budget: ranking quality and per-attack recall."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from gridml.features.contracts import THEFT_ATTACKS
from gridml.training.classification import average_precision, roc_auc


def _arrays(y, score) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float).ravel()
    s = np.asarray(score, dtype=float).ravel()
    if y.shape != s.shape:
        raise ValueError(f"labels {y.shape} and scores {s.shape} differ in shape")
    return y, s


def _order(s: np.ndarray) -> np.ndarray:
    return np.argsort(-s, kind="stable")


#: PR-AUC, as average precision (the shared implementation, ties grouped as scikit-learn).
pr_auc = average_precision


def top_k(n: int, budget: float) -> int:
    """Meters inspected under a budget share of n (at least one)."""
    return max(1, math.ceil(budget * n - 1e-9))


def precision_at_budget(y, score, budget: float) -> float:
    """Share of thieves among the top `budget` share of the ranking (the inspected meters)."""
    y, s = _arrays(y, score)
    k = top_k(len(y), budget)
    return float(y[_order(s)][:k].mean())


def recall_at_budget(y, score, budget: float) -> float:
    """Share of the positives among the top `budget` share of scores (NaN without positives)."""
    y, s = _arrays(y, score)
    pos = (y == 1).sum()
    if pos == 0:
        return float("nan")
    k = top_k(len(y), budget)
    return float(y[_order(s)][:k].sum() / pos)


def average_precision_at_k(y, score, k: int = 100) -> float:
    """AP@k: mean precision at the rank of each hit in the top k, over min(k, positives)."""
    y, s = _arrays(y, score)
    pos = (y == 1).sum()
    if pos == 0:
        return float("nan")
    hits = y[_order(s)][:k]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / min(k, pos))


def map_at_k(y, score, k: int = 100, groups=None) -> float:
    """MAP@k: AP@k averaged over inspection lists (`groups`, e.g. scoring days; one list if None).
    Lists without a thief are skipped."""
    y, s = _arrays(y, score)
    if groups is None:
        return average_precision_at_k(y, s, k)
    g = np.asarray(groups)
    aps = [average_precision_at_k(y[g == v], s[g == v], k) for v in pd.unique(g)]
    aps = [a for a in aps if not math.isnan(a)]
    return float(np.mean(aps)) if aps else float("nan")


def recall_by_attack(
    y,
    score,
    attack: Sequence[str],
    budget: float | None = None,
    threshold: float = 0.5,
    attacks: Sequence[str] = THEFT_ATTACKS,
) -> dict[str, float]:
    """Recall of each attack type: flagged = top `budget` share, or score >= `threshold`."""
    y, s = _arrays(y, score)
    kinds = np.asarray(attack, dtype=object)
    if budget is None:
        flagged = s >= threshold
    else:
        flagged = np.zeros(len(s), dtype=bool)
        flagged[_order(s)[: top_k(len(s), budget)]] = True
    out = {}
    for a in attacks:
        rows = (y == 1) & (kinds == a)
        out[a] = float(flagged[rows].mean()) if rows.any() else float("nan")
    return out


def at_theft_share(y, score, attack=None, attacks: Sequence[str] = THEFT_ATTACKS):
    """The ranking judged at an inspection budget equal to the true theft share (as many
    inspections as there are thieves): `theft_share`, `precision_at_share` (= recall, up to
    rounding) and, with `attack`, `recall_<type>_at_share` of each attack type."""
    y, s = _arrays(y, score)
    share = float(y.mean()) if len(y) else float("nan")
    if not share > 0:
        nan = float("nan")
        out = {"theft_share": share, "precision_at_share": nan, "recall_at_share": nan}
        return out | ({f"recall_{a}_at_share": nan for a in attacks} if attack is not None else {})
    out = {
        "theft_share": share,
        "precision_at_share": precision_at_budget(y, s, share),
        "recall_at_share": recall_at_budget(y, s, share),
    }
    if attack is not None:
        by_type = recall_by_attack(y, s, attack, budget=share, attacks=attacks)
        out |= {f"recall_{a}_at_share": r for a, r in by_type.items()}
    return out


def evaluate(
    y, score, attack=None, budgets: Sequence[float] = (0.01, 0.05), k: int = 100, groups=None
) -> dict[str, float]:
    """All metrics as a flat dict (MLflow-ready names)."""
    y, s = _arrays(y, score)
    out = {
        "roc_auc": roc_auc(y, s),
        "pr_auc": pr_auc(y, s),
        f"map_at_{k}": map_at_k(y, s, k, groups),
        "positives": float((y == 1).sum()),
        "samples": float(len(y)),
    }
    for b in budgets:
        tag = f"{b * 100:g}pct".replace(".", "_")
        out[f"precision_at_{tag}"] = precision_at_budget(y, s, b)
        out[f"recall_at_{tag}"] = recall_at_budget(y, s, b)
    out |= at_theft_share(y, s, attack)
    if attack is not None:
        for a, r in recall_by_attack(y, s, attack, threshold=0.5).items():
            out[f"recall_{a}"] = r
    return out
