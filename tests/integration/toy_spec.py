"""A toy model's spec, defined outside the package: the proof that adding a model is writing
its spec and its code (toy_model.py), nothing more. `GRIDML_MODEL_SPECS=toy_spec` (with this
folder on PYTHONPATH) adds it to `gridml train | promote | card | serve`."""

from __future__ import annotations

from gridml.models.spec import ModelSpec

TOY = ModelSpec(
    name="toy-loading",
    task="toy",
    feature_service="asset_failure_v1",
    run_config="toy_model:ToyConfig",
    trainer="toy_model:train_toy",
    evaluator="toy_model:ToyEvaluator",
    summary="Toy: a transformer's peak loading from its mean loading and the temperature.",
    train_report="toy_model:report",
    holdout_field="holdout_days",
    live=None,
    endpoint="toy",
    endpoint_factory="toy_model:ToyEndpoint",
    serving_method="predict",
    intended_use="Tests only: proves a new model needs no edit of a shared module.",
    limits=("A linear fit of one feature on two others.",),
    headline_metrics=("mae", "rows"),
    primary_metric="mae",
    baseline_model="mean_loading",
    served_model="linear",
)
