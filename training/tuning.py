"""What every `gridml tune <model>` shares: the study, its storage, the MLflow runs, the output.

A model's tune module loads its data once, defines a search space and an objective, and hands
them to `run_search` as a `Search`. The shared part:

Storage and resuming
    The study lives in `StudyConfig.storage`, by default `sqlite:///<workspace>/optuna.db`. A
    study of the same name is resumed (`load_if_exists`): `trials` more trials are added to it
    and the best trial is taken over the whole study. The SQLite default is for one process.
    For parallel workers, run several `gridml tune <model>` with the same `--study-name` and a
    storage made for it: `journal:<path>` (an Optuna JournalStorage log file, several processes
    on one host) or an RDB URL such as `postgresql://user@host/db` (workers on several hosts).
    Never share the SQLite file between processes running at the same time. Workers started
    together see the same number of trials, so give each its own `--sampler-seed` (otherwise
    they draw the same random start-up trials).

Sampling and pruning
    TPE, seeded with the model config's seed plus the trials the study already holds (a resumed
    study does not replay its first random trials). Models whose objective has intermediate
    values (backtest folds, training epochs) report them through `TrialReporter.report` and use
    `median_pruner`; the others pass `optuna.pruners.NopPruner()`.

Tracking
    One MLflow parent run `tune-<task>` per invocation (study name and storage as tags, the best
    parameters and value, the tuned config as an artifact, plus what the model logs: lineage,
    reference metrics), and one child run per trial (`trial-<number>`, opened by `trial_run`)
    with its parameters, per-step metrics and its state (`optuna.state`: COMPLETE or PRUNED).

Output
    The model's run config with the best parameters in place (`Search.tuned_config`), written
    to `StudyConfig.output` under a comment header: `gridml train <task> --config <output>`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import optuna
import yaml
from pydantic import Field

from gridml.config import BaseConfig
from gridml.errors import UserError
from gridml.training import tracking
from gridml.workspace import Workspace

log = logging.getLogger(__name__)

JOURNAL_PREFIX = "journal:"
TAG_STUDY = "optuna.study_name"
TAG_STORAGE = "optuna.storage"
TAG_TRIAL = "optuna.trial_number"
TAG_STATE = "optuna.state"
DIGEST_ATTR = "gridml.objective_digest"


class StudyConfig(BaseConfig):
    """How to search: budget, where the study lives, where the tuned config goes. Each model's
    tune config derives from it and sets its own study name and output."""

    trials: int = Field(20, ge=1, description="Trials to run in this invocation.")
    storage: str | None = Field(
        None,
        description="Optuna storage: an RDB URL (sqlite:///..., postgresql://...) or "
        "journal:<path> (JournalStorage file, parallel workers on one host). "
        "None: sqlite:///<workspace>/optuna.db (one process only).",
    )
    study_name: str = Field(min_length=1)
    timeout_s: int | None = Field(
        None, ge=1, description="Stop starting new trials after this many seconds."
    )
    n_startup_trials: int = Field(
        5,
        ge=0,
        description="Trials before the median pruner prunes (also the random trials TPE starts "
        "with).",
    )
    n_warmup_steps: int = Field(
        0, ge=0, description="Steps (folds, epochs) of a trial before it may be pruned."
    )
    sampler_seed: int | None = Field(
        None,
        description="Seed of the TPE sampler. None: the model config's seed + the number of "
        "trials already in the study (a resumed study does not replay its first trials). Give "
        "each parallel worker its own.",
    )
    output: Path

    def storage_url(self, ws: Workspace) -> str:
        return self.storage or f"sqlite:///{Path(ws.root).absolute() / 'optuna.db'}"


@dataclass
class TuneResult:
    best_params: dict[str, Any]  # the tuned config fields of the best trial
    best_value: float  # its objective
    n_trials: int  # trials in the study (resumed ones included)
    n_pruned: int  # pruned trials in the study
    output_path: Path  # the tuned run config (YAML)
    parent_run_id: str  # MLflow run `tune-<task>` of this invocation


def make_storage(url: str) -> str | optuna.storages.BaseStorage:
    """An Optuna storage for `url`: `journal:<path>` -> JournalStorage, else the RDB URL."""
    if url.startswith(JOURNAL_PREFIX):
        path = Path(url.removeprefix(JOURNAL_PREFIX).removeprefix("//")).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend

        backend = JournalFileBackend(str(path))
        return optuna.storages.JournalStorage(backend)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///").split("?", 1)[0]).parent.mkdir(
            parents=True, exist_ok=True
        )
    return url


def redact(url: str) -> str:
    """The storage URL without its password (for logs and MLflow tags)."""
    if url.startswith(JOURNAL_PREFIX) or "@" not in url:
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: hide everything before the host
        return "***@" + url.rsplit("@", 1)[1]


def objective_digest(relevant: Mapping[str, Any]) -> str:
    """A short hash of what the objective depends on besides the tuned parameters (data window,
    splits, budgets...): a study resumed under another digest mixes incomparable trials."""
    text = json.dumps(dict(relevant), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def median_pruner(tune: StudyConfig) -> optuna.pruners.MedianPruner:
    """Optuna's median pruner with the study config's start-up trials and warm-up steps."""
    return optuna.pruners.MedianPruner(
        n_startup_trials=tune.n_startup_trials, n_warmup_steps=tune.n_warmup_steps
    )


class TrialReporter:
    """Logs a trial's intermediate values to its child run and to Optuna; prunes."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.steps = 0
        self.best: float | None = None

    def report(self, value: float, step: int, metrics: Mapping[str, float] | None = None) -> None:
        """Log `metrics` and the objective so far at `step`; raise `optuna.TrialPruned` when the
        study's pruner stops the trial there."""
        import mlflow

        mlflow.log_metrics(dict(metrics or {}) | {"objective_so_far": value}, step=step)
        self.trial.report(value, step=step)
        self.steps += 1
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at step {step}: {value:.4f}")

    def report_best(self, value: float, step: int, metrics: Mapping[str, float]) -> None:
        """`report` the best value so far (maximised), for a fit that keeps its best epoch."""
        self.best = value if self.best is None else max(self.best, value)
        self.report(self.best, step, metrics)

    def complete(self, value: float) -> None:
        import mlflow

        mlflow.log_metric("objective", value)


