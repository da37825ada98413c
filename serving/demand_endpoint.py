"""`/forecast/demand`: validate a request, read the series' origin features online, build the
model's input (`demand.py`), call the registered model, answer per series.

Single calls and the batch route share one micro-batching queue (`batching.Coalescer`): the
validated requests queued while a batch runs are forecast together, one feature read and one
model call per (model version, horizon) over the union of their series. A request with its own
temperature forecast is forecast alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from gridml.errors import UserError
from gridml.serving import demand
from gridml.serving.batching import Coalescer
from gridml.serving.config import ServingConfig
from gridml.serving.errors import check_ids, check_known, error_status
from gridml.serving.metrics import metrics, observe
from gridml.serving.models import Loaded, ModelSlot
from gridml.serving.online import OnlineFeatures
from gridml.serving.snapshot import Snapshot

Pending = tuple[
    Loaded, demand.ValidDemandRequest
]  # a validated request and the model it was checked on
Forecast = tuple[pd.DataFrame, list[str]]  # model output rows, series without features


class DemandEndpoint:
    def __init__(
        self,
        cfg: ServingConfig,
        slot: ModelSlot,
        online: OnlineFeatures,
        snapshot: Callable[[], Snapshot],
        max_batch: int = 64,
    ) -> None:
        self.cfg = cfg
        self.slot = slot
        self.online = online
        self.snapshot = snapshot
        self._horizons: dict[int, int] = {}
        self._contexts: dict[tuple, demand.ContextTable] = {}
        # origin rows by series (None: no features online), valid for one store version
        self._origins: dict[str, demand.OriginRows | None] = {}
        self._origins_key: tuple | None = None
        self._origins_lock = threading.Lock()
        self.batcher: Coalescer[Pending, Forecast] = Coalescer(
            "demand", self._forecast_pending, max_batch
        )

    def forecast(
        self,
        ids: list[str],
        level: str = "feeder",
        horizon: int | None = None,
        quantiles: list[float] | None = None,
        temperature_c: list[float] | None = None,
    ) -> dict[str, Any]:
        """One forecast request: validated here, then forecast in a batch with the requests of
        concurrent callers (alone when it brings its own temperature forecast)."""
        loaded = self.slot.current
        req = self.request(loaded, ids, level, horizon, quantiles, temperature_c)
        if temperature_c is not None:
            out, missing = self.forecast_series(loaded, req.series, req.horizon, temperature_c)
        else:
            out, missing = self.batcher.submit((loaded, req))
        return req.answer(loaded, out, missing)

    def forecast_many(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Several requests (BentoML's adaptive batching merges concurrent callers' requests):
        each is validated alone (a bad one gets its own error entry); those with the same
        horizon and no temperature of their own are forecast in ONE feature fetch and model
        call over the union of their series (through the queue single calls use), which costs
        far less than one call each."""
        loaded = self.slot.current
        out: list[dict[str, Any] | None] = [None] * len(requests)
        queued: list[tuple[int, demand.ValidDemandRequest]] = []
        for i, raw in enumerate(requests):
            try:
                req = self.request(loaded, **raw)
            except UserError as exc:
                out[i] = {"error": str(exc), "status": error_status(exc)}
                continue
            temperature = raw.get("temperature_c")
            if temperature is None:
                queued.append((i, req))
            else:
                rows, missing = self.forecast_series(loaded, req.series, req.horizon, temperature)
                out[i] = req.answer(loaded, rows, missing)
        futures = self.batcher.submit_many([(loaded, req) for _, req in queued])
        for (i, req), future in zip(queued, futures, strict=True):
            rows, missing = future.result()
            out[i] = req.answer(loaded, rows, missing)
        return [o for o in out if o is not None]

    def _forecast_pending(self, items: list[Pending]) -> list[Forecast | Exception]:
        """The coalescer's batch: one feature read and model call per (model version,
        horizon) over the union of the requests' series."""
        groups: dict[tuple[int, int], list[int]] = {}
        for n, (loaded, req) in enumerate(items):
            groups.setdefault((id(loaded), req.horizon), []).append(n)
        results: list[Forecast | Exception] = [ValueError("not run")] * len(items)
        for members in groups.values():
            loaded, first = items[members[0]]
            union = list(dict.fromkeys(s for n in members for s in items[n][1].series))
            try:
                result: Forecast | Exception = self.forecast_series(
                    loaded, union, first.horizon, None
                )
            except Exception as exc:  # this group's callers get it; the others are answered
                result = exc
            for n in members:
                results[n] = result
        return results

    def request(
        self,
        loaded: Loaded,
        ids: list[str],
        level: str = "feeder",
        horizon: int | None = None,
        quantiles: list[float] | None = None,
        temperature_c: list[float] | None = None,
    ) -> demand.ValidDemandRequest:
        """A validated request; every error names its field."""
        trained = self.trained_horizon(loaded)
        longest = min(self.cfg.max_horizon_hours, trained)
        horizon = min(self.cfg.default_horizon_hours, longest) if horizon is None else horizon
        if not 1 <= horizon <= longest:
            raise UserError(
                f"'horizon': {horizon} h is outside 1..{longest} (the served model was trained "
                f"for up to {trained} h)"
            )
        if level not in demand.LEVELS:
            raise UserError(f"'level': {level!r} is not one of {', '.join(demand.LEVELS)}")
        assert loaded.contract is not None  # read when the version loaded
        served_q = loaded.contract.quantiles
        quantiles = list(quantiles) if quantiles else list(served_q)
        bad = [q for q in quantiles if q not in served_q]
        if bad:
            raise UserError(f"'quantiles': {bad} not served; this model gives {list(served_q)}")
        if temperature_c is not None and len(temperature_c) < horizon:
            raise UserError(
                f"'temperature_c': {len(temperature_c)} values for a {horizon} h horizon"
            )
        series = check_ids(demand.series_ids(level, ids), self.cfg.max_ids)
        check_known(series, self.snapshot().series.index, "series")
        weather = "request" if temperature_c is not None else "persistence"
        return demand.ValidDemandRequest(series, level, horizon, quantiles, weather)

    def forecast_series(
        self,
        loaded: Loaded,
        series: list[str],
        horizon: int,
        temperature_c: list[float] | None,
    ) -> tuple[pd.DataFrame, list[str]]:
        """(model output rows with series_id, origin, target_time; series without features)."""
        snap = self.snapshot()
        origins, missing = self.origin_rows(series)
        m = metrics()
        m.ids.labels("demand", "missing_features").inc(len(missing))
        if origins is None:
            return pd.DataFrame(columns=["series_id"]), missing
        regions = snap.series["region_id"]
        region = np.array([regions.get(s) for s in origins.series], dtype=object)
        origin_stamps = pd.Series(pd.to_datetime(np.unique(origins.origin_ns), unit="ns", utc=True))
        targets = demand.target_hours(origin_stamps, horizon)
        region_ids = tuple(sorted({str(r) for r in region}))
        if temperature_c is None:  # the same for every request at this origin: cached
            context = self._context(snap, region_ids, targets)
        else:
            context = demand.ContextTable.of(
                demand.context_frame(
                    list(region_ids),
                    targets,
                    snap.zone.country,
                    snap.zone.timezone,
                    snap.weather,
                    temperature_c,
                    snap.zone.subdivision,
                )
            )
        rows = demand.input_frame(origins, region, horizon, context)
        # the rows are built in the signature's layout (tested; the two extra time columns are
        # not read): skip MLflow's per-column schema enforcement on this hot path, which costs
        # more than the boosters
        out = loaded.model.unwrap_python_model().predict(None, rows)
        with np.errstate(all="ignore"):
            relative = out["yhat"].to_numpy() / rows["load_mean_168h"].to_numpy()
        observe(m.relative_load, "demand", relative)
        m.ids.labels("demand", "served").inc(len(origins.series))
        out["origin"] = rows["origin"].array
        out["target_time"] = rows["target_time"].array
        out["unit"] = out["series_id"].map(snap.series["unit"]).to_numpy()
        return out, missing

    def origin_rows(self, series: list[str]) -> tuple[demand.OriginRows | None, list[str]]:
        """(the origin rows of the series with features online, in order; the series
        without). Kept per series while the online store's content is unchanged
        (`OnlineFeatures.version`), read again after any push or materialization."""
        version = self.online.version()
        key = (version, self.online.services["demand"], tuple(self.online.views["demand"]))
        with self._origins_lock:
            if version is None or key != self._origins_key:
                self._origins = {}
                self._origins_key = key
            cache = self._origins
            todo = [s for s in dict.fromkeys(series) if s not in cache]
        if todo:
            online = self.online.read(
                demand.origin_refs(self.online.views["demand"]),
                [{"series_id": s} for s in todo],
                stamped=(demand.ORIGIN_FEATURE,),
            )
            online["origin"] = demand.origins_from_online(online)
            lacking = online["origin"].isna().to_numpy()
            read = demand.origin_rows(online[~lacking].reset_index(drop=True))
            found = dict.fromkeys(online.loc[lacking, "series_id"].astype(str))
            for i, name in enumerate(read.series):
                found[str(name)] = read.take([i])
            with self._origins_lock:
                if self._origins_key == key:
                    cache.update(found)
        else:
            found = {}
        parts = [found[s] if s in found else cache[s] for s in series]
        missing = [s for s, part in zip(series, parts, strict=True) if part is None]
        present = [p for p in parts if p is not None]
        return (demand.OriginRows.concat(present) if present else None), missing

    def _context(
        self, snap: Snapshot, regions: tuple[str, ...], targets: pd.DatetimeIndex
    ) -> demand.ContextTable:
        key = (snap.version, regions, targets[0], len(targets))
        cached = self._contexts.get(key)
        if cached is None:
            zone = snap.zone
            cached = demand.ContextTable.of(
                demand.context_frame(
                    list(regions),
                    targets,
                    zone.country,
                    zone.timezone,
                    snap.weather,
                    None,
                    zone.subdivision,
                )
            )
            if len(self._contexts) > 64:
                self._contexts.clear()
            self._contexts[key] = cached
        return cached

    def trained_horizon(self, loaded: Loaded) -> int:
        """The longest horizon the demand model was trained for (its run's `horizon_hours`)."""
        if loaded.contract is not None and loaded.contract.horizon_hours:
            return int(loaded.contract.horizon_hours)
        if loaded.version not in self._horizons:
            from mlflow import MlflowClient

            params = MlflowClient().get_run(loaded.run_id).data.params if loaded.run_id else {}
            trained = params.get("horizon_hours")
            self._horizons[loaded.version] = int(trained) if trained else 168
        return self._horizons[loaded.version]
