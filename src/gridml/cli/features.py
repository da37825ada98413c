"""`gridml features`: build feature tables, register them in Feast, materialize, retrieve."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated

import typer

from gridml.cli.common import WorkspaceOption, next_step, user_errors, workspace

app = typer.Typer(
    help="The Feast feature store: build tables, apply definitions, materialize, retrieve.",
    no_args_is_help=True,
)
log = logging.getLogger("gridml.features")

StoreConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--store-config",
        help="feature_store.yaml to use instead of the embedded default "
        "(features/feature_repo/feature_store.yaml), e.g. the Redis/PostgreSQL profile.",
    ),
]


@app.command()
def build(
    ws: WorkspaceOption = None,
    meter_series: Annotated[
        list[str] | None,
        typer.Option(
            "--meter-series",
            help="Meter id to forecast on its own (load series meter:<id>); repeatable.",
        ),
    ] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Rebuild every table from the whole history (default: append only the new "
            "days when the last build's manifest shows nothing else changed).",
        ),
    ] = False,
) -> None:
    """Compute the feature tables (lags, rolling statistics, daily aggregates, energy balance,
    load series of every level: sums of meters and measured series, each in its unit) from the
    feeds into WORKSPACE/offline, the offline store's Parquet sources. Landed live data is
    merged first; when only new days arrived they are computed and appended (incremental)."""
    from gridml.features.tables.build import build_tables
    from gridml.features.tables.incremental import read_manifest

    with user_errors():
        built = build_tables(workspace(ws), meter_series=tuple(meter_series or ()), full=full)
    manifest = read_manifest(workspace(ws))
    if not full and not any(built.values()):
        typer.echo("feature tables up to date: nothing new to build")
        return
    if manifest is not None:
        how = f"{manifest.mode}, {manifest.grid_days} days"
        if manifest.mode == "incremental":
            how += f", {manifest.appended_days} appended"
        typer.echo(f"feature tables: {how}; rows written:")
    for table, rows in built.items():
        typer.echo(f"  {table:<28} {rows:>12,} rows")
    next_step(str(workspace(ws).offline), "gridml features apply && gridml features materialize")


@app.command()
def apply(ws: WorkspaceOption = None, store_config: StoreConfigOption = None) -> None:
    """Register entities, feature views and feature services in the Feast registry
    (builds the feature tables first when they are missing)."""
    from gridml.features.store.repo import apply_definitions

    with user_errors():
        names = apply_definitions(workspace(ws), store_config)
    typer.echo(f"applied {len(names)} objects: {', '.join(names)}")


@app.command()
def materialize(
    ws: WorkspaceOption = None,
    store_config: StoreConfigOption = None,
    end: Annotated[
        dt.datetime | None,
        typer.Option(help="Materialize up to this time, UTC (default: end of the data)."),
    ] = None,
    days: Annotated[
        int, typer.Option(help="How far back to load into the online store, days.")
    ] = 3,
) -> None:
    """Load the latest feature values into the online store (SQLite by default)."""
    from gridml.features.store.repo import materialize as do_materialize

    with user_errors():
        window = do_materialize(workspace(ws), store_config, end=end, days=days)
    typer.echo(f"materialized {window[0]:%Y-%m-%d %H:%M} .. {window[1]:%Y-%m-%d %H:%M} UTC")
    next_step(
        "the online store of " + str(workspace(ws).feature_repo),
        "gridml train demand   (or maintenance, theft)",
    )


@app.command("training-set")
def training_set(
    service: Annotated[
        str,
        typer.Argument(
            help="FeatureService: demand_forecast_v1, asset_failure_v1, theft_detection_v1 or v2."
        ),
    ],
    entities: Annotated[
        Path,
        typer.Option(help="Entity frame (Parquet or CSV): join keys and an event_timestamp."),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Parquet file to write.")],
    ws: WorkspaceOption = None,
    store_config: StoreConfigOption = None,
) -> None:
    """Build a point-in-time correct training frame for a FeatureService: for each entity row,
    the feature values known at its event_timestamp (never later, and within each view's TTL)."""
    from gridml.features.store.repo import training_set_from_file

    with user_errors():
        rows = training_set_from_file(workspace(ws), store_config, service, entities, output)
    typer.echo(f"wrote {rows:,} rows to {output}")


@app.command()
def online(
    service: Annotated[str, typer.Argument(help="FeatureService to read.")] = "demand_forecast_v1",
    ids: Annotated[
        list[str] | None,
        typer.Option("--id", help="Entity id(s) (default: the first few of the zone)."),
    ] = None,
    ws: WorkspaceOption = None,
    store_config: StoreConfigOption = None,
) -> None:
    """Print the online features of a few entities (what serving will read)."""
    from gridml.features.store.repo import online_sample

    with user_errors():
        frame = online_sample(workspace(ws), store_config, service, ids)
    typer.echo(frame.T.to_string())


@app.command()
def ui(
    ws: WorkspaceOption = None,
    store_config: StoreConfigOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the UI.")] = 8888,
) -> None:
    """Browse the workspace's Feast registry in Feast's own web UI (entities, feature views,
    FeatureServices, data sources): http://HOST:PORT until Ctrl-C.

    Needs `gridml features apply` first. The UI's pages ship inside the feast package: nothing
    is fetched from the internet.
    """
    from gridml.features.store import repo

    with user_errors():
        store = repo.open_store(workspace(ws), store_config)
        repo.require_applied(store)
    typer.echo(f"Feast UI of {workspace(ws).root} on http://{host}:{port} (Ctrl-C to stop)")
    store.serve_ui(host=host, port=port)
