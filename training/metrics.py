"""Forecast accuracy metrics: point (MASE, MAE, RMSE, MAPE, sMAPE) and probabilistic (pinball
loss, interval coverage and width), plus `summarize` to score a long backtest frame by group.

Conventions shared by every function here:

- Inputs are array-likes of equal (or broadcastable) shape; scalars broadcast.
- **Masking.** A position where the actual `y` is NaN (a masked outage hour: forecasts must not
  learn or be scored on interrupted supply) is left out of every metric. A NaN *forecast* at a
  position where `y` is known is not masked: it propagates and the metric is NaN, so a missing
  forecast can never flatter a score.
- A metric with nothing left to average (empty input, every `y` masked) is NaN.
- Percentages (MAPE, sMAPE) are in percent: 12.5 means 12.5 %.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

ArrayLike = npt.ArrayLike

#: Seasonal period of the naive benchmark behind MASE: same hour last week, on hourly data.
WEEK_HOURS = 168

#: The quantiles `summarize` scores by default (columns q10, q50, q90).
DEFAULT_QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)


# --------------------------------------------------------------------------------------------
# helpers


def _arrays(y: ArrayLike, *others: ArrayLike) -> tuple[np.ndarray, ...]:
    """`y` and `others` as float arrays broadcast to one shape, kept where `y` is not NaN."""
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (y, *others)))
    keep = ~np.isnan(arrays[0])
    return tuple(a[keep] for a in arrays)


def _mean(values: np.ndarray) -> float:
    """Plain mean (NaN propagates), NaN for an empty array instead of a warning."""
    return float(values.mean()) if values.size else float("nan")


def quantile_column(q: float) -> str:
    """Column name of quantile `q` in a backtest frame: `q{percent:02d}`, e.g. 0.1 -> "q10",
    0.05 -> "q05", 0.5 -> "q50". The percent is rounded (not truncated) so that float noise such
    as 0.29 * 100 = 28.999... still names "q29"; quantiles finer than a whole percent collide.
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile must lie strictly between 0 and 1, got {q}")
    return f"q{round(q * 100):02d}"


# --------------------------------------------------------------------------------------------
# point forecasts


def seasonal_scale(history: ArrayLike, season: int = WEEK_HOURS) -> float:
    """MASE scale of one training series: the in-sample mean absolute error of the seasonal-naive
    forecast, mean |y_t - y_{t-season}| over the history (default: same hour last week).

    `history` must be evenly spaced (hourly for the default season) and in time order. Pairs
    with either end NaN are skipped. NaN if no complete pair is left (history shorter than one
    season plus one point, or fully masked).
    """
    h = np.asarray(history, dtype=float).ravel()
    if season < 1:
        raise ValueError(f"season must be a positive number of steps, got {season}")
    if h.size <= season:
        return float("nan")
    diffs = np.abs(h[season:] - h[:-season])
    return _mean(diffs[~np.isnan(diffs)])


def mase(y: ArrayLike, yhat: ArrayLike, scale: ArrayLike) -> float:
    """Mean absolute scaled error: sum |y - yhat| / sum scale over the unmasked positions.

    With a scalar `scale` (the usual case: `seasonal_scale` of the series' training history)
    this is the textbook mean |y - yhat| / scale. A per-position `scale` (pooling several series,
    as `summarize` does) weights each position's error by its series' scale in the pooled
    denominator rather than dividing position by position, so that one nearly flat series
    cannot dominate the average. Below 1 beats the in-sample seasonal naive.

    NaN when nothing is left or the summed scale is not positive (a constant history).
    """
    yy, ff, ss = _arrays(y, yhat, scale)
    if not yy.size:
        return float("nan")
    denom = ss.sum()
    if not denom > 0:  # also catches NaN
        return float("nan")
    return float(np.abs(yy - ff).sum() / denom)


def mae(y: ArrayLike, yhat: ArrayLike) -> float:
    """Mean absolute error over the unmasked positions."""
    yy, ff = _arrays(y, yhat)
    return _mean(np.abs(yy - ff))


def rmse(y: ArrayLike, yhat: ArrayLike) -> float:
    """Root mean squared error over the unmasked positions."""
    yy, ff = _arrays(y, yhat)
    return float(np.sqrt(_mean((yy - ff) ** 2)))


def mape(y: ArrayLike, yhat: ArrayLike) -> float:
    """Mean absolute percentage error, 100 * mean |y - yhat| / |y|, in percent.

    Positions where `y == 0` are **skipped** (the ratio is undefined there), as are masked ones;
    NaN when none is left. MAPE explodes near zero (night load on a small transformer) and
    punishes over-forecasts more than under-forecasts; prefer MASE for comparisons.
    """
    yy, ff = _arrays(y, yhat)
    nonzero = yy != 0
    yy, ff = yy[nonzero], ff[nonzero]
    return _mean(100.0 * np.abs(yy - ff) / np.abs(yy))


def smape(y: ArrayLike, yhat: ArrayLike) -> float:
    """Symmetric MAPE, 100 * mean 2|y - yhat| / (|y| + |yhat|), in percent, bounded to [0, 200].

    A position where both `y` and `yhat` are 0 is a perfect forecast and scores 0 (not 0/0).
    """
    yy, ff = _arrays(y, yhat)
    num = 2.0 * np.abs(yy - ff)
    den = np.abs(yy) + np.abs(ff)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(den == 0, 0.0, num / den)
    # where() evaluates num/den everywhere; put back NaN forecasts that den == 0 cannot be.
    ratio = np.where(np.isnan(num), np.nan, ratio)
    return _mean(100.0 * ratio)


