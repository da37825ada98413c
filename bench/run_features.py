"""Benchmark of the feature platform: feed generation, training-set and online retrieval.

Every number is shown next to a reference measured in the same run on the same machine, as a
ratio (time of the measured path / time of the reference). Nothing here passes or fails: the
goals are stated, the numbers are reported. See bench/README.md for what each line means.

    python -m bench.run_features            # full run (~8-12 min on 2 cores)
    python -m bench.run_features --quick    # smoke run (~1 min): smaller zone, 100k rows, no 20k
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import importlib
import importlib.util
import io
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from rich.console import Console
from rich.table import Table

from gridml.features.store import repo
from gridml.features.tables.catalog import TABLES
from gridml.io import parts, read_parts
from gridml.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path("bench/results/features.json")
QUICK_OUT = Path("bench/results/features.quick.json")
CUSTOM_STORE_MODULE = "gridml.features.store.asof_offline_store"
CUSTOM_STORE_TYPE = f"{CUSTOM_STORE_MODULE}.AsofDuckDBOfflineStore"
FEAST_GOAL = 5.0  # stated goal: Feast training-set path within 5x of pandas merge_asof
HOURLY_VIEW = "meter_hourly"
ONLINE_VIEW = "meter_daily"
FLOOR_PART_ROWS = 2_000_000

console = Console(width=None if sys.stdout.isatty() else 150)


# ---------------------------------------------------------------------------------------------
# helpers


@dataclass
class ChildRun:
    """One command run as a child process: wall time, its own peak RSS, its output."""

    cmd: list[str]
    wall_s: float
    max_rss_bytes: int
    output: str

    @property
    def max_rss_gib(self) -> float:
        return self.max_rss_bytes / 2**30


def run_child(cmd: list[str], log_path: Path) -> ChildRun:
    """Run `cmd` from the repository root; peak RSS comes from wait4's rusage of that child
    alone (RUSAGE_CHILDREN would give the maximum over every child waited for so far)."""
    env = os.environ | {"COLUMNS": "120", "TERM": "dumb", "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = log_path.read_text(errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-20:])
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{tail}")
    return ChildRun(cmd, wall, usage.ru_maxrss * 1024, output)  # ru_maxrss is KiB on Linux


def gridml_cmd(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("gridml")
    if exe.is_file():
        return [str(exe), *args]
    return [sys.executable, "-m", "gridml.cli.main", *args]


def timed(fn: Callable[[], Any], budget_s: float = 20.0, max_runs: int = 3) -> tuple[Any, list]:
    """Run `fn` once, then again while the runs so far took under `budget_s` (at most
    `max_runs`); returns the last result and every run's seconds (report the median)."""
    times: list[float] = []
    result = None
    while len(times) < max_runs and (not times or sum(times) < budget_s):
        result = None
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return result, times


def quiet() -> None:
    """Silence the deprecation warnings ibis prints on every retrieval. Feast's modules call
    warnings.simplefilter("once", DeprecationWarning) on import, so import them first."""
    import feast.feature_store
    import feast.feature_view
    import feast.on_demand_feature_view  # noqa: F401

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def median(xs: list[float]) -> float:
    return float(np.median(xs))


