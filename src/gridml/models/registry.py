"""The MLflow model registry as gridml uses it, in one module: registering a version and
pointing an alias at it, aliases and their champion -> challenger fallback, a version's
lineage (its run's tags and config, read back through an allow-list of the model specs'
run-config classes) and its signature.

MLflow is imported inside the functions (this module sits below training, mlops and serving
and is imported by all three).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml

from gridml.errors import MissingDataError, UserError

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
DEFAULT_ALIASES = (CHAMPION, CHALLENGER)
# lineage a training run records (training/tracking.py writes them; promotion, cards and
# monitoring read them)
TAG_GIT_COMMIT = "gridml.git_commit"
TAG_FEATURE_SERVICE = "gridml.feature_service"
TAG_DATA_DIGEST = "gridml.data_digest"
TAG_DATA_ROWS = "gridml.data_rows"
TAG_CONFIG_CLASS = "gridml.config_class"
TAG_DATA_START = "gridml.data_start"
TAG_DATA_END = "gridml.data_end"
# the model family a version serves (e.g. theft: "wide_deep" or "lightgbm"), on the version
# and on its run, where a pipeline chooses it
TAG_FAMILY = "gridml.family"
CONFIG_ARTIFACT = "config.yaml"


def client() -> Any:
    """An MLflow client of this process's tracking and registry URIs."""
    from mlflow import MlflowClient

    return MlflowClient()


def model_uri(name: str, alias: str) -> str:
    """`models:/name@alias`, the URI MLflow loads a registered model's aliased version from."""
    return f"models:/{name}@{alias}"


def register(
    model_uri: str,
    name: str,
    alias: str = CHALLENGER,
    tags: dict[str, str] | None = None,
    *,
    timeout_s: int = 300,
) -> int:
    """Register `model_uri` as a new version of `name`, wait until READY, point `alias` at it.

    `tags` are set on the version. Returns the version number.
    """
    import mlflow

    mv = mlflow.register_model(model_uri, name, await_registration_for=timeout_s, tags=tags)
    c = client()
    mv = c.get_model_version(name, mv.version)
    if mv.status != "READY":
        raise RuntimeError(
            f"model {name} version {mv.version} is {mv.status}, not READY: {mv.status_message}"
        )
    c.set_registered_model_alias(name, alias, mv.version)
    describe(c, name, int(mv.version), mv.run_id)
    log.info("registered %s version %s as %s (%s)", name, mv.version, alias, model_uri)
    return int(mv.version)


def spec_of(name: str) -> Any | None:
    """The model spec a registered name belongs to: its own, or the spec whose name it extends
    (`demand-forecast-smoke`); None for a name of the user's own."""
    from gridml.models import catalog

    specs = {s.name: s for s in catalog.specs()}
    if name in specs:
        return specs[name]
    extended = [s for n, s in specs.items() if name.startswith(n + "-")]
    return max(extended, key=lambda s: len(s.name)) if extended else None


def headline(metrics: dict[str, float], spec: Any | None, limit: int = 6) -> dict[str, float]:
    """The run's headline metrics, in the spec's order (the served model's first)."""
    if spec is None:
        return {}
    out: dict[str, float] = {}
    for metric in spec.headline_metrics:
        keys = sorted(k for k in metrics if k == metric or k.endswith("." + metric))
        served = [k for k in keys if spec.served_model and k.startswith(spec.served_model + ".")]
        for key in served or keys[:1]:
            out[key] = metrics[key]
    return dict(list(out.items())[:limit])


def version_description(name: str, version: int, run: Any, spec: Any | None) -> str:
    """What a person reading the registry needs about a version: what it is, which run and data
    made it, and its headline metrics (Markdown)."""
    tags = run.data.tags
    what = spec.summary if spec is not None else f"Model {name}"
    run_name = tags.get("mlflow.runName", run.info.run_id)
    lines = [
        f"**{what}** Version {version}, trained by run `{run_name}` ({run.info.run_id}).",
        f"Features: `{tags.get(TAG_FEATURE_SERVICE, 'not recorded')}`; data "
        f"{tags.get(TAG_DATA_START, '?')} .. {tags.get(TAG_DATA_END, '?')}, "
        f"{tags.get(TAG_DATA_ROWS, '?')} rows; git {tags.get(TAG_GIT_COMMIT, 'not recorded')}.",
    ]
    best = headline(run.data.metrics, spec)
    if best:
        lines.append("Held-out: " + ", ".join(f"{k} {v:.4g}" for k, v in best.items()) + ".")
    return "\n\n".join(lines)


def describe(c: Any, name: str, version: int, run_id: str | None) -> None:
    """Write the version's description, the registered model's (its spec's summary) when it
    has none, and the run's (when it has none): the registry and the runs list read as text."""
    spec = spec_of(name)
    model = c.get_registered_model(name)
    if not model.description:
        summary = spec.summary if spec is not None else f"Registered by gridml: {name}"
        c.update_registered_model(name, description=summary)
    if not run_id:
        return
    run = c.get_run(run_id)
    text = version_description(name, version, run, spec)
    c.update_model_version(name, str(version), description=text)
    if not run.data.tags.get("mlflow.note.content"):
        c.set_tag(run_id, "mlflow.note.content", f"Registered as {name} v{version}.\n\n{text}")


