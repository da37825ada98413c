"""`gridml data import`: interval detection and hourly sums, contract errors that name the file,
row and column, and all-or-nothing writes (a failed import leaves the workspace untouched)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.errors import ContractError
from gridml.features.contracts import FEEDS
from gridml.features.importer import import_feeds
from gridml.features.validate import validate_workspace
from gridml.workspace import Workspace

DOC = Path(__file__).resolve().parents[3] / "docs" / "data-contract.md"

# 15-min readings of two meters over one hour; data rows 1-8 (the header excluded).
READINGS = """meter_id,timestamp,kwh
M1,2024-01-01T00:00:00Z,0.1
M1,2024-01-01T00:15:00Z,0.2
M1,2024-01-01T00:30:00Z,0.3
M1,2024-01-01T00:45:00Z,0.4
M2,2024-01-01T00:00:00+00:00,1.0
M2,2024-01-01T00:15:00+00:00,1.5
M2,2024-01-01T00:30:00+00:00,2.0
M2,2024-01-01T00:45:00+00:00,2.5
"""
METERS = """meter_id,transformer_id,segment,tariff
M1,T1,residential_prepaid,DOM-1
M2,T1,commercial,PRO-2
"""
TRANSFORMERS = """transformer_id,feeder_id,substation_id,region_id,rating_kva,commissioned_year
T1,F1,S1,R1,100,1998
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _row(text: str, row: int, line: str) -> str:
    """`text` with data row `row` (1-based, header excluded) replaced by `line`."""
    lines = text.splitlines()
    lines[row] = line
    return "\n".join(lines) + "\n"


def _readings(minutes: int, hours: int = 3, meters: tuple[str, ...] = ("M1", "M2")) -> pd.DataFrame:
    stamps = pd.date_range(
        "2024-01-01", periods=hours * 60 // minutes, freq=f"{minutes}min", tz="UTC"
    )
    return pd.DataFrame(
        [
            {"meter_id": m, "timestamp": ts, "kwh": round(0.01 * (i + 1) + j, 4)}
            for j, m in enumerate(meters)
            for i, ts in enumerate(stamps)
        ]
    )


def _csv(df: pd.DataFrame, path: Path) -> Path:
    out = df.copy()
    out["timestamp"] = out["timestamp"].map(lambda t: t.isoformat())
    out.to_csv(path, index=False)
    return path


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file (with its bytes) and folder under `root`."""
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A workspace whose feeds folder already holds data (with a marker file)."""
    ws = Workspace(tmp_path / "ws")
    ws.feed_dir("readings").mkdir(parents=True)
    _readings(60, hours=2).to_parquet(ws.feed_dir("readings") / "part-00000.parquet")
    (ws.feeds / "marker.txt").write_text("existing feeds: must survive a failed import")
    ws.zone_file.write_text('{"source": "synthetic"}')
    return ws


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    return folder


def _files(folder: Path, readings: str = READINGS, meters: str = METERS) -> dict[str, Path]:
    return {
        "readings": _write(folder, "readings.csv", readings),
        "meters": _write(folder, "meters.csv", meters),
        "transformers": _write(folder, "transformers.csv", TRANSFORMERS),
    }


# --- happy paths ------------------------------------------------------------------------------


def test_15min_readings_are_summed_into_hours(ws: Workspace, inputs: Path) -> None:
    report = import_feeds(_files(inputs), ws, name="pilot")

    out = pd.read_parquet(ws.feed_dir("readings"))
    assert out["meter_id"].tolist() == ["M1", "M2"]
    assert out["timestamp"].tolist() == [pd.Timestamp("2024-01-01", tz="UTC")] * 2
    assert out["kwh"].tolist() == pytest.approx([1.0, 7.0])
    assert report.intervals == {15: 2}
    assert report.dropped_hours == 0
    assert report.rows == {"readings": 2, "meters": 2, "transformers": 1}
    # replaces the whole feeds folder
    assert sorted(p.name for p in ws.feeds.iterdir()) == [
        "meters", "readings", "transformers", "zone.json",
    ]  # fmt: skip
    zone = json.loads(ws.zone_file.read_text())
    assert zone == {
        "name": "pilot",
        "source": "import",
        "country": "CI",
        "subdivision": None,
        "timezone": "Africa/Abidjan",
        "region": "R1",  # the transformers' only region
        "start": "2024-01-01T00:00:00+00:00",
        "end": "2024-01-01T01:00:00+00:00",
        "feeds": ["meters", "readings", "transformers"],
    }
    assert validate_workspace(ws).ok


