"""Model card of a registered version, in Markdown and HTML: intended use, training data
(window, digest, rows, FeatureService), metrics (the training run's and, by segment, the latest
promotion evaluation), plots, limits and caveats, lineage (git commit, config, run id).

Everything comes from the registry and the version's training run; the card is written to
WORKSPACE/cards/<model>/v<N>/ and logged to the run under `card/`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gridml.mlops.registry import VersionInfo, client, version_info
from gridml.mlops.report import Code, Section, to_html, to_markdown, write_text_atomic
from gridml.training import tracking
from gridml.workspace import Workspace

INTENDED_USE = {
    "demand-forecast": (
        "Day-ahead hourly load forecasts (P10/P50/P90, kWh) of transformers, feeders, "
        "substations and the zone, issued at each local midnight, for operations planning, "
        "load-shedding schedules and energy purchase. Not for meter-level billing."
    ),
    "asset-failure": (
        "Ranks distribution transformers by the probability of failing within the horizon, "
        "for a weekly inspection/maintenance list within an alert budget. It supports, and "
        "does not replace, the engineers' judgement and DGA/inspection standards."
    ),
    "theft-detection": (
        "Ranks meters by the probability of electricity theft, with reason codes, to choose "
        "which meters field teams inspect within a budget. A score is a lead, never evidence: "
        "no customer action without an inspection."
    ),
}
LIMITS = {
    "demand-forecast": [
        "Hours under load shedding or outage are unserved demand: masked in training and "
        "scoring; the forecast is the unconstrained demand.",
        "Temperature enters as a forecast (simulated error growing with the horizon); a real "
        "weather-forecast feed with larger errors will widen the error.",
        "Trained on the zone's history only: new customers, tariffs or large loads are unknown "
        "until they show in the load series.",
    ],
    "asset-failure": [
        "Failures are rare: PR-AUC and precision carry wide uncertainty on a small fleet.",
        "Telemetry gaps and units out of service are masked; a unit without telemetry is scored "
        "from its daily aggregates alone.",
    ],
    "theft-detection": [
        "The attacks in a synthetic zone are injected with known shapes: easier to detect than "
        "real theft. Treat synthetic metrics as an upper bound.",
        "Labels from inspections are biased towards meters that were inspected.",
    ],
}


@dataclass
class Card:
    markdown: Path
    html: Path
    sections: list[Section]


def _metrics_tables(metrics: dict[str, float]) -> list[pd.DataFrame]:
    """model.level.metric keys as one wide table (demand); every other metric as a list."""
    triples = [(*k.split("."), v) for k, v in sorted(metrics.items()) if k.count(".") == 2]
    frame = pd.DataFrame(triples, columns=["model", "level", "m", "v"])
    wide_ok = frame.groupby(["model", "level"]).size().max() >= 3 if len(frame) else False
    out = []
    if wide_ok:
        wide = frame.pivot_table(index=["model", "level"], columns="m", values="v")
        out.append(wide.reset_index())
    rest = {k: v for k, v in metrics.items() if not (wide_ok and k.count(".") == 2)}
    if rest:
        out.append(pd.DataFrame(sorted(rest.items()), columns=["metric", "value"]))
    return out


def _latest_audit(info: VersionInfo) -> dict | None:
    import mlflow

    c = client()
    files = sorted(
        a.path for a in c.list_artifacts(info.run_id, "audit") if a.path.endswith("json")
    )
    for path in reversed(files):
        record = json.loads(mlflow.artifacts.load_text(f"runs:/{info.run_id}/{path}"))
        if record.get("evaluation") and record.get("to_version") == info.version:
            return record
    return None


def _plots(info: VersionInfo, out: Path) -> list[Path]:
    import mlflow

    files = [a.path for a in client().list_artifacts(info.run_id, "evaluation")]
    pngs = [f for f in files if f.endswith(".png")]
    if not pngs:
        return []
    local = mlflow.artifacts.download_artifacts(run_id=info.run_id, artifact_path="evaluation")
    return [Path(local) / Path(p).name for p in pngs]


def sections(info: VersionInfo, plots: list[Path], evaluation: dict | None) -> list[Section]:
    """The card's content (pure given its inputs)."""
    tags = info.run_tags
    model = info.name
    data = pd.DataFrame(
        [
            ("window start", tags.get(tracking.TAG_DATA_START, "not recorded")),
            ("window end", tags.get(tracking.TAG_DATA_END, "not recorded")),
            ("rows", tags.get(tracking.TAG_DATA_ROWS, "?")),
            ("digest", tags.get(tracking.TAG_DATA_DIGEST, "?")),
            ("FeatureService", tags.get(tracking.TAG_FEATURE_SERVICE, "?")),
        ],
        columns=["training data", "value"],
    )
    out = [
        Section(
            "Summary",
            [
                f"{model} version {info.version}; aliases: {', '.join(info.aliases) or 'none'}; "
                f"model URI models:/{model}/{info.version}."
            ],
        ),
        Section("Intended use", [INTENDED_USE.get(model, "not documented")]),
        Section("Training data", [data]),
        Section("Training-run metrics (held-out periods of the training pipeline)", []),
    ]
    out[-1].blocks += _metrics_tables(info.metrics)
    seg = Section("Metrics by segment (latest promotion evaluation)")
    if evaluation is None:
        seg.blocks.append(
            f"Not evaluated for promotion yet: `gridml promote {model} --version "
            f"{info.version} --dry-run` scores it against the champion."
        )
    else:
        ev = evaluation["evaluation"]
        h = ev["holdout"]
        seg.blocks.append(
            f"{evaluation['outcome']} on {evaluation['time']} by {evaluation['user']}: "
            f"hold-out {h['start']} .. {h['end']} ({h['description']}), primary metric "
            f"{ev['metric']}."
        )
        seg.blocks.append(pd.DataFrame(ev["scores"]).reset_index(names="metric"))
        rows = [{"model": who, **r} for who, recs in ev["segments"].items() for r in recs if recs]
        if rows:
            frame = pd.DataFrame(rows)
            wide = frame.pivot_table(
                index=["kind", "segment"], columns="model", values="value", dropna=False
            )
            n = frame.groupby(["kind", "segment"])["n"].max().rename("n")
            seg.blocks.append(pd.concat([n, wide], axis=1).reset_index())
        seg.blocks.append(pd.DataFrame(evaluation["gates"])[["gate", "kind", "passed", "detail"]])
    out.append(seg)
    if plots:
        out.append(Section("Plots", list(plots)))
    caveats = list(LIMITS.get(model, []))
    if "gridml.caveat" in tags:
        caveats.append(tags["gridml.caveat"])
    out.append(Section("Limits and caveats", [f"- {c}" for c in caveats]))
    lineage = pd.DataFrame(
        [
            ("run id", info.run_id),
            ("git commit", tags.get(tracking.TAG_GIT_COMMIT, "unknown")),
            ("config class", tags.get(tracking.TAG_CONFIG_CLASS, "?")),
            ("model source", info.source),
        ],
        columns=["lineage", "value"],
    )
    out.append(
        Section("Lineage", [lineage, "Training config (config.yaml):", Code(info.config_text)])
    )
    return out


def write_card(ws: Workspace, model: str, version: int, log_to_run: bool = True) -> Card:
    """Write the card of `model` v`version` (Markdown + HTML) and log it to its run."""
    info = version_info(model, version)
    folder = ws.root / "cards" / model / f"v{version}"
    folder.mkdir(parents=True, exist_ok=True)
    plots_dir = folder / "plots"
    plots_dir.mkdir(exist_ok=True)
    plots = []
    for p in _plots(info, folder):
        target = plots_dir / p.name
        target.write_bytes(p.read_bytes())
        plots.append(target)
    secs = sections(info, plots, _latest_audit(info))
    title = f"Model card: {model} v{version}"
    md, page = folder / "card.md", folder / "card.html"
    write_text_atomic(md, to_markdown(title, secs, base=folder))
    write_text_atomic(page, to_html(title, secs))
    if log_to_run:
        c = client()
        c.log_artifact(info.run_id, str(md), "card")
        c.log_artifact(info.run_id, str(page), "card")
    return Card(md, page, secs)
