"""What operations pages and applications ask of the served models beyond "these ids": ranked
lists, the valid ids of a level, metered actuals over a time range, the promotion record and
monitoring status of each endpoint. Free of the web framework (the routes are `ops_routes.py`,
the pages `dashboard/`); everything reads through the `Predictor` the service already holds.

- `top_risk`: every transformer scored (through the endpoint's own batching, `max_ids` at a
  time), ranked by failure probability, with the weekly inspection budget (the share of
  transformers the maintenance model is evaluated at, `alert_budget`, 5%) as a count;
- `top_theft`: every meter scored (per transformer, as the endpoint does), ranked by theft
  probability, each with its transformer's latest daily energy balance
  (`transformer_energy_daily`: energy in, billed, loss and its ratio over 7 and 28 days);
- `list_ids`: the ids a level knows (meters, transformers, feeders, substations, zone series),
  sorted, paged by `after`;
- `actuals`: hourly metered load of grid series (`load_hourly`, kWh in the hour), by the hour's
  start (UTC), over a bounded range.

Whole-population scores are cached per (model version, data version) for `CACHE_SECONDS`, so a
control room refreshing a page does not rescore the zone each time.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds

from gridml.errors import UserError
from gridml.features.tables.catalog import TABLES
from gridml.io import read_parts
from gridml.serving.errors import TooLarge, check_ids, check_known
from gridml.serving.snapshot import Snapshot

CACHE_SECONDS = 60.0
MAX_ACTUAL_DAYS = 92  # one quarter at most per request
MAX_ACTUAL_POINTS = 200_000  # ids x hours
SERIES_LEVELS = ("transformer", "feeder", "substation", "zone")
# the transformer's energy balance as the feature table defines it (not its meter count)
BALANCE_COLUMNS = tuple(
    c for c in TABLES["transformer_energy_daily"].features if c != "meters_reporting"
)
HOUR = pd.Timedelta(hours=1)


def inspection_budget_share() -> float:
    """The share of transformers inspected per week: the maintenance model's `alert_budget`
    (the budget its precision and recall are measured at)."""
    from gridml.training.maintenance.config import MaintenanceConfig

    return float(MaintenanceConfig.model_fields["alert_budget"].default)


def budget_count(units: int, share: float) -> int:
    """Units inside a budget of `share` of `units` (at least one when there are any)."""
    return min(units, max(1, math.ceil(units * share))) if units else 0


def chunks(ids: list[str], size: int) -> list[list[str]]:
    """`ids` in lists of at most `size`."""
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def parse_time(value: str, field: str) -> pd.Timestamp:
    """An ISO 8601 time with a UTC offset (or Z), as UTC; UserError naming the field."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise UserError(f"'{field}': {value[:40]!r} is not an ISO 8601 time") from exc
    if stamp is pd.NaT or pd.isna(stamp):
        raise UserError(f"'{field}': {value[:40]!r} is not a time")
    if stamp.tzinfo is None:
        raise UserError(f"'{field}': {value[:40]!r} has no UTC offset (add Z or +HH:MM)")
    if not 1900 <= stamp.year <= 2200:
        raise UserError(f"'{field}': {value[:40]!r} is outside the years 1900..2200")
    return stamp.tz_convert("UTC")


def level_ids(snap: Snapshot, level: str) -> list[str]:
    """Every id of `level`, sorted (series levels without their `level:` prefix)."""
    if level == "meter":
        return sorted(map(str, snap.meters.index))
    if level not in SERIES_LEVELS:
        raise UserError(f"'level': {level!r} is not one of meter, {', '.join(SERIES_LEVELS)}")
    prefix = f"{level}:"
    return sorted(
        s.removeprefix(prefix) for s in map(str, snap.series.index) if s.startswith(prefix)
    )


def page(ids: list[str], limit: int, after: str | None) -> tuple[list[str], str | None]:
    """(up to `limit` ids after `after` in sorted `ids`, the cursor of the next page or None)."""
    import bisect

    start = bisect.bisect_right(ids, after) if after is not None else 0
    taken = ids[start : start + limit]
    more = start + limit < len(ids)
    return taken, (taken[-1] if more and taken else None)


