"""Serving benchmark: latency and throughput of the gridml endpoints under load, beside
`mlflow models serve` of the same demand model and a trivial BentoML endpoint (the floor).

    .venv/bin/python -m bench.run_serving            # default zone, ~6-8 min on 2 cores
    .venv/bin/python -m bench.run_serving --quick    # small zone, shorter runs, ~2-3 min
    .venv/bin/python -m bench.run_serving --workspace workspace   # reuse a built workspace

Each target is called by an async httpx load generator at concurrency 1, 8 and 32, for a fixed
time and a bounded number of requests, only on 127.0.0.1. Reported per cell: p50 and p99
latency, throughput, errors (any non-2xx or transport error). The demand endpoint is called
for one feeder day-ahead (48 h) and fetches its features from the online store; `mlflow models
serve` gets the same 48 feature rows ready-made (no fetch). Writes bench/results/serving.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from bench.run_features import gridml_cmd, loadavg, machine_info, run_child
from gridml.serving.config import cpu_count
from gridml.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "results" / "serving.json"
QUICK_OUT = ROOT / "bench" / "results" / "serving.quick.json"
CONCURRENCY = (1, 8, 32)
console = Console()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(ws: Workspace, zone: Path, log_dir: Path) -> None:
    """Zone -> features -> Feast online store -> the three models (small training configs:
    the benchmark measures serving, not model quality)."""
    exp = ROOT / "experiments"
    steps = [
        ("data", "generate", "--config", str(zone)),
        ("features", "build"),
        ("features", "apply"),
        ("features", "materialize"),
        # the smoke configs, registered under the production names that serving binds
        (
            "train",
            "demand",
            "-c",
            str(exp / "demand-small.yaml"),
            "--registered-model",
            "demand-forecast",
        ),
        (
            "train",
            "maintenance",
            "-c",
            str(exp / "maintenance-small.yaml"),
            "--registered-model",
            "asset-failure",
        ),
        (
            "train",
            "theft",
            "-c",
            str(exp / "theft-small.yaml"),
            "--registered-model",
            "theft-detection",
        ),
    ]
    for step in steps:
        console.print(f"  gridml {' '.join(step[:2])}")
        log = log_dir / f"{'-'.join(step[:2])}.log"
        run_child(gridml_cmd(*step, "--workspace", str(ws.root)), log)


@contextmanager
def process(cmd: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[None]:
    """A server process (its whole process group is stopped on exit), once `ready_url` is 200."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT
        )
        try:
            deadline = time.monotonic() + 240
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd[:3]} did not start:\n{log.read_text()[-2000:]}")
                try:
                    if httpx.get(ready_url, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            yield
        finally:
            stop(proc)


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


async def _load(
    url: str, body: Any, headers: dict, concurrency: int, seconds: float, max_requests: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits, headers=headers) as client:
        for _ in range(min(3, max_requests)):  # warm-up (connections, caches), not counted
            await client.post(url, json=body)
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors, sent
            while time.perf_counter() < stop and sent < max_requests:
                sent += 1
                t0 = time.perf_counter()
                try:
                    r = await client.post(url, json=body)
                    ok = 200 <= r.status_code < 300
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += not ok

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    lat = np.array(latencies) * 1000
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 2),
        "p99_ms": round(float(np.percentile(lat, 99)), 2),
    }


def load(url: str, body: Any, headers: dict, seconds: float, max_requests: int) -> list[dict]:
    return [asyncio.run(_load(url, body, headers, c, seconds, max_requests)) for c in CONCURRENCY]


def demand_rows(ws: Workspace, feeder: str) -> tuple[int, dict[str, Any]]:
    """The horizon of the served demand model (hours) and the input rows the service builds
    for one feeder over it, as MLflow's `dataframe_split` payload (what `mlflow models serve`
    is given ready-made)."""
    import mlflow

    from gridml.serving.config import ServingConfig
    from gridml.serving.predictor import Predictor

    cfg = ServingConfig()
    targets = cfg.tracking.targets(ws)
    mlflow.set_tracking_uri(targets.tracking_uri)
    mlflow.set_registry_uri(targets.registry_uri)
    predictor = Predictor(cfg, ws)
    captured: dict[str, Any] = {}
    model = predictor.slots["demand"].current.model.unwrap_python_model()
    original = model.predict

    def capture(context, model_input, params=None):
        captured["rows"] = model_input
        return original(context, model_input, params)

    model.predict = capture
    horizon = predictor.demand.trained_horizon(predictor.slots["demand"].current)
    predictor.demand.forecast([feeder], "feeder", horizon)
    rows = captured["rows"]
    return horizon, {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}


