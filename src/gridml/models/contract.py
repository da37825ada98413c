"""What a logged model promises its caller, carried by the model itself.

Each pyfunc is logged with `metadata={CONTRACT_KEY: contract.to_dict()}` (MLflow model
metadata, in its MLmodel file): the FeatureService it was trained through, the features it
reads from it, its outputs and its layout parameters (horizon, quantiles, window lengths).
Serving reads the contract when it loads a version (`read`), checks the FeatureService serves
every feature (a missing one refuses the version at load time) and reads that FeatureService,
never the training code's internals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CONTRACT_KEY = "gridml_contract"


class ModelContractError(ValueError):
    """A model without a usable contract, or one the feature store cannot honour."""


@dataclass(frozen=True)
class ModelContract:
    feature_service: str  # FeatureService name (and version: `<name>_v<N>`)
    entity: str  # the join key the model is asked about (transformer_id, meter_id, series_id)
    features: tuple[str, ...]  # FeatureService features the model reads (served by name)
    outputs: tuple[str, ...]  # columns of its output frame
    horizon_hours: int | None = None  # forecasts: the longest horizon trained
    quantiles: tuple[float, ...] = ()  # forecasts: the quantiles served
    window_days: int | None = None  # sequence models: days of features per prediction
    history_days: int | None = None  # daily-history models: days of daily kWh per prediction
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["features"], out["outputs"] = list(self.features), list(self.outputs)
        out["quantiles"] = list(self.quantiles)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelContract:
        try:
            return cls(
                feature_service=str(data["feature_service"]),
                entity=str(data["entity"]),
                features=tuple(data["features"]),
                outputs=tuple(data["outputs"]),
                horizon_hours=data.get("horizon_hours"),
                quantiles=tuple(float(q) for q in data.get("quantiles") or ()),
                window_days=data.get("window_days"),
                history_days=data.get("history_days"),
                extra=dict(data.get("extra") or {}),
            )
        except (KeyError, TypeError) as exc:
            raise ModelContractError(f"model contract lacks or mistypes {exc}") from None

    def check_served(self, served: set[str] | list[str]) -> None:
        """ModelContractError naming the features the FeatureService does not serve."""
        missing = [f for f in self.features if f not in set(served)]
        if missing:
            shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise ModelContractError(
                f"FeatureService {self.feature_service} does not serve the model's input "
                f"feature(s) {shown}"
            )


def read(model: Any) -> ModelContract:
    """The contract of a loaded `mlflow.pyfunc.PyFuncModel`: its metadata, else (a version
    logged before contracts existed) what its python model reports through `contract()`."""
    meta = getattr(getattr(model, "metadata", None), "metadata", None) or {}
    if CONTRACT_KEY in meta:
        return ModelContract.from_dict(meta[CONTRACT_KEY])
    try:
        inner = model.unwrap_python_model()
    except Exception:  # not a python-function model
        inner = None
    legacy = getattr(inner, "contract", None)
    if callable(legacy):
        return legacy()
    raise ModelContractError(f"the model carries no {CONTRACT_KEY} metadata")
