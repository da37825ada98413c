"""Champion vs challenger on exactly the same, most recent hold-out rows.

Each registered model has an `Evaluator` (named by its spec, `gridml.models`): it rebuilds the
hold-out through the model's own FeatureService and training code, with
the challenger's training config (read back from its run), in the layout serving sends, and
scores predictions overall and by segment. `evaluate` loads both versions with
`mlflow.pyfunc.load_model`, scores them and a simple baseline on the same rows, times a
serving-sized request and judges every gate (`gates`).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridml.mlops import gates as g
from gridml.mlops.config import ModelGates
from gridml.models import catalog
from gridml.models.registry import VersionInfo, frame_schema, signature_columns
from gridml.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass
class Holdout:
    """The rows both versions are scored on, in the layout serving sends."""

    batches: list[pd.DataFrame]  # model inputs (one predict call each)
    truth: Any  # evaluator-specific: what the predictions are scored against
    start: pd.Timestamp
    end: pd.Timestamp
    rows: int
    request: pd.DataFrame  # one serving-sized request (latency)
    data_end: pd.Timestamp  # newest data in the workspace
    description: str = ""


@dataclass
class Score:
    """Metrics of one model on the hold-out: overall and the primary metric by segment."""

    overall: dict[str, float]
    segments: pd.DataFrame  # gates.SEGMENT_COLUMNS


class Evaluator(ABC):
    """How one registered model is evaluated; subclasses are small and stateless."""

    metric: str  # primary metric (gated)
    higher_is_better: bool
    baseline_name: str
    value_column: str  # the prediction column checked against physical bounds
    required_outputs: tuple[str, ...]  # what serving reads from the output
    shown_metrics: tuple[str, ...]  # rows of the side-by-side table

    @abstractmethod
    def holdout(self, ws: Workspace, cfg: Any, days: int) -> Holdout: ...

    @abstractmethod
    def score(self, holdout: Holdout, predictions: list[pd.DataFrame]) -> Score: ...

    @abstractmethod
    def baseline(self, holdout: Holdout) -> Score: ...

    def peak(self, holdout: Holdout) -> np.ndarray | None:
        """Per prediction row: the recent physical peak (forecasts only)."""
        return None


def evaluator(model: str) -> Evaluator:
    """The evaluator the model's spec names (UserError for an unknown model)."""
    ev = catalog.get(model).make_evaluator()
    if not isinstance(ev, Evaluator):
        raise TypeError(f"{model}: the spec's evaluator is not a gridml.mlops.evaluate.Evaluator")
    return ev


def predict_all(model: Any, holdout: Holdout) -> list[pd.DataFrame]:
    """The model's predictions of each hold-out batch."""
    return [model.predict(batch) for batch in holdout.batches]


def request_latency_ms(model: Any, request: pd.DataFrame, repeats: int) -> list[float]:
    """Latency in ms of `repeats` predictions of one request, after a warm-up call."""
    model.predict(request)  # warm-up (lazy imports, thread pools)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict(request)
        out.append((time.perf_counter() - t0) * 1000)
    return out


@dataclass
class Evaluation:
    """Everything a promotion decision rests on."""

    model: str
    challenger: VersionInfo
    champion: VersionInfo | None
    holdout: Holdout
    scores: dict[str, Score]  # "challenger", "champion", "baseline"
    gates: list[g.GateResult]
    metric: str
    higher_is_better: bool
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return g.all_passed(self.gates)

    def table(self, shown: tuple[str, ...]) -> pd.DataFrame:
        """Side by side: metric x (champion, challenger, baseline)."""
        cols = {
            who: {m: s.overall.get(m, float("nan")) for m in shown}
            for who, s in self.scores.items()
        }
        return pd.DataFrame(cols).reindex(columns=["champion", "challenger", "baseline"])

    def segments(self) -> pd.DataFrame:
        """Primary metric by segment, champion beside challenger."""
        frames = []
        for who in ("champion", "challenger"):
            if who in self.scores:
                s = self.scores[who].segments.set_index(["kind", "segment"])
                frames.append(s[["n", "value"]].rename(columns={"value": who}))
        out = pd.concat(frames, axis=1)
        return out.loc[:, ~out.columns.duplicated()].reset_index()

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "challenger": self.challenger.version,
            "champion": self.champion.version if self.champion else None,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "holdout": {
                "start": self.holdout.start.isoformat(),
                "end": self.holdout.end.isoformat(),
                "rows": self.holdout.rows,
                "description": self.holdout.description,
            },
            "scores": {who: s.overall for who, s in self.scores.items()},
            "segments": {who: s.segments.to_dict("records") for who, s in self.scores.items()},
            "gates": [r.to_dict() for r in self.gates],
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "notes": self.notes,
        }


