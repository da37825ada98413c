"""The operations dashboard: a Starlette app the service mounts at `/dashboard`.

Pages (`GET`, a session cookie needed; without one, a redirect to the login form): `demand`,
`risk`, `theft` (+ `theft.csv`), `models`; `login` (the form; `POST` exchanges a key for the
session cookie, see `session.py`), `POST logout`; `assets/*` (the stylesheet, the page script
and Plotly's bundled plotly.min.js from the `plotly` package: no CDN). Every page reads the
service's own objects in-process (the `Predictor` and `ops.Ops` of the worker) and answers
with a strict Content-Security-Policy (scripts and styles from the service only, except the
inline styles Plotly sets), no caching, no referrer to other sites.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from gridml.errors import UserError
from gridml.serving.auth import LiveKeys, digest, log_access, shared_keys
from gridml.serving.dashboard import pages, session, views
from gridml.serving.schema import ID_MAX_CHARS, clip

log = logging.getLogger("gridml.serving.dashboard")
STATIC = Path(__file__).parent / "static"
MAX_FORM_BYTES = 2048
MAX_TOP = 500
CHART_LEVELS = ("feeder", "substation", "zone", "transformer")
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",  # no-referrer would make form posts send Origin: null
    "x-frame-options": "DENY",
}
PAGE_HEADERS = SECURITY_HEADERS | {"cache-control": "no-store"}


class Refused(Exception):
    """A request the page answers with a status and message (not an error page of the
    framework)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@functools.cache
