"""Real-data code never imports the simulator: the importer, the feature tables, training and
serving read a utility's own feeds with the physics in `gridml.features.physics` only."""

from __future__ import annotations

import subprocess
import sys

REAL_DATA_MODULES = [
    "gridml.features.importer",
    "gridml.features.validate",
    "gridml.features.landing",
    "gridml.features.merge",
    "gridml.features.tables.build",
    "gridml.features.store.repo",
    "gridml.training.demand.pipeline",
    "gridml.training.maintenance.pipeline",
    "gridml.training.theft.pipeline",
    "gridml.serving.service",
]


def test_real_data_modules_do_not_load_the_simulator() -> None:
    # one fresh interpreter for all of them: modules already imported by the tests would hide it
    code = (
        "import sys, importlib\n"
        f"for name in {REAL_DATA_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "    bad = sorted(m for m in sys.modules if m.startswith('gridml.features.simulator'))\n"
        "    if bad:\n"
        "        print(name, 'loads', ','.join(bad))\n"
        "        break\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip() == ""
