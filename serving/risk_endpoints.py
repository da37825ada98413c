"""`/theft/score` and `/maintenance/risk`: ids in, calibrated probabilities and the reasons out.

Theft ranks a meter among ALL the meters of its transformer (not only those asked for), so a
rank means the same whoever calls. Transformer risk needs a window of daily features: it is
read through Feast once per feature-table version and model window, and each request adds the
transformers' latest day from the online store (`risk.merge_latest`, over the requested
transformers' rows only).

Both go through a micro-batching queue (`batching.Coalescer`): requests that arrive while a
batch runs are scored together, one online read and one model call over the union of their
ids. A theft score stays the same whoever asks with whom: every meter of the transformers asked
for is scored, and ranks are within a transformer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError
from gridml.features.store import repo
from gridml.features.store.definitions import FRESH_READINGS_VIEW
from gridml.io import read_parts
from gridml.serving import risk
from gridml.serving.batching import Coalescer
from gridml.serving.config import ServingConfig
from gridml.serving.errors import check_ids, check_known
from gridml.serving.metrics import metrics, observe
from gridml.serving.models import Loaded, ModelSlot
from gridml.serving.online import TIMESTAMP_SUFFIX, OnlineFeatures
from gridml.serving.snapshot import Snapshot
from gridml.workspace import Workspace

log = logging.getLogger(__name__)


def _record(endpoint: str, probabilities: list[float], missing: int) -> None:
    m = metrics()
    observe(m.probability, endpoint, probabilities)
    m.ids.labels(endpoint, "served").inc(len(probabilities))
    m.ids.labels(endpoint, "missing_features").inc(missing)


def _latest_reading(online: pd.DataFrame, meter: str) -> dict[str, Any] | None:
    seconds = pd.to_numeric(online.at[meter, f"kwh{TIMESTAMP_SUFFIX}"], errors="coerce")
    if not seconds or pd.isna(seconds):
        return None
    stamp = pd.Timestamp(int(seconds), unit="s", tz="UTC").isoformat()
    return {"timestamp": stamp, "kwh": float(online.at[meter, "kwh"])}


def _union(items: list[tuple[Loaded, list[str]]]) -> dict[int, tuple[Loaded, list[int], list[str]]]:
    """Items grouped by the model they were checked on: (model, item numbers, union of ids)."""
    groups: dict[int, tuple[Loaded, list[int], list[str]]] = {}
    for n, (loaded, ids) in enumerate(items):
        group = groups.setdefault(id(loaded), (loaded, [], []))
        group[1].append(n)
        group[2].extend(ids)
    return {k: (g[0], g[1], list(dict.fromkeys(g[2]))) for k, g in groups.items()}


def _run_groups(items: list[tuple[Loaded, list[str]]], run: Callable) -> list:
    """`run(loaded, ids)` once per model over the union of the items' ids; its result (or
    exception) goes to each item of the group."""
    results: list = [None] * len(items)
    for loaded, members, ids in _union(items).values():
        try:
            result = run(loaded, ids)
        except Exception as exc:  # this group's callers get it
            result = exc
        for n in members:
            results[n] = result
    return results


class TheftEndpoint:
    def __init__(
        self,
        cfg: ServingConfig,
        slot: ModelSlot,
        online: OnlineFeatures,
        snapshot: Callable,
        max_batch: int = 64,
    ) -> None:
        self.cfg, self.slot, self.online, self.snapshot = cfg, slot, online, snapshot
        self.batcher: Coalescer[tuple[Loaded, list[str]], tuple] = Coalescer(
            "theft", lambda items: _run_groups(items, self._scored), max_batch
        )

    def _scored(
        self, loaded: Loaded, wanted: list[str]
    ) -> tuple[pd.DataFrame | None, pd.DataFrame]:
        """(model output by meter_id over every meter of the wanted meters' transformers, or
        None; the online rows by meter_id)."""
        snap: Snapshot = self.snapshot()
        contract = loaded.contract
        assert contract is not None  # read when the version loaded
        features = list(contract.features)
        model = loaded.model.unwrap_python_model()
        owner = snap.meters["transformer_id"]
        peers = owner[owner.isin(set(owner.loc[wanted]))]
        online = self.online.read(
            [*self.online.refs("theft"), f"{FRESH_READINGS_VIEW}:kwh"],
            [{"meter_id": m, "transformer_id": t} for m, t in peers.items()],
            stamped=(features[0], "kwh"),
        )
        stamps = pd.to_numeric(online[f"{features[0]}{TIMESTAMP_SUFFIX}"])
        have = online[(stamps.fillna(0) > 0).to_numpy()].reset_index(drop=True)
        if snap.daily is None:
            raise MissingDataError("no meter_daily table: run `gridml features build`")
        frame = risk.theft_input(
            have, snap.meters, snap.daily, features, int(contract.history_days or 0)
        )
        # the rows are built in the signature's layout (tests check it against the model):
        # MLflow's per-column schema enforcement is skipped on this hot path
        scored = model.predict(None, frame).set_index("meter_id") if len(frame) else None
        return scored, online.set_index("meter_id")

    def score(self, ids: list[str]) -> dict[str, Any]:
        loaded = self.slot.current
        wanted = check_ids(ids, self.cfg.max_ids)
        snap: Snapshot = self.snapshot()
        check_known(wanted, snap.meters.index, "meter")
        if snap.daily is None:
            raise MissingDataError("no meter_daily table: run `gridml features build`")
        scored, online = self.batcher.submit((loaded, wanted))
        owner = snap.meters["transformer_id"]
        sizes = owner.value_counts()
        results, missing = [], []
        for meter in wanted:
            if scored is None or meter not in scored.index:
                missing.append({"id": meter, "reason": "no theft features in the online store"})
                continue
            row = scored.loc[meter]
            reasons = str(row["reason_codes"]).split(" | ")
            results.append(
                {
                    "meter_id": meter,
                    "transformer_id": owner[meter],
                    "probability": float(row["probability"]),
                    "rank_in_transformer": int(row["rank_in_transformer"]),
                    "meters_in_transformer": int(sizes[owner[meter]]),
                    "reason_codes": [r for r in reasons if r != "none"],
                    "latest_reading": _latest_reading(online, meter),
                }
            )
        _record("theft", [r["probability"] for r in results], len(missing))
        as_of = snap.daily.days[-1].isoformat()
        return {"model": loaded.info(), "as_of": as_of, "scores": results, "missing": missing}


class MaintenanceEndpoint:
    def __init__(
        self,
        cfg: ServingConfig,
        slot: ModelSlot,
        online: OnlineFeatures,
        snapshot: Callable,
        ws: Workspace,
        max_batch: int = 64,
    ) -> None:
        self.cfg, self.slot, self.online, self.snapshot, self.ws = cfg, slot, online, snapshot, ws
        self._windows: dict[tuple, pd.DataFrame] = {}
        self._rows: dict[tuple, dict[str, np.ndarray]] = {}  # window key -> rows per unit
        self._lock = threading.Lock()
        self.batcher: Coalescer[tuple[Loaded, list[str]], tuple] = Coalescer(
            "maintenance", lambda items: _run_groups(items, self._scored), max_batch
        )

    def _key(self, window_days: int, features: list[str]) -> tuple:
        return (self.snapshot().version, window_days, tuple(features))

    def window(self, window_days: int, features: list[str]) -> pd.DataFrame:
        """asset_failure_v1 over the last `window_days` day stamps for every transformer,
        point-in-time through Feast; cached per table version (one read, not one per call)."""
        key = self._key(window_days, features)
        with self._lock:
            cached = self._windows.get(key)
            if cached is not None:
                return cached
            snap: Snapshot = self.snapshot()
            stamps = read_parts(self.ws.table_dir("transformer_daily"), ["event_timestamp"])
            if stamps is None or stamps.empty:
                raise MissingDataError("no transformer_daily table: run `gridml features build`")
            days = pd.DatetimeIndex(stamps["event_timestamp"].unique())
            entities = risk.window_entities(snap.transformers, days, window_days)
            t0 = time.perf_counter()
            frame = repo.training_set(
                self.ws, self.online.services["maintenance"], entities, self.cfg.store_config
            )
            log.info(
                "maintenance window: %d rows through Feast in %.2f s",
                len(frame),
                time.perf_counter() - t0,
            )
            frame = frame[["transformer_id", "event_timestamp", *features]]
            frame = frame.sort_values(["transformer_id", "event_timestamp"], ignore_index=True)
            self._rows = {key: frame.groupby("transformer_id", sort=False).indices}
            self._windows = {key: frame}
        return frame

    def unit_window(self, window_days: int, features: list[str], ids: list[str]) -> pd.DataFrame:
        """The window's rows of the transformers `ids` (the cached window, indexed by unit)."""
        window = self.window(window_days, features)
        rows = self._rows.get(self._key(window_days, features))
        if rows is None:  # the tables changed since the window was read: filter it
            return window[window["transformer_id"].isin(ids)]
        taken = [rows[t] for t in ids if t in rows]
        return window.iloc[np.concatenate(taken)] if taken else window.iloc[:0]

    def warm(self) -> None:
        """Read the window of the model now served, so no request waits for it."""
        if not self.slot.ready:
            return
        contract = self.slot.current.contract
        assert contract is not None  # read when the version loaded
        try:
            self.window(int(contract.window_days or 0), list(contract.features))
        except MissingDataError as exc:  # answered per request (503) until the tables exist
            log.warning("maintenance window not read: %s", exc)

    def _scored(self, loaded: Loaded, wanted: list[str]) -> tuple[pd.DataFrame | None, str | None]:
        """(model output by transformer_id for `wanted`, or None; the window's latest day)."""
        contract = loaded.contract
        assert contract is not None  # read when the version loaded
        features = list(contract.features)
        window = self.unit_window(int(contract.window_days or 0), features, wanted)
        online = self.online.read(
            self.online.refs("maintenance"),
            [{"transformer_id": t} for t in wanted],
            stamped=(features[0],),
        )
        frame = risk.failure_input(risk.merge_latest(window, online, features), wanted, features)
        # the rows are built in the signature's layout (tests check it against the model):
        # MLflow's per-column schema enforcement is skipped on this hot path
        model = loaded.model.unwrap_python_model()
        scored = model.predict(None, frame).set_index("transformer_id") if len(frame) else None
        whole = self.window(int(contract.window_days or 0), features)
        as_of = pd.Timestamp(whole["event_timestamp"].max()).isoformat() if len(whole) else None
        return scored, as_of

    def risk(self, ids: list[str]) -> dict[str, Any]:
        loaded = self.slot.current
        wanted = check_ids(ids, self.cfg.max_ids)
        check_known(wanted, self.snapshot().transformers, "transformer")
        scored, as_of = self.batcher.submit((loaded, wanted))
        results: list[dict[str, Any]] = []
        missing: list[dict[str, str]] = []
        for t in wanted:
            if scored is None or t not in scored.index:
                reason = f"no {self.online.services['maintenance']} features for this unit"
                missing.append({"id": t, "reason": reason})
                continue
            row = scored.loc[t]
            results.append(
                {
                    "transformer_id": t,
                    "probability": float(row["probability"]),
                    "risk_band": str(row["risk_band"]),
                    "drivers": [
                        d for d in str(row["drivers"]).split(", ") if d not in ("", "none")
                    ],
                }
            )
        _record("maintenance", [r["probability"] for r in results], len(missing))
        return {"model": loaded.info(), "as_of": as_of, "risks": results, "missing": missing}
