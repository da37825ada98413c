"""Process settings of the service: one class, read from GRIDML_SERVING_* when asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from gridml.serving.config import ProcessSettings, cpu_count, load_config


def test_defaults_one_worker_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("GRIDML_SERVING_")]:
        monkeypatch.delenv(var)
    s = ProcessSettings()
    assert s.workers == cpu_count() >= 1
    assert (s.threads, s.timeout, s.max_batch, s.torch_threads, s.config) == (8, 60, 64, 1, None)


def test_environment_is_read_and_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "serving.yaml"
    cfg.write_text("max_ids: 7\n")
    monkeypatch.setenv("GRIDML_SERVING_WORKERS", "3")
    monkeypatch.setenv("GRIDML_SERVING_MAX_BATCH", "16")
    monkeypatch.setenv("GRIDML_SERVING_CONFIG", str(cfg))
    s = ProcessSettings()
    assert (s.workers, s.max_batch, s.config) == (3, 16, cfg)
    assert load_config().max_ids == 7  # the config file named by the settings
    monkeypatch.setenv("GRIDML_SERVING_WORKERS", "0")
    with pytest.raises(ValidationError, match="workers"):
        ProcessSettings()


def test_empty_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDML_SERVING_CONFIG", "")
    assert ProcessSettings().config is None


@pytest.mark.slow  # a fresh interpreter imports BentoML
def test_importing_the_service_reads_no_settings() -> None:
    """A broken setting does not break the import; it fails when the service is built."""
    code = (
        "import gridml.serving.service as s\n"
        "assert 'GridML' not in vars(s)\n"
        "try:\n"
        "    s.GridML\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, 'workers' in str(exc))\n"
    )
    env = dict(os.environ, GRIDML_SERVING_WORKERS="not-a-number")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "ValidationError True"


def test_the_service_is_built_with_the_settings() -> None:
    from gridml.serving.service import GuardedService, build_service

    service = build_service(ProcessSettings(workers=3, threads=5, timeout=9, max_batch=12))
    assert isinstance(service, GuardedService)
    assert service.config["workers"] == 3
    assert service.config["threads"] == 5
    assert service.config["traffic"] == {"timeout": 9}
    batch = service.apis["forecast_demand_batch"]
    assert (batch.batchable, batch.max_batch_size, batch.max_latency_ms) == (True, 12, 9000)
