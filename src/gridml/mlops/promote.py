"""Move the `champion` alias: promote a challenger when every gate passes, or roll back.

One promotion at most under concurrency: the evaluation runs unlocked (it takes seconds to
minutes), then the alias move happens under an exclusive file lock beside the registry's
SQLite file (`mlflow.db.promote.lock`; in the workspace for other back ends, single host)
after re-checking that the champion did not move while evaluating. Every decision is audited
(`audit`). Serving follows the alias (it polls `models:/<name>@champion`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gridml.errors import UserError
from gridml.io import file_lock
from gridml.mlops import audit
from gridml.mlops.config import PromotionConfig
from gridml.mlops.evaluate import Evaluation, evaluate
from gridml.models.registry import CHALLENGER, CHAMPION, aliases, client, version_info
from gridml.training import tracking
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
TAG_PREVIOUS = "gridml.previous_champion"
TAG_ROLLED_BACK = "gridml.rolled_back"


@dataclass
class Decision:
    model: str
    outcome: str  # "pending" | "promoted" | "refused" | "unchanged" | "dry-run" | "rolled-back"
    from_version: int | None
    to_version: int
    evaluation: Evaluation | None = None
    reason: str = ""

    @property
    def moved(self) -> bool:
        return self.outcome in ("promoted", "rolled-back")


def lock_path(ws: Workspace, cfg: PromotionConfig) -> Path:
    """The promotion lock: beside the registry's SQLite file, else in the workspace."""
    targets = cfg.tracking.targets(ws, environ=tracking.user_environ())
    db = tracking.sqlite_path(targets.registry_uri)
    if db is not None:
        return db.with_name(db.name + ".promote.lock")
    return ws.root / "locks" / "promote.lock"


@contextlib.contextmanager
def promotion_lock(ws: Workspace, cfg: PromotionConfig) -> Iterator[None]:
    """Hold the workspace's promotion lock while the block runs."""
    with file_lock(lock_path(ws, cfg)):
        yield


def contract_errors(ws: Workspace, cfg: PromotionConfig) -> list[str] | None:
    """Data contract errors of the workspace (None when the config does not validate them)."""
    if not cfg.validate_contracts:
        return None
    from gridml.features.validate import validate_workspace

    return validate_workspace(ws).errors


def _record(ws: Workspace, cfg: PromotionConfig, decision: Decision, run_id: str | None) -> None:
    """Audit a decision (under the promotion lock). The version's `gridml.promote.*` tags say
    what last happened to it, so a decision that moved nothing never tags the current champion:
    a refusal or a no-op taken by a concurrent job would otherwise overwrite the tags of the
    promotion that made it champion."""
    ev = decision.evaluation
    record = audit.entry(
        "rollback" if decision.outcome == "rolled-back" else "promote",
        decision.model,
        decision.outcome,
        decision.from_version,
        decision.to_version,
        [r.to_dict() for r in ev.gates] if ev else [],
        reason=decision.reason,
        evaluation=ev.to_dict() if ev else None,
    )
    audit.append(ws, record, cfg.audit_log)
    tag = decision.moved or aliases(decision.model).get(CHAMPION) != decision.to_version
    audit.record_in_mlflow(record, run_id, tag_version=tag)


def assess(ws: Workspace, model: str, cfg: PromotionConfig, version: int | None = None) -> Decision:
    """Evaluate `version` (default: the challenger) against the current champion; nothing is
    moved or recorded (outcome "pending", or "refused" when a gate fails)."""
    tracking.configure(cfg.tracking, ws)
    gates_cfg = cfg.gates(model)
    current = aliases(model)
    explicit = version is not None
    if version is None:
        if CHALLENGER not in current:
            raise UserError(f"{model} has no challenger: train one or pass --version")
        version = current[CHALLENGER]
    champion_v = current.get(CHAMPION)
    if version == champion_v:
        raise UserError(f"{model} v{version} is already the champion")
    challenger = version_info(model, version)
    if not explicit and challenger.version_tags.get(TAG_ROLLED_BACK) == "true":
        raise UserError(
            f"{model} v{version} (the challenger) was rolled back: pass --version {version} "
            "to evaluate it again, or train a new challenger"
        )
    champion = version_info(model, champion_v) if champion_v is not None else None
    ev = evaluate(ws, model, challenger, champion, gates_cfg, contract_errors(ws, cfg))
    decision = Decision(model, "pending", champion_v, version, ev)
    if not ev.passed:
        decision.outcome = "refused"
        decision.reason = "gates failed: " + ", ".join(r.gate for r in ev.gates if not r.passed)
    return decision


def commit(ws: Workspace, cfg: PromotionConfig, decision: Decision) -> Decision:
    """Record an assessed decision; move `champion` if it passed and the champion is still the
    one it was evaluated against (checked under the promotion lock)."""
    model, version = decision.model, decision.to_version
    run_id = decision.evaluation.challenger.run_id if decision.evaluation else None
    with promotion_lock(ws, cfg):
        if decision.outcome == "pending":
            now = aliases(model).get(CHAMPION)
            if now == version:  # a concurrent job promoted this very version meanwhile
                decision.outcome = "unchanged"
                decision.reason = f"v{version} is already the champion (a concurrent promotion)"
            elif now != decision.from_version:
                decision.outcome = "refused"
                decision.reason = (
                    f"the champion moved from v{decision.from_version} to v{now} while "
                    f"v{version} was being evaluated: evaluate again against the new champion"
                )
            else:
                c = client()
                if decision.from_version is not None:
                    c.set_model_version_tag(
                        model, str(version), TAG_PREVIOUS, str(decision.from_version)
                    )
                c.set_registered_model_alias(model, CHAMPION, str(version))
                decision.outcome = "promoted"
                log.info("%s: champion v%s -> v%s", model, decision.from_version, version)
        _record(ws, cfg, decision, run_id)
    return decision


def promote(
    ws: Workspace,
    model: str,
    cfg: PromotionConfig,
    version: int | None = None,
    dry_run: bool = False,
) -> Decision:
    """Evaluate `version` (default: the challenger) against the champion; move `champion` to it
    when every gate passes (and not `dry_run`). Refusals are audited too; dry runs are not."""
    decision = assess(ws, model, cfg, version)
    if dry_run:
        decision.outcome = "dry-run"
        return decision
    return commit(ws, cfg, decision)


def rollback(ws: Workspace, model: str, cfg: PromotionConfig) -> Decision:
    """Move `champion` back to the version it replaced (recorded on the current champion)."""
    tracking.configure(cfg.tracking, ws)
    with promotion_lock(ws, cfg):
        champion_v = aliases(model).get(CHAMPION)
        if champion_v is None:
            raise UserError(f"{model} has no champion to roll back")
        mv = client().get_model_version(model, str(champion_v))
        previous = mv.tags.get(TAG_PREVIOUS)
        if not previous:
            raise UserError(
                f"{model} v{champion_v} replaced no earlier champion: nothing to roll back to"
            )
        target = version_info(model, int(previous))
        c = client()
        c.set_registered_model_alias(model, CHAMPION, str(target.version))
        c.set_model_version_tag(model, str(champion_v), TAG_ROLLED_BACK, "true")
        decision = Decision(
            model,
            "rolled-back",
            champion_v,
            target.version,
            reason=f"rolled back from v{champion_v}",
        )
        _record(ws, cfg, decision, target.run_id)
    log.info("%s: champion rolled back v%s -> v%s", model, champion_v, target.version)
    return decision
