"""Every notebook is a jupytext pair: the `py:percent` script (what is reviewed and diffed) and
the `.ipynb` (what Jupyter opens) hold the same cells; `jupytext --sync notebooks/*.py` after
editing either."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SCRIPTS = sorted(NOTEBOOKS.glob("[0-9]*.py"))


def _cells(path: Path) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in jupytext.read(path).cells]


def test_there_are_notebooks() -> None:
    assert len(SCRIPTS) >= 5


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_script_and_notebook_hold_the_same_cells(script: Path) -> None:
    notebook = script.with_suffix(".ipynb")
    assert notebook.is_file(), f"{notebook.name} missing: run jupytext --sync {script}"
    assert _cells(script) == _cells(notebook), f"{script.name} and {notebook.name} differ"
    header = jupytext.read(script).metadata.get("jupytext", {})
    assert header.get("formats") == "ipynb,py:percent"
