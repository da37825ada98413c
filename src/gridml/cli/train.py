"""`gridml train`: train, backtest, track and register a model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridml.cli.common import WorkspaceOption, user_errors, workspace

app = typer.Typer(help="Train models: backtest, MLflow tracking, registry.", no_args_is_help=True)


@app.command()
def demand(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Demand config (YAML, see DemandConfig).")
    ] = Path("experiments/demand.yaml"),
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI [default: sqlite:///WORKSPACE/mlflow.db]."),
    ] = None,
    ws: WorkspaceOption = None,
) -> None:
    """Forecast hourly demand of transformers, feeders, substations and the zone.

    Runs a rolling-origin backtest of the seasonal naive, profile, Prophet and LightGBM models
    (MASE, pinball, coverage by level, segment and horizon), measures bottom-up and MinT
    reconciliation, trains the final LightGBM quantile model through the FeatureService
    demand_forecast_v1, logs everything to MLflow and registers it as demand-forecast@challenger.
    """
    from gridml.training.demand.config import DemandConfig
    from gridml.training.demand.pipeline import train_demand
    from gridml.training.tracking import TrackingConfig

    with user_errors():
        cfg = DemandConfig.read_yaml(config)
        if tracking_uri:
            cfg = cfg.model_copy(
                update={
                    "tracking": TrackingConfig(
                        **(cfg.tracking.model_dump() | {"tracking_uri": tracking_uri})
                    )
                }
            )
        run = train_demand(cfg, workspace(ws))
    summary = run.backtest.summary
    typer.echo(
        summary[["model", "level", "n", "mase", "mase_vs_naive", "pinball", "coverage"]]
        .round(3)
        .to_string(index=False)
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
