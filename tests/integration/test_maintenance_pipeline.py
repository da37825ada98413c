"""`gridml train maintenance` on a real Feast store and a real MLflow tracking store and registry,
over a copy of the medium zone (enough transformer-days for failures in every split)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.training.maintenance.pipeline import (
    MaintenanceRun,
    MaintenanceRunConfig,
    train_maintenance,
)
from gridml.workspace import Workspace

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "experiments" / "maintenance-small.yaml"
METRICS = (
    "pr_auc",
    "roc_auc",
    "precision_at_budget",
    "recall_at_budget",
    "false_alarms_per_100_years",
)


@pytest.fixture(scope="module")
def cfg() -> MaintenanceRunConfig:
    return MaintenanceRunConfig.read_yaml(SMALL)


@pytest.fixture(scope="module")
def maintenance_run(medium_store: Workspace, cfg: MaintenanceRunConfig) -> MaintenanceRun:
    return train_maintenance(cfg, medium_store)


def test_run_has_both_models_metrics_curves_plots_and_lineage(
    maintenance_run: MaintenanceRun,
) -> None:
    from mlflow.tracking import MlflowClient

    run_id = maintenance_run.run_id
    client = MlflowClient()
    run = client.get_run(run_id)
    for model in ("cnn", "lightgbm"):
        for name in METRICS:
            assert f"{model}.{name}" in run.data.metrics, f"{model}.{name}"
    assert run.data.metrics["cnn.pr_auc"] > run.data.metrics["cnn.positive_rate"]
    curve = client.get_metric_history(run_id, "cnn.train_loss")
    assert len(curve) >= 2 and sorted(m.step for m in curve) == list(range(len(curve)))
    artifacts = {a.path for a in client.list_artifacts(run_id, "evaluation")}
    assert {"evaluation/pr_curve.png", "evaluation/calibration.png"} <= artifacts
    assert run.data.tags["gridml.feature_service"] == "asset_failure_v1"
    assert len(run.data.tags["gridml.data_digest"]) == 16
    assert run.data.params["model.architecture"] == "cnn"
    assert run.inputs.dataset_inputs[0].dataset.digest


def test_registered_challenger_predicts_on_its_input_example(
    maintenance_run: MaintenanceRun, cfg: MaintenanceRunConfig
) -> None:
    import mlflow

    from gridml.training.tracking import resolve

    run = maintenance_run
    assert resolve(cfg.registered_model, ("challenger",)) == (run.version, "challenger")
    model = mlflow.pyfunc.load_model(f"models:/{cfg.registered_model}@challenger")
    example = run.input_example
    out = model.predict(example)
    assert list(out.columns) == ["transformer_id", "probability", "risk_band", "drivers"]
    assert set(out["transformer_id"]) == set(example["transformer_id"])
    p = out["probability"].to_numpy()
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    assert set(out["risk_band"]) <= {"low", "medium", "high"}
    assert (out["drivers"].str.len() > 0).all()
    # the input example stored with the model is the one it was logged with
    stored = mlflow.models.Model.load(run.model_uri).load_input_example(
        mlflow.artifacts.download_artifacts(run.model_uri)
    )
    assert len(stored) == len(example)
    # a transformer's prediction does not depend on the others in the frame
    one = example[example["transformer_id"] == example["transformer_id"].iloc[0]]
    np.testing.assert_allclose(model.predict(one)["probability"].iloc[0], p[0], rtol=1e-5)


def test_bad_maintenance_config_fails_fast(tmp_path: Path) -> None:
    path = tmp_path / "maintenance.yaml"
    path.write_text("model:\n  horizon_days: 0\n")
    result = CliRunner().invoke(
        app, ["train", "maintenance", "--config", str(path), "--workspace", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "horizon_days" in result.output and str(path) in result.output
    assert not (tmp_path / "mlflow.db").exists()
