"""`gridml stream`: config errors name the file; the demo says it skipped without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.cli.stream import _config


def test_a_missing_or_bad_config_is_named(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["stream", "ingest", "-c", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "nope.yaml: config file not found" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("batch:\n  max_messages: 5000\n")
    result = runner.invoke(app, ["stream", "ingest", "-c", str(bad), "-w", str(tmp_path)])
    assert result.exit_code == 2 and "exceeds max_in_flight" in result.output


def test_the_demo_skips_without_a_broker(tmp_path: Path) -> None:
    cfg = tmp_path / "stream.yaml"
    cfg.write_text("broker:\n  port: 9\n")  # discard: nothing listens there
    result = CliRunner().invoke(app, ["stream", "demo", "-c", str(cfg), "-w", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "stream demo skipped: no MQTT broker at 127.0.0.1:9" in result.output


def test_overrides_and_the_password_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDML_STREAM_PASSWORD", "s3cret")
    cfg = _config(Path("experiments/stream.yaml"), "site-7", "ingest-2")
    assert (cfg.topic_prefix, cfg.broker.client_id) == ("site-7", "ingest-2")
    assert cfg.broker.password == "s3cret"
