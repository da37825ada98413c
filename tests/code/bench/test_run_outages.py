"""bench/run_outages.py on the small zone: it times both paths and reports the scores."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow  # generates the small zone and replays it three ways
def test_quick_run_writes_timings_and_scores(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    bench = importlib.import_module("bench.run_outages")
    out = tmp_path / "outages.json"
    report = bench.main(["--quick", "--reps", "1", "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["events"] == report["events"] > 0
    assert saved["detector_s"] > 0 and saved["reference_s"] > 0
    assert saved["ratio"] == pytest.approx(saved["detector_s"] / saved["reference_s"])
    assert set(saved["goals"]) <= set(saved["score"])
    assert saved["score"]["shedding_raised_as_unplanned"] == 0
