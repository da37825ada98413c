"""Rolling-origin backtest: at each cut-off, retrain every model on the past and forecast the
days that follow; score by model, level, segment and horizon, against the seasonal naive."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gridml.config import ConfigError
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import DemandData, Design, design
from gridml.training.demand.models import build_forecaster
from gridml.training.metrics import WEEK_HOURS, quantile_column, summarize

log = logging.getLogger(__name__)
HOUR = pd.Timedelta(hours=1)
MIN_TRAIN_ORIGINS = 14


@dataclass(frozen=True)
class Fold:
    index: int
    cutoff: pd.Timestamp  # first test origin; no training target at or after it
    train_origins: pd.DatetimeIndex
    test_origins: pd.DatetimeIndex


def usable_origins(data: DemandData, cfg: DemandConfig) -> pd.DatetimeIndex:
    """Origins whose whole horizon lies inside the data."""
    origins = pd.DatetimeIndex(sorted(data.origins["origin"].unique()))
    return origins[origins + cfg.horizon_hours * HOUR <= data.end]


def make_folds(data: DemandData, cfg: DemandConfig) -> list[Fold]:
    return folds_over(usable_origins(data, cfg), cfg, data.timezone)


def folds_over(origins: pd.DatetimeIndex, cfg: DemandConfig, timezone: str) -> list[Fold]:
    """Consecutive test windows of `fold_days` origins ending at `backtest.end` (or the data's
    end); each fold trains on the `history_days` of origins whose targets precede its cut-off."""
    if origins.empty:
        raise ConfigError(f"the data are too short for a {cfg.horizon_hours} h horizon")
    bt = cfg.backtest
    if bt.end is not None:
        last = pd.Timestamp(bt.end, tz=timezone).tz_convert("UTC")
        if not origins[0] <= last <= origins[-1]:
            raise ConfigError(
                f"backtest.end {bt.end} is outside the data: forecast origins run from "
                f"{origins[0]:%Y-%m-%d} to {origins[-1]:%Y-%m-%d}"
            )
        origins = origins[origins <= last]
    n_test = bt.folds * bt.fold_days
    folds = []
    for i in range(bt.folds):
        lo = len(origins) - n_test + i * bt.fold_days
        test = origins[lo : lo + bt.fold_days]
        if lo < 0 or test.empty:
            raise ConfigError(f"{bt.folds} folds of {bt.fold_days} days do not fit in the data")
        cutoff = test[0]
        train = origins[
            (origins + cfg.horizon_hours * HOUR <= cutoff)
            & (origins >= cutoff - pd.Timedelta(days=cfg.history_days))
        ]
        if len(train) < MIN_TRAIN_ORIGINS:
            raise ConfigError(
                f"fold {i} (cut-off {cutoff:%Y-%m-%d}) has {len(train)} training days; "
                f"at least {MIN_TRAIN_ORIGINS} are needed: fewer folds or an earlier end"
            )
        folds.append(Fold(i, cutoff, train, test))
    return folds


def series_scales(actuals: pd.DataFrame, before: pd.Timestamp) -> pd.Series:
    """MASE scale per series: mean |y_t - y_t-168| over the history before the cut-off."""
    past = actuals[actuals["target_time"] < before]
    wide = past.pivot(index="target_time", columns="series_id", values="y").sort_index()
    return (wide - wide.shift(WEEK_HOURS)).abs().mean()


def segment_of(data: DemandData) -> pd.Series:
    """A series' dominant customer segment (for breakdowns)."""
    prof = data.origins.drop_duplicates("series_id").set_index("series_id")
    shares = prof[["share_residential", "share_commercial", "share_industrial"]]
    known = shares.notna().any(axis=1)
    segment = pd.Series("unknown", index=shares.index)  # readings only: no customer data
    segment[known] = shares[known].idxmax(axis=1).str.replace("share_", "", regex=False)
    return segment


@dataclass
class BacktestResult:
    predictions: pd.DataFrame  # long: keys, model, y, scale, q columns, yhat
    summary: pd.DataFrame  # metrics by model x level
    detail: pd.DataFrame  # metrics by model x level x segment x horizon day
    timings: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> fit/predict s

    def metric(self, model: str, level: str, name: str) -> float:
        s = self.summary
        return float(s[(s["model"] == model) & (s["level"] == level)][name].iloc[0])


