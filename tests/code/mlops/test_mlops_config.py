"""The promotion and monitoring configs in experiments/ load; mistakes name the model/field;
the report renders the same content as Markdown and HTML; outcome files are checked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gridml.config import ConfigError
from gridml.mlops.config import MonitoringConfig, PromotionConfig
from gridml.mlops.report import Code, Section, to_html, to_markdown
from gridml.models import catalog

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"


@pytest.mark.parametrize("name", ["promotion.yaml", "promotion-small.yaml"])
def test_promotion_configs_cover_every_model(name: str) -> None:
    cfg = PromotionConfig.read_yaml(EXPERIMENTS / name)
    assert set(cfg.models) == set(catalog.names())
    for gates in cfg.models.values():
        assert (EXPERIMENTS.parent / gates.train_config).is_file()


def test_monitoring_config_covers_every_model() -> None:
    models = MonitoringConfig.read_yaml(EXPERIMENTS / "monitoring.yaml").models
    assert set(models) == set(catalog.names())


def test_unknown_model_and_bad_field_are_named(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("models:\n  churn: {train_config: x.yaml}\n")
    with pytest.raises(ConfigError, match="churn"):
        PromotionConfig.read_yaml(path)
    path.write_text("models:\n  demand-forecast: {train_config: x.yaml, penalty_factor: 9}\n")
    with pytest.raises(ConfigError, match="penalty_factor"):
        PromotionConfig.read_yaml(path)
    path.write_text("models:\n  demand-forecast: {train_config: x.yaml}\n")
    with pytest.raises(ConfigError, match="theft-detection"):
        PromotionConfig.read_yaml(path).gates("theft-detection")


def test_report_renders_markdown_and_html() -> None:
    table = pd.DataFrame({"feature": ["load_kwh"], "psi": [0.31234]})
    sections = [Section("Drift", ["ALERT: drift <b>", table, Code("a: 1")])]
    md = to_markdown("T", sections)
    page = to_html("T", sections)
    assert "| load_kwh | 0.3123 |" in md and "```\na: 1\n```" in md
    assert "<td>load_kwh</td>" in page and "&lt;b&gt;" in page and "class='alert'" in page


def test_outcomes_file_needs_its_columns(tmp_path: Path) -> None:
    from gridml.errors import MissingDataError
    from gridml.mlops.live import read_outcomes

    assert read_outcomes(tmp_path / "none.csv").empty
    path = tmp_path / "o.csv"
    path.write_text("meter_id,inspected_at,theft_found\nM1,2024-03-01T10:00:00Z,1\n")
    frame = read_outcomes(path)
    assert frame["inspected_at"].dt.tz is not None and frame["theft_found"].tolist() == [1]
    path.write_text("meter_id,when\nM1,2024-03-01\n")
    with pytest.raises(MissingDataError, match="theft_found"):
        read_outcomes(path)


def test_audit_records_are_strict_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import numpy as np

    from gridml.mlops import audit
    from gridml.workspace import Workspace

    monkeypatch.setenv("GRIDML_USER", "ops-anna")
    record = audit.entry(
        "promote",
        "demand-forecast",
        "refused",
        1,
        2,
        [{"gate": "x", "passed": False}],
        scores={"mase": float("nan"), "n": np.int64(3)},
    )
    ws = Workspace(tmp_path)
    audit.append(ws, record)
    audit.append(ws, record)
    lines = audit.audit_path(ws).read_text().splitlines()
    assert len(lines) == 2
    parsed = json.loads(lines[0], parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert parsed["user"] == "ops-anna" and parsed["scores"] == {"mase": None, "n": 3}
    assert audit.read(ws, "demand-forecast")[1]["to_version"] == 2
