"""`gridml train restoration` on the medium test zone: real MLflow tracking and registry, the
version registered as challenger with its contract, the pyfunc answering (and re-estimating as
the outage goes on) after a reload from the registry."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SMALL = Path(__file__).resolve().parents[2] / "experiments" / "restoration-small.yaml"


def test_train_register_and_reestimate(medium_zone: Workspace, tmp_path: Path) -> None:
    import mlflow
    from serving_server import GRIDML, clean_env

    from gridml.models import registry
    from gridml.models.contract import read as read_contract
    from gridml.training.restoration.dataset import FEATURES, load_outages
    from gridml.training.restoration.pipeline import model_input

    ws = Workspace(tmp_path / "ws")
    shutil.copytree(medium_zone.root, ws.root)
    out = subprocess.run(
        [GRIDML, "train", "restoration", "--config", str(SMALL), "-w", str(ws.root)],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Kaplan-Meier" in out.stdout + out.stderr

    uri = f"sqlite:///{ws.root.absolute() / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        model = mlflow.pyfunc.load_model(
            registry.model_uri("outage-restoration-smoke", "challenger")
        )
        run = registry.client().get_run(registry.run_id("outage-restoration-smoke", 1))
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    metrics = run.data.metrics
    for key in ("lightgbm.mae", "lightgbm.coverage", "kaplan_meier.mae"):
        assert np.isfinite(metrics[key]), key
    assert 0 <= metrics["lightgbm.coverage"] <= 1
    # the re-estimate given the elapsed time is never worse than the first estimate on the
    # held-out outages still open then
    checks = [k.rsplit("_", 1)[1] for k in metrics if k.startswith("lightgbm.mae_first_open_")]
    assert checks
    for t in checks:
        first = metrics[f"lightgbm.mae_first_open_{t}"]
        assert metrics[f"lightgbm.mae_reestimate_{t}"] <= first + 1e-9, t
    assert read_contract(model).features == FEATURES

    rows = load_outages(ws).tail(20).reset_index(drop=True)
    first = model.predict(model_input(rows))
    assert (first["p10_h"] <= first["p50_h"]).all() and (first["p50_h"] <= first["p90_h"]).all()
    later = model.predict(model_input(rows).assign(elapsed_h=3.0))
    assert (later["p10_h"] >= 3.0).all() and (later["p50_h"] >= first["p50_h"]).all()

    # the spec's evaluator (gridml promote): hold-out, scores of the model and the baseline
    from gridml.mlops.evaluate import predict_all
    from gridml.models.catalog import get

    ev = get("outage-restoration").make_evaluator()
    holdout = ev.holdout(ws, None, 45)
    assert holdout.rows == len(holdout.truth) and holdout.start > load_outages(ws)["start"].min()
    score = ev.score(holdout, predict_all(model, holdout)).overall
    base = ev.baseline(holdout).overall
    assert np.isfinite(score["mae"]) and np.isfinite(base["mae"]) and 0 <= score["coverage"] <= 1
