"""LightGBM global model: one booster per quantile on the normalised load, trained across all
series and levels at once. The P50 booster is the point forecast."""

from __future__ import annotations

from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import pandas as pd

from gridml.training.demand.config import LightGBMConfig
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

    def fit(self, X: pd.DataFrame, y_norm: np.ndarray) -> QuantileLGBM:
        keep = np.isfinite(y_norm)
        self.feature_names = list(X.columns)
        train = lgb.Dataset(
            X[keep], y_norm[keep], categorical_feature=CATEGORICAL, free_raw_data=False
        )
        for q in self.quantiles:
            params = {
                "objective": "quantile",
                "alpha": q,
                "learning_rate": self.params.learning_rate,
                "num_leaves": self.params.num_leaves,
                "min_data_in_leaf": self.params.min_data_in_leaf,
                "feature_fraction": self.params.feature_fraction,
                "bagging_fraction": self.params.bagging_fraction,
                "bagging_freq": 1,
                "lambda_l2": self.params.lambda_l2,
                "num_threads": self.params.num_threads,
                "seed": self.seed,
                "deterministic": True,
                "verbosity": -1,
            }
            self.boosters[q] = lgb.train(params, train, num_boost_round=self.params.n_estimators)
        return self

    def predict(self, X: pd.DataFrame, num_threads: int = 0) -> pd.DataFrame:
        """Normalised quantile predictions, sorted per row so quantiles never cross."""
        X = X[self.feature_names]
        raw = np.column_stack(
            [self.boosters[q].predict(X, num_threads=num_threads) for q in self.quantiles]
        )
        raw = np.sort(raw, axis=1)
        return pd.DataFrame(
            raw, columns=[quantile_column(q) for q in self.quantiles], index=X.index
        )

    def importance(self) -> pd.Series:
        """Gain importance of the median booster."""
        booster = self.boosters[0.5]
        gain = booster.feature_importance(importance_type="gain")
        return pd.Series(gain, index=booster.feature_name()).sort_values(ascending=False)
