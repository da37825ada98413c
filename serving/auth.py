"""API keys with roles, checked by an ASGI middleware in front of every prediction route.

Roles: `reader` calls the prediction endpoints and `GET /models`; `ingest` posts readings;
`admin` reloads models (and may call everything). Keys come from the environment, never the
repository:

- `GRIDML_API_KEYS_FILE`: a YAML file of `keys: [{name, sha256, roles}]` (only the SHA-256 of
  each key is stored; `gridml serve keys create` writes entries and prints the key once);
- `GRIDML_API_KEYS`: `key:role[+role],...` (for containers whose secrets arrive as variables).

A request carries its key as `Authorization: Bearer KEY` or `X-API-Key: KEY`. No or unknown key:
401; a key without the role the route needs: 403. Health, metrics and the OpenAPI docs stay open
(a load balancer and Prometheus call them without keys).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml

from gridml.errors import UserError

ROLES = ("reader", "ingest", "admin")
KEYS_FILE_ENV = "GRIDML_API_KEYS_FILE"
KEYS_ENV = "GRIDML_API_KEYS"
ROUTE_ROLES = {
    "/forecast/demand": "reader",
    "/forecast/demand/batch": "reader",
    "/maintenance/risk": "reader",
    "/theft/score": "reader",
    "/models": "reader",
    "/readings": "ingest",
    "/admin/reload": "admin",
}


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyRing:
    """SHA-256 of each key -> (name, roles)."""

    entries: dict[str, tuple[str, frozenset[str]]]

    def roles(self, key: str | None) -> tuple[str, frozenset[str]] | None:
        if not key:
            return None
        wanted = digest(key)
        for stored, entry in self.entries.items():
            if hmac.compare_digest(stored, wanted):
                return entry
        return None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> KeyRing:
        env = os.environ if environ is None else environ
        entries: dict[str, tuple[str, frozenset[str]]] = {}
        if env.get(KEYS_FILE_ENV):
            entries |= read_keys_file(Path(env[KEYS_FILE_ENV]))
        for n, item in enumerate(filter(None, env.get(KEYS_ENV, "").split(","))):
            key, _, roles = item.strip().partition(":")
            entries[digest(key)] = (f"{KEYS_ENV}[{n}]", _roles(roles.split("+"), KEYS_ENV))
        return cls(entries)


def _roles(roles: list[str], where: str) -> frozenset[str]:
    bad = sorted(set(roles) - set(ROLES))
    if bad or not roles:
        raise UserError(f"{where}: unknown role(s) {bad or roles}; roles are {', '.join(ROLES)}")
    return frozenset(roles)


def read_keys_file(path: Path) -> dict[str, tuple[str, frozenset[str]]]:
    if not path.is_file():
        raise UserError(f"{path}: API keys file not found ({KEYS_FILE_ENV})")
    raw = yaml.safe_load(path.read_text()) or {}
    out = {}
    for i, item in enumerate(raw.get("keys", [])):
        where = f"{path}: keys[{i}]"
        if not isinstance(item, dict) or "sha256" not in item:
            raise UserError(f"{where}: needs fields name, sha256, roles")
        out[str(item["sha256"])] = (str(item.get("name", i)), _roles(item.get("roles", []), where))
    return out


def create_key(path: Path, name: str, roles: list[str]) -> str:
    """Add a new key's hash to the keys file (created 0600) under `name`, replacing the key of
    that name if there was one (rotation); return the key itself."""
    _roles(roles, "--role")
    key = "gml_" + secrets.token_urlsafe(24)
    existing = yaml.safe_load(path.read_text()) if path.is_file() else None
    keys = [k for k in (existing or {}).get("keys", []) if k.get("name") != name]
    keys.append({"name": name, "sha256": digest(key), "roles": roles})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(yaml.safe_dump({"keys": keys}, sort_keys=False))
    os.replace(tmp, path)
    return key


def required_role(path: str) -> str | None:
    return ROUTE_ROLES.get(path.rstrip("/") or "/")


def _key_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return value[7:].decode().strip()
        if name == b"x-api-key":
            return value.decode().strip()
    return None


class ApiKeyMiddleware:
    """Pure ASGI middleware (BentoML `Service.add_asgi_middleware`)."""

    def __init__(self, app, keyring: KeyRing | None = None) -> None:
        self.app = app
        self.keyring = keyring if keyring is not None else KeyRing.from_env()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        role = required_role(scope["path"])
        if role is None:
            await self.app(scope, receive, send)
            return
        found = self.keyring.roles(_key_of(scope.get("headers", [])))
        if found is None:
            await _deny(send, 401, "missing or unknown API key (send 'Authorization: Bearer KEY')")
            return
        name, roles = found
        if role not in roles and "admin" not in roles:
            await _deny(send, 403, f"key {name!r} lacks role {role!r} for {scope['path']}")
            return
        scope.setdefault("state", {})["api_key_name"] = name
        await self.app(scope, receive, send)


async def _deny(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="gridml"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
