"""`gridml tune demand` on the small zone: an Optuna study in the workspace's SQLite storage,
one MLflow parent run with a child run per trial, the tuned config written and resumable."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.config import ConfigError
from gridml.training.demand.config import (
    BacktestConfig,
    DemandConfig,
    IssueConfig,
    LightGBMConfig,
)
from gridml.training.demand.tune import TuneConfig, tune_demand
from gridml.training.tracking import TrackingConfig
from gridml.training.tuning import redact
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _config(experiment: str) -> DemandConfig:
    """A backtest the small zone (70 days) holds: 2 folds of 3 days, 30 days of history."""
    return DemandConfig(
        history_days=30,
        horizon_hours=24,
        issue=IssueConfig(time=dt.time(0, 0), delivery_start_days=0),  # the same day
        models=("seasonal_naive", "lightgbm"),
        backtest=BacktestConfig(folds=2, fold_days=3),
        # one thread: OpenMP threads on a busy CI box cost far more than they save here
        lightgbm=LightGBMConfig(n_estimators=20, num_threads=1),
        tracking=TrackingConfig(experiment=experiment),
    )


@pytest.mark.usefixtures("clean_mlflow")
def test_tune_demand_study_runs_and_resume(store_ws: Workspace, tmp_path: Path) -> None:
    unique = uuid.uuid4().hex[:8]  # the workspace is shared by the session's other tests
    cfg = _config(f"tune-test-{unique}")
    # n_startup_trials 5 > 4 + 2: every trial samples at random, and the resumed ones must not
    # replay the first ones (the sampler is seeded past the trials the study holds)
    tune = TuneConfig(trials=4, study_name=f"demand-test-{unique}", output=tmp_path / "t.yaml")

    result = tune_demand(cfg, tune, store_ws)

    # the study, in the default storage: the workspace's optuna.db
    storage = f"sqlite:///{store_ws.root / 'optuna.db'}"
    study = optuna.load_study(study_name=tune.study_name, storage=storage)
    assert len(study.trials) == result.n_trials == 4
    assert result.n_pruned == sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    assert result.best_value == pytest.approx(study.best_value)
    assert result.best_params == study.best_params
    assert 0 < result.best_value < 5

    # the tuned config: the input with the best LightGBM parameters, loadable for training
    assert result.output_path == tune.output
    tuned = DemandConfig.read_yaml(result.output_path)
    assert tuned.lightgbm == LightGBMConfig(**(cfg.lightgbm.model_dump() | result.best_params))
    assert tuned.lightgbm.num_threads == 1  # untuned fields are kept
    assert tuned.model_dump(exclude={"lightgbm"}) == cfg.model_dump(exclude={"lightgbm"})

    # MLflow: one parent run `tune-demand` with a child run per trial
    client = MlflowClient()
    parent = client.get_run(result.parent_run_id)
    assert parent.info.run_name == "tune-demand"
    assert parent.data.tags["optuna.study_name"] == tune.study_name
    assert parent.data.tags["optuna.storage"] == storage
    assert parent.data.metrics["best_value"] == pytest.approx(result.best_value)
    for name, value in result.best_params.items():
        assert parent.data.params[f"best.{name}"] == str(value)
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{result.parent_run_id}'",
    )
    assert len(children) == 4
    assert {c.info.run_name for c in children} == {f"trial-{i}" for i in range(4)}
    for child in children:
        assert set(child.data.params) == set(result.best_params)
        assert child.data.tags["optuna.state"] in {"COMPLETE", "PRUNED"}
        history = client.get_metric_history(child.info.run_id, "feeder.mase")
        assert [m.step for m in history] == (
            [0, 1] if child.data.tags["optuna.state"] == "COMPLETE" else [0]
        )

    # resume through the CLI: 2 more trials in the same study
    config_file = tmp_path / "demand.yaml"
    config_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    out = CliRunner().invoke(
        app,
        [
            "tune",
            "demand",
            "--config",
            str(config_file),
            "--trials",
            "2",
            "--study-name",
            tune.study_name,
            "--output",
            str(tmp_path / "resumed.yaml"),
            "--workspace",
            str(store_ws.root),
        ],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    assert "6 trials in the study" in out.output and "learning_rate" in out.output
    study = optuna.load_study(study_name=tune.study_name, storage=storage)
    assert len(study.trials) == 6
    resumed = DemandConfig.read_yaml(tmp_path / "resumed.yaml")
    assert resumed.lightgbm.model_dump(include=set(study.best_params)) == study.best_params
    first, second = study.trials[:4], study.trials[4:]
    assert all(a.params != b.params for a in first for b in second)
    runs = client.search_runs(
        [parent.info.experiment_id], filter_string="tags.mlflow.runName = 'tune-demand'"
    )
    assert len(runs) == 2


def test_tune_demand_refuses_configs_it_cannot_tune(tmp_path: Path) -> None:
    no_lgbm = _config("unused").model_copy(update={"models": ("seasonal_naive", "prophet")})
    config_file = tmp_path / "demand.yaml"
    config_file.write_text(yaml.safe_dump(no_lgbm.model_dump(mode="json")))
    out = CliRunner().invoke(
        app, ["tune", "demand", "--config", str(config_file), "--workspace", str(tmp_path)]
    )
    assert out.exit_code == 2
    assert "models must include lightgbm" in out.output
    no_feeders = _config("unused").model_copy(update={"levels": ("zone",)})
    with pytest.raises(ConfigError, match="objective level 'feeder'"):
        tune_demand(no_feeders, TuneConfig(), Workspace(tmp_path))
    assert not list(tmp_path.glob("*.db"))  # refused before creating any store


def test_storage_urls_are_logged_without_password() -> None:
    assert (
        redact("postgresql://tuner:s3cret@db:5432/optuna")
        == "postgresql://tuner:***@db:5432/optuna"
    )
    assert redact("sqlite:////ws/optuna.db") == "sqlite:////ws/optuna.db"
