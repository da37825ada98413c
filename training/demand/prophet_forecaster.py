"""Prophet in the backtest: one model per series at `prophet.levels`, fitted at each cut-off on
the series' own history (with the observed weather as regressor), forecasting every test hour
with the weather forecast the other models get."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import Design
from gridml.training.demand.prophet_model import ProphetForecaster, ProphetSettings
from gridml.training.metrics import quantile_column

REGRESSORS = ("cooling_degree_c",)


def prophet_settings(cfg: DemandConfig, country: str) -> ProphetSettings:
    p = cfg.prophet
    return ProphetSettings(
        regressors=REGRESSORS,
        country=country,
        n_workers=p.n_workers,
        max_history_days=p.history_days,
        changepoint_prior_scale=p.changepoint_prior_scale,
        seed=cfg.seed,
    )


@dataclass
class ProphetForecasterAdapter:
    name: str
    cfg: DemandConfig
    country: str = "CI"
    timezone: str = "UTC"
    model: ProphetForecaster | None = None

    def fit(self, train: Design, history: pd.DataFrame) -> ProphetForecasterAdapter:
        levels = set(self.cfg.prophet.levels)
        series = set(train.keys.loc[train.keys["level"].isin(levels), "series_id"])
        hist = history[history["series_id"].isin(series)]
        hist = hist[["series_id", "timestamp", "y", *REGRESSORS]].dropna(subset=list(REGRESSORS))
        self.model = ProphetForecaster.fit(
            hist, prophet_settings(self.cfg, self.country), self.timezone, self.cfg.quantiles
        )
        return self

    def predict(self, test: Design) -> pd.DataFrame:
        assert self.model is not None, "fit first"
        keys = test.keys.reset_index(drop=True)
        rows = keys.assign(**{r: test.X[r].to_numpy() for r in REGRESSORS})
        mine = rows[rows["series_id"].isin(self.model.series_ids)]
        future = mine.rename(columns={"target_time": "timestamp"}).drop_duplicates(
            ["series_id", "timestamp"]
        )[["series_id", "timestamp", *REGRESSORS]]
        fc = self.model.predict(future).rename(columns={"timestamp": "target_time"})
        cols = [quantile_column(q) for q in self.cfg.quantiles]
        merged = keys[["series_id", "target_time"]].merge(
            fc[["series_id", "target_time", *cols]], on=["series_id", "target_time"], how="left"
        )
        return merged[cols]