def machine_info() -> dict[str, Any]:
    mem_total = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    versions = {}
    for mod in ("feast", "duckdb", "pandas", "pyarrow", "numpy", "ibis"):
        try:
            versions[mod] = importlib.import_module(mod).__version__
        except Exception:  # a missing optional module is reported, not fatal
            versions[mod] = None
    versions["sqlite"] = sqlite3.sqlite_version
    return {
        "hostname": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0)),
        "ram_bytes": mem_total,
        "ram_gib": round(mem_total / 2**30, 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def feed_rows(ws: Workspace) -> int:
    """Rows in every feed part of a workspace (Parquet footers only)."""
    return sum(pq.ParquetFile(p).metadata.num_rows for p in ws.feeds.glob("*/part-*.parquet"))


# ---------------------------------------------------------------------------------------------
# 1. generation


def io_floor(rows: int, hours: int, folder: Path) -> dict[str, Any]:
    """Rows/s of pyarrow writing a readings-shaped table (meter_id string, UTC timestamp,
    random kWh floats) to Parquet in parts of 2M rows: the floor any generator pays."""
    rng = np.random.default_rng(0)
    n = min(rows, FLOOR_PART_ROWS)
    ids = np.array([f"M{i:06d}" for i in range(n // hours + 1)], dtype=object)
    stamps = pd.date_range("2024-01-01", periods=hours, freq="h", tz="UTC").as_unit("ns")
    part = pa.table(
        {
            "meter_id": pa.array(np.repeat(ids, hours)[:n], pa.string()),
            "timestamp": pa.array(np.tile(stamps, len(ids))[:n]),
            "kwh": pa.array(np.round(rng.gamma(2.0, 0.3, n), 4)),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    written, i = 0, 0
    t0 = time.perf_counter()
    while written < rows:
        chunk = part if rows - written >= n else part.slice(0, rows - written)
        pq.write_table(chunk, folder / f"part-{i:05d}.parquet")
        written += len(chunk)
        i += 1
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "rows": written,
        "parts": i,
        "seconds": seconds,
        "rows_per_s": written / seconds,
        "bytes": size,
        "what": "pyarrow pq.write_table of (meter_id string, timestamp, random kwh float) "
        f"in parts of {n:,} rows, default compression",
    }


def generation(
    name: str, ws: Workspace, zone: Path, meters: int | None, days: int | None, workdir: Path
) -> dict[str, Any]:
    args = ["data", "generate", "-c", str(zone), "-w", str(ws.root)]
    if meters:
        args += ["--meters", str(meters)]
    if days:
        args += ["--days", str(days)]
    console.print(f"[bold]generation[/] {name}: gridml {' '.join(args)}")
    run = run_child(gridml_cmd(*args), workdir / f"generate-{name}.log")
    m = re.search(r"generated ([\d,]+) rows in ([\d.]+) s", run.output)
    internal_s = float(m.group(2)) if m else run.wall_s
    rows = feed_rows(ws)
    zone_meta = json.loads(ws.zone_file.read_text())
    readings = sum(pq.ParquetFile(p).metadata.num_rows for p in parts(ws.feed_dir("readings")))
    result = {
        "name": name,
        "meters": zone_meta["config"]["meters"],
        "days": zone_meta["config"]["days"],
        "rows": rows,
        "readings_rows": readings,
        "wall_s": run.wall_s,
        "generate_s": internal_s,
        "rows_per_s": rows / internal_s,
        "rows_per_s_wall": rows / run.wall_s,
        "peak_rss_bytes": run.max_rss_bytes,
        "peak_rss_gib": run.max_rss_gib,
        "feeds_bytes": sum(p.stat().st_size for p in ws.feeds.rglob("*.parquet")),
    }
    console.print(
        f"  {rows:,} rows in {internal_s:.1f} s ({result['rows_per_s']:,.0f} rows/s; "
        f"wall {run.wall_s:.1f} s), peak RSS {run.max_rss_gib:.2f} GiB"
    )
    return result


def setup_store(ws: Workspace, workdir: Path) -> list[dict[str, Any]]:
    """Build the tables (child process: its peak RSS is its own), then apply the definitions
    and materialize in this process, as `make demo` does (not compared with anything)."""
    run = run_child(gridml_cmd("features", "build", "-w", str(ws.root)), workdir / "build.log")
    steps = [{"step": "features build", "wall_s": run.wall_s, "peak_rss_gib": run.max_rss_gib}]
    console.print(
        f"  gridml features build: {run.wall_s:.1f} s, peak RSS {run.max_rss_gib:.2f} GiB"
    )
    for step, fn in (("apply", repo.apply_definitions), ("materialize", repo.materialize)):
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # Feast's progress bars
            fn(ws)
        steps.append({"step": f"features {step}", "wall_s": time.perf_counter() - t0})
        console.print(f"  features {step} (in process): {steps[-1]['wall_s']:.1f} s")
    return steps


# ---------------------------------------------------------------------------------------------
# 2. training set: Feast point-in-time join vs pandas merge_asof


def store_configs(workdir: Path) -> list[dict[str, Any]]:
    """The default store config, plus stock DuckDB and the custom as-of store when the default
    is not already that one (temp yamls differing only in `offline_store`)."""
    raw = yaml.safe_load(repo.DEFAULT_STORE_CONFIG.read_text())
    default_type = (raw.get("offline_store") or {}).get("type", "dask")
    wanted = {"duckdb": "stock DuckDB"}
    custom_error = None
    if importlib.util.find_spec(CUSTOM_STORE_MODULE) is not None:
        try:
            importlib.import_module(CUSTOM_STORE_MODULE)
            wanted[CUSTOM_STORE_TYPE] = "AsofDuckDB (custom)"
        except Exception as exc:  # reported in the results, the rest still runs
            custom_error = f"{type(exc).__name__}: {exc}"
    else:
        custom_error = f"{CUSTOM_STORE_MODULE} not found"
    configs = [
        {
            "label": wanted.get(default_type, default_type),
            "type": default_type,
            "default": True,
            "path": repo.DEFAULT_STORE_CONFIG,
        }
    ]
    folder = workdir / "store_configs"
    folder.mkdir(parents=True, exist_ok=True)
    for store_type, label in wanted.items():
        if store_type == default_type:
            continue
        path = folder / f"{label.split()[0].lower()}.yaml"
        path.write_text(yaml.safe_dump({**raw, "offline_store": {"type": store_type}}))
        configs.append({"label": label, "type": store_type, "default": False, "path": path})
    for c in configs:
        c["custom_store_error"] = custom_error
    return configs


def entity_frame(ws: Workspace, n: int, seed: int = 7) -> pd.DataFrame:
    """`n` rows: a random meter and a random instant (1 s resolution) inside the data window."""
    rng = np.random.default_rng(seed)
    ids = read_parts(ws.feed_dir("meters"), columns=["meter_id"])["meter_id"].to_numpy()
    start, end = repo.zone_window(ws)
    span = int((end - start).total_seconds())
    stamps = start + pd.to_timedelta(rng.integers(0, span, n), unit="s")
    return pd.DataFrame(
        {
            "meter_id": rng.choice(ids, n).astype(object),
            "event_timestamp": pd.Series(stamps).dt.as_unit("ns"),
            "_row": np.arange(n),
        }
    )


def merge_asof_reference(entity: pd.DataFrame, table: pd.DataFrame, ttl: dt.timedelta):
    """Feast's semantics in pandas: latest row at or before the entity time, if not older than
    the view's TTL (boundary included); result in the entity frame's order."""
    left = entity.sort_values("event_timestamp", kind="stable")
    right = table.sort_values("event_timestamp", kind="stable")
    out = pd.merge_asof(
        left,
        right,
        on="event_timestamp",
        by="meter_id",
        direction="backward",
        allow_exact_matches=True,
        tolerance=pd.Timedelta(ttl),
    )
    return out.sort_values("_row").reset_index(drop=True)


def compare(feast: pd.DataFrame, ref: pd.DataFrame, features: list[str]) -> dict[str, Any]:
    """Row by row, every feature: equal (NaN == NaN, |a - b| <= 1e-9)."""
    if len(feast) != len(ref):
        return {"rows": len(ref), "feast_rows": len(feast), "equal": False, "mismatched_rows": None}
    keys_ok = bool(
        (feast["meter_id"].to_numpy() == ref["meter_id"].to_numpy()).all()
        and (
            feast["event_timestamp"].dt.as_unit("ns").to_numpy()
            == ref["event_timestamp"].dt.as_unit("ns").to_numpy()
        ).all()
    )
    bad = np.zeros(len(ref), dtype=bool)
    missing = [f for f in features if f not in feast]
    for f in features:
        if f in missing:
            bad[:] = True
            continue
        a = feast[f].to_numpy(dtype="float64", na_value=np.nan)
        b = ref[f].to_numpy(dtype="float64", na_value=np.nan)
        both_nan = np.isnan(a) & np.isnan(b)
        bad |= ~(both_nan | np.isclose(a, b, rtol=0.0, atol=1e-9))
    null_rows = int(ref[features].isna().all(axis=1).sum())
    return {
        "rows": len(ref),
        "keys_aligned": keys_ok,
        "mismatched_rows": int(bad.sum()),
        "missing_columns": missing,
        "rows_without_features": null_rows,
        "equal": keys_ok and not bad.any() and not missing,
    }


def training_set(ws: Workspace, n: int, workdir: Path) -> dict[str, Any]:
    spec = TABLES[HOURLY_VIEW]
    features = list(spec.features)
    refs = [f"{HOURLY_VIEW}:{f}" for f in features]
    entity = entity_frame(ws, n)
    console.print(
        f"[bold]training set[/]: {n:,} entity rows x {len(features)} features of {HOURLY_VIEW}"
    )

    columns = ["meter_id", "event_timestamp", *features]
    table, read_times = timed(lambda: read_parts(ws.table_dir(HOURLY_VIEW), columns=columns))
    ref, merge_times = timed(lambda t=table: merge_asof_reference(entity, t, spec.ttl))
    table_rows = len(table)
    del table
    reference = {
        "table_rows": table_rows,
        "table_bytes": sum(p.stat().st_size for p in parts(ws.table_dir(HOURLY_VIEW))),
        "read_s": median(read_times),
        "read_runs": read_times,
        "merge_s": median(merge_times),
        "merge_runs": merge_times,
    }
    reference["total_s"] = reference["read_s"] + reference["merge_s"]
    console.print(
        f"  pandas: read {reference['read_s']:.2f} s + merge_asof {reference['merge_s']:.2f} s "
        f"({table_rows:,} table rows)"
    )

    stores = []
    for cfg in store_configs(workdir):
        store = repo.open_store(ws, cfg["path"])

        def retrieve(frame: pd.DataFrame, store=store) -> pd.DataFrame:
            out = store.get_historical_features(entity_df=frame, features=refs).to_df()
            return out.sort_values("_row").reset_index(drop=True)

        t0 = time.perf_counter()
        retrieve(entity.iloc[:1000])  # warm-up: registry, planner, Parquet footers
        warmup = time.perf_counter() - t0
        try:
            out, runs = timed(lambda retrieve=retrieve: retrieve(entity), budget_s=30.0)
        except Exception as exc:  # one failing store must not hide the others
            console.print(f"  [red]{cfg['label']} failed[/]: {type(exc).__name__}: {exc}")
            stores.append(
                {**cfg, "path": str(cfg["path"]), "error": f"{type(exc).__name__}: {exc}"}
            )
            continue
        check = compare(out, ref, features)
        del out
        seconds = median(runs)
        ratio = seconds / reference["total_s"]
        stores.append(
            {
                **cfg,
                "path": str(cfg["path"]),
                "seconds": seconds,
                "runs": runs,
                "warmup_1k_rows_s": warmup,
                "rows_per_s": n / seconds,
                "ratio_vs_read_plus_merge": ratio,
                "ratio_vs_merge_only": seconds / reference["merge_s"],
                "within_goal": ratio <= FEAST_GOAL,
                "check": check,
            }
        )
        verdict = "[green]equal[/]" if check["equal"] else "[red]DIFFERENT[/]"
        console.print(
            f"  Feast {cfg['label']}{' (default)' if cfg['default'] else ''}: {seconds:.2f} s, "
            f"{ratio:.2f}x pandas; vs merge_asof: {verdict} "
            f"({check['mismatched_rows']} of {check['rows']:,} rows differ)"
        )
        gc.collect()
    return {
        "view": HOURLY_VIEW,
        "features": features,
        "ttl_s": spec.ttl.total_seconds(),
        "entity_rows": n,
        "goal": f"Feast <= {FEAST_GOAL:g}x (pandas read + merge_asof)",
        "reference": reference,
        "stores": stores,
    }


# ---------------------------------------------------------------------------------------------
# 3. online: Feast get_online_features vs a raw SQLite read of the same rows


class RawOnline:
    """Reads a view's rows from Feast's SQLite online store directly: serialize the entity
    keys, one prepared SELECT ... WHERE entity_key IN (...), decode the protobuf values."""

    def __init__(self, store, view: str) -> None:
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        self._ser, self._key, self._value = serialize_entity_key, EntityKey, Value
        self._version = store.config.entity_key_serialization_version
        self.db = Path(store.config.online_store.path)
        self.table = f"{store.config.project}_{view}"
        self.conn = sqlite3.connect(self.db, check_same_thread=False)
        self.schema = self.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (self.table,)
        ).fetchone()[0]
        self.rows = self.conn.execute(f'SELECT count(*) FROM "{self.table}"').fetchone()[0]
        self._sql: dict[int, str] = {}

    def read(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        keys = [
            self._ser(
                self._key(join_keys=["meter_id"], entity_values=[self._value(string_val=i)]),
                entity_key_serialization_version=self._version,
            )
            for i in ids
        ]
        sql = self._sql.get(len(keys))
        if sql is None:
            sql = self._sql[len(keys)] = (
                f'SELECT entity_key, feature_name, value, event_ts FROM "{self.table}" '
                f"WHERE entity_key IN ({','.join('?' * len(keys))})"
            )
        by_key: dict[bytes, dict[str, Any]] = {}
        for key, name, blob, _ts in self.conn.execute(sql, keys).fetchall():
            value = self._value.FromString(blob)
            kind = value.WhichOneof("val")  # None: a null feature value
            by_key.setdefault(key, {})[name] = getattr(value, kind) if kind else None
        return {i: by_key.get(k, {}) for i, k in zip(ids, keys, strict=True)}


def _same(a: float | None, b: float | None) -> bool:
    a = np.nan if a is None else float(a)
    b = np.nan if b is None else float(b)
    return bool((np.isnan(a) and np.isnan(b)) or np.isclose(a, b, rtol=0.0, atol=1e-12))


def online(ws: Workspace, sizes: list[int], reps: int, warmup: int) -> dict[str, Any]:
    store = repo.open_store(ws)
    features = list(TABLES[ONLINE_VIEW].features)
    refs = [f"{ONLINE_VIEW}:{f}" for f in features]
    raw = RawOnline(store, ONLINE_VIEW)
    ids = read_parts(ws.feed_dir("meters"), columns=["meter_id"])["meter_id"].tolist()
    console.print(
        f"[bold]online[/]: {ONLINE_VIEW} ({len(features)} features), SQLite table {raw.table} "
        f"({raw.rows:,} rows), {reps} requests per size after {warmup} warm-up"
    )

    def feast_read(batch: list[str]) -> dict[str, list]:
        return store.get_online_features(
            features=refs, entity_rows=[{"meter_id": i} for i in batch]
        ).to_dict()

    # correctness: the same values both ways for one request of the largest size
    batch = ids[: max(sizes)]
    got, want = feast_read(batch), raw.read(batch)
    mismatched = sum(
        not _same(got[f][j], want[i].get(f)) for j, i in enumerate(batch) for f in features
    )
    check = {"entities": len(batch), "values": len(batch) * len(features), "mismatched": mismatched}
    check["equal"] = mismatched == 0

    rng = np.random.default_rng(11)
    results = []
    for k in sizes:
        for _ in range(warmup):
            b = list(rng.choice(ids, k, replace=False))
            feast_read(b)
            raw.read(b)
        t_feast, t_raw = [], []
        for r in range(reps):
            b = list(rng.choice(ids, k, replace=False))
            order = (("feast", feast_read), ("raw", raw.read))
            for name, fn in order if r % 2 == 0 else order[::-1]:  # alternate who goes first
                t0 = time.perf_counter()
                fn(b)
                (t_feast if name == "feast" else t_raw).append(time.perf_counter() - t0)
        f50, f99 = np.percentile(t_feast, [50, 99]) * 1000
        r50, r99 = np.percentile(t_raw, [50, 99]) * 1000
        results.append(
            {
                "entities": k,
                "requests": reps,
                "feast_p50_ms": f50,
                "feast_p99_ms": f99,
                "raw_p50_ms": r50,
                "raw_p99_ms": r99,
                "ratio_p50": f50 / r50,
                "ratio_p99": f99 / r99,
            }
        )
        console.print(
            f"  {k:>3} entities: Feast p50 {f50:.2f} ms p99 {f99:.2f} ms | raw p50 {r50:.3f} ms "
            f"p99 {r99:.3f} ms | ratio p50 {f50 / r50:.1f}x"
        )
    raw.conn.close()
    return {
        "view": ONLINE_VIEW,
        "features": features,
        "online_store": str(raw.db),
        "sqlite_table": raw.table,
        "sqlite_schema": raw.schema,
        "sqlite_rows": raw.rows,
        "feast_call": "store.get_online_features(features=[meter_daily:*], entity_rows).to_dict()",
        "raw_call": "serialize_entity_key, SELECT ... WHERE entity_key IN (...), decode values",
        "check": check,
        "sizes": results,
    }


# ---------------------------------------------------------------------------------------------
# report


def fmt_rate(x: float) -> str:
    return f"{x / 1e6:.2f} M rows/s"


def render(results: dict[str, Any]) -> Table:
    m = results["machine"]
    ram = m["ram_gib"]
    t = Table(
        title="gridml feature benchmark (ratio = measured time / reference time)",
        caption=f"{m['cores']} cores ({m['cpu']}), {ram:.1f} GiB RAM, Python {m['python']}, "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
        + "; load average (1 min) at "
        + ", ".join(f"{k} {v[0]:.1f}" for k, v in results["loadavg"].items()),
    )
    for col, just in (
        ("Measurement", "left"),
        ("Size", "right"),
        ("Measured", "right"),
        ("Reference", "right"),
        ("Ratio", "right"),
        ("Notes", "left"),
    ):
        t.add_column(col, justify=just)
    floor = results.get("io_floor")
    for g in results.get("generation", []):
        ratio = floor["rows_per_s"] / g["rows_per_s"] if floor else float("nan")
        t.add_row(
            f"generate {g['name']}",
            f"{g['meters']:,} meters x {g['days']} d\n{g['rows'] / 1e6:.1f} M rows",
            f"{fmt_rate(g['rows_per_s'])}\n{g['generate_s']:.1f} s (wall {g['wall_s']:.1f} s)",
            f"{fmt_rate(floor['rows_per_s'])}\npyarrow write floor" if floor else "-",
            f"{ratio:.1f}x",
            f"peak RSS {g['peak_rss_gib']:.2f} GiB = {100 * g['peak_rss_gib'] / ram:.0f}% of "
            f"{ram:.1f} GiB RAM",
        )
    for s in results.get("setup", []):
        t.add_row(
            s["step"],
            "demo",
            f"{s['wall_s']:.1f} s",
            "-",
            "-",
            f"peak RSS {s['peak_rss_gib']:.2f} GiB" if "peak_rss_gib" in s else "in process",
        )
    ts = results.get("training_set")
    if ts:
        ref = ts["reference"]
        t.add_row(
            "training set: pandas",
            f"{ts['entity_rows']:,} rows",
            f"read {ref['read_s']:.2f} s\nmerge_asof {ref['merge_s']:.2f} s",
            "(reference)",
            "1.0x",
            f"{ref['table_rows']:,} rows of {ts['view']} ({ref['table_bytes'] / 2**20:.0f} MiB)",
        )
        for s in ts["stores"]:
            name = f"training set: Feast\n{s['label']}{' (default)' if s['default'] else ''}"
            if "error" in s:
                t.add_row(name, f"{ts['entity_rows']:,} rows", "failed", "-", "-", s["error"][:80])
                continue
            c = s["check"]
            t.add_row(
                name,
                f"{ts['entity_rows']:,} rows",
                f"{s['seconds']:.2f} s\n{s['rows_per_s'] / 1e3:,.0f} k rows/s",
                f"{ref['total_s']:.2f} s",
                f"{s['ratio_vs_read_plus_merge']:.2f}x",
                f"goal <= {FEAST_GOAL:g}x: {'met' if s['within_goal'] else 'not met'}; "
                f"vs merge_asof: {'equal' if c['equal'] else 'DIFFERENT'} "
                f"({c['mismatched_rows']} of {c['rows']:,} rows differ)",
            )
    on = results.get("online")
    if on:
        for r in on["sizes"]:
            for p in ("p50", "p99"):
                t.add_row(
                    f"online {p}: Feast vs raw SQLite",
                    f"{r['entities']} entit{'y' if r['entities'] == 1 else 'ies'}",
                    f"{r[f'feast_{p}_ms']:.2f} ms",
                    f"{r[f'raw_{p}_ms']:.3f} ms",
                    f"{r[f'ratio_{p}']:.1f}x",
                    f"{on['view']}, {r['requests']} requests; Feast values = raw values: "
                    f"{'yes' if on['check']['equal'] else 'NO'}",
                )
    return t


def write_json(results: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, default=str))
    tmp.replace(out)


# ---------------------------------------------------------------------------------------------
# main


def work_folder(given: Path | None, prefix: str) -> tuple[Path, bool]:
    """The benchmark's work folder: `given`, else a new one under /tmp; True when it is the
    benchmark's own (removed at the end unless --keep)."""
    folder = given.resolve() if given else Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder, given is None


def finish_run(
    results: dict[str, Any],
    out: Path,
    t_start: float,
    tables: list,
    remove: Path | None,
    printer: Console = console,
) -> None:
    """Stamp total time and load, write the JSON, print the tables (with `printer`), remove
    the work folder (`remove`, if given) whatever happens while printing."""
    results["total_s"] = time.perf_counter() - t_start
    results["loadavg"]["end"] = loadavg()
    write_json(results, out)
    try:
        for table in tables:
            printer.print(table)
        printer.print(f"total {results['total_s'] / 60:.1f} min; results written to {out}")
    finally:
        if remove is not None:
            shutil.rmtree(remove, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run_features",
        description="Benchmark feed generation, Feast training-set retrieval and online reads, "
        "each next to a reference measured in the same run (see bench/README.md).",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run (~1 min): demo zone cut to 182 days, 100k entity rows, 100 online "
        "requests, no 20k-meter generation",
    )
    p.add_argument("--skip-20k", action="store_true", help="skip the 20,000-meter generation")
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
    p.add_argument("--zone", type=Path, default=Path("experiments/zone.yaml"), help="demo zone")
    p.add_argument("--large-meters", type=int, default=20_000, help="meters of the large run")
    p.add_argument("--entity-rows", type=int, default=None, help="training-set rows (1,000,000)")
    p.add_argument("--reps", type=int, default=None, help="online requests per size (300)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet()
    out = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    out = out if out.is_absolute() else ROOT / out
    zone = args.zone if args.zone.is_absolute() else ROOT / args.zone
    entity_rows = args.entity_rows or (100_000 if args.quick else 1_000_000)
    reps = args.reps or (100 if args.quick else 300)
    demo_days = 182 if args.quick else None
    run_large = not (args.quick or args.skip_20k)
    workdir, own_workdir = work_folder(args.workdir, "gridml-bench-")
    t_start = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "features",
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "complete": False,
        "machine": machine_info(),
        "loadavg": {"start": loadavg()},
        "settings": {
            "zone": str(args.zone),
            "demo_days_override": demo_days,
            "large_meters": args.large_meters if run_large else None,
            "entity_rows": entity_rows,
            "online_requests": reps,
            "workdir": str(workdir),
        },
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
        results["generation"] = [generation("demo", demo, zone, None, demo_days, workdir)]
        floor_rows = results["generation"][0]["rows"]
        hours = results["generation"][0]["days"] * 24
        results["io_floor"] = io_floor(floor_rows, hours, workdir / "io-floor")
        console.print(f"  I/O floor: {results['io_floor']['rows_per_s']:,.0f} rows/s")
        write_json(results, out)

        results["loadavg"]["setup"] = loadavg()
        console.print("[bold]feature store setup[/] (demo zone)")
        results["setup"] = setup_store(demo, workdir)
        write_json(results, out)

        results["loadavg"]["training_set"] = loadavg()
        results["training_set"] = training_set(demo, entity_rows, workdir)
        gc.collect()
        write_json(results, out)

        results["loadavg"]["online"] = loadavg()
        results["online"] = online(demo, [1, 100], reps, warmup=20)
        write_json(results, out)

        if run_large:
            results["loadavg"]["large_generation"] = loadavg()
            large = Workspace(workdir / "ws-large")
            name = f"{args.large_meters // 1000}k" if args.large_meters >= 1000 else "large"
            results["generation"].append(
                generation(name, large, zone, args.large_meters, None, workdir)
            )
            if not args.keep:
                shutil.rmtree(large.root, ignore_errors=True)
        results["complete"] = True
    finally:
        remove = workdir if own_workdir and not args.keep else None
        finish_run(results, out, t_start, [render(results)], remove)
    return 0


if __name__ == "__main__":
    sys.exit(main())
