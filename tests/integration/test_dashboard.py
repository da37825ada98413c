"""The operations dashboard and the routes it reads, against a real `gridml serve` on the
serving workspace (medium zone, three small models): the JSON routes with their limits and
roles, the session-cookie login, and each page in a real headless Chromium (Debian's
/usr/bin/chromium driven by playwright; skipped with the reason when absent). Screenshots of
each page are kept under build/screenshots/."""

from __future__ import annotations

import contextlib
import csv
import io
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serving_server import call

from gridml.serving.auth import create_key
from gridml.workspace import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.contextmanager
def login(server: str, key: str) -> Iterator[httpx.Client]:
    """A client holding a dashboard session for `key`."""
    with httpx.Client(base_url=server, timeout=120) as client:
        answer = client.post("/dashboard/login", data={"key": key})
        assert answer.status_code == 303, answer.text[:300]
        yield client


# --- the JSON routes ---------------------------------------------------------------------


def test_risk_top_is_ranked_with_the_budget_and_matches_risk(
    server: str, keys: dict[str, str]
) -> None:
    top = call(server, "/maintenance/risk/top", keys["reader"], {"n": 7})
    assert top.status_code == 200, top.text
    body = top.json()
    probs = [r["probability"] for r in body["risks"]]
    assert len(probs) == 7 and probs == sorted(probs, reverse=True)
    assert [r["rank"] for r in body["risks"]] == list(range(1, 8))
    assert body["budget"] == math.ceil(0.05 * body["scored"])
    assert body["transformers"] == body["scored"] + body["without_features"]
    ids = [r["transformer_id"] for r in body["risks"]]
    direct = call(server, "/maintenance/risk", keys["reader"], {"ids": ids}).json()["risks"]
    assert [r["probability"] for r in direct] == pytest.approx(probs)
    # the top ranked is at least as risky as every other transformer
    everyone = call(server, "/maintenance/risk/top", keys["reader"], {"n": 10_000}).json()
    assert everyone["risks"][0]["probability"] == max(probs)
    assert len(everyone["risks"]) == body["scored"]


def test_theft_top_ranked_with_reasons_and_energy_balance(
    server: str, keys: dict[str, str]
) -> None:
    body = call(server, "/theft/top", keys["reader"], {"n": 20}).json()
    scores = body["scores"]
    assert len(scores) == 20
    assert [s["probability"] for s in scores] == sorted(
        (s["probability"] for s in scores), reverse=True
    )
    assert all(s["energy_balance"] and "loss_ratio_28d" in s["energy_balance"] for s in scores)
    direct = call(server, "/theft/score", keys["reader"], {"ids": [scores[0]["meter_id"]]})
    assert direct.json()["scores"][0]["probability"] == pytest.approx(scores[0]["probability"])
    unit = scores[0]["transformer_id"]
    mine = call(server, "/theft/top", keys["reader"], {"n": 50, "transformer_id": unit}).json()
    assert mine["scores"] and {s["transformer_id"] for s in mine["scores"]} == {unit}
    assert len(mine["scores"]) == mine["scores"][0]["meters_in_transformer"]


def test_ids_page_through_a_level_and_forecast(server: str, keys: dict[str, str]) -> None:
    seen, after = [], None
    while True:
        page = call(
            server,
            "/ids",
            keys["reader"],
            {"level": "meter", "limit": 150} | ({"after": after} if after else {}),
        ).json()
        seen += page["ids"]
        after = page["next_after"]
        if after is None:
            break
    assert len(seen) == page["total"] == len(set(seen)) and seen == sorted(seen)
    feeders = call(server, "/ids", keys["reader"], {"level": "feeder"}).json()["ids"]
    answer = call(server, "/forecast/demand", keys["reader"], {"ids": feeders, "horizon": 2})
    assert answer.status_code == 200 and len(answer.json()["forecasts"]) == len(feeders)


