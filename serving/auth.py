"""API keys with roles, checked by an ASGI middleware in front of every prediction route.

Roles: `reader` calls the prediction endpoints and `GET /models`; `ingest` posts readings;
`admin` reloads models (and may call everything). Keys come from the environment, never the
repository:

- `GRIDML_API_KEYS_FILE`: a YAML file of `keys: [{name, sha256, roles}]` (only the SHA-256 of
  each key is stored; `gridml serve keys create` writes entries and prints the key once). Both
  the CLI and the service find it with `keys_file` (the variable, else
  `WORKSPACE/api-keys.yaml`). The service re-reads it when it changes (size, mtime or inode,
  checked on each protected request: one `stat`) and on `POST /admin/reload`, so a rotated or
  removed key stops working without a restart. A named file that is missing or broken refuses
  start-up; a file broken later keeps the last good keys (logged);
- `GRIDML_API_KEYS`: `key:role[+role],...` (for containers whose secrets arrive as variables;
  read at start-up only).

A request carries its key as `Authorization: Bearer KEY` or `X-API-Key: KEY`, never in the URL
(`http.EdgeGuard` refuses key-like query parameters before anything logs the URL). No, unknown
or undecodable key: 401; a key without the role the route needs: 403. Health, metrics and the
OpenAPI docs stay open (a load balancer and Prometheus call them without keys). Each call of
`/readings`, `/admin/reload` and the per-meter or per-unit routes is written to the access log
(`gridml.access`, one JSON object a line: key name, role, route, status, ids; never the key).
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gridml.errors import UserError

ROLES = ("reader", "ingest", "admin")
KEYS_FILE_ENV = "GRIDML_API_KEYS_FILE"
KEYS_ENV = "GRIDML_API_KEYS"
KEYS_FILE = "api-keys.yaml"  # the default keys file, in the workspace
ROUTE_ROLES = {
    "/forecast/demand": "reader",
    "/forecast/demand/batch": "reader",
    "/maintenance/risk": "reader",
    "/theft/score": "reader",
    "/predict": "reader",  # any served endpoint by name (a plugin's model too)
    "/models": "reader",
    "/maintenance/risk/top": "reader",  # ranked lists and lookups (ops_routes.py)
    "/theft/top": "reader",
    "/ids": "reader",
    "/actuals": "reader",
    "/readings": "ingest",
    "/admin/reload": "admin",
}
# calls about identifiable customers or that change the service: written to the access log
AUDITED = frozenset(
    {
        "/readings",
        "/admin/reload",
        "/theft/score",
        "/maintenance/risk",
        "/predict",
        "/theft/top",
        "/maintenance/risk/top",
    }
)
MAX_KEY_CHARS = 256  # longer header values are not keys: 401 without hashing them

access_log = logging.getLogger("gridml.access")
# what the endpoint adds to the access-log line of the current request (ids asked for)
call_facts: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "gridml_call_facts", default=None
)


def digest(key: str) -> str:
    """SHA-256 hex digest of an API key (only digests are kept)."""
    return hashlib.sha256(key.encode()).hexdigest()


def keys_file(environ: Mapping[str, str], ws_root: Path | None) -> Path | None:
    """The keys file the CLI writes and the service reads: `$GRIDML_API_KEYS_FILE`, else
    `WORKSPACE/api-keys.yaml` (None without a workspace)."""
    if environ.get(KEYS_FILE_ENV):
        return Path(environ[KEYS_FILE_ENV]).expanduser().resolve()
    return ws_root / KEYS_FILE if ws_root is not None else None


@dataclass(frozen=True)
class KeyRing:
    """SHA-256 of each key -> (name, roles)."""

    entries: dict[str, tuple[str, frozenset[str]]]

    def roles(self, key: str | None) -> tuple[str, frozenset[str]] | None:
        if not key:
            return None
        wanted = digest(key)
        found = None
        for stored, entry in self.entries.items():  # no early exit: constant time per ring
            if hmac.compare_digest(stored, wanted):
                found = entry
        return found

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KeyRing:
        env = os.environ if environ is None else environ
        entries: dict[str, tuple[str, frozenset[str]]] = {}
        if env.get(KEYS_FILE_ENV):
            entries |= read_keys_file(Path(env[KEYS_FILE_ENV]))
        return cls(entries | env_keys(env))


def env_keys(env: Mapping[str, str]) -> dict[str, tuple[str, frozenset[str]]]:
    """Keys from the environment variable (`key:role+role,...`), by digest, with their source
    and roles."""
    entries = {}
    for n, item in enumerate(filter(None, env.get(KEYS_ENV, "").split(","))):
        key, _, roles = item.strip().partition(":")
        entries[digest(key)] = (f"{KEYS_ENV}[{n}]", _roles(roles.split("+"), KEYS_ENV))
    return entries


def _roles(roles: list[str], where: str) -> frozenset[str]:
    bad = sorted(set(roles) - set(ROLES))
    if bad or not roles:
        raise UserError(f"{where}: unknown role(s) {bad or roles}; roles are {', '.join(ROLES)}")
    return frozenset(roles)


def read_keys_file(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """Keys from the API keys YAML file, by digest, with their name and roles (UserError when
    malformed)."""
    if not path.is_file():
        raise UserError(f"{path}: API keys file not found ({KEYS_FILE_ENV})")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping with a 'keys' list")
    out = {}
    for i, item in enumerate(raw.get("keys") or []):
        where = f"{path}: keys[{i}]"
        if not isinstance(item, dict) or "sha256" not in item:
            raise UserError(f"{where}: needs fields name, sha256, roles")
        out[str(item["sha256"])] = (str(item.get("name", i)), _roles(item.get("roles", []), where))
    return out


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class LiveKeys:
    """The key ring of a running service: `GRIDML_API_KEYS` once, plus the keys file, re-read
    when its inode, size or mtime changes (`current`, one `stat` at most every `check_s`) or
    when asked (`reload`). A file that disappears or breaks keeps the last good ring."""

    path: Path | None
    fixed: dict[str, tuple[str, frozenset[str]]]
    check_s: float = 0.0
    _ring: KeyRing = field(init=False)
    _stamp: tuple[int, int, int] | None = field(init=False, default=None)
    _checked: float = field(init=False, default=0.0)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._ring = KeyRing(dict(self.fixed))
        if self.path is not None:
            self._load(strict=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LiveKeys:
        """Raises UserError (refuse to start) when the named keys file is missing or broken."""
        env = os.environ if environ is None else environ
        path = Path(env[KEYS_FILE_ENV]) if env.get(KEYS_FILE_ENV) else None
        return cls(path, env_keys(env))

    def _load(self, strict: bool) -> bool:
        assert self.path is not None
        stamp = _stamp(self.path)
        try:
            entries = read_keys_file(self.path)
        except UserError as exc:
            if strict:
                raise
            logging.getLogger(__name__).error("keys file not re-read, old keys kept: %s", exc)
            self._stamp = stamp  # do not retry a broken file on every request
            return False
        self._ring = KeyRing(entries | self.fixed)
        self._stamp = stamp
        return True

    def reload(self) -> bool:
        """Re-read the keys file now (POST /admin/reload). True when it was read."""
        if self.path is None:
            return False
        with self._lock:
            return self._load(strict=False)

    def current(self) -> KeyRing:
        if self.path is not None:
            now = time.monotonic()
            if now - self._checked >= self.check_s:
                self._checked = now
                if _stamp(self.path) != self._stamp:
                    with self._lock:
                        if _stamp(self.path) != self._stamp:
                            self._load(strict=False)
        return self._ring


def create_key(path: Path, name: str, roles: list[str]) -> str:
    """Add a new key's hash to the keys file (created 0600) under `name`, replacing the key of
    that name if there was one (rotation); return the key itself. Written atomically and
    durably: a running service picks the change up on its next request."""
    from gridml.io import fsync_dir

    _roles(roles, "--role")
    key = "gml_" + secrets.token_urlsafe(24)
    existing = yaml.safe_load(path.read_text()) if path.is_file() else None
    keys = [k for k in (existing or {}).get("keys", []) if k.get("name") != name]
    keys.append({"name": name, "sha256": digest(key), "roles": roles})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(yaml.safe_dump({"keys": keys}, sort_keys=False))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return key


def required_role(path: str) -> str | None:
    """The role a route requires (None: open route)."""
    return ROUTE_ROLES.get(path.rstrip("/") or "/")


def _key_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key a request carries (`Authorization: Bearer` first, else `X-API-Key`); None when
    absent or not a plausible key (too long, or bytes that are not ASCII: such a header is
    answered 401 at once)."""
    bearer = api_key = None
    for name, value in headers:
        if name == b"authorization" and value[:7].lower() == b"bearer " and bearer is None:
            bearer = value[7:]
        elif name == b"x-api-key" and api_key is None:
            api_key = value
    raw = bearer if bearer is not None else api_key
    if raw is None or len(raw) > MAX_KEY_CHARS:
        return None
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None