def plotly_js() -> bytes:
    """Plotly's bundled JavaScript (the `plotly` package's copy of plotly.min.js)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode()


def _instance() -> Any:
    import bentoml

    return bentoml.get_current_service()


def _keys() -> LiveKeys:
    keys = shared_keys[0]
    return keys if keys is not None else _env_keys()


@functools.cache
def _env_keys() -> LiveKeys:
    return LiveKeys.from_env()


class Dashboard:
    """The dashboard's handlers; `instance()`: the service instance of this worker (its
    `predictor`), `keys()`: the live key ring, `clock()`: UNIX seconds."""

    def __init__(
        self,
        instance: Callable[[], Any] = _instance,
        keys: Callable[[], LiveKeys] = _keys,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.instance = instance
        self.keys = keys
        self.clock = clock
        self._secret: bytes | None = None

    # --- sessions --------------------------------------------------------------------------

    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = session.load_secret(os.environ, self.instance().predictor.ws.root)
        return self._secret

    def user(self, request: Request) -> str | None:
        """The name of the key whose live session the request carries (None: no session, a
        forged or expired one, or a key since rotated, removed or without the role)."""
        key_digest = session.verify(
            self.secret(), request.cookies.get(session.COOKIE), self.clock()
        )
        if key_digest is None:
            return None
        entry = self.keys().current().entries.get(key_digest)
        if entry is None:
            return None
        name, roles = entry
        return name if {"reader", "admin"} & roles else None

    @staticmethod
    def secure(request: Request) -> bool:
        forwarded = request.headers.get("x-forwarded-proto", "")
        return request.url.scheme == "https" or forwarded.lower() == "https"

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return HTMLResponse(pages.login_page(), headers=PAGE_HEADERS)
        if not _same_origin(request):
            return HTMLResponse(pages.login_page("Refused: cross-site form."), 403, PAGE_HEADERS)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return HTMLResponse(pages.login_page("Form too large."), 413, PAGE_HEADERS)
        fields = parse_qs(body.decode("latin-1"), max_num_fields=4)
        key = (fields.get("key") or [""])[0].strip()
        found = self.keys().current().roles(key) if key and key.isascii() else None
        entry: dict[str, Any] = {"event": "dashboard_login", "route": "/dashboard/login"}
        if found is None:
            log_access(entry | {"key_name": None, "status": 401})
            return HTMLResponse(pages.login_page("Unknown key."), 401, PAGE_HEADERS)
        name, roles = found
        if not {"reader", "admin"} & roles:
            log_access(entry | {"key_name": name, "status": 403})
            message = f"Key {name!r} lacks role 'reader'."
            return HTMLResponse(pages.login_page(message), 403, PAGE_HEADERS)
        log_access(entry | {"key_name": name, "status": 303})
        cookie = session.sign(self.secret(), digest(key), self.clock())
        response = RedirectResponse("demand", 303, headers=PAGE_HEADERS)
        response.headers.append("set-cookie", session.cookie_header(cookie, self.secure(request)))
        return response

    async def logout(self, request: Request) -> Response:
        if not _same_origin(request):
            return Response("cross-site form refused", 403, PAGE_HEADERS)
        response = RedirectResponse("login", 303, headers=PAGE_HEADERS)
        response.headers.append("set-cookie", session.cookie_header("", self.secure(request), 0))
        return response

    # --- pages -----------------------------------------------------------------------------

    def page(self, render: Callable[[Request, str], Response]) -> Callable[[Request], Response]:
        """A page handler: the session checked first (no session: to the login form), the
        platform's errors shown on the page with their status."""
        from gridml.serving.errors import error_status
        from gridml.serving.models import ModelUnavailable

        def handler(request: Request) -> Response:
            user = self.user(request)
            if user is None:
                return RedirectResponse("login", 303, headers=PAGE_HEADERS)
            try:
                return render(request, user)
            except Refused as exc:
                return self.problem(request, user, exc.status, str(exc))
            except ModelUnavailable as exc:
                return self.problem(request, user, 503, str(exc))
            except UserError as exc:
                return self.problem(request, user, error_status(exc), str(exc))

        return handler

    @staticmethod
    def problem(request: Request, user: str, status: int, message: str) -> Response:
        name = request.url.path.rstrip("/").rsplit("/", 1)[-1]
        body = f'<p class="error" role="alert">{pages.e(clip(message, 500))}</p>'
        return HTMLResponse(pages.layout("Not available", name, user, body), status, PAGE_HEADERS)

    def ops(self) -> Any:
        from gridml.serving.ops_routes import ops_of

        return ops_of(self.instance())

    def demand(self, request: Request, user: str) -> Response:
        ops = self.ops()
        predictor = ops.predictor
        level = _param(request, "level", "feeder")
        if level not in CHART_LEVELS:
            raise Refused(400, f"'level': {level!r} is not one of {', '.join(CHART_LEVELS)}")
        ids = ops.list_ids(level, 2000)["ids"]
        if not ids:
            raise Refused(404, f"no {level} series in this workspace")
        chosen = _param(request, "id", ids[0])
        if chosen not in ids:
            raise Refused(404, f"'id': unknown {level} {chosen!r}")
        forecast = predictor.demand.forecast([chosen], level)
        slot = predictor.slots["demand"].current
        served = list(slot.contract.quantiles) if slot.contract is not None else []
        timezone = predictor.snapshot.zone.timezone
        actuals = None
        if forecast["forecasts"]:
            start, end = views.actual_range(forecast["forecasts"][0]["origin"], forecast["horizon"])
            actuals = ops.actuals([chosen], level, start, end)
        view = views.demand_view(forecast, actuals, served, timezone)
        view |= {"levels": CHART_LEVELS, "level": level, "ids": ids, "id": chosen}
        view["series_id"] = f"{level}:{chosen}"
        chart = {
            "kind": "demand",
            "unit": view["unit"],
            "forecast": view["forecast"],
            "actual": view["actual"],
            "peak": view["peak"],
            "skill": ops.lead_skill(slot.run_id, level),
        }
        title = f"Demand: {level} {chosen}"
        body = pages.demand_body(view)
        return HTMLResponse(pages.layout(title, "demand", user, body, chart), headers=PAGE_HEADERS)

    def risk(self, request: Request, user: str) -> Response:
        n = _count(request, 50)
        view = self.ops().top_risk(n)
        shown = view["risks"]
        chart = {
            "kind": "risk",
            "budget": view["budget"],
            "x": [r["transformer_id"] for r in shown],
            "y": [r["probability"] for r in shown],
            "band": [r["risk_band"] for r in shown],
        }
        body = pages.risk_body(view)
        page = pages.layout("Transformers by failure risk", "risk", user, body, chart)
        return HTMLResponse(page, headers=PAGE_HEADERS)

    def _theft(self, request: Request) -> dict[str, Any]:
        n = _count(request, 100)
        transformer = _param(request, "transformer", "") or None
        return self.ops().top_theft(n, transformer)

    def theft(self, request: Request, user: str) -> Response:
        view = self._theft(request)
        chart = {
            "kind": "theft",
            "x": [r["meter_id"] for r in view["scores"][:50]],
            "y": [r["probability"] for r in view["scores"][:50]],
            "loss": [
                (r.get("energy_balance") or {}).get("loss_ratio_28d") for r in view["scores"][:50]
            ],
        }
        query = {k: v for k, v in request.query_params.items() if k in ("n", "transformer")}
        suffix = f"?{urlencode(query)}" if query else ""
        body = pages.theft_body(view, suffix)
        page = pages.layout("Theft inspection list", "theft", user, body, chart)
        return HTMLResponse(page, headers=PAGE_HEADERS)

    def theft_csv(self, request: Request, user: str) -> Response:
        view = self._theft(request)
        day = str(view.get("as_of") or "latest")[:10]
        unit = view["transformer_id"]
        name = re.sub(
            r"[^A-Za-z0-9_.-]", "_", f"theft-inspection-{day}{'-' + unit if unit else ''}"
        )
        log_access(
            {
                "event": "dashboard_export",
                "route": "/dashboard/theft.csv",
                "key_name": user,
                "status": 200,
                "ids": len(view["scores"]),
            }
        )
        headers = PAGE_HEADERS | {"content-disposition": f'attachment; filename="{name}.csv"'}
        return Response(pages.csv_text(view), 200, headers, "text/csv; charset=utf-8")

    def models(self, request: Request, user: str) -> Response:
        models = self.ops().model_status()
        body = pages.models_body(models)
        return HTMLResponse(pages.layout("Models", "models", user, body), headers=PAGE_HEADERS)

    def index(self, request: Request) -> Response:
        target = "demand" if self.user(request) is not None else "login"
        return RedirectResponse(target, 303, headers=PAGE_HEADERS)

    # --- assets ----------------------------------------------------------------------------

    @staticmethod
    def asset(name: str, media: str) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            body = plotly_js() if name == "plotly.min.js" else (STATIC / name).read_bytes()
            headers = SECURITY_HEADERS | {"cache-control": "private, max-age=3600"}
            return Response(body, 200, headers, media)

        return handler


