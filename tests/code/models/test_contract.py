"""A model's contract: round trip through the MLflow metadata dict, the served-features check
naming what lacks, and older versions read through their python model."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gridml.models.contract import CONTRACT_KEY, ModelContract, ModelContractError, read

CONTRACT = ModelContract(
    feature_service="demand_forecast_v2",
    entity="series_id",
    features=("load_001h_ago", "load_mean_168h"),
    outputs=("series_id", "horizon", "yhat", "q10", "q90"),
    horizon_hours=48,
    quantiles=(0.1, 0.5, 0.9),
)


def test_the_contract_survives_the_metadata_round_trip() -> None:
    assert ModelContract.from_dict(CONTRACT.to_dict()) == CONTRACT
    with pytest.raises(ModelContractError, match="feature_service"):
        ModelContract.from_dict({"entity": "x", "features": [], "outputs": []})


def test_a_feature_the_service_lacks_is_named() -> None:
    CONTRACT.check_served({"load_001h_ago", "load_mean_168h", "other"})
    lacking = r"demand_forecast_v2 does not serve .* load_mean_168h"
    with pytest.raises(ModelContractError, match=lacking):
        CONTRACT.check_served(["load_001h_ago"])


def test_read_prefers_the_metadata_then_the_python_model() -> None:
    class Legacy:
        def contract(self) -> ModelContract:
            return CONTRACT

    logged = SimpleNamespace(metadata=SimpleNamespace(metadata={CONTRACT_KEY: CONTRACT.to_dict()}))
    assert read(logged) == CONTRACT
    older = SimpleNamespace(metadata=SimpleNamespace(metadata=None), unwrap_python_model=Legacy)
    assert read(older) == CONTRACT
    bare = SimpleNamespace(metadata=SimpleNamespace(metadata={}), unwrap_python_model=object)
    with pytest.raises(ModelContractError, match="no gridml_contract"):
        read(bare)
