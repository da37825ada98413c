"""Smoke configs (experiments/*-small.yaml) register under their own names, never as the
production model, unless asked: by the train CLI's --registered-model or by a retrain of the
production model."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridml.errors import UserError
from gridml.mlops.config import PromotionConfig
from gridml.mlops.retrain import training_config
from gridml.training.demand.config import DemandConfig
from gridml.training.maintenance.pipeline import MaintenanceRunConfig
from gridml.training.theft.pipeline import TheftRunConfig

EXP = Path(__file__).resolve().parents[3] / "experiments"
CONFIGS = [
    (DemandConfig, "demand", "demand-forecast"),
    (MaintenanceRunConfig, "maintenance", "asset-failure"),
    (TheftRunConfig, "theft", "theft-detection"),
]


@pytest.mark.parametrize(("cls", "stem", "production"), CONFIGS)
def test_smoke_configs_register_under_their_own_name(cls, stem: str, production: str) -> None:
    assert cls.read_yaml(EXP / f"{stem}-small.yaml").registered_model == f"{production}-smoke"
    assert cls.read_yaml(EXP / f"{stem}.yaml").registered_model == production


@pytest.mark.parametrize(("cls", "stem", "production"), CONFIGS)
def test_a_retrain_of_the_production_model_asks_for_its_name(cls, stem, production) -> None:
    promo = PromotionConfig.read_yaml(EXP / "promotion-small.yaml")
    cfg = training_config(production, EXP / f"{stem}-small.yaml", promo)
    assert cfg.registered_model == production


def test_a_retrain_refuses_a_config_of_another_model(tmp_path: Path) -> None:
    other = TheftRunConfig.read_yaml(EXP / "theft-small.yaml", registered_model="my-theft")
    other.write_yaml(tmp_path / "t.yaml")
    promo = PromotionConfig.read_yaml(EXP / "promotion-small.yaml")
    with pytest.raises(UserError, match="my-theft"):
        training_config("theft-detection", tmp_path / "t.yaml", promo)


def test_the_train_cli_can_be_asked_for_another_name() -> None:
    from gridml.cli.train import with_registered_model

    cfg = DemandConfig.read_yaml(EXP / "demand-small.yaml")
    assert with_registered_model(cfg, "demand-forecast").registered_model == "demand-forecast"
    assert with_registered_model(cfg, None).registered_model == "demand-forecast-smoke"
