"""Promotion gates as pure functions: each takes numbers or frames and returns a `GateResult`.

Three kinds (issue 6): metric gates (better than the champion by the penalty factor, no segment
much worse), sanity gates (beats the baseline, signature compatible with what serving sends,
predictions finite and physically possible, latency within budget) and data gates (the
training data passed its contracts, is not stale, and the hold-out is unseen by the challenger).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

SEGMENT_COLUMNS = ["kind", "segment", "n", "positives", "value"]


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict, with the numbers it judged in words."""

    gate: str
    kind: str  # "metric" | "sanity" | "data"
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"


def better(a: float, b: float, higher_is_better: bool) -> bool:
    """Whether `a` is at least as good as `b` (NaN is never good)."""
    if math.isnan(a) or math.isnan(b):
        return False
    return a >= b if higher_is_better else a <= b


def metric_gate(
    metric: str,
    challenger: float,
    champion: float | None,
    higher_is_better: bool,
    penalty_factor: float = 1.0,
) -> GateResult:
    """The challenger beats the champion's score adjusted by the penalty factor (OpenSTEF):
    errors must be <= champion / factor, scores >= champion x factor. No champion: passes."""
    if champion is None:
        return GateResult(
            "beats_champion", "metric", True, f"no champion yet; {metric} {_fmt(challenger)}"
        )
    target = champion * penalty_factor if higher_is_better else champion / penalty_factor
    ok = better(challenger, target, higher_is_better)
    op = ">=" if higher_is_better else "<="
    return GateResult(
        "beats_champion",
        "metric",
        ok,
        f"{metric} {_fmt(challenger)} {op} {_fmt(target)} needed "
        f"(champion {_fmt(champion)}, penalty factor {penalty_factor:g})",
    )


def segment_gate(
    challenger: pd.DataFrame,
    champion: pd.DataFrame | None,
    higher_is_better: bool,
    max_degradation: float,
    min_rows: int = 1,
    min_positives: int = 0,
) -> GateResult:
    """No segment worse than the champion's by more than `max_degradation` (relative).

    Frames hold SEGMENT_COLUMNS (kind, segment, n, positives, value); segments with fewer
    than `min_rows` rows or `min_positives` positives on either side are not judged."""
    if champion is None:
        return GateResult("segments", "metric", True, "no champion yet")
    both = challenger.merge(champion, on=["kind", "segment"], suffixes=("_new", "_old"))
    judged = both[
        (both[["n_new", "n_old"]].min(axis=1) >= min_rows)
        & (both[["positives_new", "positives_old"]].fillna(np.inf).min(axis=1) >= min_positives)
    ]
    worse = []
    for row in judged.itertuples():
        old, new = float(row.value_old), float(row.value_new)
        if math.isnan(old):
            continue
        change = (old - new if higher_is_better else new - old) / max(abs(old), 1e-12)
        if math.isnan(new) or change > max_degradation:
            worse.append(f"{row.kind}={row.segment} {_fmt(old)} -> {_fmt(new)}")
    if worse:
        return GateResult(
            "segments",
            "metric",
            False,
            f"worse by more than {max_degradation:.0%}: " + "; ".join(worse),
        )
    return GateResult(
        "segments",
        "metric",
        True,
        f"{len(judged)} segments judged, none worse by more than {max_degradation:.0%}",
    )


def baseline_gate(
    metric: str, challenger: float, baseline: float, higher_is_better: bool, baseline_name: str
) -> GateResult:
    """The challenger is strictly better than the simple baseline on the same rows."""
    ok = better(challenger, baseline, higher_is_better) and challenger != baseline
    return GateResult(
        "beats_baseline",
        "sanity",
        ok,
        f"{metric} {_fmt(challenger)} vs {baseline_name} {_fmt(baseline)}",
    )


