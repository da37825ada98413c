"""`gridml train TASK`: train, backtest, track and register a model.

One subcommand per model spec (`gridml.models.catalog`: the built-in models and those of
`$GRIDML_MODEL_SPECS`): it reads the spec's run config, trains with the spec's trainer and
prints the spec's `train_report`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel

from gridml.cli.common import WorkspaceOption, next_step, user_errors, workspace

if TYPE_CHECKING:
    from gridml.models.spec import ModelSpec

app = typer.Typer(help="Train models: backtest, MLflow tracking, registry.", no_args_is_help=True)

TrackingUriOption = Annotated[
    str | None,
    typer.Option(help="MLflow tracking URI (default: sqlite:///WORKSPACE/mlflow.db)."),
]
RegisteredModelOption = Annotated[
    str | None,
    typer.Option(
        help="Register under this name instead of the config's registered_model (e.g. a smoke "
        "config's model under the production name, on purpose).",
        show_default=False,
    ),
]
C = TypeVar("C", bound=BaseModel)


def with_registered_model(cfg: C, name: str | None) -> C:
    """The run config registering under `name` (the CLI flag) when given."""
    return cfg.model_copy(update={"registered_model": name}) if name else cfg


def with_tracking_uri(cfg: C, tracking_uri: str | None) -> C:
    """The run config with its `tracking.tracking_uri` replaced by the CLI flag (if given)."""
    if not tracking_uri:
        return cfg
    tracking = cfg.tracking.model_copy(update={"tracking_uri": tracking_uri})  # type: ignore[attr-defined]
    return cfg.model_copy(update={"tracking": tracking})


def train_command(spec: ModelSpec):
    """The `gridml train TASK` command of `spec` (options: --config, --tracking-uri,
    --registered-model, --workspace)."""

    def command(
        config: Path = Path(spec.default_config),
        tracking_uri: TrackingUriOption = None,
        registered_model: RegisteredModelOption = None,
        ws: WorkspaceOption = None,
    ) -> None:
        from gridml.models.spec import resolve

        with user_errors():
            cfg = spec.read_config(config)
            cfg = with_registered_model(with_tracking_uri(cfg, tracking_uri), registered_model)
            run = spec.train(cfg, workspace(ws))
        if spec.train_report is not None:
            resolve(spec.train_report)(run)
        typer.echo(
            f"\nregistered {cfg.registered_model} v{run.version} as challenger; run {run.run_id}"
        )
        next_step(
            f"MLflow run {run.run_id} in {workspace(ws).root / 'mlflow.db'} (make mlflow-ui)",
            f"gridml promote {cfg.registered_model}   (challenger vs champion, every gate)",
        )

    # annotations are strings under `from __future__ import annotations`: this one needs the
    # spec, so it is given as an object
    command.__annotations__["config"] = Annotated[
        Path,
        typer.Option("--config", "-c", help=f"{spec.task} config (YAML, see {spec.run_config})."),
    ]
    command.__name__ = spec.task
    command.__doc__ = f"{spec.summary}\n\n{spec.train_help}".strip()
    return command


def register(app: typer.Typer) -> None:
    """One `gridml train TASK` command per model spec."""
    from gridml.models import catalog

    for spec in catalog.specs():
        app.command(spec.task)(train_command(spec))


# --- what each built-in model prints after training (named by its spec's train_report) ---------


def report_demand(run: Any) -> None:
    """Print the demand backtest summary and its warnings."""
    summary = run.backtest.summary
    typer.echo(
        summary[["model", "level", "n", "mase", "mase_vs_naive", "pinball", "coverage"]]
        .round(3)
        .to_string(index=False)
    )
    for model, why in run.backtest.missing.items():
        typer.secho(f"warning: {model} has no backtest score: {why}", fg="yellow", err=True)
    lead = run.backtest.by_lead
    if not lead.empty:
        typer.echo("\nskill per lead time (1 - MASE / seasonal naive's, hours from the issue):")
        skill = lead[lead["model"].isin(["lightgbm", "prophet"])]
        typer.echo(
            skill.pivot_table(index="lead_hours", columns=["model", "level"], values="skill")
            .round(2)
            .to_string()
        )
    typer.echo("\nreconciliation (MASE by level):")
    typer.echo(
        run.reconciliation.pivot(index="level", columns="method", values="mase")
        .round(3)
        .to_string()
    )


def report_maintenance(run: Any) -> None:
    """Print the maintenance run's held-out metrics per model (the spec's headline metrics)."""
    from gridml.models.builtin import MAINTENANCE

    columns = ["model", *MAINTENANCE.headline_metrics]
    typer.echo(run.metrics[columns].round(3).to_string(index=False))


def report_theft(run: Any) -> None:
    """Print the theft run's held-out metrics per model."""
    import pandas as pd

    names = ["roc_auc", "pr_auc", "precision_at_1pct", "precision_at_5pct", "map_at_100"]
    names += ["precision_at_share"]  # budget = the true theft share of the test samples
    rows = {
        model: {n: run.metrics.get(f"{model}.{n}", float("nan")) for n in names}
        for model in ("wide_deep", "lightgbm")
    }
    typer.echo(pd.DataFrame(rows).T.round(3).to_string())
    family = getattr(run, "family", None)
    if family is not None:
        typer.echo(
            f"registered family: {family} (the higher validation PR-AUC; run tag gridml.family)"
        )
