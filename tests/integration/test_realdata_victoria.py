"""Real utility data end to end: four months of Victoria's half-hourly demand (GW) and
Melbourne's temperature (tests/data/victoria_demand_2014.csv) imported as a measured system
total at its real unit, features built, a tiny demand model trained, promoted through its gates
and served by a real `gridml serve` over HTTP, the unit (MWh) in the response."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from serving_server import running
from typer.testing import CliRunner

from bench.run_demand import victoria_import_files
from gridml.cli.main import app
from gridml.serving.auth import create_key
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
VICTORIA = ROOT / "tests" / "data" / "victoria_demand_2014.csv"
# May to August: the winter peak, the Queen's Birthday (a VIC/AU holiday) on 9 June
FIRST, LAST = "2014-05-01", "2014-08-31"
DEMAND = {
    "name": "demand-victoria-test",
    "levels": ["zone"],
    "horizon_hours": 24,
    "history_days": 42,
    "holdout_days": 7,
    "train_sample": 1.0,
    "models": ["seasonal_naive", "lightgbm"],
    "backtest": {"folds": 1, "fold_days": 7},
    "lightgbm": {"n_estimators": 40, "num_leaves": 15, "min_data_in_leaf": 10, "num_threads": 1},
    "tracking": {"experiment": "demand-victoria-test"},
}


def _invoke(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    tmp = tmp_path_factory.mktemp("victoria")
    ws = Workspace(tmp / "ws")
    files = victoria_import_files(VICTORIA, tmp, FIRST, LAST)  # as docs/data-contract.md
    demand = tmp / "demand.yaml"
    demand.write_text(yaml.safe_dump(DEMAND))
    promo = yaml.safe_load((ROOT / "experiments" / "promotion-small.yaml").read_text())
    promo["models"] = {"demand-forecast": promo["models"]["demand-forecast"]}
    promo["models"]["demand-forecast"]["train_config"] = str(demand)
    (tmp / "promotion.yaml").write_text(yaml.safe_dump(promo))
    w = ["--workspace", str(ws.root)]
    with pytest.MonkeyPatch.context() as mp:
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID"):
            mp.delenv(var, raising=False)
        zone = ["--country", "AU", "--subdivision", "VIC", "--timezone", "Australia/Brisbane"]
        # one wide file: the demand column as zone:VIC, its temperature column as the weather
        load = ["--measurements", str(files["wide"]), "--unit", "GW", "--series", "zone:VIC"]
        load += ["--value-column", "demand_gw", "--temperature-column", "temperature_c"]
        imported = _invoke(["data", "import", *load, *zone, "--region", "VIC", *w])
        assert "zone:VIC MWh" in imported
        _invoke(["data", "validate", *w])
        _invoke(["features", "build", *w])
        _invoke(["features", "apply", *w])
        _invoke(["features", "materialize", *w])
        trained = _invoke(["train", "demand", "-c", str(demand), *w])
        assert "registered demand-forecast v1" in trained
        promoted = CliRunner().invoke(
            app, ["promote", "demand-forecast", "-c", str(tmp / "promotion.yaml"), *w]
        )
        assert promoted.exit_code == 0, promoted.output
    return ws


def test_imported_at_its_real_unit_with_its_temperature_and_holidays(victoria: Workspace) -> None:
    raw = pd.read_csv(VICTORIA)
    raw = raw[(raw["timestamp"] >= FIRST) & (raw["timestamp"] < f"{LAST}T24")]
    feed = pd.read_parquet(victoria.feed_dir("load_measurements"))
    assert set(feed["unit"]) == {"MWh"} and set(feed["level"]) == {"zone"}
    # two half-hour averages in GW -> the hour's energy in MWh: (a + b) / 2 * 1000
    first_hour = raw["demand_gw"].iloc[:2].sum() / 2 * 1000
    assert feed["value"].iloc[0] == pytest.approx(first_hour)
    assert feed["value"].sum() == pytest.approx(raw["demand_gw"].sum() / 2 * 1000)
    profile = pd.read_parquet(victoria.table_dir("series_profile"))
    assert profile.set_index("series_id").loc["zone:VIC", "unit"] == "MWh"
    weather = pd.read_parquet(victoria.table_dir("weather_hourly"))
    assert set(weather["region_id"]) == {"VIC"}
    assert weather["temperature_c"].notna().all() and len(weather) == len(feed)
    calendar = pd.read_parquet(victoria.table_dir("region_calendar"))
    local = calendar["event_timestamp"].dt.tz_convert("Australia/Brisbane").dt.strftime("%m-%d")
    holidays = set(local[calendar["is_holiday"] == 1])
    assert holidays == {"06-09"}  # Queen's Birthday (VIC); no other public holiday May-Aug


@pytest.fixture(scope="module")
def server(
    victoria: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A real `gridml serve` on the workspace (default serving config), and a reader's key."""
    key = create_key(victoria.root / "api-keys.yaml", "test-reader", ["reader"])
    with running(victoria.root, tmp_path_factory.mktemp("victoria-server"), "{}\n") as srv:
        yield srv.url, key


def test_the_promoted_model_serves_the_system_in_mwh(
    victoria: Workspace, server: tuple[str, str]
) -> None:
    url, key = server
    audit = victoria.root / "audit" / "promotions.jsonl"
    last = json.loads(audit.read_text().splitlines()[-1])
    assert (last["outcome"], last["to_version"]) == ("promoted", 1)
    r = httpx.post(
        f"{url}/forecast/demand",
        json={"ids": ["VIC"], "level": "zone", "horizon": 24},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"]["alias"] == "champion"
    (forecast,) = body["forecasts"]
    assert (forecast["series_id"], forecast["unit"]) == ("zone:VIC", "MWh")
    p50 = [h["p50"] for h in forecast["hours"]]
    assert len(p50) == 24
    # a winter day of Victoria: roughly 4,000-8,000 MWh in each hour, not kWh or GWh
    recent = pd.read_parquet(victoria.table_dir("load_hourly"))["load_kwh"].tail(24 * 7)
    assert 0.5 * recent.min() < min(p50) and max(p50) < 1.5 * recent.max()
    unknown = httpx.post(
        f"{url}/forecast/demand",
        json={"ids": ["all"], "level": "zone"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert unknown.status_code == 404, unknown.text  # no meters: no zone:all here
