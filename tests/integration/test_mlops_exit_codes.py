"""The MLOps commands' exit status tells a scheduler what happened (0 done, 1 refused or alert,
2 usage, 3 could not run), on a real registry and the real Feast store of the medium zone:

- a smoke config registers under its own name, so `promote --dry-run` never sees it as the
  production model (exit 3: no such model);
- `gridml monitor theft-detection` on a freshly trained model with no inspection outcome yet
  does not crash: live precision is "not enough data", no alert, exit 0;
- a usage error exits 2, a registry that cannot be read (a crash) exits 3 with its traceback.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.training import tracking
from gridml.training.theft.pipeline import TheftRunConfig, train_theft
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
EXP = ROOT / "experiments"
MODEL = "theft-detection"


@pytest.fixture(scope="module")
def uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('exit-codes') / 'mlflow.db'}"


def gridml(ws: Workspace, uri: str, *args: str):
    result = CliRunner().invoke(
        app, [*args, "--workspace", str(ws.root), "--tracking-uri", uri], catch_exceptions=False
    )
    return result.exit_code, result.output


def test_a_smoke_run_is_not_the_production_model(medium_store: Workspace, uri: str) -> None:
    code, out = gridml(medium_store, uri, "train", "theft", "-c", str(EXP / "theft-small.yaml"))
    assert code == 0, out
    assert f"registered {MODEL}-smoke v1" in out
    promo = str(EXP / "promotion-small.yaml")
    code, out = gridml(medium_store, uri, "promote", MODEL, "--dry-run", "-c", promo)
    assert code == 3 and f"no registered model '{MODEL}'" in out, out  # missing, not promoted
    code, out = gridml(medium_store, uri, "promote", f"{MODEL}-smoke", "--dry-run", "-c", promo)
    assert code == 2 and "no promotion gates" in out, out  # a usage error


def test_monitor_on_a_fresh_model_without_outcomes(medium_store: Workspace, uri: str) -> None:
    registry = tracking.TrackingConfig(tracking_uri=uri, experiment="exit-codes")
    cfg = TheftRunConfig.read_yaml(EXP / "theft-small.yaml", registered_model=MODEL)
    version = train_theft(cfg.model_copy(update={"tracking": registry}), medium_store).version
    assert not (medium_store.root / "outcomes").exists()
    code, out = gridml(medium_store, uri, "monitor", MODEL, "--version", str(version))
    assert code == 0, out  # no crash, no alert: nothing judged without outcomes
    assert "not enough data" in out
    live = pd.read_csv(medium_store.root / "monitoring" / MODEL / "live.csv")
    assert len(live) and (live["verdict"] == "not enough data").all() and live["n"].eq(0).all()
    drift = pd.read_csv(medium_store.root / "monitoring" / MODEL / "drift.csv")
    assert drift["judged"].any() and not drift["drifted"].any(), drift.head()


def test_usage_and_crash_exit_codes(medium_store: Workspace, uri: str, tmp_path: Path) -> None:
    code, out = gridml(medium_store, uri, "promote", MODEL, "--no-such-option")
    assert code == 2, out
    bad = tmp_path / "promotion.yaml"
    bad.write_text("models: {demand-forecast: {penalty_factor: 9}}\n")
    code, out = gridml(medium_store, uri, "promote", "demand-forecast", "-c", str(bad))
    assert code == 2 and "promotion.yaml" in out, out
    garbage = tmp_path / "mlflow.db"
    garbage.write_bytes(b"this is not a database" * 100)
    code, out = gridml(medium_store, f"sqlite:///{garbage}", "card", MODEL)
    assert code == 3, out  # a crash is never 1 (refused or alert)
    assert "Traceback" in out and "crashed" in out


def test_exit_codes_are_in_the_help() -> None:
    for command in ("promote", "rollback", "retrain", "card", "monitor"):
        out = " ".join(CliRunner().invoke(app, [command, "--help"]).output.split())
        assert "Exit status: 0 done" in out and "3 could not run" in out, command
