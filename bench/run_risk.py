"""Benchmark of the risk models: transformer failure and theft, PyTorch beside LightGBM.

Each task is trained exactly as `gridml train maintenance|theft` trains it (the pipelines
themselves: Feast training set, split, both models, calibration, MLflow run, registered pyfunc),
on zones generated into a work folder, and reported in one table per task: the issue's metrics
on the held-out split, training time, and batch-scoring throughput of the logged pyfunc next to
its LightGBM baseline's predict, measured in the same run (ratio). Nothing passes or fails: the
goals are stated and marked met / not met. See bench/README.md ("Risk models").

    python -m bench.run_risk            # full run (~6-15 min on 2 cores)
    python -m bench.run_risk --quick    # smoke run (~2 min): zones cut to 240 days
    python -m bench.run_risk --zones 5  # the protocol across zones (issue 14): theft on 5
                                        # zones like the demo zone, failure on 5 fleet zones
                                        # (seeds 101..105), mean ± spread and worst seed

With --zones the single-zone sections (throughput) are not run: every zone goes through
gridml.mlops.across_zones (the same code as `gridml evaluate across-zones`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from bench.run_demand import mark, prepare_zone, quiet
from bench.run_features import (
    finish_run,
    loadavg,
    machine_info,
    median,
    timed,
    work_folder,
    write_json,
)
from gridml.features.contracts import THEFT_ATTACKS
from gridml.mlops.across_zones import by_model
from gridml.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path("bench/results/risk.json")
QUICK_OUT = Path("bench/results/risk.quick.json")
ZONES_OUT = Path("bench/results/risk-zones.json")
ZONES_QUICK_OUT = Path("bench/results/risk-zones.quick.json")
QUICK_DAYS = 240
QUICK_FLEET_METERS = 400
THROUGHPUT_BUDGET_S = 20.0  # each scorer is timed on the day batches until this is spent

# Stated goals (issue 4; reported, never asserted).
GOALS = {
    "theft_roc_auc_min": 0.90,
    "theft_precision_at_share_min": 0.7,
    "theft_attack_recall_at_share_min": 0.6,
    "failure_recall_at_budget_min": 0.6,
    "failure_median_lead_days_min": 3.0,
    "pytorch_beats_lightgbm_on": "pr_auc",
}

console = Console(width=None if sys.stdout.isatty() else 160)


def risk_machine_info() -> dict[str, Any]:
    info = machine_info()
    for mod in ("torch", "lightgbm", "mlflow"):
        try:
            info["versions"][mod] = importlib.import_module(mod).__version__
        except Exception:  # a missing optional module is reported, not fatal
            info["versions"][mod] = None
    return info


def clean(value: Any) -> Any:
    """JSON-safe floats (NaN -> None)."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, float | np.floating):
        return None if math.isnan(float(value)) else float(value)
    return value


def batch_throughput(
    batches: list[tuple[int, Callable[[], Any]]], budget_s: float = THROUGHPUT_BUDGET_S
) -> dict[str, Any]:
    """Rows/s of a scorer over day batches [(rows, score-this-batch)]: each pass scores every
    batch once; passes repeat (up to 3) while under `budget_s`; the median pass is reported."""
    rows = sum(n for n, _ in batches)

    def one_pass() -> None:
        for _, fn in batches:
            fn()

    _, times = timed(one_pass, budget_s=budget_s)
    seconds = median(times)
    return {
        "rows": rows,
        "batches": len(batches),
        "seconds": seconds,
        "passes": times,
        "rows_per_s": rows / seconds if seconds > 0 else float("nan"),
    }


