"""The ASOF offline store returns exactly what Feast's stock DuckDB offline store returns."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from feast import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
)
from feast.data_format import ParquetFormat
from feast.infra.offline_stores.duckdb import DuckDBOfflineStoreConfig
from feast.infra.offline_stores.file_source import SavedDatasetFileStorage
from feast.on_demand_feature_view import on_demand_feature_view
from feast.repo_config import RepoConfig
from feast.types import Float64, Int64
from feast.value_type import ValueType

from gridml.features.store import repo
from gridml.features.store.asof_offline_store import (
    STORE_TYPE,
    AsofDuckDBOfflineStore,
    AsofDuckDBOfflineStoreConfig,
    AsofRetrievalJob,
    _ViewPlan,
    build_query,
)
from gridml.features.store.definitions import SERVICES, service_join_keys
from gridml.features.tables.catalog import TABLES
from gridml.io import read_parts
from gridml.workspace import Workspace

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:On demand feature view is an experimental feature"),
]


def _config_file(folder: Path, offline_type: str) -> Path:
    """The embedded feature_store.yaml with another offline store type."""
    raw = yaml.safe_load(repo.DEFAULT_STORE_CONFIG.read_text())
    raw["offline_store"] = {"type": offline_type}
    path = folder / f"feature_store.{offline_type.rsplit('.', 1)[-1]}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def stores(store_ws: Workspace, tmp_path_factory: pytest.TempPathFactory):
    """(stock, asof) Feast stores over the same registry and Parquet tables."""
    folder = tmp_path_factory.mktemp("asof-configs")
    stock = repo.open_store(store_ws, _config_file(folder, "duckdb"))
    asof = repo.open_store(store_ws, _config_file(folder, STORE_TYPE))
    assert type(stock._get_provider().offline_store).__name__ == "DuckDBOfflineStore"
    assert isinstance(asof._get_provider().offline_store, AsofDuckDBOfflineStore)
    return stock, asof


def _service_entities(ws: Workspace, service: str, n: int, seed: int) -> pd.DataFrame:
    """Random rows over the service's keys, from before the data to past its end + TTL, plus
    rows exactly at source timestamps, exactly at timestamp + TTL, 1 us past it, unknown and
    null keys, and duplicates."""
    rng = np.random.default_rng(seed)
    tables = {view: read_parts(ws.table_dir(view)) for view in SERVICES[service]}
    keys = service_join_keys(service)
    values = {k: pd.unique(pd.concat([t[k] for t in tables.values() if k in t])) for k in keys}
    stamps = pd.concat([t["event_timestamp"] for t in tables.values()])
    lo, hi = stamps.min() - pd.Timedelta(days=3), stamps.max() + pd.Timedelta(days=3)
    span = int((hi - lo).total_seconds())
    frame = pd.DataFrame({k: rng.choice(values[k], size=n) for k in keys})
    frame["event_timestamp"] = lo + pd.to_timedelta(rng.integers(0, span, size=n), unit="s")
    edges = []
    for view, table in tables.items():
        ttl = TABLES[view].ttl
        picked = table.sample(min(12, len(table)), random_state=seed)  # some may be empty
        for offset in (pd.Timedelta(0), ttl, ttl + pd.Timedelta(microseconds=1)):
            rows = picked[[k for k in keys if k in picked]].assign(
                event_timestamp=picked["event_timestamp"] + offset
            )
            for k in keys:  # the view's own keys come from its row; others at random
                if k not in rows:
                    rows[k] = rng.choice(values[k], size=len(rows))
            edges.append(rows)
    last = {
        v: t.sort_values("event_timestamp").groupby(TABLES[v].entities[0]).tail(1)
        for v, t in tables.items()
    }
    for view, table in last.items():  # the very last row of each key: the TTL edge at data end
        ttl = TABLES[view].ttl
        for offset in (ttl, ttl + pd.Timedelta(microseconds=1)):
            rows = table[[k for k in keys if k in table]].assign(
                event_timestamp=table["event_timestamp"] + offset
            )
            for k in keys:
                if k not in rows:
                    rows[k] = rng.choice(values[k], size=len(rows))
            edges.append(rows)
    odd = frame.head(4).copy()
    odd.loc[odd.index[:2], keys[0]] = "UNKNOWN"
    odd.loc[odd.index[2:], keys[0]] = None
    frame = pd.concat([frame, *edges, odd, frame.head(5)], ignore_index=True)  # + duplicates
    return frame.assign(_row=np.arange(len(frame)))


def _by_row(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("_row").reset_index(drop=True)


def _assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(_by_row(got), _by_row(want), check_exact=True)


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize("full_feature_names", [False, True])
def test_training_sets_equal_the_stock_store(
    store_ws: Workspace, stores, service: str, full_feature_names: bool
) -> None:
    stock, asof = stores
    entities = _service_entities(store_ws, service, 500, seed=len(service))
    features = stock.get_feature_service(service)
    kwargs = {"entity_df": entities, "full_feature_names": full_feature_names}
    want = stock.get_historical_features(features=features, **kwargs).to_df()
    job = asof.get_historical_features(features=asof.get_feature_service(service), **kwargs)
    assert isinstance(job, AsofRetrievalJob)
    got = job.to_df()
    _assert_same(got, want)
    # the ASOF store keeps the input order
    assert got["_row"].tolist() == list(range(len(entities)))
    # the comparison exercised values and nulls in every view
    names = [
        f"{view}__{f}" if full_feature_names else f
        for view, cols in SERVICES[service].items()
        for f in (cols or list(TABLES[view].features))
    ]
    assert list(got.columns) == [*entities.columns, *names]
    assert got[names].isna().any().all()  # some rows are before the data or past the TTL
    # (a few features are all null in the zone; views with no rows in it, as meter_last_event
    # without streamed events, are left out of the share)
    empty = {v for v in SERVICES[service] if not len(read_parts(store_ws.table_dir(v)))}
    filled = [
        n
        for view, cols in SERVICES[service].items()
        if view not in empty
        for n in (f"{view}__{f}" if full_feature_names else f
                  for f in (cols or list(TABLES[view].features)))
    ]  # fmt: skip
    assert got[filled].notna().any().mean() > 0.8
    meta = job.metadata
    assert meta is not None and len(meta.features) == len(names)
    assert set(meta.keys) == set(entities.columns) - {"event_timestamp"}


def test_the_store_module_resolves_from_the_yaml(tmp_path: Path) -> None:
    config = RepoConfig(
        project="p",
        provider="local",
        repo_path=tmp_path,
        registry=str(tmp_path / "registry.db"),
        offline_store={"type": STORE_TYPE},
        entity_key_serialization_version=3,
    )
    assert isinstance(config.offline_store, AsofDuckDBOfflineStoreConfig)
    assert isinstance(config.offline_store, DuckDBOfflineStoreConfig)  # monitoring asserts it


# ---- a hand-made tiny table: ties, TTL edges, created timestamps, mappings -------------------

T0 = pd.Timestamp("2024-03-01 00:00", tz="UTC")
HOUR = pd.Timedelta(hours=1)
US = pd.Timedelta(microseconds=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    """(stock, asof) stores over one tiny Parquet table and views declared by hand."""
    root = tmp_path_factory.mktemp("tiny-repo")
    (root / "data").mkdir()
    pd.DataFrame(
        {
            "thing_id": ["A", "A", "A", "A", "B"],
            "event_timestamp": [T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 2 * HOUR, T0],
            # two rows share A's last event time: the later created one must win
            "created": [T0, T0 + HOUR, T0 + 3 * HOUR, T0 + 5 * HOUR, T0],
            "raw_value": [1.0, 2.0, 3.0, 4.0, 10.0],
            "count": [1, 2, 3, 4, 10],
        }
    ).to_parquet(root / "data" / "part-0.parquet")
    thing = Entity(name="thing", join_keys=["thing_id"], value_type=ValueType.STRING)

    def source(name: str, created: str | None = None) -> FileSource:
        return FileSource(
            name=name,
            path=str(root / "data" / "part-*.parquet"),
            file_format=ParquetFormat(),
            timestamp_field="event_timestamp",
            created_timestamp_column=created or "",
            field_mapping={"raw_value": "value"},
        )

    schema = [Field(name="value", dtype=Float64), Field(name="count", dtype=Int64)]
    hourly = FeatureView(
        name="hourly",
        entities=[thing],
        ttl=dt.timedelta(hours=1),
        schema=schema,
        source=source("s_hourly", created="created"),
    )
    forever = FeatureView(
        name="forever",
        entities=[thing],
        ttl=dt.timedelta(0),
        schema=schema,
        source=source("s_forever", created="created"),
    )

    @on_demand_feature_view(
        sources=[hourly], schema=[Field(name="double_value", dtype=Float64)], mode="pandas"
    )
    def doubled(inputs: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"double_value": inputs["value"] * 2})

    def store(offline: str) -> FeatureStore:
        return FeatureStore(
            config=RepoConfig(
                project="tiny",
                provider="local",
                repo_path=root,
                registry=str(root / "registry.db"),
                online_store={"type": "sqlite", "path": str(root / "online.db")},
                offline_store={"type": offline},
                entity_key_serialization_version=3,
            )
        )

    stock = store("duckdb")
    # the same view joined on another entity column (projection.join_key_map)
    mapped = FeatureService(
        name="mapped", features=[hourly.with_join_key_map({"thing_id": "other_thing"})]
    )
    stock.apply([thing, hourly, forever, doubled, mapped])
    return stock, store(STORE_TYPE), root


def _tiny_entities() -> pd.DataFrame:
    cases = [  # (thing_id, time, hourly value, forever value)
        ("A", T0 - US, None, None),  # before any row
        ("A", T0, 1.0, 1.0),  # exactly at a row's time: that row
        ("A", T0 + HOUR - US, 1.0, 1.0),
        ("A", T0 + HOUR, 2.0, 2.0),
        ("A", T0 + 2 * HOUR, 4.0, 4.0),  # tie on event time: the later created row
        ("A", T0 + 3 * HOUR, 4.0, 4.0),  # exactly at ts + ttl: still valid, as in Feast
        ("A", T0 + 3 * HOUR + US, None, 4.0),  # just past the TTL; TTL 0 never expires
        ("B", T0 + HOUR, 10.0, 10.0),
        ("B", T0 + HOUR + US, None, 10.0),
        ("B", T0 + 400 * HOUR, None, 10.0),
        ("C", T0 + HOUR, None, None),  # unknown key
        (None, T0 + HOUR, None, None),  # null key matches nothing
    ]
    frame = pd.DataFrame(cases, columns=["thing_id", "event_timestamp", "hourly", "forever"])
    return frame.assign(_row=np.arange(len(frame)))


def test_tiny_table_edges_match_feast_and_the_expected_values(tiny) -> None:
    stock, asof, _ = tiny
    cases = _tiny_entities()
    entities = cases[["thing_id", "event_timestamp", "_row"]]
    features = ["hourly:value", "hourly:count", "forever:value"]
    want = stock.get_historical_features(
        entity_df=entities, features=features, full_feature_names=True
    ).to_df()
    job = asof.get_historical_features(
        entity_df=entities, features=features, full_feature_names=True
    )
    assert isinstance(job, AsofRetrievalJob)
    got = job.to_df()
    _assert_same(got, want)
    np.testing.assert_array_equal(
        got["hourly__value"].to_numpy(float), cases["hourly"].to_numpy(float)
    )
    np.testing.assert_array_equal(
        got["forever__value"].to_numpy(float), cases["forever"].to_numpy(float)
    )
    assert got["event_timestamp"].dt.tz is not None
    assert (got["event_timestamp"] == entities["event_timestamp"]).all()


def test_join_key_map_and_string_timestamps(tiny) -> None:
    stock, asof, _ = tiny
    cases = _tiny_entities()
    entities = pd.DataFrame(
        {
            "other_thing": cases["thing_id"],
            # strings are parsed as UTC, as Feast's DuckDB store does
            "event_timestamp": cases["event_timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S.%f+00:00"),
            "_row": cases["_row"],
        }
    )
    kwargs = {"entity_df": entities, "features": stock.get_feature_service("mapped")}
    want = stock.get_historical_features(**kwargs).to_df()
    got = asof.get_historical_features(**kwargs).to_df()
    _assert_same(got, want)
    np.testing.assert_array_equal(got["value"].to_numpy(float), cases["hourly"].to_numpy(float))


def test_on_demand_views_fall_back_to_the_stock_join(tiny) -> None:
    stock, asof, _ = tiny
    entities = _tiny_entities()[["thing_id", "event_timestamp", "_row"]]
    features = ["hourly:value", "doubled:double_value"]
    job = asof.get_historical_features(entity_df=entities, features=features)
    assert not isinstance(job, AsofRetrievalJob)
    want = stock.get_historical_features(entity_df=entities, features=features).to_df()
    _assert_same(job.to_df(), want)


def test_persist_writes_the_result(tiny) -> None:
    _, asof, root = tiny
    entities = _tiny_entities()[["thing_id", "event_timestamp", "_row"]]
    job = asof.get_historical_features(entity_df=entities, features=["hourly:value"])
    job.persist(SavedDatasetFileStorage(path=str(root / "saved.parquet")))
    _assert_same(pd.read_parquet(root / "saved.parquet"), job.to_df())


def test_an_entity_column_named_like_a_feature_is_refused() -> None:
    plan = _ViewPlan(
        name="v",
        path="x.parquet",
        timestamp="event_timestamp",
        created=None,
        keys=[("k", "k")],
        features=[("value", "value")],
        ttl_us=None,
    )
    with pytest.raises(ValueError, match="duplicated"):
        build_query(["k", "event_timestamp", "value"], "event_timestamp", [plan])
