"""bench/run_risk.py: the goal verdicts and the pyfunc input it times (no training here)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from gridml.features.contracts import THEFT_ATTACKS
from gridml.training.maintenance.config import MaintenanceConfig
from gridml.training.maintenance.pipeline import input_example

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def run_risk(monkeypatch):
    """bench/ is a folder of scripts run from the repository root, not an installed package."""
    monkeypatch.syspath_prepend(str(ROOT))
    return importlib.import_module("bench.run_risk")


def theft_result(wd: dict, lgb_pr_auc: float = 0.9) -> dict:
    base = {"roc_auc": 0.95, "pr_auc": 0.95, "precision_at_share": 0.8}
    base |= {f"recall_{a}_at_share": 0.9 for a in THEFT_ATTACKS}
    return {"metrics": {"wide_deep": base | wd, "lightgbm": {"pr_auc": lgb_pr_auc}}}


def verdicts(items: list[dict]) -> list[bool | None]:
    return [item["met"] for item in items]


def test_theft_goals_all_met(run_risk):
    assert verdicts(run_risk.theft_goals(theft_result({}))) == [True] * 4


def test_theft_goals_fail_on_the_weakest_attack_and_on_the_baseline(run_risk):
    res = theft_result({"recall_h3_at_share": 0.5, "pr_auc": 0.85})
    met = verdicts(run_risk.theft_goals(res))
    assert met == [False, True, True, False]


def test_theft_goals_ignore_attack_types_absent_from_test(run_risk):
    res = theft_result({"recall_h5_at_share": None})
    assert verdicts(run_risk.theft_goals(res))[3] is True


def maintenance_result(fit_positives: int, **net) -> dict:
    cnn = {"pr_auc": 0.6, "recall_at_budget": 0.6, "median_lead_days": 10.0} | net
    return {
        "architecture": "cnn",
        "alert_budget": 0.05,
        "data": {"fit_positives": fit_positives, "failures_total": 2},
        "metrics": {"cnn": cnn, "lightgbm": {"pr_auc": 0.5}},
    }


def test_maintenance_goals(run_risk):
    assert verdicts(run_risk.maintenance_goals(maintenance_result(10))) == [True] * 3
    low = maintenance_result(10, recall_at_budget=0.5, median_lead_days=None)
    assert verdicts(run_risk.maintenance_goals(low)) == [True, False, None]


def test_maintenance_goals_not_measurable_without_training_failures(run_risk):
    items = run_risk.maintenance_goals(maintenance_result(0))
    assert verdicts(items) == [None] and "not measurable" in items[0]["shown"]


def test_window_frame_is_the_pipelines_pyfunc_input(run_risk):
    """The benchmark times the pyfunc on the same input layout training logs as its example."""
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=40, freq="D", tz="UTC")
    data = SimpleNamespace(
        cube=rng.normal(size=(3, 40, 2)).astype(np.float32),
        days=days,
        features=["a", "b"],
        transformers=["T1", "T2", "T3"],
    )
    cfg = MaintenanceConfig(window_days=10)
    frame = run_risk.window_frame(data, 39, 10)
    expected = input_example(data, cfg, 3)
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    early = run_risk.window_frame(data, 4, 10)  # fewer days than the window exist
    assert len(early) == 3 * 5 and early["event_timestamp"].max() == days[4].tz_localize(None)


def test_help_and_clean(run_risk):
    with pytest.raises(SystemExit) as exit_:
        run_risk.parse_args(["--help"])
    assert exit_.value.code == 0
    assert run_risk.clean({"a": float("nan"), "b": np.float32(1.5)}) == {"a": None, "b": 1.5}


def test_render_puts_both_models_side_by_side(run_risk):
    from rich.console import Console

    tp = {
        "pyfunc": {"rows_per_s": 100.0, "torch_threads": 2},
        "pyfunc_1thread": {"rows_per_s": 400.0},
        "baseline": {"rows_per_s": 1000.0},
        "ratio": 0.1,
        "ratio_1thread": 0.4,
    }
    theft = theft_result({"samples": 10.0, "positives": 1.0, "fit_seconds": 3.0})
    theft["metrics"]["data"] = {f"test.meters_{a}": 5.0 for a in THEFT_ATTACKS}
    maint = maintenance_result(10, failures=9.0, failures_alerted=6.0)
    maint["data"] |= {
        "transformers": 300,
        "failures_test": 9,
        "valid_positives": 2,
        "test_positives": 3,
    }
    results = {
        "machine": {
            "cores": 2,
            "cpu": "cpu",
            "ram_gib": 1.0,
            "python": "3.11",
            "versions": {"torch": "2"},
        },
        "loadavg": {"start": [1.0, 1.0, 1.0]},
        "theft": theft | {"zone": "default zone", "throughput": tp},
        "maintenance": [maint | {"zone": "fleet zone", "throughput": tp}],
    }
    console = Console(width=250, record=True)
    tables = run_risk.render(results)
    for table in tables:
        console.print(table)
    text = console.export_text()
    assert len(tables) == 3
    assert "Wide & Deep" in text and "LightGBM" in text and "1-D CNN" in text
    assert "h3 5" in text  # thieves per attack type in the caption
    assert "6 / 9" in text  # failures alerted / in test
    assert "0.40" in text  # the one-thread throughput ratio
