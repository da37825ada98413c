"""MLflow tracking for gridml: where runs and models go, lineage of a run, the model registry.

Where things go (`TrackingConfig`, `configure`)
    Each URI is chosen in this order: the config field, then the environment
    (`MLFLOW_TRACKING_URI`, `MLFLOW_REGISTRY_URI`), then the embedded default:

    - tracking: `sqlite:///<workspace>/mlflow.db`
    - registry: the tracking URI
    - artifacts: `<workspace>/mlartifacts/<experiment>` (set as the experiment's artifact location
      when gridml creates it, so artifacts never land in `./mlruns` of whatever folder a command
      ran in). With a tracking *server* (`http(s)://`) and no `artifact_root`, the server decides.

Concurrency
    The SQLite default is for one user on one host. MLflow already sets `PRAGMA busy_timeout =
    20000` on every SQLite session (so a `?timeout=` in the URI would be overridden, and there is
    no environment variable for it); `configure` also switches the database to WAL journaling
    (readers no longer block the writer) and creates the schema under a file lock, because
    MLflow's own first-time table creation is not safe when several processes start at once.
    Several processes writing at the same time can still fail with "database is locked" when
    a write waits longer than the timeout. The scale path is a PostgreSQL backend
    (`tracking_uri: postgresql://user@host/db`) or one `mlflow server` in front of the store,
    with `artifact_root` on shared storage.

Lineage (`log_lineage`)
    Tags `gridml.git_commit`, `gridml.feature_service`, `gridml.data_digest`,
    `gridml.config_class`, `gridml.data_start`/`gridml.data_end` (the training window); the
    config as `config.yaml` and as flattened params; the training frame as an MLflow dataset
    input (context "training") whose digest is `frame_digest` of the whole frame.

Registry (`register`, `resolve`, `model_uri`)
    Aliases, not stages: a new version is registered as `challenger`; promotion moves `champion`.

Nothing here imports MLflow or pandas at import time: the CLI starts fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import field_validator

from gridml.config import BaseConfig
from gridml.models.registry import (
    CONFIG_ARTIFACT,
    TAG_CONFIG_CLASS,
    TAG_DATA_DIGEST,
    TAG_DATA_END,
    TAG_DATA_ROWS,
    TAG_DATA_START,
    TAG_FEATURE_SERVICE,
    TAG_GIT_COMMIT,
)

# registering and aliases live in the one registry module (gridml.models.registry); the
# training pipelines call them through this module as tracking.register / tracking.resolve
from gridml.models.registry import model_uri as model_uri
from gridml.models.registry import register as register
from gridml.models.registry import resolve as resolve
from gridml.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities import Experiment

_log = logging.getLogger(__name__)

DATASET_SAMPLE_ROWS = 1000
# mlflow.utils.validation.MAX_PARAM_VAL_LENGTH and MAX_ENTITY_KEY_LENGTH (MLflow 3.17);
# repeated here so that building params does not import MLflow.
MAX_PARAM_VALUE_LENGTH = 6000
MAX_PARAM_KEY_LENGTH = 250


class TrackingConfig(BaseConfig):
    """Where MLflow runs, models and artifacts go. None means: environment, then default.

    Precedence per field: this config > environment variable > embedded default.
    """

    tracking_uri: str | None = None
    """None: `$MLFLOW_TRACKING_URI`, else `sqlite:///<workspace>/mlflow.db`."""
    registry_uri: str | None = None
    """None: `$MLFLOW_REGISTRY_URI`, else the tracking URI."""
    artifact_root: str | None = None
    """A URI (`s3://...`, `file:///...`) or a path (relative to the workspace). None:
    `<workspace>/mlartifacts`, or the tracking server's default when tracking is `http(s)://`."""
    experiment: str = "gridml"

    @field_validator("tracking_uri", "registry_uri", "artifact_root", "experiment")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty (leave it out for the default)")
        return value

    def targets(self, ws: Workspace, environ: Mapping[str, str] | None = None) -> TrackingTargets:
        """Resolve the URIs for workspace `ws` (pure: reads `environ`, default `os.environ`)."""
        env = os.environ if environ is None else environ
        tracking = (
            self.tracking_uri
            or env.get("MLFLOW_TRACKING_URI")
            or f"sqlite:///{Path(ws.root).absolute() / 'mlflow.db'}"
        )
        registry = self.registry_uri or env.get("MLFLOW_REGISTRY_URI") or tracking
        artifact_location: str | None
        if self.artifact_root is not None:
            root = _as_uri(self.artifact_root, Path(ws.root))
            artifact_location = f"{root.rstrip('/')}/{_safe_name(self.experiment)}"
        elif tracking.startswith(("http://", "https://", "databricks")):
            artifact_location = None  # the server's --default-artifact-root (or proxy) decides
        else:
            root = (Path(ws.root).absolute() / "mlartifacts").as_uri()
            artifact_location = f"{root}/{_safe_name(self.experiment)}"
        return TrackingTargets(tracking, registry, artifact_location, self.experiment)