def test_actuals_over_a_range(server: str, keys: dict[str, str]) -> None:
    ask = {"ids": ["all"], "level": "zone", "start": "2024-06-01T00:00:00Z"}
    body = call(server, "/actuals", keys["reader"], ask | {"end": "2024-06-02T00:00:00Z"})
    assert body.status_code == 200, body.text
    points = body.json()["actuals"][0]["points"]
    assert len(points) == 24
    assert points[0]["hour_start"].startswith("2024-06-01T00:00")
    assert all(p["kwh"] is not None and p["kwh"] > 0 for p in points)
    for end, status in [
        ("2024-05-01T00:00:00Z", 400),  # before start
        ("2024-12-01T00:00:00Z", 413),  # more than 92 days
        ("2024-06-02T00:00:00", 400),  # no offset
    ]:
        answer = call(server, "/actuals", keys["reader"], ask | {"end": end})
        assert answer.status_code == status, (end, answer.text)
        assert "'end'" in answer.json()["error"]
    unknown = call(
        server,
        "/actuals",
        keys["reader"],
        ask | {"ids": ["F999"], "level": "feeder"} | {"end": "2024-06-02T00:00:00Z"},
    )
    assert unknown.status_code == 404 and "F999" in unknown.text


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/maintenance/risk/top", {"n": 0}),
        ("/maintenance/risk/top", {"n": "5"}),  # strict: a string is not a number
        ("/theft/top", {"n": 5, "transformer_id": "T 1"}),  # not an id
        ("/actuals", {"ids": ["F001"], "start": "x" * 41, "end": "2024-06-02T00:00:00Z"}),
        ("/ids", {"level": "county"}),
        ("/ids", {"limit": 10_001}),
    ],
)
def test_bad_bodies_are_400(server: str, keys: dict[str, str], route: str, body: dict) -> None:
    assert call(server, route, keys["reader"], body).status_code == 400


@pytest.mark.parametrize("route", ["/maintenance/risk/top", "/theft/top", "/ids", "/actuals"])
def test_routes_need_a_reader_key(server: str, keys: dict[str, str], route: str) -> None:
    assert call(server, route, None, {}).status_code == 401
    assert call(server, route, keys["ingest"], {}).status_code == 403


# --- sessions ----------------------------------------------------------------------------


def test_pages_without_a_session_go_to_the_login(server: str) -> None:
    for page in ("demand", "risk", "theft", "theft.csv", "models"):
        answer = httpx.get(f"{server}/dashboard/{page}")
        assert answer.status_code == 303 and answer.headers["location"] == "login", page
    forged = httpx.get(f"{server}/dashboard/risk", cookies={"gridml_session": "e30.AAAA"})
    assert forged.status_code == 303


def test_login_gives_a_strict_http_only_cookie_without_the_key(
    served, keys: dict[str, str]
) -> None:
    answer = httpx.post(f"{served.url}/dashboard/login", data={"key": keys["reader"]})
    assert answer.status_code == 303 and answer.headers["location"] == "demand"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
    assert keys["reader"] not in cookie
    assert "content-security-policy" in answer.headers
    for key, status in [("gml_not-a-key", 401), (keys["ingest"], 403)]:
        refused = httpx.post(f"{served.url}/dashboard/login", data={"key": key})
        assert refused.status_code == status and "set-cookie" not in refused.headers
    cross = httpx.post(
        f"{served.url}/dashboard/login",
        data={"key": keys["reader"]},
        headers={"origin": "http://evil.example"},
    )
    assert cross.status_code == 403 and "set-cookie" not in cross.headers
    log = served.log_text()
    assert keys["reader"] not in log and keys["ingest"] not in log


def test_a_rotated_key_ends_its_sessions(server: str, serving_ws: Workspace) -> None:
    path = serving_ws.root / "api-keys.yaml"
    key = create_key(path, "dashboard-rotation", ["reader"])
    with login(server, key) as client:
        assert client.get("/dashboard/models").status_code == 200
        create_key(path, "dashboard-rotation", ["reader"])  # rotated: the old key is gone
        assert client.get("/dashboard/models").status_code == 303


def test_csv_export_over_http(server: str, keys: dict[str, str]) -> None:
    with login(server, keys["reader"]) as client:
        answer = client.get("/dashboard/theft.csv", params={"n": 25})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 25 and [int(r["rank"]) for r in rows] == list(range(1, 26))


def test_bad_page_parameters_are_answered_on_the_page(server: str, keys: dict[str, str]) -> None:
    with login(server, keys["reader"]) as client:
        assert client.get("/dashboard/risk", params={"n": "0"}).status_code == 400
        unknown = client.get("/dashboard/demand", params={"level": "feeder", "id": "F999"})
        assert unknown.status_code == 404 and "F999" in unknown.text
        assert client.get("/dashboard/theft", params={"transformer": "T99999"}).status_code == 404


# --- Grafana -----------------------------------------------------------------------------


def test_grafana_dashboard_uses_only_exported_metrics(server: str, keys: dict[str, str]) -> None:
    # one call of each kind, so every labelled series has a sample
    call(server, "/theft/score", keys["reader"], {"ids": ["M000001"]})
    call(server, "/maintenance/risk", keys["reader"], {"ids": ["T00001"]})
    call(server, "/forecast/demand", keys["reader"], {"ids": ["F001"], "horizon": 2})
    httpx.get(f"{server}/no-such-route")
    exported = httpx.get(f"{server}/metrics", timeout=30).text
    families = {line.split()[2] for line in exported.splitlines() if line.startswith("# TYPE ")} | {
        line.split("{")[0].split()[0] for line in exported.splitlines() if line[:1].isalpha()
    }
    used = metric_names(GRAFANA)
    assert {"gridml_model_version", "bentoml_service_request_total"} <= used
    assert not sorted(used - families), f"not on /metrics: {sorted(used - families)}"


