"""Prophet in the backtest: one model per series at `prophet.levels`, fitted at each cut-off on
the series' own history, forecasting every test hour.

Regressors are the weather columns that exist: the temperature and its cooling degrees when the
zone has a weather feed (observed in the history, the same forecast the other models get in the
test), none without one; the calendar is always there (the country's public holidays and
Prophet's daily, weekly and yearly seasonalities). A level of `prophet.levels` that the data
lacks is skipped, and a Prophet without any series says why (`skipped`), so the backtest warns
instead of dropping the model silently."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import Design
from gridml.training.demand.prophet_model import ProphetForecaster, ProphetSettings
from gridml.training.metrics import quantile_column

log = logging.getLogger(__name__)
WEATHER_REGRESSORS = ("temperature_c", "cooling_degree_c")


def prophet_settings(
    cfg: DemandConfig, country: str, regressors: tuple[str, ...] = WEATHER_REGRESSORS
) -> ProphetSettings:
    """The Prophet settings of the config for a country."""
    p = cfg.prophet
    return ProphetSettings(
        regressors=regressors,
        country=country,
        n_workers=p.n_workers,
        max_history_days=p.history_days,
        changepoint_prior_scale=p.changepoint_prior_scale,
        seed=cfg.seed,
    )


def available_regressors(history: pd.DataFrame) -> tuple[str, ...]:
    """The weather regressors the history holds values of (none for a zone without weather)."""
    return tuple(r for r in WEATHER_REGRESSORS if r in history.columns and history[r].notna().any())


@dataclass
class ProphetForecasterAdapter:
    name: str
    cfg: DemandConfig
    country: str = "CI"
    timezone: str = "UTC"
    model: ProphetForecaster | None = None
    regressors: tuple[str, ...] = ()
    skipped: str | None = None

    def fit(self, train: Design, history: pd.DataFrame) -> ProphetForecasterAdapter:
        levels = list(self.cfg.prophet.levels)
        present = sorted(set(train.keys["level"]))
        series = set(train.keys.loc[train.keys["level"].isin(levels), "series_id"])
        if not series:
            self.skipped = (
                f"no series at prophet.levels {levels} in the data (levels present: {present}); "
                "add one of those to prophet.levels"
            )
            return self
        lacking = [lv for lv in levels if lv not in present]
        if lacking:
            log.warning("Prophet: the data has no series at level(s) %s: skipped", lacking)
        hist = history[history["series_id"].isin(series)]
        self.regressors = available_regressors(hist)
        if not self.regressors:
            log.info("Prophet: no weather in the data, calendar and seasonalities only")
        hist = hist[["series_id", "timestamp", "y", *self.regressors]]
        hist = hist.dropna(subset=list(self.regressors))
        settings = prophet_settings(self.cfg, self.country, self.regressors)
        self.model = ProphetForecaster.fit(hist, settings, self.timezone, self.cfg.quantiles)
        return self

    def predict(self, test: Design) -> pd.DataFrame:
        cols = [quantile_column(q) for q in self.cfg.quantiles]
        keys = test.keys.reset_index(drop=True)
        if self.model is None:
            return pd.DataFrame(np.nan, index=keys.index, columns=cols)
        rows = keys.assign(**{r: test.X[r].to_numpy() for r in self.regressors})
        mine = rows[rows["series_id"].isin(self.model.series_ids)]
        future = mine.rename(columns={"target_time": "timestamp"}).drop_duplicates(
            ["series_id", "timestamp"]
        )[["series_id", "timestamp", *self.regressors]]
        fc = self.model.predict(future).rename(columns={"timestamp": "target_time"})
        merged = keys[["series_id", "target_time"]].merge(
            fc[["series_id", "target_time", *cols]], on=["series_id", "target_time"], how="left"
        )
        return merged[cols]
