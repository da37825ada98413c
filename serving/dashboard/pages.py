"""The dashboard's HTML, rendered from the data dicts of `ops.Ops` and the endpoints: plain
escaped HTML (every value through `html.escape`), the chart data as JSON in a
`<script type="application/json">` block that `static/dashboard.js` draws with Plotly. No
inline script runs (the Content-Security-Policy allows scripts from the service only)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any
from urllib.parse import urlencode

PAGES = (("demand", "Demand"), ("risk", "Transformers"), ("theft", "Theft"), ("models", "Models"))
CSV_COLUMNS = (
    "rank",
    "meter_id",
    "transformer_id",
    "probability",
    "rank_in_transformer",
    "meters_in_transformer",
    "reason_codes",
    "loss_ratio",
    "loss_ratio_7d",
    "loss_ratio_28d",
    "loss_kwh",
    "balance_day_end",
    "as_of",
    "model",
)


def script_json(value: Any) -> str:
    """JSON safe inside an HTML `<script>` element (no `<`, `>` or `&` left to close it)."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def e(value: Any) -> str:
    """A value for HTML text or an attribute: escaped, None as an em dash."""
    return "—" if value is None else escape(str(value), quote=True)


def pct(value: float | None, digits: int = 1) -> str:
    """A share as a percentage (None as an em dash)."""
    return "—" if value is None else f"{100 * value:.{digits}f}%"


