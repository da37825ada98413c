"""The demand endpoint's model input: the training layout, calendar and persistence weather."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridml.serving import demand
from gridml.training.demand.features import INPUT_COLUMNS, ORIGIN_COLUMNS, PROFILE_COLUMNS

TZ = "Africa/Abidjan"


def test_series_ids_accept_bare_and_full_ids() -> None:
    assert demand.series_ids("feeder", ["F001", "feeder:F002"]) == ["feeder:F001", "feeder:F002"]
    assert demand.series_ids("zone", []) == ["zone:all"]


def weather() -> pd.DataFrame:
    index = pd.MultiIndex.from_product([["R01"], range(24)], names=["region_id", "hour"])
    temp = 25.0 + 5 * np.sin(np.arange(24) / 24 * 2 * np.pi)
    return pd.DataFrame(
        {
            "temperature_c": temp,
            "relative_humidity_pct": 70.0,
            "cloud_cover_pct": 40.0,
            "irradiance_wm2": 100.0,
        },
        index=index,
    )


def test_context_has_calendar_and_persistence_weather() -> None:
    # 2024-08-07 is Independence Day in Côte d'Ivoire; the origin is the midnight before
    targets = pd.date_range("2024-08-06 00:00", periods=48, freq="h", tz="UTC")
    ctx = demand.context_frame(["R01"], targets, "CI", TZ, weather(), None)
    assert len(ctx) == 48
    day1, day2 = ctx.iloc[:24], ctx.iloc[24:]
    assert (day1["is_holiday"] == 0).all() and (day1["is_holiday_tomorrow"] == 1).all()
    assert (day2["is_holiday"] == 1).all()
    assert ctx["target_hour"].tolist() == list(range(24)) * 2
    np.testing.assert_allclose(day1["temperature_c"], day2["temperature_c"])
    np.testing.assert_allclose(ctx["cooling_degree_c"], np.maximum(0, ctx["temperature_c"] - 24))


def test_a_temperature_forecast_replaces_persistence() -> None:
    targets = pd.date_range("2024-08-06", periods=3, freq="h", tz="UTC")
    ctx = demand.context_frame(["R01"], targets, "CI", TZ, weather(), [30.0, 31.0, 32.0])
    assert ctx["temperature_c"].tolist() == [30.0, 31.0, 32.0]
    assert ctx["cooling_degree_c"].tolist() == [6.0, 7.0, 8.0]


def test_model_input_has_the_training_layout() -> None:
    origin = pd.Timestamp("2024-08-06", tz="UTC")
    columns: dict[str, object] = {c: [1.0, 2.0] for c in ORIGIN_COLUMNS if c != "level"}
    # the latest online load_hourly row: the last hour (the second interrupted), its lags
    columns |= {"load_lag_24h": [0.5, 2.0], "load_lag_168h": [4.0, 1.0]}
    columns |= {"interrupted_share": [0.0, 0.5]}
    # Feast gives None where a value is missing
    columns |= {col: [float(i), None] for i, col in enumerate(PROFILE_COLUMNS)}
    columns |= {"level": ["feeder", "transformer"], "origin": [origin, origin]}
    online = pd.DataFrame(columns | {"series_id": ["feeder:F001", "transformer:T00001"]})
    targets = pd.date_range(origin, periods=4, freq="h")
    ctx = demand.context_frame(["R01"], targets, "CI", TZ, weather(), None)
    regions = pd.Series({"feeder:F001": "R01", "transformer:T00001": "R01"})
    rows = demand.model_input(online, regions, 4, ctx)
    assert list(rows.columns[: len(INPUT_COLUMNS)]) == INPUT_COLUMNS
    assert len(rows) == 8
    assert rows["horizon"].tolist() == [1, 2, 3, 4] * 2
    assert (rows["target_time"] == origin + (rows["horizon"] - 1) * pd.Timedelta(hours=1)).all()
    assert rows.loc[rows["series_id"] == "transformer:T00001", "load_001h_ago"].isna().all()
    assert rows["load_003h_ago"].iloc[0] == 2.0
    assert rows["horizon"].dtype == "int64" and rows["load_kwh"].dtype == "float64"
    first = rows.iloc[0]
    assert (first["issue_load_kwh"], first["issue_load_lag_24h"]) == (1.0, 0.5)
    assert (first["issue_load_lag_168h"], first["issue_load_mean_24h"]) == (4.0, 1.0)
    assert rows.loc[rows["series_id"] == "transformer:T00001", "issue_load_kwh"].isna().all()


def test_a_request_gets_its_own_series_in_its_own_order() -> None:
    class Loaded:
        def info(self) -> dict:
            return {"version": 3}

    origin = pd.Timestamp("2024-08-06", tz="UTC")
    out = pd.DataFrame(
        {
            "series_id": ["feeder:F001"] * 2 + ["feeder:F002"] * 2 + ["feeder:F003"] * 2,
            "horizon": [1, 2] * 3,
            "yhat": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "q10": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5],
            "q90": [2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
            "origin": origin,
            "target_time": [origin, origin + pd.Timedelta(hours=1)] * 3,
        }
    )
    req = demand.ValidDemandRequest(
        ["feeder:F003", "feeder:F001", "feeder:F009"], "feeder", 2, [0.9], "persistence"
    )
    answer = req.answer(Loaded(), out, missing=["feeder:F009", "feeder:F777"])
    assert [f["series_id"] for f in answer["forecasts"]] == ["feeder:F003", "feeder:F001"]
    assert answer["forecasts"][0]["hours"][1] == {
        "target_time": "2024-08-06T01:00:00+00:00",
        "horizon": 2,
        "p50": 6.0,
        "quantiles": {"q90": 7.0},
    }
    assert [m["id"] for m in answer["missing"]] == ["feeder:F009"]
    assert answer["model"] == {"version": 3}
