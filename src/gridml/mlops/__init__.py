"""MLOps of gridml: promotion gates, champion/challenger aliases, rollback, audit trail, model
cards, scheduled retraining, and monitoring (data drift, live accuracy).

Modules: `config` (typed promotion/monitoring configs), `gates` (pure gate functions),
`registry` (what a registered version records), `evaluate` and `eval_*` (champion vs
challenger on the same hold-out, one evaluator per model), `promote` (alias moves under a
lock), `audit`, `card`, `retrain`, `drift` (PSI, KS), `monitor` (reports, alerts).
"""

__all__: list[str] = []