def _frame(test: Design, preds: pd.DataFrame, model: str, scales: pd.Series) -> pd.DataFrame:
    out = test.keys.reset_index(drop=True).copy()
    out["model"] = model
    out["y"] = test.y
    out["scale"] = scales.reindex(out["series_id"]).to_numpy()
    out = pd.concat([out, preds.reset_index(drop=True)], axis=1)
    out["yhat"] = out[quantile_column(0.5)]
    return out


def run_backtest(data: DemandData, cfg: DemandConfig) -> BacktestResult:
    frames, timings = [], {m: {"fit_s": 0.0, "predict_s": 0.0} for m in cfg.models}
    for fold in make_folds(data, cfg):
        log.info(
            "fold %d: cut-off %s, %d training days",
            fold.index,
            fold.cutoff,
            len(fold.train_origins),
        )
        train = design(data, cfg, fold.train_origins, sample=cfg.train_sample)
        test = design(data, cfg, fold.test_origins)
        history = data.history(fold.cutoff)
        scales = series_scales(data.actuals, fold.cutoff)
        for name in cfg.models:
            t0 = time.perf_counter()
            model = build_forecaster(name, cfg, data.country, data.timezone).fit(train, history)
            t1 = time.perf_counter()
            preds = model.predict(test)
            timings[name]["fit_s"] += t1 - t0
            timings[name]["predict_s"] += time.perf_counter() - t1
            frames.append(_frame(test, preds, name, scales).assign(fold=fold.index))
    predictions = pd.concat(frames, ignore_index=True)
    predictions = predictions[predictions[quantile_column(0.5)].notna()]
    predictions["segment"] = predictions["series_id"].map(segment_of(data))
    predictions["horizon_day"] = (predictions["horizon"] - 1) // 24 + 1
    quantiles = list(cfg.quantiles)
    summary = summarize(predictions, ["model", "level"], quantiles)
    detail = summarize(predictions, ["model", "level", "segment", "horizon_day"], quantiles)
    naive = summary[summary["model"] == "seasonal_naive"].set_index("level")["mase"]
    summary["mase_vs_naive"] = summary["mase"] / summary["level"].map(naive).to_numpy()
    return BacktestResult(predictions, summary, detail, timings)


def hierarchy_frame(predictions: pd.DataFrame, model: str, column: str) -> pd.DataFrame:
    """Wide (origin, target_time) x series frame of one model's column, e.g. 'yhat' or 'y'."""
    p = predictions[predictions["model"] == model]
    return p.pivot_table(
        index=["origin", "target_time"],
        columns="series_id",
        values=column,
        aggfunc="first",
        dropna=False,
    )


def evaluate_reconciliation(
    result: BacktestResult, hierarchy: pd.DataFrame, model: str = "lightgbm"
) -> pd.DataFrame:
    """MASE by level of the base, bottom-up and MinT (shrinkage) forecasts of `model`.

    MinT's error covariance comes from the previous folds' errors (the first fold uses its own),
    so the test errors never enter the weights that reconcile them."""
    from gridml.training.demand.reconcile import bottom_up, mint_shrink

    p = result.predictions
    p = p[p["series_id"].isin(hierarchy["series_id"])]
    rows = []
    for fold in sorted(p["fold"].unique()):
        fp = p[p["fold"] == fold]
        base = hierarchy_frame(fp, model, "yhat")
        actual = hierarchy_frame(fp, model, "y")
        past = p[p["fold"] < fold] if fold > 0 else fp
        resid = hierarchy_frame(past, model, "y") - hierarchy_frame(past, model, "yhat")
        base = base.dropna(how="any")
        methods = {
            "base": base,
            "bottom_up": bottom_up(base, hierarchy),
            "mint_shrink": mint_shrink(base, resid.reindex(columns=base.columns), hierarchy),
        }
        scale = fp.drop_duplicates("series_id").set_index("series_id")["scale"]
        for method, frame in methods.items():
            err = (actual.reindex(index=frame.index, columns=frame.columns) - frame).abs()
            for series in frame.columns:
                rows.append(
                    (
                        fold,
                        method,
                        series,
                        err[series].sum(),
                        err[series].notna().sum() * scale.get(series, np.nan),
                    )
                )
    out = pd.DataFrame(rows, columns=["fold", "method", "series_id", "abs_err", "scale_sum"])
    out["level"] = out["series_id"].str.split(":").str[0]
    agg = out.groupby(["method", "level"])[["abs_err", "scale_sum"]].sum()
    return (agg["abs_err"] / agg["scale_sum"]).rename("mase").reset_index()
