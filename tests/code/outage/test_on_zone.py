"""The detector replayed on generated zones, scored against their ground truth; the CLI."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from gridml.cli.main import app
from gridml.outage.replay import detect, load_inputs, outages_path, run
from gridml.outage.score import score
from gridml.workspace import Workspace


def _copy(zone: Workspace, tmp_path) -> Workspace:
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(zone.feeds, ws.feeds)
    shutil.copytree(zone.labels, ws.labels)
    return ws


def _score(ws: Workspace):
    inputs = load_inputs(ws)
    out = run(inputs)
    truth = pd.read_parquet(ws.labels / "outages.parquet")
    return out, truth, score(out, truth, inputs.topo, inputs.schedule)


def test_small_zone_outages_are_found_where_they_are(small_zone: Workspace) -> None:
    _, truth, s = _score(small_zone)
    assert s.true_outages == int((truth["meters_dark"] > 0).sum()) > 0
    assert s.recall >= 0.9 and s.precision >= 0.9
    assert s.scope_exact >= 0.9
    assert s.shedding_raised_as_unplanned == 0
    assert s.shedding_blocks_seen > 0  # the zone sheds load and the detector saw it as such
    assert s.median_delay_s < 300


@pytest.mark.slow  # the medium zone (a few seconds to generate)
def test_medium_zone_nearly_meets_the_goals(medium_zone: Workspace) -> None:
    _, truth, s = _score(medium_zone)
    assert set(truth["level"]) == {"transformer", "feeder", "substation"}
    # 4 meters per transformer (the demo zone has 12): a transformer needs two of its four last
    # gasps, which a quarter lost misses about once in twenty (the goal, 0.95, is the demo zone's)
    assert s.recall >= 0.9, s
    assert s.precision >= 0.90, s
    assert s.median_delay_s < 300, s
    assert s.scope_exact >= 0.90, s
    assert s.shedding_raised_as_unplanned == 0, s


def test_a_shedding_schedule_left_out_turns_shedding_into_false_outages(
    small_zone: Workspace, tmp_path
) -> None:
    """The schedule is what keeps load shedding apart: without it the precision collapses."""
    ws = _copy(small_zone, tmp_path)
    shutil.rmtree(ws.feed_dir("interruptions"))
    _, _, s = _score(ws)
    assert s.shedding_blocks_seen == 0
    assert s.precision < 0.5


def test_cli_detect_writes_the_table_and_scores_it(small_zone: Workspace, tmp_path) -> None:
    ws = _copy(small_zone, tmp_path)
    result = CliRunner().invoke(app, ["outages", "detect", "--workspace", str(ws.root)])
    assert result.exit_code == 0, result.output
    assert "unplanned outages" in result.stdout and "recall" in result.stdout
    table = pd.read_parquet(outages_path(ws))
    assert list(table.columns[:4]) == ["outage_id", "kind", "level", "node_id"]
    assert (table["customers"] >= 1).all()
    assert list(outages_path(ws).parent.iterdir()) == [outages_path(ws)]  # no temp file left
    assert detect(ws).equals(table)  # a replay is deterministic


def test_cli_detect_without_events_says_what_is_missing(tmp_path) -> None:
    ws = Workspace(tmp_path / "empty")
    result = CliRunner().invoke(app, ["outages", "detect", "--workspace", str(ws.root)])
    assert result.exit_code == 2
    assert "no meters feed" in result.stderr and "meter_events" in result.stderr


def test_help_explains_the_detector() -> None:
    result = CliRunner().invoke(app, ["outages", "detect", "--help"])
    assert result.exit_code == 0
    assert "load-shedding" in result.stdout and "lowest node" in result.stdout
