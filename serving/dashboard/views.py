"""The data of each page, from what the service answers (pure functions over the answers of
the endpoints and `ops.Ops`), ready for `pages.py` and the charts."""

from __future__ import annotations

from typing import Any

import pandas as pd

from gridml.training.metrics import quantile_column

HISTORY_DAYS = 7  # actuals shown before the forecast origin


def band(served: list[float]) -> tuple[float, float] | None:
    """The quantiles drawn as the band: P10 and P90 when served, else the widest pair."""
    qs = sorted(served)
    if 0.1 in qs and 0.9 in qs:
        return 0.1, 0.9
    low = [q for q in qs if q < 0.5]
    high = [q for q in qs if q > 0.5]
    return (low[0], high[-1]) if low and high else None


def next_day_peak(
    times: list[str], p50: list[float], low: list[float], high: list[float], timezone: str
) -> dict[str, Any] | None:
    """The peak of the P50 over the first local calendar day the forecast covers (the day
    starting at the origin, a local midnight): its value, band and local time."""
    if not times:
        return None
    local = pd.DatetimeIndex(pd.to_datetime(times, utc=True)).tz_convert(timezone)
    day = local[0].normalize()
    same = [i for i, t in enumerate(local) if t.normalize() == day]
    if not same:
        return None
    best = max(same, key=lambda i: p50[i])
    return {
        "day": day.strftime("%a %d %b %Y"),
        "p50": p50[best],
        "low": low[best],
        "high": high[best],
        "time": times[best],
        "local_time": local[best].strftime("%H:%M"),
    }


def demand_view(
    forecast: dict[str, Any],
    actuals: dict[str, Any] | None,
    served_quantiles: list[float],
    timezone: str,
) -> dict[str, Any]:
    """Chart series and facts of one series: the forecast (P50 and the P10-P90 band) from the
    origin, the metered load of the days before and after it, the next day's peak."""
    notes = [f"{m['id']}: {m['reason']}" for m in forecast.get("missing", [])]
    chosen = band(served_quantiles)
    out: dict[str, Any] = {
        "model": forecast.get("model"),
        "weather": forecast.get("weather"),
        "timezone": timezone,
        "notes": notes,
        "forecast": None,
        "actual": {"x": [], "y": []},
        "peak": None,
        "unit": "kWh",
    }
    if actuals is not None and actuals["actuals"]:
        points = actuals["actuals"][0]["points"]
        out["actual"] = {"x": [p["hour_start"] for p in points], "y": [p["kwh"] for p in points]}
    if not forecast.get("forecasts"):
        return out
    series = forecast["forecasts"][0]
    hours = series["hours"]
    times = [h["target_time"] for h in hours]
    p50 = [h["p50"] for h in hours]
    lo_col, hi_col = (quantile_column(q) for q in chosen) if chosen else ("p50", "p50")
    low = [h.get("quantiles", {}).get(lo_col, h["p50"]) for h in hours]
    high = [h.get("quantiles", {}).get(hi_col, h["p50"]) for h in hours]
    origin = pd.Timestamp(series["origin"])
    out.update(
        unit=series.get("unit", "kWh"),
        origin=series["origin"],
        origin_local=origin.tz_convert(timezone).strftime("%Y-%m-%d %H:%M"),
        forecast={
            "x": times,
            "p50": p50,
            "low": low,
            "high": high,
            "band": [f"P{round(q * 100)}" for q in chosen] if chosen else None,
        },
        peak=next_day_peak(times, p50, low, high, timezone),
    )
    return out


def actual_range(origin: str, horizon: int) -> tuple[str, str]:
    """(start, end) of the actuals shown with a forecast: `HISTORY_DAYS` before the origin to
    the end of the horizon."""
    t0 = pd.Timestamp(origin)
    return (
        (t0 - pd.Timedelta(days=HISTORY_DAYS)).isoformat(),
        (t0 + pd.Timedelta(hours=horizon)).isoformat(),
    )
