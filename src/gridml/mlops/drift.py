"""Data drift between a reference sample (the training window) and a recent one: population
stability index (PSI) and the two-sample Kolmogorov-Smirnov statistic. Pure.

Judged per hierarchy level and per feature family (`family_drift`), not per column: columns
that differ only by a window or lag length (`load_001h_ago` .. `load_168h_ago`, `kwh_day_mean_7d`
and `_28d`) are one family, their values pooled, so 168 neighbouring lags make one verdict,
not 168 chances of a false alarm. A verdict needs `min_rows` rows (entity x day) on both sides;
below it the family is reported as "not enough data", never as drift. Loads of transformers and
of the zone differ by orders of magnitude, so levels are never pooled.

Natural variation: a feature whose distribution moves with the season or with episodes (load
shedding, holidays) differs between any two periods of the training window too. The reference
is cut into `blocks` consecutive periods; each is compared with the rest, and the largest PSI
and KS seen there (`natural_psi`, `natural_ks`) raise the bar: the recent window drifts only when
it differs from the training window more than the training window's own periods differ from
each other (and by at least the configured thresholds).

PSI = sum over bins of (p_cur - p_ref) * ln(p_cur / p_ref), bins = quantiles of the reference
(or its distinct values when it has few); empty bins get a small floor so PSI stays finite.
Rule of thumb: < 0.1 stable, 0.1-0.25 watch, > 0.25 shifted. KS D = the largest gap between
the two empirical CDFs (its p-value is not used: with thousands of rows any tiny shift is
'significant'). A feature drifts when both reach their thresholds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

EPS = 1e-4
DRIFT_COLUMNS = ["feature", "n_ref", "n_cur", "psi", "ks", "judged", "drifted"]
FAMILY_COLUMNS = [
    "level",
    "family",
    "features",
    "n_ref",
    "n_cur",
    "psi",
    "ks",
    "natural_psi",
    "natural_ks",
    "judged",
    "drifted",
    "verdict",
]
TIME = "event_timestamp"
STABLE, DRIFT, NOT_ENOUGH, EXCLUDED = "stable", "drift", "not enough data", "not judged (by design)"
_WINDOW = re.compile(r"(?<=_)\d+(?=[hd](?:_|$))")


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
        bins_ref = np.searchsorted(edges, ref, side="right")
        bins_cur = np.searchsorted(edges, cur, side="right")
        p = np.bincount(bins_ref, minlength=len(edges) + 1) / ref.size
        q = np.bincount(bins_cur, minlength=len(edges) + 1) / cur.size
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


def feature_family(name: str) -> str:
    """The family of a feature: its name with window and lag lengths replaced by N
    (`load_024h_ago` -> `load_Nh_ago`, `kwh_day_mean_28d` -> `kwh_day_mean_Nd`)."""
    return _WINDOW.sub("N", name)


def _numeric(frame: pd.DataFrame, skip: str | None) -> list[str]:
    return [c for c in frame.columns if c != skip and pd.api.types.is_numeric_dtype(frame[c])]


def _periods(reference: pd.DataFrame, blocks: int) -> pd.Series:
    """Each reference row's period: its stamp's rank cut into `blocks` consecutive groups (all
    -1 without stamps)."""
    if TIME not in reference.columns or blocks < 2:
        return pd.Series(-1, index=reference.index)
    stamps = np.sort(reference[TIME].dropna().unique())
    if len(stamps) < blocks:
        return pd.Series(-1, index=reference.index)
    group = dict(zip(stamps, np.arange(len(stamps)) * blocks // len(stamps), strict=True))
    return reference[TIME].map(group).fillna(-1).astype(int)


def natural_variation(
    ref: pd.DataFrame, periods: pd.Series, bins: int, min_rows: int
) -> tuple[float, float]:
    """The largest PSI and KS between one period of the reference and the rest (0, 0 when
    fewer than two periods have `min_rows` rows)."""
    values = ref.to_numpy(float)
    has = np.isfinite(values).any(axis=1)
    labels = periods.to_numpy()
    usable = [b for b in np.unique(labels[labels >= 0]) if (has & (labels == b)).sum() >= min_rows]
    if len(usable) < 2:
        return 0.0, 0.0
    worst_p = worst_d = 0.0
    for b in usable:
        inside = labels == b
        p, d = psi(values[~inside], values[inside], bins), ks(values[~inside], values[inside])
        worst_p = max(worst_p, p if p == p else 0.0)
        worst_d = max(worst_d, d if d == d else 0.0)
    return worst_p, worst_d


def family_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    psi_threshold: float = 0.25,
    ks_threshold: float = 0.2,
    bins: int = 10,
    min_rows: int = 100,
    exclude: Iterable[str] = (),
    level: str | None = "level",
    blocks: int = 6,
) -> pd.DataFrame:
    """PSI and KS per (level, feature family) on the pooled values of the family's columns
    (FAMILY_COLUMNS), drifted first.

    With an `event_timestamp` column in `reference`, its stamps are cut into `blocks` periods
    for the natural variation (module doc; periods with fewer than `min_rows` rows unused).

    `level`: the column that splits entities into hierarchy levels (absent: one level, "all").
    n_ref / n_cur count rows with a value in the family. `verdict`: "drift" (PSI and KS reach
    their thresholds and the natural variation), "stable", "not enough data" (a side has
    fewer than `min_rows` rows) or
    "not judged (by design)" (every column of the family is in `exclude`)."""
    skip = set(exclude)
    by_level = level is not None and level in reference.columns and level in current.columns
    columns = [c for c in _numeric(reference, level) if c in set(_numeric(current, level))]
    families: dict[str, list[str]] = {}
    for col in columns:
        families.setdefault(feature_family(col), []).append(col)
    levels = (
        sorted(set(reference[level].dropna()) | set(current[level].dropna()))
        if by_level
        else ["all"]
    )
    periods = _periods(reference, blocks)
    rows = []
    for lv in levels:
        ref_l = reference[reference[level] == lv] if by_level else reference
        cur_l = current[current[level] == lv] if by_level else current
        for family, cols in families.items():
            ref = ref_l[cols].apply(pd.to_numeric, errors="coerce")
            cur = cur_l[cols].apply(pd.to_numeric, errors="coerce")
            n_ref, n_cur = int(ref.notna().any(axis=1).sum()), int(cur.notna().any(axis=1).sum())
            p, d = psi(ref.to_numpy(), cur.to_numpy(), bins), ks(ref.to_numpy(), cur.to_numpy())
            nat_p, nat_d = natural_variation(ref, periods.loc[ref.index], bins, min_rows)
            if all(c in skip for c in cols):
                verdict = EXCLUDED
            elif min(n_ref, n_cur) < min_rows:
                verdict = NOT_ENOUGH
            else:
                over = p >= max(psi_threshold, nat_p) and d >= max(ks_threshold, nat_d)
                verdict = DRIFT if over else STABLE
            judged = verdict in (DRIFT, STABLE)
            scores = (p, d, nat_p, nat_d)
            rows.append(
                (lv, family, len(cols), n_ref, n_cur, *scores, judged, verdict == DRIFT, verdict)
            )
    out = pd.DataFrame(rows, columns=FAMILY_COLUMNS)
    return out.sort_values(["drifted", "psi"], ascending=False, ignore_index=True)


SKEW_COLUMNS = ["level", "family", "features", "n", "mismatched", "share", "skewed", "verdict"]
MATCH, SKEW = "match", "skew"


def _mismatch(a: np.ndarray, b: np.ndarray, rel_tol: float) -> np.ndarray:
    """Element-wise: one side missing and not the other, or values further apart than rel_tol."""
    fa, fb = np.isfinite(a), np.isfinite(b)
    both = fa & fb
    far = np.zeros_like(both)
    far[both] = np.abs(a[both] - b[both]) > rel_tol * np.maximum(1.0, np.abs(a[both]))
    return (fa != fb) | far


def online_skew(
    offline: pd.DataFrame,
    online: pd.DataFrame,
    max_share: float = 0.01,
    rel_tol: float = 1e-6,
    level: str | None = "level",
) -> pd.DataFrame:
    """Train/serve skew (SKEW_COLUMNS): the online store's values of every entity against the
    offline point-in-time values training reads for the same entities at the same moment (the
    frames are row-aligned). Paired, so no sample-size threshold: a family is skewed when more
    than `max_share` of its (entity, feature) values differ; "not enough data" when no entity
    has a value on either side."""
    if len(offline) != len(online):
        raise ValueError(f"online rows ({len(online)}) do not pair with offline ({len(offline)})")
    offline, online = offline.reset_index(drop=True), online.reset_index(drop=True)
    by_level = level is not None and level in offline.columns
    columns = [c for c in _numeric(offline, level) if c in set(_numeric(online, level))]
    families: dict[str, list[str]] = {}
    for col in columns:
        families.setdefault(feature_family(col), []).append(col)
    levels = sorted(offline[level].dropna().unique()) if by_level else ["all"]
    rows = []
    for lv in levels:
        mask = (offline[level] == lv).to_numpy() if by_level else np.ones(len(offline), bool)
        for family, cols in families.items():
            a = offline.loc[mask, cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)
            b = online.loc[mask, cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)
            present = np.isfinite(a) | np.isfinite(b)
            n, bad = int(present.sum()), int(_mismatch(a, b, rel_tol).sum())
            share = bad / n if n else float("nan")
            verdict = NOT_ENOUGH if n == 0 else SKEW if share > max_share else MATCH
            rows.append((lv, family, len(cols), n, bad, share, verdict == SKEW, verdict))
    out = pd.DataFrame(rows, columns=SKEW_COLUMNS)
    return out.sort_values(["skewed", "share"], ascending=False, ignore_index=True)
