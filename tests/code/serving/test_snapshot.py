"""Which FeatureService lists the service's series: read from the served models, not hard-coded."""

from __future__ import annotations

import pytest

from gridml.errors import UserError
from gridml.serving.snapshot import series_service


def test_series_come_from_the_service_keyed_by_series_id() -> None:
    assert series_service() == "demand_forecast_v1"  # the built-in specs' demand model
    served = ["asset_failure_v1", "demand_forecast_v1", "theft_detection_v1"]
    assert series_service(served) == "demand_forecast_v1"
    assert series_service(["asset_failure_v1", "theft_detection_v1"]) is None
    assert series_service(["a_plugin_service_v1"]) is None  # not a service of this repo


def test_two_series_services_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from gridml.features.store import definitions

    monkeypatch.setitem(definitions.SERVICES, "demand_forecast_v9", {"load_hourly": None})
    with pytest.raises(UserError, match="several"):
        series_service(["demand_forecast_v1", "demand_forecast_v9"])