# --------------------------------------------------------------------------------------------
# quantile and interval forecasts


def pinball(y: ArrayLike, q_pred: ArrayLike, q: float) -> float:
    """Mean pinball (quantile) loss of the `q` quantile forecast `q_pred`:
    mean of q * (y - p) when y >= p, (1 - q) * (p - y) otherwise. At q = 0.5 it is MAE / 2.
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile must lie strictly between 0 and 1, got {q}")
    yy, pp = _arrays(y, q_pred)
    diff = yy - pp
    return _mean(np.maximum(q * diff, (q - 1.0) * diff))


def mean_pinball(y: ArrayLike, preds: Mapping[float, ArrayLike]) -> float:
    """Pinball loss averaged over quantiles: `preds` maps each quantile level to its forecasts.
    Each quantile counts equally (a discrete approximation of CRPS / 2 on an even grid).
    """
    if not preds:
        return float("nan")
    return float(np.mean([pinball(y, p, q) for q, p in preds.items()]))


def coverage(y: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> float:
    """Empirical coverage: the share of unmasked positions with lo <= y <= hi (ends included).
    Compare with the nominal level, e.g. 0.8 for a P10-P90 interval. A NaN bound (at a known
    `y`) makes the result NaN, like any missing forecast.
    """
    yy, ll, hh = _arrays(y, lo, hi)
    inside = ((yy >= ll) & (yy <= hh)).astype(float)
    inside[np.isnan(ll) | np.isnan(hh)] = np.nan
    return _mean(inside)


def interval_width(lo: ArrayLike, hi: ArrayLike, y: ArrayLike | None = None) -> float:
    """Mean width hi - lo of a prediction interval, in the units of the forecast. With `y`, the
    positions where `y` is masked are left out, so the width matches `coverage` on the same rows.
    """
    if y is None:
        ll, hh = (np.asarray(a, dtype=float).ravel() for a in np.broadcast_arrays(lo, hi))
    else:
        _, ll, hh = _arrays(y, lo, hi)
    return _mean(hh - ll)


# --------------------------------------------------------------------------------------------
# scoring a backtest


def summarize(
    frame: pd.DataFrame,
    by: Sequence[str],
    quantiles: Sequence[float] | None = DEFAULT_QUANTILES,
) -> pd.DataFrame:
    """Score a long backtest frame group by group.

    `frame` holds one row per forecast point with columns:

    - `y`: the actual (NaN where masked, e.g. an outage hour),
    - `yhat`: the point forecast,
    - `scale`: that row's MASE scale (`seasonal_scale` of its series' training history up to the
      forecast origin),
    - one column per quantile in `quantiles`, named by `quantile_column`: `q10`, `q50`, `q90`...,
    - the grouping columns `by`, e.g. ["model", "level", "horizon_bucket"].

    Returns one row per group (groups with a NaN key kept) with the `by` columns and:

    - `n`: unmasked rows (y not NaN);
    - `mase`: pooled, sum |y - yhat| / sum scale over the group's unmasked rows (see `mase`);
    - `mae`, `rmse`, `mape` (y == 0 skipped), `smape`;
    - when `quantiles` is non-empty: `pinball` (mean over the quantiles), and for the central
      interval between the lowest and the highest quantile (P10-P90 by default) `coverage`,
      `nominal` (its nominal level, q_max - q_min: 0.8) and `width` (mean width).

    `by=[]` scores the whole frame as one group.
    """
    qs = sorted(quantiles or ())
    required = ["y", "yhat", "scale", *(quantile_column(q) for q in qs), *by]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise KeyError(f"summarize: frame lacks columns {missing}")

    groups = frame.groupby(list(by), sort=True, dropna=False) if by else [((), frame)]
    rows = []
    for key, g in groups:
        keys = key if isinstance(key, tuple) else (key,)
        y, yhat = g["y"].to_numpy(float), g["yhat"].to_numpy(float)
        row: dict[str, object] = dict(zip(by, keys, strict=True))
        row["n"] = int(np.count_nonzero(~np.isnan(y)))
        row["mase"] = mase(y, yhat, g["scale"].to_numpy(float))
        row["mae"] = mae(y, yhat)
        row["rmse"] = rmse(y, yhat)
        row["mape"] = mape(y, yhat)
        row["smape"] = smape(y, yhat)
        if qs:
            preds = {q: g[quantile_column(q)].to_numpy(float) for q in qs}
            lo, hi = preds[qs[0]], preds[qs[-1]]
            row["pinball"] = mean_pinball(y, preds)
            row["coverage"] = coverage(y, lo, hi)
            row["nominal"] = qs[-1] - qs[0]
            row["width"] = interval_width(lo, hi, y)
        rows.append(row)
    columns = [*by, "n", "mase", "mae", "rmse", "mape", "smape"]
    if qs:
        columns += ["pinball", "coverage", "nominal", "width"]
    return pd.DataFrame(rows, columns=columns)
