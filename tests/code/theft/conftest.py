"""The medium zone with its feature tables and Feast store, and theft samples built from it."""

from __future__ import annotations

import pytest

from gridml.training.theft import dataset
from gridml.training.theft.config import TheftConfig, WideDeepConfig
from gridml.workspace import Workspace


@pytest.fixture(scope="session")
def theft_cfg() -> TheftConfig:
    return TheftConfig(
        wide_deep=WideDeepConfig(epochs=12, batch_size=256, lr=3e-3, patience=4),
    )


@pytest.fixture(scope="session")
def theft_ws(medium_store: Workspace) -> Workspace:
    return medium_store


@pytest.fixture(scope="session")
def theft_features(theft_ws: Workspace, theft_cfg: TheftConfig) -> dataset.TheftSamples:
    """Feature-only samples, built while the labels folder is out of reach."""
    hidden = theft_ws.labels.with_name("labels-hidden")
    theft_ws.labels.rename(hidden)
    try:
        return dataset.build_samples(theft_ws, theft_cfg)
    finally:
        hidden.rename(theft_ws.labels)


@pytest.fixture(scope="session")
def theft_samples(theft_ws, theft_cfg, theft_features) -> dataset.TheftSamples:
    return dataset.attach_labels(theft_features, dataset.read_labels(theft_ws), theft_cfg)


@pytest.fixture(scope="session")
def theft_split(theft_samples, theft_cfg) -> dataset.Split:
    return dataset.split(theft_samples, theft_cfg)


@pytest.fixture(scope="session")
def wide_deep(theft_samples, theft_split, theft_cfg):
    import torch

    from gridml.training.theft.models import WideDeepTheft

    torch.set_num_threads(4)
    train, val = theft_samples.take(theft_split.train), theft_samples.take(theft_split.val)
    return WideDeepTheft(theft_cfg).fit(train, val)