def ranked(rows: list[dict[str, Any]], key: str = "probability") -> list[dict[str, Any]]:
    """Rows by descending `key` (ties by the first field, an id), each with its 1-based rank."""
    first = next(iter(rows[0])) if rows else ""
    order = sorted(rows, key=lambda r: (-r[key], r[first]))
    return [{"rank": n, **r} for n, r in enumerate(order, start=1)]


def latest_balance(frame: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """Each transformer's latest daily energy balance (`transformer_energy_daily` rows), JSON-ready
    (NaN as None; the day as its end stamp)."""
    if frame is None or frame.empty:
        return {}
    last = frame.sort_values("event_timestamp").groupby("transformer_id").tail(1)
    out: dict[str, dict[str, Any]] = {}
    for row in last.itertuples(index=False):
        values = {c: getattr(row, c) for c in BALANCE_COLUMNS}
        out[str(row.transformer_id)] = {
            "day_end": pd.Timestamp(row.event_timestamp).isoformat(),
            **{c: (None if pd.isna(v) else round(float(v), 4)) for c, v in values.items()},
        }
    return out


def actual_rows(
    frame: pd.DataFrame, series: list[str], start: pd.Timestamp, end: pd.Timestamp
) -> list[dict[str, Any]]:
    """`load_hourly` rows (stamped at the END of the hour) as one list per series of
    {hour_start, kwh} with start <= hour_start < end, in the order of `series`."""
    hours = frame["event_timestamp"] - HOUR
    keep = frame[(hours >= start) & (hours < end)].assign(hour_start=hours)
    keep = keep.sort_values(["series_id", "hour_start"])
    grouped = dict(tuple(keep.groupby("series_id", sort=False)))
    out = []
    for s in series:
        rows = grouped.get(s)
        points = (
            []
            if rows is None
            else [
                {"hour_start": t.isoformat(), "kwh": None if pd.isna(v) else round(float(v), 3)}
                for t, v in zip(rows["hour_start"], rows["load_kwh"], strict=True)
            ]
        )
        out.append({"series_id": s, "points": points})
    return out


@dataclass
class _Cached:
    key: tuple
    at: float
    value: Any


class Ops:
    """The ranked lists and lookups of one service worker, over its `Predictor`."""

    def __init__(self, predictor: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.predictor = predictor
        self.clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, _Cached] = {}

    @property
    def snap(self) -> Snapshot:
        return self.predictor.snapshot

    def _cached(self, name: str, key: tuple, build: Callable[[], Any]) -> Any:
        now = self.clock()
        hit = self._cache.get(name)
        if hit is not None and hit.key == key and now - hit.at < CACHE_SECONDS:
            return hit.value
        with self._lock:  # one build at a time; a second caller takes its result
            hit = self._cache.get(name)
            if hit is not None and hit.key == key and self.clock() - hit.at < CACHE_SECONDS:
                return hit.value
            value = build()
            self._cache[name] = _Cached(key, self.clock(), value)
            return value

    # --- ids and actuals -------------------------------------------------------------------

    def list_ids(self, level: str, limit: int, after: str | None = None) -> dict[str, Any]:
        ids = level_ids(self.snap, level)
        taken, cursor = page(ids, limit, after)
        return {"level": level, "total": len(ids), "ids": taken, "next_after": cursor}

    def actuals(self, ids: list[str], level: str, start: str, end: str) -> dict[str, Any]:
        from gridml.serving import demand

        if level not in SERIES_LEVELS:
            raise UserError(
                f"'level': actuals are kept for {', '.join(SERIES_LEVELS)}, not {level!r}"
            )
        t0, t1 = parse_time(start, "start"), parse_time(end, "end")
        if t1 <= t0:
            raise UserError(f"'end': {t1.isoformat()} is not after 'start' {t0.isoformat()}")
        if t1 - t0 > pd.Timedelta(days=MAX_ACTUAL_DAYS):
            raise TooLarge(f"'end': at most {MAX_ACTUAL_DAYS} days from 'start'; split the range")
        series = check_ids(demand.series_ids(level, ids), self.predictor.cfg.max_ids)
        check_known(series, self.snap.series.index, "series")
        hours = int((t1 - t0) / HOUR) + 1
        if hours * len(series) > MAX_ACTUAL_POINTS:
            raise TooLarge(
                f"'ids': {len(series)} series x {hours} hours is more than "
                f"{MAX_ACTUAL_POINTS} points; ask for fewer ids or a shorter range"
            )
        wanted = (
            ds.field("series_id").isin(series)
            & (ds.field("event_timestamp") > t0)
            & (ds.field("event_timestamp") <= t1 + HOUR)
        )
        frame = read_parts(
            self.predictor.ws.table_dir("load_hourly"),
            ["series_id", "event_timestamp", "load_kwh"],
            wanted,
        )
        if frame is None:
            frame = pd.DataFrame(columns=["series_id", "event_timestamp", "load_kwh"])
        units = self.snap.series["unit"]
        rows = actual_rows(frame, series, t0, t1)
        for row in rows:
            row["unit"] = str(units.get(row["series_id"], "kWh"))
        return {
            "level": level,
            "start": t0.isoformat(),
            "end": t1.isoformat(),
            "timezone": self.snap.zone.timezone,
            "actuals": rows,
        }

    def latest_actual(self, series_id: str) -> pd.Timestamp | None:
        """The start of the newest metered hour of a series (None without one)."""
        frame = read_parts(
            self.predictor.ws.table_dir("load_hourly"),
            ["event_timestamp"],
            ds.field("series_id") == series_id,
        )
        if frame is None or frame.empty:
            return None
        return pd.Timestamp(frame["event_timestamp"].max()) - HOUR

    # --- ranked lists ----------------------------------------------------------------------

    def _version(self, endpoint: str) -> tuple:
        loaded = self.predictor.slots[endpoint].current  # ModelUnavailable (503) without one
        return (loaded.name, loaded.version, self.snap.version)

    def _all_risks(self) -> dict[str, Any]:
        endpoint = self.predictor.maintenance
        units = list(map(str, self.snap.transformers))
        risks, missing, answer = [], [], {}
        for part in chunks(units, self.predictor.cfg.max_ids):
            answer = endpoint.risk(part)
            risks += answer["risks"]
            missing += answer["missing"]
        return {
            "model": answer.get("model"),
            "as_of": answer.get("as_of"),
            "ranked": ranked(risks),
            "missing": len(missing),
            "units": len(units),
        }

    def top_risk(self, n: int) -> dict[str, Any]:
        whole = self._cached("risk", self._version("maintenance"), self._all_risks)
        share = inspection_budget_share()
        return {
            "model": whole["model"],
            "as_of": whole["as_of"],
            "transformers": whole["units"],
            "scored": len(whole["ranked"]),
            "without_features": whole["missing"],
            "budget_share": share,
            "budget": budget_count(len(whole["ranked"]), share),
            "risks": whole["ranked"][:n],
        }

    def balances(self) -> dict[str, dict[str, Any]]:
        def build() -> dict[str, dict[str, Any]]:
            columns = ["transformer_id", "event_timestamp", *BALANCE_COLUMNS]
            table = self.predictor.ws.table_dir("transformer_energy_daily")
            return latest_balance(read_parts(table, columns))

        return self._cached("balance", (self.snap.version,), build)

    def _all_theft(self) -> dict[str, Any]:
        endpoint = self.predictor.theft
        owner = self.snap.meters["transformer_id"].astype(str)
        meters = list(owner.sort_values(kind="stable").index.astype(str))  # by transformer
        scores, missing, answer = [], 0, {}
        for part in chunks(meters, self.predictor.cfg.max_ids):
            answer = endpoint.score(part)
            scores += answer["scores"]
            missing += len(answer["missing"])
        return {
            "model": answer.get("model"),
            "as_of": answer.get("as_of"),
            "ranked": ranked(scores),
            "missing": missing,
            "meters": len(meters),
        }

    def top_theft(self, n: int, transformer_id: str | None = None) -> dict[str, Any]:
        if transformer_id is not None:
            check_known([transformer_id], self.snap.transformers, "transformer")
        whole = self._cached("theft", self._version("theft"), self._all_theft)
        rows = whole["ranked"]
        if transformer_id is not None:
            rows = [r for r in rows if r["transformer_id"] == transformer_id]
        balance = self.balances()
        listed = [r | {"energy_balance": balance.get(r["transformer_id"])} for r in rows[:n]]
        return {
            "model": whole["model"],
            "as_of": whole["as_of"],
            "meters": whole["meters"],
            "scored": len(whole["ranked"]),
            "without_features": whole["missing"],
            "transformer_id": transformer_id,
            "scores": listed,
        }

    def lead_skill(self, run_id: str | None, level: str) -> dict[str, Any] | None:
        """The served demand model's skill by lead hour at `level` (its training run's
        `MODEL.LEVEL.skill_lead_NNNh` metrics: 1 - its error over the seasonal naive's on the
        backtest); None when the run logged none."""
        if not run_id:
            return None

        def build() -> dict[str, float]:
            from mlflow import MlflowClient

            return dict(MlflowClient().get_run(run_id).data.metrics)

        return skill_by_lead(self._cached(f"run:{run_id}", (run_id,), build), level)

    # --- models ----------------------------------------------------------------------------

    def model_status(self, promotions: int = 5) -> list[dict[str, Any]]:
        """GET /models per endpoint, with its last `promotions` audit records (newest first)
        and the latest monitoring report's status."""
        from gridml.mlops import audit

        ws = self.predictor.ws
        try:
            records = audit.read(ws)
        except (OSError, ValueError):  # a damaged log must not take the page down
            records = []
        out = []
        for info in self.predictor.models():
            name = info.get("registered_model")
            mine = [r for r in records if r.get("model") == name][::-1][:promotions]
            out.append(
                info
                | {
                    "promotions": [promotion_summary(r) for r in mine],
                    "monitoring": monitoring_status(ws.root / "monitoring" / str(name)),
                }
            )
        return out


def skill_by_lead(metrics: dict[str, float], level: str) -> dict[str, Any] | None:
    """{model, lead_hours, skill} from a demand run's `MODEL.LEVEL.skill_lead_NNNh` metrics
    (lightgbm first, else prophet); None without any for `level`."""
    for model in ("lightgbm", "prophet"):
        prefix = f"{model}.{level}.skill_lead_"
        found = sorted(
            (int(k[len(prefix) : -1]), v) for k, v in metrics.items() if k.startswith(prefix)
        )
        if found:
            return {
                "model": model,
                "lead_hours": [h for h, _ in found],
                "skill": [round(v, 4) for _, v in found],
            }
    return None


def promotion_summary(record: dict[str, Any]) -> dict[str, Any]:
    """One audit record, short: time, who, action, outcome, versions and gate verdicts."""
    gates = record.get("gates") or []
    failed = [str(g.get("gate", "?")) for g in gates if g.get("passed") is False]
    return {
        "time": record.get("time"),
        "user": record.get("user"),
        "action": record.get("action"),
        "outcome": record.get("outcome"),
        "from_version": record.get("from_version"),
        "to_version": record.get("to_version"),
        "gates": len(gates),
        "failed_gates": failed,
    }


def monitoring_status(folder: Path) -> dict[str, Any]:
    """The latest `gridml monitor` report of a model (WORKSPACE/monitoring/MODEL/report.md):
    when it ran and its alerts; `checked: null` when it never ran."""
    report = folder / "report.md"
    if not report.is_file():
        return {"checked": None, "alerts": [], "status": "never checked"}
    text = report.read_text(errors="replace")
    alerts = [line.split("ALERT:", 1)[1].strip() for line in text.splitlines() if "ALERT:" in line]
    checked = pd.Timestamp(report.stat().st_mtime, unit="s", tz="UTC").isoformat()
    return {
        "checked": checked,
        "alerts": alerts[:20],
        "status": "alert" if alerts else "ok",
    }


def to_json(value: Any) -> str:
    """Strict JSON for embedding (NaN as null)."""
    from gridml.mlops.audit import plain

    return json.dumps(plain(value), allow_nan=False, separators=(",", ":"))
