"""Every package folder is listed in pyproject.toml (the layout maps folders onto `gridml.*`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAPPING = {
    "gridml": "src/gridml",
    "gridml.features": "features",
    "gridml.training": "training",
    "gridml.serving": "serving",
}


def test_every_package_folder_is_declared() -> None:
    declared = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = set()
    for package, folder in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *rel.parts]))
    assert found == declared
