"""gridml.training.tracking against a real MLflow SQLite store in a temporary workspace."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from gridml.config import BaseConfig
from gridml.training import tracking
from gridml.training.tracking import TrackingConfig
from gridml.workspace import Workspace

REPO = Path(__file__).resolve().parents[3]


class _Inner(BaseConfig):
    learning_rate: float = 0.05
    lags: tuple[int, ...] = (1, 24, 168)


class _TrainConfig(BaseConfig):
    name: str = "demand"
    model: _Inner = _Inner()
    note: str | None = None
    long: str = "x" * 7000


class _Double(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return model_input * 2


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One MLflow SQLite store for the module (creating its schema takes seconds).

    Runs with the MLflow variables unset and the working directory in a temporary folder (where
    a stray `./mlruns` would show up); MLflow's global URIs are cleared afterwards.
    """
    root = tmp_path_factory.mktemp("tracking")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID"):
            mp.delenv(var, raising=False)
        mp.chdir(root)
        workspace = Workspace(root / "ws")
        tracking.configure(TrackingConfig(), workspace)
        yield workspace
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


@pytest.fixture
def ws(store: Workspace) -> Workspace:
    """The module's store, made current again (a test may have pointed MLflow elsewhere)."""
    tracking.configure(TrackingConfig(), store)
    return store


def _frame(n: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "series_id": [f"s{i % 3}" for i in range(n)],
            "ts": pd.date_range("2025-01-01", periods=n, freq="h", tz="UTC"),
            "load_kw": rng.normal(100, 10, n),
            "lag_24": rng.integers(0, 200, n).astype("float64"),
        }
    )


