"""Data drift per feature between a reference sample (the training window) and a recent one:
population stability index (PSI) and the two-sample Kolmogorov-Smirnov statistic. Pure.

PSI = sum over bins of (p_cur - p_ref) * ln(p_cur / p_ref), bins = quantiles of the reference
(or its distinct values when it has few); empty bins get a small floor so PSI stays finite.
Rule of thumb: < 0.1 stable, 0.1-0.25 watch, > 0.25 shifted. KS D = the largest gap between
the two empirical CDFs (its p-value is not used: with thousands of rows any tiny shift is
'significant'). A feature drifts when both reach their thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

EPS = 1e-4
DRIFT_COLUMNS = ["feature", "n_ref", "n_cur", "psi", "ks", "judged", "drifted"]


def _clean(values: Iterable[float]) -> np.ndarray:
    v = np.asarray(values, dtype=float).ravel()
    return v[np.isfinite(v)]


def psi(reference: Iterable[float], current: Iterable[float], bins: int = 10) -> float:
    """Population stability index of `current` against `reference` (NaN if either is empty)."""
    ref, cur = _clean(reference), _clean(current)
    if not ref.size or not cur.size:
        return float("nan")
    distinct = np.unique(ref)
    if distinct.size <= bins:  # discrete: one bin per reference value, plus "other"
        cats = np.append(distinct, np.inf)
        ref_idx = np.searchsorted(distinct, ref)
        cur_idx = np.where(np.isin(cur, distinct), np.searchsorted(distinct, cur), len(distinct))
        p = np.bincount(ref_idx, minlength=len(cats)) / ref.size
        q = np.bincount(cur_idx, minlength=len(cats)) / cur.size
    else:
        edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1))[1:-1])
        p = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
        q = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
        p, q = p / ref.size, q / cur.size
    p, q = np.maximum(p, EPS), np.maximum(q, EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def ks(reference: Iterable[float], current: Iterable[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic D in [0, 1] (NaN if either is empty)."""
    ref, cur = np.sort(_clean(reference)), np.sort(_clean(current))
    if not ref.size or not cur.size:
        return float("nan")
    grid = np.concatenate([ref, cur])
    cdf_ref = np.searchsorted(ref, grid, side="right") / ref.size
    cdf_cur = np.searchsorted(cur, grid, side="right") / cur.size
    return float(np.max(np.abs(cdf_ref - cdf_cur)))


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    psi_threshold: float = 0.25,
    ks_threshold: float = 0.2,
    bins: int = 10,
    min_rows: int = 30,
    exclude: Iterable[str] = (),
) -> pd.DataFrame:
    """PSI and KS of every numeric column both frames share (DRIFT_COLUMNS), worst first.

    `judged` is False when a side has fewer than `min_rows` finite values or the feature is
    excluded; `drifted` needs judged, PSI >= psi_threshold and KS >= ks_threshold."""
    skip = set(exclude)
    rows = []
    for col in reference.columns:
        if col not in current.columns or not pd.api.types.is_numeric_dtype(reference[col]):
            continue
        ref, cur = _clean(reference[col]), _clean(pd.to_numeric(current[col], errors="coerce"))
        p, d = psi(ref, cur, bins), ks(ref, cur)
        judged = col not in skip and min(ref.size, cur.size) >= min_rows
        drifted = judged and p >= psi_threshold and d >= ks_threshold
        rows.append((col, ref.size, cur.size, p, d, judged, drifted))
    out = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    return out.sort_values(["drifted", "psi"], ascending=False, ignore_index=True)
