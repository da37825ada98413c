"""Point-in-time correctness, TTL, online retrieval and push on a real Feast store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridml.errors import UserError
from gridml.features.store import repo
from gridml.features.store.definitions import FRESH_READINGS_VIEW, PUSH_SOURCE
from gridml.features.tables.catalog import LOAD_HOURLY, METER_DAILY, WEATHER_HOURLY, TableSpec
from gridml.io import read_parts
from gridml.workspace import Workspace

pytestmark = pytest.mark.integration


def _expected_asof(table: pd.DataFrame, entities: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """The reference answer: latest row at or before each entity time, within the TTL."""
    key = spec.entities[0]
    left = entities.sort_values("event_timestamp").reset_index()
    right = table.sort_values("event_timestamp")
    merged = pd.merge_asof(
        left, right, on="event_timestamp", by=key, tolerance=spec.ttl, direction="backward"
    )
    return merged.set_index("index").sort_index()


def _random_entities(table: pd.DataFrame, key: str, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    lo, hi = table["event_timestamp"].min(), table["event_timestamp"].max()
    offsets = rng.integers(0, int((hi - lo).total_seconds()) + 3 * 86400, size=n)
    return pd.DataFrame(
        {
            key: rng.choice(table[key].unique(), size=n),
            "event_timestamp": lo + pd.to_timedelta(offsets, unit="s"),
        }
    )


@pytest.mark.parametrize(
    ("spec", "service", "extra"),
    [
        (LOAD_HOURLY, "demand_forecast_v1", {"region_id": "R01"}),
        (METER_DAILY, "theft_detection_v1", {"transformer_id": "T00001"}),
    ],
)
def test_training_set_matches_an_as_of_join(
    store_ws: Workspace, spec: TableSpec, service: str, extra: dict[str, str]
) -> None:
    table = read_parts(store_ws.table_dir(spec.name))
    entities = _random_entities(table, spec.entities[0], 300, seed=1).assign(**extra)
    got = repo.training_set(store_ws, service, entities)
    want = _expected_asof(table, entities, spec)
    assert len(got) == len(entities)
    assert (got[spec.entities[0]].to_numpy() == entities[spec.entities[0]].to_numpy()).all()
    for feature in spec.features:
        np.testing.assert_allclose(
            got[feature].to_numpy(dtype=float),
            want[feature].to_numpy(dtype=float),
            rtol=1e-9,
            equal_nan=True,
            err_msg=feature,
        )
    # some rows fall beyond the data + TTL, so both nulls and values are exercised
    assert got[next(iter(spec.features))].isna().any()
    assert got[next(iter(spec.features))].notna().mean() > 0.5


def test_no_value_stamped_after_the_entity_time_is_returned(store_ws: Workspace) -> None:
    table = read_parts(store_ws.table_dir("load_hourly"))
    one = table[table["series_id"] == "feeder:F001"].sort_values("event_timestamp").iloc[200:210]
    # one second before each row becomes known, the join must return the previous hour's row
    entities = pd.DataFrame(
        {
            "series_id": "feeder:F001",
            "region_id": "R01",
            "event_timestamp": (one["event_timestamp"] - pd.Timedelta(seconds=1)).to_list(),
        }
    )
    got = repo.training_set(store_ws, "demand_forecast_v1", entities)
    all_rows = table[table["series_id"] == "feeder:F001"].set_index("event_timestamp")["load_kwh"]
    previous = all_rows.shift(1).loc[one["event_timestamp"]].to_numpy()
    np.testing.assert_allclose(got["load_kwh"].to_numpy(), previous)
    assert not np.allclose(got["load_kwh"].to_numpy(), one["load_kwh"].to_numpy())


def test_ttl_is_respected(store_ws: Workspace) -> None:
    weather = read_parts(store_ws.table_dir("weather_hourly"))
    last = weather["event_timestamp"].max()
    ttl = WEATHER_HOURLY.ttl
    entities = pd.DataFrame(
        {
            "series_id": "feeder:F001",
            "region_id": "R01",
            "event_timestamp": [
                last + ttl - pd.Timedelta(minutes=1),
                last + ttl + pd.Timedelta(hours=1),
            ],
        }
    )
    got = repo.training_set(store_ws, "demand_forecast_v1", entities)
    expected_last = weather[(weather["region_id"] == "R01") & (weather["event_timestamp"] == last)]
    assert got["temperature_c"].iloc[0] == pytest.approx(expected_last["temperature_c"].iloc[0])
    assert pd.isna(got["temperature_c"].iloc[1])


def test_online_store_serves_the_latest_values_after_materialize(store_ws: Workspace) -> None:
    table = read_parts(store_ws.table_dir("load_hourly"))
    online = repo.online_features(
        store_ws,
        "demand_forecast_v1",
        [{"series_id": s, "region_id": "R01"} for s in ("feeder:F001", "feeder:F002")],
    )
    for _, row in online.iterrows():
        latest = (
            table[table["series_id"] == row["series_id"]].sort_values("event_timestamp").iloc[-1]
        )
        assert row["load_kwh"] == pytest.approx(latest["load_kwh"])
        assert row["load_lag_168h"] == pytest.approx(latest["load_lag_168h"])
    theft = repo.online_sample(store_ws, None, "theft_detection_v1", ["M000001"])
    assert theft["is_prepaid"].notna().all()  # static views are materialized from the start


def test_pushed_readings_are_visible_online(store_ws: Workspace) -> None:
    store = repo.open_store(store_ws)
    _, end = repo.zone_window(store_ws)
    fresh = pd.DataFrame({"meter_id": ["M000002"], "timestamp": [end], "kwh": [1.2345]})
    store.push(PUSH_SOURCE, fresh)
    got = store.get_online_features(
        features=[f"{FRESH_READINGS_VIEW}:kwh"], entity_rows=[{"meter_id": "M000002"}]
    ).to_dict()
    assert got["kwh"] == [pytest.approx(1.2345)]


def test_bad_entity_frames_are_refused(store_ws: Workspace) -> None:
    naive = pd.DataFrame(
        {
            "series_id": ["feeder:F001"],
            "region_id": ["R01"],
            "event_timestamp": [pd.Timestamp("2024-02-01")],
        }
    )
    with pytest.raises(UserError, match="timezone-aware"):
        repo.training_set(store_ws, "demand_forecast_v1", naive)
    with pytest.raises(UserError, match="region_id"):
        repo.training_set(store_ws, "demand_forecast_v1", naive.drop(columns="region_id"))
    with pytest.raises(UserError, match="unknown FeatureService"):
        repo.training_set(store_ws, "nope_v1", naive)