def _load(info: VersionInfo) -> Any:
    import mlflow

    return mlflow.pyfunc.load_model(info.uri)


def _score(ev: Evaluator, info: VersionInfo, holdout: Holdout) -> tuple[Any, Score, list]:
    model = _load(info)
    preds = predict_all(model, holdout)
    return model, ev.score(holdout, preds), preds


def evaluate(
    ws: Workspace,
    model: str,
    challenger: VersionInfo,
    champion: VersionInfo | None,
    gates_cfg: ModelGates,
    contract_errors: list[str] | None,
) -> Evaluation:
    """Score challenger, champion and baseline on one hold-out; judge every gate."""
    t0 = time.perf_counter()
    ev = evaluator(model)
    holdout = ev.holdout(ws, challenger.config, gates_cfg.holdout_days)
    log.info("%s hold-out: %d rows, %s .. %s", model, holdout.rows, holdout.start, holdout.end)
    results: list[g.GateResult] = [
        g.contracts_gate(contract_errors),
        g.staleness_gate(challenger.train_end, holdout.data_end, gates_cfg.max_staleness_days),
        g.unseen_gate(challenger.train_end, holdout.start),
    ]
    notes: list[str] = []
    champ_end = champion.train_end if champion is not None else None
    if champion is not None and champ_end is not None and champ_end >= holdout.start:
        notes.append(
            f"champion v{champion.version} was trained on data up to "
            f"{champ_end:%Y-%m-%d}: it has seen part of the hold-out"
        )

    served = frame_schema(holdout.request)
    if champion is not None:
        champ_inputs, _ = signature_columns(champion.uri)
        if champ_inputs is not None:  # serving was built against the champion's inputs
            served = {c: t for c, t in served.items() if c in champ_inputs}
    inputs, outputs = signature_columns(challenger.uri)
    results.append(g.signature_gate(inputs, served, outputs, ev.required_outputs))

    scores: dict[str, Score] = {"baseline": ev.baseline(holdout)}
    challenger_score: Score | None = None
    try:
        chal_model, challenger_score, preds = _score(ev, challenger, holdout)
        scores["challenger"] = challenger_score
        values = np.concatenate([p[ev.value_column].to_numpy(dtype=float) for p in preds])
        results.append(
            g.predictions_gate(
                values,
                gates_cfg.lower_bound,
                gates_cfg.upper_bound,
                ev.peak(holdout),
                gates_cfg.max_ratio_to_recent_peak,
            )
        )
        latency = request_latency_ms(chal_model, holdout.request, gates_cfg.latency_repeats)
        results.append(g.latency_gate(latency, gates_cfg.latency_budget_ms))
    except Exception as exc:  # a model that cannot score the hold-out is refused, not a crash
        log.debug("challenger scoring failed", exc_info=True)
        msg = f"v{challenger.version} could not score the hold-out: {type(exc).__name__}: {exc}"
        results.append(g.GateResult("predictions", "sanity", False, msg[:500]))

    champion_score: Score | None = None
    if champion is not None:
        try:
            _, champion_score, _ = _score(ev, champion, holdout)
            scores["champion"] = champion_score
        except Exception as exc:
            notes.append(f"champion v{champion.version} could not score the hold-out: {exc}")
            champion_score = Score(
                {ev.metric: float("nan")}, pd.DataFrame(columns=g.SEGMENT_COLUMNS)
            )

    if challenger_score is not None:
        chal_value = challenger_score.overall[ev.metric]
        results.append(
            g.baseline_gate(
                ev.metric,
                chal_value,
                scores["baseline"].overall[ev.metric],
                ev.higher_is_better,
                ev.baseline_name,
            )
        )
        results.append(
            g.metric_gate(
                ev.metric,
                chal_value,
                None if champion_score is None else champion_score.overall[ev.metric],
                ev.higher_is_better,
                gates_cfg.penalty_factor,
            )
        )
        results.append(
            g.segment_gate(
                challenger_score.segments,
                None if champion_score is None else champion_score.segments,
                ev.higher_is_better,
                gates_cfg.max_segment_degradation,
                gates_cfg.min_segment_rows,
                gates_cfg.min_segment_positives,
            )
        )
    return Evaluation(
        model,
        challenger,
        champion,
        holdout,
        scores,
        results,
        ev.metric,
        ev.higher_is_better,
        time.perf_counter() - t0,
        notes,
    )