def throughput_pair(pyfunc: list, baseline: list) -> dict[str, Any]:
    """The pyfunc and the baseline, each timed on the same day batches in the same run. The
    pyfunc twice: with torch's default intra-op threads (as a process gets them) and with one
    (small batches: on busy cores, OpenMP threads spinning for tiny convolutions cost more than
    they bring, as LightGBM's do)."""
    import torch

    threads = torch.get_num_threads()
    p = batch_throughput(pyfunc) | {"torch_threads": threads}
    torch.set_num_threads(1)
    try:
        p1 = batch_throughput(pyfunc) | {"torch_threads": 1}
    finally:
        torch.set_num_threads(threads)
    b = batch_throughput(baseline)
    return {
        "pyfunc": p,
        "pyfunc_1thread": p1,
        "baseline": b,
        "ratio": p["rows_per_s"] / b["rows_per_s"],
        "ratio_1thread": p1["rows_per_s"] / b["rows_per_s"],
    }


# ---------------------------------------------------------------------------------------------
# transformer failure


def window_frame(data: Any, dix: int, window: int) -> pd.DataFrame:
    """The asset-failure pyfunc's input for every transformer at day index `dix`: each unit's
    last `window` days of FeatureService values (long frame, naive UTC timestamps)."""
    from gridml.training.maintenance.pyfunc import naive_utc

    first = max(0, dix - window + 1)
    days = data.days[first : dix + 1]
    block = data.cube[:, first : dix + 1]  # [transformers, days, features]
    n_t, n_d, _ = block.shape
    frame = pd.DataFrame(block.reshape(n_t * n_d, -1).astype("float64"), columns=data.features)
    frame.insert(0, "event_timestamp", np.tile(naive_utc(pd.Series(days)).to_numpy(), n_t))
    frame.insert(0, "transformer_id", np.repeat(np.asarray(data.transformers, dtype=str), n_d))
    return frame


def maintenance_section(ws: Workspace, config: Path, zone_label: str) -> dict[str, Any]:
    import mlflow

    from gridml.training.maintenance.dataset import flat_features
    from gridml.training.maintenance.pipeline import MaintenanceRunConfig, train_maintenance

    cfg = MaintenanceRunConfig.read_yaml(config)
    m = cfg.model
    console.print(f"[bold]transformer failure[/] on {zone_label}: gridml train maintenance")
    t0 = time.perf_counter()
    run = train_maintenance(cfg, ws)
    total_s = time.perf_counter() - t0
    data = run.data
    rows = data.rows
    counts = {
        f"{part}_{what}": int(v)
        for part in ("fit", "valid", "test")
        for what, v in (
            ("rows", (rows["split"] == part).sum()),
            ("positives", rows.loc[rows["split"] == part, "label"].sum()),
        )
    }
    counts["transformers"] = len(data.transformers)
    counts["failures_total"] = len(data.failures)
    counts["failures_test"] = int((data.failures["timestamp"] >= data.split.cutoff).sum())
    metrics = {r["model"]: clean(r) for r in run.metrics.to_dict(orient="records")}

    # throughput: every transformer scored at each alert issue day of the test period
    test_days = np.flatnonzero(data.days >= data.split.cutoff)[:: m.alert_period_days]
    pyfunc = mlflow.pyfunc.load_model(run.model_uri)
    gbm = run.models["lightgbm"]
    frames = [window_frame(data, int(d), m.window_days) for d in test_days]
    unit_rows = [
        pd.DataFrame({"tix": np.arange(len(data.transformers)), "dix": int(d)}) for d in test_days
    ]
    n = len(data.transformers)
    tp = throughput_pair(
        [(n, lambda f=f: pyfunc.predict(f)) for f in frames],
        [
            (n, lambda r=r: gbm.predict_proba(flat_features(data, r, m.window_days)))
            for r in unit_rows
        ],
    )
    console.print(
        f"  trained in {total_s:.0f} s; pyfunc {tp['pyfunc']['rows_per_s']:,.0f} transformers/s "
        f"({tp['pyfunc_1thread']['rows_per_s']:,.0f} on 1 torch thread) vs LightGBM "
        f"{tp['baseline']['rows_per_s']:,.0f}"
    )
    return {
        "zone": zone_label,
        "config": str(config),
        "architecture": m.architecture,
        "horizon_days": m.horizon_days,
        "alert_budget": m.alert_budget,
        "data": counts,
        "metrics": metrics,
        "pipeline_s": total_s,
        "throughput": tp,
        "model_uri": run.model_uri,
    }