@contextlib.contextmanager
def trial_run(
    trial: optuna.Trial, study_name: str, params: Mapping[str, Any]
) -> Iterator[TrialReporter]:
    """The child MLflow run `trial-<number>` of one trial (params, state tag, fit seconds), under
    the active parent run. A pruned trial's run ends FINISHED with `optuna.state` PRUNED, then
    `optuna.TrialPruned` propagates to Optuna."""
    import mlflow

    t0 = time.perf_counter()
    tags = {TAG_STUDY: study_name, TAG_TRIAL: str(trial.number)}
    pruned: optuna.TrialPruned | None = None
    reporter = TrialReporter(trial)
    with mlflow.start_run(run_name=f"trial-{trial.number}", nested=True, tags=tags) as run:
        trial.set_user_attr("mlflow_run_id", run.info.run_id)
        mlflow.log_params(tracking.flatten_params(params))
        try:
            yield reporter
        except optuna.TrialPruned as exc:
            pruned = exc
        mlflow.log_metric("fit_seconds", time.perf_counter() - t0)
        mlflow.set_tag(TAG_STATE, "PRUNED" if pruned else "COMPLETE")
    log.debug(  # Optuna logs each trial at INFO already
        "trial %d: %s after %d step(s) in %.1f s",
        trial.number,
        pruned or "complete",
        reporter.steps,
        time.perf_counter() - t0,
    )
    if pruned is not None:
        raise pruned


@dataclass
class Search:
    """One model's search, handed to `run_search`."""

    task: str  # "demand", "maintenance", "theft": run `tune-<task>`, `gridml train <task>`
    title: str  # what is tuned, for the output's header: "demand-forecast, LightGBM"
    objective_label: str  # what the objective is: "feeder P50 MASE, mean over 3 folds"
    direction: Literal["minimize", "maximize"]
    objective: Callable[[optuna.Trial], float]
    pruner: optuna.pruners.BasePruner
    seed: int  # the model config's seed (the sampler's seed before resuming)
    digest: str  # objective_digest of what the objective depends on
    tuned_config: Callable[[dict[str, Any]], BaseConfig]  # best params -> run config
    log_parent: Callable[[], None] = field(default=lambda: None)  # lineage, reference metrics


