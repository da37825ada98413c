"""`gridml features ui`: Feast's own web UI over the workspace's registry, started as a user
would, answering HTTP with its page and the registry's FeatureServices."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
GRIDML = str(Path(sys.executable).parent / "gridml")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ui_serves_the_registry(store_ws: Workspace, tmp_path: Path) -> None:
    port = _free_port()
    log = (tmp_path / "ui.log").open("w")
    proc = subprocess.Popen(
        [GRIDML, "features", "ui", "--workspace", str(store_ws.root), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()
            try:
                page = httpx.get(f"{base}/", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, (tmp_path / "ui.log").read_text()
                time.sleep(1)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        services = httpx.get(f"{base}/api/v1/feature_services", params={"project": "gridml"})
        names = {s["spec"]["name"] for s in services.json()["featureServices"]}
        assert {"demand_forecast_v1", "asset_failure_v1", "theft_detection_v1"} <= names
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_ui_refuses_a_workspace_without_definitions(tmp_path: Path) -> None:
    result = subprocess.run(
        [GRIDML, "features", "ui", "--workspace", str(tmp_path), "--port", str(_free_port())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "gridml features apply" in result.stderr + result.stdout