# ---------------------------------------------------------------------------------------------
# theft


def theft_section(ws: Workspace, config: Path, zone_label: str) -> dict[str, Any]:
    import mlflow

    from gridml.training.theft import dataset
    from gridml.training.theft.pipeline import TheftRunConfig, train_theft
    from gridml.training.theft.pyfunc import to_frame

    cfg = TheftRunConfig.read_yaml(config)
    console.print(f"[bold]theft detection[/] on {zone_label}: gridml train theft")
    t0 = time.perf_counter()
    run = train_theft(cfg, ws)
    total_s = time.perf_counter() - t0
    metrics = by_model(run.metrics)  # "wide_deep.pr_auc" -> wide_deep: pr_auc (NaN -> None)

    # throughput: every meter of the zone scored on each test scoring day (a day's batch)
    samples = dataset.build_samples(ws, cfg.model)
    days = sorted(d for d in samples.meta["event_timestamp"].unique() if d > run.cutoff)
    pyfunc = mlflow.pyfunc.load_model(run.model_uri)
    gbm = run.models["lightgbm"]
    per_day = [
        samples.take(np.flatnonzero((samples.meta["event_timestamp"] == d).to_numpy()))
        for d in days
    ]
    frames = [to_frame(s) for s in per_day]
    tp = throughput_pair(
        [(len(f), lambda f=f: pyfunc.predict(f)) for f in frames],
        [(len(s), lambda s=s: gbm.predict_proba(s)) for s in per_day],
    )
    console.print(
        f"  trained in {total_s:.0f} s; pyfunc {tp['pyfunc']['rows_per_s']:,.0f} meters/s "
        f"({tp['pyfunc_1thread']['rows_per_s']:,.0f} on 1 torch thread) vs LightGBM "
        f"{tp['baseline']['rows_per_s']:,.0f}"
    )
    return {
        "zone": zone_label,
        "config": str(config),
        "metrics": metrics,
        "cutoff": str(run.cutoff),
        "epochs": len(run.history),
        "pipeline_s": total_s,
        "throughput": tp,
        "model_uri": run.model_uri,
    }


# ---------------------------------------------------------------------------------------------
# goals and report


def _ge(value: float | None, goal: float) -> bool | None:
    return None if value is None else value >= goal


def theft_goals(res: dict[str, Any]) -> list[dict[str, Any]]:
    wd, lg = res["metrics"]["wide_deep"], res["metrics"]["lightgbm"]
    recalls = {a: wd.get(f"recall_{a}_at_share") for a in THEFT_ATTACKS}
    known = [r for r in recalls.values() if r is not None]
    worst = min(known) if known else None
    beats = None if wd["pr_auc"] is None or lg["pr_auc"] is None else wd["pr_auc"] > lg["pr_auc"]
    return [
        {
            "goal": "Wide & Deep PR-AUC > LightGBM",
            "met": beats,
            "shown": f"{wd['pr_auc']:.3f} vs {lg['pr_auc']:.3f}",
        },
        {
            "goal": f"ROC-AUC >= {GOALS['theft_roc_auc_min']}",
            "met": _ge(wd["roc_auc"], GOALS["theft_roc_auc_min"]),
            "shown": f"{wd['roc_auc']:.3f}",
        },
        {
            "goal": f"precision at the theft share >= {GOALS['theft_precision_at_share_min']}",
            "met": _ge(wd["precision_at_share"], GOALS["theft_precision_at_share_min"]),
            "shown": f"{wd['precision_at_share']:.3f}",
        },
        {
            "goal": "every attack's recall at the theft share >= "
            f"{GOALS['theft_attack_recall_at_share_min']}",
            "met": _ge(worst, GOALS["theft_attack_recall_at_share_min"]),
            "shown": "lowest " + ("-" if worst is None else f"{worst:.2f}"),
        },
    ]


