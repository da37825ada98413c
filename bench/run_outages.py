"""Benchmark of the streaming outage detector (`gridml outages detect`): its cost per million
meter events against a batch pandas pass over the same events, in the same run, and its scores
against the synthetic zone's ground truth (issue 16's goals).

The reference is what a batch job would do instead of a stream: join each event to its
transformer and count the gasps per transformer and 5-minute window with one pandas groupby
(no location, no widening, no shedding schedule: a floor on the cost of looking at every event).

    python -m bench.run_outages                  # demo zone (experiments/zone.yaml, ~1 min)
    python -m bench.run_outages --quick          # small zone (seconds)
    python -m bench.run_outages --workspace W    # a generated zone (feeds untouched)
    python -m bench.run_outages --loss 0.6 0.9   # harsher: most last gasps lost
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from gridml.features.simulator.config import ZoneConfig
from gridml.features.simulator.generate import generate_zone
from gridml.io import write_json_atomic
from gridml.outage.replay import Inputs, load_inputs, run
from gridml.outage.score import score
from gridml.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"recall": 0.95, "precision": 0.90, "median_delay_s": 300.0, "scope_exact": 0.90}


def batch_reference(inputs: Inputs) -> pd.DataFrame:
    """Gasps per transformer and 5-minute window: one join and one groupby over every event."""
    topo = inputs.topo
    tr_of = pd.Series(
        [topo.transformer_ids[t] for t in topo.meter_tr], index=topo.meter_ids, name="tr"
    )
    ev = inputs.events
    gasps = ev[ev["kind"] == "power_down"]
    joined = gasps.join(tr_of, on="meter_id")
    return joined.groupby(["tr", joined["timestamp"].dt.floor("5min")]).size().reset_index()


def timed(fn: Any, reps: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small zone")
    parser.add_argument("--workspace", type=Path, help="a generated zone to use as is")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--loss",
        type=float,
        nargs=2,
        metavar=("FEW", "STORM"),
        help="override the shares of last gasps lost (few meters at once, a storm)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    config = ROOT / "experiments" / ("zone-small.yaml" if args.quick else "zone.yaml")
    with tempfile.TemporaryDirectory(prefix="gridml-bench-outages-") as tmp:
        if args.workspace is not None:
            ws = Workspace(args.workspace.resolve())
        else:
            ws = Workspace(Path(tmp) / "ws")
            t0 = time.perf_counter()
            cfg = ZoneConfig.read_yaml(config)
            if args.loss is not None:
                events = cfg.outages.events.model_copy(
                    update={"last_gasp_loss": args.loss[0], "last_gasp_loss_storm": args.loss[1]}
                )
                cfg = cfg.model_copy(
                    update={"outages": cfg.outages.model_copy(update={"events": events})}
                )
            generate_zone(cfg, ws, progress=False)
            print(f"generated {config.name} in {time.perf_counter() - t0:.1f} s")
        load = os.getloadavg()[0]
        inputs = load_inputs(ws)
        n = len(inputs.events)
        t_det, table = timed(lambda: run(inputs), args.reps)
        t_ref, _ = timed(lambda: batch_reference(inputs), args.reps)
        truth = pd.read_parquet(ws.labels / "outages.parquet")
        result = score(table, truth, inputs.topo, inputs.schedule).as_dict()
    per_m = 1e6 / n
    report = {
        "zone": str(ws.root) if args.workspace else config.name,
        "last_gasp_loss": args.loss,
        "events": n,
        "detector_s": t_det,
        "detector_s_per_1m_events": t_det * per_m,
        "reference_s": t_ref,
        "reference_s_per_1m_events": t_ref * per_m,
        "ratio": t_det / t_ref,
        "score": result,
        "goals": GOALS,
        "load_average_at_start": load,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "reps": args.reps,
    }
    print(f"{n:,} meter events, median of {args.reps} runs (load average {load:.1f})")
    print(f"{'':<34}{'s':>8}{'s / 1M events':>16}")
    print(f"{'detector (stream, event by event)':<34}{t_det:>8.2f}{t_det * per_m:>16.2f}")
    print(f"{'reference (pandas join + groupby)':<34}{t_ref:>8.2f}{t_ref * per_m:>16.2f}")
    print(f"ratio detector / reference: {t_det / t_ref:.1f}x")
    for name, value in result.items():
        goal = GOALS.get(name)
        mark = ""
        if goal is not None:
            below = name == "median_delay_s"
            met = value < goal if below else value >= goal
            mark = f"   goal {'<' if below else '>='} {goal}: {'met' if met else 'NOT met'}"
        print(
            f"  {name:<30} {value:.4g}{mark}"
            if isinstance(value, float)
            else f"  {name:<30} {value}"
        )
    suffix = "" if args.loss is None else f".loss-{args.loss[0]}-{args.loss[1]}"
    name = f"outages{'.quick' if args.quick else ''}{suffix}.json"
    out = args.out or ROOT / "bench" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(report, out)
    print(f"-> {out}")
    return report


if __name__ == "__main__":
    main()
