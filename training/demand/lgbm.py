"""LightGBM global model: one booster per quantile on the normalised load, trained across all
series and levels at once. The P50 booster is the point forecast; the other quantiles may carry
conformal shifts per lead-time bucket (`training/demand/calibration.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from gridml.training.demand.calibration import Shifts, apply_shifts
from gridml.training.demand.config import LightGBMConfig
from gridml.training.demand.defaults import BoosterSettings, booster_settings
from gridml.training.metrics import quantile_column

CATEGORICAL = ["level"]


@dataclass
class QuantileLGBM:
    """Boosters keyed by quantile; predictions are in the normalised unit (x level scale)."""

    quantiles: tuple[float, ...]
    params: LightGBMConfig
    seed: int = 0
    boosters: dict[float, lgb.Booster] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)
    settings: BoosterSettings | None = None
    rounds: dict[float, int] = field(default_factory=dict)  # boosting rounds kept per quantile
    shifts: Shifts | None = None

    def _params(self, q: float, s: BoosterSettings) -> dict:
        return {
            "objective": "quantile",
            "alpha": q,
            "learning_rate": self.params.learning_rate,
            "num_leaves": s.num_leaves,
            "min_data_in_leaf": s.min_data_in_leaf,
            "feature_fraction": self.params.feature_fraction,
            "bagging_fraction": self.params.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.params.lambda_l2,
            "num_threads": self.params.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "verbosity": -1,
        }

    def fit(
        self,
        X: pd.DataFrame,
        y_norm: np.ndarray,
        valid: tuple[pd.DataFrame, np.ndarray] | None = None,
        rounds: dict[float, int] | None = None,
    ) -> QuantileLGBM:
        """Fit every quantile's booster. `valid` (features, normalised target) enables early
        stopping when n_estimators is auto; `rounds` fixes each quantile's rounds instead."""
        keep = np.isfinite(y_norm)
        self.feature_names = list(X.columns)
        s = booster_settings(self.params, int(keep.sum()), valid is not None)
        self.settings = s
        train = lgb.Dataset(
            X[keep], y_norm[keep], categorical_feature=CATEGORICAL, free_raw_data=False
        )
        valid_set = None
        if valid is not None and s.early_stopping:
            vk = np.isfinite(valid[1])
            valid_set = lgb.Dataset(valid[0][vk], valid[1][vk], reference=train)
        for q in self.quantiles:
            n = rounds[q] if rounds is not None else s.n_estimators
            if valid_set is None:
                booster = lgb.train(self._params(q, s), train, num_boost_round=n)
                self.rounds[q] = n
            else:
                booster = lgb.train(
                    self._params(q, s),
                    train,
                    num_boost_round=n,
                    valid_sets=[valid_set],
                    callbacks=[lgb.early_stopping(s.patience, verbose=False)],
                )
                self.rounds[q] = max(1, booster.best_iteration or n)
            self.boosters[q] = booster
        return self

    def predict_raw(self, X: pd.DataFrame, num_threads: int = 0) -> np.ndarray:
        """Normalised quantile predictions before calibration, columns in quantile order."""
        X = X[self.feature_names]
        return np.column_stack(
            [
                self.boosters[q].predict(
                    X, num_iteration=self.rounds.get(q), num_threads=num_threads
                )
                for q in self.quantiles
            ]
        )

    def predict(self, X: pd.DataFrame, num_threads: int = 0) -> pd.DataFrame:
        """Normalised quantile predictions, calibrated when shifts are set, sorted per row so
        quantiles never cross."""
        raw = self.predict_raw(X, num_threads)
        if self.shifts is not None:
            raw = apply_shifts(raw, X["horizon"].to_numpy(), self.shifts)
        raw = np.sort(raw, axis=1)
        return pd.DataFrame(
            raw, columns=[quantile_column(q) for q in self.quantiles], index=X.index
        )

    def importance(self) -> pd.Series:
        """Gain importance of the median booster."""
        booster = self.boosters[0.5]
        gain = booster.feature_importance(importance_type="gain")
        return pd.Series(gain, index=booster.feature_name()).sort_values(ascending=False)
