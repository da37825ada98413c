"""`gridml serve` refuses an impossible port before starting anything (it used to hang)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gridml.cli.main import app


@pytest.mark.parametrize("port", ["0", "99999", "-1"])
def test_impossible_ports_are_refused(port: str) -> None:
    result = CliRunner().invoke(app, ["serve", "--port", port])
    assert result.exit_code == 2
    assert "--port" in result.output