def layout(title: str, active: str, user: str, body: str, data: Any | None = None) -> str:
    """The page frame: navigation, the signed-in key's name, a sign-out button, the body."""
    nav = "".join(
        f'<a href="{name}"{" class=active" if name == active else ""}>{e(label)}</a>'
        for name, label in PAGES
    )
    scripts = ""
    if data is not None:
        scripts = (
            f'<script type="application/json" id="page-data">{script_json(data)}</script>'
            '<script src="assets/plotly.min.js"></script>'
            '<script src="assets/dashboard.js"></script>'
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · gridml operations</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="assets/dashboard.css"></head>
<body><header><strong>gridml operations</strong><nav>{nav}</nav>
<form method="post" action="logout" class="who"><span>key: {e(user)}</span>
<button type="submit">Sign out</button></form></header>
<main><h1>{e(title)}</h1>{body}</main>{scripts}</body></html>"""


def login_page(message: str | None = None) -> str:
    """The sign-in form (the key is posted, never put in the URL), with a message."""
    note = f'<p class="error" role="alert">{e(message)}</p>' if message else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · gridml operations</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="assets/dashboard.css"></head>
<body><main class="login"><h1>gridml operations</h1>{note}
<form method="post" action="login" autocomplete="off">
<label for="key">API key (role reader)</label>
<input id="key" name="key" type="password" required maxlength="256" autofocus>
<button type="submit">Sign in</button></form>
<p class="hint">The key is sent once and exchanged for a session cookie; it is never stored in
the browser or put in a URL. <code>gridml serve keys create --name NAME --role reader</code>
makes one.</p></main></body></html>"""


def table(headers: Sequence[str], rows: Iterable[Sequence[str] | str], cls: str = "") -> str:
    """An HTML table of already-escaped cells (a row starting with a `<tr ...>` marker keeps
    its attributes; a row given as a string is whole-row HTML)."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        if isinstance(row, str):  # a whole row, already HTML
            body.append(row)
            continue
        attrs = ""
        if row and row[0].startswith("<tr"):
            attrs, row = row[0][3:-1], row[1:]
        body.append(f"<tr{attrs}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return (
        f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    )


def options(values: Iterable[str], chosen: str) -> str:
    """`<option>` elements of a select, `chosen` selected."""
    return "".join(
        f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(v)}</option>'
        for v in values
    )


def demand_body(view: dict[str, Any]) -> str:
    """The demand page: the series picker, the next day's peak, the chart."""
    levels = options(view["levels"], view["level"])
    ids = options(view["ids"], view["id"])
    peak = view.get("peak")
    facts = []
    if peak:
        facts.append(
            f'<div class="fact"><span>Next day\'s peak ({e(peak["day"])})</span>'
            f'<strong id="peak-value">{peak["p50"]:,.1f} {e(view["unit"])}</strong>'
            f"<span>at {e(peak['local_time'])} ({e(view['timezone'])}), "
            f"P10–P90 {peak['low']:,.1f}–{peak['high']:,.1f}</span></div>"
        )
    model = view.get("model") or {}
    facts.append(
        f'<div class="fact"><span>Served model</span><strong>{e(model.get("registered_model"))} '
        f"v{e(model.get('version'))}</strong><span>alias {e(model.get('alias'))}; origin "
        f"{e(view.get('origin_local'))}; weather {e(view.get('weather'))}</span></div>"
    )
    missing = "".join(f'<p class="warn">{e(m)}</p>' for m in view.get("notes", []))
    return f"""<form method="get" class="picker">
<label>Level <select name="level">{levels}</select></label>
<label>Id <select name="id">{ids}</select></label><button type="submit">Show</button></form>
<div class="facts">{"".join(facts)}</div>{missing}
<div id="chart" class="chart" data-kind="demand" role="img"
 aria-label="forecast and actual load of {e(view["series_id"])}"></div>
<h2>Lead-time skill of the served model ({e(view["level"])} level, backtest)</h2>
<div id="skill" class="chart small" role="img"
 aria-label="skill against the seasonal naive forecast by lead hour"></div>"""


def risk_body(view: dict[str, Any]) -> str:
    """The transformer page: the budget, the chart, the ranked table with the budget line."""
    budget = view["budget"]
    rows: list[list[str] | str] = []
    for r in view["risks"]:
        marker = '<tr class="in-budget">' if r["rank"] <= budget else "<tr>"
        rows.append(
            [
                marker,
                e(r["rank"]),
                e(r["transformer_id"]),
                pct(r["probability"]),
                f'<span class="band {e(r["risk_band"])}">{e(r["risk_band"])}</span>',
                e(", ".join(r["drivers"]) or "—"),
            ]
        )
        if r["rank"] == budget:
            rows.append(
                '<tr class="budget-line"><td colspan="5">▲ weekly inspection budget: '
                f"{budget} of {view['scored']} transformers ({pct(view['budget_share'], 0)})"
                "</td></tr>"
            )
    model = view.get("model") or {}
    return f"""<div class="facts"><div class="fact"><span>Weekly inspection budget</span>
<strong id="budget">{budget} transformers</strong><span>{pct(view["budget_share"], 0)} of
{view["scored"]} scored; as of {e(view.get("as_of"))}</span></div>
<div class="fact"><span>Served model</span><strong>{e(model.get("registered_model"))}
v{e(model.get("version"))}</strong><span>alias {e(model.get("alias"))}</span></div></div>
<div id="chart" class="chart" data-kind="risk" role="img"
 aria-label="failure probability by transformer"></div>
{table(["Rank", "Transformer", "Failure probability", "Band", "Drivers"], rows, "ranked")}"""


def theft_body(view: dict[str, Any], query: str) -> str:
    """The theft page: the list's scope, the CSV link (`query`: the page's own), the chart,
    the ranked table with reason codes and energy balance."""
    rows = []
    for r in view["scores"]:
        b = r.get("energy_balance") or {}
        rows.append(
            [
                e(r["rank"]),
                e(r["meter_id"]),
                f'<a href="theft?{e(urlencode({"transformer": r["transformer_id"]}))}">'
                f"{e(r['transformer_id'])}</a>",
                pct(r["probability"]),
                f"{e(r['rank_in_transformer'])} of {e(r['meters_in_transformer'])}",
                "<br>".join(e(c) for c in r["reason_codes"]) or "—",
                pct(b.get("loss_ratio_28d")),
                "—" if b.get("loss_kwh") is None else f"{b['loss_kwh']:,.1f}",
            ]
        )
    only = view.get("transformer_id")
    scope = f"meters of {e(only)} (<a href='theft'>all</a>)" if only else "all meters"
    model = view.get("model") or {}
    return f"""<div class="facts"><div class="fact"><span>Inspection list</span>
<strong>top {len(view["scores"])} of {scope}</strong><span>{view["scored"]} of {
        view["meters"]
    } meters
scored; as of {e(view.get("as_of"))}</span></div>
<div class="fact"><span>Served model</span><strong>{e(model.get("registered_model"))}
v{e(model.get("version"))}</strong><span>alias {e(model.get("alias"))}</span></div>
<div class="fact"><span>For field teams</span><a id="csv" class="button" href="theft.csv{e(query)}"
 download>Download CSV</a><span>a score is a lead, never evidence</span></div></div>
<div id="chart" class="chart" data-kind="theft" role="img"
 aria-label="theft probability by meter"></div>
{
        table(
            [
                "Rank",
                "Meter",
                "Transformer",
                "Theft probability",
                "Rank in transformer",
                "Reason codes",
                "Transformer loss (28 d)",
                "Loss last day (kWh)",
            ],
            rows,
            "ranked",
        )
    }"""


def models_body(models: list[dict[str, Any]]) -> str:
    """The models page: what each endpoint serves, its monitoring status, the promotions."""
    rows, promo = [], []
    for m in models:
        mon = m.get("monitoring") or {}
        status = mon.get("status", "never checked")
        alerts = "; ".join(mon.get("alerts", [])[:3])
        rows.append(
            [
                e(m.get("endpoint")),
                e(m.get("registered_model")),
                e(m.get("alias")),
                e(m.get("version")),
                e(m.get("feature_service")),
                "yes"
                if m.get("promoted")
                else f'<span class="warn">{e(m.get("warning"))}</span>'
                if m.get("version") is not None
                else "—",
                f'<span class="status {e(status.replace(" ", "-"))}">{e(status)}</span> '
                f"{e(mon.get('checked'))} {e(alerts) if alerts else ''}",
                f'<span class="warn">{e(m.get("error"))}</span>' if m.get("error") else "—",
            ]
        )
        for p in m.get("promotions", []):
            failed = ", ".join(p["failed_gates"]) or "none"
            promo.append(
                [
                    e(m.get("registered_model")),
                    e(p["time"]),
                    e(p["user"]),
                    e(p["action"]),
                    e(p["outcome"]),
                    f"v{e(p['from_version'])} → v{e(p['to_version'])}",
                    f"{p['gates']} gates; failed: {e(failed)}",
                ]
            )
    promotions = (
        table(["Model", "Time (UTC)", "By", "Action", "Outcome", "Versions", "Gates"], promo)
        if promo
        else "<p>No promotion recorded yet (<code>gridml promote MODEL</code>).</p>"
    )
    served = table(
        [
            "Endpoint",
            "Registered model",
            "Alias",
            "Version",
            "FeatureService",
            "Promoted",
            "Monitoring",
            "Load error",
        ],
        rows,
        "models",
    )
    return f"{served}<h2>Promotion record</h2>{promotions}"


def csv_text(view: dict[str, Any]) -> str:
    """The theft inspection list as CSV (cells a spreadsheet would run as formulas quoted)."""

    def cell(value: Any) -> Any:
        if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
            return "'" + value
        return value

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    model = view.get("model") or {}
    name = f"{model.get('registered_model')} v{model.get('version')}"
    for r in view["scores"]:
        b = r.get("energy_balance") or {}
        row = [
            r["rank"],
            r["meter_id"],
            r["transformer_id"],
            round(r["probability"], 6),
            r["rank_in_transformer"],
            r["meters_in_transformer"],
            " | ".join(r["reason_codes"]),
            b.get("loss_ratio"),
            b.get("loss_ratio_7d"),
            b.get("loss_ratio_28d"),
            b.get("loss_kwh"),
            b.get("day_end"),
            view.get("as_of"),
            name,
        ]
        writer.writerow([cell(v) for v in row])
    return out.getvalue()
