"""Load measured at any level (`load_measurements`): units converted once at import, per-level
bounds with errors naming file, row and column, measured series joining the hierarchy or
standing alone, weather from a single-region file, and public holidays by subdivision."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridml.errors import ContractError
from gridml.features.contracts import MAX_HOURLY_KWH_BY_LEVEL
from gridml.features.importer import import_feeds, interval_kwh, observes_dst
from gridml.features.simulator.config import ZoneConfig
from gridml.features.tables.build import build_tables
from gridml.features.tables.grid import region_calendar
from gridml.features.tables.timegrid import Grid
from gridml.serving.snapshot import load_snapshot
from gridml.workspace import Workspace

START = pd.Timestamp("2024-01-01", tz="UTC")


def _measurements(
    series: str, level: str, minutes: int, values: list[float], unit: str | None = None
) -> pd.DataFrame:
    stamps = pd.date_range(START, periods=len(values), freq=f"{minutes}min")
    frame = pd.DataFrame(
        {
            "series_id": series,
            "level": level,
            "timestamp": [t.isoformat() for t in stamps],
            "value": values,
        }
    )
    return frame if unit is None else frame.assign(unit=unit)


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def _message(exc: pytest.ExceptionInfo[ContractError], *parts: str) -> str:
    """The one line of the error that names every part."""
    lines = [line for line in str(exc.value).splitlines() if all(p in line for p in parts)]
    assert lines, f"no line names {parts}:\n{exc.value}"
    return lines[0]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


# --- units ------------------------------------------------------------------------------------


def test_power_averages_and_interval_energies_become_kwh() -> None:
    units = pd.Series(["kW", "MW", "GW", "kWh", "MWh", "GWh"])
    minutes = pd.Series([15, 30, 60, 15, 30, 60])
    kwh = interval_kwh(pd.Series([4.0, 2.0, 1.5, 4.0, 2.0, 1.5]), units, minutes)
    # a power times the interval; an energy as it is, scaled to kWh
    assert kwh.tolist() == pytest.approx([1.0, 1_000.0, 1_500_000.0, 4.0, 2_000.0, 1_500_000.0])


@pytest.mark.parametrize(
    ("unit", "minutes", "values", "level", "stored", "hour"),
    [
        # a system in GW every 30 min -> MWh per hour: (3.9 + 3.7) / 2 GWh = 3,800 MWh
        ("GW", 30, [3.9, 3.7], "zone", "MWh", 3_800.0),
        # a feeder in MW every 15 min -> MWh: (4 + 4 + 5 + 3) / 4 = 4 MWh
        ("MW", 15, [4.0, 4.0, 5.0, 3.0], "feeder", "MWh", 4.0),
        # a transformer's energy per 15 min in kWh -> kWh summed
        ("kWh", 15, [10.0, 20.0, 30.0, 40.0], "transformer", "kWh", 100.0),
        # a substation's hourly energy in GWh -> MWh
        ("GWh", 60, [0.25], "substation", "MWh", 250.0),
    ],
)
def test_import_converts_once_into_the_series_unit(
    ws: Workspace,
    tmp_path: Path,
    unit: str,
    minutes: int,
    values: list[float],
    level: str,
    stored: str,
    hour: float,
) -> None:
    path = _csv(_measurements(f"{level}:X", level, minutes, values), tmp_path / "m.csv")
    report = import_feeds({"load_measurements": path}, ws, unit=unit)
    feed = pd.read_parquet(ws.feed_dir("load_measurements"))
    assert feed[["series_id", "level", "unit"]].values.tolist() == [[f"{level}:X", level, stored]]
    assert feed["value"].iloc[0] == pytest.approx(hour)
    assert feed["timestamp"].iloc[0] == START
    assert report.series_units == {f"{level}:X": stored}
    assert report.measurement_intervals == {minutes: 1}


def test_a_unit_column_wins_and_fills_from_the_option_only_where_empty(
    ws: Workspace, tmp_path: Path
) -> None:
    frame = pd.concat(
        [
            _measurements("feeder:A", "feeder", 60, [2.0], "MW"),
            _measurements("feeder:B", "feeder", 60, [2_000.0], None),
        ]
    )
    import_feeds({"load_measurements": _csv(frame, tmp_path / "m.csv")}, ws, unit="kW")
    feed = pd.read_parquet(ws.feed_dir("load_measurements")).set_index("series_id")
    assert feed["value"].to_dict() == pytest.approx({"feeder:A": 2.0, "feeder:B": 2.0})


def test_unknown_or_missing_unit_is_refused(ws: Workspace, tmp_path: Path) -> None:
    path = _csv(_measurements("zone:Z", "zone", 60, [1.0, 2.0]), tmp_path / "m.csv")
    with pytest.raises(ContractError) as exc:
        import_feeds({"load_measurements": path}, ws)
    _message(exc, "m.csv", "missing column", "unit")
    bad = _csv(_measurements("zone:Z", "zone", 60, [1.0, 2.0], "MVA"), tmp_path / "bad.csv")
    with pytest.raises(ContractError) as exc:
        import_feeds({"load_measurements": bad}, ws)
    _message(exc, "bad.csv", "column 'unit'", "rows 1, 2", "MVA")
    with pytest.raises(ContractError) as exc:
        import_feeds({"load_measurements": path}, ws, unit="MVA")
    _message(exc, "unit 'MVA' is not one of")
    assert not ws.root.exists()


# --- bounds per level -------------------------------------------------------------------------


def test_bounds_per_level_name_file_row_column_and_level(ws: Workspace, tmp_path: Path) -> None:
    # 150 MW at a feeder is beyond its bound (100 MWh per hour); at a substation it is fine
    values = [5.0, 5.0, 150.0, 5.0]
    feeder = _csv(_measurements("feeder:F", "feeder", 15, values, "MW"), tmp_path / "f.csv")
    with pytest.raises(ContractError) as exc:
        import_feeds({"load_measurements": feeder}, ws)
    line = _message(exc, "f.csv", "column 'value'", "row 3", "'feeder'", "150.0")
    assert f"{MAX_HOURLY_KWH_BY_LEVEL['feeder']:,.0f} kWh" in line
    assert not ws.root.exists()

    substation = _measurements("substation:S", "substation", 15, values, "MW")
    import_feeds({"load_measurements": _csv(substation, tmp_path / "s.csv")}, ws)
    assert pd.read_parquet(ws.feed_dir("load_measurements"))["value"].iloc[0] == 41.25


def test_the_meter_bound_is_the_readings_cap_and_levels_are_checked(
    ws: Workspace, tmp_path: Path
) -> None:
    # 2,400 kWh in an hour at a meter (600 kWh per 15 min) is a unit error; a bad level too
    frame = pd.concat(
        [
            _measurements("meter:M", "meter", 15, [600.0] * 4, "kWh"),
            _measurements("x:1", "feeder-head", 60, [1.0], "MW"),
        ],
        ignore_index=True,
    )
    with pytest.raises(ContractError) as exc:
        import_feeds({"load_measurements": _csv(frame, tmp_path / "m.csv")}, ws)
    _message(exc, "m.csv", "column 'level'", "row 5", "feeder-head")
    frame = frame.iloc[:4]
    with pytest.raises(ContractError) as exc:
        import_feeds({"load_measurements": _csv(frame, tmp_path / "m.csv")}, ws)
    _message(exc, "m.csv", "column 'value'", "rows 1, 2, 3, 4", "'meter'", "2,000 kWh")


def test_one_level_per_series_and_supported_intervals(ws: Workspace, tmp_path: Path) -> None:
    mixed = _measurements("feeder:F", "feeder", 60, [1.0, 1.0, 1.0], "MW")
    mixed.loc[2, "level"] = "substation"
    with pytest.raises(ContractError) as exc:
        import_feeds({"load_measurements": _csv(mixed, tmp_path / "m.csv")}, ws)
    _message(exc, "m.csv", "column 'level' differs within series feeder:F", "rows 1, 2, 3")
    regions = _measurements("feeder:F", "feeder", 60, [1.0, 1.0], "MW").assign(region_id="A")
    regions.loc[1, "region_id"] = "B"
    with pytest.raises(ContractError) as exc:
        import_feeds({"load_measurements": _csv(regions, tmp_path / "r.csv")}, ws)
    _message(exc, "r.csv", "column 'region_id' differs within series feeder:F", "rows 1, 2")
    odd = _measurements("feeder:F", "feeder", 5, [1.0] * 12, "MW")
    with pytest.raises(ContractError) as exc:
        import_feeds({"load_measurements": _csv(odd, tmp_path / "odd.csv")}, ws)
    _message(exc, "odd.csv", "series measured every 5 min", "feeder:F")


# --- hierarchy, weather, tables ---------------------------------------------------------------

METERS = "meter_id,transformer_id,segment,tariff\nM1,T1,commercial,C\nM2,T1,commercial,C\n"
TRANSFORMERS = (
    "transformer_id,feeder_id,substation_id,region_id,rating_kva,commissioned_year\n"
    "T1,F1,S1,R1,100,1998\n"
)


def test_measured_series_join_the_hierarchy_or_stand_alone(ws: Workspace, tmp_path: Path) -> None:
    hours = 24 * 9
    stamps = pd.date_range(START, periods=hours, freq="h")
    readings = pd.DataFrame(
        {
            "meter_id": np.repeat(["M1", "M2"], hours),
            "timestamp": [t.isoformat() for t in stamps] * 2,
            "kwh": 1.0,
        }
    )
    measured = pd.concat(
        [
            # the feeder head of F1 (joins: kWh, replaces the sum of its meters)
            _measurements("feeder:F1", "feeder", 60, [0.005] * hours, "MW"),
            # a substation of another utility's area (stands alone: MWh)
            _measurements("substation:S9", "substation", 60, [20.0] * hours, "MW"),
        ],
        ignore_index=True,
    )
    (tmp_path / "meters.csv").write_text(METERS)
    (tmp_path / "transformers.csv").write_text(TRANSFORMERS)
    files = {
        "readings": _csv(readings, tmp_path / "r.csv"),
        "meters": tmp_path / "meters.csv",
        "transformers": tmp_path / "transformers.csv",
        "load_measurements": _csv(measured, tmp_path / "m.csv"),
    }
    report = import_feeds(files, ws)
    assert report.series_units == {"feeder:F1": "kWh", "substation:S9": "MWh"}
    build_tables(ws, progress=False)
    profile = pd.read_parquet(ws.table_dir("series_profile")).set_index("series_id")
    assert profile.loc["feeder:F1", ["unit", "parent_id"]].tolist() == ["kWh", "substation:S1"]
    assert profile.loc["transformer:T1", "unit"] == "kWh"
    alone = profile.loc["substation:S9"]
    assert [alone["level"], alone["unit"], alone["parent_id"]] == ["substation", "MWh", ""]
    assert np.isnan(alone["meters"])
    load = pd.read_parquet(ws.table_dir("load_hourly")).groupby("series_id")["load_kwh"].mean()
    assert load["transformer:T1"] == pytest.approx(2.0)  # the sum of its two meters
    assert load["feeder:F1"] == pytest.approx(5.0)  # measured, 5 kW -> 5 kWh, not 2
    assert load["substation:S9"] == pytest.approx(20.0)  # MWh


def test_measurements_only_zone_with_a_temperature_file_builds_and_serves(
    ws: Workspace, tmp_path: Path
) -> None:
    hours = 24 * 9
    measured = _measurements("zone:SYS", "zone", 30, list(np.linspace(3.0, 4.0, 2 * hours)), "GW")
    stamps = pd.date_range(START, periods=2 * hours, freq="30min")
    weather = pd.DataFrame(
        {"timestamp": [t.isoformat() for t in stamps], "temperature_c": [20.0, 22.0] * hours}
    )
    files = {
        "load_measurements": _csv(measured, tmp_path / "m.csv"),
        "weather": _csv(weather, tmp_path / "w.csv"),
    }
    import_feeds(files, ws, country="AU", subdivision="VIC", region="SYS")
    build_tables(ws, progress=False)
    table = pd.read_parquet(ws.table_dir("weather_hourly"))
    assert set(table["region_id"]) == {"SYS"}
    assert table["temperature_c"].tolist() == [21.0] * hours  # half hours averaged
    assert table["relative_humidity_pct"].isna().all()
    snap = load_snapshot(ws)  # no meters, no transformers: the service still starts
    assert snap.series.to_dict("index") == {"zone:SYS": {"region_id": "SYS", "unit": "MWh"}}
    assert snap.zone.subdivision == "VIC" and len(snap.transformers) == 0


def test_readings_only_zone_serves_its_total_with_its_weather(
    ws: Workspace, tmp_path: Path
) -> None:
    hours = 24 * 9
    stamps = [t.isoformat() for t in pd.date_range(START, periods=hours, freq="h")]
    readings = pd.DataFrame({"meter_id": "M1", "timestamp": stamps, "kwh": 1.0})
    weather = pd.DataFrame({"timestamp": stamps, "temperature_c": 25.0})
    files = {
        "readings": _csv(readings, tmp_path / "r.csv"),
        "weather": _csv(weather, tmp_path / "w.csv"),
    }
    import_feeds(files, ws)
    build_tables(ws, progress=False)
    snap = load_snapshot(ws)
    assert snap.series.to_dict("index") == {"zone:all": {"region_id": "R00", "unit": "kWh"}}
    assert set(pd.read_parquet(ws.table_dir("weather_hourly"))["region_id"]) == {"R00"}
    # a weather file naming its one region: the zone's total takes that region
    weather["region_id"] = "ABJ"
    import_feeds(files | {"weather": _csv(weather, tmp_path / "w.csv")}, ws)
    build_tables(ws, progress=False)
    assert load_snapshot(ws).series["region_id"].to_dict() == {"zone:all": "ABJ"}


# --- holidays by subdivision ------------------------------------------------------------------


def test_calendar_takes_the_subdivision_holidays() -> None:
    grid = Grid.covering(
        pd.Timestamp("2014-11-02", tz="Australia/Brisbane").tz_convert("UTC"),
        pd.Timestamp("2014-11-05 23:00", tz="Australia/Brisbane").tz_convert("UTC"),
        "Australia/Brisbane",
    )
    regions = pd.Index(["VIC"])

    def holidays(subdivision: str | None) -> list[str]:
        cal = region_calendar(regions, "AU", grid, subdivision)
        local = cal["event_timestamp"].dt.tz_convert("Australia/Brisbane").dt.strftime("%m-%d")
        return local[cal["is_holiday"] == 1].tolist()

    assert holidays("VIC") == ["11-04"]  # Melbourne Cup Day: Victoria only
    assert holidays("NSW") == []
    assert holidays(None) == []


def test_unknown_subdivision_is_refused_by_import_and_zone_config(
    ws: Workspace, tmp_path: Path
) -> None:
    path = _csv(_measurements("zone:Z", "zone", 60, [1.0], "GW"), tmp_path / "m.csv")
    with pytest.raises(ContractError) as exc:
        import_feeds({"load_measurements": path}, ws, country="AU", subdivision="XX")
    _message(exc, "subdivision 'XX' of AU", "VIC")
    with pytest.raises(ValueError, match="subdivision 'XX' of AU"):
        ZoneConfig(country="AU", subdivision="XX")
    cfg = ZoneConfig(country="AU", subdivision="VIC", start=dt.date(2024, 1, 1))
    assert cfg.subdivision == "VIC"


def test_time_zones_with_daylight_saving_are_recognised() -> None:
    winter = pd.Timestamp("2014-06-01", tz="UTC"), pd.Timestamp("2014-08-31", tz="UTC")
    year = pd.Timestamp("2014-01-01", tz="UTC"), pd.Timestamp("2014-12-31", tz="UTC")
    assert observes_dst("Australia/Melbourne", *year)
    assert not observes_dst("Australia/Melbourne", *winter)  # no change inside the period
    assert not observes_dst("Australia/Brisbane", *year)


# --- a wide single-series file ------------------------------------------------------------------


def _wide(path: Path, demand: list[object]) -> Path:
    stamps = pd.date_range(START, periods=len(demand), freq="30min")
    frame = pd.DataFrame(
        {
            "when": [t.isoformat() for t in stamps],
            "demand_gw": demand,
            "temp": np.linspace(20.0, 25.0, len(demand)),
            "workday": 1,  # an extra column: ignored
        }
    )
    return _csv(frame, path)


def test_a_wide_single_series_file_imports_its_series_and_temperature(
    ws: Workspace, tmp_path: Path
) -> None:
    from gridml.features.importer import WideSeries

    path = _wide(tmp_path / "system.csv", [4.0] * 96)
    wide = WideSeries("zone:VIC", "demand_gw", time_column="when", temperature_column="temp")
    report = import_feeds(
        {"load_measurements": path, "weather": path}, ws, country="AU", unit="GW", wide=wide
    )
    assert report.rows["load_measurements"] == 48  # half hours summed into hours
    assert report.series_units == {"zone:VIC": "MWh"}
    load = pd.read_parquet(ws.feeds / "load_measurements")
    np.testing.assert_allclose(load["value"], 4000.0)  # 4 GW over an hour: 4,000 MWh
    assert set(load["level"]) == {"zone"}
    weather = pd.read_parquet(ws.feeds / "weather")
    assert len(weather) == 48 and weather["temperature_c"].between(20.0, 25.0).all()


def test_a_wide_file_error_names_the_file_row_and_column(ws: Workspace, tmp_path: Path) -> None:
    from gridml.features.importer import WideSeries

    path = _wide(tmp_path / "system.csv", [4.0] * 10 + ["n/a"] + [4.0] * 85)
    wide = WideSeries("zone:VIC", "demand_gw", time_column="when")
    with pytest.raises(ContractError) as exc:
        import_feeds({"load_measurements": path}, ws, country="AU", unit="GW", wide=wide)
    assert "row 11" in _message(exc, "system.csv", "column 'demand_gw'")  # the file's name
    missing = WideSeries("zone:VIC", "demand", time_column="when")
    with pytest.raises(ContractError) as exc:
        import_feeds({"load_measurements": path}, ws, country="AU", unit="GW", wide=missing)
    line = _message(exc, "system.csv", "'demand' (--value-column)")
    assert "demand_gw" in line  # the columns it has
    assert not ws.feeds.exists() or not any(ws.feeds.iterdir())  # nothing written
