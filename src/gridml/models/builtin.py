"""The platform's models, each described once. A new model is a new spec (here, or in
any module named in `$GRIDML_MODEL_SPECS`) and its code; nothing else needs an edit."""

from __future__ import annotations

from gridml.models.spec import ModelSpec

DEMAND = ModelSpec(
    name="demand-forecast",
    task="demand",
    feature_service="demand_forecast_v1",
    run_config="gridml.training.demand.config:DemandConfig",
    trainer="gridml.training.demand.pipeline:train_demand",
    evaluator="gridml.mlops.eval_demand:DemandEvaluator",
    summary="Forecast hourly demand of transformers, feeders, substations and the zone.",
    train_help=(
        "Runs a rolling-origin backtest of the seasonal naive, profile, Prophet and LightGBM "
        "models on the hours each forecast delivers (config `issue`: by default issued 10:00 "
        "local for the next local day; MASE, pinball, coverage by level, segment and lead "
        "time), measures bottom-up and MinT reconciliation, trains the final LightGBM quantile "
        "model (sizes `auto` by default, conformally calibrated P10/P90) through the "
        "FeatureService demand_forecast_v1, logs everything to MLflow (with every backtest "
        "forecast as Parquet and the worst days plotted) and registers it as "
        "demand-forecast@challenger. A configured model or level without a score is named with "
        "the reason."
    ),
    train_report="gridml.cli.train:report_demand",
    holdout_field="holdout_days",
    live="gridml.mlops.live:live_demand",
    live_threshold="max_mase",
    endpoint="demand",
    endpoint_factory="gridml.serving.endpoints:demand",
    serving_method="forecast",
    intended_use=(
        "Day-ahead hourly load forecasts (P10/P50/P90, kWh) of transformers, feeders, "
        "substations and the zone, issued at each local midnight, for operations planning, "
        "load-shedding schedules and energy purchase. Not for meter-level billing."
    ),
    limits=(
        "Hours under load shedding or outage are unserved demand: masked in training and "
        "scoring; the forecast is the unconstrained demand.",
        "Temperature enters as a forecast (simulated error growing with the horizon); a real "
        "weather-forecast feed with larger errors will widen the error.",
        "Trained on the zone's history only: new customers, tariffs or large loads are unknown "
        "until they show in the load series.",
    ),
    headline_metrics=("mase", "mase_vs_naive", "pinball", "coverage"),
    primary_metric="mase",
    baseline_model="seasonal_naive",
    served_model="lightgbm",
)

MAINTENANCE = ModelSpec(
    name="asset-failure",
    task="maintenance",
    feature_service="asset_failure_v1",
    run_config="gridml.training.maintenance.pipeline:MaintenanceRunConfig",
    trainer="gridml.training.maintenance.pipeline:train_maintenance",
    evaluator="gridml.mlops.eval_failure:FailureEvaluator",
    summary="Predict transformer failures within the horizon from daily feature sequences.",
    train_help=(
        "Fits a PyTorch sequence model (1-D CNN or GRU) and a LightGBM baseline on "
        "FeatureService asset_failure_v1, evaluates both on the held-out period (PR-AUC, "
        "ROC-AUC, precision and recall at the weekly alert budget, lead time, false alarms per "
        "100 transformer-years), logs everything to MLflow and registers the sequence model as "
        "asset-failure@challenger."
    ),
    train_report="gridml.cli.train:report_maintenance",
    live="gridml.mlops.live:live_failure",
    endpoint="maintenance",
    endpoint_factory="gridml.serving.endpoints:maintenance",
    serving_method="risk",
    intended_use=(
        "Ranks distribution transformers by the probability of failing within the horizon, "
        "for a weekly inspection/maintenance list within an alert budget. It supports, and "
        "does not replace, the engineers' judgement and DGA/inspection standards."
    ),
    limits=(
        "Failures are rare: PR-AUC and precision carry wide uncertainty on a small fleet.",
        "Telemetry gaps and units out of service are masked; a unit without telemetry is scored "
        "from its daily aggregates alone.",
    ),
    headline_metrics=(
        "pr_auc",
        "roc_auc",
        "precision_at_budget",
        "recall_at_budget",
        "median_lead_days",
        "false_alarms_per_100_years",
    ),
    primary_metric="pr_auc",
    baseline_model="lightgbm",
    served_model=None,  # the config's model.architecture (cnn or gru)
)

