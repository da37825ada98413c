"""`gridml evaluate`: judge models beyond one split of one zone (gridml.mlops.across_zones)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gridml.cli.common import user_errors

if TYPE_CHECKING:
    from rich.table import Table

    from gridml.mlops.across_zones import AcrossZonesReport

app = typer.Typer(help="Evaluate models across generated zones.", no_args_is_help=True)

ATTACKS = ("h1", "h2", "h3", "h4", "h5", "h6")  # gridml.features.contracts.THEFT_ATTACKS
# rows of the printed table: (metric, label, format)
ROWS: dict[str, list[tuple[str, str, str]]] = {
    "theft": [
        ("pr_auc", "PR-AUC", ".3f"),
        ("roc_auc", "ROC-AUC", ".3f"),
        ("precision_at_share", "precision at the theft share", ".3f"),
        *[(f"recall_{a}_at_share", f"recall {a} at the theft share", ".2f") for a in ATTACKS],
        ("lowest_attack_recall_at_share", "lowest attack-type recall at the share", ".2f"),
        ("validation_pr_auc", "validation PR-AUC (out of fold)", ".3f"),
        ("family_wide_deep", "share of zones served by Wide & Deep", ".2f"),
    ],
    "maintenance": [
        ("pr_auc", "PR-AUC", ".3f"),
        ("roc_auc", "ROC-AUC", ".3f"),
        ("recall_at_budget", "recall at the weekly alert budget", ".2f"),
        ("precision_at_budget", "precision at that budget", ".2f"),
        ("median_lead_days", "median lead time (days)", ".1f"),
        ("false_alarms_per_100_years", "false alarms per 100 transformer-years", ".0f"),
    ],
}


def summary_table(report: AcrossZonesReport) -> Table:
    """One row per metric, one column per model: "mean ± std (worst value @seed)"."""
    from rich.table import Table

    from gridml.mlops.across_zones import format_summary

    seeds = ", ".join(map(str, report.seeds))
    t = Table(
        title=f"{report.task}: held-out metrics over {len(report.seeds)} zones (seeds {seeds})",
        caption="mean ± sample std (worst value @its seed); a zone without the metric (e.g. "
        "no thief of that attack type among its test meters) is left out",
    )
    t.add_column("metric")
    for model in report.models:
        t.add_column(model, justify="right")
    for key, label, spec in ROWS[report.task]:
        cells = []
        for model in report.models:
            s = report.summary.get(model, {}).get(key)
            cells.append("-" if s is None else format_summary(s, spec))
        t.add_row(label, *cells)
    return t


@app.command("across-zones")
def across_zones(
    task: Annotated[str, typer.Argument(help="theft or maintenance (transformer failure).")],
    zones: Annotated[int, typer.Option("--zones", "-n", min=1, help="Zones to generate.")] = 5,
    seed_start: Annotated[
        int, typer.Option(help="First zone seed; the next ones follow (42 is skipped).")
    ] = 101,
    days: Annotated[
        int | None,
        typer.Option(
            min=28, help="Zone length in days (default: the zone config's).", show_default=False
        ),
    ] = None,
    meters: Annotated[
        int | None,
        typer.Option(
            min=4, help="Meters per zone (default: the zone config's).", show_default=False
        ),
    ] = None,
    zone_config: Annotated[
        Path | None,
        typer.Option(
            help="Zone generator config (default: experiments/zone.yaml for theft, "
            "experiments/maintenance-zone.yaml for maintenance); only its seed changes.",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Training config, as `gridml train TASK -c` (default: experiments/TASK.yaml).",
            show_default=False,
        ),
    ] = None,
    workdir: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the zones' workspaces, one per seed, kept (default: a temporary "
            "folder, removed at the end).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Report JSON; the per-zone values go beside it as .parquet."
        ),
    ] = Path("across-zones.json"),
) -> None:
    """Train and score a risk model on N zones generated with different seeds.

    Each zone is generated from the zone config with only its seed changed (seeds
    SEED_START, SEED_START+1, ...; 42, the demo zone on which the models were chosen, is
    never used), gets its feature tables and Feast store, and the pipeline runs exactly as
    `gridml train TASK` runs it (both model families: PyTorch and the LightGBM baseline, one
    MLflow run per zone in that zone's workspace). The table shows every held-out metric's mean
    ± sample standard deviation and its worst seed; for theft, recall of each attack type at
    an inspection budget equal to the theft share. Nothing is chosen from these results.

    Expect minutes per zone: use --days/--meters for a quick look.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from gridml.mlops.across_zones import (
        TASKS,
        AcrossZonesConfig,
        default_paths,
        evaluate_across_zones,
        write_report,
        zone_seeds,
    )

    with user_errors():
        if task not in TASKS:
            from gridml.config import ConfigError

            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
        # `task in TASKS` narrows it to the Task literal
        zone_default, train_default = default_paths(task)
        cfg = AcrossZonesConfig(
            task=task,
            seeds=zone_seeds(zones, seed_start),
            zone_config=zone_config or zone_default,
            train_config=config or train_default,
            days=days,
            meters=meters,
        )
        for path in (cfg.zone_config, cfg.train_config):
            if not path.is_file():
                from gridml.config import ConfigError

                raise ConfigError(
                    f"config file not found: {path} (run from the project folder, or pass "
                    "--zone-config / --config)"
                )
        console = Console()
        with tempfile.TemporaryDirectory(prefix="gridml-zones-") as tmp:
            folder = workdir or Path(tmp)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} zones"),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                job = bar.add_task(f"{task}: {len(cfg.seeds)} zones", total=len(cfg.seeds))

                def note(stage: str, seed: int, detail: str) -> None:
                    bar.update(job, description=f"{task}, zone seed {seed}: {detail}")
                    if stage == "done":
                        bar.advance(job)

                report = evaluate_across_zones(cfg, folder, note)
        written = write_report(report, out)
    console.print(summary_table(report))
    console.print("written: " + ", ".join(map(str, written)))
