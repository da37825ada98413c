"""`gridml train demand` on a real Feast store and a real MLflow tracking store and registry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.config import ConfigError
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import design, load_demand_data
from gridml.training.demand.features import INPUT_COLUMNS
from gridml.training.demand.pipeline import DemandRun, check_config_against_data, train_demand
from gridml.workspace import Workspace

pytestmark = pytest.mark.integration
SMALL = Path(__file__).resolve().parents[2] / "experiments" / "demand-small.yaml"


@pytest.fixture(scope="module")
def cfg() -> DemandConfig:
    return DemandConfig.read_yaml(SMALL)


@pytest.fixture(scope="module")
def demand_run(store_ws: Workspace, cfg: DemandConfig) -> DemandRun:
    return train_demand(cfg, store_ws)


def test_run_is_tracked_with_metrics_plots_and_lineage(demand_run: DemandRun) -> None:
    from mlflow.tracking import MlflowClient

    run = MlflowClient().get_run(demand_run.run_id)
    assert run.data.tags["gridml.feature_service"] == "demand_forecast_v1"
    assert len(run.data.tags["gridml.data_digest"]) == 16
    assert "gridml.git_commit" in run.data.tags
    for model in ("seasonal_naive", "profile", "lightgbm"):
        assert f"{model}.feeder.mase" in run.data.metrics
    assert "reconciliation.mint_shrink.feeder.mase" in run.data.metrics
    artifacts = {a.path for a in MlflowClient().list_artifacts(demand_run.run_id, "evaluation")}
    assert {
        "evaluation/forecast_vs_actual.png",
        "evaluation/error_profiles.png",
        "evaluation/feature_importance.png",
        "evaluation/backtest_summary.csv",
        "evaluation/backtest_forecasts.parquet",
        "evaluation/skill_by_lead_time.csv",
        "evaluation/worst_days.png",
    } <= artifacts
    assert run.inputs.dataset_inputs[0].dataset.digest  # training data lineage


def test_model_is_registered_as_challenger(demand_run: DemandRun, cfg: DemandConfig) -> None:
    from gridml.training.tracking import resolve

    version, alias = resolve(cfg.registered_model, ("challenger",))
    assert (version, alias) == (demand_run.version, "challenger")


def test_lightgbm_beats_the_seasonal_naive_even_on_a_tiny_zone(demand_run: DemandRun) -> None:
    assert demand_run.backtest.metric("lightgbm", "feeder", "mase_vs_naive") < 1.0
    band = demand_run.backtest.summary
    assert (band["coverage"].dropna().between(0.4, 1.0)).all()


def test_reloaded_model_reproduces_predictions_in_a_fresh_process(
    demand_run: DemandRun, store_ws: Workspace, cfg: DemandConfig, tmp_path: Path
) -> None:
    import mlflow

    data = load_demand_data(store_ws, cfg)
    origins = pd.DatetimeIndex(sorted(data.origins["origin"].unique()))[-3:-1]
    inputs = design(data, cfg, origins, keep_inputs=True).inputs[INPUT_COLUMNS]
    here = mlflow.pyfunc.load_model(f"models:/{cfg.registered_model}@challenger").predict(inputs)
    assert (here["q10"] <= here["q50"]).all() and (here["q50"] <= here["q90"]).all()
    inputs.to_parquet(tmp_path / "in.parquet")
    script = (
        "import mlflow, pandas as pd, sys;"
        f"mlflow.set_tracking_uri({mlflow.get_tracking_uri()!r});"
        f"m = mlflow.pyfunc.load_model('models:/{cfg.registered_model}@challenger');"
        f"m.predict(pd.read_parquet({str(tmp_path / 'in.parquet')!r}))"
        f".to_parquet({str(tmp_path / 'out.parquet')!r})"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    there = pd.read_parquet(tmp_path / "out.parquet")
    np.testing.assert_allclose(there[["q10", "q50", "q90"]], here[["q10", "q50", "q90"]])


def test_a_backtest_outside_the_data_fails_before_any_work(
    store_ws: Workspace, cfg: DemandConfig
) -> None:
    late = cfg.model_copy(
        update={"backtest": cfg.backtest.model_copy(update={"end": "2030-01-01"})}
    )
    with pytest.raises(ConfigError, match="outside the data"):
        check_config_against_data(late, store_ws)
    long = cfg.model_copy(
        update={
            "history_days": 30,
            "backtest": cfg.backtest.model_copy(update={"folds": 20, "fold_days": 7}),
        }
    )
    with pytest.raises(ConfigError, match=r"do not fit|training days"):
        check_config_against_data(long, store_ws)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("horizon_hours: 0\n", "horizon_hours: Input should be greater than or equal to 1"),
        ("quantiles: [0.1, 0.5, 1.5]\n", "strictly between 0 and 1"),
        ("quantiles: [0.1, 0.9]\n", "must include 0.5"),
        ("modelz: [lightgbm]\n", "modelz: Extra inputs are not permitted"),
        ("models: [seasonal_naive]\n", "must include lightgbm or prophet"),
    ],
)
def test_bad_demand_configs_fail_fast(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "demand.yaml"
    path.write_text(text)
    result = CliRunner().invoke(
        app, ["train", "demand", "--config", str(path), "--workspace", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert message in result.output and str(path) in result.output
    assert not (tmp_path / "mlflow.db").exists()  # nothing started


def test_zone_json_is_what_the_pipeline_checks(store_ws: Workspace) -> None:
    zone = json.loads(store_ws.zone_file.read_text())
    assert pd.Timestamp(zone["end"]) > pd.Timestamp(zone["start"])


def test_meters_that_want_it_get_their_own_forecast(
    store_ws: Workspace, cfg: DemandConfig, tmp_path: Path
) -> None:
    import shutil

    from gridml.features.store import repo
    from gridml.features.tables.build import build_tables
    from gridml.training.demand.backtest import run_backtest

    ws = Workspace(tmp_path)
    shutil.copytree(store_ws.feeds, ws.feeds)
    build_tables(ws, progress=False, meter_series=("M000001", "M000002", "M000003"))
    repo.apply_definitions(ws)
    raw = cfg.model_dump()
    raw.update(levels=["meter", "transformer"], models=["seasonal_naive", "lightgbm"])
    small = DemandConfig.model_validate(raw)
    result = run_backtest(load_demand_data(ws, small), small)
    meters = result.predictions[result.predictions["level"] == "meter"]
    assert set(meters["series_id"]) == {"meter:M000001", "meter:M000002", "meter:M000003"}
    assert np.isfinite(result.metric("lightgbm", "meter", "mase"))
