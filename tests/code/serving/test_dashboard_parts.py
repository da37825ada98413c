"""The dashboard's pieces without a server: session cookies, the signing secret, the ranked
lists' helpers, the demand view and the HTML/CSV rendering (the server and a real browser:
tests/integration/test_dashboard.py)."""

from __future__ import annotations

import csv
import io
import json
import math
import stat
from pathlib import Path

import pandas as pd
import pytest

from gridml.errors import UserError
from gridml.serving import ops
from gridml.serving.auth import ROUTE_ROLES, required_role
from gridml.serving.dashboard import pages, session, views
from gridml.serving.errors import TooLarge

SECRET = b"s" * 40
NOW = 1_800_000_000.0


# --- sessions ----------------------------------------------------------------------------


def test_session_round_trip_names_the_key_digest_only() -> None:
    value = session.sign(SECRET, "ab" * 32, NOW)
    assert session.verify(SECRET, value, NOW + 60) == "ab" * 32
    assert "gml_" not in value


@pytest.mark.parametrize(
    "mutate",
    [
        lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),  # signature changed
        lambda v: "e30" + v[3:],  # payload changed
        lambda v: v.replace(".", ""),  # no signature
        lambda v: v + "." + v,  # two dots
        lambda v: "x" * 600,  # too long
        lambda v: "",
    ],
)
def test_session_refuses_tampered_values(mutate) -> None:
    value = session.sign(SECRET, "ab" * 32, NOW)
    assert session.verify(SECRET, mutate(value), NOW) is None


def test_session_expires_and_needs_the_same_secret() -> None:
    value = session.sign(SECRET, "cd" * 32, NOW, seconds=100)
    assert session.verify(SECRET, value, NOW + 99) == "cd" * 32
    assert session.verify(SECRET, value, NOW + 100) is None
    assert session.verify(b"t" * 40, value, NOW) is None


def test_cookie_flags() -> None:
    header = session.cookie_header("v.s", secure=False)
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/dashboard" in header
    assert "Secure" not in header
    assert "; Secure" in session.cookie_header("v.s", secure=True)
    assert "Max-Age=0" in session.cookie_header("", secure=False, seconds=0)


def test_secret_file_made_once_private_and_reused(tmp_path: Path) -> None:
    first = session.load_secret({}, tmp_path)
    path = tmp_path / session.SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= session.MIN_SECRET_CHARS
    assert session.load_secret({}, tmp_path) == first
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_secret_from_the_environment(tmp_path: Path) -> None:
    env = {session.SECRET_ENV: "z" * 32}
    assert session.load_secret(env, tmp_path) == b"z" * 32
    assert not (tmp_path / session.SECRET_FILE).exists()
    with pytest.raises(UserError, match="at least 32"):
        session.load_secret({session.SECRET_ENV: "short"}, tmp_path)


def test_new_routes_need_reader_and_dashboard_does_its_own_auth() -> None:
    for route in ("/maintenance/risk/top", "/theft/top", "/ids", "/actuals"):
        assert ROUTE_ROLES[route] == "reader"
    assert required_role("/dashboard/demand") is None  # the session cookie guards it


# --- ops helpers -------------------------------------------------------------------------


def test_budget_count() -> None:
    assert ops.budget_count(100, 0.05) == 5
    assert ops.budget_count(101, 0.05) == 6
    assert ops.budget_count(3, 0.05) == 1
    assert ops.budget_count(0, 0.05) == 0
    assert ops.inspection_budget_share() == pytest.approx(0.05)


def test_ranked_orders_by_probability_with_ranks() -> None:
    rows = [{"id": "b", "probability": 0.2}, {"id": "a", "probability": 0.9}]
    rows.append({"id": "c", "probability": 0.2})
    out = ops.ranked(rows)
    assert [r["id"] for r in out] == ["a", "b", "c"]
    assert [r["rank"] for r in out] == [1, 2, 3]


def test_page_walks_every_id_once() -> None:
    ids = [f"F{i:03d}" for i in range(7)]
    seen, after = [], None
    while True:
        taken, after = ops.page(ids, 3, after)
        seen += taken
        if after is None:
            break
    assert seen == ids


def test_parse_time_needs_an_offset() -> None:
    assert ops.parse_time("2024-06-01T00:00:00+02:00", "start") == pd.Timestamp("2024-05-31T22:00Z")
    with pytest.raises(UserError, match=r"'start'.*UTC offset"):
        ops.parse_time("2024-06-01T00:00:00", "start")
    with pytest.raises(UserError, match="'end'"):
        ops.parse_time("yesterday", "end")
    with pytest.raises(UserError, match=r"1900\.\.2200"):
        ops.parse_time("2262-04-11T23:00:00Z", "end")


