"""Every source module is exercised by a test: imported by one directly, or listed below with
the tests that exercise it through another module (and those tests must exist). A new module
that no test imports fails here until it gets a test or an entry that says how it is covered."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "src/gridml": "gridml",
    "features": "gridml.features",
    "training": "gridml.training",
    "serving": "gridml.serving",
}
# module -> (tests that exercise it, how)
THROUGH: dict[str, tuple[tuple[str, ...], str]] = {
    "gridml.cli.common": (("tests/integration/test_cli_pipeline.py",), "every CLI command"),
    "gridml.cli.data": (("tests/integration/test_cli_pipeline.py",), "gridml data ..."),
    "gridml.cli.evaluate": (("tests/code/mlops/test_across_zones.py",), "its refusals"),
    "gridml.cli.features": (("tests/integration/test_cli_pipeline.py",), "gridml features"),
    "gridml.cli.mlops": (("tests/integration/test_mlops_exit_codes.py",), "promote, monitor"),
    "gridml.cli.outages": (("tests/code/outage/test_on_zone.py",), "gridml outages detect"),
    "gridml.cli.serve": (("tests/integration/test_serving.py",), "gridml serve (subprocess)"),
    "gridml.cli.tune": (("tests/integration/test_tune_demand.py",), "gridml tune"),
    "gridml.features.feature_repo.feast_cli_objects": (
        ("tests/integration/test_feature_store.py",),
        "the same build_definitions the feast CLI entry calls",
    ),
    "gridml.features.simulator.calendar": (("tests/code/simulator/",), "generate_zone"),
    "gridml.features.simulator.consumption": (("tests/code/simulator/",), "generate_zone"),
    "gridml.features.simulator.hierarchy": (("tests/code/simulator/",), "generate_zone"),
    "gridml.features.simulator.outages": (("tests/code/simulator/",), "generate_zone"),
    "gridml.features.simulator.vends": (("tests/code/simulator/",), "generate_zone"),
    "gridml.features.simulator.weather": (("tests/code/simulator/",), "generate_zone"),
    "gridml.features.tables.load": (("tests/code/features/test_load_tables.py",), "build"),
    "gridml.features.tables.meter": (("tests/code/features/test_incremental_build.py",), "build"),
    "gridml.features.tables.transformer": (
        ("tests/model/test_maintenance_behaviour.py",),
        "build_tables",
    ),
    "gridml.logs": (("tests/integration/test_cli_pipeline.py",), "the CLI's logging set-up"),
    "gridml.mlops.eval_failure": (("tests/integration/test_mlops_promotion.py",), "evaluators"),
    "gridml.mlops.eval_theft": (("tests/integration/test_mlops_theft.py",), "evaluators"),
    "gridml.mlops.monitor_report": (("tests/integration/test_mlops_monitor.py",), "monitor"),
    "gridml.models.layout": (("tests/integration/test_serving.py",), "training and serving"),
    "gridml.serving.dashboard.app": (("tests/integration/test_dashboard.py",), "in Chromium"),
    "gridml.serving.ops_routes": (("tests/integration/test_dashboard.py",), "top-N, ids, actuals"),
    "gridml.serving.demand_endpoint": (("tests/integration/test_serving.py",), "the service"),
    "gridml.serving.endpoints": (("tests/integration/test_toy_model.py",), "endpoint factories"),
    "gridml.serving.errors": (("tests/integration/test_serving_hardening.py",), "error bodies"),
    "gridml.serving.metrics": (("tests/integration/test_serving_hardening.py",), "/metrics"),
    "gridml.serving.risk_endpoints": (("tests/integration/test_serving.py",), "the service"),
    "gridml.serving.schema": (("tests/integration/test_serving_hardening.py",), "fuzzing"),
    "gridml.stream.replay": (("tests/integration/test_stream.py",), "gridml stream replay"),
    "gridml.training.classification": (("tests/integration/test_theft_pipeline.py",), "metrics"),
    "gridml.training.demand.calendar": (("tests/model/test_demand_victoria.py",), "features"),
    "gridml.training.demand.models": (("tests/integration/test_demand_pipeline.py",), "backtest"),
    "gridml.training.demand.plots": (("tests/integration/test_demand_pipeline.py",), "run plots"),
    "gridml.training.demand.pyfunc": (("tests/integration/test_serving.py",), "served model"),
}


def source_modules() -> list[str]:
    found = []
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__" or (folder == "src/gridml" and parts[0] in PACKAGES):
                continue
            found.append(".".join((package, *parts)))
    return sorted(found)


def imported_by_tests(module: str, tests: str) -> bool:
    parent, name = module.rsplit(".", 1)
    return module in tests or bool(
        re.search(rf"from {re.escape(parent)} import [^\n]*\b{name}\b", tests)
    )


def test_every_module_is_tested_or_says_how() -> None:
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    modules = source_modules()
    untested = [m for m in modules if not imported_by_tests(m, tests) and m not in THROUGH]
    assert not untested, f"no test imports these and THROUGH does not say how: {untested}"
    stale = [m for m in THROUGH if m not in modules]
    assert not stale, f"THROUGH names modules that no longer exist: {stale}"
    for module, (paths, _how) in THROUGH.items():
        for path in paths:
            assert (ROOT / path).exists(), f"{module}: {path} does not exist"
