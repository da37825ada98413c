"""`gridml`: one command line for the platform, grouped by stage.

Each stage is a thin typer app over library functions; heavy libraries are imported inside the
commands that need them so that `gridml --help` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from gridml.cli import data, evaluate, features, mlops, outages, serve, stream, train, tune
from gridml.cli.common import WorkspaceOption, user_errors, workspace

app = typer.Typer(
    name="gridml",
    help=(
        "ML platform of an electricity utility: data feeds -> Feast features -> MLflow-tracked "
        "training -> BentoML endpoints.\n\nStages: `data` (generate, import and validate feeds), "
        "`features` (the Feast feature store), `train` (models, MLflow); `promote`, `rollback`, "
        "`card`, `retrain`, `monitor` (MLOps); `serve` (BentoML endpoints); `outages` (detect "
        "outages from meter events); `workspace`. Run `gridml STAGE --help` for each."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data.app, name="data")
app.add_typer(features.app, name="features")
train.register(train.app)
app.add_typer(train.app, name="train")
app.add_typer(tune.app, name="tune")
app.add_typer(serve.app, name="serve")
app.add_typer(stream.app, name="stream")
app.add_typer(evaluate.app, name="evaluate")
app.add_typer(outages.app, name="outages")
mlops.register(app)
workspace_app = typer.Typer(help="The workspace folder itself.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")


@workspace_app.command("relocate")
def relocate(
    old: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Where the workspace was (default: the location it recorded in workspace.json).",
            show_default=False,
        ),
    ] = None,
    ws: WorkspaceOption = None,
) -> None:
    """Point a copied or moved workspace's own stores at its location.

    MLflow's mlflow.db and Feast's registry.db hold absolute paths: every path into the old
    location is rewritten (mlflow.db) or re-applied (the Feast registry), so that the copy
    never reads or writes the original's files. Done automatically when a workspace that
    recorded another location is opened; run it with --from for a workspace copied before it
    recorded its location.
    """
    from gridml.relocate import relocate as run

    with user_errors():
        w = workspace(ws)
        result = run(w, Path(os.path.abspath(old)) if old is not None else None)
    if result.moved:
        typer.echo(
            f"relocated {result.old} -> {result.new}: {result.mlflow_values} MLflow values "
            f"rewritten; Feast registry {'re-applied' if result.feast_reapplied else 'absent'}"
        )
    else:
        typer.echo(f"{result.new}: already at its recorded location; nothing to do")


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    from gridml import logs

    logs.setup(verbose)


if __name__ == "__main__":
    app()