def maintenance_goals(res: dict[str, Any]) -> list[dict[str, Any]]:
    arch = res["architecture"]
    net, lg = res["metrics"][arch], res["metrics"]["lightgbm"]
    if not res["data"]["fit_positives"]:
        return [
            {
                "goal": "all failure goals",
                "met": None,
                "shown": f"not measurable: {res['data']['failures_total']} failures, "
                "none in the training days",
            }
        ]

    def fmt(v: float | None, spec: str = ".3f") -> str:
        return "-" if v is None else format(v, spec)

    beats = None if net["pr_auc"] is None or lg["pr_auc"] is None else net["pr_auc"] > lg["pr_auc"]
    return [
        {
            "goal": f"{arch.upper()} PR-AUC > LightGBM",
            "met": beats,
            "shown": f"{fmt(net['pr_auc'])} vs {fmt(lg['pr_auc'])}",
        },
        {
            "goal": f"recall at the {res['alert_budget']:.0%} weekly budget >= "
            f"{GOALS['failure_recall_at_budget_min']}",
            "met": _ge(net["recall_at_budget"], GOALS["failure_recall_at_budget_min"]),
            "shown": fmt(net["recall_at_budget"], ".2f"),
        },
        {
            "goal": f"median lead time >= {GOALS['failure_median_lead_days_min']:g} days",
            "met": _ge(net["median_lead_days"], GOALS["failure_median_lead_days_min"]),
            "shown": fmt(net["median_lead_days"], ".1f"),
        },
    ]


