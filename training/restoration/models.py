"""Censoring-aware pieces of the restoration model: Kaplan-Meier (no pinned library offers it,
so it is written here), the inverse-probability-of-censoring weights the quantile boosters are
trained with, conformal widening of the P10-P90 band, and the re-estimate given elapsed time."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

Z90 = NormalDist().inv_cdf(0.9)


def kaplan_meier(durations: np.ndarray, events: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(times, survival just after each time) of the Kaplan-Meier estimate; ties: events
    before censorings."""
    d = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=int)
    times = np.unique(d[e == 1])
    surv, s = [], 1.0
    for t in times:
        at_risk = int((d >= t).sum())
        died = int(((d == t) & (e == 1)).sum())
        s *= 1.0 - died / at_risk
        surv.append(s)
    return times, np.asarray(surv)


def km_median(durations: np.ndarray, events: np.ndarray) -> float:
    """The smallest time at which the Kaplan-Meier survival reaches 0.5 (NaN if it never does)."""
    times, surv = kaplan_meier(durations, events)
    hit = np.nonzero(surv <= 0.5)[0]
    return float(times[hit[0]]) if len(hit) else float("nan")


def km_medians(frame: pd.DataFrame, by: str = "kind") -> dict[str, float]:
    """Kaplan-Meier median per group, and `"*"` for all rows (the fallback)."""
    out = {"*": km_median(frame["duration_h"].to_numpy(), frame["event"].to_numpy())}
    for key, g in frame.groupby(by):
        m = km_median(g["duration_h"].to_numpy(), g["event"].to_numpy())
        if not np.isnan(m):
            out[str(key)] = m
    if np.isnan(out["*"]):  # survival never reaches 0.5: the longest observed time, a floor
        out["*"] = float(frame["duration_h"].max())
    return out


def ipcw(durations: np.ndarray, events: np.ndarray) -> np.ndarray:
    """Weights 1/G(T-) of the ended outages (G: Kaplan-Meier of the censoring), 0 for the
    censored ones: ended outages stand in for the censored ones that would have ended as long."""
    d = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=int)
    times, g = kaplan_meier(d, 1 - e)
    idx = np.searchsorted(times, d, side="left") - 1  # G just before T
    g_before = np.where(idx >= 0, g[np.clip(idx, 0, None)] if len(g) else 1.0, 1.0)
    return np.where(e == 1, 1.0 / np.clip(g_before, 0.05, None), 0.0)


def offsets(frame: pd.DataFrame) -> np.ndarray:
    """Log Kaplan-Meier median of each kind code (`KINDS` order; all rows' for a kind without
    one): the boosters start from the baseline and learn what moves an outage away from it."""
    from gridml.training.restoration.dataset import KINDS

    medians = km_medians(frame)
    return np.log(np.array([medians.get(k, medians["*"]) for k in KINDS], dtype=float))


@dataclass
class QuantileModel:
    """LightGBM P10/P50/P90 on log hours around the log Kaplan-Meier median of the outage's
    kind (`offset`, by kind code); `widen` (log hours) is the conformal correction."""

    boosters: dict[float, Any]
    features: tuple[str, ...]
    offset: np.ndarray
    widen: float = 0.0

    def base(self, x: pd.DataFrame) -> np.ndarray:
        """Each row's log Kaplan-Meier median."""
        return self.offset[x["kind_code"].to_numpy(dtype=int)]

    def log_quantiles(self, x: pd.DataFrame, widened: bool = True) -> np.ndarray:
        """(n, 3) log-hour P10, P50, P90, monotone, band widened by the conformal margin (or
        the boosters' own band: `widened=False`)."""
        data = x[list(self.features)].to_numpy(dtype=float)
        base = self.base(x)
        q = np.column_stack([base + self.boosters[a].predict(data) for a in (0.1, 0.5, 0.9)])
        q = np.sort(q, axis=1)
        if widened:
            q[:, 0] -= self.widen
            q[:, 2] += self.widen
        return q


def fit_quantiles(
    frame: pd.DataFrame, features: tuple[str, ...], params: dict[str, Any], seed: int
) -> QuantileModel:
    """P10/P50/P90 boosters on log hours of the ended outages, weighted for censoring."""
    import lightgbm as lgb

    w = ipcw(frame["duration_h"].to_numpy(), frame["event"].to_numpy())
    keep = w > 0
    offset = offsets(frame)
    x = frame.loc[keep, list(features)].to_numpy(dtype=float)
    y = np.log(frame.loc[keep, "duration_h"].to_numpy(dtype=float))
    y = y - offset[frame.loc[keep, "kind_code"].to_numpy(dtype=int)]
    boosters = {}
    for alpha in (0.1, 0.5, 0.9):
        model = lgb.LGBMRegressor(
            objective="quantile", alpha=alpha, random_state=seed, verbose=-1, **params
        )
        model.fit(x, y, sample_weight=w[keep])
        boosters[alpha] = model
    return QuantileModel(boosters, features, offset)


def conformal_margin(q: np.ndarray, log_y: np.ndarray, coverage: float) -> float:
    """CQR margin: the (coverage)(1 + 1/n) quantile of max(P10 - y, y - P90) on the calibration
    outages (ended ones), in log hours; may be negative (the band narrows)."""
    if len(log_y) == 0:
        return 0.0
    scores = np.maximum(q[:, 0] - log_y, log_y - q[:, 2])
    level = min(1.0, coverage * (1 + 1 / len(log_y)))
    return float(np.quantile(scores, level, method="higher"))


def conditional_quantiles(log_q: np.ndarray, elapsed_h: np.ndarray) -> np.ndarray:
    """Hours P10/P50/P90 of the restoration given the outage is still open after `elapsed_h`:
    the predicted log-normal (median P50, spread from the P10-P90 band) truncated at the
    elapsed time. With nothing elapsed it is the first estimate."""
    nd = NormalDist()
    mu = log_q[:, 1]
    sigma = np.maximum((log_q[:, 2] - log_q[:, 0]) / (2 * Z90), 1e-3)
    out = np.exp(log_q).copy()
    for i, t in enumerate(np.asarray(elapsed_h, dtype=float)):
        if t <= 0:
            continue
        f0 = nd.cdf((np.log(t) - mu[i]) / sigma[i])
        for j, p in enumerate((0.1, 0.5, 0.9)):
            u = min(f0 + p * (1 - f0), 1 - 1e-9)
            out[i, j] = max(float(np.exp(mu[i] + sigma[i] * nd.inv_cdf(u))), t, out[i, j])
    return out
