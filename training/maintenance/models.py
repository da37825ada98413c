"""Failure-risk models: a LightGBM baseline on flat rolling features and a PyTorch sequence
model (GRU or 1-D CNN) on the last `window_days` of daily features; both calibrated (Platt, on
the validation days), banded into low/medium/high risk and explained by per-row drivers."""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gridml.training.maintenance.config import MaintenanceConfig
from gridml.training.maintenance.metrics import average_precision
from gridml.training.platt import Platt

if TYPE_CHECKING:  # imported lazily at run time (a fast CLI)
    import lightgbm as lgb
    from torch import nn

log = logging.getLogger(__name__)
BANDS = np.array(["low", "medium", "high"])


def risk_bands(probability: np.ndarray, thresholds: tuple[float, float]) -> np.ndarray:
    """'low' below the first threshold, 'high' at or above the second, 'medium' between."""
    return BANDS[np.searchsorted(np.asarray(thresholds), probability, side="right")]


def _top_drivers(contrib: np.ndarray, names: list[str], k: int) -> list[list[str]]:
    """Names of the k largest positive contributions of each row (fewer if fewer are > 0)."""
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :k]
    return [[names[j] for j in row if c[j] > 0] for row, c in zip(order, contrib, strict=True)]


# ---------------------------------------------------------------- LightGBM baseline


@dataclass
class LightGBMModel:
    booster: lgb.Booster
    features: list[str]
    calibration: Platt = field(default_factory=Platt)

    def margin(self, x: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(x[self.features], raw_score=True))

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        return self.calibration(self.margin(x))

    def drivers(self, x: pd.DataFrame, k: int = 3) -> list[list[str]]:
        contrib = np.asarray(self.booster.predict(x[self.features], pred_contrib=True))[:, :-1]
        return _top_drivers(contrib, self.features, k)


def fit_lightgbm(
    x_fit: pd.DataFrame,
    y_fit: np.ndarray,
    x_val: pd.DataFrame,
    y_val: np.ndarray,
    cfg: MaintenanceConfig,
) -> LightGBMModel:
    """Binary LightGBM, classes balanced (`is_unbalance`), early stopping on validation AP."""
    import lightgbm as lgb

    params = {
        "objective": "binary",
        "is_unbalance": True,
        "learning_rate": cfg.lgbm_learning_rate,
        "num_leaves": cfg.lgbm_num_leaves,
        "min_data_in_leaf": cfg.lgbm_min_data_in_leaf,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "metric": "average_precision",
        "seed": cfg.seed,
        "deterministic": True,
        "num_threads": 1,
        "verbose": -1,
    }
    features = list(x_fit.columns)
    train = lgb.Dataset(x_fit, label=y_fit, free_raw_data=False)
    callbacks: list[Callable[..., Any]] = [lgb.log_evaluation(0)]
    valid_sets = []
    if np.sum(y_val) > 0:
        valid_sets = [lgb.Dataset(x_val, label=y_val, reference=train)]
        callbacks.append(lgb.early_stopping(cfg.patience * 5, verbose=False))
    booster = lgb.train(
        params, train, cfg.lgbm_estimators, valid_sets=valid_sets, callbacks=callbacks
    )
    model = LightGBMModel(booster, features)
    model.calibration = Platt.fit(model.margin(x_val), y_val)
    return model


# ---------------------------------------------------------------- PyTorch sequence model