def test_targets_precedence_config_env_default(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    default = TrackingConfig().targets(ws, environ={})
    assert default.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert default.registry_uri == default.tracking_uri
    assert default.artifact_location == (tmp_path / "mlartifacts").as_uri() + "/gridml"

    env = {"MLFLOW_TRACKING_URI": "postgresql://u@db/mlflow"}
    from_env = TrackingConfig().targets(ws, environ=env)
    assert from_env.tracking_uri == from_env.registry_uri == "postgresql://u@db/mlflow"
    cfg = TrackingConfig(
        tracking_uri="sqlite:////x/m.db", registry_uri="sqlite:////x/r.db", artifact_root="arts"
    )
    chosen = cfg.targets(ws, environ=env)
    assert (chosen.tracking_uri, chosen.registry_uri) == ("sqlite:////x/m.db", "sqlite:////x/r.db")
    assert chosen.artifact_location == (tmp_path / "arts").as_uri() + "/gridml"
    server = TrackingConfig(tracking_uri="http://mlflow:5000").targets(ws, environ={})
    assert server.artifact_location is None  # the server's artifact root decides


@pytest.mark.integration  # a real MLflow store (SQLite)
def test_configure_is_idempotent_and_keeps_artifacts_in_workspace(
    store: Workspace, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path / "other")
    cfg = TrackingConfig(experiment="demand")
    first = tracking.configure(cfg, ws)
    second = tracking.configure(cfg, ws)
    assert first == second
    assert mlflow.get_tracking_uri() == f"sqlite:///{ws.root / 'mlflow.db'}"
    assert mlflow.get_registry_uri() == mlflow.get_tracking_uri()
    exp = MlflowClient().get_experiment(first)
    assert exp.name == "demand"
    assert exp.artifact_location == (ws.root / "mlartifacts" / "demand").as_uri()
    with mlflow.start_run() as run:
        assert run.info.experiment_id == first
        mlflow.log_text("hi", "note.txt")
    artifact = ws.root / "mlartifacts" / "demand" / run.info.run_id / "artifacts" / "note.txt"
    assert artifact.read_text() == "hi"
    assert not (Path.cwd() / "mlruns").exists()

    # MLflow exported MLFLOW_TRACKING_URI for the first workspace; configuring another one in the
    # same process must still give that workspace's default store, not the exported URI.
    tracking.configure(TrackingConfig(), store)
    assert mlflow.get_tracking_uri() == f"sqlite:///{store.root / 'mlflow.db'}"
    exp = MlflowClient().get_experiment_by_name("gridml")
    assert exp.artifact_location == (store.root / "mlartifacts" / "gridml").as_uri()


def test_frame_digest_is_stable_and_order_sensitive() -> None:
    df = _frame()
    d = tracking.frame_digest(df)
    assert re.fullmatch(r"[0-9a-f]{16}", d)
    assert tracking.frame_digest(df.copy()) == d
    # Index does not count.
    assert tracking.frame_digest(df.set_axis(range(100, 150))) == d
    changed = df.copy()
    changed.loc[7, "load_kw"] += 0.001
    assert tracking.frame_digest(changed) != d
    # Row order counts (chosen: a reordered time series is a different training input).
    assert tracking.frame_digest(df.iloc[::-1]) != d
    assert tracking.frame_digest(df.iloc[::-1].sort_index()) == d
    # Column names, order and dtypes count.
    assert tracking.frame_digest(df.rename(columns={"lag_24": "lag_48"})) != d
    assert tracking.frame_digest(df[df.columns[::-1]]) != d
    assert tracking.frame_digest(df.astype({"lag_24": "float32"})) != d


def test_flatten_params_limits() -> None:
    flat = tracking.flatten_params({"a": {"b": {"c": 1}, "l": [1, 2]}, "n": None, "e": {}})
    assert flat == {"a.b.c": "1", "a.l": "[1, 2]", "n": "null", "e": "{}"}
    assert len(tracking.flatten_params({"s": "y" * 9000})["s"]) == 6000


@pytest.mark.integration  # a real MLflow store (SQLite)
def test_log_lineage_round_trip(ws: Workspace) -> None:
    frame = _frame(1500)
    cfg = _TrainConfig()
    with pytest.raises(RuntimeError, match="active MLflow run"):
        tracking.log_lineage(cfg, feature_service="fs", training_frame=frame, dataset_name="d")
    with mlflow.start_run() as active:
        digest = tracking.log_lineage(
            cfg, feature_service="demand_v1", training_frame=frame, dataset_name="demand_train"
        )
    assert digest == tracking.frame_digest(frame)

    client = MlflowClient()
    run = client.get_run(active.info.run_id)
    tags = run.data.tags
    assert tags["gridml.feature_service"] == "demand_v1"
    assert tags["gridml.data_digest"] == digest
    assert tags["gridml.data_rows"] == "1500"
    assert tags["gridml.config_class"].endswith("._TrainConfig")
    assert tags["gridml.git_commit"] == (tracking.git_commit() or "unknown")
    params = run.data.params
    assert params["name"] == "demand"
    assert params["model.learning_rate"] == "0.05"
    assert params["model.lags"] == "[1, 24, 168]"
    assert params["note"] == "null"
    assert len(params["long"]) == 6000

    local = client.download_artifacts(run.info.run_id, "config.yaml", str(ws.root / "dl"))
    assert yaml.safe_load(Path(local).read_text()) == cfg.model_dump(mode="json")

    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1
    ds = inputs[0].dataset
    assert (ds.name, ds.digest) == ("demand_train", digest)
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"
    assert '"num_rows": 1000' in ds.profile  # a sample describes it; the digest is the full frame


@pytest.mark.integration  # a real MLflow store (SQLite)
def test_register_resolve_and_load(ws: Workspace) -> None:
    example = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=_Double(),
            input_example=example,
            pip_requirements=["mlflow"],  # skips requirement inference (seconds)
        )
    assert tracking.resolve("doubler") is None
    version = tracking.register(info.model_uri, "doubler", tags={"zone": "small"})
    assert version == 1
    assert tracking.resolve("doubler") == (1, "challenger")
    assert tracking.resolve("doubler", aliases=("champion",)) is None
    mv = MlflowClient().get_model_version("doubler", "1")
    assert mv.tags["zone"] == "small"

    uri = tracking.model_uri("doubler", "challenger")
    assert uri == "models:/doubler@challenger"
    out = mlflow.pyfunc.load_model(uri).predict(example)
    assert out["x"].tolist() == [2.0, 4.0, 6.0]

    assert tracking.register(info.model_uri, "doubler", alias="champion") == 2
    assert tracking.resolve("doubler") == (2, "champion")
    assert tracking.resolve("no-such-model") is None

    # the champion -> challenger fallback order serving loads in, and the CLI's default
    from gridml.models import registry

    assert registry.candidates("doubler") == [(2, "champion"), (1, "challenger")]
    assert registry.default_version("doubler") == 2
    MlflowClient().set_registered_model_alias("doubler", "challenger", "2")
    assert registry.candidates("doubler") == [(2, "champion")]  # one version, loaded once
    assert registry.candidates("no-such-model") == []
    assert registry.run_id("doubler", 1) == info.run_id