def test_actual_rows_by_hour_start_within_range() -> None:
    end_stamps = pd.date_range("2024-06-01T01:00Z", periods=6, freq="h")
    frame = pd.DataFrame(
        {"series_id": "feeder:F001", "event_timestamp": end_stamps, "load_kwh": range(6)}
    )
    rows = ops.actual_rows(
        frame,
        ["feeder:F001", "feeder:F002"],
        pd.Timestamp("2024-06-01T01:00Z"),
        pd.Timestamp("2024-06-01T04:00Z"),
    )
    points = rows[0]["points"]
    assert [p["hour_start"][11:16] for p in points] == ["01:00", "02:00", "03:00"]
    assert [p["kwh"] for p in points] == [1.0, 2.0, 3.0]  # the row stamped 02:00 is hour 01
    assert rows[1] == {"series_id": "feeder:F002", "points": []}


def test_latest_balance_takes_each_transformers_newest_day() -> None:
    frame = pd.DataFrame(
        {
            "transformer_id": ["T1", "T1", "T2"],
            "event_timestamp": pd.to_datetime(["2024-06-02", "2024-06-03", "2024-06-01"], utc=True),
            **{c: [0.1, 0.2, float("nan")] for c in ops.BALANCE_COLUMNS},
        }
    )
    out = ops.latest_balance(frame)
    assert out["T1"]["loss_ratio"] == 0.2 and out["T1"]["day_end"].startswith("2024-06-03")
    assert out["T2"]["loss_ratio"] is None


def test_monitoring_status(tmp_path: Path) -> None:
    assert ops.monitoring_status(tmp_path)["status"] == "never checked"
    (tmp_path / "report.md").write_text("# Monitoring\n\nALERT: demand MASE 1.4 > 1.2\n")
    status = ops.monitoring_status(tmp_path)
    assert status["status"] == "alert" and status["alerts"] == ["demand MASE 1.4 > 1.2"]


def test_actuals_limits_are_errors_not_work() -> None:
    assert issubclass(TooLarge, UserError)
    assert ops.MAX_ACTUAL_DAYS * 24 < ops.MAX_ACTUAL_POINTS


# --- the demand view ---------------------------------------------------------------------


def _forecast(origin: str, hours: int) -> dict:
    times = pd.date_range(origin, periods=hours, freq="h")
    p50 = [10.0 + (i % 24) for i in range(hours)]  # peak at local 23:00 each day
    return {
        "model": {"registered_model": "demand-forecast", "version": 3, "alias": "champion"},
        "weather": "persistence",
        "horizon": hours,
        "missing": [],
        "forecasts": [
            {
                "series_id": "feeder:F001",
                "unit": "kWh",
                "origin": times[0].isoformat(),
                "hours": [
                    {
                        "target_time": t.isoformat(),
                        "p50": v,
                        "quantiles": {"q10": v - 2, "q50": v, "q90": v + 3},
                    }
                    for t, v in zip(times, p50, strict=True)
                ],
            }
        ],
    }


def test_band_prefers_p10_p90_else_widest() -> None:
    assert views.band([0.1, 0.5, 0.9]) == (0.1, 0.9)
    assert views.band([0.05, 0.25, 0.5, 0.75, 0.95]) == (0.05, 0.95)
    assert views.band([0.5]) is None


def test_next_day_peak_is_within_the_first_local_day() -> None:
    # origin: local midnight in Melbourne (UTC+10 in June) = 14:00 UTC the day before
    forecast = _forecast("2024-06-01T14:00Z", 48)
    view = views.demand_view(forecast, None, [0.1, 0.5, 0.9], "Australia/Melbourne")
    peak = view["peak"]
    assert peak["local_time"] == "23:00" and peak["p50"] == 33.0
    assert (peak["low"], peak["high"]) == (31.0, 36.0)
    assert peak["day"] == "Sun 02 Jun 2024"
    assert view["forecast"]["band"] == ["P10", "P90"]
    assert len(view["forecast"]["x"]) == 48


def test_demand_view_without_forecast_keeps_the_reason() -> None:
    answer = {"model": None, "missing": [{"id": "feeder:F9", "reason": "no load profile"}]}
    view = views.demand_view(answer | {"forecasts": []}, None, [0.1, 0.9], "UTC")
    assert view["forecast"] is None and view["notes"] == ["feeder:F9: no load profile"]


