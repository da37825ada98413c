"""`POST /admin/reload` reaches every worker of a real multi-worker `gridml serve` (issue 13):
the worker that answers announces the reload (a stamp in the workspace) and every other worker
reloads before it answers again, with the registry poll off."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from serving_server import call, running

from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
WORKERS = 2
NOW_SERVES = re.compile(r"demand now serves demand-forecast v(\d+)")


def _versions(url: str, key: str, calls: int) -> list[int]:
    """The demand version GET /models names, over `calls` fresh connections (each may reach
    another worker)."""
    out = []
    for _ in range(calls):
        with httpx.Client(headers={"X-API-Key": key}, timeout=30) as client:
            models = client.get(f"{url}/models").json()["models"]
        out.append(next(m["version"] for m in models if m["endpoint"] == "demand"))
    return out


def _loads_of(log: str, version: int) -> int:
    return sum(int(v) == version for v in NOW_SERVES.findall(log))


def test_admin_reload_reaches_every_worker(
    serving_ws: Workspace, keys: dict[str, str], tmp_path: Path
) -> None:
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{serving_ws.root / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    aliases = dict(client.get_registered_model("demand-forecast").aliases)
    # no registry poll: only /admin/reload moves what a worker serves
    config = "poll_seconds: 0\nmax_ids: 50\n"
    env = {"GRIDML_SERVING_WORKERS": str(WORKERS)}
    with running(serving_ws.root, tmp_path / "server", config, env) as server:
        old = _versions(server.url, keys["reader"], 1)[0]
        source = client.get_model_version("demand-forecast", str(old)).source
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            new = int(mlflow.register_model(source, "demand-forecast").version)
        finally:
            mlflow.set_tracking_uri(None)
            mlflow.set_registry_uri(None)
        try:
            client.set_registered_model_alias("demand-forecast", "champion", str(new))
            time.sleep(1.5)  # no poll: nothing moves without the reload
            assert set(_versions(server.url, keys["reader"], 6)) == {old}
            r = call(server.url, "/admin/reload", keys["admin"], {})
            assert r.status_code == 200 and r.json()["all_workers"] is True
            # every answer after the reload, from whichever worker, names the new version
            assert set(_versions(server.url, keys["reader"], 12)) == {new}
            forecast = call(
                server.url, "/forecast/demand", keys["reader"], {"ids": ["F001"], "horizon": 3}
            )
            assert forecast.json()["model"]["version"] == new
            # and each worker loaded it (the idle ones too, within their second of follow-up)
            deadline = time.monotonic() + 20
            while _loads_of(server.log_text(), new) < WORKERS and time.monotonic() < deadline:
                time.sleep(0.5)
            assert _loads_of(server.log_text(), new) == WORKERS, server.log_text()[-3000:]
        finally:
            champion = aliases.get("champion")
            if champion is not None:  # as the other tests found it
                client.set_registered_model_alias("demand-forecast", "champion", champion)
            else:
                client.delete_registered_model_alias("demand-forecast", "champion")