GRAFANA = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "gridml-serving.json"
PROMQL_WORDS = frozenset(
    {
        *("sum", "max", "min", "avg", "count", "rate", "irate", "increase", "delta"),
        *("histogram_quantile", "topk", "bottomk", "abs", "clamp_min", "clamp_max"),
        *("by", "without", "on", "ignoring", "group_left", "group_right"),
        *("and", "or", "unless", "offset", "bool"),
    }
)


def metric_names(path: Path) -> set[str]:
    """Every metric name the dashboard's PromQL (panel targets, variable queries) reads."""
    import json
    import re

    data = json.loads(path.read_text())
    assert data["panels"] and all(p["targets"] for p in data["panels"])
    exprs = [t["expr"] for p in data["panels"] for t in p["targets"]]
    for var in data["templating"]["list"]:
        found = re.fullmatch(r"label_values\((\w+),\s*\w+\)", var["definition"])
        assert found, var["definition"]
        exprs.append(found.group(1))
    names: set[str] = set()
    for expr in exprs:
        text = re.sub(r'"[^"]*"', "", expr)
        text = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\$\w+", "", text)
        text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
        names |= set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text)) - PROMQL_WORDS
    return names


def test_grafana_names_parse() -> None:
    names = metric_names(GRAFANA)
    assert "gridml_prediction_probability_bucket" in names and "endpoint" not in names
    assert "le" not in names and "sum" not in names


# --- a real browser ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed")
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROME_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def signed_in(browser, server: str, keys: dict[str, str]) -> Iterator:
    """A browser context signed in through the login form (once per module)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{server}/dashboard/")
    assert page.url.endswith("/dashboard/login")
    page.fill("#key", keys["reader"])
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/demand")
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(signed_in) -> Iterator:
    """A page of the signed-in context recording its console errors."""
    page = signed_in.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.console_errors = errors
    yield page
    page.close()


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("demand", "Next day's peak"),
        ("risk", "weekly inspection budget"),
        ("theft", "Download CSV"),
        ("models", "demand-forecast"),
    ],
)
def test_page_in_a_browser(page, server: str, name: str, text: str) -> None:
    page.goto(f"{server}/dashboard/{name}")
    assert text in page.content()
    if name != "models":
        page.wait_for_selector("#chart[data-drawn=true]", timeout=60_000)
        marks = page.locator("#chart svg .trace").count()
        assert marks >= 1, "no trace drawn"
        assert page.locator("#chart svg path").count() > 3
    else:
        assert page.locator("table.models tbody tr").count() == 3
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{name}.png"))
    assert not page.console_errors, page.console_errors


def test_demand_peak_matches_the_forecast(page, server: str, keys: dict[str, str]) -> None:
    page.goto(f"{server}/dashboard/demand?level=zone&id=all")
    page.wait_for_selector("#chart[data-drawn=true]", timeout=60_000)
    assert page.locator("#skill svg .trace").count() == 1  # the lead-time skill bars
    shown = float(page.inner_text("#peak-value").split()[0].replace(",", ""))
    answer = call(server, "/forecast/demand", keys["reader"], {"ids": ["all"], "level": "zone"})
    hours = answer.json()["forecasts"][0]["hours"][:24]
    assert shown == pytest.approx(max(h["p50"] for h in hours), abs=0.06)
    assert not page.console_errors, page.console_errors


def test_csv_download_in_a_browser(page, server: str) -> None:
    page.goto(f"{server}/dashboard/theft")
    with page.expect_download() as info:
        page.click("#csv")
    download = info.value
    assert download.suggested_filename.startswith("theft-inspection-")
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    shown = page.locator("table.ranked tbody tr").count()
    assert len(rows) == shown > 0
    probs = [float(r["probability"]) for r in rows]
    assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
    assert not page.console_errors, page.console_errors


def test_a_page_without_a_key_is_refused_in_a_browser(browser, server: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server}/dashboard/theft")
    assert page.url.endswith("/dashboard/login")
    assert page.locator("table").count() == 0 and "M0" not in page.content()
    page.fill("#key", "gml_wrong")
    page.click("button[type=submit]")
    assert "Unknown key" in page.content()
    assert context.cookies() == []
    context.close()