def test_actual_range_covers_history_and_horizon() -> None:
    start, end = views.actual_range("2024-06-08T00:00:00+00:00", 48)
    assert pd.Timestamp(end) - pd.Timestamp(start) == pd.Timedelta(days=9)


# --- rendering ---------------------------------------------------------------------------


def test_script_json_cannot_close_the_script_element() -> None:
    text = pages.script_json({"id": "</script><script>alert(1)</script>"})
    assert "</" not in text and "<" not in text
    assert json.loads(text)["id"] == "</script><script>alert(1)</script>"


def test_values_are_escaped_in_pages() -> None:
    html = pages.layout("T", "risk", '<img src=x onerror="1">', "<p>ok</p>")
    assert "<img src=x" not in html and "&lt;img" in html


def _theft_view() -> dict:
    scores = [
        {
            "rank": 1,
            "meter_id": "=HYPERLINK(1)",
            "transformer_id": "T1",
            "probability": 0.91234567,
            "rank_in_transformer": 1,
            "meters_in_transformer": 4,
            "reason_codes": ["zero_hours: 14 hours", "night_share: 21%"],
            "energy_balance": {"loss_ratio": 0.2, "loss_ratio_28d": 0.25, "loss_kwh": 8.0},
        },
        {
            "rank": 2,
            "meter_id": "M2",
            "transformer_id": "T2",
            "probability": 0.5,
            "rank_in_transformer": 1,
            "meters_in_transformer": 3,
            "reason_codes": [],
            "energy_balance": None,
        },
    ]
    model = {"registered_model": "theft-detection", "version": 2, "alias": "champion"}
    return {"scores": scores, "as_of": "2024-06-29", "model": model}


def test_csv_export_parses_and_defuses_formulas() -> None:
    rows = list(csv.DictReader(io.StringIO(pages.csv_text(_theft_view()))))
    assert list(rows[0]) == list(pages.CSV_COLUMNS)
    assert rows[0]["meter_id"] == "'=HYPERLINK(1)"
    assert rows[0]["reason_codes"] == "zero_hours: 14 hours | night_share: 21%"
    assert math.isclose(float(rows[0]["probability"]), 0.912346)
    assert rows[1]["loss_ratio"] == "" and rows[1]["model"] == "theft-detection v2"


def test_risk_table_marks_the_budget() -> None:
    risks = [
        {"rank": i, "transformer_id": f"T{i}", "probability": 1 / i, "risk_band": "high"}
        | {"drivers": ["oil_temp"]}
        for i in range(1, 5)
    ]
    view = {"risks": risks, "budget": 2, "budget_share": 0.05, "scored": 40, "model": {}}
    html = pages.risk_body(view)
    assert html.count('class="in-budget"') == 2
    assert "weekly inspection budget: 2 of 40 transformers" in html


def test_skill_by_lead_reads_the_runs_metrics() -> None:
    metrics = {
        "lightgbm.zone.skill_lead_001h": 0.2,
        "lightgbm.zone.skill_lead_000h": 0.5,
        "lightgbm.feeder.skill_lead_000h": 0.9,
        "lightgbm.zone.mase": 0.7,
    }
    skill = ops.skill_by_lead(metrics, "zone")
    assert skill == {"model": "lightgbm", "lead_hours": [0, 1], "skill": [0.5, 0.2]}
    assert ops.skill_by_lead({"prophet.zone.skill_lead_002h": -0.1}, "zone")["model"] == "prophet"
    assert ops.skill_by_lead(metrics, "substation") is None


def test_models_page_shows_promotions_and_monitoring() -> None:
    record = {
        "time": "2026-12-01T10:00:00+00:00",
        "user": "ops",
        "action": "promote",
        "outcome": "refused",
        "from_version": 1,
        "to_version": 2,
        "gates": [
            {"gate": "beats_champion", "passed": False},
            {"gate": "signature", "passed": True},
        ],
    }
    summary = ops.promotion_summary(record)
    assert summary["failed_gates"] == ["beats_champion"] and summary["gates"] == 2
    model = {
        "endpoint": "theft",
        "registered_model": "theft-detection",
        "alias": "champion",
        "version": 1,
        "promoted": True,
        "feature_service": "theft_detection_v1",
        "error": None,
        "promotions": [summary],
        "monitoring": {"status": "alert", "checked": "2026-12-02", "alerts": ["drift <x>"]},
    }
    html = pages.models_body([model])
    assert "v1 → v2" in html and "failed: beats_champion" in html
    assert 'class="status alert"' in html and "drift &lt;x&gt;" in html
