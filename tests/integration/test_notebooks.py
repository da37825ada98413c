"""Every notebook runs from top to bottom on the medium test zone (nbclient, a real kernel), from a
directory outside the project, with the small configs (`GRIDML_NOTEBOOK_SMALL=1`); a cell that
raises fails the test with the cell's error."""

from __future__ import annotations

import shutil
from pathlib import Path

import jupytext
import nbclient
import pytest

from gridml.features.store import repo
from gridml.features.tables.build import build_tables
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.py"))


@pytest.fixture(scope="module")
def notebook_ws(medium_zone: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The medium test zone (the small zone's 180-day, 400-meter version: theft needs the
    days) with its features and Feast store, for the notebooks to read and log to."""
    ws = Workspace(tmp_path_factory.mktemp("notebook-ws"))
    shutil.copytree(medium_zone.feeds, ws.feeds)
    shutil.copytree(medium_zone.labels, ws.labels)
    build_tables(ws, progress=False)
    repo.apply_definitions(ws)
    repo.materialize(ws)
    return ws


@pytest.mark.parametrize("script", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(
    script: Path, notebook_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GRIDML_WORKSPACE", str(notebook_ws.root))
    monkeypatch.setenv("GRIDML_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = jupytext.read(script)
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert outputs, f"{script.name} printed and showed nothing"
    assert list(tmp_path.iterdir()) == []  # nothing written where it ran (no ./mlruns)
