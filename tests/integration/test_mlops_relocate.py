"""A copied workspace is independent: copy one with a trained, registered and promoted model
(MLflow's SQLite store and artifacts in the workspace, the real Feast store), delete the
original, then read features, load the champion, serve it (the Predictor in-process) and
promote from the copy; neither mlflow.db nor the Feast registry keeps a path into the
original."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.features.simulator.config import ZoneConfig
from gridml.features.simulator.generate import generate_zone
from gridml.features.store import repo
from gridml.features.tables.build import build_tables
from gridml.mlops.config import PromotionConfig
from gridml.mlops.promote import promote
from gridml.models.registry import aliases
from gridml.relocate import recorded_root
from gridml.training import tracking
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.pipeline import train_demand
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
MODEL = "demand-forecast"


def _sqlite_text(db: Path) -> str:
    con = sqlite3.connect(db)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def test_a_copied_workspace_serves_and_promotes_without_the_original(
    tmp_path: Path, clean_mlflow: None
) -> None:
    original = Workspace((tmp_path / "original").resolve())
    generate_zone(ZoneConfig.read_yaml(ROOT / "experiments" / "zone-small.yaml"), original)
    build_tables(original, progress=False)
    repo.apply_definitions(original)
    repo.materialize(original)
    # the workspace's own registry (sqlite:///WORKSPACE/mlflow.db, WORKSPACE/mlartifacts)
    cfg = DemandConfig.read_yaml(
        ROOT / "experiments" / "demand-small.yaml", holdout_days=7, registered_model=MODEL
    )
    cfg = cfg.model_copy(
        update={"backtest": cfg.backtest.model_copy(update={"folds": 1, "fold_days": 1})}
    )
    first = train_demand(cfg, original).version
    promo = PromotionConfig.read_yaml(ROOT / "experiments" / "promotion-small.yaml")
    assert promote(original, MODEL, promo).outcome == "promoted"
    source = str(original.root)
    assert source in _sqlite_text(original.root / "mlflow.db")  # absolute paths, as MLflow does

    copy = Workspace((tmp_path / "copy").resolve())
    shutil.copytree(original.root, copy.root)
    shutil.rmtree(original.root)

    # Feast: the registry's sources point into the copy (the original's files are gone)
    frame = repo.training_set(
        copy, "asset_failure_v1", _entities(copy, "transformer_id", "2024-03-01")
    )
    assert frame["loading_pct_mean"].notna().all()
    assert recorded_root(copy) == copy.root
    sources = [v.batch_source.path for v in repo.open_store(copy).list_feature_views()]
    assert sources and all(p.startswith(str(copy.root)) for p in sources), sources

    # MLflow: the champion loads and serves from the copy's artifacts
    tracking.configure(cfg.tracking, copy)
    assert source not in _sqlite_text(copy.root / "mlflow.db")
    from gridml.serving.config import ServingConfig
    from gridml.serving.predictor import Predictor

    predictor = Predictor(ServingConfig(), copy)
    answer = predictor.demand.forecast(["F001"], level="feeder", horizon=24)
    assert answer["model"]["version"] == first
    assert len(answer["forecasts"][0]["hours"]) == 24

    # promotion from the copy: a new version trained and evaluated there
    second = train_demand(cfg, copy).version
    decision = promote(copy, MODEL, promo, version=second)
    assert decision.outcome in ("promoted", "refused") and decision.evaluation.gates
    assert aliases(MODEL)["champion"] in (first, second)
    assert not original.root.exists()  # nothing wrote back into the original's place

    # explicit relocation: nothing left to do
    result = CliRunner().invoke(app, ["workspace", "relocate", "--workspace", str(copy.root)])
    assert result.exit_code == 0 and "nothing to do" in result.output, result.output


def _entities(ws: Workspace, key: str, day: str):
    import pandas as pd

    ids = pd.read_parquet(ws.feed_dir("transformers"))[key].head(5)
    return pd.DataFrame({key: ids, "event_timestamp": pd.Timestamp(day, tz="UTC")})
