"""`gridml tune maintenance|theft` on the medium zone: an Optuna study (validation PR-AUC,
maximised) in the workspace's SQLite storage, one MLflow parent run with a child run per trial,
the tuned run config written, loadable for training, and resumable."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from pydantic import BaseModel
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.training.maintenance import tune as maintenance_tune
from gridml.training.maintenance.pipeline import MaintenanceRunConfig
from gridml.training.theft import tune as theft_tune
from gridml.training.theft.pipeline import TheftRunConfig
from gridml.training.tracking import TrackingConfig
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@dataclass(frozen=True)
class Case:
    command: str
    run_config: type[MaintenanceRunConfig] | type[TheftRunConfig]
    small: Path
    tune_config: Callable[..., maintenance_tune.StudyConfig]
    tune: Callable
    tuned: tuple[str, ...]
    block: Callable[[BaseModel], BaseModel]  # the config block holding the tuned fields


CASES = [
    Case(
        "maintenance",
        MaintenanceRunConfig,
        EXPERIMENTS / "maintenance-small.yaml",
        maintenance_tune.MaintenanceTuneConfig,
        maintenance_tune.tune_maintenance,
        maintenance_tune.TUNED,
        lambda cfg: cfg.model,
    ),
    Case(
        "theft",
        TheftRunConfig,
        EXPERIMENTS / "theft-small.yaml",
        theft_tune.TheftTuneConfig,
        theft_tune.tune_theft,
        theft_tune.TUNED,
        lambda cfg: cfg.model.wide_deep,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.command for c in CASES])
@pytest.mark.usefixtures("clean_mlflow")
def test_tune_study_runs_tuned_config_and_resume(
    case: Case, medium_store: Workspace, tmp_path: Path
) -> None:
    unique = uuid.uuid4().hex[:8]  # the workspace is shared by the session's other tests
    cfg = case.run_config.read_yaml(case.small).model_copy(
        update={"tracking": TrackingConfig(experiment=f"tune-{case.command}-{unique}")}
    )
    tune = case.tune_config(
        trials=2, study_name=f"{case.command}-test-{unique}", output=tmp_path / "tuned.yaml"
    )

    result = case.tune(cfg, tune, medium_store)

    # the study, in the default storage, maximising the validation PR-AUC
    storage = f"sqlite:///{medium_store.root / 'optuna.db'}"
    study = optuna.load_study(study_name=tune.study_name, storage=storage)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert len(study.trials) == result.n_trials == 2
    assert result.best_value == pytest.approx(study.best_value)
    assert result.best_params == study.best_params
    assert set(result.best_params) == set(case.tuned)
    assert 0 < result.best_value <= 1

    # the tuned config: the input with the best parameters, loadable by `gridml train`
    tuned = case.run_config.read_yaml(result.output_path)
    block, base = case.block(tuned), case.block(cfg)
    assert block.model_dump(include=set(case.tuned)) == result.best_params
    assert block.model_dump(exclude=set(case.tuned)) == base.model_dump(exclude=set(case.tuned))
    assert tuned.model_dump(exclude={"model"}) == cfg.model_dump(exclude={"model"})
    assert [f for f in case.tuned if getattr(block, f) != getattr(base, f)]
    assert result.output_path.read_text().startswith("# ")  # where it comes from

    # MLflow: one parent run `tune-<command>`, a child run per trial with per-epoch curves
    client = MlflowClient()
    parent = client.get_run(result.parent_run_id)
    assert parent.info.run_name == f"tune-{case.command}"
    assert parent.data.tags["optuna.study_name"] == tune.study_name
    assert parent.data.metrics["best_value"] == pytest.approx(result.best_value)
    assert 0 < parent.data.metrics["valid.positive_rate"] < result.best_value
    assert parent.data.tags["gridml.feature_service"] == cfg.model.feature_service
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'",
    )
    assert {c.info.run_name for c in children} == {"trial-0", "trial-1"}
    for child in children:
        assert set(child.data.params) == set(case.tuned)
        assert child.data.tags["optuna.state"] == "COMPLETE"  # no pruning before 5 trials
        assert 0 < child.data.metrics["objective"] <= 1
        curve = client.get_metric_history(child.info.run_id, "valid_pr_auc")
        assert sorted(m.step for m in curve) == list(range(len(curve))) and curve

    # resume through the CLI: 1 more trial in the same study, with new parameters
    config_file = tmp_path / f"{case.command}.yaml"
    config_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    out = CliRunner().invoke(
        app,
        [
            *("tune", case.command, "--config", str(config_file), "--trials", "1"),
            *("--study-name", tune.study_name, "--output", str(tmp_path / "resumed.yaml")),
            *("--workspace", str(medium_store.root)),
        ],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    assert "3 trials in the study" in out.output and "validation PR-AUC" in out.output
    study = optuna.load_study(study_name=tune.study_name, storage=storage)
    assert len(study.trials) == 3
    assert all(t.params != study.trials[2].params for t in study.trials[:2])
    resumed = case.run_config.read_yaml(tmp_path / "resumed.yaml")
    assert case.block(resumed).model_dump(include=set(case.tuned)) == study.best_params
    runs = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.runName = 'tune-{case.command}'",
    )
    assert len(runs) == 2
