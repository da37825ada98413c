"""`gridml`: one command line for the platform, grouped by stage.

Each stage is a thin typer app over library functions; heavy libraries are imported inside the
commands that need them so that `gridml --help` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from gridml.cli import data, features, mlops, serve, train, tune

app = typer.Typer(
    name="gridml",
    help=(
        "ML platform of an electricity utility: data feeds -> Feast features -> MLflow-tracked "
        "training -> BentoML endpoints.\n\nStages: `data` (generate, import and validate feeds), "
        "`features` (the Feast feature store), `train` (models, MLflow); `promote`, `rollback`, "
        "`card`, `retrain`, `monitor` (MLOps); `serve` (BentoML endpoints). "
        "Run `gridml STAGE --help` for each."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data.app, name="data")
app.add_typer(features.app, name="features")
app.add_typer(train.app, name="train")
app.add_typer(tune.app, name="tune")
app.add_typer(serve.app, name="serve")
mlops.register(app)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    from gridml import logs

    logs.setup(verbose)


if __name__ == "__main__":
    app()