@dataclass(frozen=True)
class TrackingTargets:
    """The resolved locations of one `TrackingConfig` in one workspace."""

    tracking_uri: str
    registry_uri: str
    artifact_location: str | None
    experiment: str


def _as_uri(location: str, base: Path) -> str:
    if "://" in location:
        return location
    path = Path(location).expanduser()
    return (path if path.is_absolute() else base.absolute() / path).as_uri()


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "experiment"


def sqlite_path(uri: str) -> Path | None:
    """The file of a `sqlite:///path` URI; None for other back ends and in-memory SQLite."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def _prepare_sqlite(db: Path) -> None:
    """Make the MLflow database whole, then switch it to WAL journaling (persistent; readers
    stop blocking writers). Call under the database's file lock.

    A new database gets its schema in a file beside it that replaces the real path only once
    complete (MLflow's SQLite migrations are not transactional: a process killed while creating
    them left a database that no later process could open). An existing database whose
    migration was interrupted is repaired (`repair_interrupted_migration`)."""
    import sqlite3

    db.parent.mkdir(parents=True, exist_ok=True)
    if not db.exists() or db.stat().st_size == 0:
        _create_sqlite_atomically(db)
    con = sqlite3.connect(db, timeout=30)
    try:
        repair_interrupted_migration(con)
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            con.execute("PRAGMA journal_mode=WAL")
    finally:
        con.close()


def _create_sqlite_atomically(db: Path) -> None:
    """MLflow's tracking and registry schema built in `.<name>.<pid>.creating`, then moved onto
    `db` in one rename."""
    from mlflow.store.model_registry.sqlalchemy_store import (
        SqlAlchemyStore as RegistryStore,
    )
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    tmp = db.with_name(f".{db.name}.{os.getpid()}.creating")
    tmp.unlink(missing_ok=True)
    uri = f"sqlite:///{tmp}"
    tracking_store = SqlAlchemyStore(uri, (db.parent / "mlartifacts").as_uri())
    registry_store = RegistryStore(uri)
    tracking_store.engine.dispose()
    registry_store.engine.dispose()
    os.replace(tmp, db)


def repair_interrupted_migration(con: Any) -> list[str]:
    """Finish or undo what an interrupted Alembic batch migration left in a SQLite database:
    it copies table T into `_alembic_tmp_T`, drops T, renames the copy. A copy whose T still
    exists is dropped (the step re-runs); a copy whose T is gone becomes T. Returns what was
    repaired."""
    names = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    repaired = []
    for tmp in sorted(n for n in names if n.startswith("_alembic_tmp_")):
        table = tmp.removeprefix("_alembic_tmp_")
        if table in names:
            con.execute(f'DROP TABLE "{tmp}"')
        else:
            con.execute(f'ALTER TABLE "{tmp}" RENAME TO "{table}"')
        repaired.append(table)
    if repaired:
        con.commit()
        _log.warning("repaired an interrupted MLflow schema migration (tables %s)", repaired)
    return repaired


def configure(cfg: TrackingConfig, ws: Workspace) -> str:
    """Point MLflow at `cfg`'s stores, make its experiment active; return the experiment id.

    Creates the experiment (with its artifact location under the workspace by default) if it
    does not exist, restores it if it was deleted. Idempotent and safe to call from several
    processes at once (the SQLite schema is created under a file lock).
    """
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from gridml.io import file_lock  # pandas and pyarrow: not at import time (fast CLI)
    from gridml.relocate import ensure_located

    ensure_located(ws)  # a copied or moved workspace: its mlflow.db's paths follow it
    user_env = user_environ()
    t = cfg.targets(ws, environ=user_env)
    mlflow.set_tracking_uri(t.tracking_uri)
    mlflow.set_registry_uri(t.registry_uri)
    _remember_overrides(user_env, t)

    dbs = {p for p in (sqlite_path(t.tracking_uri), sqlite_path(t.registry_uri)) if p}
    with contextlib.ExitStack() as stack:
        for db in sorted(dbs):
            stack.enter_context(file_lock(db.with_name(db.name + ".lock")))
            _prepare_sqlite(db)
        # Building the stores creates the schema of a new database (MLflow does it unlocked).
        client = MlflowClient(t.tracking_uri, t.registry_uri)
        experiment = client.get_experiment_by_name(t.experiment)
        if sqlite_path(t.registry_uri):
            client.search_registered_models(max_results=1)

    if experiment is None:
        try:
            experiment_id = client.create_experiment(
                t.experiment, artifact_location=t.artifact_location
            )
        except MlflowException:  # another process created it in between
            experiment = client.get_experiment_by_name(t.experiment)
            if experiment is None:
                raise
            experiment_id = _check_existing(client, experiment, t)
    else:
        experiment_id = _check_existing(client, experiment, t)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


# MLflow's set_tracking_uri/set_registry_uri also export MLFLOW_TRACKING_URI/MLFLOW_REGISTRY_URI
# (for subprocesses). So that a later `configure` in this process still sees the user's
# environment, remember what we made MLflow export over it: var -> (exported, user's value).
_EXPORTED: dict[str, tuple[str, str | None]] = {}


def user_environ() -> dict[str, str]:
    """The environment as the user set it (variables this process exported restored)."""
    env = dict(os.environ)
    for var, (exported, original) in _EXPORTED.items():
        if env.get(var) == exported:
            if original is None:
                env.pop(var, None)
            else:
                env[var] = original
    return env


def _remember_overrides(user_env: Mapping[str, str], t: TrackingTargets) -> None:
    for var, value in (
        ("MLFLOW_TRACKING_URI", t.tracking_uri),
        ("MLFLOW_REGISTRY_URI", t.registry_uri),
    ):
        original = user_env.get(var)
        if value == original:
            _EXPORTED.pop(var, None)
        else:
            _EXPORTED[var] = (value, original)


def _check_existing(client: Any, experiment: Experiment, t: TrackingTargets) -> str:
    if experiment.lifecycle_stage == "deleted":
        _log.warning("experiment %r was deleted; restoring it", t.experiment)
        client.restore_experiment(experiment.experiment_id)
    wanted = t.artifact_location
    if wanted is not None and experiment.artifact_location.rstrip("/") != wanted.rstrip("/"):
        _log.warning(
            "experiment %r keeps its artifact location %s (configured: %s); an experiment's "
            "artifact location cannot change: use another experiment name to move artifacts",
            t.experiment,
            experiment.artifact_location,
            wanted,
        )
    return experiment.experiment_id


# --- lineage ----------------------------------------------------------------------------------


def git_commit(path: str | Path | None = None) -> str | None:
    """HEAD of the git checkout holding `path` (default: this package's source), `-dirty` suffixed
    when tracked files have uncommitted changes (untracked files do not count, as with
    `git describe --dirty`). None outside git or without git; never raises."""
    cwd = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        sha = head.stdout.strip()
        if not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", sha):
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if status.returncode != 0:
            return sha
        return f"{sha}-dirty" if status.stdout.strip() else sha
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def frame_digest(df: pd.DataFrame) -> str:
    """A stable 16-hex digest of a frame's values, column names and dtypes.

    Sensitive to any value, to row order and to column order/names/dtypes (a training frame in a
    different order is a different training input for time series; sort before digesting if
    order should not count). Insensitive to the index. Stable across processes and machines
    (pandas hashes with a fixed key).
    """
    from pandas.util import hash_pandas_object

    h = hashlib.sha256()
    header = [[str(c), str(t)] for c, t in zip(df.columns, df.dtypes, strict=True)]
    h.update(json.dumps(header).encode())
    h.update(len(df).to_bytes(8, "little"))
    if len(df.columns):
        h.update(hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def flatten_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested mappings flattened to `a.b.c` keys; values as strings within MLflow's limits.

    Lists and None are JSON (`[1, 2]`, `null`); other scalars `str()`. Long values are cut to
    MLflow's param value limit (the full config is in `config.yaml`).
    """
    out: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten_params(value, prefix=f"{name}."))
            continue
        if isinstance(value, str):
            text = value
        elif value is None or isinstance(value, list | tuple | Mapping):
            text = json.dumps(value, default=str)
        else:
            text = str(value)
        out[name[:MAX_PARAM_KEY_LENGTH]] = text[:MAX_PARAM_VALUE_LENGTH]
    return out


