"""Start the prediction service for real (`gridml serve` -> `bentoml serve`) on 127.0.0.1 and
a free port, wait for it, stop its whole process group afterwards. Shared by the serving tests
(the fixtures are in conftest.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

GRIDML = str(Path(sys.executable).parent / "gridml")
# the medium zone lies in 2024: the live readings window must reach back to it
SERVING_CONFIG = "poll_seconds: 1\nmax_ids: 50\nreadings_max_age_days: 5000\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "GRIDML_"))}
    # one worker: the tests read what /admin/reload changed in its answer, which is the
    # answering worker's (every worker follows it: test_serving_workers.py)
    return env | {
        "BENTOML_HOME": str(tmp / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "GRIDML_SERVING_WORKERS": "1",
    }


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def running(
    ws_root: Path, tmp: Path, config: str, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """`gridml serve` on `ws_root` with the serving config text `config`, until ready."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "serving.yaml").write_text(config)
    port = free_port()
    env = clean_env(tmp) | (extra_env or {})
    log = tmp / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                GRIDML,
                "serve",
                "--port",
                str(port),
                "-c",
                str(tmp / "serving.yaml"),
                "-w",
                str(ws_root),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # bentoml starts worker processes: stop the whole group
        )
    server = Server(f"http://127.0.0.1:{port}", proc, log)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {server.log_text()[-3000:]}")
            try:
                if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        else:
            pytest.fail(f"server not ready: {server.log_text()[-3000:]}")
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def call(url: str, path: str, key: str | None, body: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{url}{path}", json=body, headers=headers, timeout=60)
