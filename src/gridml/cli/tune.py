"""`gridml tune`: hyper-parameter search (Optuna), tracked in MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gridml.cli.common import WorkspaceOption, user_errors, workspace

if TYPE_CHECKING:
    from gridml.training.tuning import StudyConfig, TuneResult

app = typer.Typer(help="Tune models' hyper-parameters (Optuna, MLflow).", no_args_is_help=True)

TrialsOption = Annotated[
    int, typer.Option("--trials", "-n", min=1, help="Trials to run (added to a resumed study).")
]
StorageOption = Annotated[
    str | None,
    typer.Option(
        help="Optuna storage: sqlite:///FILE (one process), postgresql://... (workers on "
        "several hosts) or journal:FILE (workers on one host) "
        "(default: sqlite:///WORKSPACE/optuna.db).",
        show_default=False,
    ),
]
StudyNameOption = Annotated[str, typer.Option(help="Study to create or resume in the storage.")]
TimeoutOption = Annotated[
    int | None,
    typer.Option(min=1, help="Start no new trial after this many seconds.", show_default=False),
]
SamplerSeedOption = Annotated[
    int | None,
    typer.Option(
        help="Seed of the TPE sampler; give each parallel worker its own "
        "(default: the config's seed + trials already in the study).",
        show_default=False,
    ),
]


def _output_option(what: str) -> object:
    return typer.Option("--output", "-o", help=f"Where to write the tuned {what} (YAML).")


def _study(
    trials: int,
    storage: str | None,
    study_name: str,
    timeout: int | None,
    sampler_seed: int | None,
    output: Path,
) -> dict[str, object]:
    """The options every `gridml tune` command shares, as StudyConfig fields."""
    return {
        "trials": trials,
        "storage": storage,
        "study_name": study_name,
        "timeout_s": timeout,
        "sampler_seed": sampler_seed,
        "output": output,
    }


def _report(command: str, tune: StudyConfig, result: TuneResult, objective: str) -> None:
    """The best parameters and value, the study's size and how to train the tuned config."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"best of study {tune.study_name!r}")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for name, value in result.best_params.items():
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
    table.add_row(f"objective ({objective})", f"{result.best_value:.4f}", style="bold")
    Console().print(table)
    typer.echo(
        f"{result.n_trials} trials in the study ({result.n_pruned} pruned); "
        f"MLflow run {result.parent_run_id}"
    )
    typer.echo(f"wrote {result.output_path}: gridml train {command} --config {result.output_path}")


@app.command()
def demand(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Demand config to tune (YAML, DemandConfig).")
    ] = Path("experiments/demand.yaml"),
    trials: TrialsOption = 20,
    storage: StorageOption = None,
    study_name: StudyNameOption = "demand-lightgbm",
    output: Annotated[Path, _output_option("DemandConfig")] = Path("experiments/demand-tuned.yaml"),
    timeout: TimeoutOption = None,
    sampler_seed: SamplerSeedOption = None,
    ws: WorkspaceOption = None,
) -> None:
    """Search the LightGBM demand model's parameters on the config's rolling-origin backtest.

    The objective is the feeder-level MASE of the P50, averaged over the backtest folds; the
    median pruner stops trials that fall behind after a fold. Each trial is a child MLflow run of
    one `tune-demand` run. The study is resumed if it exists in the storage. The config with the
    best LightGBM parameters is written to --output: `gridml train demand --config OUTPUT`.
    """
    from gridml.training.demand.config import DemandConfig
    from gridml.training.demand.tune import TuneConfig, tune_demand

    with user_errors():
        cfg = DemandConfig.read_yaml(config)
        tune = TuneConfig(**_study(trials, storage, study_name, timeout, sampler_seed, output))
        result = tune_demand(cfg, tune, workspace(ws))
    _report("demand", tune, result, f"{tune.level} P50 MASE")


@app.command()
def maintenance(
    config: Annotated[
        Path,
        typer.Option(
            "--config", "-c", help="Maintenance config to tune (YAML, MaintenanceRunConfig)."
        ),
    ] = Path("experiments/maintenance.yaml"),
    trials: TrialsOption = 20,
    storage: StorageOption = None,
    study_name: StudyNameOption = "maintenance-sequence",
    output: Annotated[Path, _output_option("MaintenanceRunConfig")] = Path(
        "experiments/maintenance-tuned.yaml"
    ),
    timeout: TimeoutOption = None,
    sampler_seed: SamplerSeedOption = None,
    ws: WorkspaceOption = None,
) -> None:
    """Search the transformer-failure sequence model's parameters (CNN or GRU, width, dropout,
    learning rate, weight decay, window days).

    The objective is the PR-AUC on the validation days (maximised; the test days are never
    read); the median pruner stops trials that fall behind after an epoch. Data are loaded once
    per study. Each trial is a child MLflow run of one `tune-maintenance` run. The study is
    resumed if it exists in the storage. The config with the best parameters is written to
    --output: `gridml train maintenance --config OUTPUT`. The LightGBM baseline is not tuned.
    """
    from gridml.training.maintenance.pipeline import MaintenanceRunConfig
    from gridml.training.maintenance.tune import MaintenanceTuneConfig, tune_maintenance

    with user_errors():
        cfg = MaintenanceRunConfig.read_yaml(config)
        tune = MaintenanceTuneConfig(
            **_study(trials, storage, study_name, timeout, sampler_seed, output)
        )
        result = tune_maintenance(cfg, tune, workspace(ws))
    _report("maintenance", tune, result, "validation PR-AUC")


@app.command()
def theft(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Theft config to tune (YAML, TheftRunConfig).")
    ] = Path("experiments/theft.yaml"),
    trials: TrialsOption = 20,
    storage: StorageOption = None,
    study_name: StudyNameOption = "theft-wide-deep",
    output: Annotated[Path, _output_option("TheftRunConfig")] = Path(
        "experiments/theft-tuned.yaml"
    ),
    timeout: TimeoutOption = None,
    sampler_seed: SamplerSeedOption = None,
    ws: WorkspaceOption = None,
) -> None:
    """Search the Wide & Deep theft model's parameters (branch widths, CNN channels, dropout,
    learning rate, weight decay).

    The objective is the PR-AUC on the validation meters (maximised; the held-out test meters
    and days are never read); the median pruner stops trials that fall behind after an epoch.
    Samples are built once per study. Each trial is a child MLflow run of one `tune-theft` run.
    The study is resumed if it exists in the storage. The config with the best parameters is
    written to --output: `gridml train theft --config OUTPUT`. The LightGBM baseline is not tuned.
    """
    from gridml.training.theft.pipeline import TheftRunConfig
    from gridml.training.theft.tune import TheftTuneConfig, tune_theft

    with user_errors():
        cfg = TheftRunConfig.read_yaml(config)
        tune = TheftTuneConfig(**_study(trials, storage, study_name, timeout, sampler_seed, output))
        result = tune_theft(cfg, tune, workspace(ws))
    _report("theft", tune, result, "validation PR-AUC")
