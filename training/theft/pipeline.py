"""`gridml train theft`: Wide & Deep CNN and LightGBM baseline, tracked and registered.

Thin wiring over the library: samples (Feast `theft_detection_v1` + daily kWh windows) -> labels
-> split by meter and time -> fit both models -> evaluate on held-out meters/days -> MLflow run
(params, per-epoch curves, metrics `wide_deep.*` / `lightgbm.*`, PR and calibration plots,
lineage, a caveat about synthetic attacks) -> Wide & Deep pyfunc registered as
`theft-detection@challenger`.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gridml.features.contracts import THEFT_ATTACKS
from gridml.models.builtin import THEFT
from gridml.training import tracking
from gridml.training.classification import pr_plot, reliability_plot
from gridml.training.run import RunSettings
from gridml.training.theft import dataset
from gridml.training.theft.config import TheftConfig
from gridml.training.theft.metrics import evaluate
from gridml.training.theft.models import LightGBMTheft, WideDeepTheft
from gridml.training.theft.pyfunc import log_theft_model
from gridml.workspace import Workspace

CAVEAT = (
    "The attacks in this zone are synthetic (injected by the zone generator with known shapes "
    "and start days): they are easier to detect than real theft, whose patterns are varied, "
    "adaptive and whose labels come from imperfect inspections. Treat these metrics as an upper "
    "bound and as a regression check, not as the expected field performance."
)
REFERENCE_ROWS = 2000


class TheftRunConfig(RunSettings):
    """`gridml train theft`: the model config plus where the run and the model go. The registered
    name is written once: the experiment and the run name default to it (training/run.py)."""

    REGISTERED_DEFAULT = THEFT.name

    model: TheftConfig = TheftConfig()


@dataclass
class TheftRun:
    run_id: str
    model_uri: str
    version: int
    metrics: dict[str, float] = field(default_factory=dict)  # "wide_deep.pr_auc", "data.*"
    history: list[dict[str, float]] = field(default_factory=list)  # Wide & Deep per epoch
    models: dict[str, object] = field(default_factory=dict)  # fitted: wide_deep, lightgbm
    cutoff: pd.Timestamp | None = None  # test scoring days are after it


def lineage_frame(samples: dataset.TheftSamples) -> pd.DataFrame:
    """The keys, labels and features of the samples (the run's logged dataset)."""
    meta = samples.meta[["meter_id", "transformer_id", "event_timestamp", "label"]]
    return pd.concat([meta.reset_index(drop=True), samples.features], axis=1)


def data_metrics(**parts: dataset.TheftSamples) -> dict[str, float]:
    """`data.<part>.samples` and `data.<part>.positives` of each labelled part, and
    `data.<part>.meters_<attack>`: its thieves of each attack type (distinct meters: the
    samples of one thief are not independent evidence)."""
    out = {}
    for name, part in parts.items():
        out[f"data.{name}.samples"] = float(len(part))
        out[f"data.{name}.positives"] = float(part.labels.sum())
        thieves = part.meta[part.meta["label"] == 1]
        meters = thieves.groupby("attack_type")["meter_id"].nunique()
        for a in THEFT_ATTACKS:
            out[f"data.{name}.meters_{a}"] = float(meters.get(a, 0))
    return out


def train_theft(cfg: TheftRunConfig, ws: Workspace) -> TheftRun:
    """Train, evaluate and log the theft models in one MLflow run; the run's results."""
    import mlflow

    m = cfg.model
    tracking.configure(cfg.tracking, ws)
    t0 = time.perf_counter()
    samples, parts = dataset.labelled_split(ws, m)
    train, val, test = (samples.take(i) for i in (parts.train, parts.val, parts.test))
    y = test.labels
    with mlflow.start_run(run_name=m.name) as run:
        mlflow.set_tags(
            {
                "gridml.task": THEFT.name,
                "gridml.caveat": "synthetic attacks: easier than real theft (see caveat.md)",
                "gridml.split_cutoff": str(parts.cutoff),
            }
        )
        mlflow.log_text(CAVEAT + "\n", "caveat.md")
        counts = data_metrics(train=train, val=val, test=test)
        mlflow.log_metrics(counts)
        fitted: dict[str, object] = {}
        scores: dict[str, np.ndarray] = {}
        metrics: dict[str, float] = {}
        for name, cls in (("wide_deep", WideDeepTheft), ("lightgbm", LightGBMTheft)):
            start = time.perf_counter()
            model = cls(m).fit(train, val)
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            scores[name] = model.predict_proba(test)
            result = evaluate(
                y,
                scores[name],
                attack=test.meta["attack_type"].to_numpy(),
                budgets=m.budgets,
                k=m.map_k,
                groups=test.meta["event_timestamp"].to_numpy(),
            )
            result["fit_seconds"] = fit_s
            result["predict_seconds"] = time.perf_counter() - start
            metrics |= {f"{name}.{k}": float(v) for k, v in result.items()}
            fitted[name] = model
        mlflow.log_metrics({k: v for k, v in metrics.items() if v == v})  # drop NaN
        wide_deep: WideDeepTheft = fitted["wide_deep"]  # type: ignore[assignment]
        for row in wide_deep.history:  # per-epoch curves
            mlflow.log_metrics(
                {
                    "wide_deep.epoch.train_loss": row["train_loss"],
                    "wide_deep.epoch.val_pr_auc": row["val_pr_auc"],
                },
                step=int(row["epoch"]),
            )
        booster = fitted["lightgbm"].booster  # type: ignore[attr-defined]
        mlflow.log_metric("lightgbm.best_iteration", float(booster.best_iteration))
        mlflow.set_tag(
            "gridml.curves",
            "wide_deep: per-epoch train loss and validation PR-AUC (steps); lightgbm: final "
            "values only (no per-round history is recorded by the model)",
        )

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            curves = {name: (y, s) for name, s in scores.items()}
            title = "held-out meters and days"
            pr_plot(curves, out / "pr_curve.png", f"Precision-recall, {title}")
            reliability_plot(curves, out / "calibration.png", f"Calibration, {title}", "theft")
            pd.DataFrame(wide_deep.history).to_csv(out / "wide_deep_history.csv", index=False)
            pd.Series(metrics, name="value").rename_axis("metric").to_csv(out / "metrics.csv")
            mlflow.log_artifacts(str(out), artifact_path="evaluation")

        tracking.log_lineage(
            cfg,
            feature_service=m.feature_service,
            training_frame=lineage_frame(train),
            dataset_name="theft_training",
            targets="label",
        )
        honest = np.flatnonzero(train.labels == 0)
        rng = np.random.default_rng(m.seed)
        if len(honest) > REFERENCE_ROWS:
            honest = np.sort(rng.choice(honest, REFERENCE_ROWS, replace=False))
        uri = log_theft_model(wide_deep, test, train.take(honest))
        version = tracking.register(
            uri, cfg.registered_model, "challenger", tags={"run_id": run.info.run_id}
        )
        mlflow.log_metric("total_seconds", time.perf_counter() - t0)
    return TheftRun(
        run.info.run_id,
        uri,
        version,
        metrics | counts,
        list(wide_deep.history),
        fitted,
        parts.cutoff,
    )
