"""The transformer-failure training data, assembled through the FeatureService `asset_failure_v1`.

One row per (transformer, local day end) of the `transformer_daily` table. The label is 1 when a
failure of that transformer happens in (t, t + horizon]. Days when the unit is down (after a
failure, until its 'replacement' in the maintenance log) are no samples and their features are
masked; days whose horizon runs past the end of the data are dropped unless a failure is already
known (censoring). The split is by time: test days >= cut-off, training days < cut-off - gap
(gap >= horizon, so no training label looks into the test period); the last training days,
after another gap, validate (early stopping, calibration).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError
from gridml.features.store import repo
from gridml.features.tables.catalog import EVENT_TIMESTAMP, TRANSFORMER_DAILY
from gridml.io import read_parts
from gridml.training.maintenance.config import MaintenanceConfig
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
KEY = "transformer_id"
DAY = pd.Timedelta(days=1)
SPLITS = ("fit", "gap", "valid", "test")


def _utc(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, utc=True).astype("datetime64[ns, UTC]")


def entity_frame(ws: Workspace) -> pd.DataFrame:
    """Every (transformer_id, event_timestamp) of the transformer_daily table (local day ends)."""
    frame = read_parts(ws.table_dir(TRANSFORMER_DAILY.name), columns=[KEY, EVENT_TIMESTAMP])
    if frame is None or frame.empty:
        raise MissingDataError("transformer_daily is empty: run `gridml features build` first")
    frame = frame.drop_duplicates().assign(event_timestamp=lambda d: _utc(d[EVENT_TIMESTAMP]))
    return frame.sort_values([KEY, EVENT_TIMESTAMP]).reset_index(drop=True)


def read_events(ws: Workspace) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Failures (transformer_id, timestamp, failure_mode) and replacements (transformer_id,
    timestamp) from the feeds; empty frames when a feed is absent."""
    failures = read_parts(ws.feed_dir("failures"))
    if failures is None:
        failures = pd.DataFrame({KEY: [], "timestamp": [], "failure_mode": []})
    maintenance = read_parts(ws.feed_dir("maintenance"))
    if maintenance is None:
        maintenance = pd.DataFrame({KEY: [], "timestamp": [], "action": []})
    replacements = maintenance.loc[maintenance["action"] == "replacement", [KEY, "timestamp"]]
    failures = failures.assign(timestamp=_utc(failures["timestamp"]))
    replacements = replacements.assign(timestamp=_utc(replacements["timestamp"]))
    return failures.reset_index(drop=True), replacements.reset_index(drop=True)


