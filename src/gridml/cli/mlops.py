"""`gridml promote | rollback | card | retrain | monitor`: the MLOps commands (thin wiring over
`gridml.mlops`). Registered at the top level of `gridml` by `gridml.cli.main`.

Exit status, the same for every command here, so that a scheduler can tell an alert from a
crash: 0 done (promoted, no alert); 1 the verdict is negative (promotion refused, monitoring
alert); 2 usage (bad option, config or model name); 3 the command could not run (missing data
or registry, or an unexpected error: the traceback is printed).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gridml.cli.common import WorkspaceOption, workspace

if TYPE_CHECKING:
    from gridml.mlops.evaluate import Evaluation

EXIT_OK, EXIT_NEGATIVE, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3
EXIT_CODES = (
    "Exit status: 0 done (promoted; no alert); 1 refused or alert; 2 usage (bad option, config "
    "or model name); 3 could not run (missing data or registry, or a crash: traceback printed)."
)


@contextlib.contextmanager
def exit_codes() -> Iterator[None]:
    """Map what goes wrong to the documented exit status (EXIT_CODES), one red line each.

    A usage error (bad config, unknown model) exits 2; missing data or registry
    (MissingDataError) 3; any other exception is a crash: its traceback on stderr, exit 3 (never
    1, the status of a refusal or an alert)."""
    from gridml.errors import MissingDataError, UserError

    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except MissingDataError as exc:
        logging.getLogger("gridml").debug("missing data", exc_info=True)
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(EXIT_FAILED) from None
    except UserError as exc:
        logging.getLogger("gridml").debug("user error", exc_info=True)
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(EXIT_USAGE) from None
    except Exception as exc:
        typer.echo(traceback.format_exc(), err=True)
        typer.secho(
            f"error: crashed ({type(exc).__name__}: {exc}); exit {EXIT_FAILED}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(EXIT_FAILED) from None


ModelArg = Annotated[
    str,
    typer.Argument(
        help="Registered model name (a model spec: gridml.models.catalog).",
        show_default=False,
    ),
]
PromotionOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="Promotion gates (YAML, see PromotionConfig)."),
]
MonitoringOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="Monitoring thresholds (YAML, see MonitoringConfig)."),
]
TrackingUriOption = Annotated[
    str | None,
    typer.Option(help="MLflow tracking URI (default: sqlite:///WORKSPACE/mlflow.db)."),
]
VersionOption = Annotated[
    int | None,
    typer.Option("--version", "-V", help="Registered version (default: the challenger)."),
]


def _with_uri(cfg, tracking_uri: str | None):
    from gridml.cli.train import with_tracking_uri

    return with_tracking_uri(cfg, tracking_uri)


def print_evaluation(ev: Evaluation | None) -> None:
    """Side-by-side champion vs challenger table, segments, and every gate's verdict (nothing
    for a decision taken without an evaluation, e.g. a rollback)."""
    if ev is None:
        return
    from rich.console import Console
    from rich.table import Table

    from gridml.mlops.evaluate import evaluator

    console = Console()
    champ = f"champion v{ev.champion.version}" if ev.champion else "champion (none)"
    h = ev.holdout
    table = Table(
        title=f"{ev.model}: v{ev.challenger.version} vs {champ}\nhold-out {h.start:%Y-%m-%d} .. "
        f"{h.end:%Y-%m-%d}, {h.description}; primary metric {ev.metric} "
        f"({'higher' if ev.higher_is_better else 'lower'} is better)"
    )
    for col in ("metric", champ, f"challenger v{ev.challenger.version}", "baseline"):
        table.add_column(col, justify="right")
    for metric, row in ev.table(evaluator(ev.model).shown_metrics).iterrows():
        table.add_row(str(metric), *(f"{v:.4g}" if v == v else "-" for v in row))
    console.print(table)
    seg = Table(title=f"{ev.metric} by segment")
    segments = ev.segments()
    for col in segments.columns:
        seg.add_column(str(col), justify="right")
    for row in segments.itertuples(index=False):
        seg.add_row(*(f"{v:.4g}" if isinstance(v, float) else str(v) for v in row))
    console.print(seg)
    gates = Table(title="gates")
    for col in ("gate", "kind", "verdict", "detail"):
        gates.add_column(col)
    for r in ev.gates:
        verdict = "[green]pass[/green]" if r.passed else "[red]FAIL[/red]"
        gates.add_row(r.gate, r.kind, verdict, r.detail)
    console.print(gates)
    for note in ev.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


def promote(
    model: ModelArg,
    version: VersionOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Evaluate and show the verdict; move nothing.")
    ] = False,
    config: PromotionOption = Path("experiments/promotion.yaml"),
    tracking_uri: TrackingUriOption = None,
    ws: WorkspaceOption = None,
) -> None:
    """Promote a challenger to champion if every gate passes.

    Rebuilds the most recent hold-out window through the model's FeatureService and training
    code, scores the challenger, the champion and a simple baseline on exactly the same rows
    (overall and by segment), prints them side by side with each gate's verdict, and moves the
    `champion` alias only when every gate passes: better than the champion by the penalty
    factor, no segment much worse, beats the baseline, signature compatible with serving,
    predictions finite and within physical bounds, latency within budget, training data valid,
    fresh and not overlapping the hold-out. Every decision is audited. Exit 1 when refused.
    """
    from gridml.mlops.config import PromotionConfig
    from gridml.mlops.promote import promote as run

    cfg = _with_uri(PromotionConfig.read_yaml(config), tracking_uri)
    decision = run(workspace(ws), model, cfg, version=version, dry_run=dry_run)
    print_evaluation(decision.evaluation)
    if decision.outcome == "promoted":
        typer.secho(
            f"promoted {model} v{decision.to_version} to champion "
            f"(was {'v' + str(decision.from_version) if decision.from_version else 'none'})",
            fg=typer.colors.GREEN,
        )
    elif decision.outcome == "unchanged":
        typer.echo(f"{model}: {decision.reason}; nothing moved")
    elif decision.outcome == "dry-run":
        passed = decision.evaluation is not None and decision.evaluation.passed
        verdict = "would be promoted" if passed else "would be refused"
        typer.echo(f"dry run: {model} v{decision.to_version} {verdict}; nothing moved")
        if not passed:
            raise typer.Exit(EXIT_NEGATIVE)
    else:
        typer.secho(f"refused: {decision.reason}", fg=typer.colors.RED, err=True)
        raise typer.Exit(EXIT_NEGATIVE)


def rollback(
    model: ModelArg,
    config: PromotionOption = Path("experiments/promotion.yaml"),
    tracking_uri: TrackingUriOption = None,
    ws: WorkspaceOption = None,
) -> None:
    """Move `champion` back to the version the current champion replaced (audited)."""
    from gridml.mlops.config import PromotionConfig
    from gridml.mlops.promote import rollback as run

    cfg = _with_uri(PromotionConfig.read_yaml(config), tracking_uri)
    decision = run(workspace(ws), model, cfg)
    typer.secho(
        f"rolled back {model}: champion v{decision.from_version} -> v{decision.to_version}",
        fg=typer.colors.GREEN,
    )


def retrain(
    model: ModelArg,
    config: PromotionOption = Path("experiments/promotion.yaml"),
    train_config: Annotated[
        Path | None,
        typer.Option(help="Training config (default: the model's train_config in --config)."),
    ] = None,
    materialize: Annotated[
        bool, typer.Option(help="Load the newest features into the online store first.")
    ] = True,
    tracking_uri: TrackingUriOption = None,
    ws: WorkspaceOption = None,
) -> None:
    """Retrain a model and promote the new version when every gate passes (the weekly job).

    Materializes the newest features into the online store, trains with the model's training
    config (demand keeps the promotion hold-out out of its final model), registers the new
    version as challenger, evaluates it against the champion on the most recent hold-out and
    promotes it when every gate passes. Safe to run twice at the same time. Exit 1 when the
    new version is not promoted.
    """
    from gridml.mlops.config import PromotionConfig
    from gridml.mlops.retrain import retrain as run

    cfg = _with_uri(PromotionConfig.read_yaml(config), tracking_uri)
    result = run(workspace(ws), model, cfg, train_config, materialize)
    decision = result.decision
    print_evaluation(decision.evaluation)
    if decision.outcome in ("promoted", "unchanged"):  # unchanged: promoted by another job
        typer.secho(f"retrained and promoted {model} v{result.version}", fg=typer.colors.GREEN)
    else:
        typer.secho(
            f"retrained {model} v{result.version}; not promoted: {decision.reason}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(EXIT_NEGATIVE)


def card(
    model: ModelArg,
    version: VersionOption = None,
    tracking_uri: TrackingUriOption = None,
    ws: WorkspaceOption = None,
) -> None:
    """Write the model card of a registered version (Markdown and HTML).

    Intended use, training data window and digest, FeatureService, training-run metrics,
    metrics by segment from the latest promotion evaluation, plots, limits and caveats, and
    lineage (git commit, config, run id). Written to WORKSPACE/cards/MODEL/vN/ and logged to the
    version's training run under card/. Default version: the champion, else the challenger.
    """
    from gridml.mlops.card import write_card
    from gridml.training import tracking
    from gridml.training.tracking import TrackingConfig

    w = workspace(ws)
    tracking.configure(TrackingConfig(tracking_uri=tracking_uri), w)
    from gridml.models.registry import default_version

    version = version if version is not None else default_version(model)
    result = write_card(w, model, version)
    typer.echo(f"model card of {model} v{version}: {result.markdown} and {result.html}")


def monitor(
    model: ModelArg,
    version: Annotated[
        int | None,
        typer.Option("--version", "-V", help="Registered version (default: the champion)."),
    ] = None,
    config: MonitoringOption = Path("experiments/monitoring.yaml"),
    outcomes: Annotated[
        Path | None,
        typer.Option(
            help="theft-detection: inspection outcomes CSV (meter_id, inspected_at, "
            "theft_found) (default: WORKSPACE/outcomes/theft-detection.csv)."
        ),
    ] = None,
    outcomes_from_labels: Annotated[
        bool,
        typer.Option(
            "--outcomes-from-labels",
            help="theft-detection, synthetic zones only: the zone's theft labels stand in for "
            "inspections of every alerted meter.",
        ),
    ] = False,
    tracking_uri: TrackingUriOption = None,
    ws: WorkspaceOption = None,
) -> None:
    """Check data drift, train/serve skew and live accuracy of a model; write an HTML report.

    Drift: PSI and KS per hierarchy level and feature family between the version's training
    window and the recent window (both read point in time, as serving reads them); a family
    with too few rows is "not enough data", never an alert. Skew: the online store against the
    offline values at the newest data. Live accuracy: demand MASE by day against the metered
    load; asset-failure precision of the daily alerts against the failure log;
    theft-detection precision of the alerts against logged inspection outcomes ("not enough
    data" until enough are in). Writes WORKSPACE/monitoring/MODEL/report.{html,md}, drift.csv,
    skew.csv and live.csv. Exit 1 when a threshold is crossed, so that a scheduler can alert.
    """
    from gridml.mlops.config import MonitoringConfig
    from gridml.mlops.monitor import monitor as run
    from gridml.mlops.monitor_report import log_to_mlflow, write_report
    from gridml.models.registry import default_version, version_info
    from gridml.training import tracking

    cfg = _with_uri(MonitoringConfig.read_yaml(config), tracking_uri)
    model_cfg = cfg.for_model(model)
    w = workspace(ws)
    tracking.configure(cfg.tracking, w)
    version = version if version is not None else default_version(model)
    result = run(w, model, version_info(model, version), model_cfg, outcomes, outcomes_from_labels)
    files = write_report(w.root, result, model_cfg)
    run_id = log_to_mlflow(result, files)
    drifted = result.drift[result.drift["drifted"]]
    typer.echo(
        f"{model} v{version}: {len(drifted)} of {int(result.drift['judged'].sum())} judged "
        f"feature families x levels drifted; report {files[1]}; MLflow run {run_id}"
    )
    typer.echo(result.drift.head(10).round(3).to_string(index=False))
    if len(result.skew):
        typer.echo(result.skew.head(5).round(4).to_string(index=False))
    if not result.live.empty:
        typer.echo(result.live.round(3).to_string(index=False))
    for note in result.notes:
        typer.echo(f"note: {note}")
    if result.alerts:
        for alert in result.alerts:
            typer.secho(f"ALERT {alert}", fg=typer.colors.RED, err=True)
        raise typer.Exit(EXIT_NEGATIVE)


def _exit_coded(command: Callable[..., None]) -> Callable[..., None]:
    """`command` run under `exit_codes` (same signature and help for typer)."""

    @functools.wraps(command)
    def run(*args: object, **kwargs: object) -> None:
        with exit_codes():
            command(*args, **kwargs)

    return run


def register(app: typer.Typer) -> None:
    """Add the MLOps commands at the top level of `app`, each with the exit status in --help."""
    for command in (promote, rollback, retrain, card, monitor):
        app.command(epilog=EXIT_CODES)(_exit_coded(command))
