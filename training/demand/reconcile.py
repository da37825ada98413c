"""Forecast reconciliation over the grid hierarchy (zone > substation > feeder > transformer).

Forecasts made series by series are *incoherent*: a feeder's forecast is not the sum of its
transformers'. Reconciliation maps the base forecasts `yhat` of every series onto coherent ones,
`ytilde = S G yhat`, where `S` (n_all x n_bottom) sums the bottom series into every series and
`G` (n_bottom x n_all) picks the bottom-level combination:

- `bottom_up`: G only keeps the bottom base forecasts (aggregated forecasts are ignored);
- `wls_struct`: MinT with W = diag(S 1), each series weighted by how many bottom series it
  sums ("structural scaling"); needs no residuals;
- `mint_shrink`: MinT (Wickramasuriya, Athanasopoulos & Hyndman 2019, JASA 114:804) with W
  the Schäfer-Strimmer (2005) shrinkage estimate of the base forecast errors' covariance, as
  R's hts `MinT(covariance = "shr")` and fable `min_trace(method = "mint_shrink")`;
- `mint`: MinT with a W of your own.

MinT: G = (S' W^-1 S)^-1 S' W^-1, the minimum-variance unbiased reconciliation when W is the
covariance of the base forecast errors. It is a projection (S G S = S): already coherent base
forecasts come back unchanged.

**Frames.** `hierarchy` has one row per series: `series_id`, `level`, `parent_id` (`""`, None
or NaN for a root). Bottom series are those with no children (transformers in the grid). Base
forecasts are wide: one row per forecast point (e.g. index (origin, target_time)), one column
per series id; the result has the same index and one column per series, in the order of
`summing_matrix`'s `all_ids` (aggregates top-down, then the bottom series). Residuals are wide
too: one row per time point (in-sample or backtest errors, actual minus forecast), one column
per series. Column names that are not series of `hierarchy` are an error.

**Missing values.** A forecast row with a NaN in a series that enters the reconciliation gives
a NaN row: reconciliation mixes series, so there is no honest partial answer. Residuals may
have NaN (masked outage hours): see `mint_shrink`'s `nan_policy`.

**Quantiles.** Only the point forecast is reconciled. Quantiles do not add up across series
(the P90 of a feeder is not the sum of its transformers' P90s), so no quantile is made coherent;
`shift_quantiles` moves each series' quantiles by that series' point adjustment
(ytilde - yhat), which keeps its interval widths and the quantiles' order. Coherent
probabilistic forecasts (reconciling sample paths) are out of scope.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd
from scipy import linalg

log = logging.getLogger(__name__)

HIERARCHY_COLUMNS = ("series_id", "level", "parent_id")

#: How `mint_shrink` handles NaN residuals: "complete" drops every time point with a NaN in any
#: series; "pairwise" estimates each covariance from the time points both series have.
NanPolicy = Literal["pairwise", "complete"]

#: Smallest eigenvalue kept in the shrunk correlation matrix (see `shrinkage_covariance`).
_MIN_EIGENVALUE = 1e-8
#: Variances below this share of the largest are raised to it, so that W stays invertible.
_VARIANCE_FLOOR = 1e-8


# --------------------------------------------------------------------------------------------
# the hierarchy


def summing_matrix(hierarchy: pd.DataFrame) -> tuple[np.ndarray, list[str], list[str]]:
    """The summing matrix of a hierarchy.

    Returns `(S, all_ids, bottom_ids)`: `S[i, j]` is 1 when bottom series `bottom_ids[j]` is
    (or lies under) series `all_ids[i]`, else 0. `all_ids` lists the aggregated series (those
    with children) by depth from the root, then by id, followed by the bottom series (sorted by
    id), so that `S = [A; I]`. A leaf is bottom whatever its level: a feeder without
    transformers is its own bottom series. Several roots (a forest) are allowed.

    Raises ValueError on duplicate ids, an unknown parent or a cycle.
    """
    missing = [c for c in HIERARCHY_COLUMNS if c not in hierarchy.columns]
    if missing:
        raise KeyError(f"hierarchy lacks columns {missing}")
    ids = [str(s) for s in hierarchy["series_id"]]
    if len(set(ids)) != len(ids):
        dup = sorted(pd.Index(ids)[pd.Index(ids).duplicated()].unique())
        raise ValueError(f"hierarchy: duplicate series ids {dup[:5]}")
    parent = {
        sid: "" if pd.isna(p) or p == "" else str(p)
        for sid, p in zip(ids, hierarchy["parent_id"], strict=True)
    }
    unknown = sorted({p for p in parent.values() if p and p not in parent})
    if unknown:
        raise ValueError(f"hierarchy: parent ids that are not series {unknown[:5]}")

    def ancestry(sid: str) -> list[str]:
        """`sid` and its ancestors up to the root."""
        chain = [sid]
        while parent[chain[-1]]:
            chain.append(parent[chain[-1]])
            if len(chain) > len(ids):
                raise ValueError(f"hierarchy: a cycle through {sid!r}")
        return chain

    has_children = set(parent.values()) - {""}
    chains = {sid: ancestry(sid) for sid in ids}
    bottom_ids = sorted(s for s in ids if s not in has_children)
    aggregates = sorted(has_children, key=lambda s: (len(chains[s]), s))
    all_ids = [*aggregates, *bottom_ids]
    row = {sid: i for i, sid in enumerate(all_ids)}

    S = np.zeros((len(all_ids), len(bottom_ids)))
    for j, sid in enumerate(bottom_ids):
        S[[row[a] for a in chains[sid]], j] = 1.0
    return S, all_ids, bottom_ids


def _matrix(frame: pd.DataFrame, needed: list[str], known: list[str], what: str) -> np.ndarray:
    """`frame[needed]` as a float array, after checking its columns are series of the hierarchy."""
    known_set = set(known)
    unknown = [c for c in frame.columns if c not in known_set]
    if unknown:
        raise KeyError(f"{what}: columns that are not series of the hierarchy {unknown[:5]}")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise KeyError(f"{what}: lacks series {missing[:5]} ({len(missing)} in all)")
    return frame[needed].to_numpy(dtype=float)


def _result(
    values: np.ndarray, index: pd.Index, all_ids: list[str], **info: object
) -> pd.DataFrame:
    out = pd.DataFrame(values, index=index, columns=pd.Index(all_ids, name="series_id"))
    out.attrs["reconciliation"] = info
    return out


# --------------------------------------------------------------------------------------------
# reconciliation methods


def bottom_up(base: pd.DataFrame, hierarchy: pd.DataFrame) -> pd.DataFrame:
    """Coherent forecasts from the bottom series alone: each aggregate is the sum of its bottom
    series' base forecasts. `base` needs every bottom series; aggregated columns, if present,
    are ignored.
    """
    S, all_ids, bottom_ids = summing_matrix(hierarchy)
    b = _matrix(base, bottom_ids, all_ids, "base")
    return _result(b @ S.T, base.index, all_ids, method="bottom_up")


def _mint_project(y: np.ndarray, S: np.ndarray, W: np.ndarray) -> np.ndarray:
    """S G y' row by row for y (points x n_all), G = (S' W^-1 S)^-1 S' W^-1.

    `W` is a full symmetric positive definite matrix or, 1-D, the diagonal of one. Uses
    Cholesky solves, never an explicit inverse.
    """
    if W.ndim == 1:
        if not np.all(W > 0):
            raise ValueError("W: diagonal weights must be positive")
        winv_s = S / W[:, None]
    else:
        winv_s = linalg.cho_solve(linalg.cho_factor(W, lower=True), S)
    m = S.T @ winv_s  # S' W^-1 S, n_bottom x n_bottom, symmetric positive definite
    g = linalg.solve(m, winv_s.T, assume_a="pos")  # G = (S' W^-1 S)^-1 S' W^-1
    return (y @ g.T) @ S.T  # reconcile the bottom level, then sum it up exactly


def mint(base: pd.DataFrame, hierarchy: pd.DataFrame, W: np.ndarray) -> pd.DataFrame:
    """MinT reconciliation with a given error covariance `W` (n_all x n_all, or its diagonal as
    a 1-D array), rows and columns in the order of `summing_matrix`'s `all_ids`. `W` must be
    positive definite. `base` needs every series.
    """
    S, all_ids, _ = summing_matrix(hierarchy)
    W = np.asarray(W, dtype=float)
    if W.shape not in ((len(all_ids),), (len(all_ids), len(all_ids))):
        raise ValueError(f"W has shape {W.shape}; expected ({len(all_ids)},) or square")
    y = _matrix(base, all_ids, all_ids, "base")
    return _result(_mint_project(y, S, W), base.index, all_ids, method="mint")


def wls_struct(base: pd.DataFrame, hierarchy: pd.DataFrame) -> pd.DataFrame:
    """MinT with structural scaling, W = diag(S 1): a series' error variance is taken as
    proportional to the number of bottom series under it. Needs no residuals. `base` needs
    every series.
    """
    S, all_ids, _ = summing_matrix(hierarchy)
    y = _matrix(base, all_ids, all_ids, "base")
    return _result(_mint_project(y, S, S.sum(axis=1)), base.index, all_ids, method="wls_struct")


def _eigenvalues_above(a: np.ndarray, floor: float) -> bool:
    """Whether the symmetric matrix `a` has every eigenvalue above `floor` (a Cholesky test)."""
    try:
        linalg.cholesky(a - floor * np.eye(len(a)), lower=True, check_finite=False)
    except linalg.LinAlgError:
        return False
    return True


def shrinkage_covariance(
    residuals: np.ndarray, nan_policy: NanPolicy = "pairwise"
) -> tuple[np.ndarray, float]:
    """Schäfer-Strimmer shrinkage estimate of the covariance of base forecast errors, towards
    its diagonal, as used by MinT (hts `shrink.estim`, fable `mint_shrink`).

    `residuals`: time points x series. As in hts and fable, second moments are *uncentered*
    (mean x_i x_j): a biased forecast's bias counts as error. With C the sample covariance, D
    its diagonal and R = D^-1/2 C D^-1/2 the sample correlation, the estimate is
    W = lam D + (1 - lam) C, with the shrinkage intensity
    lam = sum_{i!=j} Var(r_ij) / sum_{i!=j} r_ij^2, clipped to [0, 1], where Var(r_ij) is the
    estimated variance of the sample correlation (from the standardized products).

    NaN handling (`nan_policy`): "complete" keeps the time points with no NaN; "pairwise"
    estimates each variance from the series' own non-NaN points and each covariance (and its
    variance) from the points both series have. Pairs with fewer than 2 common points get
    correlation 0. On complete data both give hts' estimate exactly. Pairwise estimates need not
    form a positive definite matrix, so lam is then raised, if needed, to the smallest value
    that leaves the shrunk correlation's eigenvalues >= 1e-8 (closed form: the eigenvalues of
    lam I + (1 - lam) R are lam + (1 - lam) mu, mu the smallest eigenvalue of R). On complete
    data R is positive semi-definite and lam is only kept >= 1e-8 (p > n makes R singular).
    Variances below 1e-8 of the largest are raised to that, so that a series with (near) zero
    in-sample error keeps W invertible.

    Returns `(W, lam)`. Raises ValueError when no series has a non-zero residual.
    """
    x = np.asarray(residuals, dtype=float)
    if x.ndim != 2:
        raise ValueError("residuals must be a 2-D array (time points x series)")
    if nan_policy == "complete":
        x = x[~np.isnan(x).any(axis=1)]
    elif nan_policy != "pairwise":
        raise ValueError(f"nan_policy must be 'pairwise' or 'complete', got {nan_policy!r}")
    obs = ~np.isnan(x)
    x0 = np.where(obs, x, 0.0)
    m = obs.astype(float)
    n = m.T @ m  # common points of each pair
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (x0**2).sum(axis=0) / np.diag(n)
    var = np.nan_to_num(var, nan=0.0)
    if not var.max(initial=0.0) > 0:
        raise ValueError("shrinkage_covariance: every residual is zero or missing")
    var = np.maximum(var, _VARIANCE_FLOOR * var.max())
    sd = np.sqrt(var)

    xs = x0 / sd  # standardized, 0 where missing
    s1 = xs.T @ xs
    s2 = (xs**2).T @ (xs**2)
    ok = n >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(ok, s1 / n, 0.0)
        var_corr = np.where(ok, (s2 - s1**2 / n) / (n * (n - 1)), 0.0)
    off = ~np.eye(len(var), dtype=bool)
    np.fill_diagonal(corr, 1.0)

    denom = float((corr[off] ** 2).sum())
    lam = float(var_corr[off].sum()) / denom if denom > 0 else 1.0
    lam = min(max(lam, 0.0), 1.0)
    if obs.all() or len(var) == 1:
        lam = max(lam, _MIN_EIGENVALUE)  # R is a Gram matrix: positive semi-definite
    elif not _eigenvalues_above(lam * np.eye(len(var)) + (1.0 - lam) * corr, _MIN_EIGENVALUE):
        mu = float(linalg.eigvalsh(corr, subset_by_index=[0, 0])[0])  # O(p^3), rarely needed
        lam = max(lam, (_MIN_EIGENVALUE - mu) / (1.0 - mu))

    shrunk = (1.0 - lam) * corr
    np.fill_diagonal(shrunk, 1.0)
    return shrunk * np.outer(sd, sd), lam


def mint_shrink(
    base: pd.DataFrame,
    residuals: pd.DataFrame,
    hierarchy: pd.DataFrame,
    *,
    nan_policy: NanPolicy = "pairwise",
    min_rows: int = 24,
) -> pd.DataFrame:
    """MinT reconciliation with the shrinkage covariance of the base forecast errors.

    `residuals` (time points x series, actual minus base forecast, in-sample or from a
    backtest; NaN allowed, e.g. masked outage hours) gives W through `shrinkage_covariance`
    with `nan_policy`. "pairwise" (the default) keeps every observed point: with thousands of
    transformers each masking a few outage hours, hardly any time point is complete.
    `base` and `residuals` need every series.

    Falls back to `wls_struct` (logging a warning) when some series has fewer than `min_rows`
    usable residuals (default 24: one day of hourly points; with "complete", the number of
    complete time points) or when every residual is zero.

    The result's `attrs["reconciliation"]` records the method actually used ("mint_shrink" or
    "wls_struct"), the shrinkage intensity `lam` and the fewest residual points of any series
    (`rows`), or the `reason` for the fallback.
    """
    S, all_ids, _ = summing_matrix(hierarchy)
    y = _matrix(base, all_ids, all_ids, "base")
    r = _matrix(residuals, all_ids, all_ids, "residuals")
    if nan_policy == "complete":
        r = r[~np.isnan(r).any(axis=1)]
    rows = int((~np.isnan(r)).sum(axis=0).min()) if r.size else 0

    reason = None
    if rows < min_rows:
        reason = f"a series has {rows} usable residuals (< min_rows={min_rows})"
    elif not np.nanmax(np.abs(r)) > 0:
        reason = "every residual is zero"
    if reason is not None:
        log.warning("mint_shrink: %s; falling back to wls_struct", reason)
        out = wls_struct(base[all_ids], hierarchy)
        out.attrs["reconciliation"] = {"method": "wls_struct", "reason": reason}
        return out

    W, lam = shrinkage_covariance(r, nan_policy)
    return _result(
        _mint_project(y, S, W), base.index, all_ids, method="mint_shrink", lam=lam, rows=rows
    )


# --------------------------------------------------------------------------------------------
# quantiles


def shift_quantiles(
    quantiles: Mapping[float, pd.DataFrame], base: pd.DataFrame, reconciled: pd.DataFrame
) -> dict[float, pd.DataFrame]:
    """Move each series' quantile forecasts by its point adjustment, reconciled - base.

    Not a reconciliation of the quantiles (which are not additive and stay incoherent): it keeps
    each series' interval widths and the quantiles' order while centring them on the reconciled
    point forecast. Every frame is aligned on `reconciled`'s index and columns, which `base`
    and each quantile frame must have.
    """
    cols = list(reconciled.columns)
    shift = reconciled[cols] - base.loc[reconciled.index, cols]
    return {q: frame.loc[reconciled.index, cols] + shift for q, frame in quantiles.items()}
