"""MLOps of gridml: promotion gates, champion/challenger aliases, rollback, audit trail, model
cards, scheduled retraining, and monitoring (data drift, live accuracy).

Modules: `config` (typed promotion/monitoring configs), `gates` (pure gate functions),
`evaluate` with `eval_demand`, `eval_failure`,
`eval_theft` (champion vs challenger on the same hold-out, one evaluator per model, named by
its spec in `gridml.models`), `promote` (assess, then commit the alias move under a lock;
rollback), `audit`, `card`, `retrain`, `drift` (PSI, KS), `live` (accuracy as outcomes
arrive), `monitor` and `monitor_report` (the check, its report and MLflow run), `report`
(Markdown/HTML rendering). The registry (aliases, lineage, run configs read back) is
`gridml.models.registry`.
"""

__all__: list[str] = []