def device():
    """The torch device to train on (CUDA when available, else CPU)."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def deterministic(seed: int):
    """Seed torch and numpy and turn on deterministic algorithms; restore the setting after."""
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def build_net(architecture: str, inputs: int, hidden: int, dropout: float):
    """A GRU or 1-D CNN sequence network returning one logit per window."""
    import torch
    from torch import nn

    class GRUNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(inputs, hidden, batch_first=True)
            self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden + inputs, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.gru(x)
            return self.head(torch.cat([out[:, -1], x[:, -1]], dim=-1)).squeeze(-1)

    class CNNNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv1d(inputs, hidden, 5, padding=2),
                nn.ReLU(),
                nn.Conv1d(hidden, hidden, 5, padding=2, dilation=1),
                nn.ReLU(),
            )
            self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden + inputs, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.conv(x.transpose(1, 2))
            pooled = torch.cat([h.amax(dim=-1), h[:, :, -1], x[:, -1]], dim=-1)
            return self.head(pooled).squeeze(-1)

    return GRUNet() if architecture == "gru" else CNNNet()


@dataclass
class SequenceModel:
    net: nn.Module
    features: list[str]  # names of the value channels (the mask channels follow)
    calibration: Platt = field(default_factory=Platt)
    history: list[dict[str, float]] = field(default_factory=list)

    def margin(self, x: np.ndarray, batch: int = 4096) -> np.ndarray:
        import torch

        self.net.eval()
        dev = next(self.net.parameters()).device
        out = []
        with torch.no_grad():
            for i in range(0, len(x), batch):
                out.append(self.net(torch.from_numpy(x[i : i + batch]).to(dev)).cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.calibration(self.margin(x))

    def contributions(self, x: np.ndarray, days: int = 7) -> np.ndarray:
        """Gradient x input of the logit on the value channels, summed over the last `days`:
        [rows, features]; positive = pushed risk up (relative to the training mean)."""
        import torch

        self.net.eval()
        dev = next(self.net.parameters()).device
        xt = torch.from_numpy(x).to(dev).requires_grad_(True)
        self.net(xt).sum().backward()
        assert xt.grad is not None  # requires_grad was set
        gx = (xt.grad * xt).detach().cpu().numpy()
        return gx[:, -days:, : len(self.features)].sum(axis=1)

    def drivers(self, x: np.ndarray, k: int = 3, days: int = 7) -> list[list[str]]:
        return _top_drivers(self.contributions(x, days), self.features, k)


def fit_sequence_model(
    x_fit: np.ndarray,
    y_fit: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    features: list[str],
    cfg: MaintenanceConfig,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> SequenceModel:
    """Weighted BCE (pos_weight = negatives / positives, capped), AdamW, early stopping on
    validation average precision (validation loss when it has no positive), Platt calibration.

    `on_epoch` is called with each epoch's history row (epoch, loss, val); an exception it
    raises (e.g. `optuna.TrialPruned`) stops the fit."""
    import torch
    from torch import nn

    dev = device()
    with deterministic(cfg.seed):
        net = build_net(cfg.architecture, x_fit.shape[-1], cfg.hidden, cfg.dropout).to(dev)
        positives = max(float(np.sum(y_fit)), 1.0)
        pos_weight = min((len(y_fit) - positives) / positives, cfg.pos_weight_max)
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=dev))
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        xf = torch.from_numpy(x_fit).to(dev)
        yf = torch.from_numpy(np.asarray(y_fit, np.float32)).to(dev)
        gen = torch.Generator().manual_seed(cfg.seed)
        model = SequenceModel(net, list(features))
        best, best_state, stale = -np.inf, copy.deepcopy(net.state_dict()), 0
        for epoch in range(cfg.epochs):
            net.train()
            order = torch.randperm(len(xf), generator=gen).to(dev)
            total = 0.0
            for i in range(0, len(order), cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                opt.zero_grad()
                loss = loss_fn(net(xf[idx]), yf[idx])
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                total += float(loss.detach()) * len(idx)
            margin = model.margin(x_val)
            if np.sum(y_val) > 0:
                score = average_precision(y_val, margin)
            else:
                score = -float(loss_fn(torch.from_numpy(margin), torch.zeros(len(margin))))
            model.history.append({"epoch": epoch, "loss": total / len(xf), "val": score})
            if on_epoch is not None:
                on_epoch(model.history[-1])
            if score > best + 1e-6:
                best, best_state, stale = score, copy.deepcopy(net.state_dict()), 0
            else:
                stale += 1
                if stale >= cfg.patience:
                    break
        net.load_state_dict(best_state)
        model.calibration = Platt.fit(model.margin(x_val), y_val)
    log.info("sequence model: %d epochs, best validation %.4f", len(model.history), best)
    return model
