"""`gridml outages`: detect and locate outages from the meter events (AMI last gasps)."""

from __future__ import annotations

from typing import Annotated

import typer

from gridml.cli.common import WorkspaceOption, user_errors, workspace

app = typer.Typer(
    help="Outage management: detect, locate and size outages from AMI meter events.",
    no_args_is_help=True,
)


@app.command("detect")
def detect(
    min_meters: Annotated[
        int, typer.Option(help="Down meters that make a transformer out (or all of its meters).")
    ] = 2,
    share: Annotated[
        float,
        typer.Option(
            help="Share of a feeder's transformers (a substation's feeders) with down meters "
            "that makes it out; two children at least."
        ),
    ] = 0.5,
    score: Annotated[
        bool,
        typer.Option(
            "--score/--no-score",
            help="Score against the synthetic zone's ground truth (labels/outages.parquet) "
            "when it exists.",
        ),
    ] = True,
    ws: WorkspaceOption = None,
) -> None:
    """Replay WORKSPACE/feeds/meter_events through the streaming detector.

    Events are fed one by one in time order, as a live stream would feed them:
    a last gasp (power_down) on a feeder whose load-shedding block is on (the
    schedule in the interruptions feed) is load shedding, never an unplanned
    outage; other gasps mark their meter down, and the outage is placed at the
    lowest node (transformer, feeder, substation) that explains the down meters
    (see --min-meters and --share), widening as more gasps arrive; a
    power_restore under an open outage closes it.

    Writes WORKSPACE/outages/outages.parquet (atomically): one row per outage
    with kind (unplanned or load_shedding), level, node_id, start (first last
    gasp), detected_at, end (empty while still open), customers (all and by
    segment), cause where known, the first node raised and the last gasps seen.
    Needs the meter_events, meters and transformers feeds.
    """
    from gridml.outage.detector import DetectorConfig
    from gridml.outage.replay import detect as run_detect
    from gridml.outage.replay import load_inputs, outages_path

    w = workspace(ws)
    with user_errors():
        out = run_detect(w, DetectorConfig(min_meters=min_meters, share=share))
    unplanned = out[out["kind"] == "unplanned"]
    levels = unplanned["level"].value_counts().sort_index()
    typer.echo(
        f"{len(unplanned):,} unplanned outages ("
        + ", ".join(f"{k} {v:,}" for k, v in levels.items())
        + f"), {int((out['kind'] == 'load_shedding').sum()):,} load-shedding blocks seen"
        + f" -> {outages_path(w)}"
    )
    truth_file = w.labels / "outages.parquet"
    if score and truth_file.is_file():
        import pandas as pd

        from gridml.outage.score import score as run_score

        inputs = load_inputs(w)
        result = run_score(out, pd.read_parquet(truth_file), inputs.topo, inputs.schedule)
        for name, value in result.as_dict().items():
            typer.echo(
                f"  {name:<30} {value:.4g}" if isinstance(value, float) else f"  {name:<30} {value}"
            )