def log_lineage(
    config: BaseConfig,
    *,
    feature_service: str,
    training_frame: pd.DataFrame,
    dataset_name: str,
    targets: str | None = None,
    window: tuple[Any, Any] | None = None,
) -> str:
    """Record in the active run what it was trained from; return the frame's digest.

    `window` (first, last timestamp of the training data) is tagged `gridml.data_start` /
    `gridml.data_end` (ISO, UTC); without it, the range of the frame's `event_timestamp`
    column when it has one.

    Logs tags (git commit, feature service, data digest and rows, config class), the config as
    `config.yaml` and flattened params, and the training frame as a dataset input (context
    "training"): schema and profile from a seeded sample of at most 1000 rows, digest of the
    whole frame. Raises RuntimeError when no run is active.
    """
    import mlflow

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_lineage needs an active MLflow run (mlflow.start_run())")
    digest = frame_digest(training_frame)
    cls = type(config)
    mlflow.set_tags(
        {
            TAG_GIT_COMMIT: git_commit() or "unknown",
            TAG_FEATURE_SERVICE: feature_service,
            TAG_DATA_DIGEST: digest,
            TAG_DATA_ROWS: str(len(training_frame)),
            TAG_CONFIG_CLASS: f"{cls.__module__}.{cls.__qualname__}",
        }
    )
    dumped = config.model_dump(mode="json")
    if window is None and "event_timestamp" in training_frame and len(training_frame):
        window = (training_frame["event_timestamp"].min(), training_frame["event_timestamp"].max())
    if window is not None:
        import pandas as pd

        start, end = (pd.Timestamp(t) for t in window)
        start, end = (t.tz_localize("UTC") if t.tzinfo is None else t for t in (start, end))
        mlflow.set_tags(
            {
                TAG_DATA_START: start.tz_convert("UTC").isoformat(),
                TAG_DATA_END: end.tz_convert("UTC").isoformat(),
            }
        )
    mlflow.log_text(yaml.safe_dump(dumped, sort_keys=False), CONFIG_ARTIFACT)
    mlflow.log_params(flatten_params(dumped))

    sample = training_frame
    if len(sample) > DATASET_SAMPLE_ROWS:
        sample = sample.sample(n=DATASET_SAMPLE_ROWS, random_state=0).sort_index()
    from mlflow.data.pandas_dataset import from_pandas  # mlflow types `mlflow.data` lazily

    dataset = from_pandas(sample, name=dataset_name, digest=digest, targets=targets)
    mlflow.log_input(dataset, context="training")
    return digest