def _cell(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _model_table(
    title: str,
    caption: str,
    models: list[tuple[str, dict[str, Any]]],  # (column label, section result, model key)
    rows: list[tuple[str, str, str]],  # (label, metric key, format spec)
) -> Table:
    t = Table(title=title, caption=caption)
    t.add_column("Metric")
    for label, _ in models:
        t.add_column(label, justify="right")
    for label, key, spec in rows:
        t.add_row(label, *[_cell(m.get(key), spec) for _, m in models])
    return t


def _with_timing(metrics: dict[str, Any], fit_key: str, tp: dict[str, Any], is_pyfunc: bool):
    if not is_pyfunc:
        rate = tp["baseline"]["rows_per_s"]
        return metrics | {"train_s": metrics.get(fit_key), "rows_per_s": rate, "ratio": 1.0}
    one = tp.get("pyfunc_1thread", {})
    return metrics | {
        "train_s": metrics.get(fit_key),
        "rows_per_s": tp["pyfunc"]["rows_per_s"],
        "ratio": tp["ratio"],
        "rows_per_s_1": one.get("rows_per_s"),
        "ratio_1": tp.get("ratio_1thread"),
    }


def _throughput_rows(unit: str, threads: int | None) -> list[tuple[str, str, str]]:
    default = f"torch default, {threads} threads" if threads else "torch default threads"
    return [
        (f"batch scoring, {unit}/s ({default})", "rows_per_s", ",.0f"),
        ("  vs LightGBM (same run)", "ratio", ".2f"),
        (f"batch scoring, {unit}/s (torch 1 thread)", "rows_per_s_1", ",.0f"),
        ("  vs LightGBM (same run)", "ratio_1", ".2f"),
    ]


def render(results: dict[str, Any]) -> list[Table]:
    m = results["machine"]
    machine = (
        f"{m['cores']} cores ({m['cpu']}), {m['ram_gib']:.1f} GiB RAM, Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v and k != "sqlite")
        + "; load average (1 min) at "
        + ", ".join(f"{k} {v[0]:.1f}" for k, v in results["loadavg"].items())
    )
    tables = []
    maint = results.get("maintenance", [])
    if maint:
        threads = maint[0]["throughput"]["pyfunc"].get("torch_threads")
        models = []
        for res in maint:
            arch = res["architecture"]
            tp = res["throughput"]
            for key, is_pyfunc in ((arch, True), ("lightgbm", False)):
                label = f"{res['zone']}\n{'1-D ' + arch.upper() if is_pyfunc else 'LightGBM'}"
                mt = _with_timing(res["metrics"][key], "fit_seconds", tp, is_pyfunc)
                models.append((label, mt))
        rows = [
            ("PR-AUC", "pr_auc", ".3f"),
            ("ROC-AUC", "roc_auc", ".3f"),
            ("recall at 5% weekly budget", "recall_at_budget", ".2f"),
            ("precision at 5% weekly budget", "precision_at_budget", ".2f"),
            ("median lead time (days)", "median_lead_days", ".1f"),
            ("failures alerted / in test", "alerted", ""),
            ("false alarms per 100 transformer-years", "false_alarms_per_100_years", ",.0f"),
            ("training s", "train_s", ".1f"),
            *_throughput_rows("transformers", threads),
        ]
        for _, mt in models:
            fa, ft = mt.get("failures_alerted"), mt.get("failures")
            mt["alerted"] = "-" if ft is None else f"{int(fa or 0)} / {int(ft)}"
        t = _model_table(
            "Transformer failure within 7 days: PyTorch vs LightGBM baseline (held-out last 60 "
            "days, after a gap)",
            "; ".join(
                f"{r['zone']}: {r['data']['transformers']} transformers, "
                f"{r['data']['failures_total']} failures ({r['data']['failures_test']} after the "
                "test cut-off), "
                f"positive unit-days fit/valid/test {r['data']['fit_positives']}/"
                f"{r['data']['valid_positives']}/{r['data']['test_positives']}"
                for r in maint
            )
            + ". Scoring: all transformers at each test issue day; PyTorch through the logged "
            "pyfunc (windowing, scaling, calibration, bands, drivers), LightGBM = flat features "
            "+ predict; ratio = pyfunc rows/s / LightGBM rows/s.",
            models,
            rows,
        )
        tables.append(t)
    theft = results.get("theft")
    if theft:
        tp = theft["throughput"]
        models = [
            ("Wide & Deep", _with_timing(theft["metrics"]["wide_deep"], "fit_seconds", tp, True)),
            ("LightGBM", _with_timing(theft["metrics"]["lightgbm"], "fit_seconds", tp, False)),
        ]
        rows = [
            ("ROC-AUC", "roc_auc", ".3f"),
            ("PR-AUC", "pr_auc", ".3f"),
            ("precision at 1% inspected", "precision_at_1pct", ".3f"),
            ("precision at 5% inspected", "precision_at_5pct", ".3f"),
            ("MAP@100 (per scoring day)", "map_at_100", ".3f"),
            ("budget = true theft share", "theft_share", ".1%"),
            ("precision at that budget", "precision_at_share", ".3f"),
            *[(f"recall {a} at that budget", f"recall_{a}_at_share", ".2f") for a in THEFT_ATTACKS],
            ("training s", "train_s", ".1f"),
            *_throughput_rows("meters", tp["pyfunc"].get("torch_threads")),
        ]
        wd, counts = theft["metrics"]["wide_deep"], theft["metrics"].get("data", {})
        per_attack = ", ".join(
            f"{a} {int(counts.get(f'test.meters_{a}') or 0)}" for a in THEFT_ATTACKS
        )
        tables.append(
            _model_table(
                f"Theft detection on {theft['zone']}: Wide & Deep vs LightGBM baseline "
                "(held-out meters, scoring days after the cut-off)",
                f"test: {int(wd['samples'])} (meter, day) samples, {int(wd['positives'])} "
                f"positive; thief meters per attack type: {per_attack}. Scoring: every meter at "
                "each test scoring day; Wide & Deep through the logged pyfunc (normalisation, "
                "grid, scaling, calibration, rank, reason codes), LightGBM = features + predict. "
                "Synthetic attacks are easier than real theft.",
                models,
                rows,
            )
        )
    g = Table(title="Goals of issue 4 (stated, not asserted)", caption=machine)
    for col in ("Task", "Goal", "Measured", "Verdict"):
        g.add_column(col, justify="right" if col == "Measured" else "left")
    for res in maint:
        for item in maintenance_goals(res):
            g.add_row(f"failure, {res['zone']}", item["goal"], item["shown"], mark(item["met"]))
    if theft:
        for item in theft_goals(theft):
            g.add_row(f"theft, {theft['zone']}", item["goal"], item["shown"], mark(item["met"]))
    tables.append(g)
    return tables


# ---------------------------------------------------------------------------------------------
# main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run_risk",
        description="Benchmark transformer-failure and theft models: the issue's metrics, "
        "training time and pyfunc batch-scoring throughput, PyTorch beside its LightGBM "
        "baseline, with the stated goals (see bench/README.md).",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run (~2 min): zones cut to {QUICK_DAYS} days, the fleet zone to "
        f"{QUICK_FLEET_METERS} meters",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"results JSON (default {DEFAULT_OUT}; {QUICK_OUT} with --quick)",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="folder for the benchmark's workspaces (default: a new temp dir under /tmp, "
        "removed at the end unless --keep)",
    )
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument(
        "--zones",
        type=int,
        default=None,
        help="the protocol across zones (issue 14): N zones per task generated with seeds "
        "SEED_START.. (42, the demo zone, skipped), mean ± spread and worst seed of every "
        f"held-out metric (default out {ZONES_OUT}; {ZONES_QUICK_OUT} with --quick)",
    )
    p.add_argument("--seed-start", type=int, default=101, help="first zone seed with --zones")
    p.add_argument("--skip-theft", action="store_true", help="with --zones: failure only")
    p.add_argument("--zone", type=Path, default=Path("experiments/zone.yaml"), help="demo zone")
    p.add_argument(
        "--fleet-zone",
        type=Path,
        default=Path("experiments/maintenance-zone.yaml"),
        help="zone with enough failures to measure the failure model",
    )
    p.add_argument("--skip-fleet", action="store_true", help="no fleet zone (maintenance)")
    p.add_argument("--maintenance-config", type=Path, default=Path("experiments/maintenance.yaml"))
    p.add_argument("--theft-config", type=Path, default=Path("experiments/theft.yaml"))
    return p.parse_args(argv)


