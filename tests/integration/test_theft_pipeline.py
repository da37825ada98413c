"""`gridml train theft` on the medium zone: real Feast store, real MLflow tracking and registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridml.training.theft.pipeline import TheftRun, TheftRunConfig, train_theft
from gridml.workspace import Workspace

pytestmark = pytest.mark.integration
SMALL = Path(__file__).resolve().parents[2] / "experiments" / "theft-small.yaml"


@pytest.fixture(scope="module")
def cfg() -> TheftRunConfig:
    return TheftRunConfig.read_yaml(SMALL)


@pytest.fixture(scope="module")
def theft_run(medium_store: Workspace, cfg: TheftRunConfig) -> TheftRun:
    return train_theft(cfg, medium_store)


def test_run_has_both_models_metrics_plots_lineage_and_caveat(
    theft_run: TheftRun,
) -> None:
    from mlflow.tracking import MlflowClient

    run = theft_run
    client = MlflowClient()
    data = client.get_run(run.run_id)
    metrics = data.data.metrics
    for model in ("wide_deep", "lightgbm"):
        for name in (
            "roc_auc",
            "pr_auc",
            "precision_at_1pct",
            "precision_at_5pct",
            "map_at_100",
            "fit_seconds",
        ):
            assert f"{model}.{name}" in metrics, f"{model}.{name}"
        assert any(k.startswith(f"{model}.recall_") for k in metrics)
        assert 0.5 < metrics[f"{model}.roc_auc"] <= 1.0
    curve = client.get_metric_history(run.run_id, "wide_deep.fold0.epoch.val_pr_auc")
    assert len(curve) == sum(row["fold"] == 0 for row in run.history) >= 1
    artifacts = {a.path for a in client.list_artifacts(run.run_id, "evaluation")}
    assert {"evaluation/pr_curve.png", "evaluation/calibration.png"} <= artifacts
    tags = data.data.tags
    assert tags["gridml.feature_service"] == "theft_detection_v1"
    assert "synthetic" in tags["gridml.caveat"]
    assert "caveat.md" in {a.path for a in client.list_artifacts(run.run_id)}
    assert data.inputs.dataset_inputs[0].dataset.digest == tags["gridml.data_digest"]


def test_challenger_predicts_probabilities_ranks_and_reasons(
    theft_run: TheftRun, cfg: TheftRunConfig
) -> None:
    import mlflow
    from mlflow.models import Model

    from gridml.training.tracking import resolve

    run = theft_run
    assert resolve(cfg.registered_model, ("challenger",)) == (run.version, "challenger")
    uri = f"models:/{cfg.registered_model}@challenger"
    example = Model.load(uri).load_input_example(mlflow.artifacts.download_artifacts(uri))
    assert len(example) > 0
    out = mlflow.pyfunc.load_model(uri).predict(example)
    assert list(out.columns) == ["meter_id", "probability", "rank_in_transformer", "reason_codes"]
    assert len(out) == len(example)
    assert out["probability"].between(0, 1).all()
    assert (out["rank_in_transformer"] >= 1).all()
    assert (out["reason_codes"].str.len() > 0).all()


def test_registry_records_the_family_chosen_by_validation(
    theft_run: TheftRun, cfg: TheftRunConfig
) -> None:
    from gridml.mlops.card import served_model
    from gridml.models.registry import TAG_FAMILY, version_info

    run = theft_run
    val = {name: run.metrics[f"{name}.validation_pr_auc"] for name in ("wide_deep", "lightgbm")}
    best = max(val.values())
    assert val[run.family] == best
    if val["wide_deep"] == best:  # a tie goes to the PyTorch model
        assert run.family == "wide_deep"
    info = version_info(cfg.registered_model, run.version)
    assert info.version_tags[TAG_FAMILY] == info.run_tags[TAG_FAMILY] == run.family
    assert info.family == served_model(info) == run.family
    assert run.family in info.run_tags["gridml.family_choice"]
    for name in ("pr_auc", "roc_auc", "precision_at_share"):
        assert run.metrics[f"served.{name}"] == run.metrics[f"{run.family}.{name}"]
    assert run.metrics["served.family_wide_deep"] == float(run.family == "wide_deep")


@pytest.mark.parametrize("family", ["wide_deep", "lightgbm"])
def test_either_family_serves_through_the_pyfunc(
    theft_run: TheftRun, cfg: TheftRunConfig, medium_store: Workspace, family: str
) -> None:
    """Whichever family validation picks, its logged pyfunc scores as the fitted models do."""
    import mlflow
    import numpy as np

    from gridml.models.registry import TAG_FEATURE_SERVICE
    from gridml.training.theft import dataset
    from gridml.training.theft.pyfunc import log_theft_model, to_frame

    model = theft_run.models[family]
    samples, parts = dataset.labelled_split(medium_store, cfg.model)
    test = samples.take(parts.test[:300])
    with mlflow.start_run(run_name=f"pyfunc-{family}"):
        mlflow.set_tag(TAG_FEATURE_SERVICE, cfg.model.feature_service)  # what log_lineage tags
        uri = log_theft_model(model, test, samples.take(parts.train[:200]))
    out = mlflow.pyfunc.load_model(uri).predict(to_frame(test))
    np.testing.assert_allclose(out["probability"], model.predict_proba(test), atol=1e-6)
    assert len(model.members) == cfg.model.folds


def test_cli_trains_and_registers_a_new_challenger(
    medium_store: Workspace, theft_run: TheftRun, cfg: TheftRunConfig
) -> None:
    from typer.testing import CliRunner

    from gridml.cli.main import app
    from gridml.training.tracking import resolve

    result = CliRunner().invoke(
        app, ["train", "theft", "--config", str(SMALL), "--workspace", str(medium_store.root)]
    )
    assert result.exit_code == 0, result.output
    assert "wide_deep" in result.output and "lightgbm" in result.output
    version, _ = resolve(cfg.registered_model, ("challenger",))
    assert version == theft_run.version + 1


def test_bad_theft_config_fails_fast(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gridml.cli.main import app

    path = tmp_path / "theft.yaml"
    path.write_text("model:\n  weeks: 1\n")
    result = CliRunner().invoke(
        app, ["train", "theft", "--config", str(path), "--workspace", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "weeks" in result.output and str(path) in result.output
    assert not (tmp_path / "mlflow.db").exists()  # nothing started
