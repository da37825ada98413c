"""Dashboard sessions: an API key is exchanged once (the login form) for a signed cookie.

A browser cannot send `Authorization: Bearer` when it navigates, and a key must never travel
in a URL, so the login form posts the key once; the service checks it against the same key ring
as the API (`auth.LiveKeys`: role `reader`, or `admin`) and answers with a session cookie:

- the value is `payload.signature` (URL-safe base64): the payload names the key's SHA-256 (the
  digest the keys file stores, never the key) and an expiry; the signature is HMAC-SHA256 under
  the server secret, so a client cannot forge or extend it;
- `HttpOnly` (page scripts cannot read it), `SameSite=Strict` (never sent on a cross-site
  request: no CSRF on the pages), `Path=/dashboard`, `Secure` when the request came over HTTPS
  (directly or through a proxy saying `X-Forwarded-Proto: https`), lifetime `SESSION_SECONDS`;
- every request re-checks the digest against the live key ring: a key rotated or removed from
  the keys file ends its sessions on the next page.

The secret is `$GRIDML_DASHBOARD_SECRET` (at least 32 characters), else
`WORKSPACE/dashboard-secret`, created once (random, mode 0600) and shared by every worker.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from gridml.errors import UserError

COOKIE = "gridml_session"
SESSION_SECONDS = 8 * 3600  # one control-room shift
SECRET_ENV = "GRIDML_DASHBOARD_SECRET"
SECRET_FILE = "dashboard-secret"
MIN_SECRET_CHARS = 32
MAX_COOKIE_CHARS = 512


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, key_digest: str, now: float, seconds: int = SESSION_SECONDS) -> str:
    """The cookie value of a session for the key with SHA-256 `key_digest`, valid `seconds`."""
    payload = _b64(json.dumps({"d": key_digest, "exp": int(now) + seconds}).encode())
    mac = hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def verify(secret: bytes, value: str | None, now: float) -> str | None:
    """The key digest of a valid, unexpired cookie value; None otherwise (forged, damaged,
    expired or absent)."""
    if not value or len(value) > MAX_COOKIE_CHARS or value.count(".") != 1:
        return None
    payload, mac = value.split(".")
    try:
        wanted = hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(wanted, _unb64(mac)):
            return None
        data = json.loads(_unb64(payload))
    except (ValueError, UnicodeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("d"), str):
        return None
    expiry = data.get("exp")
    if not isinstance(expiry, int) or expiry <= now:
        return None
    return data["d"]


def cookie_header(value: str, secure: bool, seconds: int = SESSION_SECONDS) -> str:
    """The Set-Cookie value of a session (`seconds=0`: the cookie deleted)."""
    flags = f"; Path=/dashboard; Max-Age={seconds}; HttpOnly; SameSite=Strict"
    return f"{COOKIE}={value}{flags}{'; Secure' if secure else ''}"


def load_secret(environ: Mapping[str, str], ws_root: Path) -> bytes:
    """The signing secret: `$GRIDML_DASHBOARD_SECRET`, else WORKSPACE/dashboard-secret (made
    on first use, 0600; two workers starting together agree on the first one written)."""
    given = environ.get(SECRET_ENV)
    if given:
        if len(given) < MIN_SECRET_CHARS:
            raise UserError(f"${SECRET_ENV}: at least {MIN_SECRET_CHARS} characters")
        return given.encode()
    path = ws_root / SECRET_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another worker made it first
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    text = path.read_text().strip()
    if len(text) < MIN_SECRET_CHARS:
        raise UserError(f"{path}: the dashboard secret is shorter than {MIN_SECRET_CHARS} chars")
    return text.encode()
