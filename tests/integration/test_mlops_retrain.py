"""Two `gridml retrain` processes at the same time on one registry (SQLite) and one Feast store:
both train and register their own version, the registry stays consistent, and promotions form
one chain (no two promotions from the same champion: the second job cannot overwrite the
first's promotion with a decision taken against the old champion)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gridml.mlops import audit
from gridml.mlops.config import PromotionConfig
from gridml.training.demand.config import DemandConfig
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
MODEL = "demand-forecast"


def test_two_retrains_at_once(store_ws: Workspace, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    cfg = PromotionConfig.read_yaml(ROOT / "experiments" / "promotion-small.yaml")
    db = tmp_path / "mlflow.db"
    cfg = cfg.model_copy(
        update={
            "audit_log": tmp_path / "promotions.jsonl",
            "tracking": cfg.tracking.model_copy(
                update={
                    "tracking_uri": f"sqlite:///{db}",
                    "artifact_root": str(tmp_path / "mlartifacts"),
                }
            ),
        }
    )
    path = tmp_path / "promotion.yaml"
    path.write_text(json.dumps(cfg.model_dump(mode="json")))  # JSON is YAML
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["GRIDML_USER"] = "scheduler"
    # the small demand config with the lightest backtest: the race, not the models, is tested
    train = DemandConfig.read_yaml(ROOT / "experiments" / "demand-small.yaml")
    light = train.model_copy(
        update={
            "models": ("seasonal_naive", "lightgbm"),
            "backtest": train.backtest.model_copy(update={"folds": 1, "fold_days": 1}),
        }
    )
    light.write_yaml(tmp_path / "demand.yaml")
    cmd = [sys.executable, "-m", "gridml.cli.main", "retrain", MODEL, "-c", str(path)]
    cmd += ["--train-config", str(tmp_path / "demand.yaml"), "--workspace", str(store_ws.root)]
    jobs = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [job.communicate(timeout=600)[0].decode() for job in jobs]
    codes = [job.returncode for job in jobs]
    assert all(c in (0, 1) for c in codes), outputs  # promoted or refused; never a crash
    assert 0 in codes, outputs  # the first promotion of the registry passes

    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions(f"name='{MODEL}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert {v.status for v in versions} == {"READY"}
    assert len({v.run_id for v in versions}) == 2

    records = audit.read(store_ws, MODEL, cfg.audit_log)
    assert len(records) == 2 and {r["user"] for r in records} == {"scheduler"}
    promoted = [r for r in records if r["outcome"] == "promoted"]
    sources = [r["from_version"] for r in promoted]
    assert len(sources) == len(set(sources)), promoted  # one promotion per champion at most
    assert promoted[0]["from_version"] is None
    for before, after in itertools.pairwise(promoted):
        assert after["from_version"] == before["to_version"]
    champion = int(client.get_registered_model(MODEL).aliases["champion"])
    assert champion == promoted[-1]["to_version"]
    for r in records:
        if r["outcome"] == "refused":
            assert "moved" in r["reason"] or any(not g["passed"] for g in r["gates"])
