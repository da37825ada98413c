"""Ranking metrics and plots shared by the binary classifiers (transformer failure, theft)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """PR-AUC as average precision: sum over thresholds of (R_n - R_{n-1}) * P_n (ties grouped,
    as scikit-learn). NaN without positives."""
    y = np.asarray(y, dtype=float).ravel()
    score = np.asarray(score, dtype=float).ravel()
    if y.shape != score.shape:
        raise ValueError(f"labels {y.shape} and scores {score.shape} differ in shape")
    positives = y.sum()
    if positives == 0:
        return float("nan")
    order = np.argsort(-score, kind="mergesort")
    y, score = y[order], score[order]
    last = np.r_[np.flatnonzero(np.diff(score) != 0), len(score) - 1]  # end of each tie group
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic (ties count one half). NaN with one class."""
    y = np.asarray(y, dtype=float).ravel() == 1
    score = np.asarray(score, dtype=float).ravel()
    if y.shape != score.shape:
        raise ValueError(f"labels {y.shape} and scores {score.shape} differ in shape")
    n_pos, n_neg = y.sum(), (~y).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_curve(y: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision at every rank of the scores (highest first)."""
    order = np.argsort(-np.asarray(score, dtype=float), kind="mergesort")
    y = np.asarray(y, dtype=float)[order]
    tp = np.cumsum(y)
    precision = tp / np.arange(1, len(y) + 1)
    recall = tp / max(y.sum(), 1.0)
    return np.r_[0.0, recall], np.r_[precision[0] if len(y) else 1.0, precision]


def pr_plot(scored: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> Path:
    """Precision-recall curves of several models ({name: (y, score)}) against chance."""
    from matplotlib.figure import Figure  # the object API: no global backend, no pyplot state

    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    for name, (y, score) in scored.items():
        r, p = pr_curve(y, score)
        ax.step(r, p, where="post", label=name)
    base = float(np.mean(next(iter(scored.values()))[0]))
    ax.axhline(base, color="grey", ls="--", lw=1, label=f"random ({base:.3f})")
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def reliability_plot(
    scored: dict[str, tuple[np.ndarray, np.ndarray]],
    path: Path,
    title: str,
    outcome: str,
    bins: int = 10,
) -> Path:
    """Calibration: observed rate against mean predicted probability per quantile bin (most
    probabilities of a rare event are tiny: equal-width bins would be mostly empty)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect")
    for name, (y, score) in scored.items():
        frame = pd.DataFrame({"score": score, "label": y})
        q = pd.qcut(frame["score"], bins, duplicates="drop")
        g = frame.groupby(q, observed=True).agg(p=("score", "mean"), y=("label", "mean"))
        ax.plot(g["p"], g["y"], marker="o", label=name)
    ax.set(xlabel="mean predicted probability", ylabel=f"observed {outcome} rate", title=title)
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path
