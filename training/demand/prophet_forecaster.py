"""Prophet in the backtest: one model per series at `prophet.levels`, fitted at each cut-off on
the series' own history, forecasting every test hour.

Regressors are the weather columns that exist: the temperature and its cooling degrees when the
zone has a weather feed (observed in the history, the same forecast the other models get in the
test), none without one; the calendar is always there (the country's public holidays and
Prophet's daily, weekly and yearly seasonalities). A level of `prophet.levels` that the data
lacks is skipped, and a Prophet without any series says why (`skipped`), so the backtest warns
instead of dropping the model silently.

Prophet is fitted once per cut-off while the forecasts are issued daily: with
`prophet.level_correction_hours` (off by default), before each issue its forecast is scaled by
the ratio of the actual load to Prophet's own forecast over that many hours observed by the
issue time (a level correction; never an hour after it)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import Design, issue_times
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
        hours = self.cfg.prophet.level_correction_hours
        if hours:
            ratio = level_ratios(
                keys, test.y, merged[quantile_column(0.5)], self._issue(keys), hours
            )
            merged[cols] = merged[cols].mul(ratio, axis=0)
        return merged[cols]

    def _issue(self, keys: pd.DataFrame) -> pd.Series:
        issue = issue_times(keys["origin"], self.cfg, self.timezone)
        return issue.fillna(pd.to_datetime(keys["origin"], utc=True))


def level_ratios(
    keys: pd.DataFrame, y: np.ndarray, point: pd.Series, issue: pd.Series, hours: int
) -> np.ndarray:
    """Per row: sum of actuals / sum of `point` forecasts of the same series over the hours in
    [issue - hours, issue) whose target hour had ended by the row's issue time (1 where none is
    known). `keys`: series_id, origin, target_time (rows of every origin of a test window)."""
    frame = pd.DataFrame(
        {
            "series_id": keys["series_id"].to_numpy(),
            "target_time": pd.to_datetime(keys["target_time"], utc=True).to_numpy(),
            "y": np.asarray(y, dtype=float),
            "point": point.to_numpy(dtype=float),
        }
    )
    known = frame.dropna().drop_duplicates(["series_id", "target_time"])
    out = np.ones(len(frame))
    issue_at = pd.to_datetime(issue, utc=True).to_numpy()
    for (series, at), rows in frame.groupby([frame["series_id"], issue_at]).groups.items():
        at = pd.Timestamp(at).tz_localize("UTC") if pd.Timestamp(at).tz is None else at
        end = pd.Timestamp(at) - pd.Timedelta(hours=1)  # the last hour that ended by then
        mine = known[(known["series_id"] == series)]
        window = mine[
            (mine["target_time"] <= end) & (mine["target_time"] > end - pd.Timedelta(hours=hours))
        ]
        if len(window) and window["point"].sum() > 0:
            out[np.asarray(rows)] = window["y"].sum() / window["point"].sum()
    return out
