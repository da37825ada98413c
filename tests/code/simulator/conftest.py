"""Feed frames of the session zones (tests/conftest.py), read once and shared by these tests."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gridml.features.contracts import FEEDS
from gridml.io import read_parts
from gridml.workspace import Workspace


class ZoneData:
    """Lazy, cached access to a generated zone's feeds, labels and metadata. Read-only."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._cache: dict[str, Any] = {}
        self.zone = json.loads(ws.zone_file.read_text())

    def __getitem__(self, feed: str) -> pd.DataFrame:
        if feed not in self._cache:
            df = read_parts(self.ws.feed_dir(feed))
            if df is None:
                raise KeyError(f"feed {feed!r} was not generated")
            self._cache[feed] = df
        return self._cache[feed]

    @property
    def labels(self) -> pd.DataFrame:
        if "_labels" not in self._cache:
            self._cache["_labels"] = pd.read_parquet(self.ws.labels / "theft_labels.parquet")
        return self._cache["_labels"]

    @property
    def timezone(self) -> str:
        return self.zone["timezone"]

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.zone["start"])

    @property
    def end(self) -> pd.Timestamp:
        return pd.Timestamp(self.zone["end"])

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / pd.Timedelta(hours=1))

    def hour_of(self, ts: pd.Series) -> np.ndarray:
        """Hour index (0 = the zone's first hour) of UTC timestamps."""
        return ((ts - self.start) // pd.Timedelta(hours=1)).to_numpy()

    def matrix(self, feed: str, column: str) -> np.ndarray:
        """An hourly feed as (entities, hours), NaN where a row is missing. Entities come in
        the order of the `meters` feed (readings) or the `transformers` feed (telemetry)."""
        key = f"{feed}.{column}"
        if key not in self._cache:
            entity = FEEDS[feed].entity_column
            owner = "meters" if entity == "meter_id" else "transformers"
            df = self[feed]
            rows = pd.Index(self[owner][entity]).get_indexer(df[entity])
            assert (rows >= 0).all(), f"{feed} has unknown {entity}s"
            out = np.full((len(self[owner]), self.hours), np.nan)
            out[rows, self.hour_of(df["timestamp"])] = df[column].to_numpy()
            self._cache[key] = out
        return self._cache[key]

    def local_index(self) -> pd.DatetimeIndex:
        """The zone's hours in local time (the first is a local midnight)."""
        utc = pd.date_range(self.start, periods=self.hours, freq="h")
        return utc.tz_convert(self.timezone)

    def meters_on_grid(self) -> pd.DataFrame:
        """meters with their transformer's feeder and region."""
        tr = self["transformers"][["transformer_id", "feeder_id", "region_id"]]
        return self["meters"].merge(tr, on="transformer_id", validate="many_to_one")


@pytest.fixture(scope="session")
def small_data(small_zone: Workspace) -> ZoneData:
    return ZoneData(small_zone)


@pytest.fixture(scope="session")
def medium_data(medium_zone: Workspace) -> ZoneData:
    return ZoneData(medium_zone)
