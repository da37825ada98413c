"""Model card tables: only what was measured (no invented segment rows, no rows of NaN, a few
headline metrics rather than every metric of the run)."""

from __future__ import annotations

import math

from gridml.mlops.card import metrics_table, segment_table
from gridml.mlops.report import Section, to_markdown

THEFT_RUN = {
    "wide_deep.roc_auc": 0.97,
    "wide_deep.pr_auc": 0.91,
    "wide_deep.precision_at_share": 0.88,
    "wide_deep.recall_h1": 1.0,
    "wide_deep.fit_seconds": 7.7,
    "lightgbm.roc_auc": 0.99,
    "lightgbm.pr_auc": 0.89,
    "data.train.rows": 1200.0,
    "data.test.positives": 30.0,
    "wide_deep.epoch.train_loss": 0.2,
}


def test_metrics_table_keeps_headline_metrics_of_models_only() -> None:
    table = metrics_table(THEFT_RUN, ("roc_auc", "pr_auc", "precision_at_share"))
    assert list(table.columns) == ["model", "roc_auc", "pr_auc", "precision_at_share"]
    assert set(table["model"]) == {"wide_deep", "lightgbm"}  # no "data", no epoch curve
    assert table.set_index("model").loc["wide_deep", "pr_auc"] == 0.91


def test_metrics_table_by_level_for_demand() -> None:
    run = {
        "lightgbm.feeder.mase": 0.54,
        "lightgbm.zone.mase": 0.43,
        "seasonal_naive.feeder.mase": 0.94,
        "reconciliation.mint.feeder.mase": 0.53,
        "lightgbm.fit_seconds": 30.0,
    }
    table = metrics_table(run, ("mase", "coverage"))
    assert list(table.columns) == ["model", "level", "mase"]  # no empty coverage column
    assert len(table) == 3 and "reconciliation" not in set(table["model"])


def test_segment_table_has_only_scored_pairs_and_no_nan_rows() -> None:
    segments = {
        "challenger": [
            {"kind": "segment", "segment": "commercial", "value": 0.8, "n": 120},
            {"kind": "region_id", "segment": "R1", "value": 0.7, "n": 300},
        ],
        "champion": [
            {"kind": "segment", "segment": "commercial", "value": 0.75, "n": 120},
            {"kind": "region_id", "segment": "R1", "value": float("nan"), "n": 300},
        ],
        "baseline": [],
    }
    table = segment_table(segments)
    pairs = list(zip(table["kind"], table["segment"], strict=True))
    assert pairs == [("segment", "commercial"), ("region_id", "R1")]  # no (region_id, commercial)
    text = to_markdown("card", [Section("s", [table])])
    assert "nan" not in text and "| region_id | R1 | 300 | 0.7 | - |" in text


def test_a_segment_scored_by_nobody_is_dropped() -> None:
    segments = {"challenger": [{"kind": "segment", "segment": "x", "value": math.nan, "n": 3}]}
    assert segment_table(segments).empty


def test_headline_sets_the_served_model_against_its_baseline() -> None:
    from gridml.mlops.card import headline
    from gridml.models import catalog
    from gridml.models.registry import VersionInfo

    info = VersionInfo(
        "theft-detection", 1, "r", "s", [], {}, {}, None, "", metrics=dict(THEFT_RUN)
    )
    line = headline(info, metrics_table(THEFT_RUN, catalog.get("theft-detection").headline_metrics))
    assert line is not None and "wide_deep 0.91; against lightgbm 0.89" in line