def _abs(path: Path) -> Path:
    return path if path.is_absolute() else ROOT / path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet()
    if args.zones is not None:
        return main_zones(args)
    out = _abs(args.out or (QUICK_OUT if args.quick else DEFAULT_OUT))
    days = QUICK_DAYS if args.quick else None
    workdir, own_workdir = work_folder(args.workdir, "gridml-bench-risk-")
    t_start = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "risk",
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "complete": False,
        "machine": risk_machine_info(),
        "loadavg": {"start": loadavg()},
        "settings": {
            "zone": str(args.zone),
            "fleet_zone": None if args.skip_fleet else str(args.fleet_zone),
            "days_override": days,
            "maintenance_config": str(args.maintenance_config),
            "theft_config": str(args.theft_config),
            "workdir": str(workdir),
        },
        "goals_stated": GOALS,
        "maintenance": [],
    }
    console.print(f"work folder {workdir}; results -> {out}")
    cores = results["machine"]["affinity_cores"]
    if results["loadavg"]["start"][0] > 0.5 * cores:
        console.print(
            f"[yellow]load average {results['loadavg']['start'][0]} on {cores} cores: other work "
            "is running, timings will be noisy[/]"
        )
    try:
        demo = Workspace(workdir / "ws-demo")
        results["zones"] = [prepare_zone("demo", demo, _abs(args.zone), workdir, days=days)]
        write_json(results, out)

        results["loadavg"]["theft"] = loadavg()
        results["theft"] = theft_section(demo, _abs(args.theft_config), "default zone")
        write_json(results, out)

        results["loadavg"]["maintenance_demo"] = loadavg()
        results["maintenance"].append(
            maintenance_section(demo, _abs(args.maintenance_config), "default zone")
        )
        write_json(results, out)

        if not args.skip_fleet:
            fleet = Workspace(workdir / "ws-fleet")
            meters = QUICK_FLEET_METERS if args.quick else None
            results["zones"].append(
                prepare_zone("fleet", fleet, _abs(args.fleet_zone), workdir, days, meters)
            )
            results["loadavg"]["maintenance_fleet"] = loadavg()
            results["maintenance"].append(
                maintenance_section(fleet, _abs(args.maintenance_config), "fleet zone")
            )
            write_json(results, out)
        results["complete"] = True
    finally:
        remove = workdir if own_workdir and not args.keep else None
        finish_run(results, out, t_start, render(results), remove, console)
    return 0


