"""`gridml data`: generate a synthetic zone, import a utility's files, validate feeds."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from gridml.cli.common import WorkspaceOption, user_errors, workspace

app = typer.Typer(
    help="Data feeds: generate a synthetic pilot zone, import real files, validate contracts.",
    no_args_is_help=True,
)
log = logging.getLogger("gridml.data")

DEFAULT_ZONE = Path("experiments/zone.yaml")


@app.command()
def generate(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Zone config (YAML, see ZoneConfig).")
    ] = DEFAULT_ZONE,
    meters: Annotated[
        int | None, typer.Option(help="Override the number of meters (e.g. 20000).")
    ] = None,
    days: Annotated[int | None, typer.Option(help="Override the length of the period.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the random seed.")] = None,
    ws: WorkspaceOption = None,
) -> None:
    """Generate every feed of a synthetic pilot zone (deterministic for a given seed).

    Writes hourly readings, weather, interruptions, transformer telemetry and DGA, maintenance,
    failures and prepaid vends as Parquet parts under WORKSPACE/feeds, and the theft labels
    apart under WORKSPACE/labels. Replaces the workspace's feeds atomically.
    """
    from gridml.features.feeds.config import ZoneConfig
    from gridml.features.feeds.generate import generate_zone

    with user_errors():
        cfg = ZoneConfig.read_yaml(config, meters=meters, days=days, seed=seed)
        report = generate_zone(cfg, workspace(ws))
    for feed, rows in sorted(report.rows.items()):
        typer.echo(f"  {feed:<22} {rows:>12,} rows")
    typer.echo(
        f"generated {report.total_rows:,} rows in {report.seconds:.1f} s "
        f"({report.total_rows / max(report.seconds, 1e-9):,.0f} rows/s) into {workspace(ws).feeds}"
    )


@app.command()
def validate(ws: WorkspaceOption = None) -> None:
    """Check every feed of the workspace against its data contract (docs/data-contract.md).

    Exits with status 1 and lists each problem (file, rows, column) when a feed breaks its contract.
    """
    from gridml.features.validate import validate_workspace

    with user_errors():
        report = validate_workspace(workspace(ws))
    if not report.ok:
        for err in report.errors:
            typer.secho(err, fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"all {len(report.feeds)} feeds conform: {', '.join(report.feeds)}")
