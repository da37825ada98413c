"""One config shape: the registered name is written once per YAML (experiment and run name
default to it), and fields the code never read are gone while old configs still load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gridml.training.demand.config import DemandConfig
from gridml.training.maintenance.pipeline import MaintenanceRunConfig
from gridml.training.run import default_names
from gridml.training.theft.config import TheftConfig
from gridml.training.theft.pipeline import TheftRunConfig

EXP = Path(__file__).resolve().parents[3] / "experiments"


def test_names_default_to_the_registered_name() -> None:
    raw = {"registered_model": "m", "model": {"weeks": 4}}
    out = default_names(raw, "fallback", ("model",))
    assert out == {
        "registered_model": "m",
        "model": {"weeks": 4, "name": "m"},
        "tracking": {"experiment": "m"},
    }
    assert raw == {"registered_model": "m", "model": {"weeks": 4}}  # not mutated
    given = {"name": "run", "tracking": {"experiment": "e"}}
    assert default_names(given, "d") == given


@pytest.mark.parametrize(
    ("cls", "stem"),
    [(DemandConfig, "demand"), (MaintenanceRunConfig, "maintenance"), (TheftRunConfig, "theft")],
)
def test_each_production_yaml_writes_its_registered_name_once(cls, stem: str) -> None:
    text = (EXP / f"{stem}.yaml").read_text()
    cfg = cls.read_yaml(EXP / f"{stem}.yaml")
    uncommented = "\n".join(line.split("#")[0] for line in text.splitlines())
    assert uncommented.count(cfg.registered_model) == 1
    name = cfg.name if isinstance(cfg, DemandConfig) else cfg.model.name
    assert cfg.tracking.experiment == name == cfg.registered_model


def test_retired_theft_fields_still_load() -> None:
    """Runs logged before carry `models` and `registered_model` in the model section."""
    old = TheftConfig().model_dump(mode="json") | {
        "models": ["lightgbm", "wide_deep"],
        "registered_model": "theft-detection",
    }
    cfg = TheftConfig.model_validate(old)
    assert not hasattr(cfg, "models") and "registered_model" not in TheftConfig.model_fields
    run = TheftRunConfig.model_validate(yaml.safe_load(yaml.safe_dump({"model": old})))
    assert run.model.weeks == cfg.weeks
