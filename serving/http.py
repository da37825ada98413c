"""The service's edge: the outermost ASGI middleware, in front of BentoML's own metrics,
tracing and access log (`EdgeGuard`, installed by `service.GuardedService.to_asgi`).

It answers, before anything else sees the request:

- an unknown path: 404, counted on ONE series (`gridml_http_unknown_route_total`), so random
  paths cannot grow `/metrics` (BentoML labels its request metrics by the raw path);
- a key-like query parameter (`?api_key=`, `?token=`...): 400, before any access log writes
  the URL; keys travel in headers only;
- a POST to an API route whose body is not JSON: 415 naming the type; a body declared larger
  than `max_body_bytes`: 413;
- `GET /` and `GET /docs.json`: the docs page (Swagger UI from the assets bundled with BentoML,
  served locally: no CDN, no tag manager, no framework version) and the OpenAPI document with
  the API keys, error responses and limits spelled out (`hardened_spec`);
- `GET /readyz`: 200 while at least one endpoint serves a model, 503 otherwise, with a JSON body
  naming the endpoints that have none (a load balancer keeps the working routes up; the
  missing ones answer 503 themselves).
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

KEY_PARAMS = frozenset(
    {"api_key", "apikey", "api-key", "key", "token", "access_token", "auth", "authorization"}
)
JSON_TYPES = frozenset({"application/json", ""})

DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8" />
  <title>gridml API</title>
  <link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css" />
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
  <script>
    window.onload = function () {
      window.ui = SwaggerUIBundle({url: "./docs.json", dom_id: "#swagger-ui", deepLinking: true});
    };
  </script>
</body>
</html>
"""

DESCRIPTION = (
    "Demand forecasts, transformer failure risk and theft scores by entity id, and the intake "
    "of fresh meter readings. Send an API key as `Authorization: Bearer KEY` or `X-API-Key`."
)
ERROR_SCHEMA: dict[str, Any] = {
    "description": "An error, named in `error`.",
    "content": {"application/json": {"schema": {}}},
}
API_ERRORS = {
    "400": "Bad input: the message names the field.",
    "401": "Missing, unknown or malformed API key.",
    "403": "The key lacks the route's role.",
    "404": "Unknown ids.",
    "409": "A reading conflicts with one already landed (readings).",
    "413": "Over a configured limit (max_ids, max_readings, body size).",
    "415": "The body is not JSON.",
    "503": "No model or feature table to answer with yet.",
}


def content_type(headers: list[tuple[bytes, bytes]]) -> str:
    """The request's media type, lower case without parameters ('' when absent)."""
    for name, value in headers:
        if name == b"content-type":
            return value.split(b";")[0].strip().lower().decode("latin-1")
    return ""


def content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The request's Content-Length (None when absent or not a number)."""
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def key_in_query(query: bytes) -> bool:
    """True when the query string carries a key-like parameter."""
    if not query:
        return False
    try:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    except ValueError:
        return True
    return any(name.strip().lower() in KEY_PARAMS for name, _ in pairs)


def hardened_spec(
    spec: dict[str, Any], api_routes: dict[str, str], version: str, title: str = "gridml"
) -> dict[str, Any]:
    """BentoML's OpenAPI document with the platform's facts: the API-key schemes and the roles
    per route (`api_routes`: route -> role), every error status an API route answers, no
    framework contact or version (`version` is gridml's)."""
    out = copy.deepcopy(spec)
    # the schemas are pydantic's JSON Schema 2020-12 (numeric exclusive bounds, "type": "null"),
    # which is OpenAPI 3.1, whatever BentoML declares
    out["openapi"] = "3.1.0"
    out["info"] = {"title": title, "version": version, "description": DESCRIPTION}
    out.setdefault("paths", {})["/models"] = {
        "get": {
            "description": "Which registered model, version and alias each endpoint serves, and "
            "any load error.",
            "operationId": "gridml__models",
            "responses": {
                "200": {
                    "description": "The models.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    schemes = out.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["bearer"] = {"type": "http", "scheme": "bearer"}
    schemes["apiKey"] = {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    for path, item in out.get("paths", {}).items():
        role = api_routes.get(path.rstrip("/") or "/")
        for method, op in item.items():
            if not isinstance(op, dict):
                continue
            if role is not None:
                op["security"] = [{"bearer": []}, {"apiKey": []}]
                op["description"] = f"{op.get('description', '')}\n\nRole: {role}.".strip()
                responses = op.setdefault("responses", {})
                for code in list(responses):
                    if str(code) not in ("200",):
                        del responses[code]
                for code, text in API_ERRORS.items():
                    responses[code] = ERROR_SCHEMA | {"description": text}
            if method == "post" and "requestBody" in op:
                op["requestBody"]["content"] = {
                    k: v for k, v in op["requestBody"]["content"].items() if k == "application/json"
                }
    return out


class NoQueryInAccessLog(logging.Filter):
    """Uvicorn's access line shows the full URL: keep the path, drop the query string (a
    refused `?api_key=` must not reach a log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


async def _answer(send, status: int, body: bytes, media: bytes = b"application/json") -> None:
    headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send, status: int, message: str) -> None:
    await _answer(send, status, json.dumps({"error": message}).encode())


@functools.cache
def _unknown_counter() -> Any:
    from prometheus_client import Counter

    return Counter(
        "gridml_http_unknown_route",
        "Requests to paths the service does not have (answered 404; one series).",
    )


class EdgeGuard:
    """Pure ASGI middleware; `routes`: the exact paths served, `api_routes`: POST routes taking
    JSON; `spec`: builds the OpenAPI document once; `readiness`: () -> (ready, body), or None
    while the service instance is starting."""

    def __init__(
        self,
        app,
        routes: frozenset[str],
        api_routes: frozenset[str],
        spec: Callable[[], dict[str, Any]],
        readiness: Callable[[], tuple[bool, dict[str, Any]] | None],
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.routes = routes
        self.api_routes = api_routes
        self.spec = spec
        self.readiness = readiness
        self.max_body_bytes = max_body_bytes
        self._spec_body: bytes | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if key_in_query(scope.get("query_string", b"")):
            await _error(
                send, 400, "API keys are not accepted in the URL: send 'Authorization: Bearer KEY'"
            )
            return
        if path not in self.routes:
            _unknown_counter().inc()
            await _error(send, 404, "no such route (see /docs.json)")
            return
        if method == "GET" and path == "/":
            await _answer(send, 200, DOCS_PAGE.encode(), b"text/html; charset=utf-8")
            return
        if method == "GET" and path == "/docs.json":
            if self._spec_body is None:
                self._spec_body = json.dumps(self.spec()).encode()
            await _answer(send, 200, self._spec_body)
            return
        if method == "GET" and path == "/readyz":
            state = self.readiness()
            if state is not None:
                ready, body = state
                await _answer(send, 200 if ready else 503, json.dumps(body).encode())
                return
        if method == "POST" and path in self.api_routes:
            headers = scope.get("headers", [])
            media = content_type(headers)
            if media not in JSON_TYPES:
                await _error(
                    send, 415, f"unsupported content type {media[:60]!r}; send application/json"
                )
                return
            size = content_length(headers)
            if size is not None and size > self.max_body_bytes:
                await _error(
                    send,
                    413,
                    f"body of {size} bytes, more than max_body_bytes={self.max_body_bytes}",
                )
                return
        await self.app(scope, receive, send)