def _model(name: str) -> Any | None:
    """The registered model `name`, None when there is none (other errors propagate)."""
    from mlflow.exceptions import MlflowException

    try:
        return client().get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def resolve(name: str, aliases: tuple[str, ...] = DEFAULT_ALIASES) -> tuple[int, str] | None:
    """The first of `aliases` set on registered model `name`: (version, alias); None if none
    (or no such model). Other registry errors propagate."""
    model = _model(name)
    if model is None:
        return None
    for alias in aliases:
        if alias in model.aliases:
            return int(model.aliases[alias]), alias
    return None


def candidates(name: str, aliases: tuple[str, ...] = DEFAULT_ALIASES) -> list[tuple[int, str]]:
    """(version, alias) of each alias set on `name`, in the given order, distinct versions:
    the champion -> challenger fallback order serving loads in."""
    model = _model(name)
    if model is None:
        return []
    found: list[tuple[int, str]] = []
    for alias in aliases:
        if alias in model.aliases:
            version = int(model.aliases[alias])
            if version not in {v for v, _ in found}:
                found.append((version, alias))
    return found


def aliases(name: str) -> dict[str, int]:
    """alias -> version of registered model `name` (MissingDataError when not registered)."""
    model = _model(name)
    if model is None:
        raise MissingDataError(
            f"no registered model {name!r} in this registry: train it first "
            f"(gridml train ...) or check --tracking-uri"
        )
    return {a: int(v) for a, v in model.aliases.items()}


def default_version(name: str) -> int:
    """The champion's version, else the challenger's (MissingDataError when neither is set)."""
    current = aliases(name)
    version = current.get(CHAMPION, current.get(CHALLENGER))
    if version is None:
        raise MissingDataError(f"{name} has no champion or challenger: pass --version")
    return version


def run_id(name: str, version: int) -> str:
    """The training run of a registered version ("" when it has none)."""
    return client().get_model_version(name, str(version)).run_id or ""


def config_classes() -> dict[str, Any]:
    """The allow-list of run-config classes a run's config is read back with: the model
    specs' (`module.Class`, as `tracking.log_lineage` tags it) -> class."""
    from gridml.models import catalog

    return {s.run_config.replace(":", "."): s for s in catalog.specs()}


def load_config(class_path: str, text: str) -> Any:
    """The run's config object from its `config.yaml` and `gridml.config_class` tag; only the
    run-config classes of the model specs are imported (UserError otherwise)."""
    allowed = config_classes()
    if class_path not in allowed:
        raise UserError(
            f"run config class {class_path!r} is not a model spec's run config; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    cls = allowed[class_path].config_class()
    return cls.model_validate(yaml.safe_load(text) or {})


@dataclass
class VersionInfo:
    """One registered version and the lineage of the run that produced it."""

    name: str
    version: int
    run_id: str
    source: str
    aliases: list[str]
    run_tags: dict[str, str]
    version_tags: dict[str, str]
    config: Any  # the run's config object (DemandConfig, MaintenanceRunConfig, ...)
    config_text: str
    metrics: dict[str, float] = field(default_factory=dict)
    start_time_ms: int | None = None

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    def tag_time(self, tag: str) -> pd.Timestamp | None:
        value = self.run_tags.get(tag)
        return pd.Timestamp(value).tz_convert("UTC") if value else None

    @property
    def train_start(self) -> pd.Timestamp | None:
        return self.tag_time(TAG_DATA_START)

    @property
    def train_end(self) -> pd.Timestamp | None:
        return self.tag_time(TAG_DATA_END)

    @property
    def feature_service(self) -> str | None:
        return self.run_tags.get(TAG_FEATURE_SERVICE)

    @property
    def family(self) -> str | None:
        """The model family this version serves, where its pipeline recorded one."""
        return self.version_tags.get(TAG_FAMILY) or self.run_tags.get(TAG_FAMILY)


def version_info(name: str, version: int) -> VersionInfo:
    """The version, its run's tags, metrics and parsed config (UserError names what lacks)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    c = client()
    try:
        mv = c.get_model_version(name, str(version))
    except MlflowException as exc:
        raise UserError(f"{name} has no version {version}") from exc
    if not mv.run_id:
        raise UserError(f"{name} v{version} has no training run: its lineage is unknown")
    run = c.get_run(mv.run_id)
    class_path = run.data.tags.get(TAG_CONFIG_CLASS)
    if not class_path:
        raise UserError(f"{name} v{version}: run {mv.run_id} records no config class (lineage)")
    text = mlflow.artifacts.load_text(f"runs:/{mv.run_id}/{CONFIG_ARTIFACT}")
    return VersionInfo(
        name=name,
        version=int(mv.version),
        run_id=mv.run_id,
        source=mv.source,
        aliases=list(mv.aliases),
        run_tags=dict(run.data.tags),
        version_tags=dict(mv.tags),
        config=load_config(class_path, text),
        config_text=text,
        metrics=dict(run.data.metrics),
        start_time_ms=run.info.start_time,
    )


def signature_columns(uri: str) -> tuple[dict[str, str] | None, list[str] | None]:
    """(input column -> type, output columns) of a logged model's signature (None if absent)."""
    from mlflow.models import get_model_info

    sig = get_model_info(uri).signature
    if sig is None or sig.inputs is None:
        return None, None
    inputs = {c["name"]: c["type"] for c in sig.inputs.to_dict() if "name" in c}
    outputs = [c["name"] for c in sig.outputs.to_dict() if "name" in c] if sig.outputs else None
    return inputs, outputs


def frame_schema(frame: pd.DataFrame) -> dict[str, str]:
    """column -> MLflow type name of a frame (what serving sends, as MLflow would infer it)."""
    from mlflow.models import infer_signature

    return {c["name"]: c["type"] for c in infer_signature(frame).inputs.to_dict()}
