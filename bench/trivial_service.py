"""The framework floor of the serving benchmark: a BentoML endpoint that does nothing but take
ids and give them back, with the same workers and threads as the gridml service."""

from __future__ import annotations

import os

import bentoml


@bentoml.service(
    name="floor",
    workers=int(os.environ.get("GRIDML_SERVING_WORKERS", "1")),
    threads=int(os.environ.get("GRIDML_SERVING_THREADS", "8")),
)
class Floor:
    @bentoml.api(route="/echo")
    def echo(self, ids: list[str]) -> dict:
        return {"ids": ids}
