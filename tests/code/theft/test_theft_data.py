"""Theft samples: labels kept out of the features, split by customer and by time."""

from __future__ import annotations

import numpy as np
import pytest

from gridml.features.contracts import THEFT_LABELS
from gridml.training.theft.dataset import LABEL_COLUMNS

# the medium zone's feature tables and Feast store (theft_ws): integration, slow
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_features_carry_no_label_columns(theft_features):
    label_cols = (set(THEFT_LABELS.columns) - {"meter_id"}) | set(LABEL_COLUMNS)
    assert not label_cols & set(theft_features.features.columns)
    assert not label_cols & set(theft_features.meta.columns)
    assert "kwh_change_7d_28d" in theft_features.features
    assert theft_features.raw.shape[1] == 56


def test_sequences_are_a_weeks_by_7_grid(theft_features):
    grid = theft_features.grid()
    assert grid.shape == (len(theft_features), 2, 8, 7)
    series, mask = theft_features.sequences()
    assert np.isfinite(series).all() and set(np.unique(mask)) <= {0.0, 1.0}


def test_split_by_customer_and_time(theft_samples, theft_split):
    meta = theft_samples.meta
    train_m = set(meta["meter_id"].iloc[np.r_[theft_split.train, theft_split.val]])
    test_m = set(meta["meter_id"].iloc[theft_split.test])
    assert train_m and test_m and not train_m & test_m
    train_days = meta["event_timestamp"].iloc[np.r_[theft_split.train, theft_split.val]]
    assert meta["event_timestamp"].iloc[theft_split.test].min() > train_days.max()
    assert theft_samples.labels[theft_split.test].sum() > 0


def test_labels_follow_theft_start(theft_samples, theft_cfg):
    meta = theft_samples.meta
    pos = meta[meta["label"] == 1]
    assert set(pos["attack_type"]) <= {"h1", "h2", "h3", "h4", "h5", "h6"}
    assert (meta.loc[meta["label"] == 0, "attack_type"] == "").all()


def test_a_zone_too_short_for_the_split_is_named(theft_samples, theft_cfg):
    import pytest

    from gridml.errors import MissingDataError
    from gridml.training.theft.dataset import split

    days = theft_samples.meta["event_timestamp"].nunique()
    too_long = theft_cfg.model_copy(update={"test_days": 10 * days})
    with pytest.raises(MissingDataError, match=r"theft split: no samples for fit \(fold 1\)"):
        split(theft_samples, too_long)
