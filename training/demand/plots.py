"""Plots logged with every demand run: people would rather look than read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure  # the object API: no global backend, no pyplot state


def forecast_vs_actual(predictions: pd.DataFrame, path: Path, model: str = "lightgbm") -> Path:
    """One sample series per level: actual, P50 and the P10-P90 band over the last fold."""
    p = predictions[
        (predictions["model"] == model) & (predictions["fold"] == predictions["fold"].max())
    ]
    p = p[p["horizon"] <= 24]  # day-ahead: each hour forecast once
    levels = [lv for lv in ("zone", "substation", "feeder", "transformer") if lv in set(p["level"])]
    fig = Figure(figsize=(11, 2.6 * len(levels)))
    axes = fig.subplots(len(levels), 1, squeeze=False)
    for ax, level in zip(axes[:, 0], levels, strict=True):
        series = sorted(p.loc[p["level"] == level, "series_id"].unique())[0]
        s = p[p["series_id"] == series].sort_values("target_time")
        ax.fill_between(s["target_time"], s["q10"], s["q90"], alpha=0.3, label="P10-P90")
        ax.plot(s["target_time"], s["yhat"], label="P50")
        ax.plot(s["target_time"], s["y"], color="black", lw=0.8, label="actual")
        ax.set_title(f"{series} ({model}, day-ahead)")
        ax.set_ylabel("kWh/h")
    axes[0, 0].legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def error_profiles(predictions: pd.DataFrame, path: Path, timezone: str) -> Path:
    """Normalised absolute error by local hour of day and by horizon, per model."""
    p = predictions.assign(
        err=(predictions["y"] - predictions["yhat"]).abs() / predictions["scale"],
        hour=predictions["target_time"].dt.tz_convert(timezone).dt.hour,
    )
    fig = Figure(figsize=(12, 3.8))
    a, b = fig.subplots(1, 2)
    p.groupby(["hour", "model"])["err"].mean().unstack().plot(ax=a)
    a.set_title("Error by hour of day (|e| / MASE scale)")
    p.groupby(["horizon", "model"])["err"].mean().unstack().plot(ax=b)
    b.set_title("Error by horizon (hours ahead)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def feature_importance(importance: pd.Series, path: Path, top: int = 20) -> Path:
    """Save a bar chart of the top features' gain importance to `path`; returns it."""
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    importance.head(top).iloc[::-1].plot.barh(ax=ax)
    ax.set_title("LightGBM P50 gain importance")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def worst_days(
    predictions: pd.DataFrame,
    path: Path,
    timezone: str,
    model: str = "lightgbm",
    reference: str = "seasonal_naive",
    top: int = 6,
) -> Path:
    """The `top` delivered days (series x local day) where `model` erred most (mean |error| /
    MASE scale), each with the actual, the model's P50 and P10-P90 band and the reference."""
    p = predictions[predictions["delivered"]].assign(
        day=lambda f: f["target_time"].dt.tz_convert(timezone).dt.date
    )
    mine = p[p["model"] == model].assign(err=lambda f: (f["y"] - f["yhat"]).abs() / f["scale"])
    worst = mine.groupby(["series_id", "day"])["err"].mean().nlargest(top)
    fig = Figure(figsize=(12, 2.4 * max(1, (len(worst) + 1) // 2)))
    axes = fig.subplots(max(1, (len(worst) + 1) // 2), 2, squeeze=False).ravel()
    for ax, ((series, day), err) in zip(axes, worst.items(), strict=False):
        s = mine[(mine["series_id"] == series) & (mine["day"] == day)].sort_values("target_time")
        ref = p[(p["model"] == reference) & (p["series_id"] == series) & (p["day"] == day)]
        ref = ref.sort_values("target_time")
        hours = s["target_time"].dt.tz_convert(timezone)
        if "q10" in s and "q90" in s:
            ax.fill_between(hours, s["q10"], s["q90"], alpha=0.3, label="P10-P90")
        ax.plot(hours, s["yhat"], label=f"{model} P50")
        if not ref.empty:
            ax.plot(
                ref["target_time"].dt.tz_convert(timezone), ref["yhat"], ls="--", label=reference
            )
        ax.plot(hours, s["y"], color="black", lw=0.9, label="actual")
        ax.set_title(f"{series} {day} (|e|/scale {err:.2f})", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(worst) :]:
        ax.set_visible(False)
    if len(worst):
        axes[0].legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return path
