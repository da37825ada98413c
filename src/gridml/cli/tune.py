"""`gridml tune`: hyper-parameter search (Optuna), tracked in MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gridml.cli.common import WorkspaceOption, user_errors, workspace

app = typer.Typer(help="Tune models' hyper-parameters (Optuna, MLflow).", no_args_is_help=True)


@app.command()
def demand(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Demand config to tune (YAML, DemandConfig).")
    ] = Path("experiments/demand.yaml"),
    trials: Annotated[
        int, typer.Option("--trials", "-n", min=1, help="Trials to run (added to a resumed study).")
    ] = 20,
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage: sqlite:///FILE (one process), postgresql://... (workers on "
            "several hosts) or journal:FILE (workers on one host) "
            "[default: sqlite:///WORKSPACE/optuna.db].",
            show_default=False,
        ),
    ] = None,
    study_name: Annotated[
        str, typer.Option(help="Study to create or resume in the storage.")
    ] = "demand-lightgbm",
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Where to write the tuned DemandConfig (YAML)."),
    ] = Path("experiments/demand-tuned.yaml"),
    timeout: Annotated[
        int | None,
        typer.Option(min=1, help="Start no new trial after this many seconds.", show_default=False),
    ] = None,
    sampler_seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the TPE sampler; give each parallel worker its own "
            "[default: the config's seed + trials already in the study].",
            show_default=False,
        ),
    ] = None,
    ws: WorkspaceOption = None,
) -> None:
    """Search the LightGBM demand model's parameters on the config's rolling-origin backtest.

    The objective is the feeder-level MASE of the P50, averaged over the backtest folds; the
    median pruner stops trials that fall behind after a fold. Each trial is a child MLflow run of
    one `tune-demand` run. The study is resumed if it exists in the storage. The config with the
    best LightGBM parameters is written to --output: `gridml train demand --config OUTPUT`.
    """
    from rich.console import Console
    from rich.table import Table

    from gridml.training.demand.config import DemandConfig
    from gridml.training.demand.tune import TuneConfig, tune_demand

    with user_errors():
        cfg = DemandConfig.read_yaml(config)
        tune = TuneConfig(
            trials=trials,
            storage=storage,
            study_name=study_name,
            timeout_s=timeout,
            sampler_seed=sampler_seed,
            output=output,
        )
        result = tune_demand(cfg, tune, workspace(ws))

    table = Table(title=f"best of study {tune.study_name!r}")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for name, value in result.best_params.items():
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
    table.add_row(f"objective ({tune.level} P50 MASE)", f"{result.best_value:.4f}", style="bold")
    Console().print(table)
    typer.echo(
        f"{result.n_trials} trials in the study ({result.n_pruned} pruned); "
        f"MLflow run {result.parent_run_id}"
    )
    typer.echo(f"wrote {result.output_path}: gridml train demand --config {result.output_path}")