def _same_origin(request: Request) -> bool:
    """A form post from this site: its Origin (sent by browsers on POST) names this host; a
    post without Origin (not a browser) passes, it carries no cookie of ours anyway."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def _param(request: Request, name: str, default: str) -> str:
    value = request.query_params.get(name, default)
    if len(value) > ID_MAX_CHARS or not all("!" <= c <= "~" for c in value):
        raise Refused(400, f"'{name}': at most {ID_MAX_CHARS} printable characters")
    return value


def _count(request: Request, default: int) -> int:
    raw = _param(request, "n", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TOP:
        raise Refused(400, f"'n': a whole number within 1..{MAX_TOP}")
    return int(raw)


def build_app(dashboard: Dashboard | None = None) -> Starlette:
    """The dashboard's Starlette app (mounted at /dashboard by the service)."""
    d = dashboard or Dashboard()
    routes = [
        Route("/", d.index, methods=["GET"]),
        Route("/login", d.login, methods=["GET", "POST"]),
        Route("/logout", d.logout, methods=["POST"]),
        Route("/demand", d.page(d.demand), methods=["GET"]),
        Route("/risk", d.page(d.risk), methods=["GET"]),
        Route("/theft", d.page(d.theft), methods=["GET"]),
        Route("/theft.csv", d.page(d.theft_csv), methods=["GET"]),
        Route("/models", d.page(d.models), methods=["GET"]),
        Route("/assets/plotly.min.js", d.asset("plotly.min.js", "text/javascript")),
        Route("/assets/dashboard.js", d.asset("dashboard.js", "text/javascript")),
        Route("/assets/dashboard.css", d.asset("dashboard.css", "text/css")),
    ]
    return Starlette(routes=routes, middleware=[Middleware(GZipMiddleware, minimum_size=1024)])
