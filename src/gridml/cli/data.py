"""`gridml data`: generate a synthetic zone, import a utility's files, validate feeds."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from gridml.cli.common import WorkspaceOption, next_step, user_errors, workspace

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
    failures, prepaid vends and meter events (last gasps, restores) as Parquet parts under
    WORKSPACE/feeds, and the theft and outage labels apart under WORKSPACE/labels. Replaces
    the workspace's feeds atomically.
    """
    from gridml.features.simulator.config import ZoneConfig
    from gridml.features.simulator.generate import generate_zone

    with user_errors():
        cfg = ZoneConfig.read_yaml(config, meters=meters, days=days, seed=seed)
        report = generate_zone(cfg, workspace(ws))
    for feed, rows in sorted(report.rows.items()):
        typer.echo(f"  {feed:<22} {rows:>12,} rows")
    typer.echo(
        f"generated {report.total_rows:,} rows in {report.seconds:.1f} s "
        f"({report.total_rows / max(report.seconds, 1e-9):,.0f} rows/s) into {workspace(ws).feeds}"
    )
    next_step(str(workspace(ws).feeds), "gridml data validate && gridml features build")


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


@app.command("import")
def import_(
    readings: Annotated[
        Path | None,
        typer.Option(
            "--readings",
            help="Meter readings: meter_id, timestamp, kwh, every 15, 30 or 60 min.",
            show_default=False,
        ),
    ] = None,
    measurements: Annotated[
        Path | None,
        typer.Option(
            "--measurements",
            help="Load measured at any level: series_id, level (meter, transformer, feeder, "
            "substation, zone), timestamp, value, [unit], [region_id]; every 15, 30 or 60 min.",
            show_default=False,
        ),
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            help="Unit of the measurements without a 'unit' column (or cell): power averaged "
            "over the interval (kW, MW, GW) or energy per interval (kWh, MWh, GWh).",
            show_default=False,
        ),
    ] = None,
    series: Annotated[
        str | None,
        typer.Option(
            help="Read --measurements as ONE series in a wide file of your own layout, e.g. "
            "zone:VIC (level:id): its --time-column and --value-column, other columns ignored.",
            show_default=False,
        ),
    ] = None,
    value_column: Annotated[
        str | None,
        typer.Option(help="With --series: the column of the series' values.", show_default=False),
    ] = None,
    time_column: Annotated[
        str, typer.Option(help="With --series: the timestamp column.")
    ] = "timestamp",
    temperature_column: Annotated[
        str | None,
        typer.Option(
            help="With --series: a temperature (°C) column of the same file, imported as the "
            "weather (instead of --weather).",
            show_default=False,
        ),
    ] = None,
    meters: Annotated[
        Path | None,
        typer.Option(help="meter_id, transformer_id, segment, tariff.", show_default=False),
    ] = None,
    transformers: Annotated[
        Path | None,
        typer.Option(
            help="transformer_id, feeder_id, substation_id, region_id, rating_kva, "
            "commissioned_year.",
            show_default=False,
        ),
    ] = None,
    weather: Annotated[
        Path | None,
        typer.Option(
            help="Weather per region_id (hourly; shorter intervals are averaged): "
            "temperature_c required; region_id and the other columns may be left out.",
            show_default=False,
        ),
    ] = None,
    interruptions: Annotated[
        Path | None,
        typer.Option(help="Supply interruptions per feeder (or transformer).", show_default=False),
    ] = None,
    transformer_telemetry: Annotated[
        Path | None,
        typer.Option(
            "--transformer-telemetry",
            help="Hourly transformer loading, temperatures, voltage and energy.",
            show_default=False,
        ),
    ] = None,
    transformer_dga: Annotated[
        Path | None,
        typer.Option(
            "--transformer-dga", help="Dissolved gas analysis of oil, ppm.", show_default=False
        ),
    ] = None,
    maintenance: Annotated[
        Path | None, typer.Option(help="Transformer maintenance log.", show_default=False)
    ] = None,
    failures: Annotated[
        Path | None, typer.Option(help="Transformer failure log.", show_default=False)
    ] = None,
    vends: Annotated[
        Path | None, typer.Option(help="Prepaid token purchases.", show_default=False)
    ] = None,
    meter_events: Annotated[
        Path | None,
        typer.Option(
            "--meter-events",
            help="AMI meter events: meter_id, timestamp (to the second), kind (power_down, "
            "power_restore, tamper).",
            show_default=False,
        ),
    ] = None,
    country: Annotated[
        str, typer.Option(help="ISO code of the zone's country (public holidays, time zone).")
    ] = "CI",
    subdivision: Annotated[
        str | None,
        typer.Option(
            help="A subdivision of the country for its public holidays too (holidays package "
            "code, e.g. VIC for --country AU).",
            show_default=False,
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            help="region_id of weather and measurements that have none, and of the zone's "
            "total without topology (default: the transformers' only region, else the "
            "weather's only region, else R00).",
            show_default=False,
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            help="IANA time zone of the zone, recorded in zone.json (default: the country's). "
            "Not applied to the files: their timestamps carry their own offset.",
            show_default=False,
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="Name of the zone.")] = "imported-zone",
    ws: WorkspaceOption = None,
) -> None:
    """Import a utility's own files (CSV or Parquet) as the workspace's feeds.

    Each file must follow its feed's contract, see docs/data-contract.md:
    exactly the contract's columns, and ISO 8601 timestamps WITH a UTC offset
    (2024-01-01T00:00:00+00:00 or 2024-01-01T00:00:00Z); naive timestamps are
    refused. Readings may come every 15, 30 or 60 min (detected per meter),
    stamped at the START of the interval; they are summed into hourly kWh and
    an hour missing any of its readings is left out (the count is reported).
    Measurements (--measurements) likewise, per series, converted once into
    hourly energy in the series' unit (kWh for meters and transformers, MWh
    above; kWh for a series whose id is one of the meters' hierarchy) and
    checked against their level's plausible bound.
    --readings or --measurements is required; meter ids are checked against
    --meters and transformer ids against --transformers when those are given.

    All files are checked first: on any problem the command lists every one
    (file, row, column), exits with status 2 and writes nothing. On success
    the imported set REPLACES the whole WORKSPACE/feeds folder: feeds not
    given are gone afterwards. Rebuild the features with `gridml features
    build`.
    """
    from gridml.features.importer import WideSeries, import_feeds

    wide = None
    if series is not None or value_column is not None or temperature_column is not None:
        if series is None or value_column is None or measurements is None:
            raise typer.BadParameter(
                "a wide single-series file needs --measurements FILE, --series LEVEL:ID and "
                "--value-column (and --time-column unless it is 'timestamp')",
                param_hint="--series",
            )
        if temperature_column is not None and weather is not None:
            raise typer.BadParameter(
                "--temperature-column reads the weather from the --measurements file: leave "
                "out --weather",
                param_hint="--temperature-column",
            )
        wide = WideSeries(series, value_column, time_column, temperature_column)
        if temperature_column is not None:
            weather = measurements
    given = {
        "readings": readings,
        "load_measurements": measurements,
        "meters": meters,
        "transformers": transformers,
        "weather": weather,
        "interruptions": interruptions,
        "transformer_telemetry": transformer_telemetry,
        "transformer_dga": transformer_dga,
        "maintenance": maintenance,
        "failures": failures,
        "vends": vends,
        "meter_events": meter_events,
    }
    with user_errors():
        report = import_feeds(
            {feed: path for feed, path in given.items() if path is not None},
            workspace(ws),
            country=country,
            subdivision=subdivision,
            name=name,
            timezone=timezone,
            region=region,
            unit=unit,
            wide=wide,
        )
    for feed, rows in report.rows.items():
        typer.echo(f"  {feed:<22} {rows:>12,} rows (from {report.input_rows[feed]:,})")
    if report.intervals:
        intervals = ", ".join(f"{m} min: {n:,}" for m, n in report.intervals.items())
        typer.echo(f"readings intervals (meters) {intervals}")
    if report.measurement_intervals:
        intervals = ", ".join(f"{m} min: {n:,}" for m, n in report.measurement_intervals.items())
        units = ", ".join(f"{s} {u}" for s, u in sorted(report.series_units.items())[:10])
        more = " ..." if len(report.series_units) > 10 else ""
        typer.echo(f"measurement intervals (series) {intervals}; units {units}{more}")
    typer.echo(
        f"{report.dropped_hours:,} incomplete hour(s) left out; "
        f"{report.start:%Y-%m-%d %H:%M} .. {report.end:%Y-%m-%d %H:%M} UTC"
    )
    typer.echo(f"imported {len(report.rows)} feeds into {workspace(ws).feeds}")
    next_step(str(workspace(ws).feeds), "gridml features build")
