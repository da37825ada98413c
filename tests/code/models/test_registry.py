"""Run configs are read back from a run only through the model specs' run-config classes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridml.errors import UserError
from gridml.models.registry import config_classes, load_config

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"


def test_a_spec_run_config_is_read_back() -> None:
    text = (EXPERIMENTS / "theft-small.yaml").read_text()
    cfg = load_config("gridml.training.theft.pipeline.TheftRunConfig", text)
    assert cfg.registered_model == "theft-detection-smoke"
    assert set(config_classes()) == {
        "gridml.training.demand.config.DemandConfig",
        "gridml.training.maintenance.pipeline.MaintenanceRunConfig",
        "gridml.training.theft.pipeline.TheftRunConfig",
        "gridml.training.restoration.pipeline.RestorationRunConfig",
    }


def test_any_other_class_named_by_a_run_is_refused() -> None:
    with pytest.raises(UserError, match=r"'subprocess\.Popen' is not a model spec's run config"):
        load_config("subprocess.Popen", "args: [sh]\n")
