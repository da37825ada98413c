"""FeatureService lookups name what is wrong (features/store/definitions.py)."""

from __future__ import annotations

import pytest

from gridml.errors import UserError
from gridml.features.store.definitions import service_join_keys


def test_an_unknown_feature_service_is_named_with_the_known_ones() -> None:
    assert service_join_keys("asset_failure_v1") == ["transformer_id"]
    with pytest.raises(UserError, match=r"unknown FeatureService 'nope'; known: demand_forecast"):
        service_join_keys("nope")
