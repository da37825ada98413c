"""The serving config binds endpoints through `models`; older configs (an endpoint's block at
the top level) still load."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridml.config import ConfigError
from gridml.models import catalog
from gridml.serving.config import ModelBinding, ServingConfig

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"


def test_an_unbound_endpoint_serves_its_spec_name() -> None:
    cfg = ServingConfig()
    for spec in catalog.served():
        binding = cfg.binding(spec)
        assert binding.registered_model == spec.name
        assert binding.aliases == ("champion", "challenger")


def test_the_shipped_config_and_an_old_one_bind_the_same(tmp_path: Path) -> None:
    new = ServingConfig.read_yaml(EXPERIMENTS / "serving.yaml")
    old = tmp_path / "old.yaml"
    old.write_text("theft:\n  registered_model: t2\n  aliases: [challenger]\npoll_seconds: 3\n")
    cfg = ServingConfig.read_yaml(old)
    theft = catalog.get("theft-detection")
    assert cfg.binding(theft) == ModelBinding(registered_model="t2", aliases=("challenger",))
    assert cfg.poll_seconds == 3
    assert new.binding(theft).registered_model == "theft-detection"
    assert (
        ServingConfig(theft=ModelBinding(registered_model="x")).models["theft"].registered_model
        == "x"
    )


def test_a_typo_is_still_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("poll_secnds: 3\n")
    with pytest.raises(ConfigError, match="poll_secnds"):
        ServingConfig.read_yaml(bad)
