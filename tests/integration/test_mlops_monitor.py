"""`gridml monitor` on the real Feast store of the small zone: no drift and no live-accuracy
alert on the feed the model was trained on; drift and a MASE alert when the recent readings of
every meter are shifted up by half (a feed that changed unit or scaling), with the report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.io import parts, write_parquet_atomic
from gridml.mlops.config import MonitoringConfig
from gridml.mlops.monitor import monitor
from gridml.mlops.registry import version_info
from gridml.training import tracking
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.pipeline import train_demand
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
MODEL = "demand-forecast"
SHIFT = 1.5


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tracking.TrackingConfig:
    root = tmp_path_factory.mktemp("monitor-registry")
    return tracking.TrackingConfig(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_root=str(root / "mlartifacts"),
        experiment="monitor-tests",
    )


@pytest.fixture(scope="module")
def version(store_ws: Workspace, registry: tracking.TrackingConfig) -> int:
    cfg = DemandConfig.read_yaml(ROOT / "experiments" / "demand-small.yaml", holdout_days=7)
    return train_demand(cfg.model_copy(update={"tracking": registry}), store_ws).version


@pytest.fixture(scope="module")
def shifted_ws(store_ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The same zone with every reading of the last 10 days multiplied by SHIFT."""
    from gridml.features.store import repo
    from gridml.features.tables.build import build_tables

    ws = Workspace(tmp_path_factory.mktemp("shifted"))
    shutil.copytree(store_ws.feeds, ws.feeds)
    shutil.copytree(store_ws.labels, ws.labels)
    end = repo.zone_window(ws)[1]
    for part in parts(ws.feed_dir("readings")):
        frame = pd.read_parquet(part)
        recent = frame["timestamp"] >= end - pd.Timedelta(days=10)
        frame.loc[recent, "kwh"] *= SHIFT
        write_parquet_atomic(frame, part)
    build_tables(ws, progress=False)
    repo.apply_definitions(ws)
    return ws


def config() -> MonitoringConfig:
    return MonitoringConfig.read_yaml(ROOT / "experiments" / "monitoring.yaml")


def run(ws: Workspace, registry: tracking.TrackingConfig, version: int):
    tracking.configure(registry, ws)
    return monitor(ws, MODEL, version_info(MODEL, version), config().for_model(MODEL))


def test_unshifted_feed_raises_no_alert(store_ws, registry, version: int) -> None:
    result = run(store_ws, registry, version)
    assert set(result.drift["source"]) == {"recent window", "online store"}
    judged = result.drift[result.drift["judged"]]
    assert len(judged) > 100  # every load lag and profile feature of demand_forecast_v1
    assert not judged["drifted"].any(), judged.head()
    assert result.alerts == []
    assert len(result.live) == 7 and (result.live["metric"] == "mase").all()


def test_shifted_feed_drifts_and_alerts(shifted_ws, registry, version: int) -> None:
    result = run(shifted_ws, registry, version)
    drifted = set(result.drift.loc[result.drift["drifted"], "feature"])
    assert {"load_mean_24h", "load_mean_168h", "load_max_168h"} <= drifted
    assert any(a.startswith("live mase") for a in result.alerts)


def test_cli_writes_the_report_and_exits_non_zero_on_alert(
    shifted_ws, registry, version: int
) -> None:
    args = ["monitor", MODEL, "--version", str(version), "--workspace", str(shifted_ws.root)]
    result = CliRunner().invoke(app, [*args, "--tracking-uri", registry.tracking_uri])
    assert result.exit_code == 1, result.output
    report = shifted_ws.root / "monitoring" / MODEL / "report.html"
    page = report.read_text()
    assert "ALERT: drift: load" in page and "data:image/png;base64," in page
    drift = pd.read_csv(report.with_name("drift.csv"))
    recent = drift[drift["source"] == "recent window"].set_index("feature")
    assert recent.loc["load_mean_24h", "drifted"]
    from mlflow import MlflowClient

    uri = registry.tracking_uri
    runs = MlflowClient(uri, uri).search_runs(
        [MlflowClient(uri, uri).get_experiment_by_name("gridml-monitoring").experiment_id],
        "tags.`gridml.task` = 'monitoring'",
    )
    assert len(runs) == 1 and runs[0].data.metrics["psi.recent.load_mean_24h"] > 0.25
