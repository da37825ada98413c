"""A model added without editing any shared module: its spec (toy_spec.py) and code
(toy_model.py) live here, reach the platform through `$GRIDML_MODEL_SPECS`, and go through
`gridml train` -> the MLflow registry -> `gridml promote` -> `gridml card` -> `gridml serve`
(real Feast store, real MLflow registry, real HTTP server answering POST /predict)."""

from __future__ import annotations

import math
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
HERE = Path(__file__).resolve().parent
SMALL_ZONE = HERE.parents[1] / "experiments" / "zone-small.yaml"


@pytest.fixture(scope="module")
def toy_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from gridml.features.simulator.config import ZoneConfig
    from gridml.features.simulator.generate import generate_zone
    from gridml.features.store import repo
    from gridml.features.tables.build import build_tables

    ws = Workspace(tmp_path_factory.mktemp("toy-ws"))
    generate_zone(ZoneConfig.read_yaml(SMALL_ZONE), ws, progress=False)
    build_tables(ws, progress=False)
    repo.apply_definitions(ws)
    repo.materialize(ws)
    return ws


def plugin_env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    return {"GRIDML_MODEL_SPECS": "toy_spec", "PYTHONPATH": path}


def gridml(ws: Workspace, tmp: Path, *args: str, plugin: bool = True) -> tuple[int, str]:
    from serving_server import GRIDML, clean_env

    env = clean_env(tmp) | (plugin_env() if plugin else {})
    out = subprocess.run(
        [GRIDML, *args, "-w", str(ws.root)], env=env, capture_output=True, text=True, timeout=600
    )
    return out.returncode, out.stdout + out.stderr


def champion_reading_a_missing_feature(ws: Workspace) -> int:
    """Register a toy version whose contract reads `no_such_feature`; make it champion."""
    import mlflow
    import numpy as np
    from toy_model import KEY, ToyModel

    from gridml.models.contract import CONTRACT_KEY, ModelContract
    from gridml.training import tracking

    uri = f"sqlite:///{ws.root.absolute() / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        mlflow.set_experiment("toy-loading")
        inputs = ("loading_pct_mean", "no_such_feature")
        contract = ModelContract("asset_failure_v1", KEY, inputs, (KEY, "value"))
        with mlflow.start_run(run_name="toy-broken-contract"):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=ToyModel(np.zeros(3), np.zeros(2), inputs),
                metadata={CONTRACT_KEY: contract.to_dict()},
            )
        return tracking.register(info.model_uri, "toy-loading", "champion")
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


def test_a_toy_spec_is_trained_promoted_and_served_by_name(toy_ws: Workspace, tmp_path: Path):
    import mlflow
    from serving_server import SERVING_CONFIG, call, running

    from gridml.features.store import repo
    from gridml.features.store.lookup import entity_table
    from gridml.models.contract import read as read_contract
    from gridml.serving.auth import create_key

    (tmp_path / "toy.yaml").write_text("holdout_days: 7\n")
    (tmp_path / "promotion.yaml").write_text(
        "validate_contracts: false\nmodels:\n  toy-loading:\n"
        f"    train_config: {tmp_path / 'toy.yaml'}\n"
        "    lower_bound: null\n    holdout_days: 7\n    max_staleness_days: 30\n"
    )
    code, out = gridml(toy_ws, tmp_path, "train", "toy", "-c", str(tmp_path / "toy.yaml"))
    assert code == 0, out
    assert "registered toy-loading v1 as challenger" in out and "toy: training MAE" in out

    # without the spec module the platform does not know the model: nothing is guessed
    code, out = gridml(
        toy_ws,
        tmp_path,
        "promote",
        "toy-loading",
        "-c",
        str(tmp_path / "promotion.yaml"),
        plugin=False,
    )
    assert code == 2 and "unknown model(s) ['toy-loading']" in out, out

    code, out = gridml(
        toy_ws, tmp_path, "promote", "toy-loading", "-c", str(tmp_path / "promotion.yaml")
    )
    assert code == 0, out
    assert "promoted toy-loading v1 to champion" in out
    assert "beats_baseline" in out

    code, out = gridml(toy_ws, tmp_path, "card", "toy-loading")
    assert code == 0, out
    card = (toy_ws.root / "cards" / "toy-loading" / "v1" / "card.md").read_text()
    assert "proves a new model needs no edit of a shared module" in card
    assert "A linear fit of one feature on two others." in card

    key = create_key(toy_ws.root / "api-keys.yaml", "toy-reader", ["reader"])
    ids = entity_table(toy_ws, "asset_failure_v1")["transformer_id"].head(3).tolist()
    with running(toy_ws.root, tmp_path / "server", SERVING_CONFIG, plugin_env()) as server:
        headers = {"Authorization": f"Bearer {key}"}
        models = httpx.get(f"{server.url}/models", headers=headers, timeout=30).json()["models"]
        toy = next(m for m in models if m["endpoint"] == "toy")
        assert (toy["registered_model"], toy["version"], toy["alias"]) == (
            "toy-loading",
            1,
            "champion",
        )
        assert toy["feature_service"] == "asset_failure_v1"
        r = call(server.url, "/predict", key, {"endpoint": "toy", "ids": [*ids, "T-NONE"]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model"]["version"] == 1
        served = {p["id"]: p["value"] for p in body["predictions"]}
        assert [m["id"] for m in body["missing"]] == ["T-NONE"]
        bad = call(server.url, "/predict", key, {"endpoint": "churn", "ids": ids})
        assert bad.status_code == 400 and "'endpoint': 'churn' is not served" in bad.text

        # a version whose contract names a feature the FeatureService lacks is refused at load
        # time (the poll picks the alias move up), never served with a column of NaN
        assert champion_reading_a_missing_feature(toy_ws) == 2
        deadline, toy = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            models = httpx.get(f"{server.url}/models", headers=headers, timeout=30).json()
            toy = next(m for m in models["models"] if m["endpoint"] == "toy")
            if toy.get("error"):
                break
            time.sleep(1)
        assert "does not serve the model's input feature(s) no_such_feature" in toy["error"]
        assert toy["version"] == 1  # still serving the version that loaded

    # the server answered what the registered version predicts on the online features
    uri = f"sqlite:///{toy_ws.root.absolute() / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        model = mlflow.pyfunc.load_model("models:/toy-loading/1")  # served; v2 was refused
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    inputs = list(read_contract(model).features)
    online = repo.online_features(toy_ws, "asset_failure_v1", [{"transformer_id": i} for i in ids])
    frame = online[["transformer_id", *inputs]].astype({c: "float64" for c in inputs})
    expected = model.predict(frame.dropna(subset=inputs, how="all"))
    assert len(expected) == len(served) >= 1
    for row in expected.itertuples():
        assert math.isclose(served[row.transformer_id], row.value, rel_tol=1e-9)
