"""The monitoring report of one `monitor` result: Markdown and self-contained HTML with plots
(PSI per hierarchy level and feature family against its threshold, live accuracy by day), the
train/serve skew table, plus drift.csv, skew.csv and live.csv, in WORKSPACE/monitoring/MODEL/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gridml.mlops.config import ModelMonitoring
from gridml.mlops.monitor import MonitorResult
from gridml.mlops.report import Section, to_html, to_markdown, write_text_atomic
from gridml.models import catalog

TOP_FEATURES = 20


def _plot_psi(drift: pd.DataFrame, threshold: float, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = drift.sort_values("psi", ascending=False).head(TOP_FEATURES)[::-1]
    labels = top["family"] + " (" + top["level"].astype(str) + ")"
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(top) + 1.5))
    colors = np.where(top["drifted"], "tab:red", np.where(top["judged"], "tab:blue", "tab:gray"))
    ax.barh(labels, top["psi"].fillna(0), color=colors)
    ax.axvline(threshold, color="k", linestyle="--", label=f"PSI threshold {threshold:g}")
    ax.set_xlabel("PSI, recent window against the training window (grey: not judged)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _plot_live(live: pd.DataFrame, threshold: float | None, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3))
    metric = str(live["metric"].iloc[0])
    ax.plot(pd.to_datetime(live["day"]), live["value"], marker="o", label=metric)
    if threshold is not None:
        ax.axhline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:g}")
    ax.set_ylabel(metric)
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_report(ws_root: Path, result: MonitorResult, cfg: ModelMonitoring) -> list[Path]:
    """Write report.md, report.html, drift.csv, live.csv; return their paths."""
    folder = ws_root / "monitoring" / result.model
    plots = folder / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    result.drift.to_csv(folder / "drift.csv", index=False)
    result.skew.to_csv(folder / "skew.csv", index=False)
    result.live.to_csv(folder / "live.csv", index=False)
    ref, rec = result.reference, result.recent
    status = [f"ALERT: {a}" for a in result.alerts] if result.alerts else ["No threshold crossed."]
    judged = result.drift[result.drift["judged"]]
    secs = [
        Section(
            "Summary",
            [
                f"{result.model} v{result.version}; reference (training window) "
                f"{ref[0]:%Y-%m-%d} .. {ref[1]:%Y-%m-%d}; recent window {rec[0]:%Y-%m-%d} .. "
                f"{rec[1]:%Y-%m-%d}.",
                *status,
                *result.notes,
            ],
        ),
        Section(
            "Data drift (PSI and KS per hierarchy level and feature family)",
            [
                f"{int(judged['drifted'].sum())} of {len(judged)} judged family x level pairs "
                f"drifted (PSI >= {cfg.drift.psi:g} and KS >= {cfg.drift.ks:g}); "
                f"{int((~result.drift['judged']).sum())} not judged (fewer than "
                f"{cfg.drift.min_rows} rows a side, or changing by design).",
                _plot_psi(result.drift, cfg.drift.psi, plots / "psi.png"),
                result.drift.head(TOP_FEATURES),
            ],
        ),
        Section(
            "Train/serve skew (online store against offline values at the newest data)",
            [result.skew.head(TOP_FEATURES)] if len(result.skew) else ["Not compared."],
        ),
    ]
    live = Section("Live accuracy")
    if result.live.empty:
        live.blocks.append("Not enough data: no outcomes in the recent window yet.")
    else:
        threshold = getattr(cfg.live, catalog.get(result.model).live_threshold)
        live.blocks += [_plot_live(result.live, threshold, plots / "live.png"), result.live]
    secs.append(live)
    title = f"Monitoring: {result.model} v{result.version}"
    md, page = folder / "report.md", folder / "report.html"
    write_text_atomic(md, to_markdown(title, secs, base=folder))
    write_text_atomic(page, to_html(title, secs))
    return [md, page, folder / "drift.csv", folder / "skew.csv", folder / "live.csv"]


def log_to_mlflow(result: MonitorResult, files: list[Path]) -> str:
    """One MLflow run per check (active experiment): PSI/KS per judged feature, live accuracy
    by day (as steps), alert count, and the report as artifacts; returns the run id."""
    import re

    import mlflow

    with mlflow.start_run(run_name=f"monitor {result.model} v{result.version}") as run:
        mlflow.set_tags(
            {
                "gridml.task": "monitoring",
                "gridml.monitor.model": result.model,
                "gridml.monitor.version": str(result.version),
                "gridml.monitor.alerts": str(len(result.alerts)),
            }
        )
        metrics = {"alerts": float(len(result.alerts))}
        judged = result.drift[result.drift["judged"]]

        def safe(text: object) -> str:
            return re.sub(r"[^A-Za-z0-9_.-]", "_", str(text))

        for row in judged.itertuples():
            name = f"{safe(row.level)}.{safe(row.family)}"
            metrics[f"psi.{name}"] = float(row.psi)
            metrics[f"ks.{name}"] = float(row.ks)
        for row in result.skew.itertuples():
            metrics[f"skew.{safe(row.level)}.{safe(row.family)}"] = float(row.share)
        metrics["drifted_families"] = float(judged["drifted"].sum())
        mlflow.log_metrics({k: v for k, v in metrics.items() if v == v})
        for step, row in enumerate(result.live.itertuples()):
            if row.value == row.value:
                mlflow.log_metric(f"live.{row.metric}", float(row.value), step=step)
        for path in files:
            mlflow.log_artifact(str(path), "monitoring")
        return run.info.run_id
