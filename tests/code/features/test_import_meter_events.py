"""`meter_events` through `gridml data import`: accepted as an optional feed, refused with the
file, row and column of each problem, and replayable by `gridml outages detect` afterwards."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.errors import ContractError
from gridml.features.importer import import_feeds
from gridml.io import read_parts
from gridml.workspace import Workspace

READINGS = """meter_id,timestamp,kwh
M1,2024-01-01T00:00:00Z,0.1
M2,2024-01-01T00:00:00Z,0.2
M3,2024-01-01T00:00:00Z,0.3
"""
METERS = """meter_id,transformer_id,segment,tariff
M1,T1,residential_prepaid,DOM-1
M2,T1,commercial,PRO-2
M3,T1,residential_prepaid,DOM-1
"""
TRANSFORMERS = """transformer_id,feeder_id,substation_id,region_id,rating_kva,commissioned_year
T1,F1,S1,R1,100,1998
"""
EVENTS = """meter_id,timestamp,kind
M1,2024-01-01T00:10:03Z,power_down
M2,2024-01-01T00:10:04+00:00,power_down
M3,2024-01-01T00:55:09Z,power_restore
M1,2024-01-01T00:20:00Z,tamper
"""


def _files(folder: Path, events: str = EVENTS) -> dict[str, Path]:
    out = {}
    for name, text in {
        "readings": READINGS,
        "meters": METERS,
        "transformers": TRANSFORMERS,
        "meter_events": events,
    }.items():
        out[name] = folder / f"{name}.csv"
        out[name].write_text(text)
    return out


def test_meter_events_are_imported_to_the_second(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    report = import_feeds(_files(tmp_path), ws)
    assert report.rows["meter_events"] == 4
    events = read_parts(ws.feed_dir("meter_events"))
    assert events is not None
    assert str(events["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert events["timestamp"].min() == pd.Timestamp("2024-01-01T00:10:03Z")
    # sorted by meter, then time
    assert list(events["meter_id"]) == ["M1", "M1", "M2", "M3"]


@pytest.mark.parametrize(
    ("row", "line", "fragments"),
    [
        (2, "M2,2024-01-01T00:10:04Z,blackout", ["column 'kind'", "row 2", "blackout"]),
        (3, "M9,2024-01-01T00:55:09Z,power_restore", ["column 'meter_id'", "row 3", "M9"]),
        (1, "M1,2024-01-01T00:10:03,power_down", ["column 'timestamp'", "row 1", "naive"]),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, row: int, line: str, fragments: list[str]) -> None:
    lines = EVENTS.splitlines()
    lines[row] = line
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(ContractError) as err:
        import_feeds(_files(tmp_path, "\n".join(lines) + "\n"), ws)
    hits = [x for x in str(err.value).splitlines() if all(f in x for f in fragments)]
    assert len(hits) == 1 and "meter_events.csv" in hits[0], str(err.value)
    assert not ws.root.exists()


def test_cli_import_then_detect(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    args = ["data", "import", "--workspace", str(ws)]
    for feed, path in _files(tmp_path).items():
        args += [f"--{feed.replace('_', '-')}", str(path)]
    runner = CliRunner()
    imported = runner.invoke(app, args)
    assert imported.exit_code == 0, imported.output
    assert "meter_events" in imported.stdout
    detected = runner.invoke(app, ["outages", "detect", "--workspace", str(ws)])
    assert detected.exit_code == 0, detected.output
    table = pd.read_parquet(ws / "outages" / "outages.parquet")
    (row,) = table.itertuples()
    assert (row.level, row.node_id, row.customers) == ("transformer", "T1", 3)
    assert row.end == pd.Timestamp("2024-01-01T00:55:09Z")
    assert "recall" not in detected.stdout  # no ground truth for an imported zone
