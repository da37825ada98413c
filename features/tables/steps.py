"""One progress display over the steps of a feature build: what runs now (reading the feeds,
meter part 2 of 5, the daily tables, ...), step i of n and the time elapsed, so a long step
shows a live spinner and its name instead of a bar that sits at 0%."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class BuildSteps:
    """`step(name)` closes the running step and starts the next; disabled, it does nothing."""

    def __init__(self, total: int, enabled: bool = True, console: Console | None = None) -> None:
        self.total = total
        self.started = 0  # steps started so far (the running one included)
        self.names: list[str] = []
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if enabled:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description:<40}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            )

    def __enter__(self) -> BuildSteps:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("starting", total=self.total)
        return self

    def step(self, description: str) -> None:
        """Count the running step as done (unless none ran yet) and show `description`."""
        if self._progress is not None and self._task is not None:
            completed = min(self.started, self.total)
            self._progress.update(self._task, description=description, completed=completed)
        self.started += 1
        self.names.append(description)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None and self._task is not None:
            if exc_type is None:
                self._progress.update(self._task, description="done", completed=self.total)
            self._progress.stop()