def render(results: dict[str, Any]) -> Table:
    table = Table(title="Serving under load (127.0.0.1; latency in ms)")
    for col in ("target", "conc.", "requests", "errors", "p50", "p99", "req/s"):
        table.add_column(col, justify="right" if col != "target" else "left")
    for name, cells in results["targets"].items():
        for cell in cells:
            table.add_row(
                name,
                str(cell["concurrency"]),
                str(cell["requests"]),
                str(cell["errors"]),
                f"{cell['p50_ms']:.1f}",
                f"{cell['p99_ms']:.1f}",
                f"{cell['throughput_rps']:.0f}",
            )
    return table


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    t = results["targets"]

    def at(name: str, c: int) -> dict:
        return next(x for x in t[name] if x["concurrency"] == c)

    demand8, mlflow8, floor8 = at("demand", 8), at("mlflow models serve", 8), at("floor", 8)
    if not {"demand (batch route)", "maintenance", "theft", "readings"} <= set(t):
        return {  # some routes left out (--routes)
            "demand_p99_ms_at_8": demand8["p99_ms"],
            "floor_p99_ms_at_8": floor8["p99_ms"],
            "demand_p99_vs_floor_p99_at_8": round(demand8["p99_ms"] / floor8["p99_ms"], 2),
            "demand_throughput_vs_mlflow_at_8": round(
                demand8["throughput_rps"] / mlflow8["throughput_rps"], 2
            ),
            "total_errors": sum(c["errors"] for cells in t.values() for c in cells),
        }
    batch8 = at("demand (batch route)", 8)
    return {
        "demand_p99_ms_at_8": demand8["p99_ms"],
        "floor_p99_ms_at_8": floor8["p99_ms"],
        "demand_p99_vs_floor_p99_at_8": round(demand8["p99_ms"] / floor8["p99_ms"], 2),
        **{
            f"{name}_throughput_rps_at_8": at(name, 8)["throughput_rps"]
            for name in ("maintenance", "theft", "readings")
        },
        **{
            f"{name}_throughput_vs_floor_at_8": round(
                at(name, 8)["throughput_rps"] / floor8["throughput_rps"], 3
            )
            for name in ("maintenance", "theft", "readings")
        },
        "demand_batch_route_p99_ms_at_8": batch8["p99_ms"],
        "demand_batch_route_throughput_vs_mlflow_at_8": round(
            batch8["throughput_rps"] / mlflow8["throughput_rps"], 2
        ),
        "demand_throughput_vs_mlflow_at_8": round(
            demand8["throughput_rps"] / mlflow8["throughput_rps"], 2
        ),
        "demand_throughput_vs_floor_at_8": round(
            demand8["throughput_rps"] / floor8["throughput_rps"], 2
        ),
        "total_errors": sum(c["errors"] for cells in t.values() for c in cells),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run_serving",
        description="Load-test the gridml endpoints beside `mlflow models serve` of the same "
        "demand model and a trivial BentoML endpoint (see bench/README.md).",
    )
    p.add_argument("--quick", action="store_true", help="small zone, 3 s per cell")
    p.add_argument("--workspace", type=Path, help="reuse a workspace with the three models")
    p.add_argument("--zone", type=Path, default=Path("experiments/zone.yaml"))
    p.add_argument("--seconds", type=float, default=None, help="seconds per cell (default 8)")
    p.add_argument("--max-requests", type=int, default=5000, help="requests per cell at most")
    p.add_argument(
        "--workers",
        type=int,
        default=cpu_count(),
        help="worker processes of every server (default: one per core, gridml serve's default)",
    )
    p.add_argument(
        "--routes",
        default=None,
        help="comma-separated gridml targets to load (default: all; e.g. 'demand,readings' on a "
        "workspace whose other models are not trained)",
    )
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seconds = args.seconds or (3.0 if args.quick else 8.0)
    out = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    workdir = Path(tempfile.mkdtemp(prefix="gridml-bench-serving-", dir="/tmp"))
    zone = ROOT / ("experiments/zone-small.yaml" if args.quick else args.zone)
    results: dict[str, Any] = {
        "benchmark": "serving",
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "machine": machine_info(),
        "loadavg": {"start": loadavg()},
        "settings": {
            "seconds_per_cell": seconds,
            "max_requests": args.max_requests,
            "workers": args.workers,
            "concurrency": list(CONCURRENCY),
        },
        "targets": {},
    }
    try:
        if args.workspace:
            ws = Workspace(args.workspace.resolve())
        else:
            ws = Workspace(workdir / "ws")
            console.print(f"building a workspace in {ws.root} from {zone.name}")
            prepare(ws, zone, workdir)
        results["settings"]["workspace"] = str(ws.root)
        key = "bench-" + os.urandom(8).hex()
        headers = {"Authorization": f"Bearer {key}"}
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env |= {
            "GRIDML_API_KEYS": f"{key}:reader+ingest",
            "GRIDML_SERVING_WORKERS": str(args.workers),
            "BENTOML_HOME": str(workdir / "bentoml"),
            "BENTOML_DO_NOT_TRACK": "true",
            "GRIDML_WORKSPACE": str(ws.root),
            # mlflow models serve starts `uvicorn` from PATH
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        now = dt.datetime.now(dt.UTC)
        this_hour = now.replace(minute=0, second=0, microsecond=0).isoformat()
        horizon, payload = demand_rows(ws, "F001")
        results["settings"]["demand_horizon_hours"] = horizon
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [*gridml_cmd("serve", "--port", str(port), "-w", str(ws.root))]
        cmd += ["--workers", str(args.workers)]
        bodies = {
            "demand": ("/forecast/demand", {"ids": ["F001"], "horizon": horizon}),
            "demand (batch route)": (
                "/forecast/demand/batch",
                {"requests": [{"ids": ["F001"], "horizon": horizon}]},
            ),
            "maintenance": ("/maintenance/risk", {"ids": ["T00001"]}),
            "theft": ("/theft/score", {"ids": ["M000001"]}),
            "readings": (
                "/readings",
                # the current hour: the live feed refuses readings older than
                # readings_max_age_days (the zone may lie years back)
                {"readings": [{"meter_id": "M000001", "timestamp": this_hour, "kwh": 0.5}]},
            ),
        }
        if args.routes:
            wanted = {r.strip() for r in args.routes.split(",")}
            bodies = {k: v for k, v in bodies.items() if k in wanted}
        console.print(f"gridml service on {url}")
        with process(cmd, env, f"{url}/readyz", workdir / "gridml-serve.log"):
            for name, (path, body) in bodies.items():
                cells = load(f"{url}{path}", body, headers, seconds, args.max_requests)
                results["targets"][name] = cells
                console.print(f"  {name}: {cells}")

        port = free_port()
        mlflow_env = env | {"MLFLOW_TRACKING_URI": f"sqlite:///{ws.root / 'mlflow.db'}"}
        mlflow_cmd = [str(Path(sys.executable).with_name("mlflow")), "models", "serve"]
        mlflow_cmd += ["-m", "models:/demand-forecast/1", "--env-manager", "local"]
        mlflow_cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)]
        console.print("mlflow models serve (same model, rows given)")
        ping = f"http://127.0.0.1:{port}/ping"
        with process(mlflow_cmd, mlflow_env, ping, workdir / "mlflow.log"):
            results["targets"]["mlflow models serve"] = load(
                f"http://127.0.0.1:{port}/invocations", payload, {}, seconds, args.max_requests
            )

        port = free_port()
        floor_cmd = [str(Path(sys.executable).with_name("bentoml")), "serve"]
        floor_cmd += ["bench.trivial_service:Floor", "--host", "127.0.0.1", "--port", str(port)]
        console.print("trivial BentoML endpoint (framework floor)")
        with process(floor_cmd, env, f"http://127.0.0.1:{port}/readyz", workdir / "floor.log"):
            results["targets"]["floor"] = load(
                f"http://127.0.0.1:{port}/echo", {"ids": ["F001"]}, {}, seconds, args.max_requests
            )
        results["loadavg"]["end"] = loadavg()
        results["summary"] = ratios(results)
        console.print(render(results))
        console.print(results["summary"])
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        console.print(f"wrote {out}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
