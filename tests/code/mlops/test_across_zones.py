"""The summary maths of the evaluation protocol across zones (gridml.mlops.across_zones)."""

from __future__ import annotations

import json
import math
import statistics

import pandas as pd
import pytest
from pydantic import ValidationError

from gridml.config import ConfigError
from gridml.mlops.across_zones import (
    AcrossZonesConfig,
    AcrossZonesReport,
    ZoneResult,
    by_model,
    check_seeds,
    format_summary,
    issue_goals,
    long_frame,
    maintenance_metrics,
    summarise,
    theft_counts,
    theft_metrics,
    write_report,
    zone_seeds,
)


def _zone(seed: int, **values: float | None) -> ZoneResult:
    return ZoneResult(seed=seed, metrics={"wide_deep": dict(values)})


def test_mean_std_and_worst_seed_of_a_higher_is_better_metric() -> None:
    zones = [_zone(101, pr_auc=0.9), _zone(102, pr_auc=0.7), _zone(103, pr_auc=0.8)]
    s = summarise(zones)["wide_deep"]["pr_auc"]
    assert s.mean == pytest.approx(0.8)
    assert s.std == pytest.approx(statistics.stdev([0.9, 0.7, 0.8]))  # sample std: 0.1
    assert s.std == pytest.approx(0.1)
    assert (s.worst, s.worst_seed, s.n, s.missing) == (0.7, 102, 3, 0)
    assert s.values == {101: 0.9, 102: 0.7, 103: 0.8}


def test_worst_of_a_lower_is_better_metric_is_its_highest_value() -> None:
    zones = [
        _zone(101, false_alarms_per_100_years=250.0),
        _zone(102, false_alarms_per_100_years=300.0),
    ]
    s = summarise(zones)["wide_deep"]["false_alarms_per_100_years"]
    assert (s.worst, s.worst_seed) == (300.0, 102)


def test_a_zone_without_the_metric_is_left_out_and_counted() -> None:
    zones = [_zone(101, recall_h3_at_share=0.5), _zone(102, recall_h3_at_share=None)]
    s = summarise(zones)["wide_deep"]["recall_h3_at_share"]
    assert (s.mean, s.std, s.n, s.missing, s.worst_seed) == (0.5, None, 1, 1, 101)
    none = summarise([_zone(101, recall_h3_at_share=None)])["wide_deep"]["recall_h3_at_share"]
    assert (none.mean, none.worst, none.n, none.missing) == (None, None, 0, 1)
    assert format_summary(none) == "-"


def test_theft_metrics_per_model_with_the_lowest_attack_recall() -> None:
    flat = {
        "wide_deep.pr_auc": 0.9,
        "wide_deep.recall_h1_at_share": 1.0,
        "wide_deep.recall_h2_at_share": float("nan"),  # no h2 thief in test
        "wide_deep.recall_h3_at_share": 0.4,
        "wide_deep.predict_seconds": 0.1,  # not summarised
        "lightgbm.pr_auc": 0.95,
        "data.test.meters_h1": 3.0,
    }
    out = theft_metrics(flat)
    assert set(out) == {"wide_deep", "lightgbm"}
    assert out["wide_deep"]["recall_h2_at_share"] is None
    assert out["wide_deep"]["lowest_attack_recall_at_share"] == 0.4
    assert "predict_seconds" not in out["wide_deep"]
    assert out["lightgbm"]["lowest_attack_recall_at_share"] is None
    assert theft_counts(flat) == {"test.meters_h1": 3.0}


def test_maintenance_metrics_from_the_runs_table() -> None:
    table = pd.DataFrame(
        [
            {"model": "cnn", "pr_auc": 0.6, "median_lead_days": float("nan"), "epochs": 5},
            {"model": "lightgbm", "pr_auc": 0.5, "median_lead_days": 11.0},
        ]
    )
    out = maintenance_metrics(table)
    assert out["cnn"] == {"pr_auc": 0.6, "median_lead_days": None}
    assert out["lightgbm"]["median_lead_days"] == 11.0


def test_seeds_skip_the_demo_zone_and_refuse_it() -> None:
    assert zone_seeds(5) == [101, 102, 103, 104, 105]
    assert zone_seeds(3, start=41) == [41, 43, 44]
    with pytest.raises(ConfigError, match="42 is the demo zone"):
        check_seeds([101, 42])
    with pytest.raises(ConfigError, match="distinct"):
        check_seeds([101, 101])
    with pytest.raises(ValidationError, match="reserved"):
        AcrossZonesConfig(task="theft", seeds=[42], zone_config="z.yaml", train_config="t")
    with pytest.raises(ConfigError, match="at least 1"):
        zone_seeds(0)