@pytest.mark.integration  # a real MLflow store (SQLite)
def test_nested_run_logs_a_trial_under_the_parent(ws: Workspace) -> None:
    with mlflow.start_run() as parent:
        child_id = tracking.nested_run(
            "trial-0", {"num_leaves": 31, "lr": 0.1}, {"mape": 4.2, "pruned": None}
        )
        assert mlflow.active_run().info.run_id == parent.info.run_id
    child = MlflowClient().get_run(child_id)
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child.info.run_name == "trial-0"
    assert child.data.params == {"num_leaves": "31", "lr": "0.1"}
    assert child.data.metrics == {"mape": 4.2}
    assert child.info.status == "FINISHED"


@pytest.mark.integration  # a real MLflow store (SQLite)
def test_nested_run_from_a_worker_thread(ws: Workspace) -> None:
    """Optuna's n_jobs>1 runs trials in threads, where the parent run is not active."""
    with mlflow.start_run() as parent, ThreadPoolExecutor(2) as pool:
        ids = list(
            pool.map(
                lambda i: tracking.nested_run(
                    f"trial-{i}",
                    {"i": i},
                    {"loss": 1.0 / (i + 1)},
                    parent_run_id=parent.info.run_id,
                ),
                range(2),
            )
        )
    for child_id in ids:
        child = MlflowClient().get_run(child_id)
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.experiment_id == parent.info.experiment_id


def test_git_commit() -> None:
    sha = tracking.git_commit(REPO)
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    assert sha is not None and re.fullmatch(r"[0-9a-f]{40}(-dirty)?", sha)
    assert tracking.git_commit() == sha  # default: the checkout holding the package
    assert tracking.git_commit("/") is None or tracking.git_commit("/") != sha
    assert tracking.git_commit("/no/such/dir") is None


def _tables(db: Path) -> set[str]:
    import sqlite3

    with sqlite3.connect(db) as con:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_new_mlflow_database_appears_whole(tmp_path: Path) -> None:
    db = tmp_path / "ws" / "mlflow.db"
    (tmp_path / "ws").mkdir()
    # what a process killed while creating it leaves beside it is never read
    (tmp_path / "ws" / ".mlflow.db.999.creating").write_bytes(b"half a schema")
    tracking._prepare_sqlite(db)
    tables = _tables(db)
    assert {"alembic_version", "runs", "tags", "registered_models", "model_versions"} <= tables
    assert not [t for t in tables if t.startswith("_alembic_tmp_")]
    assert [p.name for p in db.parent.iterdir() if p.name.endswith(".creating")] == [
        ".mlflow.db.999.creating"
    ]


@pytest.mark.parametrize("dropped", [False, True])
def test_an_interrupted_migration_is_repaired(tmp_path: Path, dropped: bool) -> None:
    import sqlite3

    db = tmp_path / "mlflow.db"
    tracking._prepare_sqlite(db)
    with sqlite3.connect(db) as con:  # Alembic's batch step: copy, (drop), ... killed
        con.execute("INSERT INTO experiments (name, lifecycle_stage) VALUES ('x', 'active')")
        con.execute("CREATE TABLE _alembic_tmp_experiment_tags AS SELECT * FROM experiment_tags")
        if dropped:
            con.execute("DROP TABLE experiment_tags")
    with sqlite3.connect(db) as con:
        assert tracking.repair_interrupted_migration(con) == ["experiment_tags"]
    assert "experiment_tags" in _tables(db) and "_alembic_tmp_experiment_tags" not in _tables(db)
    client = MlflowClient(f"sqlite:///{db}")
    assert client.get_experiment_by_name("x") is not None
