"""The --tracking-uri flag overrides a run config's tracking URI, and only that."""

from __future__ import annotations

from gridml.cli.train import with_tracking_uri
from gridml.training.demand.config import DemandConfig
from gridml.training.tracking import TrackingConfig


def test_tracking_uri_flag_overrides_only_the_uri() -> None:
    cfg = DemandConfig(tracking=TrackingConfig(experiment="x"))
    out = with_tracking_uri(cfg, "postgresql://db/mlflow")
    assert out.tracking.tracking_uri == "postgresql://db/mlflow"
    assert out.tracking.experiment == "x" and out.horizon_hours == cfg.horizon_hours
    assert with_tracking_uri(cfg, None) is cfg