def logged_feature_service() -> str:
    """The FeatureService `log_lineage` tagged on the active run (the pyfunc loggers write it
    into the model's contract)."""
    import mlflow

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("no active MLflow run: log the lineage before the model")
    service = mlflow.get_run(run.info.run_id).data.tags.get(TAG_FEATURE_SERVICE)
    if not service:
        raise RuntimeError("the run records no FeatureService: call log_lineage first")
    return service


# --- registry ---------------------------------------------------------------------------------


# --- tuning -----------------------------------------------------------------------------------


def nested_run(
    name: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float | None],
    *,
    tags: Mapping[str, str] | None = None,
    parent_run_id: str | None = None,
) -> str:
    """Log one finished trial (an Optuna trial) as a child run of the active run; return its id.

    Nested under `parent_run_id` if given, else under this thread's active run (a top-level run
    if there is none). Metrics that are None (pruned or failed trials) are skipped. Use it from
    an Optuna callback: `lambda study, t: nested_run(f"trial-{t.number}", t.params,
    {"objective": t.value}, parent_run_id=parent_id)`; pass `parent_run_id` when
    `study.optimize(n_jobs>1)` runs trials in other threads (MLflow's active run is per thread).
    """
    import mlflow

    experiment_id = None
    if parent_run_id is not None:  # in a worker thread the active experiment may be unset too
        experiment_id = mlflow.MlflowClient().get_run(parent_run_id).info.experiment_id
    with mlflow.start_run(
        run_name=name,
        experiment_id=experiment_id,
        nested=True,
        parent_run_id=parent_run_id,
        tags=dict(tags or {}),
    ) as run:
        if params:
            mlflow.log_params(flatten_params(params))
        values = {k: float(v) for k, v in metrics.items() if v is not None}
        if values:
            mlflow.log_metrics(values)
        return run.info.run_id
