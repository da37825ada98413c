"""What the endpoints do, free of the web framework: ids in, predictions out.

`Predictor` holds the Feast store, the snapshot of histories and one `ModelSlot` per endpoint.
Every method validates its request first (errors name the field), fetches features by id, calls
the registered pyfunc (whose preprocessing is the training code's own) and shapes the answer.
The BentoML service (`service.py`) is thin wiring over it; tests call both.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
import pandas as pd

from gridml.errors import MissingDataError, UserError
from gridml.features.store import repo
from gridml.features.store.definitions import FRESH_READINGS_VIEW, PUSH_SOURCE
from gridml.serving import demand, readings, risk
from gridml.serving.config import ServingConfig
from gridml.serving.metrics import metrics, observe
from gridml.serving.models import Loaded, ModelSlot
from gridml.serving.snapshot import Snapshot, data_version, load_snapshot
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
ENDPOINTS = ("demand", "maintenance", "theft")
SERVICES = {
    "demand": "demand_forecast_v1",
    "maintenance": "asset_failure_v1",
    "theft": "theft_detection_v1",
}


class UnknownIds(UserError):
    """Ids the platform does not know (HTTP 404)."""


class TooLarge(UserError):
    """A request over the configured batch limits (HTTP 413)."""


def _check_ids(ids: list[str], limit: int, field: str = "ids") -> list[str]:
    if not ids:
        raise UserError(f"'{field}': give at least one id")
    if len(ids) > limit:
        raise TooLarge(f"'{field}': {len(ids)} ids, more than max_ids={limit}; split the batch")
    return list(dict.fromkeys(str(i) for i in ids))  # unique, in the caller's order


def _unknown(ids: list[str], known: pd.Index, what: str) -> None:
    missing = [i for i in ids if i not in known]
    if missing:
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise UnknownIds(f"'ids': unknown {what}(s): {', '.join(missing[:10])}{more}")


def online_frame(response: Any, stamped: tuple[str, ...]) -> pd.DataFrame:
    """A Feast online response as a frame (one object block: a wide response builds fast;
    callers convert the columns they use); event timestamps only for the features in
    `stamped` (converting all of them doubles the cost)."""
    values = response.to_dict()
    names = list(response.proto.metadata.feature_names.val)
    for name in stamped:
        vector = response.proto.results[names.index(name)]
        values[f"{name}{risk.TIMESTAMP_SUFFIX}"] = [ts.seconds for ts in vector.event_timestamps]
    columns = list(values)
    matrix = np.empty((len(values[columns[0]]) if columns else 0, len(columns)), dtype=object)
    for j, col in enumerate(columns):
        matrix[:, j] = values[col]
    return pd.DataFrame(matrix, columns=columns)


def error_status(exc: UserError) -> int:
    """The HTTP status of a platform error (the same mapping the service applies)."""
    if isinstance(exc, UnknownIds):
        return 404
    if isinstance(exc, TooLarge):
        return 413
    if isinstance(exc, MissingDataError):
        return 503
    return 400


class Predictor:
    def __init__(self, cfg: ServingConfig, ws: Workspace) -> None:
        self.cfg = cfg
        self.ws = ws
        self.store = repo.open_store(ws, cfg.store_config)
        self._online_lock = threading.Lock()  # one SQLite connection per store object
        self._snapshot_lock = threading.Lock()
        self.refs = self._service_refs()
        self.slots = {
            "demand": ModelSlot("demand", cfg.demand),
            "maintenance": ModelSlot("maintenance", cfg.maintenance),
            "theft": ModelSlot("theft", cfg.theft),
        }
        self.snapshot: Snapshot = load_snapshot(ws)
        self._windows: dict[tuple, pd.DataFrame] = {}
        self._horizons: dict[int, int] = {}
        self._contexts: dict[tuple, pd.DataFrame] = {}
        self.refresh()

    # --- refresh ------------------------------------------------------------------------------

    def _service_refs(self) -> dict[str, dict[str, list[str]]]:
        out = {}
        for endpoint, service in SERVICES.items():
            try:
                fs = self.store.get_feature_service(service)
            except Exception as exc:
                raise MissingDataError(
                    f"FeatureService {service} is not registered: run `gridml features apply`"
                ) from exc
            out[endpoint] = {
                p.name: [f.name for f in p.features] for p in fs.feature_view_projections
            }
        return out

    def refresh(self) -> dict[str, bool]:
        """Pick up alias moves and rebuilt feature tables. Returns what changed."""
        changed = {name: slot.refresh() for name, slot in self.slots.items()}
        if data_version(self.ws) != self.snapshot.version:
            with self._snapshot_lock:
                self.snapshot = load_snapshot(self.ws)
                self._windows.clear()
            changed["data"] = True
        m = metrics()
        for name, slot in self.slots.items():
            if slot.ready:
                cur = slot.current
                m.model_version.labels(name, cur.name, cur.alias).set(cur.version)
        return changed

    @property
    def ready(self) -> bool:
        return any(slot.ready for slot in self.slots.values())

    def models(self) -> list[dict[str, Any]]:
        return [
            slot.info() | {"feature_service": SERVICES[name]} for name, slot in self.slots.items()
        ]

    def _online(
        self, features: list[str], rows: list[dict[str, str]], stamped: tuple[str, ...]
    ) -> pd.DataFrame:
        """Online values of `features` for the entity rows, and `<name>__ts` (epoch seconds,
        0 when the store has no row) for the features named in `stamped`."""
        with self._online_lock:
            response = self.store.get_online_features(features=features, entity_rows=rows)
        return online_frame(response, stamped)

    # --- demand -------------------------------------------------------------------------------

    def forecast_demand(
        self,
        ids: list[str],
        level: str = "feeder",
        horizon: int | None = None,
        quantiles: list[float] | None = None,
        temperature_c: list[float] | None = None,
    ) -> dict[str, Any]:
        """One forecast request: validated, then the series forecast together."""
        loaded = self.slots["demand"].current
        req = self._demand_request(loaded, ids, level, horizon, quantiles, temperature_c)
        forecasts, missing = self._forecast_series(loaded, req.series, req.horizon, temperature_c)
        return req.answer(loaded, forecasts, missing)

    def forecast_demand_many(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Several requests (BentoML's adaptive batching merges concurrent callers' requests):
        each is validated alone (a bad one gets its own error entry); those with the same
        horizon and no temperature of their own are forecast in ONE feature fetch and model
        call over the union of their series, which costs far less than one call each."""
        loaded = self.slots["demand"].current
        out: list[dict[str, Any] | None] = [None] * len(requests)
        groups: dict[tuple, list[tuple[int, demand.DemandRequest]]] = {}
        for i, raw in enumerate(requests):
            try:
                req = self._demand_request(loaded, **raw)
            except UserError as exc:
                out[i] = {"error": str(exc), "status": error_status(exc)}
                continue
            key = (req.horizon,) if raw.get("temperature_c") is None else ("own", i)
            groups.setdefault(key, []).append((i, req))
        for members in groups.values():
            union = list(dict.fromkeys(s for _, req in members for s in req.series))
            temperature = requests[members[0][0]].get("temperature_c")
            forecasts, missing = self._forecast_series(
                loaded, union, members[0][1].horizon, temperature
            )
            for i, req in members:
                out[i] = req.answer(loaded, forecasts, missing)
        return [o for o in out if o is not None]

    def _demand_request(
        self,
        loaded: Loaded,
        ids: list[str],
        level: str = "feeder",
        horizon: int | None = None,
        quantiles: list[float] | None = None,
        temperature_c: list[float] | None = None,
    ) -> demand.DemandRequest:
        longest = min(self.cfg.max_horizon_hours, self._trained_horizon(loaded))
        horizon = min(self.cfg.default_horizon_hours, longest) if horizon is None else horizon
        if not 1 <= horizon <= longest:
            raise UserError(
                f"'horizon': {horizon} h is outside 1..{longest} (the served model was trained "
                f"for up to {self._trained_horizon(loaded)} h)"
            )
        if level not in demand.LEVELS:
            raise UserError(f"'level': {level!r} is not one of {', '.join(demand.LEVELS)}")
        served_q = tuple(loaded.model.unwrap_python_model().quantiles)
        quantiles = list(quantiles) if quantiles else list(served_q)
        bad = [q for q in quantiles if q not in served_q]
        if bad:
            raise UserError(f"'quantiles': {bad} not served; this model gives {list(served_q)}")
        if temperature_c is not None and len(temperature_c) < horizon:
            raise UserError(
                f"'temperature_c': {len(temperature_c)} values for a {horizon} h horizon"
            )
        series = _check_ids(demand.series_ids(level, ids), self.cfg.max_ids)
        _unknown(series, self.snapshot.series.index, "series")
        weather = "request" if temperature_c is not None else "persistence"
        return demand.DemandRequest(series, level, horizon, quantiles, weather)

    def _forecast_series(
        self,
        loaded: Loaded,
        series: list[str],
        horizon: int,
        temperature_c: list[float] | None,
    ) -> tuple[pd.DataFrame, list[str]]:
        """(model output rows with series_id, origin, target_time; series without features)."""
        snap = self.snapshot
        online = self._online(
            demand.origin_refs(self.refs["demand"]),
            [{"series_id": s} for s in series],
            stamped=(demand.ORIGIN_FEATURE,),
        )
        online["origin"] = demand.origins_from_online(online)
        lacking = online["origin"].isna()
        missing = online.loc[lacking, "series_id"].tolist()
        m = metrics()
        m.ids.labels("demand", "missing_features").inc(len(missing))
        online = online[~lacking].reset_index(drop=True)
        if online.empty:
            return pd.DataFrame(columns=["series_id"]), missing
        regions = snap.series["region_id"]
        targets = demand.target_hours(online["origin"], horizon)
        region_ids = tuple(sorted(set(online["series_id"].map(regions))))
        if temperature_c is None:  # the same for every request at this origin: cached
            context = self._context(region_ids, targets)
        else:
            context = demand.context_frame(
                list(region_ids),
                targets,
                snap.zone.country,
                snap.zone.timezone,
                snap.weather,
                temperature_c,
            )
        rows = demand.model_input(online, regions, horizon, context)
        # the rows are built in the signature's layout (tested; the two extra time columns are
        # not read): skip MLflow's per-column schema enforcement on this hot path, which costs
        # more than the boosters
        out = loaded.model.unwrap_python_model().predict(None, rows)
        with np.errstate(all="ignore"):
            relative = out["yhat"].to_numpy() / rows["load_mean_168h"].to_numpy()
        observe(m.relative_load, "demand", relative)
        m.ids.labels("demand", "served").inc(len(online))
        out["origin"] = rows["origin"].to_numpy()
        out["target_time"] = rows["target_time"].to_numpy()
        return out, missing

    def _context(self, regions: tuple[str, ...], targets: pd.DatetimeIndex) -> pd.DataFrame:
        snap = self.snapshot
        key = (snap.version, regions, targets[0], len(targets))
        cached = self._contexts.get(key)
        if cached is None:
            cached = demand.context_frame(
                list(regions), targets, snap.zone.country, snap.zone.timezone, snap.weather, None
            )
            if len(self._contexts) > 64:
                self._contexts.clear()
            self._contexts[key] = cached
        return cached

    def _trained_horizon(self, loaded: Loaded) -> int:
        """The longest horizon the demand model was trained for (its run's `horizon_hours`)."""
        if loaded.version not in self._horizons:
            from mlflow import MlflowClient

            params = MlflowClient().get_run(loaded.run_id).data.params if loaded.run_id else {}
            trained = params.get("horizon_hours")
            self._horizons[loaded.version] = int(trained) if trained else 168
        return self._horizons[loaded.version]

    # --- theft --------------------------------------------------------------------------------

    def theft_score(self, ids: list[str]) -> dict[str, Any]:
        loaded = self.slots["theft"].current
        wanted = _check_ids(ids, self.cfg.max_ids)
        snap = self.snapshot
        _unknown(wanted, snap.meters.index, "meter")
        if snap.daily is None:
            raise MissingDataError("no meter_daily table: run `gridml features build`")
        python_model = loaded.model.unwrap_python_model()
        # rank among all meters of the same transformers, not only the ones asked for
        transformers = set(snap.meters.loc[wanted, "transformer_id"])
        peers = snap.meters.index[snap.meters["transformer_id"].isin(transformers)].tolist()
        rows = [
            {"meter_id": m, "transformer_id": snap.meters.at[m, "transformer_id"]} for m in peers
        ]
        features = [f"{v}:{f}" for v, fs in self.refs["theft"].items() for f in fs]
        online = self._online(
            [*features, f"{FRESH_READINGS_VIEW}:kwh"],
            rows,
            stamped=(python_model.feature_columns[0], "kwh"),
        )
        stamp_col = f"{python_model.feature_columns[0]}{risk.TIMESTAMP_SUFFIX}"
        has = pd.to_numeric(online[stamp_col], errors="coerce").fillna(0) > 0
        frame = risk.theft_input(
            online[has.to_numpy()].reset_index(drop=True),
            snap.meters,
            snap.daily,
            python_model.feature_columns,
            python_model.cfg.days,
        )
        scored = loaded.model.predict(frame).set_index("meter_id") if len(frame) else None
        latest = online.set_index("meter_id")
        m = metrics()
        results, missing = [], []
        for meter in wanted:
            if scored is None or meter not in scored.index:
                missing.append({"id": meter, "reason": "no theft features in the online store"})
                continue
            row = scored.loc[meter]
            reading_ts = pd.to_numeric(latest.at[meter, "kwh__ts"], errors="coerce")
            results.append(
                {
                    "meter_id": meter,
                    "transformer_id": snap.meters.at[meter, "transformer_id"],
                    "probability": float(row["probability"]),
                    "rank_in_transformer": int(row["rank_in_transformer"]),
                    "meters_in_transformer": int(
                        (
                            snap.meters["transformer_id"] == snap.meters.at[meter, "transformer_id"]
                        ).sum()
                    ),
                    "reason_codes": [
                        r for r in str(row["reason_codes"]).split(" | ") if r != "none"
                    ],
                    "latest_reading": None
                    if not reading_ts or pd.isna(reading_ts)
                    else {
                        "timestamp": pd.Timestamp(int(reading_ts), unit="s", tz="UTC").isoformat(),
                        "kwh": float(latest.at[meter, "kwh"]),
                    },
                }
            )
        observe(m.probability, "theft", [r["probability"] for r in results])
        m.ids.labels("theft", "served").inc(len(results))
        m.ids.labels("theft", "missing_features").inc(len(missing))
        as_of = snap.daily.days[-1].isoformat()
        return {"model": loaded.info(), "as_of": as_of, "scores": results, "missing": missing}

    # --- maintenance --------------------------------------------------------------------------

    def _window(self, window_days: int, features: list[str]) -> pd.DataFrame:
        key = (self.snapshot.version, window_days, tuple(features))
        cached = self._windows.get(key)
        if cached is not None:
            return cached
        with self._snapshot_lock:
            stamps = self._day_stamps()
            entities = risk.window_entities(self.snapshot.transformers, stamps, window_days)
            t0 = time.perf_counter()
            frame = repo.training_set(
                self.ws, SERVICES["maintenance"], entities, self.cfg.store_config
            )
            log.info(
                "maintenance window: %d rows through Feast in %.2f s",
                len(frame),
                time.perf_counter() - t0,
            )
            frame = frame[["transformer_id", "event_timestamp", *features]]
            self._windows = {key: frame}
        return frame

    def _day_stamps(self) -> pd.DatetimeIndex:
        from gridml.io import read_parts

        table = read_parts(self.ws.table_dir("transformer_daily"), columns=["event_timestamp"])
        if table is None or table.empty:
            raise MissingDataError("no transformer_daily table: run `gridml features build`")
        return pd.DatetimeIndex(table["event_timestamp"].unique())

    def maintenance_risk(self, ids: list[str]) -> dict[str, Any]:
        loaded = self.slots["maintenance"].current
        wanted = _check_ids(ids, self.cfg.max_ids)
        _unknown(wanted, self.snapshot.transformers, "transformer")
        meta = loaded.model.unwrap_python_model().meta
        features = list(meta["features"])
        window = self._window(int(meta["window_days"]), features)
        refs = [f"{v}:{f}" for v, fs in self.refs["maintenance"].items() for f in fs]
        online = self._online(refs, [{"transformer_id": t} for t in wanted], stamped=(features[0],))
        frame = risk.failure_input(risk.merge_latest(window, online, features), wanted, features)
        scored = loaded.model.predict(frame).set_index("transformer_id") if len(frame) else None
        results, missing = [], []
        for t in wanted:
            if scored is None or t not in scored.index:
                missing.append({"id": t, "reason": "no asset_failure_v1 features for this unit"})
                continue
            row = scored.loc[t]
            drivers = [d for d in str(row["drivers"]).split(", ") if d and d != "none"]
            results.append(
                {
                    "transformer_id": t,
                    "probability": float(row["probability"]),
                    "risk_band": str(row["risk_band"]),
                    "drivers": drivers,
                }
            )
        m = metrics()
        observe(m.probability, "maintenance", [r["probability"] for r in results])
        m.ids.labels("maintenance", "served").inc(len(results))
        m.ids.labels("maintenance", "missing_features").inc(len(missing))
        as_of = pd.Timestamp(window["event_timestamp"].max()).isoformat() if len(window) else None
        return {
            "model": loaded.info(),
            "as_of": as_of,
            "risks": results,
            "missing": missing,
        }

    # --- readings -----------------------------------------------------------------------------

    def ingest(self, items: list[dict]) -> dict[str, Any]:
        if len(items) > self.cfg.max_readings:
            raise TooLarge(
                f"'readings': {len(items)} items, more than max_readings={self.cfg.max_readings}"
            )
        if not items:
            raise UserError("'readings': give at least one reading")
        batch, repeats = readings.validate(
            readings.readings_frame(items), self.snapshot.meters.index
        )
        landed = readings.land(self.ws, batch)
        meters = sorted(batch["meter_id"].unique())
        online = self._online(
            [f"{FRESH_READINGS_VIEW}:kwh"], [{"meter_id": m} for m in meters], stamped=("kwh",)
        ).set_index("meter_id")
        seconds = pd.to_numeric(online["kwh__ts"], errors="coerce")
        online_ts = pd.to_datetime(seconds.where(seconds > 0), unit="s", utc=True)
        push = readings.newest_to_push(batch, online_ts)
        if len(push):
            with self._online_lock:
                self.store.push(PUSH_SOURCE, push)
        log.info(
            "readings: %d received, %d repeated, %d meters pushed, landed %s",
            len(items),
            repeats,
            len(push),
            landed.name,
        )
        return {
            "received": len(items),
            "duplicates": repeats,
            "meters_updated": len(push),
            "meters_already_newer": len(meters) - len(push),
            "landed": landed.name,
        }