THEFT = ModelSpec(
    name="theft-detection",
    task="theft",
    feature_service="theft_detection_v1",
    run_config="gridml.training.theft.pipeline:TheftRunConfig",
    trainer="gridml.training.theft.pipeline:train_theft",
    evaluator="gridml.mlops.eval_theft:TheftEvaluator",
    summary="Detect electricity theft: Wide & Deep CNN and a LightGBM baseline.",
    train_help=(
        "Builds (meter, scoring day) samples from the FeatureService theft_detection_v1 and "
        "the daily kWh series, splits by meter and by time, evaluates both models on held-out "
        "meters and days (ROC-AUC, PR-AUC, precision at inspection budgets, MAP@100, recall "
        "per attack type), logs everything to MLflow and registers the family with the higher "
        "out-of-fold validation PR-AUC (a tie: Wide & Deep) as theft-detection@challenger, "
        "tagged gridml.family."
    ),
    train_report="gridml.cli.train:report_theft",
    live="gridml.mlops.live:live_theft",
    endpoint="theft",
    endpoint_factory="gridml.serving.endpoints:theft",
    serving_method="score",
    intended_use=(
        "Ranks meters by the probability of electricity theft, with reason codes, to choose "
        "which meters field teams inspect within a budget. A score is a lead, never evidence: "
        "no customer action without an inspection."
    ),
    limits=(
        "The attacks in a synthetic zone are injected with known shapes: easier to detect than "
        "real theft. Treat synthetic metrics as an upper bound.",
        "Labels from inspections are biased towards meters that were inspected.",
    ),
    headline_metrics=("roc_auc", "pr_auc", "precision_at_share", "precision_at_5pct", "map_at_100"),
    primary_metric="pr_auc",
    baseline_model="lightgbm",
    served_model="wide_deep",  # versions without a gridml.family tag; a tie of the choice
)

RESTORATION = ModelSpec(
    name="outage-restoration",
    task="restoration",
    feature_service="outage_restoration_v1",  # no Feast service yet: rows from the outages table
    run_config="gridml.training.restoration.pipeline:RestorationRunConfig",
    trainer="gridml.training.restoration.pipeline:train_restoration",
    evaluator="gridml.training.restoration.pipeline:RestorationEvaluator",
    summary="Predict the restoration time (P10/P50/P90) of an unplanned outage at detection.",
    train_help=(
        "Builds one row per unplanned outage at its detection time (kind of fault, hour, rain, "
        "asset age, customers, open outages in the region; outages open at the end of the data "
        "right-censored), fits LightGBM P10/P50/P90 on log hours with censoring weights, "
        "calibrates the band conformally on a time-ordered split, scores the last days against "
        "the Kaplan-Meier median by kind, logs to MLflow and registers "
        "outage-restoration@challenger."
    ),
    train_report="gridml.training.restoration.pipeline:report",
    intended_use=(
        "Estimated time of restoration (P10/P50/P90, hours) of an unplanned outage, at its "
        "detection and re-estimated as it goes on, for customer messages and crew dispatch."
    ),
    limits=(
        "Rural/urban and feeder length drive restoration in the simulator but are not in the "
        "feeds: the model sees them only through customers and transformers below the node.",
        "Few outages per zone: the held-out metrics of a small zone carry wide uncertainty.",
    ),
    headline_metrics=("mae", "mae_vs_baseline", "coverage"),
    primary_metric="mae",
    baseline_model="kaplan_meier",
    served_model="lightgbm",
)

SPECS = (DEMAND, MAINTENANCE, THEFT, RESTORATION)
