"""Errors of the endpoints and the checks that raise them; `error_status` maps them to HTTP."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from gridml.errors import MissingDataError, UserError


class UnknownIds(UserError):
    """Ids the platform does not know (HTTP 404)."""


class TooLarge(UserError):
    """A request over the configured batch limits (HTTP 413)."""


class Conflict(UserError):
    """Readings that contradict readings already landed (HTTP 409)."""


def error_status(exc: UserError) -> int:
    """The HTTP status of a platform error: 404 unknown ids, 413 too large, 409 conflict,
    503 a missing table or store, 400 any other bad input."""
    if isinstance(exc, UnknownIds):
        return 404
    if isinstance(exc, TooLarge):
        return 413
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, MissingDataError):
        return 503
    return 400


def check_ids(ids: list[str], limit: int, field: str = "ids") -> list[str]:
    """At least one and at most `limit` ids; unique, in the caller's order."""
    if not ids:
        raise UserError(f"'{field}': give at least one id")
    if len(ids) > limit:
        raise TooLarge(f"'{field}': {len(ids)} ids, more than max_ids={limit}; split the batch")
    return list(dict.fromkeys(str(i) for i in ids))


def check_known(ids: list[str], known: Collection[str], what: str) -> None:
    """Raise UnknownIds naming the ids not in `known` (the first ten)."""
    missing = [i for i in ids if i not in known]
    if missing:
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise UnknownIds(f"'ids': unknown {what}(s): {', '.join(missing[:10])}{more}")


def answered(fn: Any) -> Any:
    """Wrap a route: the platform's errors answered as `{"error": message}` with their HTTP
    status (4xx for bad input, 503 while a model or table is missing), logged as one line,
    never a 500; the call's size (`ids`/`readings` counted, `n`) noted for the access log."""
    import functools
    import logging

    from starlette.responses import JSONResponse

    from gridml.serving.auth import call_facts
    from gridml.serving.models import ModelUnavailable
    from gridml.serving.schema import clip

    log = logging.getLogger("gridml.serving")

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        facts = call_facts.get()
        if facts is not None:
            for name in ("ids", "readings"):
                if isinstance(kwargs.get(name), list):
                    facts[name] = len(kwargs[name])
            if isinstance(kwargs.get("n"), int):
                facts["n"] = kwargs["n"]
        try:
            return fn(*args, **kwargs)
        except (UserError, ModelUnavailable) as exc:
            status = 503 if isinstance(exc, ModelUnavailable) else error_status(exc)
            message = clip(exc, 2000)
            log.info("%s: %d %s", fn.__name__, status, clip(message, 300))
            return JSONResponse({"error": message}, status_code=status)

    return wrapper