def open_study(
    search: Search, tune: StudyConfig, storage: str | optuna.storages.BaseStorage
) -> optuna.Study:
    """Create or resume the study; seed its sampler past the trials it holds; warn when it was
    run with another objective."""
    study = optuna.create_study(
        storage=storage,
        study_name=tune.study_name,
        direction=search.direction,
        load_if_exists=True,
        pruner=search.pruner,
    )
    existing = len(study.trials)
    seed = tune.sampler_seed if tune.sampler_seed is not None else search.seed + existing
    study.sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=tune.n_startup_trials)
    previous = study.user_attrs.get(DIGEST_ATTR)
    if previous is None:
        study.set_user_attr(DIGEST_ATTR, search.digest)
    elif previous != search.digest:
        log.warning(
            "study %r was run with another data window, split or objective (digest %s, now %s): "
            "its trials are not comparable with the new ones; use another --study-name",
            tune.study_name,
            previous,
            search.digest,
        )
    return study


def write_tuned(
    tuned: BaseConfig, tune: StudyConfig, search: Search, best: optuna.trial.FrozenTrial, total: int
) -> Path:
    """The tuned run config as YAML at `tune.output`, under a header saying where it comes from."""
    output = Path(tune.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tuned.write_yaml(output)
    header = (
        f"# {search.title} tuned by `gridml tune {search.task}`: study {tune.study_name!r}, "
        f"trial {best.number} of {total},\n# objective ({search.objective_label}) "
        f"{best.value:.4f}.\n# Train it: gridml train {search.task} --config {output}\n"
    )
    output.write_text(header + output.read_text())
    return output


def run_search(search: Search, tune: StudyConfig, ws: Workspace) -> TuneResult:
    """Run `tune.trials` trials of `search` under one parent run; write the tuned config.

    Call it after `tracking.configure` and after loading the data (the objective closes over
    it)."""
    import mlflow

    t0 = time.perf_counter()
    storage_url = tune.storage_url(ws)
    study = open_study(search, tune, make_storage(storage_url))
    with mlflow.start_run(run_name=f"tune-{search.task}") as parent:
        mlflow.set_tags(
            {
                "gridml.task": f"{search.task}-tune",
                TAG_STUDY: tune.study_name,
                TAG_STORAGE: redact(storage_url),
            }
        )
        search.log_parent()
        mlflow.log_params(
            tracking.flatten_params(
                tune.model_dump(mode="json") | {"storage": redact(storage_url)}, prefix="tune."
            )
        )
        ran: list[int] = []
        study.optimize(
            search.objective,
            n_trials=tune.trials,
            timeout=tune.timeout_s,
            callbacks=[lambda _study, trial: ran.append(trial.number)],
        )

        states = [t.state for t in study.trials]
        n_pruned = states.count(optuna.trial.TrialState.PRUNED)
        try:
            best = study.best_trial
            best_value = float(study.best_value)
        except ValueError:
            raise UserError(
                f"no trial of study {tune.study_name!r} completed ({n_pruned} pruned, "
                f"{states.count(optuna.trial.TrialState.FAIL)} failed): see the log"
            ) from None
        best_params = dict(best.params)
        tuned = search.tuned_config(best_params)
        output = write_tuned(tuned, tune, search, best, len(study.trials))

        mlflow.log_params({f"best.{k}": v for k, v in best_params.items()})
        mlflow.set_tag("optuna.best_trial", str(best.number))
        mlflow.log_metrics(
            {
                "best_value": best_value,
                "n_trials": len(study.trials),
                "n_trials_run": len(ran),
                "n_pruned": n_pruned,
                "total_seconds": time.perf_counter() - t0,
            }
        )
        mlflow.log_text(
            yaml.safe_dump(tuned.model_dump(mode="json"), sort_keys=False), "tuned.yaml"
        )

    log.info(
        "study %r: best %.4f (trial %d) over %d trials, %d pruned; wrote %s",
        tune.study_name,
        best.value,
        best.number,
        len(study.trials),
        n_pruned,
        output,
    )
    return TuneResult(
        best_params=best_params,
        best_value=best_value,
        n_trials=len(study.trials),
        n_pruned=n_pruned,
        output_path=output,
        parent_run_id=parent.info.run_id,
    )