def label_rows(
    entity: pd.DataFrame,
    failures: pd.DataFrame,
    replacements: pd.DataFrame,
    horizon_days: int,
    end: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """`entity` (transformer_id, event_timestamp) with `label`, `down` and `censored` columns.

    label: a failure of the transformer in (t, t + horizon]. down: the last failure at or
    before t has no replacement since (the unit is out of service). censored: t + horizon runs
    past `end` and no failure is known in the window (the label is unknown)."""
    horizon = pd.Timedelta(days=horizon_days)
    rows = entity[[KEY, EVENT_TIMESTAMP]].copy()
    rows["_row"] = np.arange(len(rows))
    rows[EVENT_TIMESTAMP] = _utc(rows[EVENT_TIMESTAMP])
    rows = rows.sort_values(EVENT_TIMESTAMP)
    rows[KEY] = rows[KEY].astype(str)
    fail, repl = (
        e[[KEY, "timestamp"]].astype({KEY: str}).assign(timestamp=lambda d: _utc(d["timestamp"]))
        for e in (failures, replacements)
    )
    fail, repl = fail.sort_values("timestamp"), repl.sort_values("timestamp")
    nxt = pd.merge_asof(
        rows,
        fail.rename(columns={"timestamp": "next_failure"}),
        left_on=EVENT_TIMESTAMP,
        right_on="next_failure",
        by=KEY,
        direction="forward",
        allow_exact_matches=False,
    )
    last_f = pd.merge_asof(
        rows,
        fail.rename(columns={"timestamp": "last_failure"}),
        left_on=EVENT_TIMESTAMP,
        right_on="last_failure",
        by=KEY,
        direction="backward",
    )
    last_r = pd.merge_asof(
        rows,
        repl.rename(columns={"timestamp": "last_replacement"}),
        left_on=EVENT_TIMESTAMP,
        right_on="last_replacement",
        by=KEY,
        direction="backward",
    )
    out = nxt.merge(last_f[["_row", "last_failure"]], on="_row").merge(
        last_r[["_row", "last_replacement"]], on="_row"
    )
    t = out[EVENT_TIMESTAMP]
    out["label"] = (out["next_failure"] <= t + horizon).astype(np.int8)
    out["down"] = out["last_failure"].notna() & ~(out["last_replacement"] >= out["last_failure"])
    out["censored"] = False if end is None else (t + horizon > end) & (out["label"] == 0)
    out = out.sort_values("_row").drop(columns=["_row", "last_failure", "last_replacement"])
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class Split:
    """Day-end boundaries: fit < valid_start - gap; valid in [valid_start, train_end);
    gap in [train_end, cutoff); test >= cutoff."""

    cutoff: pd.Timestamp
    train_end: pd.Timestamp
    valid_start: pd.Timestamp

    def assign(self, t: pd.Series, gap: pd.Timedelta) -> pd.Series:
        split = np.where(t >= self.cutoff, "test", "gap")
        split = np.where(t < self.train_end, "valid", split)
        split = np.where(t < self.valid_start - gap, "fit", split)
        split = np.where((t >= self.valid_start - gap) & (t < self.valid_start), "gap", split)
        return pd.Series(split, index=t.index)


def time_split(days: pd.DatetimeIndex, cfg: MaintenanceConfig) -> Split:
    """Cut-off = the first of the last `test_days` day ends; training ends `gap` days before it."""
    days = pd.DatetimeIndex(sorted(set(days)))
    if len(days) < cfg.test_days + cfg.gap * 2 + cfg.validation_days + 7:
        raise MissingDataError(
            f"{len(days)} days of data: too few for {cfg.test_days} test days, gaps of "
            f"{cfg.gap} and {cfg.validation_days} validation days"
        )
    cutoff = days[-cfg.test_days]
    train_end = cutoff - pd.Timedelta(days=cfg.gap)
    return Split(cutoff, train_end, train_end - pd.Timedelta(days=cfg.validation_days))


@dataclass
class MaintenanceData:
    """Samples and the daily feature cube the sequences and flat features are cut from."""

    rows: pd.DataFrame  # transformer_id, event_timestamp, label, split, tix, dix (cube indices)
    cube: np.ndarray  # [transformers, days, features] raw values; NaN = missing or unit down
    features: list[str]
    transformers: list[str]
    days: pd.DatetimeIndex
    failures: pd.DataFrame
    split: Split
    horizon_days: int

    def part(self, *names: str) -> pd.DataFrame:
        return self.rows[self.rows["split"].isin(names)]

    def train_day_mask(self) -> np.ndarray:
        return np.asarray(self.days < self.split.train_end)


def feature_names(ws: Workspace, service: str) -> list[str]:
    """The feature names a FeatureService serves, in order."""
    store = repo.open_store(ws)
    fs = store.get_feature_service(service)
    return [f.name for p in fs.feature_view_projections for f in p.features]


def assemble(
    features: pd.DataFrame,
    names: list[str],
    failures: pd.DataFrame,
    replacements: pd.DataFrame,
    cfg: MaintenanceConfig,
) -> MaintenanceData:
    """Label, mask, index and split a point-in-time feature frame (one row per unit-day)."""
    features = features.assign(event_timestamp=_utc(features[EVENT_TIMESTAMP]))
    days = pd.DatetimeIndex(sorted(features[EVENT_TIMESTAMP].unique()))
    transformers = sorted(features[KEY].unique())
    labelled = label_rows(features, failures, replacements, cfg.horizon_days, end=days[-1])
    tix = pd.Index(transformers).get_indexer(features[KEY])
    dix = days.get_indexer(features[EVENT_TIMESTAMP])
    cube = np.full((len(transformers), len(days), len(names)), np.nan, dtype=np.float32)
    values = features[names].to_numpy(dtype=np.float32, na_value=np.nan)
    values[labelled["down"].to_numpy()] = np.nan  # a failed unit's telemetry is no signal
    cube[tix, dix] = values
    split = time_split(days, cfg)
    rows = pd.DataFrame(
        {
            KEY: features[KEY].to_numpy(),
            EVENT_TIMESTAMP: features[EVENT_TIMESTAMP].to_numpy(),
            "label": labelled["label"].to_numpy(),
            "tix": tix,
            "dix": dix,
        }
    )
    keep = ~(labelled["down"] | labelled["censored"]).to_numpy()
    rows = rows[keep].reset_index(drop=True)
    rows["split"] = split.assign(rows[EVENT_TIMESTAMP], pd.Timedelta(days=cfg.gap))
    rows = rows[rows["split"] != "gap"].reset_index(drop=True)
    log.info("maintenance rows: %s", rows.groupby("split")["label"].agg(["size", "sum"]).to_dict())
    return MaintenanceData(
        rows, cube, list(names), transformers, days, failures, split, cfg.horizon_days
    )


def load_maintenance_data(ws: Workspace, cfg: MaintenanceConfig) -> MaintenanceData:
    """Point-in-time features of every unit-day through Feast, labelled and split."""
    entity = entity_frame(ws)
    names = feature_names(ws, cfg.feature_service)
    features = repo.training_set(ws, cfg.feature_service, entity)
    failures, replacements = read_events(ws)
    return assemble(features, names, failures, replacements, cfg)


SKEW_LOG = 2.0  # features at least this right-skewed (and never negative) are log-scaled
LOG_OFFSET_QUANTILE = 0.05  # log(x + c), c = this quantile of the feature's positive values


def _skewness(values: np.ndarray) -> float:
    std = values.std()
    return float(((values - values.mean()) ** 3).mean() / std**3) if std > 0 else 0.0


@dataclass
class Scaler:
    """Per-feature standardisation fitted on training days (NaN ignored).

    Non-negative, strongly right-skewed features (the ageing acceleration factor, exponential in
    the hot-spot temperature; accumulated ageing hours; dissolved gases; overload hours) are
    standardised on log(x + c), with c a small positive quantile of the feature: on a linear
    scale a few extreme units would set the spread and a unit ageing 4x faster than usual
    would hardly move its input. `log_offset` holds c, NaN for the linear features."""

    mean: np.ndarray
    std: np.ndarray
    log_offset: np.ndarray | None = None

    @classmethod
    def fit(cls, cube: np.ndarray, day_mask: np.ndarray) -> Scaler:
        train = cube[:, day_mask].reshape(-1, cube.shape[-1])
        offset = np.full(train.shape[1], np.nan, dtype=np.float32)
        for j in range(train.shape[1]):
            v = train[:, j][np.isfinite(train[:, j])].astype(np.float64)
            positive = v[v > 0]
            if len(positive) and v.min() >= 0 and _skewness(v) >= SKEW_LOG:
                offset[j] = max(float(np.quantile(positive, LOG_OFFSET_QUANTILE)), 1e-6)
        train = cls._log(train, offset)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(train, axis=0)
            std = np.nanstd(train, axis=0)
        mean = np.nan_to_num(mean, nan=0.0)
        std = np.where(np.isfinite(std) & (std > 1e-6), std, 1.0)
        return cls(mean.astype(np.float32), std.astype(np.float32), offset)

    @staticmethod
    def _log(values: np.ndarray, offset: np.ndarray | None) -> np.ndarray:
        if offset is None or not np.isfinite(offset).any():
            return values
        logged = np.isfinite(offset)
        with np.errstate(invalid="ignore"):
            return np.where(
                logged, np.log(np.maximum(values, 0) + np.where(logged, offset, 1)), values
            )

    def transform(self, values: np.ndarray) -> np.ndarray:
        z = (self._log(values, self.log_offset) - self.mean) / self.std
        return np.clip(z, -10, 10)


def windows(cube: np.ndarray, tix: np.ndarray, dix: np.ndarray, window: int) -> np.ndarray:
    """The last `window` days (ending at each row's day) of each row's transformer:
    [rows, window, features], NaN before the first day."""
    pad = np.full((cube.shape[0], window - 1, cube.shape[2]), np.nan, dtype=cube.dtype)
    padded = np.concatenate([pad, cube], axis=1)
    idx = np.asarray(dix)[:, None] + np.arange(window)[None, :]
    return padded[np.asarray(tix)[:, None], idx]


def sequences(data: MaintenanceData, rows: pd.DataFrame, scaler: Scaler, window: int) -> np.ndarray:
    """Model input [rows, window, 2 * features] float32: standardised values (0 where missing)
    followed by the observed mask."""
    raw = windows(data.cube, rows["tix"].to_numpy(), rows["dix"].to_numpy(), window)
    observed = ~np.isnan(raw)
    z = np.where(observed, scaler.transform(raw), 0.0)
    return np.concatenate([z, observed], axis=-1).astype(np.float32)


def flat_features(data: MaintenanceData, rows: pd.DataFrame, window: int) -> pd.DataFrame:
    """Baseline features: the current day, 7-day mean and max, and the window mean."""
    raw = windows(data.cube, rows["tix"].to_numpy(), rows["dix"].to_numpy(), window)
    recent = raw[:, -min(7, window) :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        parts = {
            "": raw[:, -1],
            "_mean7d": np.nanmean(recent, axis=1),
            "_max7d": np.nanmax(recent, axis=1),
            f"_mean{window}d": np.nanmean(raw, axis=1),
        }
    cols = {
        f"{name}{suffix}": block[:, j]
        for suffix, block in parts.items()
        for j, name in enumerate(data.features)
    }
    return pd.DataFrame(cols, index=rows.index)