# ---------------------------------------------------------------------------------------------
# the protocol across zones (issue 14)


def main_zones(args: argparse.Namespace) -> int:
    """`--zones N`: theft on N zones like the demo zone, failure on N fleet zones, through
    gridml.mlops.across_zones; one table per task (mean ± std, worst seed) and the goals."""
    from gridml.cli.evaluate import summary_table
    from gridml.io import write_parquet_atomic
    from gridml.mlops.across_zones import (
        AcrossZonesConfig,
        AcrossZonesReport,
        evaluate_across_zones,
        issue_goals,
        long_frame,
        zone_seeds,
    )

    out = _abs(args.out or (ZONES_QUICK_OUT if args.quick else ZONES_OUT))
    days = QUICK_DAYS if args.quick else None
    workdir, own_workdir = work_folder(args.workdir, "gridml-bench-zones-")
    seeds = zone_seeds(args.zones, args.seed_start)
    t_start = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "risk-zones",
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "complete": False,
        "machine": risk_machine_info(),
        "loadavg": {"start": loadavg()},
        "seeds": seeds,
        "reports": {},
        "goals": {},
    }
    tasks: list[tuple[str, Path, Path, int | None]] = []
    if not args.skip_theft:
        tasks.append(("theft", args.zone, args.theft_config, None))
    if not args.skip_fleet:
        meters = QUICK_FLEET_METERS if args.quick else None
        tasks.append(("maintenance", args.fleet_zone, args.maintenance_config, meters))
    console.print(f"work folder {workdir}; seeds {seeds}; results -> {out}")
    tables: list[Any] = []
    try:
        for task, zone, train, meters in tasks:
            cfg = AcrossZonesConfig(
                task=task,  # type: ignore[arg-type]
                seeds=seeds,
                zone_config=_abs(zone),
                train_config=_abs(train),
                days=days,
                meters=meters,
            )

            def note(stage: str, seed: int, detail: str, task: str = task) -> None:
                console.print(f"[bold]{task}[/], zone seed {seed}: {stage} ({detail})")

            def keep(report: AcrossZonesReport, task: str = task) -> None:
                """The zones done so far: a run stopped before its last zone keeps them."""
                results["reports"][task] = report.model_dump(mode="json")
                results["goals"][task] = [g.model_dump() for g in issue_goals(report)]
                write_json(results, out)

            report = evaluate_across_zones(cfg, workdir / task, note, keep)
            results["reports"][task] = report.model_dump(mode="json")
            results["goals"][task] = [g.model_dump() for g in issue_goals(report)]
            results["loadavg"][task] = loadavg()
            write_parquet_atomic(long_frame(report), out.with_name(f"{out.stem}.{task}.parquet"))
            write_json(results, out)
            tables.append(summary_table(report))
            g = Table(title=f"{task}: goals of issue 14 across {len(seeds)} zones (not asserted)")
            for col in ("Goal", "Measured", "Verdict"):
                g.add_column(col)
            for item in issue_goals(report):
                g.add_row(item.goal, item.shown, mark(item.met))
            tables.append(g)
        results["complete"] = True
    finally:
        remove = workdir if own_workdir and not args.keep else None
        finish_run(results, out, t_start, tables, remove, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
