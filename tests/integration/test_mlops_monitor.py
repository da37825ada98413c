"""`gridml monitor` on the real Feast store of the small zone: no drift, no train/serve skew and
no live-accuracy alert on the feed the model was trained on (a freshly trained model on
unchanged data); drift of the load families and a MASE alert when the recent readings of every
meter are shifted up by half (a feed that changed unit or scaling), with the report.

The small zone has 10 transformers: the recent window is 14 days here so that the transformer
level has the 100 rows a drift verdict needs (feeders, substations and the zone have too few:
"not enough data")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.io import parts, write_parquet_atomic
from gridml.mlops.config import MonitoringConfig
from gridml.mlops.monitor import monitor
from gridml.models.registry import version_info
from gridml.training import tracking
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.pipeline import train_demand
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
MODEL = "demand-forecast"
SHIFT = 1.5
RECENT_DAYS = 14


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
    cfg = DemandConfig.read_yaml(  # the smoke config, asked to register as MODEL
        ROOT / "experiments" / "demand-small.yaml", holdout_days=7, registered_model=MODEL
    )
    return train_demand(cfg.model_copy(update={"tracking": registry}), store_ws).version


@pytest.fixture(scope="module")
def shifted_ws(store_ws: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The same zone with every reading of the recent window (and the 3 days before it: the
    lags) multiplied by SHIFT."""
    from gridml.features.store import repo
    from gridml.features.tables.build import build_tables

    ws = Workspace(tmp_path_factory.mktemp("shifted"))
    shutil.copytree(store_ws.feeds, ws.feeds)
    shutil.copytree(store_ws.labels, ws.labels)
    end = repo.zone_window(ws)[1]
    for part in parts(ws.feed_dir("readings")):
        frame = pd.read_parquet(part)
        recent = frame["timestamp"] >= end - pd.Timedelta(days=RECENT_DAYS + 3)
        frame.loc[recent, "kwh"] *= SHIFT
        write_parquet_atomic(frame, part)
    build_tables(ws, progress=False)
    repo.apply_definitions(ws)
    return ws


def config() -> MonitoringConfig:
    cfg = MonitoringConfig.read_yaml(ROOT / "experiments" / "monitoring.yaml")
    demand = cfg.models[MODEL].model_copy(update={"recent_days": RECENT_DAYS})
    return cfg.model_copy(update={"models": cfg.models | {MODEL: demand}})


def run(ws: Workspace, registry: tracking.TrackingConfig, version: int):
    tracking.configure(registry, ws)
    return monitor(ws, MODEL, version_info(MODEL, version), config().for_model(MODEL))


def test_unshifted_feed_raises_no_alert(store_ws, registry, version: int) -> None:
    result = run(store_ws, registry, version)
    judged = result.drift[result.drift["judged"]]
    assert set(judged["level"]) == {"transformer"}  # the only level with 100 rows a side
    assert "load_Nh_ago" in set(judged["family"])  # 168 lags, one verdict
    families = result.drift.groupby("level")["family"].nunique()
    assert set(families.index) == {"transformer", "feeder", "substation", "zone"}
    assert families.max() < 30  # about 25 families per level, not 364 features
    assert not judged["drifted"].any(), judged.head()
    assert len(result.skew) and not result.skew["skewed"].any(), result.skew.head()
    assert result.alerts == []
    assert len(result.live) == RECENT_DAYS and (result.live["metric"] == "mase").all()
    assert (result.live["verdict"] == "ok").all()


def test_shifted_feed_drifts_and_alerts(shifted_ws, registry, version: int) -> None:
    result = run(shifted_ws, registry, version)
    drifted = result.drift[result.drift["drifted"]]
    assert {"load_mean_Nh", "load_max_Nh"} <= set(drifted["family"])
    assert set(drifted["level"]) == {"transformer"}
    assert any(a.startswith("drift: load_mean_Nh") for a in result.alerts)
    assert any(a.startswith("live mase") for a in result.alerts)


def test_cli_writes_the_report_and_exits_non_zero_on_alert(
    shifted_ws, registry, version: int, tmp_path: Path
) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text(json.dumps(config().model_dump(mode="json")))  # JSON is YAML
    args = ["monitor", MODEL, "--version", str(version), "--workspace", str(shifted_ws.root)]
    args += ["--config", str(path)]
    result = CliRunner().invoke(app, [*args, "--tracking-uri", registry.tracking_uri])
    assert result.exit_code == 1, result.output
    report = shifted_ws.root / "monitoring" / MODEL / "report.html"
    page = report.read_text()
    assert "ALERT: drift: load" in page and "data:image/png;base64," in page
    drift = pd.read_csv(report.with_name("drift.csv")).set_index(["level", "family"])
    assert drift.loc[("transformer", "load_mean_Nh"), "drifted"]
    from mlflow import MlflowClient

    uri = registry.tracking_uri
    runs = MlflowClient(uri, uri).search_runs(
        [MlflowClient(uri, uri).get_experiment_by_name("gridml-monitoring").experiment_id],
        "tags.`gridml.task` = 'monitoring'",
    )
    assert len(runs) == 1 and runs[0].data.metrics["psi.transformer.load_mean_Nh"] > 0.25
