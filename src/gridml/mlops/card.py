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

from gridml.mlops.report import Code, Section, to_html, to_markdown, write_text_atomic
from gridml.models import catalog
from gridml.models.registry import VersionInfo, client, version_info
from gridml.models.spec import ModelSpec
from gridml.training import tracking
from gridml.workspace import Workspace


@dataclass
class Card:
    markdown: Path
    html: Path
    sections: list[Section]


def model_spec(name: str) -> ModelSpec | None:
    """The spec of registered model `name`; None for a name no spec describes (the card
    then says what it cannot document)."""
    return next((s for s in catalog.specs() if s.name == name), None)


NOT_MODELS = ("data", "reconciliation")  # metric prefixes that are not a model's scores


def metrics_table(metrics: dict[str, float], names: tuple[str, ...]) -> pd.DataFrame:
    """`model[.level].metric` keys whose metric is one of `names`, as one row per model (and
    level) and one column per metric: only rows and columns that hold a value."""
    records = []
    for key, value in metrics.items():
        *who, metric = key.split(".")
        if metric not in names or not who or who[0] in NOT_MODELS or "epoch" in who:
            continue
        records.append({"model": who[0], "level": ".".join(who[1:]), "metric": metric, "v": value})
    if not records:
        return pd.DataFrame()
    frame = pd.DataFrame(records)
    index = ["model", "level"] if (frame["level"] != "").any() else ["model"]
    wide = frame.pivot_table(index=index, columns="metric", values="v", aggfunc="first")
    wide = wide[[n for n in names if n in wide.columns]].dropna(how="all")
    return wide.reset_index().rename_axis(columns=None)


def served_model(info: VersionInfo) -> str | None:
    """The metric prefix of the model the registered version serves: the family its pipeline
    recorded (tag `gridml.family`), else the spec's, else the config's architecture."""
    if info.family:
        return info.family
    spec = model_spec(info.name)
    if spec is not None and spec.served_model is not None:
        return spec.served_model
    model_cfg = getattr(info.config, "model", None)
    return getattr(model_cfg, "architecture", None)


def headline(info: VersionInfo, table: pd.DataFrame) -> str | None:
    """One sentence: the served model's primary metric against its baseline's."""
    spec = model_spec(info.name)
    metric = spec.primary_metric if spec is not None else None
    served = served_model(info)
    if metric is None or table.empty or metric not in table or served not in set(table["model"]):
        return None
    parts = []
    shown = {served, spec.baseline_model if spec is not None else None}
    for model, rows in table[table["model"].isin(shown)].groupby("model", sort=False):
        values = rows.dropna(subset=[metric])
        if "level" in rows:
            text = ", ".join(f"{r.level} {getattr(r, metric):.3g}" for r in values.itertuples())
        else:
            text = ", ".join(f"{v:.3g}" for v in values[metric])
        if text:
            parts.append((model != served, f"{model} {text}"))
    ordered = [text for _, text in sorted(parts, key=lambda p: p[0])]
    return (
        f"Headline ({metric}, held-out period of the training run): "
        + "; against ".join(ordered)
        + "."
    )


def _metrics_blocks(info: VersionInfo) -> list[object]:
    spec = model_spec(info.name)
    names = spec.headline_metrics if spec is not None else ()
    table = metrics_table(info.metrics, names)
    blocks: list[object] = []
    line = headline(info, table)
    if line:
        blocks.append(line)
    if not table.empty:
        blocks.append(table)
    blocks.append(
        f"All {len(info.metrics)} metrics of the run (per fold, per epoch, timings) are in its "
        f"MLflow run {info.run_id}."
    )
    return blocks


def _caveat(info: VersionInfo) -> str | None:
    """The run's caveat: its `gridml.caveat` tag, with the text of its caveat.md artifact when
    the tag points to it (never a reference to a file the card does not carry)."""
    tag = info.run_tags.get("gridml.caveat")
    if not tag:
        return None
    if "caveat.md" not in tag:
        return tag
    import mlflow

    short = tag.replace("(see caveat.md)", "").strip()
    try:
        text = mlflow.artifacts.load_text(f"runs:/{info.run_id}/caveat.md").strip()
    except Exception:  # the artifact is gone: the tag alone
        return short
    return f"{short}. {' '.join(text.split())}" if text else short


def _latest_audit(info: VersionInfo) -> dict | None:
    import mlflow

    c = client()
    files = sorted(
        a.path for a in c.list_artifacts(info.run_id, "audit") if a.path.endswith("json")
    )
    for path in reversed(files):
        record = json.loads(mlflow.artifacts.load_text(f"runs:/{info.run_id}/{path}"))
        if (
            record.get("evaluation")
            and record.get("to_version") == info.version
            and record.get("outcome") != "unchanged"  # a concurrent job's no-op
        ):
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


def segment_table(segments: dict[str, list[dict]]) -> pd.DataFrame:
    """kind, segment, n, then one column per scored model: only the (kind, segment) pairs the
    evaluation scored (no invented combinations), no row without a value."""
    rows = [{"model": who, **r} for who, recs in segments.items() for r in recs or []]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows)
    keys = ["kind", "segment"]
    wide = frame.set_index([*keys, "model"])["value"].unstack("model").dropna(how="all")
    n = frame.groupby(keys, sort=False)["n"].max().rename("n")
    table = pd.concat([n, wide], axis=1, join="inner")
    order = frame[keys].drop_duplicates().itertuples(index=False, name=None)
    return table.reindex([k for k in order if k in table.index]).reset_index()


def sections(
    info: VersionInfo, plots: list[Path], evaluation: dict | None, caveat: str | None = None
) -> list[Section]:
    """The card's content (pure given its inputs)."""
    tags = info.run_tags
    model = info.name
    spec = model_spec(model)
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
        Section("Intended use", [spec.intended_use if spec is not None else "not documented"]),
        Section("Training data", [data]),
        Section("Training-run metrics (held-out periods of the training pipeline)", []),
    ]
    out[-1].blocks += _metrics_blocks(info)
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
        scores = pd.DataFrame(ev["scores"]).dropna(how="all")
        seg.blocks.append(scores.reset_index(names="metric"))
        table = segment_table(ev["segments"])
        if not table.empty:
            seg.blocks.append(table)
        seg.blocks.append(pd.DataFrame(evaluation["gates"])[["gate", "kind", "passed", "detail"]])
    out.append(seg)
    if plots:
        out.append(Section("Plots", list(plots)))
    caveats = list(spec.limits if spec is not None else ())
    if caveat:
        caveats.append(caveat)
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
    secs = sections(info, plots, _latest_audit(info), _caveat(info))
    title = f"Model card: {model} v{version}"
    md, page = folder / "card.md", folder / "card.html"
    write_text_atomic(md, to_markdown(title, secs, base=folder))
    write_text_atomic(page, to_html(title, secs))
    if log_to_run:
        c = client()
        c.log_artifact(info.run_id, str(md), "card")
        c.log_artifact(info.run_id, str(page), "card")
    return Card(md, page, secs)
