"""The prediction service, started for real (`gridml serve` -> `bentoml serve`) on a workspace
whose three models were trained and registered in a real MLflow registry, features in a real
Feast online store, called over HTTP."""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from gridml.features.store import repo
from gridml.features.tables.build import build_tables
from gridml.serving.auth import create_key
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
GRIDML = str(Path(sys.executable).parent / "gridml")
MAX_IDS = 50


@pytest.fixture(scope="module")
def serving_ws(medium_zone: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """Medium zone -> features -> Feast (online store loaded) -> the three small models."""
    from gridml.training.demand.config import DemandConfig
    from gridml.training.demand.pipeline import train_demand
    from gridml.training.maintenance.pipeline import MaintenanceRunConfig, train_maintenance
    from gridml.training.theft.pipeline import TheftRunConfig, train_theft

    ws = Workspace(tmp_path_factory.mktemp("serving"))
    shutil.copytree(medium_zone.feeds, ws.feeds)
    shutil.copytree(medium_zone.labels, ws.labels)
    build_tables(ws, progress=False)
    repo.apply_definitions(ws)
    repo.materialize(ws)
    with pytest.MonkeyPatch.context() as mp:
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID"):
            mp.delenv(var, raising=False)
        exp = ROOT / "experiments"

        # the smoke configs, registered under the production names on purpose (serving binds
        # those names); by default they register as NAME-smoke
        def small(cls, name: str, production: str):
            return cls.read_yaml(exp / name, registered_model=production)

        train_demand(small(DemandConfig, "demand-small.yaml", "demand-forecast"), ws)
        train_maintenance(
            small(MaintenanceRunConfig, "maintenance-small.yaml", "asset-failure"), ws
        )
        train_theft(small(TheftRunConfig, "theft-small.yaml", "theft-detection"), ws)
    return ws


@pytest.fixture(scope="module")
def keys(serving_ws: Workspace) -> dict[str, str]:
    path = serving_ws.root / "api-keys.yaml"
    return {
        role: create_key(path, f"test-{role}", [role]) for role in ("reader", "ingest", "admin")
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(serving_ws: Workspace, keys: dict[str, str], tmp_path_factory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("server")
    config = tmp / "serving.yaml"
    config.write_text(f"poll_seconds: 1\nmax_ids: {MAX_IDS}\n")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "GRIDML_"))}
    env |= {"BENTOML_HOME": str(tmp / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    log = (tmp / "server.log").open("w")
    proc = subprocess.Popen(
        [GRIDML, "serve", "--port", str(port), "-c", str(config), "-w", str(serving_ws.root)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # bentoml starts worker processes: stop the whole group
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {(tmp / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        else:
            pytest.fail(f"server not ready: {(tmp / 'server.log').read_text()[-3000:]}")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def call(url: str, path: str, key: str | None, body: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{url}{path}", json=body, headers=headers, timeout=60)


def test_demand_forecast_by_ids(server: str, keys: dict[str, str], serving_ws: Workspace) -> None:
    r = call(server, "/forecast/demand", keys["reader"], {"ids": ["F001", "F002"], "horizon": 24})
    assert r.status_code == 200, r.text
    body = r.json()
    _, end = repo.zone_window(serving_ws)
    assert [f["series_id"] for f in body["forecasts"]] == ["feeder:F001", "feeder:F002"]
    assert body["model"]["registered_model"] == "demand-forecast"
    for forecast in body["forecasts"]:
        assert pd.Timestamp(forecast["origin"]) == end  # the latest midnight in the store
        hours = forecast["hours"]
        assert [h["horizon"] for h in hours] == list(range(1, 25))
        for h in hours:
            q = h["quantiles"]
            assert 0 <= q["q10"] <= q["q50"] <= q["q90"]
            assert math.isfinite(h["p50"]) and h["p50"] == q["q50"]
    zone = call(server, "/forecast/demand", keys["reader"], {"ids": [], "level": "zone"})
    assert zone.status_code == 400  # ids are required, even for the zone (send ["all"])
    zone = call(server, "/forecast/demand", keys["reader"], {"ids": ["all"], "level": "zone"})
    assert zone.status_code == 200, zone.text
    feeders = sum(f["hours"][0]["p50"] for f in r.json()["forecasts"])
    assert zone.json()["forecasts"][0]["hours"][0]["p50"] > feeders * 0.5


def test_batch_route_answers_each_request_like_the_single_route(
    server: str, keys: dict[str, str]
) -> None:
    one = {"ids": ["F002", "F001"], "horizon": 3, "quantiles": [0.9]}
    requests = [one, {"ids": ["F999"]}, {"ids": ["F001"], "horizon": 3}]
    r = call(server, "/forecast/demand/batch", keys["reader"], {"requests": requests})
    assert r.status_code == 200, r.text
    first, bad, third = r.json()
    single = call(server, "/forecast/demand", keys["reader"], one).json()
    assert first["forecasts"] == single["forecasts"]
    assert [f["series_id"] for f in first["forecasts"]] == ["feeder:F002", "feeder:F001"]
    assert bad["status"] == 404 and "F999" in bad["error"]
    hours = third["forecasts"][0]["hours"]
    assert [h["p50"] for h in hours] == [h["p50"] for h in single["forecasts"][1]["hours"]]
    assert all(set(h["quantiles"]) == {"q10", "q50", "q90"} for h in hours)
    assert call(server, "/forecast/demand/batch", None, {"requests": requests}).status_code == 401


def test_served_origin_features_equal_the_training_features(serving_ws: Workspace) -> None:
    """What serving reads online at the origin is what training reads offline at that time."""
    from gridml.serving import demand as demand_input
    from gridml.serving.online import online_frame

    store = repo.open_store(serving_ws)
    fs = store.get_feature_service("demand_forecast_v1")
    refs = {p.name: [f.name for f in p.features] for p in fs.feature_view_projections}
    series = ["feeder:F001", "substation:S0101", "zone:all"]
    response = store.get_online_features(
        features=demand_input.origin_refs(refs), entity_rows=[{"series_id": s} for s in series]
    )
    online = online_frame(response, (demand_input.ORIGIN_FEATURE,))
    origin = demand_input.origins_from_online(online)
    entities = pd.DataFrame(
        {"series_id": series, "region_id": ["R01"] * 3, "event_timestamp": origin.to_numpy()}
    )
    offline = repo.training_set(serving_ws, "demand_forecast_v1", entities)
    columns = [f for view in demand_input.ORIGIN_VIEWS for f in refs[view]]
    numeric = [c for c in columns if offline[c].dtype.kind == "f"]
    pd.testing.assert_frame_equal(
        online[numeric].astype(float).reset_index(drop=True),
        offline[numeric].astype(float).reset_index(drop=True),
    )
    assert online["level"].tolist() == offline["level"].tolist()


def test_an_endpoint_without_a_registered_model_says_so(serving_ws: Workspace) -> None:
    import mlflow

    from gridml.serving.config import ModelBinding, ServingConfig
    from gridml.serving.models import ModelUnavailable
    from gridml.serving.predictor import Predictor

    cfg = ServingConfig(theft=ModelBinding(registered_model="no-such-model"))
    uri = f"sqlite:///{serving_ws.root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        predictor = Predictor(cfg, serving_ws)
        assert predictor.ready  # the other endpoints serve
        with pytest.raises(ModelUnavailable, match="no-such-model"):
            predictor.theft.score(["M000001"])
        assert predictor.models()[2]["version"] is None
        assert predictor.maintenance.risk(["T00001"])["risks"]
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)


def test_maintenance_risk_and_theft_scores(server: str, keys: dict[str, str]) -> None:
    r = call(server, "/maintenance/risk", keys["reader"], {"ids": ["T00001", "T00002"]})
    assert r.status_code == 200, r.text
    risks = r.json()["risks"]
    assert [x["transformer_id"] for x in risks] == ["T00001", "T00002"]
    for x in risks:
        assert 0.0 <= x["probability"] <= 1.0
        assert x["risk_band"] in {"low", "medium", "high"}
        assert isinstance(x["drivers"], list)
    r = call(server, "/theft/score", keys["reader"], {"ids": ["M000001", "M000002", "M000005"]})
    assert r.status_code == 200, r.text
    scores = r.json()["scores"]
    assert len(scores) == 3 and r.json()["missing"] == []
    for s in scores:
        assert 0.0 <= s["probability"] <= 1.0
        assert 1 <= s["rank_in_transformer"] <= s["meters_in_transformer"]
    # M000001 and M000002 share a transformer: the likelier thief has the better rank
    a, b = scores[0], scores[1]
    assert a["transformer_id"] == b["transformer_id"]
    assert (a["probability"] > b["probability"]) == (
        a["rank_in_transformer"] < b["rank_in_transformer"]
    )


def test_api_keys_and_roles(server: str, keys: dict[str, str]) -> None:
    body = {"ids": ["F001"], "horizon": 2}
    assert call(server, "/forecast/demand", None, body).status_code == 401
    assert call(server, "/forecast/demand", "not-a-key", body).status_code == 401
    assert call(server, "/forecast/demand", keys["ingest"], body).status_code == 403
    assert call(server, "/forecast/demand", keys["admin"], body).status_code == 200
    assert call(server, "/readings", keys["reader"], {"readings": []}).status_code == 403
    assert call(server, "/admin/reload", keys["reader"], {}).status_code == 403
    assert call(server, "/admin/reload", keys["admin"], {}).status_code == 200
    assert httpx.get(f"{server}/models").status_code == 401
    models = httpx.get(f"{server}/models", headers={"X-API-Key": keys["reader"]})
    assert models.status_code == 200
    by_endpoint = {m["endpoint"]: m for m in models.json()["models"]}
    assert set(by_endpoint) == {"demand", "maintenance", "theft"}
    assert all(m["version"] and m["run_id"] for m in by_endpoint.values())


@pytest.mark.parametrize(
    ("path", "body", "status", "names"),
    [
        ("/forecast/demand", {"ids": ["F999"]}, 404, "F999"),
        ("/forecast/demand", {"ids": "F001"}, 400, "ids"),
        ("/forecast/demand", {"ids": ["F001"], "horizon": 0}, 400, "horizon"),
        ("/forecast/demand", {"ids": ["F001"], "horizon": 500}, 400, "horizon"),
        ("/forecast/demand", {"ids": ["F001"], "horizon": 25}, 400, "trained for up to 24 h"),
        ("/forecast/demand", {"ids": ["F001"], "horizon": "soon"}, 400, "horizon"),
        ("/forecast/demand", {"ids": ["F001"], "level": "planet"}, 400, "level"),
        ("/forecast/demand", {"ids": ["F001"], "quantiles": [0.3]}, 400, "quantiles"),
        ("/forecast/demand", {"ids": [f"T{i:05d}" for i in range(99)]}, 413, "ids"),
        ("/maintenance/risk", {"ids": ["T99999"]}, 404, "T99999"),
        ("/theft/score", {"ids": ["M000001", "nobody"]}, 404, "nobody"),
        ("/theft/score", {"ids": [f"M{i:06d}" for i in range(1, 52)]}, 413, "max_ids"),
        ("/theft/score", {"meters": ["M000001"]}, 400, "ids"),
        ("/readings", {"readings": [{"meter_id": "M000001", "kwh": 1.0}]}, 400, "timestamp"),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_field(
    server: str, keys: dict[str, str], path: str, body: dict, status: int, names: str
) -> None:
    role = "ingest" if path == "/readings" else "reader"
    r = call(server, path, keys[role], body)
    assert r.status_code == status, r.text
    assert names in r.text
    assert httpx.get(f"{server}/livez").status_code == 200


def test_pushed_readings_show_in_the_next_score_and_ingest_is_idempotent(
    server: str, keys: dict[str, str], serving_ws: Workspace
) -> None:
    _, end = repo.zone_window(serving_ws)
    stamp = (end + pd.Timedelta(hours=1)).isoformat()
    batch = {"readings": [{"meter_id": "M000007", "timestamp": stamp, "kwh": 0.777}]}
    first = call(server, "/readings", keys["ingest"], batch)
    assert first.status_code == 200, first.text
    assert first.json()["meters_updated"] == 1
    again = call(server, "/readings", keys["ingest"], batch)
    assert again.json()["landed"] == first.json()["landed"]
    landed = list((serving_ws.root / "landing" / "readings").glob("part-*.parquet"))
    assert len(landed) == 1
    older = {"readings": [{"meter_id": "M000007", "timestamp": end.isoformat(), "kwh": 9.0}]}
    assert call(server, "/readings", keys["ingest"], older).json()["meters_already_newer"] == 1
    score = call(server, "/theft/score", keys["reader"], {"ids": ["M000007"]}).json()
    latest = score["scores"][0]["latest_reading"]
    assert latest["kwh"] == pytest.approx(0.777)
    assert pd.Timestamp(latest["timestamp"]) == end + pd.Timedelta(hours=1)
    bad = {"readings": [{"meter_id": "M999999", "timestamp": stamp, "kwh": 1.0}]}
    r = call(server, "/readings", keys["ingest"], bad)
    assert r.status_code == 400 and "M999999" in r.text


def _served_version(url: str, key: str) -> int:
    models = httpx.get(f"{url}/models", headers={"X-API-Key": key}).json()["models"]
    return next(m["version"] for m in models if m["endpoint"] == "demand")


def test_alias_move_is_served_without_restart_and_without_errors(
    server: str, keys: dict[str, str], serving_ws: Workspace
) -> None:
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{serving_ws.root / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    old = _served_version(server, keys["reader"])
    source = client.get_model_version("demand-forecast", str(old)).source
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        new = int(mlflow.register_model(source, "demand-forecast").version)
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    statuses: list[int] = []
    versions: set[int] = set()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            r = call(server, "/forecast/demand", keys["reader"], {"ids": ["F001"], "horizon": 6})
            statuses.append(r.status_code)
            if r.status_code == 200:
                versions.add(r.json()["model"]["version"])

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        client.set_registered_model_alias("demand-forecast", "champion", str(new))
        deadline = time.monotonic() + 30
        while _served_version(server, keys["reader"]) != new and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _served_version(server, keys["reader"]) == new
        time.sleep(1.0)
    finally:
        stop.set()
        worker.join()
    assert statuses and set(statuses) == {200}
    assert new in versions and versions <= {old, new}
    # rollback by alias: without a champion the challenger is served again
    client.delete_registered_model_alias("demand-forecast", "champion")
    deadline = time.monotonic() + 30
    while _served_version(server, keys["reader"]) != old and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _served_version(server, keys["reader"]) == old


def test_ops_endpoints_metrics_and_docs(server: str, keys: dict[str, str]) -> None:
    assert httpx.get(f"{server}/livez").status_code == 200
    assert httpx.get(f"{server}/readyz").status_code == 200
    call(server, "/forecast/demand", keys["reader"], {"ids": ["F001"], "horizon": 3})
    metrics = httpx.get(f"{server}/metrics").text
    version_lines = [x for x in metrics.splitlines() if x.startswith("gridml_model_version{")]
    assert any(
        'endpoint="demand"' in x and 'registered_model="demand-forecast"' in x
        for x in version_lines
    )
    assert 'endpoint="/forecast/demand"' in metrics  # BentoML's per-endpoint request metrics
    assert "gridml_prediction_relative_load_bucket" in metrics
    paths = httpx.get(f"{server}/docs.json").json()["paths"]
    assert {"/forecast/demand", "/maintenance/risk", "/theft/score", "/readings"} <= set(paths)


def test_bento_builds(tmp_path: Path) -> None:
    env = dict(os.environ, BENTOML_HOME=str(tmp_path), BENTOML_DO_NOT_TRACK="true")
    done = subprocess.run(
        [GRIDML, "serve", "build", "--version", "test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "gridml:test" in done.stdout
    bento = tmp_path / "bentos" / "gridml" / "test"
    assert "gridml.serving.service:GridML" in (bento / "bento.yaml").read_text()
    assert list((bento / "env" / "python" / "wheels").glob("gridml-*.whl"))
