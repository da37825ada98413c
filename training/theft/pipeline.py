"""`gridml train theft`: Wide & Deep CNN and LightGBM baseline, tracked and registered.

Thin wiring over the library: samples (Feast `theft_detection_v1` + daily kWh windows) -> labels
-> split by meter and time -> both families fitted on each validation fold (`cross_fit`) ->
evaluated on held-out meters/days -> MLflow run (params, per-epoch curves, metrics
`wide_deep.*` / `lightgbm.*` / `served.*`, PR and calibration plots, lineage, a caveat about
synthetic attacks) -> the family with the higher out-of-fold validation PR-AUC (a tie: Wide &
Deep) logged as a pyfunc and registered as `theft-detection@challenger`, the version and the
run tagged `gridml.family` with it.
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
from gridml.models.registry import TAG_FAMILY
from gridml.training import tracking
from gridml.training.classification import pr_plot, reliability_plot
from gridml.training.run import RunSettings
from gridml.training.theft import dataset
from gridml.training.theft.config import TheftConfig
from gridml.training.theft.metrics import evaluate
from gridml.training.theft.models import CrossFitted, choose_family, cross_fit
from gridml.training.theft.pyfunc import log_theft_model
from gridml.workspace import Workspace

CAVEAT = (
    "The attacks in this zone are synthetic (injected by the zone generator with known shapes "
    "and start days): they are easier to detect than real theft, whose patterns are varied, "
    "adaptive and whose labels come from imperfect inspections. Treat these metrics as an upper "
    "bound and as a regression check, not as the expected field performance."
)
REFERENCE_ROWS = 2000
SERVED = "served"  # metric prefix: the registered family's held-out metrics, copied


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
    # "wide_deep.pr_auc", "lightgbm.*", "served.*" (the registered family's), "data.*"
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)  # Wide & Deep per fold+epoch
    models: dict[str, CrossFitted] = field(default_factory=dict)  # fitted: wide_deep, lightgbm
    cutoff: pd.Timestamp | None = None  # test scoring days are after it
    family: str = "wide_deep"  # the family registered (chosen by validation PR-AUC)


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
    fit_idx = np.unique(np.concatenate([f for f, _ in parts.folds]))
    train, val, test = (samples.take(i) for i in (fit_idx, parts.validated, parts.test))
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
        fitted: dict[str, CrossFitted] = {}
        scores: dict[str, np.ndarray] = {}
        metrics: dict[str, float] = {}
        for name in ("wide_deep", "lightgbm"):
            start = time.perf_counter()
            model = cross_fit(name, m, samples, parts.folds)
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
            result["validation_pr_auc"] = model.validation_pr_auc
            metrics |= {f"{name}.{k}": float(v) for k, v in result.items()}
            fitted[name] = model
        served = choose_family(list(fitted.values()), preferred=THEFT.served_model or "")
        metrics |= {
            f"{SERVED}.{k.partition('.')[2]}": v
            for k, v in metrics.items()
            if k.startswith(f"{served.name}.")
        }
        metrics[f"{SERVED}.family_wide_deep"] = float(served.name == "wide_deep")
        mlflow.set_tag(TAG_FAMILY, served.name)
        mlflow.set_tag(
            "gridml.family_choice",
            f"{served.name} serves: out-of-fold validation PR-AUC "
            + ", ".join(f"{f.name} {f.validation_pr_auc:.4f}" for f in fitted.values())
            + f" over {len(parts.folds)} validation fold(s) of the training meters",
        )
        mlflow.log_metrics({k: v for k, v in metrics.items() if v == v})  # drop NaN
        wide_deep = fitted["wide_deep"]
        for row in wide_deep.history:  # per-epoch curves, one series per fold
            k = int(row.get("fold", 0))
            mlflow.log_metrics(
                {
                    f"wide_deep.fold{k}.epoch.train_loss": row["train_loss"],
                    f"wide_deep.fold{k}.epoch.val_pr_auc": row["val_pr_auc"],
                },
                step=int(row["epoch"]),
            )
        best = [
            getattr(getattr(g, "booster", None), "best_iteration", 0)
            for g in fitted["lightgbm"].members
        ]
        mlflow.log_metric("lightgbm.best_iteration", float(np.mean(best)))
        mlflow.set_tag(
            "gridml.curves",
            "wide_deep: per-epoch train loss and validation PR-AUC of each fold's model "
            "(steps); lightgbm: the mean best iteration of its fold models only",
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
        uri = log_theft_model(served, test, train.take(honest))
        version = tracking.register(
            uri,
            cfg.registered_model,
            "challenger",
            tags={"run_id": run.info.run_id, TAG_FAMILY: served.name},
        )
        mlflow.log_metric("total_seconds", time.perf_counter() - t0)
    return TheftRun(
        run.info.run_id,
        uri,
        version,
        metrics | counts,
        list(wide_deep.history),
        dict(fitted),
        parts.cutoff,
        served.name,
    )