def log_access(entry: dict[str, Any]) -> None:
    """One JSON line (JSON escapes newlines and quotes: an id cannot forge a line)."""
    access_log.info(json.dumps(entry, separators=(",", ":"), default=str))


class ApiKeyMiddleware:
    """Pure ASGI middleware (BentoML `Service.add_asgi_middleware`)."""

    def __init__(self, app, keys: LiveKeys | KeyRing | None = None) -> None:
        self.app = app
        if keys is None:
            keys = LiveKeys.from_env()
        self.keys = keys if isinstance(keys, LiveKeys) else LiveKeys(None, keys.entries)
        shared_keys[0] = self.keys

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"].rstrip("/") or "/"
        role = required_role(route)
        if role is None:
            await self.app(scope, receive, send)
            return
        found = self.keys.current().roles(_key_of(scope.get("headers", [])))
        if found is None:
            self._audit(route, None, None, 401, {}, 0.0)
            await _deny(send, 401, "missing or unknown API key (send 'Authorization: Bearer KEY')")
            return
        name, roles = found
        if role not in roles and "admin" not in roles:
            self._audit(route, name, roles, 403, {}, 0.0)
            await _deny(send, 403, f"key {name!r} lacks role {role!r} for {route}")
            return
        scope.setdefault("state", {})["api_key_name"] = name
        if route not in AUDITED:
            await self.app(scope, receive, send)
            return
        facts: dict[str, Any] = {}
        token = call_facts.set(facts)
        status = 500
        start = time.perf_counter()

        async def send_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            call_facts.reset(token)
            self._audit(route, name, roles, status, facts, time.perf_counter() - start)

    @staticmethod
    def _audit(
        route: str,
        name: str | None,
        roles: frozenset[str] | None,
        status: int,
        facts: dict[str, Any],
        seconds: float,
    ) -> None:
        if route not in AUDITED:
            return
        log_access(
            {
                "event": "access",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "route": route,
                "key_name": name,
                "roles": sorted(roles) if roles else None,
                "status": status,
                "ms": round(seconds * 1000, 1),
            }
            | facts
        )


# the live key ring of this worker, for POST /admin/reload (set by the middleware)
shared_keys: list[LiveKeys | None] = [None]


async def _deny(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="gridml"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
