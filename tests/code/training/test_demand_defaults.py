"""The `auto` settings of the demand LightGBM follow the size of the training set."""

from __future__ import annotations

import pytest
import yaml

from gridml.config import ConfigError
from gridml.training.demand import defaults
from gridml.training.demand.config import DemandConfig, LightGBMConfig


def test_a_few_series_keep_every_row_and_hundreds_are_sampled_to_the_budget() -> None:
    cfg = DemandConfig()
    one_series_year = 1 * 365 * 48
    assert defaults.train_sample(cfg, one_series_year) == 1.0
    many = 300 * 365 * 48
    share = defaults.train_sample(cfg, many)
    assert share < 0.1
    assert share * many == pytest.approx(defaults.ROW_BUDGET)


def test_an_explicit_share_is_used_as_given() -> None:
    cfg = DemandConfig(train_sample=0.15)
    assert defaults.train_sample(cfg, 10) == 0.15


def test_leaf_sizes_grow_with_the_rows_within_their_bounds() -> None:
    params = LightGBMConfig()
    tiny = defaults.booster_settings(params, 2_000, can_stop_early=True)
    small = defaults.booster_settings(params, 17_000, can_stop_early=True)
    middle = defaults.booster_settings(params, 35_000, can_stop_early=True)
    large = defaults.booster_settings(params, 200_000, can_stop_early=True)
    assert tiny.num_leaves < small.num_leaves == large.num_leaves
    assert small.min_data_in_leaf == defaults.MIN_LEAF_ROWS
    assert large.min_data_in_leaf == defaults.MAX_LEAF_ROWS
    assert small.min_data_in_leaf < middle.min_data_in_leaf < large.min_data_in_leaf


def test_trees_follow_a_fixed_budget_of_row_rounds() -> None:
    params = LightGBMConfig()
    small = defaults.booster_settings(params, 17_000, can_stop_early=True)
    middle = defaults.booster_settings(params, 100_000, can_stop_early=True)
    large = defaults.booster_settings(params, 2_000_000, can_stop_early=True)
    assert small.n_estimators == defaults.MAX_ROUNDS
    assert middle.n_estimators == defaults.ROUND_BUDGET // 100_000
    assert large.n_estimators == defaults.MIN_ROUNDS


def test_auto_rounds_stop_early_only_with_a_validation_window() -> None:
    params = LightGBMConfig()
    stop = defaults.booster_settings(params, 5_000, can_stop_early=True)
    assert stop.early_stopping and 0 < stop.patience < stop.n_estimators
    fixed = defaults.booster_settings(params, 5_000, can_stop_early=False)
    assert not fixed.early_stopping and fixed.n_estimators == stop.n_estimators


def test_explicit_numbers_are_kept() -> None:
    params = LightGBMConfig(n_estimators=77, num_leaves=9, min_data_in_leaf=123)
    s = defaults.booster_settings(params, 1_000_000, can_stop_early=True)
    assert (s.n_estimators, s.num_leaves, s.min_data_in_leaf, s.early_stopping) == (
        77,
        9,
        123,
        False,
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"lightgbm": {"num_leaves": 2}}, "num_leaves"),
        ({"lightgbm": {"n_estimators": "many"}}, "n_estimators"),
        ({"train_sample": 1.5}, "train_sample"),
    ],
)
def test_bad_sizes_are_refused_naming_the_field(raw: dict, field: str) -> None:
    with pytest.raises((ConfigError, ValueError), match=field):
        DemandConfig.model_validate(raw)


def test_the_shipped_config_is_auto_and_yaml_times_parse() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    cfg = DemandConfig.read_yaml(root / "experiments" / "demand.yaml")
    assert cfg.train_sample == "auto" and cfg.lightgbm.n_estimators == "auto"
    assert cfg.issue.time.hour == 10
    unquoted = DemandConfig.model_validate(yaml.safe_load("issue: {time: 10:30}"))
    assert (unquoted.issue.time.hour, unquoted.issue.time.minute) == (10, 30)
