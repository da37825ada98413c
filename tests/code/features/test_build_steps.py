"""The feature build's progress: every step named, counted against the planned total."""

from __future__ import annotations

import io

from rich.console import Console

from gridml.features.tables.build import build_tables
from gridml.features.tables.steps import BuildSteps
from gridml.io import parts
from gridml.workspace import Workspace


def test_steps_count_and_finish_at_the_total() -> None:
    out = io.StringIO()
    with BuildSteps(3, console=Console(file=out, width=120)) as steps:
        for name in ("reading", "meter part 1 of 2", "meter part 2 of 2"):
            steps.step(name)
    assert steps.started == 3 and steps.names[-1] == "meter part 2 of 2"
    assert "3/3" in out.getvalue()  # the last render: every step done


def test_disabled_steps_only_count() -> None:
    with BuildSteps(2, enabled=False) as steps:
        steps.step("a")
    assert steps.started == 1


def test_a_build_plans_exactly_the_steps_it_runs(small_zone: Workspace, tmp_path, monkeypatch):
    import shutil

    ws = Workspace(tmp_path / "ws")
    shutil.copytree(small_zone.feeds, ws.feeds)
    seen: list[BuildSteps] = []
    real_enter = BuildSteps.__enter__

    def record(self: BuildSteps) -> BuildSteps:
        seen.append(self)
        return real_enter(self)

    monkeypatch.setattr(BuildSteps, "__enter__", record)
    build_tables(ws, progress=False)
    (steps,) = seen
    meter_parts = len(parts(ws.feed_dir("readings")))
    assert steps.started == steps.total
    assert f"meter features: part {meter_parts} of {meter_parts}" in steps.names
