"""Rolling-origin backtest: at each cut-off, retrain every model on the past and forecast the
days that follow; score by model, level, segment and horizon, against the seasonal naive."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gridml.config import ConfigError
from gridml.training.demand import defaults
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import DemandData, Design, design, issue_times
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
    """The backtest folds over the data's usable origins."""
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


def delivery_window(
    origins: pd.Series, cfg: DemandConfig, timezone: str
) -> tuple[pd.Series, pd.Series]:
    """Start and end (UTC, end excluded) of the hours delivered by the forecast of each origin:
    from the local midnight `delivery_start_days` after the issue day to `delivery_hours` later
    on the local clock (24: the next local midnight, whatever the day's length)."""
    local = pd.to_datetime(origins, utc=True).dt.tz_convert(timezone).dt.tz_localize(None)
    day = local.dt.normalize() + pd.Timedelta(days=cfg.issue.delivery_start_days)

    def utc(wall: pd.Series) -> pd.Series:  # local wall-clock times (a DST day has 23 or 25 h)
        at = wall.dt.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
        return at.dt.tz_convert("UTC")

    return utc(day), utc(day + pd.Timedelta(hours=cfg.issue.delivery_hours))


def with_issue(keys: pd.DataFrame, cfg: DemandConfig, timezone: str) -> pd.DataFrame:
    """`keys` (origin, target_time) plus `issue_time`, `lead_hours` (from the issue time to the
    start of the target hour) and `delivered` (the target lies in the delivery window)."""
    issue = issue_times(keys["origin"], cfg, timezone)
    start, end = delivery_window(keys["origin"], cfg, timezone)
    target = pd.to_datetime(keys["target_time"], utc=True)
    return keys.assign(
        issue_time=issue.to_numpy(),
        lead_hours=((target - issue) / HOUR).to_numpy(),
        delivered=((target >= start) & (target < end)).to_numpy(),
    )


def lead_time_skill(predictions: pd.DataFrame, quantiles: list[float]) -> pd.DataFrame:
    """Scores by model x level x lead hour over the delivered hours, with `skill` =
    1 - MASE / seasonal naive's MASE at the same level and lead hour (0: as good as the naive)."""
    delivered = predictions[predictions["delivered"]]
    table = summarize(delivered, ["model", "level", "lead_hours"], quantiles)
    naive = table[table["model"] == "seasonal_naive"].set_index(["level", "lead_hours"])["mase"]
    ref = naive.reindex(pd.MultiIndex.from_frame(table[["level", "lead_hours"]])).to_numpy()
    return table.assign(skill=1.0 - table["mase"] / ref)


@dataclass
class BacktestResult:
    predictions: pd.DataFrame  # long: keys, issue, model, y, scale, q columns, yhat; all hours
    summary: pd.DataFrame  # metrics by model x level, delivered hours
    detail: pd.DataFrame  # metrics by model x level x segment x horizon day, delivered hours
    timings: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> fit/predict s
    by_lead: pd.DataFrame = field(default_factory=pd.DataFrame)  # skill per lead hour
    missing: dict[str, str] = field(default_factory=dict)  # model -> why it has no score

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


def fold_sample(data: DemandData, cfg: DemandConfig, train_origins: pd.DatetimeIndex) -> float:
    """`train_sample` for a training set of these origins (the auto rule counts its rows)."""
    n_series = data.origins["series_id"].nunique()
    return defaults.train_sample(cfg, n_series * len(train_origins) * cfg.horizon_hours)


def run_backtest(data: DemandData, cfg: DemandConfig) -> BacktestResult:
    """Fit and score every configured model on each fold; the scores, timings and reasons for
    missing models."""
    frames: list[pd.DataFrame] = []
    timings: dict[str, dict[str, float]] = {m: {"fit_s": 0.0, "predict_s": 0.0} for m in cfg.models}
    reasons: dict[str, str] = {}
    for fold in make_folds(data, cfg):
        sample = fold_sample(data, cfg, fold.train_origins)
        log.info(
            "fold %d: cut-off %s, %d training days, train_sample %.3f",
            fold.index,
            fold.cutoff,
            len(fold.train_origins),
            sample,
        )
        train = design(data, cfg, fold.train_origins, sample=sample)
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
            skipped = getattr(model, "skipped", None)  # a forecaster that could not fit says why
            if skipped:
                reasons[name] = skipped
            frames.append(_frame(test, preds, name, scales).assign(fold=fold.index))
    predictions = pd.concat(frames, ignore_index=True)
    predictions = predictions[predictions[quantile_column(0.5)].notna()]
    predictions = with_issue(predictions, cfg, data.timezone)
    predictions["segment"] = predictions["series_id"].map(segment_of(data))
    predictions["horizon_day"] = (predictions["horizon"] - 1) // 24 + 1
    quantiles = list(cfg.quantiles)
    scored = predictions[predictions["delivered"]]
    summary = summarize(scored, ["model", "level"], quantiles)
    detail = summarize(scored, ["model", "level", "segment", "horizon_day"], quantiles)
    naive = summary[summary["model"] == "seasonal_naive"].set_index("level")["mase"]
    summary["mase_vs_naive"] = summary["mase"] / summary["level"].map(naive).to_numpy()
    missing = missing_models(cfg, summary, reasons)
    by_lead = lead_time_skill(predictions, quantiles)
    return BacktestResult(predictions, summary, detail, timings, by_lead, missing)


def missing_models(
    cfg: DemandConfig, summary: pd.DataFrame, reasons: dict[str, str]
) -> dict[str, str]:
    """Every configured model without a score, with the reason; each is logged as a warning
    (a model named in the config is never dropped silently)."""
    out: dict[str, str] = {}
    for name in cfg.models:
        rows = summary[(summary["model"] == name) & (summary["n"] > 0)]
        if rows.empty or rows["mase"].isna().all():
            out[name] = reasons.get(name, "it produced no forecast for any delivered hour")
            log.warning("model %s has no backtest score: %s", name, out[name])
    return out


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
    p = p[p["series_id"].isin(hierarchy["series_id"]) & p["delivered"]]
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
