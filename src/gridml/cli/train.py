"""`gridml train`: train, backtest, track and register a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel

from gridml.cli.common import WorkspaceOption, user_errors, workspace

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


@app.command()
def demand(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Demand config (YAML, see DemandConfig).")
    ] = Path("experiments/demand.yaml"),
    tracking_uri: TrackingUriOption = None,
    registered_model: RegisteredModelOption = None,
    ws: WorkspaceOption = None,
) -> None:
    """Forecast hourly demand of transformers, feeders, substations and the zone.

    Runs a rolling-origin backtest of the seasonal naive, profile, Prophet and LightGBM models
    on the hours each forecast delivers (config `issue`: by default issued 10:00 local for the
    next local day; MASE, pinball, coverage by level, segment and lead time), measures bottom-up
    and MinT reconciliation, trains the final LightGBM quantile model (sizes `auto` by default,
    conformally calibrated P10/P90) through the FeatureService demand_forecast_v1, logs
    everything to MLflow (with every backtest forecast as Parquet and the worst days plotted)
    and registers it as demand-forecast@challenger. A configured model or level without a score
    is named with the reason.
    """
    from gridml.training.demand.config import DemandConfig
    from gridml.training.demand.pipeline import train_demand

    with user_errors():
        cfg = DemandConfig.read_yaml(config)
        cfg = with_registered_model(with_tracking_uri(cfg, tracking_uri), registered_model)
        run = train_demand(cfg, workspace(ws))
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
    typer.echo(
        f"\nregistered {cfg.registered_model} v{run.version} as challenger; run {run.run_id}"
    )


@app.command()
def maintenance(
    config: Annotated[
        Path,
        typer.Option("--config", "-c", help="Maintenance config (YAML, see MaintenanceRunConfig)."),
    ] = Path("experiments/maintenance.yaml"),
    tracking_uri: TrackingUriOption = None,
    registered_model: RegisteredModelOption = None,
    ws: WorkspaceOption = None,
) -> None:
    """Predict transformer failures within the horizon from daily feature sequences.

    Fits a PyTorch sequence model (1-D CNN or GRU) and a LightGBM baseline on FeatureService
    asset_failure_v1, evaluates both on the held-out period (PR-AUC, ROC-AUC, precision and
    recall at the weekly alert budget, lead time, false alarms per 100 transformer-years), logs
    everything to MLflow and registers the sequence model as asset-failure@challenger.
    """
    from gridml.training.maintenance.pipeline import MaintenanceRunConfig, train_maintenance

    with user_errors():
        cfg = MaintenanceRunConfig.read_yaml(config)
        cfg = with_registered_model(with_tracking_uri(cfg, tracking_uri), registered_model)
        run = train_maintenance(cfg, workspace(ws))
    columns = [
        "model",
        "pr_auc",
        "roc_auc",
        "precision_at_budget",
        "recall_at_budget",
        "median_lead_days",
        "false_alarms_per_100_years",
    ]
    typer.echo(run.metrics[columns].round(3).to_string(index=False))
    typer.echo(
        f"\nregistered {cfg.registered_model} v{run.version} as challenger; run {run.run_id}"
    )


@app.command()
def theft(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Theft config (YAML, see TheftRunConfig).")
    ] = Path("experiments/theft.yaml"),
    tracking_uri: TrackingUriOption = None,
    registered_model: RegisteredModelOption = None,
    ws: WorkspaceOption = None,
) -> None:
    """Detect electricity theft: Wide & Deep CNN and a LightGBM baseline.

    Builds (meter, scoring day) samples from the FeatureService theft_detection_v1 and the daily
    kWh series, splits by meter and by time, evaluates both models on held-out meters and days
    (ROC-AUC, PR-AUC, precision at inspection budgets, MAP@100, recall per attack type), logs
    everything to MLflow and registers the Wide & Deep model as theft-detection@challenger.
    """
    import pandas as pd

    from gridml.training.theft.pipeline import TheftRunConfig, train_theft

    with user_errors():
        cfg = TheftRunConfig.read_yaml(config)
        cfg = with_registered_model(with_tracking_uri(cfg, tracking_uri), registered_model)
        run = train_theft(cfg, workspace(ws))
    names = ["roc_auc", "pr_auc", "precision_at_1pct", "precision_at_5pct", "map_at_100"]
    names += ["precision_at_share"]  # budget = the true theft share of the test samples
    rows = {
        model: {n: run.metrics.get(f"{model}.{n}", float("nan")) for n in names}
        for model in ("wide_deep", "lightgbm")
    }
    typer.echo(pd.DataFrame(rows).T.round(3).to_string())
    typer.echo(
        f"\nregistered {cfg.registered_model} v{run.version} as challenger; run {run.run_id}"
    )
