"""The operations dashboard served with the endpoints at `/dashboard` (see `app.py`)."""

from __future__ import annotations

from typing import Any


def dashboard_app() -> Any:
    """The dashboard's Starlette app (imported when the service is built)."""
    from gridml.serving.dashboard.app import build_app

    return build_app()
