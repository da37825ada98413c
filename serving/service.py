"""The BentoML service of gridml: thin HTTP wiring over `Predictor`.

Run it with `gridml serve` (or `bentoml serve gridml.serving.service:GridML`). Configuration:
`$GRIDML_WORKSPACE`, API keys from `$GRIDML_API_KEYS_FILE` / `$GRIDML_API_KEYS` (see `auth.py`),
and the process settings `config.ProcessSettings` (`$GRIDML_SERVING_CONFIG`, `_WORKERS` (default:
one per core), `_THREADS`, `_TIMEOUT`, `_MAX_BATCH`, `_TORCH_THREADS`; `gridml serve` sets them).
The settings are read once, when `GridML` is first looked up on this module (`bentoml serve`
does it when it starts, in each worker): importing the module reads no environment.

Routes: POST /forecast/demand, /maintenance/risk, /theft/score, /predict (role reader), POST
/readings (ingest), POST /admin/reload (admin), GET /models (reader), POST
/maintenance/risk/top, /theft/top, /ids, /actuals (reader; `ops_routes.py`), the dashboard
under /dashboard/ (its own session cookie; `dashboard/`); open: /livez, /readyz,
/metrics, /docs.json and the Swagger UI at /. Request bodies are bounded field by field
(`schema.py`); `http.EdgeGuard` answers unknown paths, non-JSON bodies and keys in URLs before
BentoML sees them.
"""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path
from typing import Any

import bentoml
from _bentoml_sdk.service.factory import Service
from pydantic import Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from gridml.serving.auth import ROUTE_ROLES, ApiKeyMiddleware, shared_keys
from gridml.serving.config import ProcessSettings
from gridml.serving.errors import answered
from gridml.serving.ops_routes import OpsRoutes
from gridml.serving.reload import ReloadFollower, stamp_path
from gridml.serving.schema import (
    DemandRequests,
    EndpointName,
    Horizon,
    Ids,
    Level,
    Quantiles,
    Readings,
    Temperatures,
)

log = logging.getLogger("gridml.serving")


