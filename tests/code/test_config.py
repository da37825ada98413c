"""Configs fail fast with the file and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridml.config import ConfigError
from gridml.features.simulator.config import ZoneConfig

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.mark.parametrize("name", ["zone.yaml", "zone-small.yaml"])
def test_shipped_configs_load(name: str) -> None:
    assert ZoneConfig.read_yaml(EXPERIMENTS / name).meters > 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("meterz: 10\n", "meterz: Extra inputs are not permitted"),
        ("days: 0\n", "days: Input should be greater than or equal to 28"),
        ("country: XX\n", "country: Value error, country 'XX' is not known"),
        ("theft: {share: 1.5}\n", "theft.share: Input should be less than or equal to 0.6"),
        ("theft: {attack_types: [h9]}\n", "attack types must be among"),
        ("segment_mix: {commercial: 0.9}\n", "segment shares must sum to 1"),
        ("meters: 10\nmeters_per_transformer: 10\n", "fewer than the 12 feeders"),
        ("- a list\n", "expected a mapping"),
    ],
)
def test_bad_configs_name_the_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        ZoneConfig.read_yaml(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        ZoneConfig.read_yaml(tmp_path / "nope.yaml")


def test_experiment_configs_resolve_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridml.config import PROJECT_ROOT, resolve_config_path
    from gridml.training.demand.config import DemandConfig

    monkeypatch.chdir(tmp_path)
    assert (
        resolve_config_path("experiments/demand.yaml") == PROJECT_ROOT / "experiments/demand.yaml"
    )
    assert DemandConfig.read_yaml("experiments/demand-small.yaml").horizon_hours == 24
    # a file in the current directory wins over the project's
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "demand.yaml").write_text("horizon_hours: 12\n")
    assert resolve_config_path("experiments/demand.yaml") == Path("experiments/demand.yaml")
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found \(looked in"):
        DemandConfig.read_yaml("experiments/nope.yaml")
