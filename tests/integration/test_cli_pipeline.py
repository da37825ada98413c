"""The demo path through the CLI on the small zone: generate -> validate -> build -> apply ->
materialize -> online -> training-set, plus the readings-only and no-leak cases."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.features.tables.build import build_tables
from gridml.io import read_parts
from gridml.workspace import Workspace

pytestmark = pytest.mark.integration
SMALL_ZONE = str(Path(__file__).resolve().parents[2] / "experiments" / "zone-small.yaml")


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_path_through_the_cli(tmp_path: Path) -> None:
    ws = ["--workspace", str(tmp_path)]
    generated = _run("data", "generate", "--config", SMALL_ZONE, *ws)
    assert "generated" in generated and "next:    gridml data validate" in generated
    assert "feeds conform" in _run("data", "validate", *ws)
    built = _run("features", "build", *ws)
    assert "meter_hourly" in built and "next:    gridml features apply" in built
    assert "demand_forecast_v1" in _run("features", "apply", *ws)
    materialized = _run("features", "materialize", *ws)
    assert "materialized" in materialized and "next:    gridml train demand" in materialized
    assert "load_kwh" in _run("features", "online", "demand_forecast_v1", *ws)
    entities = pd.DataFrame(
        {
            "transformer_id": ["T00001", "T00002"],
            "event_timestamp": pd.to_datetime(["2024-02-01", "2024-03-01"], utc=True),
        }
    )
    entities.to_csv(tmp_path / "entities.csv", index=False)
    out = tmp_path / "train.parquet"
    _run(
        "features",
        "training-set",
        "asset_failure_v1",
        "--entities",
        str(tmp_path / "entities.csv"),
        "--output",
        str(out),
        *ws,
    )
    frame = pd.read_parquet(out)
    assert len(frame) == 2 and frame["hot_spot_max_c"].notna().all()


def test_cli_reports_missing_prerequisites_without_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["features", "build", "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    assert "gridml data generate" in result.output


def test_features_do_not_depend_on_the_theft_labels(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    _run("data", "generate", "--config", SMALL_ZONE, "--workspace", str(tmp_path))
    build_tables(ws, progress=False)
    before = read_parts(ws.table_dir("meter_daily"))
    shutil.rmtree(ws.labels)
    build_tables(ws, progress=False)
    pd.testing.assert_frame_equal(before, read_parts(ws.table_dir("meter_daily")))


def test_readings_only_workspace_still_builds_every_view(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    _run("data", "generate", "--config", SMALL_ZONE, "--workspace", str(tmp_path))
    for feed in ws.feeds.iterdir():
        if feed.is_dir() and feed.name != "readings":
            shutil.rmtree(feed)
    counts = build_tables(ws, progress=False)
    assert counts["meter_hourly"] > 0 and counts["meter_daily"] > 0
    assert counts["transformer_daily"] == 0 and counts["weather_hourly"] == 0