class QuietClientErrors(logging.Filter):
    """BentoML logs a request body that fails validation with a full traceback at ERROR; it
    is the caller's mistake (answered 400 naming the field): keep one line, at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        from pydantic import ValidationError

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValidationError):
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
            record.msg = f"{record.msg}: invalid field(s) {', '.join(fields)}"
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def _plain_logging() -> None:
    """One plain line per record (the CLI's rich handler costs too much per line under load),
    and the access log (`gridml.access`) as bare JSON lines on stderr."""
    import sys

    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    plain = logging.StreamHandler(sys.stderr)
    plain.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(plain)
    access = logging.getLogger("gridml.access")
    if not access.handlers:
        bare = logging.StreamHandler(sys.stderr)
        bare.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(bare)
    access.setLevel(logging.INFO)
    access.propagate = False
    from gridml.serving.http import NoQueryInAccessLog

    logging.getLogger("uvicorn.access").addFilter(NoQueryInAccessLog())


@functools.cache
def process_settings() -> ProcessSettings:
    """The process settings (`GRIDML_SERVING_*`), read once per process."""
    return ProcessSettings()


def _one_thread_per_request(threads: int) -> None:
    """Requests run in a pool of request threads: a model call that also spreads over every
    core (torch's intra-op pool) oversubscribes them and slows everything under load. The
    LightGBM pyfuncs already predict with one thread; torch gets `torch_threads` (default 1)."""
    import torch

    torch.set_num_threads(threads)


def _models_route(request: Request) -> JSONResponse:
    service = bentoml.get_current_service()
    service._current()
    return JSONResponse({"models": service.predictor.models()})


models_app = Starlette(routes=[Route("/", _models_route, methods=["GET"])])


class ModelsPath:
    """`GET /models` without the slash the mounted app would redirect to (307)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] == "/models":
            scope = dict(scope, path="/models/", raw_path=b"/models/")
        await self.app(scope, receive, send)


class _GridML(OpsRoutes):
    """Demand forecasts, transformer failure risk and theft scores by entity id.

    The BentoML service is built from this class by `build_service` (module attribute
    `GridML`), with the process settings of the moment."""

    def __init__(self) -> None:
        import mlflow

        from gridml import logs
        from gridml.serving.auth import LiveKeys
        from gridml.serving.config import load_config
        from gridml.serving.predictor import Predictor
        from gridml.workspace import Workspace

        settings = process_settings()
        logs.setup(False)
        _plain_logging()
        LiveKeys.from_env()  # a missing or broken keys file refuses start-up, naming it
        _one_thread_per_request(settings.torch_threads)
        logging.getLogger("bentoml._internal.server.http_app").addFilter(QuietClientErrors())
        cfg = load_config(settings.config)
        ws = Workspace.from_env()
        targets = cfg.tracking.targets(ws)
        mlflow.set_tracking_uri(targets.tracking_uri)
        mlflow.set_registry_uri(targets.registry_uri)
        self.predictor = Predictor(cfg, ws, max_batch=settings.max_batch)
        self._stop = threading.Event()
        self.reloads = ReloadFollower(stamp_path(ws), self._reload_here)
        if cfg.poll_seconds > 0:
            threading.Thread(target=self._poll, name="registry-poll", daemon=True).start()
        threading.Thread(
            target=self.reloads.run, args=(self._stop,), name="reload-follow", daemon=True
        ).start()
        log.info("serving workspace %s; models: %s", ws.root, self.predictor.models())

    def _poll(self) -> None:
        while not self._stop.wait(self.predictor.cfg.poll_seconds):
            try:
                self.predictor.refresh()
            except Exception:  # keep polling: the next round may reach the registry
                log.exception("refresh failed")

    def __is_ready__(self) -> bool:
        return self.predictor.ready

    def _reload_here(self) -> dict[str, Any]:
        """Reload this worker: the versions the aliases point to now, rebuilt feature tables,
        the API keys file. Returns what changed."""
        changed: dict[str, Any] = dict(self.predictor.refresh())
        keys = shared_keys[0]
        if keys is not None:
            changed["keys"] = keys.reload()
        return changed

    def _current(self) -> None:
        """Before answering: follow a reload another worker announced (one `stat`)."""
        self.reloads.follow()

    @bentoml.api(route="/forecast/demand")
    @answered
    def forecast_demand(
        self,
        ids: Ids = Field(examples=[["F001"]]),
        level: Level = "feeder",
        horizon: Horizon | None = Field(
            default=None, description="Hours ahead from the origin (default 48, at most 168)."
        ),
        quantiles: Quantiles | None = Field(
            default=None,
            description="Subset of the served quantiles (default: all).",
            examples=[[0.1, 0.9]],
        ),
        temperature_c: Temperatures | None = Field(
            default=None,
            description="Temperature forecast (C, -60..70) of the series' region, one value per "
            "hour from the origin; default: persistence of the last observed day.",
        ),
    ) -> dict[str, Any]:
        """Hourly P50 and quantile forecasts (kWh) of grid series, from the latest local
        midnight in the online store."""
        self._current()
        return self.predictor.demand.forecast(ids, level, horizon, quantiles, temperature_c)

    @bentoml.api(
        route="/forecast/demand/batch",
        batchable=True,
        # set from the process settings by build_service: max_batch, and the timeout (batch
        # what is queued; never refuse for latency)
    )
    def forecast_demand_batch(self, requests: DemandRequests) -> list[dict[str, Any]]:
        """Several forecast requests in one call (at most 256). BentoML's adaptive batching
        also merges the requests of concurrent callers; requests with the same horizon are
        forecast in one feature fetch and model call. Each answer is a forecast or
        {"error", "status"}."""
        from gridml.serving.models import ModelUnavailable

        self._current()
        try:
            return self.predictor.demand.forecast_many([r.model_dump() for r in requests])
        except ModelUnavailable as exc:  # one answer per request, as batching requires
            return [{"error": str(exc), "status": 503} for _ in requests]

    @bentoml.api(route="/maintenance/risk")
    @answered
    def maintenance_risk(self, ids: Ids = Field(examples=[["T00001"]])) -> dict[str, Any]:
        """Failure probability within the horizon, risk band and drivers of transformers."""
        self._current()
        return self.predictor.maintenance.risk(ids)

    @bentoml.api(route="/theft/score")
    @answered
    def theft_score(self, ids: Ids = Field(examples=[["M000001"]])) -> dict[str, Any]:
        """Theft probability, rank among the transformer's meters and reason codes of meters."""
        self._current()
        return self.predictor.theft.score(ids)

    @bentoml.api(route="/predict")
    @answered
    def predict(
        self, endpoint: EndpointName, ids: Ids = Field(examples=[["M000001"]])
    ) -> dict[str, Any]:
        """Any served model by its endpoint name (one per model spec, GET /models): the
        endpoint's own answer for the ids, with its defaults (demand: the forecast route's)."""
        self._current()
        return self.predictor.predict(endpoint, ids)

    @bentoml.api(route="/readings")
    @answered
    def readings(self, readings: Readings) -> dict[str, Any]:
        """Ingest fresh hourly readings: checked against the readings contract (offset, on the
        hour, plausible kWh, not in the future beyond the allowed clock skew nor older than
        the allowed age), deduplicated per (meter_id, timestamp) against what already landed
        (exact repeats are counted, a different value for a landed hour is refused 409),
        landed durably, pushed to the online store."""
        self._current()
        return self.predictor.ingest([r.model_dump() for r in readings])

    @bentoml.api(route="/admin/reload")
    @answered
    def reload(self) -> dict[str, Any]:
        """Load the versions the aliases point to now, re-read rebuilt feature tables and the
        API keys file."""
        changed = self._reload_here()
        everywhere = self.reloads.announce(changed)
        return {"changed": changed, "all_workers": everywhere, "models": self.predictor.models()}


def _readiness() -> tuple[bool, dict[str, Any]] | None:
    instance = bentoml.get_current_service()
    predictor = getattr(instance, "predictor", None)
    return None if predictor is None else predictor.readiness()


def _served_paths(app: Starlette) -> frozenset[str]:
    """Every exact path the app answers (static assets file by file, so a random path under
    them is an unknown route too)."""
    from starlette.staticfiles import StaticFiles

    exact: set[str] = set()
    for route in app.routes:
        path = getattr(route, "path", None)
        if path is None:
            continue
        if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            folder = route.app.directory
            if folder is not None:
                exact |= {f"{path}/{f.name}" for f in Path(folder).iterdir()}
            continue
        exact.add(path or "/")
        if isinstance(route, Mount):
            exact.add(f"{path}/")
            exact |= {f"{path}{sub.path}" for sub in getattr(route.app, "routes", ()) if sub.path}
    return frozenset(exact)


class GuardedService(Service):
    """The BentoML service with `http.EdgeGuard` outermost, in front of BentoML's own
    middlewares (its per-path request metrics, tracing and access log)."""

    __slots__ = ()

    def to_asgi(self, is_main: bool = True) -> Any:
        import importlib.metadata

        from gridml.serving.config import load_config
        from gridml.serving.http import EdgeGuard, hardened_spec

        app = super().to_asgi(is_main)
        routes = _served_paths(app)
        api_routes = frozenset(api.route for api in self.apis.values())
        version = importlib.metadata.version("gridml")
        app.add_middleware(
            EdgeGuard,
            routes=routes,
            api_routes=api_routes,
            spec=lambda: hardened_spec(self.openapi_spec.asdict(), ROUTE_ROLES, version),
            readiness=_readiness,
            max_body_bytes=load_config(process_settings().config).max_body_bytes,
        )
        return app


def build_service(settings: ProcessSettings) -> GuardedService:
    """The BentoML service with these process settings (workers, threads, timeout, batching);
    BentoML offers no hook in front of its own middlewares, so it is a GuardedService."""
    from gridml.serving.dashboard import dashboard_app

    inner = bentoml.asgi_app(models_app, path="/models")(_GridML)
    inner = bentoml.asgi_app(dashboard_app(), path="/dashboard")(inner)
    service = bentoml.service(
        name="gridml",
        workers=settings.workers,
        threads=settings.threads,
        traffic={"timeout": settings.timeout},
        service_class=GuardedService,
    )(inner)
    batch = service.apis["forecast_demand_batch"]
    batch.max_batch_size = settings.max_batch
    batch.max_latency_ms = settings.timeout * 1000
    service.add_asgi_middleware(ApiKeyMiddleware)
    service.add_asgi_middleware(ModelsPath)
    return service


def __getattr__(name: str) -> Any:
    """`GridML`: the service, built on first access with the settings read then (once per
    process; it then is a plain module attribute, where BentoML looks its import path up)."""
    if name != "GridML":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    service = build_service(process_settings())
    globals()["GridML"] = service
    return service
