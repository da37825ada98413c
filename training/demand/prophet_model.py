"""Prophet demand forecasts: one model per series, fitted in parallel worker processes.

Frames are long, one row per (series, hour):

- history: `series_id`, `timestamp` (UTC, tz-aware, start of the hour), `y` (unconstrained load
  in kWh; NaN for hours masked as outages or missing: Prophet drops rows whose `y` is NaN before
  fitting, and the regressors may be NaN on those rows), and the regressor columns of
  `ProphetSettings.regressors` (rows with a NaN regressor and a known `y` are dropped too).
- future: `series_id`, `timestamp` (UTC target hours) and the regressor columns, as a weather
  forecast provides them (they must not be NaN).

Prophet is fitted on local wall-clock time: inside this module `timestamp` is converted to the
zone's time zone and made tz-naive (Prophet's `ds`), so that daily seasonality follows the local
day and holidays fall on local dates. The output keeps the input's UTC `timestamp`. In a zone with
daylight saving, the two UTC hours of the autumn repeat share one local `ds` (and forecast).

Model (defaults chosen on the synthetic zone's feeder loads, see `ProphetSettings`): linear trend,
multiplicative seasonality, separate daily shapes for weekdays, Saturdays and rest days (Sundays
and public holidays), weekly seasonality (yearly only with `yearly_min_days` of history, two
years by default), the country's public holidays, and the weather regressors (cooling degrees).

Quantiles are empirical quantiles of Prophet's posterior predictive samples
(`Prophet.predictive_samples`: trend paths with simulated future changepoints plus Gaussian
observation noise at the fitted sigma), so any set of quantiles comes from one draw, consistently;
`yhat` is Prophet's point forecast (the MAP mean). Sampling is seeded (`ProphetSettings.seed`),
and the Stan MAP fit is deterministic, so results repeat exactly, in one process or many. The
observation noise is homoscedastic (one sigma per series), so intervals are as wide at night as at
the evening peak: check their coverage per hour of day before trusting them. Every forecast and
quantile is clipped at 0 (loads are not negative) and quantiles are sorted per row (no crossing).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Self

import holidays as holidays_pkg
import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from gridml.config import BaseConfig
from gridml.training.metrics import quantile_column

if TYPE_CHECKING:
    from prophet import Prophet

log = logging.getLogger(__name__)

SERIALIZATION_FORMAT = "gridml.prophet_forecaster/1"
HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)
# Day-type conditions of the conditional daily seasonalities (boolean columns Prophet reads).
DAY_TYPE_COLUMNS = {
    "weekday_weekend": ("is_workday", "is_weekend_day"),
    "weekday_saturday_restday": ("is_workday", "is_saturday", "is_restday"),
}
_QUIET_LOGGERS = ("cmdstanpy", "prophet")


class ProphetSettings(BaseConfig):
    """How each series' Prophet model is built, fitted and sampled."""

    regressors: tuple[str, ...] = Field(
        ("cooling_degree_c",),
        description="Extra regressor columns, present in history and future (weather).",
    )
    regressor_mode: Literal["additive", "multiplicative"] | None = Field(
        None, description="Mode of the regressors' effect [default: seasonality_mode]."
    )
    country: str | None = Field(
        "CI", description="Public holidays of this country (`holidays` package code); None: none."
    )
    seasonality_mode: Literal["additive", "multiplicative"] = Field(
        "multiplicative",
        description="Seasonal shape and weather effect scale with the load level. On the "
        "synthetic zone's feeders multiplicative and additive were within 1 % MAE of each other "
        "(multiplicative ahead on 365-day windows, additive on 120-day ones).",
    )
    daily_profiles: Literal["shared", "weekday_weekend", "weekday_saturday_restday"] = Field(
        "weekday_saturday_restday",
        description="One daily shape for all days, or conditional daily shapes per day type "
        "(rest day = Sunday or public holiday).",
    )
    daily_fourier_order: int = Field(10, ge=1, le=30, description="Harmonics of each daily shape.")
    weekly_fourier_order: int = Field(4, ge=0, le=20, description="0 disables weekly seasonality.")
    yearly_seasonality: bool | Literal["auto"] = Field(
        "auto", description="'auto': on when a series has at least `yearly_min_days` of history."
    )
    yearly_min_days: int = Field(
        730,
        ge=60,
        description="With one year of history a yearly term is confounded with the trend: it "
        "raised the feeders' MAE by about 1 % (Prophet's own threshold is also 2 years).",
    )
    yearly_fourier_order: int = Field(6, ge=1, le=20)
    changepoint_prior_scale: float = Field(0.05, gt=0)
    seasonality_prior_scale: float = Field(10.0, gt=0)
    holidays_prior_scale: float = Field(10.0, gt=0)
    n_changepoints: int = Field(25, ge=0)
    uncertainty_samples: int = Field(
        1000, ge=50, le=20000, description="Predictive samples the quantiles are taken from."
    )
    n_workers: int = Field(1, ge=1, le=64, description="Worker processes; 1 fits in-process.")
    max_history_days: int | None = Field(
        365, ge=7, description="Fit on the last N days of each series (bounds the fit time)."
    )
    seed: int = Field(0, ge=0, description="Seed of the Stan fit and of the predictive samples.")

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and value not in holidays_pkg.list_supported_countries():
            raise ValueError(f"country {value!r} is unknown to the `holidays` package")
        return value

    @field_validator("regressors")
    @classmethod
    def _regressors(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        reserved = {"series_id", "timestamp", "ds", "y"} | {
            c for cols in DAY_TYPE_COLUMNS.values() for c in cols
        }
        clash = sorted(set(value) & reserved)
        if clash:
            raise ValueError(f"regressor names clash with reserved columns: {clash}")
        if len(set(value)) != len(value):
            raise ValueError("regressors must be distinct")
        return value


class SeriesForecastError(RuntimeError):
    """Fitting or forecasting one series failed; the message names the series."""


def _check_quantiles(quantiles: Iterable[float]) -> tuple[float, ...]:
    qs = tuple(sorted({float(q) for q in quantiles}))
    if not qs or any(not 0 < q < 1 for q in qs):
        raise ValueError(f"quantiles must lie strictly between 0 and 1, got {qs}")
    names = [quantile_column(q) for q in qs]
    if len(set(names)) != len(names):
        raise ValueError(f"quantiles {qs} map to duplicate columns {names}")
    return qs


# --- Prophet import and logging --------------------------------------------------------------


class _DropYearlyNotice(logging.Filter):
    """Prophet warns at every fit with yearly seasonality on under 2 years of history; here that
    is the documented policy (`yearly_min_days`), not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Yearly seasonality is enabled with less than")


def quiet_prophet_logging() -> None:
    """Silence cmdstanpy's per-fit INFO chatter and Prophet's notices (warnings still show)."""
    # "Importing plotly failed" is logged at ERROR when prophet is imported: plots are not used.
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
    from cmdstanpy.utils import get_logger

    get_logger()  # cmdstanpy sets its logger's level on first use: let it, then override
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    prophet_log = logging.getLogger("prophet")
    if not any(isinstance(f, _DropYearlyNotice) for f in prophet_log.filters):
        prophet_log.addFilter(_DropYearlyNotice())


def _prophet_cls() -> type[Prophet]:
    quiet_prophet_logging()
    from prophet import Prophet

    return Prophet


def _serialize() -> tuple[Callable[[Prophet], str], Callable[[str], Prophet]]:
    """prophet.serialize's (model_to_json, model_from_json), imported quietly."""
    quiet_prophet_logging()
    from prophet.serialize import model_from_json, model_to_json

    return model_to_json, model_from_json


# --- Frames ----------------------------------------------------------------------------------


def _holiday_dates(country: str | None, years: Iterable[int]) -> pd.DatetimeIndex:
    if country is None:
        return pd.DatetimeIndex([])
    cal = holidays_pkg.country_holidays(country, years=sorted(set(years)))
    return pd.DatetimeIndex(pd.to_datetime(list(cal.keys())))


def local_hours(timestamp: pd.Series, timezone: str) -> pd.Series:
    """UTC tz-aware timestamps -> tz-naive local wall-clock time (Prophet's `ds`)."""
    if not isinstance(timestamp.dtype, pd.DatetimeTZDtype):
        raise ValueError("column 'timestamp' must be tz-aware (UTC); got tz-naive values")
    return timestamp.dt.tz_convert(timezone).dt.tz_localize(None)


def to_prophet_frame(
    frame: pd.DataFrame, settings: ProphetSettings, timezone: str, with_y: bool
) -> pd.DataFrame:
    """One series' rows as Prophet wants them: `ds` (local, tz-naive), `y`, regressors and the
    boolean day-type columns of the conditional daily seasonalities. Keeps `timestamp`."""
    need = ["timestamp", *settings.regressors] + (["y"] if with_y else [])
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValueError(f"missing columns {missing}")
    out = pd.DataFrame({"timestamp": frame["timestamp"].to_numpy()}, index=frame.index)
    out["ds"] = local_hours(frame["timestamp"], timezone).to_numpy()
    if with_y:
        out["y"] = pd.to_numeric(frame["y"]).astype(float)
    for name in settings.regressors:
        out[name] = pd.to_numeric(frame[name]).astype(float)
    if settings.daily_profiles != "shared":
        day = out["ds"].dt.normalize()
        dow = out["ds"].dt.dayofweek
        holiday = day.isin(_holiday_dates(settings.country, day.dt.year.unique().tolist()))
        rest = (dow == 6) | holiday
        if settings.daily_profiles == "weekday_weekend":
            weekend = (dow >= 5) | holiday
            out["is_workday"], out["is_weekend_day"] = ~weekend, weekend
        else:
            out["is_workday"] = (dow <= 4) & ~rest
            out["is_saturday"] = (dow == 5) & ~rest
            out["is_restday"] = rest
    return out.sort_values("ds", kind="mergesort").reset_index(drop=True)


def _history_window(df: pd.DataFrame, max_history_days: int | None) -> pd.DataFrame:
    if max_history_days is None or df.empty:
        return df
    start = df["ds"].max() - max_history_days * DAY
    return df[df["ds"] > start]


def _use_yearly(df: pd.DataFrame, settings: ProphetSettings) -> bool:
    if settings.yearly_seasonality != "auto":
        return bool(settings.yearly_seasonality)
    seen = df.loc[df["y"].notna(), "ds"]
    return bool(len(seen)) and (seen.max() - seen.min() + HOUR) >= settings.yearly_min_days * DAY


# --- One series ------------------------------------------------------------------------------


def build_model(settings: ProphetSettings, yearly: bool) -> Prophet:
    """An unfitted Prophet configured by `settings`."""
    prophet_cls = _prophet_cls()
    model = prophet_cls(
        growth="linear",
        n_changepoints=settings.n_changepoints,
        changepoint_prior_scale=settings.changepoint_prior_scale,
        seasonality_mode=settings.seasonality_mode,
        seasonality_prior_scale=settings.seasonality_prior_scale,
        holidays_prior_scale=settings.holidays_prior_scale,
        daily_seasonality=False,
        weekly_seasonality=settings.weekly_fourier_order or False,
        yearly_seasonality=settings.yearly_fourier_order if yearly else False,
        uncertainty_samples=settings.uncertainty_samples,
    )
    if settings.daily_profiles == "shared":
        model.add_seasonality("daily", period=1, fourier_order=settings.daily_fourier_order)
    else:
        for cond in DAY_TYPE_COLUMNS[settings.daily_profiles]:
            model.add_seasonality(
                f"daily_{cond.removeprefix('is_')}",
                period=1,
                fourier_order=settings.daily_fourier_order,
                condition_name=cond,
            )
    for name in settings.regressors:
        model.add_regressor(name, mode=settings.regressor_mode or settings.seasonality_mode)
    if settings.country is not None:
        _add_holidays(model, settings.country)
    return model


def _add_holidays(model: Prophet, country: str) -> None:
    """Prophet's built-in country holidays (any year, past or future); for a country Prophet's
    lookup does not know, a holidays frame built from the `holidays` package (1995-2060)."""
    try:
        model.add_country_holidays(country_name=country)
    except (AttributeError, KeyError, NotImplementedError) as exc:
        log.warning("Prophet has no holidays for %s (%s): using the holidays package", country, exc)
        cal = holidays_pkg.country_holidays(country, years=range(1995, 2061))
        model.holidays = pd.DataFrame(
            {"ds": pd.to_datetime(list(cal.keys())), "holiday": list(cal.values())}
        )


def _prepared_history(
    history: pd.DataFrame, settings: ProphetSettings, timezone: str
) -> pd.DataFrame:
    df = to_prophet_frame(history, settings, timezone, with_y=True)
    if settings.regressors:
        bad = df[list(settings.regressors)].isna().any(axis=1) & df["y"].notna()
        if bad.any():
            log.debug("dropping %d history rows with a missing regressor", int(bad.sum()))
            df = df[~bad]
    df = _history_window(df[df["y"].notna()], settings.max_history_days)
    if len(df) < 2:
        raise ValueError("fewer than 2 hours with a known load in the history")
    return df


def fit_one(history: pd.DataFrame, settings: ProphetSettings, timezone: str) -> Prophet:
    """Fit one series' Prophet model on `history` (`timestamp` UTC, `y`, regressors; NaN `y`
    ignored; only the last `settings.max_history_days` days are used)."""
    if "series_id" in history and history["series_id"].nunique() > 1:
        raise ValueError("fit_one takes the rows of a single series")
    df = _prepared_history(history, settings, timezone)
    model = build_model(settings, yearly=_use_yearly(df, settings))
    quiet_prophet_logging()
    model.fit(df.drop(columns="timestamp"), seed=settings.seed)
    return model


def predict_one(
    model: Prophet,
    future: pd.DataFrame,
    settings: ProphetSettings,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    timezone: str = "Africa/Abidjan",
) -> pd.DataFrame:
    """Forecast one series at the UTC hours of `future` (with its regressors): `timestamp`,
    `yhat` and one column per quantile, clipped at 0, non-crossing, in time order."""
    qs = _check_quantiles(quantiles)
    df = to_prophet_frame(future, settings, timezone, with_y=False)
    if df.empty:
        raise ValueError("no future rows")
    nan = [c for c in settings.regressors if df[c].isna().any()]
    if nan:
        raise ValueError(f"future regressors {nan} have missing values")
    frame = df.drop(columns="timestamp")
    state = np.random.get_state()  # Prophet samples with numpy's global RNG: seed, then restore
    try:
        np.random.seed(settings.seed)
        samples = model.predictive_samples(frame)["yhat"]
    finally:
        np.random.set_state(state)
    n_samples = model.uncertainty_samples
    model.uncertainty_samples = 0  # the point forecast alone: skip Prophet's own interval draw
    try:
        point = model.predict(frame)["yhat"].to_numpy()
    finally:
        model.uncertainty_samples = n_samples
    qv = np.sort(np.quantile(samples, qs, axis=1).T, axis=1)  # rows x quantiles, non-crossing
    out = pd.DataFrame({"timestamp": df["timestamp"].to_numpy(), "yhat": np.clip(point, 0, None)})
    for j, q in enumerate(qs):
        out[quantile_column(q)] = np.clip(qv[:, j], 0, None)
    return out


# --- Worker ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Result:
    series_id: Any
    forecast: pd.DataFrame | None
    model_json: str | None
    fit_seconds: float


def _series_task(
    series_id: Any,
    history: pd.DataFrame,
    future: pd.DataFrame | None,
    settings: dict[str, Any],
    quantiles: tuple[float, ...],
    timezone: str,
    keep_model: bool,
) -> _Result:
    """Fit (and forecast) one series. Top-level with plain picklable arguments, so that it runs
    the same in-process and in a spawn/forkserver worker."""
    quiet_prophet_logging()
    cfg = ProphetSettings.model_validate(settings)
    start = time.perf_counter()
    model = fit_one(history, cfg, timezone)
    seconds = time.perf_counter() - start
    forecast = None if future is None else predict_one(model, future, cfg, quantiles, timezone)
    model_json = None
    if keep_model:
        model_json = _serialize()[0](model)
    return _Result(series_id, forecast, model_json, seconds)


def _mp_context() -> multiprocessing.context.BaseContext:
    """forkserver where available (no fork of a threaded parent), preloading this module so that
    workers start with prophet imported; spawn elsewhere."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return multiprocessing.get_context("spawn")


def _run_series(
    tasks: list[tuple[Any, pd.DataFrame, pd.DataFrame | None]],
    settings: ProphetSettings,
    quantiles: tuple[float, ...],
    timezone: str,
    keep_model: bool,
) -> Iterator[_Result]:
    """Results in the order of `tasks`; sequential when n_workers is 1."""
    dumped = settings.model_dump(mode="json")
    workers = min(settings.n_workers, len(tasks))
    if workers <= 1:
        for sid, hist, fut in tasks:
            try:
                yield _series_task(sid, hist, fut, dumped, quantiles, timezone, keep_model)
            except Exception as exc:
                raise SeriesForecastError(f"series {sid!r}: {exc}") from exc
        return
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=_mp_context()) as pool:
        futures = [
            pool.submit(_series_task, sid, hist, fut, dumped, quantiles, timezone, keep_model)
            for sid, hist, fut in tasks
        ]
        try:
            for (sid, _, _), fut in zip(tasks, futures, strict=True):
                try:
                    yield fut.result()
                except Exception as exc:
                    raise SeriesForecastError(f"series {sid!r}: {exc}") from exc
        finally:
            for fut in futures:
                fut.cancel()


def _split(
    history: pd.DataFrame, future: pd.DataFrame | None
) -> list[tuple[Any, pd.DataFrame, pd.DataFrame | None]]:
    for name, frame in (("history", history), ("future", future)):
        if frame is not None and not {"series_id", "timestamp"} <= set(frame.columns):
            raise ValueError(f"{name} needs columns 'series_id' and 'timestamp'")
    hist_groups = dict(tuple(history.groupby("series_id", sort=True, observed=True)))
    if future is None:
        return [(sid, h, None) for sid, h in hist_groups.items()]
    fut_groups = dict(tuple(future.groupby("series_id", sort=True, observed=True)))
    unknown = sorted(set(fut_groups) - set(hist_groups), key=str)
    if unknown:
        raise ValueError(f"future series without history: {unknown[:10]}")
    return [(sid, hist_groups[sid], f) for sid, f in fut_groups.items()]


def _long_forecast(parts: list[tuple[Any, pd.DataFrame]], qs: tuple[float, ...]) -> pd.DataFrame:
    columns = ["series_id", "timestamp", "yhat", *(quantile_column(q) for q in qs)]
    if not parts:
        return pd.DataFrame(columns=columns)
    frames = [f.assign(series_id=sid) for sid, f in parts]
    return pd.concat(frames, ignore_index=True)[columns]


# --- Public entry points ---------------------------------------------------------------------


def fit_predict(
    history: pd.DataFrame,
    future: pd.DataFrame,
    settings: ProphetSettings | None = None,
    quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    timezone: str = "Africa/Abidjan",
) -> pd.DataFrame:
    """Fit one Prophet model per series of `future` on its `history` and forecast its hours.

    Returns `series_id`, `timestamp` (UTC, as in `future`), `yhat` and `q10`/`q50`/`q90` (one
    column per quantile), sorted by series then time. Series run in `settings.n_workers`
    processes. Series of `history` absent from `future` are not fitted.
    """
    settings = settings or ProphetSettings()
    qs = _check_quantiles(quantiles)
    tasks = _split(history, future)
    results = _run_series(tasks, settings, qs, timezone, keep_model=False)
    return _long_forecast([(r.series_id, r.forecast) for r in results], qs)


class ProphetForecaster:
    """Fitted Prophet models by series id, with the settings and time zone they were fitted with.

    Pickles through Prophet's official JSON serialization (`prophet.serialize`), so it can be
    logged as an MLflow artifact; `to_json`/`from_json` give the same document explicitly.
    Series ids must be JSON scalars (str or int).
    """

    def __init__(
        self,
        models: dict[Any, Prophet],
        settings: ProphetSettings,
        timezone: str = "Africa/Abidjan",
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        fit_seconds: dict[Any, float] | None = None,
    ) -> None:
        self.models = dict(models)
        self.settings = settings
        self.timezone = timezone
        self.quantiles = _check_quantiles(quantiles)
        self.fit_seconds = dict(fit_seconds or {})

    @classmethod
    def fit(
        cls,
        history: pd.DataFrame,
        settings: ProphetSettings | None = None,
        timezone: str = "Africa/Abidjan",
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
    ) -> Self:
        """Fit every series of `history` (in `settings.n_workers` processes)."""
        model_from_json = _serialize()[1]
        settings = settings or ProphetSettings()
        qs = _check_quantiles(quantiles)
        models, seconds = {}, {}
        for r in _run_series(_split(history, None), settings, qs, timezone, keep_model=True):
            assert r.model_json is not None  # keep_model=True: every result carries its model
            models[r.series_id] = model_from_json(r.model_json)
            seconds[r.series_id] = r.fit_seconds
        return cls(models, settings, timezone, qs, seconds)

    @property
    def series_ids(self) -> list[Any]:
        return list(self.models)

    def predict(
        self, future: pd.DataFrame, quantiles: Sequence[float] | None = None
    ) -> pd.DataFrame:
        """Forecast the rows of `future` (`series_id`, UTC `timestamp`, regressors); same output
        as `fit_predict`. Predicting is cheap, so it runs in this process."""
        qs = self.quantiles if quantiles is None else _check_quantiles(quantiles)
        if not {"series_id", "timestamp"} <= set(future.columns):
            raise ValueError("future needs columns 'series_id' and 'timestamp'")
        parts = []
        for sid, rows in future.groupby("series_id", sort=True, observed=True):
            if sid not in self.models:
                raise ValueError(f"no fitted model for series {sid!r}")
            try:
                parts.append(
                    (sid, predict_one(self.models[sid], rows, self.settings, qs, self.timezone))
                )
            except Exception as exc:
                raise SeriesForecastError(f"series {sid!r}: {exc}") from exc
        return _long_forecast(parts, qs)

    # Serialization: Prophet's own JSON per model inside one JSON document.

    def to_json(self) -> str:
        model_to_json = _serialize()[0]
        return json.dumps(
            {
                "format": SERIALIZATION_FORMAT,
                "settings": self.settings.model_dump(mode="json"),
                "timezone": self.timezone,
                "quantiles": list(self.quantiles),
                "fit_seconds": [[sid, s] for sid, s in self.fit_seconds.items()],
                "models": [[sid, model_to_json(m)] for sid, m in self.models.items()],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Self:
        model_from_json = _serialize()[1]
        doc = json.loads(text)
        if doc.get("format") != SERIALIZATION_FORMAT:
            raise ValueError(f"not a {SERIALIZATION_FORMAT} document: {doc.get('format')!r}")
        return cls(
            {sid: model_from_json(m) for sid, m in doc["models"]},
            ProphetSettings.model_validate(doc["settings"]),
            doc["timezone"],
            doc["quantiles"],
            {sid: s for sid, s in doc["fit_seconds"]},
        )

    def __getstate__(self) -> dict[str, str]:
        return {"json": self.to_json()}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__dict__.update(type(self).from_json(state["json"]).__dict__)

    def __repr__(self) -> str:
        return f"ProphetForecaster({len(self.models)} series, timezone={self.timezone!r})"


# --- Throughput ------------------------------------------------------------------------------


def synthetic_load(
    n_series: int, days: int, seed: int = 0, start: str = "2024-01-01"
) -> pd.DataFrame:
    """Hourly history for benchmarks: evening-peak daily shape, quieter Sundays, temperature
    with a daily and yearly cycle, cooling-sensitive load, multiplicative noise, some outages."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    hour = ts.hour.to_numpy()
    doy = ts.dayofyear.to_numpy()
    shape = 0.6 + 0.5 * np.exp(-0.5 * ((hour - 20) / 2.0) ** 2) + 0.2 * ((hour >= 8) & (hour < 18))
    weekly = np.where(ts.dayofweek.to_numpy() == 6, 0.85, 1.0)
    frames = []
    for i in range(n_series):
        temp = (
            27
            + 2.5 * np.sin(2 * np.pi * (doy - 60) / 365.25)
            + 3.5 * np.sin(2 * np.pi * (hour - 9) / 24)
            + np.repeat(rng.normal(0, 1.0, days), 24)
        )
        cdd = np.maximum(0.0, temp - 24.0)
        y = (100 + 20 * i) * shape * weekly * (1 + 0.04 * cdd) * rng.lognormal(0, 0.08, len(ts))
        y[rng.random(len(ts)) < 0.02] = np.nan
        frames.append(
            pd.DataFrame(
                {
                    "series_id": f"s{i}",
                    "timestamp": ts,
                    "y": y,
                    "temperature_c": temp,
                    "cooling_degree_c": cdd,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def fits_per_second(
    n_series: int = 8, n_workers: int = 1, days: int = 365, settings: ProphetSettings | None = None
) -> float:
    """Series fitted per second (wall clock, worker start-up included) on `days` of hourly
    synthetic history per series."""
    history = synthetic_load(n_series, days)
    base = settings or ProphetSettings()
    cfg = ProphetSettings.model_validate(base.model_dump() | {"n_workers": n_workers})
    start = time.perf_counter()
    ProphetForecaster.fit(history, cfg)
    return n_series / (time.perf_counter() - start)


if __name__ == "__main__":
    for workers in (1, 2):
        rate = fits_per_second(8, workers)
        print(
            f"{workers} worker(s): {rate:.2f} fits/s, {1 / rate:.2f} s per series "
            "(8 series x 1 year hourly, wall clock)"
        )
