"""`gridml retrain`: the weekly job a scheduler runs: materialize the newest features into the
online store, train the model with its training config, evaluate the new version against the
champion and promote it when every gate passes.

Safe to run twice at the same time: materialization runs under a file lock (the SQLite online
store takes one writer), MLflow's SQLite store is in WAL mode with a busy timeout (each run
registers its own version), and `promote` moves the alias under the promotion lock after
re-checking the champion, so no promotion is lost or doubled: the second job either finds the
champion it evaluated against has moved (refused: evaluate again) or evaluates against the
first job's champion.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridml.errors import UserError
from gridml.io import file_lock
from gridml.mlops.config import PromotionConfig
from gridml.mlops.promote import Decision, promote
from gridml.models import catalog
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
SMOKE_SUFFIX = "-smoke"  # smoke configs register as MODEL-smoke (experiments/*-small.yaml)


@dataclass
class Retrained:
    model: str
    version: int
    run_id: str
    decision: Decision


def training_config(model: str, path: Path, cfg: PromotionConfig) -> Any:
    """The model's run config from `path`, pointed at the promotion config's stores and
    registering under `model`; a model whose spec names a `holdout_field` (demand) keeps the
    promotion hold-out out of its final model.

    A smoke config (`registered_model: MODEL-smoke`, experiments/*-small.yaml) is accepted: a
    retrain of MODEL with it is the explicit request to register it as MODEL (tests, the small
    promotion config)."""
    spec = catalog.get(model)
    run_cfg = spec.read_config(path)
    if run_cfg.registered_model not in (model, f"{model}{SMOKE_SUFFIX}"):
        raise UserError(
            f"{path}: registers {run_cfg.registered_model!r}, not {model!r} (registered_model)"
        )
    update: dict[str, Any] = {"registered_model": model}
    t = cfg.tracking
    if t.tracking_uri or t.registry_uri or t.artifact_root:
        update["tracking"] = run_cfg.tracking.model_copy(
            update={
                "tracking_uri": t.tracking_uri,
                "registry_uri": t.registry_uri,
                "artifact_root": t.artifact_root,
            }
        )
    if spec.holdout_field is not None:
        days = getattr(run_cfg, spec.holdout_field)
        update[spec.holdout_field] = max(days, cfg.gates(model).holdout_days)
    return run_cfg.model_copy(update=update)


def materialize_newest(ws: Workspace) -> None:
    """Load the newest feature values into the online store (one writer at a time)."""
    from gridml.features.store import repo

    with file_lock(ws.feature_repo / ".materialize.lock"):
        repo.materialize(ws)


def retrain(
    ws: Workspace,
    model: str,
    cfg: PromotionConfig,
    train_config: Path | None = None,
    materialize: bool = True,
) -> Retrained:
    """Train a new version of a model (materialising the newest features first), then run its
    promotion; the version, its run and the decision."""
    path = train_config or cfg.gates(model).train_config
    run_cfg = training_config(model, path, cfg)
    if materialize:
        materialize_newest(ws)
    run = catalog.get(model).train(run_cfg, ws)
    log.info("%s: trained v%s (run %s); evaluating", model, run.version, run.run_id)
    decision = promote(ws, model, cfg, version=run.version)
    return Retrained(model, run.version, run.run_id, decision)