def test_written_columns_have_the_contract_dtypes(ws: Workspace, inputs: Path) -> None:
    import_feeds(_files(inputs), ws)
    for feed in ("readings", "meters", "transformers"):
        df = pd.read_parquet(ws.feed_dir(feed) / "part-00000.parquet")
        expected = {c: str(col.dtype) for c, col in FEEDS[feed].schema.columns.items()}
        got = {c: str(t) for c, t in df.dtypes.items()}
        assert got == {c: "object" if t == "str" else t for c, t in expected.items()}


@pytest.mark.parametrize("minutes", [15, 30, 60])
def test_any_supported_interval_gives_hourly_sums(
    ws: Workspace, inputs: Path, minutes: int
) -> None:
    raw = _readings(minutes, hours=3)
    files = _files(inputs) | {"readings": _csv(raw, inputs / "readings.csv")}
    report = import_feeds(files, ws)

    out = pd.read_parquet(ws.feed_dir("readings"))
    expected = raw.groupby(["meter_id", raw["timestamp"].dt.floor("h")])["kwh"].sum()
    assert len(out) == 2 * 3
    assert out.set_index(["meter_id", "timestamp"])["kwh"].to_dict() == pytest.approx(
        expected.to_dict()
    )
    assert report.intervals == {minutes: 2}


def test_meters_may_have_different_intervals(ws: Workspace, inputs: Path) -> None:
    raw = pd.concat([_readings(15, meters=("M1",)), _readings(30, meters=("M2",))])
    report = import_feeds(_files(inputs) | {"readings": _csv(raw, inputs / "r.csv")}, ws)
    assert report.intervals == {15: 1, 30: 1}
    assert report.rows["readings"] == 6


