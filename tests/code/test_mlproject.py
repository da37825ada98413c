"""Every MLflow Project entry point calls CLI commands that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gridml.cli.main import app

MLPROJECT = Path(__file__).resolve().parents[2] / "mlproject" / "MLproject"
ENTRY_POINTS = yaml.safe_load(MLPROJECT.read_text())["entry_points"]


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_entry_point_commands_exist(entry: str) -> None:
    for command in ENTRY_POINTS[entry]["command"].split("&&"):
        words = re.findall(r"gridml ((?:[a-z-]+ ?)+)", command)
        assert words, command
        stage_and_cmd = words[0].split()[:2]
        result = CliRunner().invoke(app, [*stage_and_cmd, "--help"])
        assert result.exit_code == 0, (entry, stage_and_cmd, result.output)


def test_every_model_can_be_trained_and_tuned() -> None:
    for model in ("demand", "maintenance", "theft"):
        assert {model, f"tune_{model}"} <= set(ENTRY_POINTS), model
