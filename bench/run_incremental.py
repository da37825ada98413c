"""Benchmark of the incremental `gridml features build`: one new day of data appended, against
a full build of the same data, in the same run on the same machine.

The zone (default: the demo zone, experiments/zone.yaml) is generated, its last day of
readings and transformer telemetry is cut off and the period ends the day before; a full build
makes the tables of those days. Then the last day is landed (as `gridml stream ingest` or
`POST /readings` land it) and `build_tables` runs: it merges the landed day into the feeds and
appends that day's rows (incremental). The reference is a full build (`--full`) of the same
final data. Goal (issue 15): the update costs at most 5% of the full build, and the tables are
equal (checked here too, as the test does on a small zone).

    python -m bench.run_incremental                 # demo zone (~2-3 min on 2 cores)
    python -m bench.run_incremental --quick         # small zone (seconds)
    python -m bench.run_incremental --workspace W   # reuse a generated zone (feeds untouched)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gridml.features.landing import land, land_frame
from gridml.features.merge import merge_landed
from gridml.features.simulator.config import ZoneConfig
from gridml.features.simulator.generate import generate_zone
from gridml.features.tables.build import build_tables
from gridml.features.tables.catalog import EVENT_TIMESTAMP, TABLES
from gridml.features.tables.incremental import read_manifest
from gridml.io import parts, read_parts
from gridml.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.05  # the update costs at most 5% of a full build
DAY = pd.Timedelta(days=1)


def cut_last_day(ws: Workspace) -> dict[str, pd.DataFrame]:
    """Drop the last day of readings and telemetry from the feeds (kept aside) and end the
    zone's period the day before."""
    zone = json.loads(ws.zone_file.read_text())
    at = pd.Timestamp(zone["end"]) - DAY
    held: dict[str, pd.DataFrame] = {}
    for feed in ("readings", "transformer_telemetry"):
        frames = []
        for f in parts(ws.feed_dir(feed)):
            table = pq.read_table(f)
            late = pc.greater_equal(table["timestamp"], pc.cast(at, table["timestamp"].type))
            frames.append(table.filter(late).to_pandas())
            pq.write_table(table.filter(pc.invert(late)), f)
        if frames:
            held[feed] = pd.concat(frames, ignore_index=True)
    ws.zone_file.write_text(json.dumps(zone | {"end": at.isoformat()}))
    return held


def land_day(ws: Workspace, held: dict[str, pd.DataFrame]) -> int:
    land(ws, held["readings"])
    if "transformer_telemetry" in held:
        land_frame(ws, "transformer_telemetry", held["transformer_telemetry"])
    return len(held["readings"])


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def copy(src: Workspace, dst: Path) -> Workspace:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src.root, dst, symlinks=True)
    return Workspace(dst)


def max_rel_diff(a: Workspace, b: Workspace) -> dict[str, float]:
    """Per table: rows equal in number and keys, and the largest relative difference."""
    out = {}
    for name, spec in TABLES.items():
        key = [*spec.entities, EVENT_TIMESTAMP]
        x = read_parts(a.table_dir(name)).sort_values(key, kind="stable", ignore_index=True)
        y = read_parts(b.table_dir(name)).sort_values(key, kind="stable", ignore_index=True)
        pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-9, atol=1e-12)
        nums = [c for c in x.columns if pd.api.types.is_float_dtype(x[c])]
        if nums:
            d = (x[nums] - y[nums]).abs() / y[nums].abs().clip(lower=1e-12)
            out[name] = float(d.max().max()) if len(d) else 0.0
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "experiments" / "zone.yaml")
    ap.add_argument("--quick", action="store_true", help="the small zone (seconds)")
    ap.add_argument("--workspace", type=Path, help="a generated zone to start from (copied)")
    ap.add_argument("--workdir", type=Path, help="work folder (default: a new /tmp one)")
    ap.add_argument("--reps", type=int, default=3, help="incremental updates timed (median)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    config = ROOT / "experiments" / "zone-small.yaml" if args.quick else args.config
    out_path = args.out or Path(
        "bench/results/incremental.quick.json" if args.quick else "bench/results/incremental.json"
    )
    work = args.workdir or Path(tempfile.mkdtemp(prefix="gridml-bench-incr-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.workspace:
            source = copy(Workspace(args.workspace), work / "source")
        else:
            source = Workspace(work / "source")
            generate_zone(ZoneConfig.read_yaml(config), source, progress=False)
        shutil.rmtree(source.offline, ignore_errors=True)
        shutil.rmtree(source.root / "landing", ignore_errors=True)
        held = cut_last_day(source)
        t_base, _ = timed(lambda: build_tables(source, progress=False))
        print(f"built the first {read_manifest(source).grid_days} days in {t_base:.1f} s")

        # the incremental update: land the day, build (merge + append), `reps` times
        updates, merges = [], []
        for i in range(args.reps):
            ws = copy(source, work / f"incr-{i}")
            readings = land_day(ws, held)
            t, counts = timed(lambda ws=ws: build_tables(ws, progress=False))
            manifest = read_manifest(ws)
            assert manifest.mode == "incremental", manifest.mode
            updates.append(t)
            print(f"incremental update {i + 1}: {t:.2f} s ({counts['meter_hourly']:,} meter-hours)")
        # the merge alone, on another copy (what the update spends folding the day into feeds)
        for i in range(args.reps):
            ws = copy(source, work / f"merge-{i}")
            land_day(ws, held)
            merges.append(timed(lambda ws=ws: merge_landed(ws))[0])
        # the reference: a full build of the same final data
        final = copy(Workspace(work / "incr-0"), work / "full")
        fulls = []
        for _ in range(max(1, min(2, args.reps))):
            t, _ = timed(lambda: build_tables(final, progress=False, full=True))
            fulls.append(t)
            print(f"full build: {t:.1f} s")
        diffs = max_rel_diff(Workspace(work / "incr-0"), final)
        update, full, merge = (statistics.median(x) for x in (updates, fulls, merges))
        ratio = update / full
        results = {
            "zone": str(config if not args.workspace else args.workspace),
            "days": read_manifest(final).grid_days,
            "readings_in_new_day": readings,
            "update_s": updates,
            "merge_s": merges,
            "full_build_s": fulls,
            "ratio_update_to_full": ratio,
            "ratio_build_only_to_full": (update - merge) / full,
            "goal": GOAL,
            "max_relative_difference": diffs,
            "machine": {
                "python": platform.python_version(),
                "cores": os.cpu_count(),
                "loadavg_end": os.getloadavg(),
            },
        }
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=2, default=str))
        print(
            f"\nupdate of one day (merge + incremental build, median of {len(updates)}): "
            f"{update:.2f} s; of it the merge {merge:.2f} s\n"
            f"full build of the same data (median of {len(fulls)}): {full:.2f} s\n"
            f"ratio update / full = {ratio:.1%} (goal <= {GOAL:.0%}: "
            f"{'met' if ratio <= GOAL else 'NOT met'}); build alone {(update - merge) / full:.1%}\n"
            f"tables equal to the full build (rtol 1e-9); largest relative difference "
            f"{max(diffs.values(), default=0.0):.1e}\nwrote {out_path}"
        )
        return 0
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
