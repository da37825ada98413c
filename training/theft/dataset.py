"""Theft-detection samples: one row per (meter, scoring day t).

Inputs, all known at t (point in time):
- the Feast FeatureService `theft_detection_v1` at t (meter_daily, meter_profile[is_prepaid],
  transformer_energy_daily loss ratios), entity rows meter_id + transformer_id + event_timestamp;
- the meter's daily kWh over the last `weeks * 7` days, read from the `meter_daily` offline table
  (rows are stamped at the END of the local day, so the day ending at t is the last one).
  Days mostly lost to a supply interruption (`outage_hours_day` >= 12, from the utility's
  interruption feed, not the meter) are masked like missing readings; partly interrupted days are
  scaled up to 24 served hours. The series is divided by its own median over the window, and is
  given flat (the "wide" input) and as a weeks x 7 grid (the "deep" CNN input) with its mask.

Labels come from WORKSPACE/labels, read only by `read_labels` after the features are built:
- 1: the meter is a thief and has stolen for at least `min_theft_days` days at t
  (theft_start <= t - min_theft_days);
- 0: honest meters, AND thieves on days before their theft started (they were honest then:
  the same customer contributes negatives first, then positives, as in a real inspection log);
- dropped: thieves in their first `min_theft_days` days (too little theft in the window to say).

Split by customer AND by time: a share of meters is held out entirely (test), the remaining
meters are cut into validation folds (early stopping, model choice, calibration; or one
validation part), both within each attack type; train/validation use scoring days up to a
cut-off, test only the days after it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError
from gridml.features.contracts import THEFT_LABELS
from gridml.features.store import repo
from gridml.features.store.lookup import topology
from gridml.io import read_parts
from gridml.models.windows import daily_calendar, day_windows
from gridml.training.theft.config import TheftConfig
from gridml.workspace import Workspace

DAY = pd.Timedelta(days=1)
KEYS = ["meter_id", "transformer_id", "event_timestamp"]
LABEL_COLUMNS = ("label", "attack_type", "theft_start")
OUTAGE_MASK_HOURS = 12.0
CLIP = 10.0


@dataclass(frozen=True)
class TheftSamples:
    """Aligned arrays of n samples. `meta` holds the keys (and, once attached, the labels)."""

    meta: pd.DataFrame  # meter_id, transformer_id, event_timestamp [, label, attack_type]
    features: pd.DataFrame  # Feast features of the service (no keys, no labels)
    raw: np.ndarray  # (n, days) daily kWh as read, NaN where missing
    outage: np.ndarray  # (n, days) interrupted hours of each day (0 where unknown)

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def weeks(self) -> int:
        return self.raw.shape[1] // 7

    @property
    def labels(self) -> np.ndarray:
        if "label" not in self.meta:
            raise MissingDataError("samples carry no labels: call attach_labels first")
        return self.meta["label"].to_numpy().astype(np.float32)

    def take(self, idx: np.ndarray) -> TheftSamples:
        idx = np.asarray(idx)
        return TheftSamples(
            self.meta.iloc[idx].reset_index(drop=True),
            self.features.iloc[idx].reset_index(drop=True),
            self.raw[idx],
            self.outage[idx],
        )

    def with_days(
        self, raw: np.ndarray, outage: np.ndarray, features: pd.DataFrame | None = None
    ) -> TheftSamples:
        """The same samples with other daily inputs (what-if checks of a model's behaviour)."""
        return replace(
            self, raw=raw, outage=outage, features=self.features if features is None else features
        )

    def sequences(self) -> tuple[np.ndarray, np.ndarray]:
        """(series, mask), both (n, days) float32: median-normalised kWh, 1 = missing."""
        return normalise(self.raw, self.outage)

    def grid(self) -> np.ndarray:
        """(n, 2, weeks, 7): the normalised series and its mask, one row per week."""
        series, mask = self.sequences()
        n = len(series)
        return np.stack([series, mask], axis=1).reshape(n, 2, self.weeks, 7)


def normalise(raw: np.ndarray, outage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outage-aware, median-normalised series and its missing mask."""
    hours = np.clip(np.nan_to_num(outage), 0, 24)
    missing = np.isnan(raw) | (hours >= OUTAGE_MASK_HOURS)
    served = np.where(missing, np.nan, raw * 24.0 / np.maximum(24.0 - hours, 1.0))
    with np.errstate(all="ignore"):
        med = np.nanmedian(np.where(missing, np.nan, served), axis=1, keepdims=True)
        mean = np.nanmean(served, axis=1, keepdims=True)
    scale = np.where(np.isfinite(med) & (med > 1e-6), med, np.where(mean > 1e-6, mean, 1.0))
    scale = np.where(np.isfinite(scale), scale, 1.0)
    series = np.clip(np.nan_to_num(served / scale), 0, CLIP)
    return series.astype(np.float32), missing.astype(np.float32)


def read_daily(ws: Workspace, meter_ids: list[str] | None = None) -> pd.DataFrame:
    """meter_daily kwh_day and outage_hours_day as (meter_id, event_timestamp) rows."""
    frame = read_parts(
        ws.table_dir("meter_daily"),
        columns=["meter_id", "event_timestamp", "kwh_day", "outage_hours_day"],
    )
    if frame is None:
        raise MissingDataError(f"{ws.table_dir('meter_daily')}: no table; run build_tables first")
    if meter_ids is not None:
        frame = frame[frame["meter_id"].isin(meter_ids)]
    return frame


def scoring_days(stamps: pd.DatetimeIndex, cfg: TheftConfig) -> pd.DatetimeIndex:
    """Every `stride_days` back from the last stamp, each with a full window of history."""
    stamps = pd.DatetimeIndex(sorted(stamps.unique()))
    if len(stamps) < cfg.days:
        raise MissingDataError(f"{len(stamps)} days of meter_daily; the window needs {cfg.days}")
    last = len(stamps) - 1
    idx = np.arange(last, cfg.days - 2, -cfg.stride_days)[::-1]
    return stamps[idx]


def build_samples(
    ws: Workspace,
    cfg: TheftConfig,
    meter_ids: list[str] | None = None,
    days: pd.DatetimeIndex | None = None,
) -> TheftSamples:
    """Feature-only samples for every (meter, scoring day): never reads the labels folder."""
    topo = topology(ws)[["meter_id", "transformer_id"]]
    if meter_ids is not None:
        topo = topo[topo["meter_id"].isin(meter_ids)]
    kwh, outage = daily_calendar(read_daily(ws, topo["meter_id"].tolist()))
    full = pd.DatetimeIndex(kwh.columns)
    days = scoring_days(full, cfg) if days is None else pd.DatetimeIndex(days)
    topo = topo[topo["meter_id"].isin(kwh.index)].sort_values("meter_id", ignore_index=True)
    entities = topo.merge(pd.DataFrame({"event_timestamp": days}), how="cross")
    entities = entities.sort_values(["event_timestamp", "meter_id"], ignore_index=True)
    feats = repo.training_set(ws, cfg.feature_service, entities)
    features = feats.drop(columns=KEYS)
    row = kwh.index.get_indexer(entities["meter_id"])
    end = full.get_indexer(entities["event_timestamp"])
    if (end < cfg.days - 1).any() or (row < 0).any():
        raise MissingDataError("some scoring days lack a full window of daily history")
    raw, out = day_windows(kwh.to_numpy(float), outage.to_numpy(float), row, end, cfg.days)
    return TheftSamples(entities[KEYS].copy(), features.reset_index(drop=True), raw, out)


def read_labels(ws: Workspace) -> pd.DataFrame:
    """Theft labels (meter_id, theft_start, attack_type): the ground truth, kept apart."""
    path = ws.labels / "theft_labels.parquet"
    if not path.is_file():
        raise MissingDataError(f"{path}: no theft labels")
    return THEFT_LABELS.validate(pd.read_parquet(path))


def attach_labels(samples: TheftSamples, labels: pd.DataFrame, cfg: TheftConfig) -> TheftSamples:
    """Label the samples (see the module doc); drops thieves in their first days of theft."""
    lab = labels.set_index("meter_id")
    meta = samples.meta
    start = meta["meter_id"].map(lab["theft_start"])
    t = meta["event_timestamp"]
    positive = start.notna() & (start <= t - cfg.min_theft_days * DAY)
    ambiguous = start.notna() & ~positive & (start < t)
    keep = np.flatnonzero(~ambiguous.to_numpy())
    out = samples.take(keep)
    out.meta["label"] = positive.to_numpy()[keep].astype(int)
    out.meta["attack_type"] = (
        meta["meter_id"].map(lab["attack_type"]).where(positive, "").to_numpy()[keep]
    )
    return out


@dataclass(frozen=True)
class Split:
    """Sample indices. `folds`: (fit, validate) pairs over the non-test meters' training days,
    disjoint by meter; their validation parts together cover every such sample once when
    `cfg.folds` >= 2. `train`/`val` are the first pair (one validation part: `cfg.folds` = 1)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    cutoff: pd.Timestamp
    folds: tuple[tuple[np.ndarray, np.ndarray], ...] = ()

    @property
    def validated(self) -> np.ndarray:
        """Every sample some fold validates on, in index order."""
        if not self.folds:
            return self.val
        return np.sort(np.concatenate([va for _, va in self.folds]))


def meter_strata(meta: pd.DataFrame) -> pd.Series:
    """Per meter (sorted): its attack type if it is ever positive, else "" (honest)."""
    if "label" not in meta:
        return pd.Series("", index=sorted(meta["meter_id"].unique()))
    kind = meta["attack_type"].where(meta["label"] == 1, "").astype(str)
    return kind.groupby(meta["meter_id"]).max().sort_index()


def split(samples: TheftSamples, cfg: TheftConfig) -> Split:
    """Indices of train / val / test: disjoint meters, test days after the cut-off.

    Meters are split within each stratum (honest, and each attack type), so test and every
    validation fold hold thieves of each type in proportion."""
    meta = samples.meta
    rng = np.random.default_rng(cfg.seed)
    strata = meter_strata(meta)
    test_m: list[str] = []
    fold_m: list[list[str]] = [[] for _ in range(max(cfg.folds, 1))]
    for kind in sorted(strata.unique()):
        group = rng.permutation(strata.index[strata == kind].to_numpy())
        n_test = round(cfg.test_share * len(group))
        test_m += group[:n_test].tolist()
        rest = group[n_test:]
        if cfg.folds == 1:
            fold_m[0] += rest[: round(cfg.val_share * len(rest))].tolist()
        else:  # round-robin from a random offset: folds differ in size by at most one
            offset = int(rng.integers(cfg.folds))
            for i, m in enumerate(rest):
                fold_m[(i + offset) % cfg.folds].append(m)
    last = meta["event_timestamp"].max()
    cutoff = last - cfg.test_days * DAY
    early = (meta["event_timestamp"] <= cutoff).to_numpy()
    in_test = meta["meter_id"].isin(test_m).to_numpy()
    pairs = []
    for members in fold_m:
        in_val = meta["meter_id"].isin(members).to_numpy()
        pairs.append((np.flatnonzero(early & ~in_test & ~in_val), np.flatnonzero(early & in_val)))
    test = np.flatnonzero(~early & in_test)
    check_split_sizes(pairs, test, meta, cfg)
    return Split(train=pairs[0][0], val=pairs[0][1], test=test, cutoff=cutoff, folds=tuple(pairs))


def check_split_sizes(
    pairs: list[tuple[np.ndarray, np.ndarray]],
    test: np.ndarray,
    meta: pd.DataFrame,
    cfg: TheftConfig,
) -> None:
    """MissingDataError naming what is empty: a zone too short (or too small) for the
    configured test days and folds cannot be trained or scored."""
    days = meta["event_timestamp"].nunique()
    empty = [name for name, rows in (("test", test),) if len(rows) == 0]
    for k, (fit, val) in enumerate(pairs):
        empty += [
            f"{name} (fold {k + 1})"
            for name, rows in (("fit", fit), ("validation", val))
            if len(rows) == 0
        ]
    if empty:
        raise MissingDataError(
            f"theft split: no samples for {', '.join(empty)} with {days} scoring days "
            f"({meta['meter_id'].nunique()} meters), test_days={cfg.test_days}, "
            f"window days={cfg.days}, folds={cfg.folds}: use a longer zone or fewer test days"
        )


def labelled_split(ws: Workspace, cfg: TheftConfig) -> tuple[TheftSamples, Split]:
    """Every sample, built from the features alone, then labelled, and its split."""
    features = build_samples(ws, cfg)  # feature-only: labels are read afterwards
    samples = attach_labels(features, read_labels(ws), cfg)
    return samples, split(samples, cfg)


def own_series_features(raw: np.ndarray) -> dict[str, np.ndarray]:
    """The meter_daily features computed from a meter's own daily kWh, at the window's last day
    (same formulas as features/tables/meter.py): for what-if checks on edited series."""
    frame = pd.DataFrame(raw.T)
    mean_7d = frame.rolling(7, min_periods=4).mean()
    mean_28d = frame.rolling(28, min_periods=14).mean()
    std_28d = frame.rolling(28, min_periods=14).std()
    before = mean_28d.shift(7)
    with np.errstate(all="ignore"):
        change = (mean_7d / before - 1.0).to_numpy()[-1]
    return {
        "kwh_day": raw[:, -1],
        "kwh_day_mean_7d": mean_7d.to_numpy()[-1],
        "kwh_day_mean_28d": mean_28d.to_numpy()[-1],
        "kwh_day_std_28d": std_28d.to_numpy()[-1],
        "kwh_change_7d_28d": np.where(np.isfinite(change), change, np.nan),
    }
