"""Open the Feast store of a workspace and wrap its operations: apply, materialize, retrieve."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import string
from pathlib import Path

import pandas as pd
import yaml

from gridml.errors import MissingDataError, UserError
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
REPO_DIR = Path(__file__).resolve().parents[1] / "feature_repo"
DEFAULT_STORE_CONFIG = REPO_DIR / "feature_store.yaml"


def store_config(ws: Workspace, path: Path | None = None):
    """The RepoConfig of `path` (default: embedded defaults) with the workspace filled in."""
    from feast.repo_config import RepoConfig

    path = path or DEFAULT_STORE_CONFIG
    if not path.is_file():
        raise UserError(f"{path}: feature store config not found")
    text = string.Template(path.read_text()).safe_substitute(GRIDML_WORKSPACE=str(ws.root))
    raw = yaml.safe_load(os.path.expandvars(text))
    ws.feature_repo.mkdir(parents=True, exist_ok=True)
    return RepoConfig(repo_path=ws.feature_repo, **raw)


def open_store(ws: Workspace, path: Path | None = None):
    """The Feast store of `ws`; a workspace copied or moved since it was last opened has its
    registry's paths pointed at its new location first (`gridml.relocate`)."""
    from feast import FeatureStore

    from gridml.relocate import ensure_located

    ensure_located(ws)
    return FeatureStore(config=store_config(ws, path))


def definitions(ws: Workspace):
    """The Feast objects (entities, views, push source, services) of the workspace."""
    from gridml.features.store.definitions import build_definitions

    return build_definitions(ws.offline, ws.feeds)


def apply_definitions(ws: Workspace, path: Path | None = None) -> list[str]:
    """Register every Feast object; build the feature tables first if they are missing."""
    if not ws.offline.is_dir():
        from gridml.features.tables.build import build_tables

        log.info("feature tables missing: building them first")
        build_tables(ws)
    store = open_store(ws, path)
    objects = definitions(ws).objects()
    store.apply(objects)
    log.info("registered %d Feast objects in %s", len(objects), store.config.registry.path)
    return [o.name for o in objects]


def zone_window(ws: Workspace) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(start, end) of the zone's data, read from its zone file."""
    if not ws.zone_file.is_file():
        raise MissingDataError(f"{ws.zone_file} not found: generate or import data first")
    zone = json.loads(ws.zone_file.read_text())
    return pd.Timestamp(zone["start"]), pd.Timestamp(zone["end"])


def materialize(
    ws: Workspace, path: Path | None = None, end: dt.datetime | None = None, days: int = 3
) -> tuple[dt.datetime, dt.datetime]:
    """Load the latest values of every view (within `days` before `end`) into the online store."""
    store = open_store(ws, path)
    require_applied(store)
    stop = pd.Timestamp(end, tz="UTC") if end is not None else zone_window(ws)[1]
    start = stop - pd.Timedelta(days=days)
    views = [v for v in store.list_feature_views() if v.batch_source.name != "readings_feed"]
    timed = [v.name for v in views if v.ttl]
    static = [v.name for v in views if not v.ttl]  # no TTL: attributes valid since the start
    store.materialize(start.to_pydatetime(), stop.to_pydatetime(), feature_views=timed)
    if static:
        first = zone_window(ws)[0] - pd.Timedelta(days=1)
        store.materialize(first.to_pydatetime(), stop.to_pydatetime(), feature_views=static)
    log.info("materialized %d views over %s .. %s", len(views), start, stop)
    return start.to_pydatetime(), stop.to_pydatetime()


def require_applied(store) -> None:
    """UserError unless `gridml features apply` has registered the definitions."""
    if not store.list_feature_services():
        raise MissingDataError("the feature registry is empty: run `gridml features apply` first")


def check_entity_frame(entity_df: pd.DataFrame, service: str) -> pd.DataFrame:
    """An entity frame must hold the service's join keys and a timezone-aware event_timestamp."""
    from gridml.features.store.definitions import SERVICES, service_join_keys

    if service not in SERVICES:
        raise UserError(f"unknown FeatureService {service!r}; known: {', '.join(SERVICES)}")
    missing = [c for c in [*service_join_keys(service), "event_timestamp"] if c not in entity_df]
    if missing:
        raise UserError(f"entity frame lacks column(s) {missing} needed by {service}")
    ts = entity_df["event_timestamp"]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        raise UserError("entity frame: event_timestamp must be timezone-aware (e.g. UTC)")
    return entity_df.assign(event_timestamp=ts.dt.tz_convert("UTC"))


def training_set(
    ws: Workspace, service: str, entity_df: pd.DataFrame, path: Path | None = None
) -> pd.DataFrame:
    """Point-in-time correct features of `service` for each entity row (same row order)."""
    entity_df = check_entity_frame(entity_df, service)
    store = open_store(ws, path)
    require_applied(store)
    frame = entity_df.reset_index(drop=True).assign(_row=lambda d: range(len(d)))
    job = store.get_historical_features(
        entity_df=frame, features=store.get_feature_service(service)
    )
    out = job.to_df().sort_values("_row").drop(columns="_row").reset_index(drop=True)
    return out


def read_entity_file(path: Path) -> pd.DataFrame:
    """An entity frame read from CSV or Parquet, with a parsed `event_timestamp`."""
    if not path.is_file():
        raise UserError(f"{path}: entity file not found")
    if path.suffix == ".csv":
        df = pd.read_csv(path)
        try:
            df["event_timestamp"] = pd.to_datetime(
                df["event_timestamp"], utc=False, format="ISO8601"
            )
        except (KeyError, ValueError) as exc:
            raise UserError(f"{path}: column 'event_timestamp' unreadable: {exc}") from exc
        return df
    return pd.read_parquet(path)


def training_set_from_file(
    ws: Workspace, path: Path | None, service: str, entities: Path, output: Path
) -> int:
    """Write the point-in-time training set of the entity file to `output`; returns its rows."""
    from gridml.io import write_parquet_atomic

    frame = training_set(ws, service, read_entity_file(entities), path)
    write_parquet_atomic(frame, output)
    return len(frame)


def online_features(
    ws: Workspace, service: str, entity_rows: list[dict[str, str]], path: Path | None = None
) -> pd.DataFrame:
    """The online store's values of a FeatureService for the entity rows."""
    store = open_store(ws, path)
    require_applied(store)
    return store.get_online_features(
        features=store.get_feature_service(service), entity_rows=entity_rows
    ).to_df()


def online_sample(
    ws: Workspace, path: Path | None, service: str, ids: list[str] | None, n: int = 3
) -> pd.DataFrame:
    """Online features for a few ids of the service's main entity (join keys looked up)."""
    from gridml.features.store.lookup import entity_rows

    return online_features(ws, service, entity_rows(ws, service, ids, n), path)
