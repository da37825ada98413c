"""Promotion of the theft model on the medium zone: the held-out meters and days rebuilt by the
training code, scored by PR-AUC by customer segment and region against the energy-balance
baseline; the first promotion passes every gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridml.mlops.config import PromotionConfig
from gridml.mlops.promote import promote
from gridml.training import tracking
from gridml.training.theft.pipeline import TheftRunConfig, train_theft
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
MODEL = "theft-detection"


def test_theft_promotion(medium_store: Workspace, tmp_path: Path) -> None:
    registry = tracking.TrackingConfig(
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        artifact_root=str(tmp_path / "mlartifacts"),
        experiment="mlops-theft",
    )
    run_cfg = TheftRunConfig.read_yaml(  # the smoke config, asked to register as MODEL
        ROOT / "experiments" / "theft-small.yaml", registered_model=MODEL
    )
    train_theft(run_cfg.model_copy(update={"tracking": registry}), medium_store)
    promo = PromotionConfig.read_yaml(ROOT / "experiments" / "promotion-small.yaml")
    promo = promo.model_copy(update={"tracking": registry, "audit_log": tmp_path / "a.jsonl"})

    first = promote(medium_store, MODEL, promo)
    assert first.outcome == "promoted", [g for g in first.evaluation.gates if not g.passed]
    scores = first.evaluation.scores
    assert scores["challenger"].overall["pr_auc"] > scores["baseline"].overall["pr_auc"]
    assert set(scores["challenger"].segments["kind"]) == {"segment", "region_id"}
    assert first.evaluation.holdout.rows == scores["challenger"].overall["samples"]