def signature_gate(
    inputs: Mapping[str, str] | None,
    served: Mapping[str, str],
    outputs: Sequence[str] | None,
    required_outputs: Sequence[str],
) -> GateResult:
    """Every input the model requires is in what serving sends, with a compatible type; the
    output holds the columns serving reads. `inputs`/`served`: column -> type name."""
    if inputs is None:
        return GateResult("signature", "sanity", False, "the model has no input signature")
    numeric = {"double", "float", "long", "integer"}
    problems = []
    for col, kind in inputs.items():
        if col not in served:
            problems.append(f"input {col!r} ({kind}) is not sent by serving")
        elif kind != served[col] and not {kind, served[col]} <= numeric:
            problems.append(f"input {col!r} is {kind}, serving sends {served[col]}")
    missing = [c for c in required_outputs if c not in (outputs or [])]
    if missing:
        problems.append(f"output lacks {missing}")
    if problems:
        return GateResult("signature", "sanity", False, "; ".join(problems[:5]))
    return GateResult(
        "signature", "sanity", True, f"{len(inputs)} inputs served, outputs {list(outputs or [])}"
    )


def predictions_gate(
    values: np.ndarray,
    lower: float | None,
    upper: float | None,
    peak: np.ndarray | None = None,
    max_ratio_to_peak: float | None = None,
) -> GateResult:
    """Predictions are finite and physically possible (within bounds, below a multiple of the
    series' recent peak when given)."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return GateResult("predictions", "sanity", False, "no predictions")
    problems = []
    bad = int((~np.isfinite(v)).sum())
    if bad:
        problems.append(f"{bad} of {v.size} not finite")
    finite = v[np.isfinite(v)]
    if lower is not None and (finite < lower).any():
        problems.append(f"{int((finite < lower).sum())} below {lower:g} (min {finite.min():.4g})")
    if upper is not None and (finite > upper).any():
        problems.append(f"{int((finite > upper).sum())} above {upper:g} (max {finite.max():.4g})")
    if peak is not None and max_ratio_to_peak is not None:
        limit = np.asarray(peak, dtype=float) * max_ratio_to_peak
        over = np.isfinite(v) & np.isfinite(limit) & (v > limit)
        if over.any():
            problems.append(f"{int(over.sum())} above {max_ratio_to_peak:g}x the recent peak")
    if problems:
        return GateResult("predictions", "sanity", False, "; ".join(problems))
    return GateResult(
        "predictions", "sanity", True, f"{v.size} finite, in [{v.min():.4g}, {v.max():.4g}]"
    )


def latency_gate(latencies_ms: Sequence[float], budget_ms: float) -> GateResult:
    """Median latency of one serving-sized request within the budget."""
    median = float(np.median(latencies_ms)) if len(latencies_ms) else float("nan")
    ok = median <= budget_ms
    return GateResult(
        "latency",
        "sanity",
        ok,
        f"median {_fmt(median)} ms of {len(latencies_ms)} (budget {budget_ms:g})",
    )


def contracts_gate(errors: Sequence[str] | None) -> GateResult:
    """The feeds the model was trained from pass their data contracts (None: not checked)."""
    if errors is None:
        return GateResult("contracts", "data", True, "not checked (validate_contracts: false)")
    if errors:
        return GateResult(
            "contracts", "data", False, f"{len(errors)} contract error(s): {errors[0]}"
        )
    return GateResult("contracts", "data", True, "every feed passes its contract")


def staleness_gate(
    train_end: pd.Timestamp | None, data_end: pd.Timestamp, max_days: float
) -> GateResult:
    """The challenger's training data end within `max_days` of the newest data."""
    if train_end is None:
        return GateResult("fresh", "data", False, "the training run records no data window")
    age = (data_end - train_end) / pd.Timedelta(days=1)
    ok = age <= max_days
    return GateResult(
        "fresh",
        "data",
        ok,
        f"trained on data up to {train_end:%Y-%m-%d %H:%M}, {age:.1f} days before the newest "
        f"({data_end:%Y-%m-%d %H:%M}); limit {max_days:g}",
    )


def unseen_gate(train_end: pd.Timestamp | None, holdout_start: pd.Timestamp) -> GateResult:
    """The hold-out lies after the challenger's training data (no in-sample scoring)."""
    if train_end is None:
        return GateResult("holdout_unseen", "data", False, "the training run records no window")
    ok = train_end < holdout_start
    return GateResult(
        "holdout_unseen",
        "data",
        ok,
        f"training data end {train_end:%Y-%m-%d %H:%M}, hold-out starts "
        f"{holdout_start:%Y-%m-%d %H:%M}"
        + ("" if ok else ": the challenger has seen the hold-out (retrain with a hold-out)"),
    )


def all_passed(results: Sequence[GateResult]) -> bool:
    """True when there are results and every gate passed."""
    return bool(results) and all(r.passed for r in results)
