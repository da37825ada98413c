"""The demand training data, assembled through the Feast FeatureService `demand_forecast_v1`.

Origin features (load lags, weekly profile, series attributes) come point-in-time correct at
each forecast origin (a local midnight); weather and calendar come at each target hour, the
temperature perturbed by a forecast error that grows with the horizon (a model is fed weather
forecasts in production, never the weather that happened). Targets are the unconstrained load
of the target hour: hours with an interruption are masked (unserved demand, not low demand).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError, UserError
from gridml.features.store import repo
from gridml.features.store.lookup import entity_table
from gridml.features.tables.grid import COOLING_BASE_C
from gridml.io import read_parts
from gridml.training.demand.calendar import HOLIDAY_PERIOD_COLUMNS, holiday_period
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.features import (
    CONTEXT_COLUMNS,
    DAY_WEATHER_COLUMNS,
    ISSUE_SOURCE,
    baselines,
    issue_inputs,
    level_scale,
    make_features,
)
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
ORIGIN_VIEWS = ("load_hourly", "load_week_profile", "series_profile")
CONTEXT_VIEWS = ("weather_hourly", "region_calendar")
HOUR = pd.Timedelta(hours=1)


@dataclass
class DemandData:
    """Everything the demand models train and backtest on."""

    origins: pd.DataFrame  # one row per (series, origin): origin features, region_id, origin
    context: pd.DataFrame  # (region_id, target_time) -> weather and calendar of the hour
    actuals: pd.DataFrame  # (series_id, target_time) -> y (NaN when interrupted)
    timezone: str
    start: pd.Timestamp
    end: pd.Timestamp
    country: str = "CI"

    def history(self, before: pd.Timestamp) -> pd.DataFrame:
        """Actuals before a cut-off with the observed weather of their hour (for models such
        as Prophet that learn from the series itself): series_id, timestamp, y, weather."""
        past = self.actuals[self.actuals["target_time"] < before]
        region = self.origins.drop_duplicates("series_id").set_index("series_id")["region_id"]
        weather = self.context[["region_id", "target_time", "temperature_c", "cooling_degree_c"]]
        out = past.assign(region_id=past["series_id"].map(region)).merge(
            weather, on=["region_id", "target_time"], how="left"
        )
        return out.rename(columns={"target_time": "timestamp"}).drop(columns="region_id")


def _service_refs(store, service: str) -> dict[str, list[str]]:
    fs = store.get_feature_service(service)
    return {p.name: [f.name for f in p.features] for p in fs.feature_view_projections}


def local_midnights(start: pd.Timestamp, end: pd.Timestamp, timezone: str) -> pd.DatetimeIndex:
    """Local midnights of the zone between start and end, as UTC stamps."""
    first = start.tz_convert(timezone).ceil("D")
    last = end.tz_convert(timezone).floor("D")
    return pd.date_range(first, last, freq="D").tz_convert("UTC")


def issue_times(origins: pd.Series, cfg: DemandConfig, timezone: str) -> pd.Series:
    """When the forecast of each origin (the local midnight its features are stamped at) is
    issued: `issue.time` local on that day, in UTC."""
    local = pd.to_datetime(origins, utc=True).dt.tz_convert(timezone).dt.tz_localize(None)
    at = local + pd.Timedelta(hours=cfg.issue.issue_hours)
    return at.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="shift_forward").dt.tz_convert(
        "UTC"
    )


#: `load_hourly` features read at the issue time (ISSUE_COLUMNS are computed from them)
ISSUE_FEATURES = sorted({*ISSUE_SOURCE.values(), "interrupted_share"})


def issue_features(store, grid: pd.DataFrame, cfg: DemandConfig, timezone: str) -> pd.DataFrame:
    """ISSUE_COLUMNS of each (series, origin) row of `grid`, from the `load_hourly` row that is
    the latest at the issue time: the hour that ended at (or last before) it, never a later one
    (Feast's point-in-time join); an issue time the clock skips reads the origin's own row."""
    issue = issue_times(grid["origin"], cfg, timezone)
    issue = issue.where(issue.notna(), grid["origin"])
    entity = grid[["series_id", "origin"]].assign(event_timestamp=issue.to_numpy())
    refs = [f"load_hourly:{f}" for f in ISSUE_FEATURES]
    hourly = store.get_historical_features(entity_df=entity, features=refs).to_df()
    hourly = hourly.set_index(["series_id", "origin"])
    hourly = hourly.reindex(pd.MultiIndex.from_frame(grid[["series_id", "origin"]]))
    return issue_inputs(hourly.reset_index(drop=True)).set_axis(grid.index)


def load_demand_data(ws: Workspace, cfg: DemandConfig) -> DemandData:
    """Fetch origin features, target context and actuals for every series of `cfg.levels`."""
    zone = json.loads(ws.zone_file.read_text()) if ws.zone_file.is_file() else None
    if zone is None:
        raise MissingDataError("no zone in the workspace: run `gridml data generate` first")
    start, end = pd.Timestamp(zone["start"]), pd.Timestamp(zone["end"])
    store = repo.open_store(ws)
    refs = _service_refs(store, cfg.feature_service)
    entities = entity_table(ws, cfg.feature_service)
    profile = read_parts(ws.table_dir("series_profile"))
    if profile is None:
        raise MissingDataError("no series_profile table: run `gridml features build` first")
    levels = profile.set_index("series_id")["level"]
    entities = entities[entities["series_id"].map(levels).isin(cfg.levels)]
    if entities.empty:
        raise UserError(
            f"no series at levels {list(cfg.levels)} in this workspace "
            f"(levels present: {sorted(set(levels))})"
        )
    lacking = [lv for lv in cfg.levels if lv not in set(levels)]
    if lacking:
        log.warning(
            "no series at level(s) %s in this workspace: forecast at %s only",
            lacking,
            sorted(set(entities["series_id"].map(levels))),
        )
    # a week of history is needed before the first origin (weekly profile)
    origins = local_midnights(start + pd.Timedelta(days=8), end, zone["timezone"])
    log.info("demand data: %d series x %d origins", len(entities), len(origins))
    grid = entities.merge(pd.DataFrame({"event_timestamp": origins}), how="cross")
    origin_refs = [f"{v}:{f}" for v in ORIGIN_VIEWS for f in refs[v]]
    frame = store.get_historical_features(entity_df=grid, features=origin_refs).to_df()
    frame = frame.rename(columns={"event_timestamp": "origin"})
    frame = pd.concat([frame, issue_features(store, frame, cfg, zone["timezone"])], axis=1)

    regions = entities[["region_id"]].drop_duplicates()
    hours = pd.date_range(start, end - HOUR, freq="h")
    ctx_grid = regions.merge(pd.DataFrame({"event_timestamp": hours}), how="cross")
    ctx_refs = [f"{v}:{f}" for v in CONTEXT_VIEWS for f in refs[v]]
    context = store.get_historical_features(entity_df=ctx_grid, features=ctx_refs).to_df()
    context = context.rename(columns={"event_timestamp": "target_time"})
    local = context["target_time"].dt.tz_convert(zone["timezone"])
    context["target_hour"] = local.dt.hour
    period = holiday_period(pd.DatetimeIndex(local), zone["country"], zone.get("subdivision"))
    context[HOLIDAY_PERIOD_COLUMNS] = period.to_numpy()
    # every context value may be missing (a utility without a weather feed): all float
    context[CONTEXT_COLUMNS] = context[CONTEXT_COLUMNS].astype("float64")

    load = read_parts(
        ws.table_dir("load_hourly"),
        columns=["series_id", "event_timestamp", "load_kwh", "interrupted_share"],
    )
    if load is None:
        raise MissingDataError("no load_hourly table: run `gridml features build` first")
    load = load[load["series_id"].isin(entities["series_id"])]
    actuals = pd.DataFrame(
        {
            "series_id": load["series_id"].to_numpy(),
            "target_time": (load["event_timestamp"] - HOUR).to_numpy(),
            "y": load["load_kwh"].where(load["interrupted_share"] == 0).to_numpy(),
        }
    )
    actuals["target_time"] = pd.to_datetime(actuals["target_time"], utc=True)
    return DemandData(frame, context, actuals, zone["timezone"], start, end, zone["country"])


def weather_forecasts(
    data: DemandData, cfg: DemandConfig, origins: pd.DatetimeIndex, rng: np.random.Generator
) -> pd.DataFrame:
    """The temperature forecast of every region at every (origin, horizon): observed plus an
    error whose sd grows by `weather_forecast_error_c` per day ahead, and the mean and maximum
    of that forecast over each target day. Indexed by (region_id, origin, horizon)."""
    regions = data.origins["region_id"].drop_duplicates().to_numpy()
    h = np.arange(1, cfg.horizon_hours + 1)
    idx = pd.MultiIndex.from_product(
        [regions, origins, h], names=["region_id", "origin", "horizon"]
    )
    frame = idx.to_frame(index=False)
    target = frame["origin"] + (frame["horizon"] - 1) * HOUR
    observed = data.context.set_index(["region_id", "target_time"])["temperature_c"]
    temp = observed.reindex(pd.MultiIndex.from_arrays([frame["region_id"], target])).to_numpy()
    sd = cfg.weather_forecast_error_c * frame["horizon"].to_numpy() / 24.0
    frame["temperature_c"] = temp + rng.normal(0.0, 1.0, len(frame)) * sd
    frame["cooling_degree_c"] = np.maximum(0.0, frame["temperature_c"] - COOLING_BASE_C)
    day = (frame["horizon"] - 1) // 24
    by = frame.groupby([frame["region_id"], frame["origin"], day], sort=False)["temperature_c"]
    frame["temperature_day_mean_c"] = by.transform("mean")
    frame["temperature_day_max_c"] = by.transform("max")
    return frame.set_index(["region_id", "origin", "horizon"])


WEATHER_FORECAST_COLUMNS = ["temperature_c", "cooling_degree_c", *DAY_WEATHER_COLUMNS]


@dataclass
class Design:
    """Rows (series, origin, horizon) with the model's features, target and baselines."""

    keys: pd.DataFrame  # series_id, level, origin, target_time, horizon
    X: pd.DataFrame
    y: np.ndarray
    scale: np.ndarray  # level the features were normalised by
    baselines: pd.DataFrame  # seasonal_naive, profile (kWh)
    inputs: pd.DataFrame | None = None  # the raw model input rows (kept only when asked)


def design(
    data: DemandData,
    cfg: DemandConfig,
    origins: pd.DatetimeIndex,
    sample: float = 1.0,
    keep_inputs: bool = False,
) -> Design:
    """Expand the given origins over horizons 1..H; `sample` keeps a random share of rows."""
    rng = np.random.default_rng(cfg.seed)
    base = data.origins[data.origins["origin"].isin(origins)].reset_index(drop=True)
    actual = data.actuals.set_index(["series_id", "target_time"])["y"]
    ctx = data.context.set_index(["region_id", "target_time"])[CONTEXT_COLUMNS]
    wx = weather_forecasts(data, cfg, pd.DatetimeIndex(base["origin"].unique()), rng)
    parts = []
    for h in range(1, cfg.horizon_hours + 1):
        block = base
        if sample < 1.0:
            block = base[rng.random(len(base)) < sample]
        if block.empty:
            continue
        target = block["origin"] + (h - 1) * HOUR
        block = block.assign(horizon=h, target_time=target)
        context = ctx.reindex(pd.MultiIndex.from_arrays([block["region_id"], target]))
        block = pd.concat([block.reset_index(drop=True), context.reset_index(drop=True)], axis=1)
        weather = wx.reindex(
            pd.MultiIndex.from_arrays([block["region_id"], block["origin"], block["horizon"]])
        )
        for col in WEATHER_FORECAST_COLUMNS:
            block[col] = weather[col].to_numpy()
        y = actual.reindex(pd.MultiIndex.from_arrays([block["series_id"], target])).to_numpy()
        parts.append((block, y))
    blocks = [b for b, _ in parts]
    keys = pd.concat(
        [b[["series_id", "level", "origin", "target_time", "horizon"]] for b in blocks],
        ignore_index=True,
    )
    X = pd.concat([make_features(b) for b in blocks], ignore_index=True)
    base_fc = pd.concat([baselines(b) for b in blocks], ignore_index=True)
    scale = np.concatenate([level_scale(b) for b in blocks])
    y = np.concatenate([y for _, y in parts])
    inputs = pd.concat(blocks, ignore_index=True) if keep_inputs else None
    return Design(keys, X, y, scale, base_fc, inputs)
