"""Inputs of the theft and transformer-failure models, assembled for a request.

Theft (`training/theft/pyfunc.py` layout): the meter's FeatureService `theft_detection_v1`
values from the online store, and its daily kWh and interrupted hours over the model's window
(`kwh_lag_00` = the day ending at the latest stamp) from the snapshot of the `meter_daily` table.

Transformer failure (`training/maintenance/pyfunc.py` layout): the last `window_days` days of
FeatureService `asset_failure_v1` per transformer, retrieved point-in-time through Feast from
the offline store (a window is a history, which an online store does not keep) with the latest
day taken from the online store, so a fresher materialisation is seen without a rebuild.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.models.layout import THEFT_KEY_COLUMNS as KEY_COLUMNS
from gridml.models.layout import lag_columns
from gridml.models.windows import day_windows
from gridml.serving.online import TIMESTAMP_SUFFIX
from gridml.serving.snapshot import DailyHistory


def theft_input(
    online: pd.DataFrame,
    meters: pd.DataFrame,
    daily: DailyHistory,
    feature_columns: list[str],
    days: int,
) -> pd.DataFrame:
    """One row per meter of `online` (meter_id, transformer_id, features) in the model layout."""
    rows = daily.meters.get_indexer(online["meter_id"])
    ends = np.full(len(rows), daily.kwh.shape[1] - 1)  # the window ends at the newest day
    kwh, outage = day_windows(daily.kwh, daily.outage, rows, ends, days)
    kwh, outage = kwh[:, ::-1], outage[:, ::-1]  # lag columns: lag 0 is the newest day
    keys = pd.DataFrame(
        {
            "meter_id": online["meter_id"].astype(str).to_numpy(),
            "transformer_id": online["meter_id"].map(meters["transformer_id"]).astype(str),
        }
    )
    missing = [c for c in feature_columns if c not in online.columns]
    if missing:  # the contract was checked at load time: a missing column is a bug, not a NaN
        raise KeyError(f"the online features lack the theft model's input(s) {missing}")
    feats = online[feature_columns].apply(pd.to_numeric, errors="coerce")
    return pd.concat(
        [
            keys[list(KEY_COLUMNS)].reset_index(drop=True),
            feats.astype("float64").reset_index(drop=True),
            pd.DataFrame(kwh, columns=lag_columns("kwh", days)),
            pd.DataFrame(outage, columns=lag_columns("outage", days)),
        ],
        axis=1,
    )


def window_entities(transformers: pd.Index, stamps: pd.DatetimeIndex, window: int) -> pd.DataFrame:
    """Entity rows (transformer_id, event_timestamp) for the last `window` day stamps."""
    last = pd.DatetimeIndex(sorted(stamps.unique()))[-window:]
    return pd.MultiIndex.from_product(
        [transformers, last], names=["transformer_id", "event_timestamp"]
    ).to_frame(index=False)


def _floats(frame: pd.DataFrame) -> np.ndarray:
    """Feature values as float64 (None and unreadable values: NaN), fast for numeric cells."""
    try:
        return np.array(frame.to_numpy(), dtype="float64")
    except (TypeError, ValueError):  # text cells: convert column by column
        return frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype="float64")


def merge_latest(window: pd.DataFrame, online: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The offline window with each transformer's online row as its latest day (replacing the
    offline row of the same stamp, or appended when the online store is fresher)."""
    ts = online.get(f"{features[0]}{TIMESTAMP_SUFFIX}")
    if ts is None or online.empty:
        return window
    seconds = pd.to_numeric(ts, errors="coerce").to_numpy(dtype="float64")
    ok = seconds > 0  # NaN: no row
    if not ok.any():
        return window
    fresh = pd.DataFrame(_floats(online.loc[ok, features]), columns=features)
    fresh.insert(0, "transformer_id", online["transformer_id"].to_numpy()[ok])
    fresh.insert(1, "event_timestamp", pd.to_datetime(seconds[ok], unit="s", utc=True))
    keys = ["transformer_id", "event_timestamp"]
    merged = pd.concat([window, fresh[window.columns]], ignore_index=True)
    return merged.drop_duplicates(keys, keep="last").sort_values(keys, ignore_index=True)


def failure_input(window: pd.DataFrame, ids: list[str], features: list[str]) -> pd.DataFrame:
    """The requested transformers' rows, timestamps naive UTC as the model's signature wants."""
    rows = window[window["transformer_id"].isin(ids)]
    stamps = pd.to_datetime(rows["event_timestamp"], utc=True).dt.tz_localize(None)
    keys = pd.DataFrame(
        {
            "transformer_id": rows["transformer_id"].astype(str).to_numpy(),
            "event_timestamp": stamps.to_numpy(),
        }
    )
    values = pd.DataFrame(_floats(rows[features]), columns=features)
    return pd.concat([keys, values], axis=1)
