"""Promotion gates, rollback and the audit trail on a real MLflow registry (its own SQLite
store) and the real Feast store of the small zone: a good first challenger is promoted, a
deliberately crippled one and one with a broken signature are refused, rollback restores the
previous champion, every decision is audited."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.errors import UserError
from gridml.mlops import audit
from gridml.mlops.config import PromotionConfig
from gridml.mlops.promote import promote
from gridml.models.registry import aliases
from gridml.serving.config import ModelBinding
from gridml.serving.models import ModelSlot
from gridml.training import tracking
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.pipeline import train_demand
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
MODEL = "demand-forecast"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tracking.TrackingConfig:
    """A registry of this module's own (the shared store_ws keeps other tests' models)."""
    root = tmp_path_factory.mktemp("mlops-registry")
    return tracking.TrackingConfig(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_root=str(root / "mlartifacts"),
        experiment="mlops-tests",
    )


@pytest.fixture(scope="module")
def promo(registry: tracking.TrackingConfig, tmp_path_factory) -> PromotionConfig:
    log = tmp_path_factory.mktemp("audit") / "promotions.jsonl"
    return PromotionConfig.read_yaml(ROOT / "experiments" / "promotion-small.yaml").model_copy(
        update={"tracking": registry, "audit_log": log}
    )


def demand_cfg(registry: tracking.TrackingConfig, **overrides: object) -> DemandConfig:
    # the smoke config registered as the production model on purpose (its default: MODEL-smoke)
    cfg = DemandConfig.read_yaml(
        ROOT / "experiments" / "demand-small.yaml", holdout_days=7, registered_model=MODEL
    )
    return cfg.model_copy(update={"tracking": registry, **overrides})


@pytest.fixture(scope="module")
def good(store_ws: Workspace, registry: tracking.TrackingConfig) -> int:
    return train_demand(demand_cfg(registry), store_ws).version


@pytest.fixture(scope="module")
def first(store_ws: Workspace, promo: PromotionConfig, good: int):
    return promote(store_ws, MODEL, promo)


def test_first_promotion_passes_every_gate(first, good: int, promo: PromotionConfig) -> None:
    assert first.outcome == "promoted", [r for r in first.evaluation.gates if not r.passed]
    assert first.from_version is None and first.to_version == good
    assert aliases(MODEL)["champion"] == good
    names = {r.gate for r in first.evaluation.gates}
    assert {"contracts", "fresh", "holdout_unseen", "signature", "beats_baseline"} <= names
    scores = first.evaluation.scores
    assert scores["challenger"].overall["mase"] < scores["baseline"].overall["mase"]
    kinds = set(scores["challenger"].segments["kind"])
    assert kinds == {"level", "segment", "region_id"}


def test_promotion_is_audited(first, good: int, store_ws: Workspace, promo) -> None:
    from mlflow import MlflowClient

    tracking.configure(promo.tracking, store_ws)
    records = audit.read(store_ws, MODEL, promo.audit_log)
    last = records[-1]
    assert (last["action"], last["outcome"], last["to_version"]) == ("promote", "promoted", good)
    assert last["user"] and last["time"] and last["gates"]
    mv = MlflowClient().get_model_version(MODEL, str(good))
    assert mv.tags["gridml.promote.outcome"] == "promoted"
    files = [a.path for a in MlflowClient().list_artifacts(mv.run_id, "audit")]
    assert any(f.endswith(f"promote-v{good}.json") for f in files)


def test_worse_challenger_is_refused(first, store_ws, registry, promo, good: int) -> None:
    base = demand_cfg(registry)
    weak = {"n_estimators": 10, "learning_rate": 0.02, "num_leaves": 4}
    crippled = demand_cfg(
        registry,
        history_days=14,
        train_sample=0.1,
        lightgbm=base.lightgbm.model_copy(update=weak),
    )
    bad = train_demand(crippled, store_ws).version
    decision = promote(store_ws, MODEL, promo)
    assert decision.outcome == "refused" and decision.to_version == bad
    failed = {r.gate for r in decision.evaluation.gates if not r.passed}
    assert "beats_champion" in failed
    assert aliases(MODEL)["champion"] == good
    assert audit.read(store_ws, MODEL, promo.audit_log)[-1]["outcome"] == "refused"


def test_dry_run_moves_nothing(first, store_ws, promo, good: int) -> None:
    n = len(audit.read(store_ws, MODEL, promo.audit_log))
    decision = promote(store_ws, MODEL, promo, dry_run=True)
    assert decision.outcome == "dry-run"
    assert aliases(MODEL)["champion"] == good
    assert len(audit.read(store_ws, MODEL, promo.audit_log)) == n


def test_broken_signature_is_refused(first, store_ws, registry, promo, good: int) -> None:
    import mlflow
    from mlflow.models import infer_signature

    class Constant(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return pd.DataFrame({"series_id": model_input["series_id"], "yhat": 1.0})

    cfg = demand_cfg(registry)
    tracking.configure(registry, store_ws)
    example = pd.DataFrame({"series_id": ["zone:Z"], "horizon": [1], "bogus_feature": [1.0]})
    with mlflow.start_run():
        tracking.log_lineage(
            cfg,
            feature_service=cfg.feature_service,
            training_frame=example,
            dataset_name="broken",
            window=("2024-02-01", "2024-03-03"),
        )
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=Constant(),
            signature=infer_signature(example, Constant().predict(None, example)),
            input_example=example,
        )
    broken = tracking.register(info.model_uri, MODEL, "challenger")
    decision = promote(store_ws, MODEL, promo)
    assert decision.outcome == "refused" and decision.to_version == broken
    failed = {r.gate: r.detail for r in decision.evaluation.gates if not r.passed}
    assert "bogus_feature" in failed["signature"]
    assert "predictions" in failed  # it cannot score what serving sends either
    assert aliases(MODEL)["champion"] == good


def test_rollback_restores_the_previous_champion(first, store_ws, promo, good: int) -> None:
    from mlflow import MlflowClient

    # the same model registered again: scores tie with the champion, so every gate passes
    source = MlflowClient().get_model_version(MODEL, str(good))
    copy = int(MlflowClient().create_model_version(MODEL, source.source, source.run_id).version)
    decision = promote(store_ws, MODEL, promo, version=copy)
    assert decision.outcome == "promoted", [r for r in decision.evaluation.gates if not r.passed]
    assert aliases(MODEL)["champion"] == copy
    slot = ModelSlot("demand", ModelBinding(registered_model=MODEL))  # what serving polls
    assert slot.refresh() and (slot.current.version, slot.current.alias) == (copy, "champion")

    config = _config_file(promo)
    args = ["rollback", MODEL, "--workspace", str(store_ws.root), "--config", str(config)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert aliases(MODEL)["champion"] == good
    tracking.configure(promo.tracking, store_ws)
    assert slot.refresh() and slot.current.version == good  # serving follows the rollback
    last = audit.read(store_ws, MODEL, promo.audit_log)[-1]
    assert (last["action"], last["from_version"], last["to_version"]) == ("rollback", copy, good)
    mv = MlflowClient().get_model_version(MODEL, str(copy))
    assert mv.tags["gridml.rolled_back"] == "true"
    MlflowClient().set_registered_model_alias(MODEL, "challenger", str(copy))
    with pytest.raises(UserError, match="rolled back"):  # not re-promoted by accident
        promote(store_ws, MODEL, promo)


def _config_file(promo: PromotionConfig) -> Path:
    path = Path(promo.audit_log).with_name("promotion.yaml")
    path.write_text(json.dumps(promo.model_dump(mode="json")))  # JSON is YAML
    return path


def test_model_card_holds_lineage_and_segments(
    first, good: int, store_ws: Workspace, registry: tracking.TrackingConfig
) -> None:
    from mlflow import MlflowClient

    from gridml.mlops.card import write_card

    tracking.configure(registry, store_ws)
    card = write_card(store_ws, MODEL, good)
    text = card.markdown.read_text()
    run = MlflowClient().get_run(first.evaluation.challenger.run_id)
    for expected in (
        run.info.run_id,
        run.data.tags["gridml.git_commit"],
        run.data.tags["gridml.data_digest"],
        "demand_forecast_v1",
        "Intended use",
        "Limits and caveats",
        "holdout_days: 7",  # the training config
        "region_id",  # metrics by segment from the promotion evaluation
    ):
        assert expected in text, expected
    page = card.html.read_text()
    assert "data:image/png;base64," in page and run.info.run_id in page
    assert {"card/card.md", "card/card.html"} <= {
        a.path for a in MlflowClient().list_artifacts(run.info.run_id, "card")
    }


def test_a_decision_taken_against_an_old_champion_is_refused(
    first, good: int, store_ws: Workspace, promo: PromotionConfig
) -> None:
    """Two jobs assess the same champion; the first commits; the second must not overwrite."""
    from mlflow import MlflowClient

    from gridml.mlops.promote import assess, commit

    source = MlflowClient().get_model_version(MODEL, str(good))
    a, b = (
        int(MlflowClient().create_model_version(MODEL, source.source, source.run_id).version)
        for _ in range(2)
    )
    champion = aliases(MODEL)["champion"]
    first_job = assess(store_ws, MODEL, promo, version=a)
    second_job = assess(store_ws, MODEL, promo, version=b)
    assert first_job.outcome == second_job.outcome == "pending"
    assert commit(store_ws, promo, first_job).outcome == "promoted"
    late = commit(store_ws, promo, second_job)
    assert late.outcome == "refused" and "moved" in late.reason
    assert aliases(MODEL)["champion"] == a != champion
    last = audit.read(store_ws, MODEL, promo.audit_log)[-1]
    assert (last["outcome"], last["to_version"]) == ("refused", b)
    client = MlflowClient()
    assert client.get_model_version(MODEL, str(a)).tags["gridml.promote.outcome"] == "promoted"
    assert client.get_model_version(MODEL, str(b)).tags["gridml.promote.outcome"] == "refused"


def test_a_concurrent_decision_never_retags_the_champion(
    first, good: int, store_ws: Workspace, promo: PromotionConfig
) -> None:
    """Two jobs assess the same version; the first promotes it; the second's decision, taken
    against the old champion, moves nothing and leaves the champion's promotion tags alone."""
    from mlflow import MlflowClient

    from gridml.mlops.promote import assess, commit

    source = MlflowClient().get_model_version(MODEL, str(good))
    version = int(MlflowClient().create_model_version(MODEL, source.source, source.run_id).version)
    jobs = [assess(store_ws, MODEL, promo, version=version) for _ in range(2)]
    assert commit(store_ws, promo, jobs[0]).outcome == "promoted"
    tags = dict(MlflowClient().get_model_version(MODEL, str(version)).tags)
    late = commit(store_ws, promo, jobs[1])
    assert late.outcome == "unchanged" and "already the champion" in late.reason
    assert aliases(MODEL)["champion"] == version
    after = MlflowClient().get_model_version(MODEL, str(version)).tags
    assert after["gridml.promote.outcome"] == "promoted" and dict(after) == tags
    last = audit.read(store_ws, MODEL, promo.audit_log)[-1]
    assert (last["outcome"], last["to_version"]) == ("unchanged", version)  # still audited