def test_parquet_input_with_tz_aware_timestamps(ws: Workspace, inputs: Path) -> None:
    raw = _readings(30, hours=2)
    raw["timestamp"] = raw["timestamp"].dt.tz_convert("Africa/Nairobi")  # UTC+3
    raw.to_parquet(inputs / "readings.parquet")
    meters = pd.read_csv(_write(inputs, "m.csv", METERS))
    meters.to_parquet(inputs / "meters.parquet")
    files = _files(inputs) | {
        "readings": inputs / "readings.parquet",
        "meters": inputs / "meters.parquet",
    }
    import_feeds(files, ws)

    out = pd.read_parquet(ws.feed_dir("readings"))
    assert str(out["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert out["timestamp"].min() == pd.Timestamp("2024-01-01", tz="UTC")
    assert out["kwh"].iloc[0] == pytest.approx(0.01 + 0.02)
    assert validate_workspace(ws).ok


def test_offsets_other_than_utc_are_converted(ws: Workspace, inputs: Path) -> None:
    text = "meter_id,timestamp,kwh\nM1,2024-01-01T02:00:00+02:00,1.5\nM1,2024-01-01T01:00:00Z,2\n"
    import_feeds({"readings": _write(inputs, "r.csv", text)}, ws)
    out = pd.read_parquet(ws.feed_dir("readings"))
    assert out["timestamp"].tolist() == list(
        pd.date_range("2024-01-01", periods=2, freq="h", tz="UTC")
    )


def test_incomplete_hours_are_left_out(ws: Workspace, inputs: Path) -> None:
    text = READINGS.replace("M2,2024-01-01T00:30:00+00:00,2.0\n", "")
    report = import_feeds(_files(inputs, readings=text), ws)
    out = pd.read_parquet(ws.feed_dir("readings"))
    assert out["meter_id"].tolist() == ["M1"]
    assert report.dropped_hours == 1


def test_readings_alone_and_parts_of_whole_meters(ws: Workspace, inputs: Path) -> None:
    raw = _readings(60, hours=2, meters=("M3", "M1", "M2"))
    report = import_feeds({"readings": _csv(raw, inputs / "r.csv")}, ws, meters_per_part=2)

    parts = sorted(ws.feed_dir("readings").glob("part-*.parquet"))
    assert [pd.read_parquet(p)["meter_id"].unique().tolist() for p in parts] == [
        ["M1", "M2"],
        ["M3"],
    ]
    assert report.readings_parts == 2
    assert json.loads(ws.zone_file.read_text())["feeds"] == ["readings"]
    assert validate_workspace(ws).ok


# --- bad input: one problem each, named by file, row and column; nothing written ---------------

R = READINGS
BAD_READINGS: dict[str, tuple[Callable[[], str], list[str]]] = {
    "missing column": (
        lambda: "\n".join(line.rsplit(",", 1)[0] for line in R.splitlines()) + "\n",
        ["readings.csv", "missing column", "'kwh'"],
    ),
    "unexpected column": (
        lambda: "\n".join(line + ",x" for line in R.splitlines()).replace("kwh,x", "kwh,note"),
        ["readings.csv", "unexpected column", "'note'"],
    ),
    "wrong type": (
        lambda: _row(R, 3, "M1,2024-01-01T00:30:00Z,abc"),
        ["readings.csv", "column 'kwh'", "row 3", "not numbers", "'abc'"],
    ),
    "unparsable timestamp": (
        lambda: _row(R, 2, "M1,2024-01-01T00:75:00Z,0.2"),
        ["readings.csv", "column 'timestamp'", "row 2", "unparsable"],
    ),
    "naive timestamp": (
        lambda: _row(R, 6, "M2,2024-01-01 00:15:00,1.5"),
        ["readings.csv", "column 'timestamp'", "row 6", "naive", "no UTC offset"],
    ),
    "duplicate key": (
        lambda: _row(R, 3, "M1,2024-01-01T00:15:00Z,0.3"),
        ["readings.csv", "duplicate key (meter_id, timestamp)", "rows 2, 3"],
    ),
    "negative kwh": (
        lambda: _row(R, 4, "M1,2024-01-01T00:45:00Z,-0.4"),
        ["readings.csv", "column 'kwh'", "row 4", "greater_than_or_equal_to(0.0)", "-0.4"],
    ),
    "absurd kwh": (
        lambda: _row(R, 5, "M2,2024-01-01T00:00:00Z,5000"),
        ["readings.csv", "column 'kwh'", "row 5", "less_than_or_equal_to(2000.0)", "5000"],
    ),
    "absurd hourly total": (
        lambda: (
            R.replace(",1.0\n", ",600\n")
            .replace(",1.5\n", ",600\n")
            .replace(",2.0\n", ",600\n")
            .replace(",2.5\n", ",600\n")
        ),
        ["readings.csv (hourly totals", "column 'kwh'", "row 5", "2400.0"],
    ),
    "unknown meter id": (
        lambda: _row(R, 8, "M9,2024-01-01T00:45:00Z,2.5"),
        ["readings.csv", "column 'meter_id'", "row 8", "unknown id", "M9"],
    ),
    "out of order": (
        lambda: _row(_row(R, 2, "M1,2024-01-01T00:30:00Z,0.3"), 3, "M1,2024-01-01T00:15:00Z,0.2"),
        ["readings.csv", "column 'timestamp'", "row 3", "out of time order"],
    ),
    "unsupported interval": (
        lambda: (
            "meter_id,timestamp,kwh\n"
            + "".join(f"M1,2024-01-01T00:{m:02d}:00Z,1\n" for m in (0, 20, 40))
        ),
        ["readings.csv", "column 'timestamp'", "rows 1, 2, 3", "every 20 min", "15, 30, 60"],
    ),
    "irregular reading": (
        lambda: _row(R, 2, "M1,2024-01-01T00:10:00Z,0.2"),
        ["readings.csv", "column 'timestamp'", "row 2", "off the 15-min grid"],
    ),
}


def _assert_one_line_names(message: str, fragments: list[str]) -> None:
    lines = message.splitlines()
    assert any(all(f in line for f in fragments) for line in lines), (fragments, message)


@pytest.mark.parametrize("case", list(BAD_READINGS))
def test_bad_readings_are_refused_and_nothing_is_written(
    ws: Workspace, inputs: Path, case: str
) -> None:
    text, fragments = BAD_READINGS[case]
    before = _snapshot(ws.root)
    with pytest.raises(ContractError) as err:
        import_feeds(_files(inputs, readings=text()), ws)
    _assert_one_line_names(str(err.value), fragments)
    assert str(err.value).startswith("nothing was imported")
    assert _snapshot(ws.root) == before


def test_unknown_transformer_id_in_meters(ws: Workspace, inputs: Path) -> None:
    before = _snapshot(ws.root)
    with pytest.raises(ContractError) as err:
        import_feeds(_files(inputs, meters=_row(METERS, 2, "M2,T9,commercial,PRO-2")), ws)
    _assert_one_line_names(str(err.value), ["meters.csv", "column 'transformer_id'", "row 2", "T9"])
    assert _snapshot(ws.root) == before


def test_naive_parquet_timestamps_are_refused(ws: Workspace, inputs: Path) -> None:
    raw = _readings(60, hours=2)
    raw["timestamp"] = raw["timestamp"].dt.tz_localize(None)
    raw.to_parquet(inputs / "readings.parquet")
    before = _snapshot(ws.root)
    with pytest.raises(ContractError) as err:
        import_feeds({"readings": inputs / "readings.parquet"}, ws)
    _assert_one_line_names(
        str(err.value), ["readings.parquet", "column 'timestamp'", "rows 1, 2, 3", "naive"]
    )
    assert _snapshot(ws.root) == before


def test_every_problem_of_every_file_is_listed(ws: Workspace, inputs: Path) -> None:
    readings = _row(_row(READINGS, 3, "M1,2024-01-01T00:30:00Z,abc"), 7, "M2,2024-01-01T00:30,2")
    meters = _row(METERS, 1, "M1,T1,household,DOM-1")
    files = _files(inputs, readings=readings, meters=meters) | {"vends": inputs / "absent.csv"}
    before = _snapshot(ws.root)
    with pytest.raises(ContractError) as err:
        import_feeds(files, ws, timezone="Mars/Olympus")
    message = str(err.value)
    assert (
        message.splitlines()[0] == "nothing was imported; 5 problem(s) (see docs/data-contract.md):"
    )
    _assert_one_line_names(message, ["readings.csv", "column 'kwh'", "row 3"])
    _assert_one_line_names(message, ["readings.csv", "column 'timestamp'", "row 7", "naive"])
    _assert_one_line_names(message, ["meters.csv", "column 'segment'", "row 1", "household"])
    _assert_one_line_names(message, ["absent.csv", "no such file"])
    _assert_one_line_names(message, ["unknown time zone 'Mars/Olympus'"])
    assert _snapshot(ws.root) == before


def test_readings_are_required_and_file_types_checked(ws: Workspace, inputs: Path) -> None:
    with pytest.raises(ContractError, match="readings or load_measurements: give at least one"):
        import_feeds({"meters": _write(inputs, "meters.csv", METERS)}, ws)
    with pytest.raises(ContractError, match=r"readings\.txt: cannot read it as readings"):
        import_feeds({"readings": _write(inputs, "readings.txt", READINGS)}, ws)


def test_nothing_is_created_in_a_new_workspace_on_error(tmp_path: Path, inputs: Path) -> None:
    ws = Workspace(tmp_path / "fresh")
    with pytest.raises(ContractError):
        import_feeds(_files(inputs, readings=_row(READINGS, 1, "M1,2024-01-01,0.1")), ws)
    assert not ws.root.exists()


# --- command line -----------------------------------------------------------------------------


def test_cli_exits_2_with_the_message_on_bad_input(ws: Workspace, inputs: Path) -> None:
    bad = _write(inputs, "readings.csv", _row(READINGS, 3, "M1,2024-01-01T00:30:00Z,abc"))
    before = _snapshot(ws.root)
    result = CliRunner().invoke(
        app, ["data", "import", "--readings", str(bad), "--workspace", str(ws.root)]
    )
    assert result.exit_code == 2
    assert "error: nothing was imported" in result.stderr
    _assert_one_line_names(result.stderr, ["readings.csv", "column 'kwh'", "row 3", "'abc'"])
    assert _snapshot(ws.root) == before


def test_cli_import_then_validate_passes(ws: Workspace, inputs: Path) -> None:
    files = _files(inputs)
    runner = CliRunner()
    args = ["data", "import", "--workspace", str(ws.root), "--name", "pilot"]
    for feed, path in files.items():
        args += [f"--{feed}", str(path)]
    imported = runner.invoke(app, args)
    assert imported.exit_code == 0, imported.output
    assert "imported 3 feeds" in imported.stdout

    validated = runner.invoke(app, ["data", "validate", "--workspace", str(ws.root)])
    assert validated.exit_code == 0, validated.output
    assert "all 3 feeds conform" in validated.stdout


# --- the documentation ------------------------------------------------------------------------


def test_doc_tables_list_exactly_the_contract_columns() -> None:
    text = DOC.read_text()
    for name, contract in FEEDS.items():
        section = re.search(rf"^### `{name}`.*?(?=^#|\Z)", text, flags=re.M | re.S)
        assert section, f"no section for feed {name}"
        columns = re.findall(r"^\| `(\w+)` \|", section.group(0), flags=re.M)
        assert columns == list(contract.schema.columns), name
