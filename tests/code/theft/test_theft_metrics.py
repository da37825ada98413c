"""Theft metrics on tiny hand-computed arrays."""

from __future__ import annotations

import math

import pytest

from gridml.training.theft import metrics as m

Y = [1, 0, 1, 0, 0]
S = [0.9, 0.8, 0.7, 0.2, 0.1]  # ranking: 1, 0, 1, 0, 0


def test_roc_auc_counts_ordered_pairs():
    # positives 0.9 and 0.7 beat 3 and 2 of the 3 negatives: 5/6
    assert m.roc_auc(Y, S) == pytest.approx(5 / 6)
    assert m.roc_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert math.isnan(m.roc_auc([1, 1], [0.2, 0.3]))


def test_pr_auc_is_average_precision():
    # hits at ranks 1 and 3: (1/1 + 2/3) / 2
    assert m.pr_auc(Y, S) == pytest.approx((1 + 2 / 3) / 2)


def test_precision_and_recall_at_budget():
    assert m.precision_at_budget(Y, S, 0.2) == pytest.approx(1.0)  # top 1 of 5
    assert m.precision_at_budget(Y, S, 0.6) == pytest.approx(2 / 3)  # top 3
    assert m.recall_at_budget(Y, S, 0.4) == pytest.approx(0.5)  # top 2 hold 1 of 2
    assert m.top_k(1000, 0.01) == 10 and m.top_k(5, 0.01) == 1


def test_map_at_k():
    assert m.map_at_k(Y, S, k=2) == pytest.approx(1 / 2)  # one hit in top 2, min(2, 2) = 2
    groups = ["a", "a", "b", "b", "b"]
    # list a: [1, 0] -> AP 1; list b: [1, 0, 0] -> AP 1
    assert m.map_at_k(Y, S, k=100, groups=groups) == pytest.approx(1.0)


def test_recall_by_attack():
    attack = ["h1", "", "h2", "", ""]
    by_threshold = m.recall_by_attack(Y, S, attack, threshold=0.75)
    assert by_threshold["h1"] == 1.0 and by_threshold["h2"] == 0.0
    assert math.isnan(by_threshold["h3"])
    by_budget = m.recall_by_attack(Y, S, attack, budget=0.6)
    assert by_budget["h1"] == 1.0 and by_budget["h2"] == 1.0


def test_evaluate_names():
    out = m.evaluate(Y, S, ["h1", "", "h2", "", ""], budgets=(0.01, 0.05))
    assert {"roc_auc", "pr_auc", "map_at_100", "precision_at_1pct", "precision_at_5pct"} <= set(out)
    assert out["recall_h1"] == 1.0


def test_at_theft_share_inspects_as_many_meters_as_there_are_thieves():
    out = m.at_theft_share(Y, S, ["h1", "", "h2", "", ""])
    # 2 thieves in 5: the top 2 are inspected, [1, 0]: one thief found
    assert out["theft_share"] == pytest.approx(0.4)
    assert out["precision_at_share"] == pytest.approx(0.5)
    assert out["recall_at_share"] == pytest.approx(0.5)
    assert out["recall_h1_at_share"] == 1.0 and out["recall_h2_at_share"] == 0.0
    assert math.isnan(out["recall_h3_at_share"])  # no h3 thief: unknown, not 0
    perfect = m.at_theft_share([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], ["", "h5", "", "h5"])
    assert perfect["precision_at_share"] == 1.0 and perfect["recall_h5_at_share"] == 1.0


def test_at_theft_share_without_thieves_is_nan():
    out = m.at_theft_share([0, 0, 0], [0.3, 0.2, 0.1], ["", "", ""])
    assert math.isnan(out["precision_at_share"]) and math.isnan(out["recall_h1_at_share"])


def test_evaluate_reports_the_theft_share_budget():
    out = m.evaluate(Y, S, ["h1", "", "h2", "", ""])
    assert out["precision_at_share"] == pytest.approx(0.5)
    assert out["recall_h2_at_share"] == 0.0
