"""Options and error handling shared by the CLI stages."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from gridml.workspace import Workspace

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Folder holding the zone's feeds, feature store and runs "
        "(default: $GRIDML_WORKSPACE, else ./workspace).",
        show_default=False,
    ),
]


def workspace(path: Path | None) -> Workspace:
    """The workspace at `path`, else from $GRIDML_WORKSPACE or the default."""
    return Workspace.from_env(path)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the platform's expected errors into one red line and exit code 2 (no traceback)."""
    from gridml.errors import UserError

    try:
        yield
    except UserError as exc:
        logging.getLogger("gridml").debug("user error", exc_info=True)
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def next_step(results: str, command: str) -> None:
    """End a long command with where its results are and the command that usually follows."""
    typer.secho(f"results: {results}", fg=typer.colors.GREEN)
    typer.echo(f"next:    {command}")
