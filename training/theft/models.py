"""Theft models: a LightGBM baseline and the Wide & Deep CNN of Zheng et al. (IEEE TII 2018),
both calibrated (Platt scaling on the validation meters), and reason codes for inspectors."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridml.training.platt import Platt  # also the name old pickled theft models load
from gridml.training.theft.config import TheftConfig
from gridml.training.theft.dataset import TheftSamples
from gridml.training.theft.metrics import pr_auc

if TYPE_CHECKING:  # imported lazily at run time (a fast CLI)
    import lightgbm as lgb
    from torch import nn

log = logging.getLogger(__name__)
Z_CLIP = 6.0


def sequence_stats(samples: TheftSamples) -> pd.DataFrame:
    """Simple statistics of the normalised daily series (the baseline's view of the sequence)."""
    series, mask = samples.sequences()
    valid = mask == 0
    s = np.where(valid, series, np.nan)
    with np.errstate(all="ignore"), _quiet():
        last7 = np.nanmean(s[:, -7:], axis=1)
        last14 = np.nanmean(s[:, -14:], axis=1)
        first28 = np.nanmean(s[:, :28], axis=1)
        weekly = np.nanmean(s.reshape(len(s), -1, 7), axis=2)
        out = {
            "seq_last7_vs_first28": last7 / first28,
            "seq_last14_vs_first28": last14 / first28,
            "seq_min_week": np.nanmin(weekly, axis=1),
            "seq_max_week_drop": np.nanmax(-np.diff(weekly, axis=1), axis=1),
            "seq_std": np.nanstd(s, axis=1),
            "seq_zero_share": np.nanmean(np.where(valid, series < 0.05, np.nan), axis=1),
            "seq_missing_share": mask.mean(axis=1),
            "seq_cv_last14": np.nanstd(s[:, -14:], axis=1) / last14,
        }
    return pd.DataFrame({k: np.where(np.isfinite(v), v, np.nan) for k, v in out.items()})


class _quiet:
    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


@dataclass
class TabularScaler:
    """Median-impute, standardise and clip numeric features; add missing indicators."""

    columns: list[str] = field(default_factory=list)
    median: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale: np.ndarray = field(default_factory=lambda: np.ones(0))

    def fit(self, frame: pd.DataFrame) -> TabularScaler:
        x = frame.to_numpy(dtype=float)
        self.columns = list(frame.columns)
        with _quiet():
            self.median = np.nan_to_num(np.nanmedian(x, axis=0))
            q75, q25 = np.nanpercentile(x, [75, 25], axis=0)
        iqr = np.nan_to_num(q75 - q25)
        std = np.nan_to_num(np.nanstd(x, axis=0))
        self.scale = np.where(iqr > 1e-9, iqr / 1.349, np.where(std > 1e-9, std, 1.0))
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        x = frame[self.columns].to_numpy(dtype=float)
        miss = np.isnan(x)
        z = np.clip((np.where(miss, self.median, x) - self.median) / self.scale, -Z_CLIP, Z_CLIP)
        return np.concatenate([z, miss.astype(float)], axis=1).astype(np.float32)


def numeric_features(samples: TheftSamples) -> pd.DataFrame:
    """The Feast features as floats, with `zero_hours_day` counting only the zero-reading hours
    that no supply interruption explains: a meter reads zero while the supply is off, so those
    hours are no evidence of tampering (without this, a day-long outage scored like an attack)."""
    frame = samples.features.apply(pd.to_numeric, errors="coerce").astype(float)
    if {"zero_hours_day", "outage_hours_day"} <= set(frame.columns):
        explained = frame["outage_hours_day"].fillna(0.0)
        frame["zero_hours_day"] = (frame["zero_hours_day"] - explained).clip(lower=0.0)
    return frame


def tabular_features(samples: TheftSamples) -> pd.DataFrame:
    """What both models see besides the raw series: the Feast features and the sequence
    statistics (the Wide & Deep net gets them too, so it never sees less than its baseline)."""
    return pd.concat([numeric_features(samples), sequence_stats(samples)], axis=1)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


class LightGBMTheft:
    """Gradient boosting on the Feast features plus sequence statistics."""

    name = "lightgbm"

    def __init__(self, cfg: TheftConfig):
        self.cfg = cfg
        self.booster: lgb.Booster | None = None
        self.calibration = Platt()
        self.columns: list[str] = []

    def _x(self, samples: TheftSamples) -> pd.DataFrame:
        x = tabular_features(samples)
        return x[self.columns] if self.columns else x

    def fit(self, train: TheftSamples, val: TheftSamples) -> LightGBMTheft:
        import lightgbm as lgb

        c = self.cfg.lightgbm
        x = self._x(train)
        self.columns = list(x.columns)
        y = train.labels
        params = {
            "objective": "binary",
            "learning_rate": c.learning_rate,
            "num_leaves": c.num_leaves,
            "min_data_in_leaf": c.min_data_in_leaf,
            "feature_fraction": c.feature_fraction,
            "lambda_l2": c.lambda_l2,
            "scale_pos_weight": float((1 - y).sum() / max(1.0, y.sum())),
            "seed": self.cfg.seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": c.num_threads,
            "verbosity": -1,
        }
        dtrain = lgb.Dataset(x, y)
        dval = lgb.Dataset(self._x(val), val.labels, reference=dtrain)
        self.booster = lgb.train(
            params,
            dtrain,
            num_boost_round=c.n_estimators,
            valid_sets=[dval],
            callbacks=[lgb.early_stopping(c.early_stopping_rounds, verbose=False)],
        )
        self.calibration = Platt.fit(self.logits(val), val.labels)
        return self

    def logits(self, samples: TheftSamples) -> np.ndarray:
        if self.booster is None:
            raise RuntimeError("the LightGBM theft model is not fitted")
        booster = self.booster
        p = booster.predict(self._x(samples), num_iteration=booster.best_iteration)
        return _logit(np.asarray(p))

    def predict_proba(self, samples: TheftSamples) -> np.ndarray:
        return self.calibration(self.logits(samples))


def _device(choice: str):
    import torch

    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def _net(days: int, weeks: int, n_tab: int, c):
    import torch
    from torch import nn

    class WideDeepNet(nn.Module):
        """Wide: dense layers on the flat series + mask. Deep: 2-D CNN on the weeks x 7 grid
        (channels: series, mask). Tabular: the Feast features. Concatenated into one logit."""

        def __init__(self):
            super().__init__()
            self.wide = nn.Sequential(
                nn.Linear(2 * days, c.wide_hidden), nn.ReLU(), nn.Dropout(c.dropout)
            )
            ch = c.channels
            self.deep = nn.Sequential(
                nn.Conv2d(2, ch, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(ch, ch, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d((2, 1)),  # recent vs earlier half of the window
                nn.Flatten(),
            )
            self.tab = nn.Sequential(nn.Linear(n_tab, c.tab_hidden), nn.ReLU())
            self.head = nn.Sequential(
                nn.Dropout(c.dropout),
                nn.Linear(c.wide_hidden + 2 * ch + c.tab_hidden, 32),
                nn.ReLU(),
                nn.Linear(32, 1),
            )

        def forward(self, flat, grid, tab):
            z = torch.cat([self.wide(flat), self.deep(grid), self.tab(tab)], dim=1)
            return self.head(z).squeeze(1)

    return WideDeepNet()


class WideDeepTheft:
    """PyTorch Wide & Deep CNN with BCE + pos_weight, early stopping on validation PR-AUC."""

    name = "wide_deep"

    def __init__(self, cfg: TheftConfig):
        self.cfg = cfg
        self.scaler = TabularScaler()
        self.calibration = Platt()
        self.net: nn.Module | None = None
        self.device = _device(cfg.wide_deep.device)
        self.history: list[dict[str, float]] = []

    def _inputs(self, samples: TheftSamples):
        import torch

        series, mask = samples.sequences()
        flat = np.concatenate([series, mask], axis=1)
        grid = samples.grid()
        tab = self.scaler.transform(tabular_features(samples))
        return tuple(torch.as_tensor(a, dtype=torch.float32) for a in (flat, grid, tab))

    def fit(
        self,
        train: TheftSamples,
        val: TheftSamples,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
    ) -> WideDeepTheft:
        """`on_epoch` is called with each epoch's history row (epoch, train_loss, val_pr_auc);
        an exception it raises (e.g. `optuna.TrialPruned`) stops the fit."""
        import torch

        c = self.cfg.wide_deep
        torch.manual_seed(self.cfg.seed)
        rng = np.random.default_rng(self.cfg.seed)
        self.scaler.fit(tabular_features(train))
        xs = self._inputs(train)
        y = torch.as_tensor(train.labels)
        pos = float(y.sum())
        net = _net(train.raw.shape[1], train.weeks, xs[2].shape[1], c).to(self.device)
        self.net = net
        loss_fn = torch.nn.BCEWithLogitsLoss(
            pos_weight=torch.tensor(max(1.0, (len(y) - pos) / max(pos, 1.0)), device=self.device)
        )
        opt = torch.optim.AdamW(net.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        val_x = self._inputs(val)
        best, best_state, stale = -1.0, None, 0
        for epoch in range(c.epochs):
            net.train()
            order = rng.permutation(len(y))
            total = 0.0
            for start in range(0, len(order), c.batch_size):
                idx = torch.as_tensor(order[start : start + c.batch_size])
                batch = [x[idx].to(self.device) for x in xs]
                opt.zero_grad()
                loss = loss_fn(net(*batch), y[idx].to(self.device))
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            score = pr_auc(val.labels, self._logits(val_x))
            self.history.append({"epoch": epoch, "train_loss": total / len(y), "val_pr_auc": score})
            if on_epoch is not None:
                on_epoch(self.history[-1])
            if score > best + 1e-4:
                best, best_state, stale = score, copy.deepcopy(net.state_dict()), 0
            else:
                stale += 1
                if stale >= c.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        log.info("wide & deep: %d epochs, best validation PR-AUC %.3f", len(self.history), best)
        self.calibration = Platt.fit(self._logits(val_x), val.labels)
        return self

    def _logits(self, xs) -> np.ndarray:
        import torch

        if self.net is None:
            raise RuntimeError("the Wide & Deep theft model is not fitted")
        net = self.net
        net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(xs[0]), 4096):
                batch = [x[start : start + 4096].to(self.device) for x in xs]
                out.append(net(*batch).cpu().numpy())
        return np.concatenate(out).astype(float) if out else np.zeros(0)

    def logits(self, samples: TheftSamples) -> np.ndarray:
        return self._logits(self._inputs(samples))

    def predict_proba(self, samples: TheftSamples) -> np.ndarray:
        return self.calibration(self.logits(samples))


Member = LightGBMTheft | WideDeepTheft
MODELS: dict[str, type[LightGBMTheft] | type[WideDeepTheft]] = {
    "lightgbm": LightGBMTheft,
    "wide_deep": WideDeepTheft,
}


@dataclass
class CrossFitted:
    """One family fitted on each validation fold: it scores with the mean logit of its fold
    models, calibrated by Platt scaling on their out-of-fold logits (each validation sample
    scored by the one model that did not train on it)."""

    name: str
    members: list[Member]
    calibration: Platt
    validation_pr_auc: float  # of the out-of-fold scores: what chooses the served family
    history: list[dict[str, float]] = field(default_factory=list)  # wide_deep: per fold+epoch

    @property
    def cfg(self) -> TheftConfig:
        return self.members[0].cfg

    def logits(self, samples: TheftSamples) -> np.ndarray:
        return np.mean([m.logits(samples) for m in self.members], axis=0)

    def predict_proba(self, samples: TheftSamples) -> np.ndarray:
        return self.calibration(self.logits(samples))


def cross_fit(
    name: str,
    cfg: TheftConfig,
    samples: TheftSamples,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
) -> CrossFitted:
    """Fit family `name` once per (fit, validate) pair of `folds` (indices into `samples`)."""
    members: list[Member] = []
    history: list[dict[str, float]] = []
    idx, oof = [], []
    for k, (fit_idx, val_idx) in enumerate(folds):
        val = samples.take(val_idx)
        member = MODELS[name](cfg).fit(samples.take(fit_idx), val)
        members.append(member)
        history += [row | {"fold": float(k)} for row in getattr(member, "history", [])]
        idx.append(val_idx)
        oof.append(member.logits(val))
    order = np.concatenate(idx)
    logits = np.concatenate(oof)
    labels = samples.labels[order]
    return CrossFitted(
        name=name,
        members=members,
        calibration=Platt.fit(logits, labels),
        validation_pr_auc=pr_auc(labels, logits),
        history=history,
    )


def choose_family(fitted: Sequence[CrossFitted], preferred: str = "wide_deep") -> CrossFitted:
    """The family with the higher validation PR-AUC; a tie goes to `preferred`."""
    return max(fitted, key=lambda f: (f.validation_pr_auc, f.name == preferred))


# --- reason codes -------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return f"{x * 100:+.0f}%"


def _signals(f: pd.DataFrame) -> dict[str, tuple[np.ndarray, Callable[[int], str]]]:
    """signal -> (value where higher = more suspicious, text of one row)."""

    def col(name):
        return f[name].to_numpy(dtype=float) if name in f else np.full(len(f), np.nan)

    change, peers = col("kwh_change_7d_28d"), col("peer_change_7d_28d")
    loss, flat = col("loss_ratio_28d"), col("flatness_day")
    since, night = col("days_since_vend"), col("night_share_day")
    zeros = col("zero_hours_day") - np.nan_to_num(col("outage_hours_day"))
    vend_ratio = col("vend_to_metered_30d")
    return {
        "consumption_drop": (
            -(change - np.nan_to_num(peers)),
            lambda i: (
                f"consumption changed {_pct(change[i])} against its own past 4 weeks "
                f"while its transformer peers changed {_pct(np.nan_to_num(peers[i]))}"
            ),
        ),
        "transformer_loss": (
            loss,
            lambda i: f"its transformer loses {loss[i] * 100:.0f}% of its energy (28-day mean)",
        ),
        "flat_profile": (
            -flat,
            lambda i: f"flat daily profile (hourly variation {flat[i] * 100:.0f}% of the mean)",
        ),
        "no_vend": (since, lambda i: f"no token bought for {since[i]:.0f} days"),
        "zero_hours": (
            zeros,
            lambda i: f"{zeros[i]:.0f} hours of zero consumption yesterday without an outage",
        ),
        "night_share": (
            night,
            lambda i: f"{night[i] * 100:.0f}% of the day's energy used at night (00-06)",
        ),
        "vend_gap": (
            -vend_ratio,
            lambda i: (
                f"tokens bought cover {vend_ratio[i] * 100:.0f}% of the metered energy (30 days)"
            ),
        ),
    }


def reason_codes(
    samples: TheftSamples, reference: TheftSamples, top: int = 3, max_tail: float = 0.2
) -> list[list[dict]]:
    """Per sample, up to `top` reasons ranked by how unusual each signal is against `reference`
    (e.g. the honest training samples): tail = share of reference rows at least as suspicious.
    Each reason: {"code", "text", "value", "tail"}; only signals with tail <= max_tail."""
    sig = _signals(samples.features)
    ref = _signals(reference.features)
    tails = {}
    for code, (v, _) in sig.items():
        r = np.sort(ref[code][0][np.isfinite(ref[code][0])])
        if len(r) == 0:
            continue
        ge = len(r) - np.searchsorted(r, v, side="left")
        tails[code] = np.where(np.isfinite(v), (ge + 1) / (len(r) + 1), np.nan)
    out = []
    for i in range(len(samples)):
        cand = [(t[i], code) for code, t in tails.items() if np.isfinite(t[i]) and t[i] <= max_tail]
        cand.sort()
        out.append(
            [
                {
                    "code": code,
                    "text": sig[code][1](i),
                    "value": float(sig[code][0][i]),
                    "tail": float(t),
                }
                for t, code in cand[:top]
            ]
        )
    return out