def test_report_is_written_as_json_and_long_parquet(tmp_path) -> None:
    zones = [_zone(101, pr_auc=0.9), _zone(102, pr_auc=float("nan"))]
    report = AcrossZonesReport(
        task="theft",
        seeds=[101, 102],
        zone_config="z.yaml",
        train_config="t.yaml",
        days=None,
        meters=None,
        models=["wide_deep"],
        zones=zones,
        summary=summarise(zones),
    )
    json_path, parquet = write_report(report, tmp_path / "r.json")
    data = json.loads(json_path.read_text())
    assert data["summary"]["wide_deep"]["pr_auc"]["mean"] == pytest.approx(0.9)
    frame = pd.read_parquet(parquet)
    assert list(frame.columns) == ["task", "seed", "model", "metric", "value"]
    assert frame["seed"].tolist() == [101, 102]
    assert math.isnan(frame["value"].iloc[1])
    assert long_frame(report).equals(frame)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.parquet"]  # no temp left


def test_format_summary_shows_mean_spread_and_worst_seed() -> None:
    zones = [_zone(101, pr_auc=0.9), _zone(102, pr_auc=0.7)]
    s = summarise(zones)["wide_deep"]["pr_auc"]
    assert format_summary(s) == "0.800 ± 0.141 (0.700 @102)"
    one = summarise([_zone(101, pr_auc=0.9)])["wide_deep"]["pr_auc"]
    assert format_summary(one, ".2f") == "0.90 (0.90 @101)"


def _report(task: str, zones: list[ZoneResult]) -> AcrossZonesReport:
    return AcrossZonesReport(
        task=task,  # type: ignore[arg-type]
        seeds=[z.seed for z in zones],
        zone_config="z.yaml",
        train_config="t.yaml",
        days=None,
        meters=None,
        models=sorted({m for z in zones for m in z.metrics}, key=lambda m: m == "lightgbm"),
        zones=zones,
        summary=summarise(zones),
    )


def _theft_zone(seed: int, wd_pr: float, lg_pr: float, precision: float, h3: float) -> ZoneResult:
    wd = {"pr_auc": wd_pr, "precision_at_share": precision, "lowest_attack_recall_at_share": h3}
    return ZoneResult(seed=seed, metrics={"wide_deep": wd, "lightgbm": {"pr_auc": lg_pr}})


def test_theft_goals_judge_the_mean_and_the_worst_seed() -> None:
    good = _report(
        "theft", [_theft_zone(101, 0.95, 0.94, 0.9, 0.7), _theft_zone(102, 0.93, 0.94, 0.86, 0.6)]
    )
    assert [g.met for g in issue_goals(good)] == [True, True, True, True]
    # on average ahead, but 0.03 behind on one seed; one seed's precision and h3 recall too low
    bad = _report(
        "theft", [_theft_zone(101, 0.99, 0.90, 0.9, 0.7), _theft_zone(102, 0.91, 0.94, 0.84, 0.5)]
    )
    goals = issue_goals(bad)
    assert [g.met for g in goals] == [True, False, False, False]
    assert goals[1].shown == "-0.030 @102"
    assert goals[3].shown == "0.500 @102"


def test_failure_goals_judge_the_mean() -> None:
    zones = [
        ZoneResult(
            seed=seed,
            metrics={
                "cnn": {"pr_auc": pr, "recall_at_budget": rec, "median_lead_days": lead},
                "lightgbm": {"pr_auc": 0.5},
            },
        )
        for seed, pr, rec, lead in ((101, 0.6, 0.8, 2.0), (102, 0.5, 0.5, 5.0))
    ]
    assert [g.met for g in issue_goals(_report("maintenance", zones))] == [True, True, True]
    one = [ZoneResult(seed=101, metrics={"cnn": {"pr_auc": 0.6}})]
    assert [g.met for g in issue_goals(_report("maintenance", one))] == [None]


def test_cli_refuses_an_unknown_task_and_a_missing_config(tmp_path) -> None:
    from typer.testing import CliRunner

    from gridml.cli.main import app

    runner = CliRunner()
    bad = runner.invoke(app, ["evaluate", "across-zones", "fraud", "--zones", "1"])
    assert bad.exit_code == 2 and "task must be one of theft, maintenance" in bad.output
    args = ["evaluate", "across-zones", "theft", "--zone-config", str(tmp_path / "no.yaml")]
    missing = runner.invoke(app, [*args, "--out", str(tmp_path / "r.json")])
    assert missing.exit_code == 2 and "no.yaml" in missing.output
    assert not (tmp_path / "r.json").exists()


def test_by_model_splits_flat_run_metrics_and_drops_nan() -> None:
    flat = {"wide_deep.pr_auc": 0.9, "lightgbm.pr_auc": float("nan"), "data.test.samples": 10.0}
    assert by_model(flat) == {
        "wide_deep": {"pr_auc": 0.9},
        "lightgbm": {"pr_auc": None},
        "data": {"test.samples": 10.0},
    }
