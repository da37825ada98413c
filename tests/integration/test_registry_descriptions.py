"""A registered version describes itself in the MLflow registry: what the model is (its spec's
summary), the run and data that made it, and its headline metrics, served model's first; the
run gets the same note. Real MLflow (SQLite tracking store and registry)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gridml.models import registry

pytestmark = pytest.mark.integration


@pytest.fixture
def mlflow_store(tmp_path: Path, clean_mlflow: None) -> Iterator[object]:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_registry_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("descriptions")
    yield mlflow


def test_version_run_and_model_are_described(mlflow_store) -> None:
    import mlflow
    import mlflow.pyfunc

    class Model(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input: list[str]) -> list[str]:
            return model_input

    with mlflow.start_run(run_name="theft nightly") as run:
        mlflow.set_tags(
            {
                registry.TAG_FEATURE_SERVICE: "theft_detection_v2",
                registry.TAG_DATA_START: "2024-01-01",
                registry.TAG_DATA_END: "2024-06-30",
                registry.TAG_DATA_ROWS: "1800",
            }
        )
        mlflow.log_metrics(
            {"wide_deep.pr_auc": 0.91, "lightgbm.pr_auc": 0.9, "wide_deep.roc_auc": 0.97}
        )
        info = mlflow.pyfunc.log_model(name="model", python_model=Model())
        version = registry.register(info.model_uri, "theft-detection-smoke")
    c = registry.client()
    text = c.get_model_version("theft-detection-smoke", str(version)).description
    assert "theft" in text.lower() and "`theft nightly`" in text
    assert "theft_detection_v2" in text and "2024-01-01 .. 2024-06-30, 1800 rows" in text
    # the served family's headline metrics, in the spec's order (roc_auc before pr_auc)
    assert text.index("wide_deep.roc_auc 0.97") < text.index("wide_deep.pr_auc 0.91")
    assert "lightgbm.pr_auc" not in text
    assert c.get_registered_model("theft-detection-smoke").description
    note = c.get_run(run.info.run_id).data.tags["mlflow.note.content"]
    assert note.startswith(f"Registered as theft-detection-smoke v{version}.")


def test_a_name_of_ones_own_gets_a_plain_description(mlflow_store) -> None:
    import mlflow
    import mlflow.pyfunc

    class Model(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input: list[str]) -> list[str]:
            return model_input

    with mlflow.start_run(run_name="mine"):
        info = mlflow.pyfunc.log_model(name="model", python_model=Model())
        version = registry.register(info.model_uri, "my-model")
    text = registry.client().get_model_version("my-model", str(version)).description
    assert text.startswith("**Model my-model** Version 1") and "Held-out" not in text
