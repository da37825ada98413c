"""True (unconstrained) hourly demand of meters: load shapes, weather, holidays, growth, noise.

Shapes follow the domain notes: residential evening peak about 2x the mean at 19-21 h and a
night trough at 0.4x; commercial weekday plateau 08-18; industrial flat and shift-driven with
a lower weekend. Cooling load grows with cooling degree hours above a 24 C base.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from gridml.features.contracts import SEGMENTS

COOLING_BASE_C = 24.0
HEATING_BASE_C = 16.0


def _norm(values: list[float]) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return a / a.mean()


# [segment][day type: weekday, saturday, sunday/holiday] -> 24 hourly factors, mean 1
_RES_WEEKDAY = [
    0.45,
    0.4,
    0.38,
    0.38,
    0.4,
    0.55,
    0.85,
    0.95,
    0.8,
    0.7,
    0.68,
    0.7,
    0.75,
    0.72,
    0.7,
    0.72,
    0.85,
    1.1,
    1.7,
    2.2,
    2.25,
    1.9,
    1.3,
    0.8,
]
_RES_WEEKEND = [
    0.5,
    0.45,
    0.42,
    0.4,
    0.4,
    0.45,
    0.6,
    0.8,
    0.95,
    1.0,
    1.0,
    1.05,
    1.05,
    1.0,
    0.95,
    0.95,
    1.0,
    1.15,
    1.6,
    2.0,
    2.05,
    1.8,
    1.3,
    0.85,
]
_COM_WEEKDAY = [
    0.3,
    0.3,
    0.3,
    0.3,
    0.3,
    0.35,
    0.5,
    1.0,
    1.6,
    1.8,
    1.85,
    1.85,
    1.8,
    1.8,
    1.85,
    1.8,
    1.7,
    1.4,
    0.9,
    0.6,
    0.45,
    0.4,
    0.35,
    0.3,
]
_IND_WEEKDAY = [0.85] * 6 + [1.05] * 16 + [0.9] * 2

SHAPES: dict[str, np.ndarray] = {
    "residential_prepaid": np.stack(
        [_norm(_RES_WEEKDAY), _norm(_RES_WEEKEND), _norm(_RES_WEEKEND)]
    ),
    "residential_postpaid": np.stack(
        [_norm(_RES_WEEKDAY), _norm(_RES_WEEKEND), _norm(_RES_WEEKEND)]
    ),
    "commercial": np.stack(
        [
            _norm(_COM_WEEKDAY),
            _norm(_COM_WEEKDAY) * 0.75 + 0.05,
            np.full(24, 0.32) + 0.1 * _norm(_COM_WEEKDAY),
        ]
    ),
    "industrial": np.stack(
        [_norm(_IND_WEEKDAY), 0.7 * _norm(_IND_WEEKDAY), 0.45 * _norm(_IND_WEEKDAY)]
    ),
}
# Level of each day type relative to a weekday (residential use more at home on rest days).
DAY_LEVEL = {
    "residential_prepaid": (1.0, 1.05, 1.08),
    "residential_postpaid": (1.0, 1.05, 1.08),
    "commercial": (1.0, 1.0, 1.0),
    "industrial": (1.0, 1.0, 1.0),
}
# median daily kWh and lognormal spread between customers
DAILY_KWH = {
    "residential_prepaid": (3.5, 0.45),
    "residential_postpaid": (9.0, 0.45),
    "commercial": (60.0, 0.7),
    "industrial": (600.0, 0.6),
}
# share of customers with air conditioning, and its sensitivity (fraction of load per CDH)
COOLING = {
    "residential_prepaid": (0.25, 0.035),
    "residential_postpaid": (0.65, 0.06),
    "commercial": (0.85, 0.05),
    "industrial": (0.5, 0.012),
}
DAY_NOISE = {
    "residential_prepaid": 0.14,
    "residential_postpaid": 0.12,
    "commercial": 0.08,
    "industrial": 0.1,
}
HOUR_NOISE = {
    "residential_prepaid": 0.3,
    "residential_postpaid": 0.25,
    "commercial": 0.12,
    "industrial": 0.08,
}


def draw_meter_profiles(
    segments: np.ndarray, annual_growth: float, rng: np.random.Generator
) -> pd.DataFrame:
    """Per-meter behaviour: daily level, cooling/heating sensitivity, peak shift and growth."""
    n = len(segments)
    level = np.empty(n)
    cooling = np.empty(n)
    for seg in SEGMENTS:
        m = segments == seg
        k = int(m.sum())
        if not k:
            continue
        median, sigma = DAILY_KWH[seg]
        level[m] = median * rng.lognormal(0.0, sigma, k)
        has_ac, sens = COOLING[seg]
        cooling[m] = np.where(
            rng.random(k) < has_ac, sens * rng.lognormal(0.0, 0.35, k), 0.004 * rng.random(k)
        )
    heating = np.where(np.isin(segments, SEGMENTS[:2]), 0.03 * rng.random(n), 0.005 * rng.random(n))
    return pd.DataFrame(
        {
            "segment": segments,
            "daily_kwh": level,
            "cooling_sensitivity": cooling,
            "heating_sensitivity": heating,
            "peak_shift_h": rng.integers(-1, 2, size=n),
            "growth": annual_growth + rng.normal(0.0, 0.02, size=n),
        }
    )


def degree_hours(temperature_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cooling and heating degree hours on temperature smoothed over about 3 hours
    (buildings lag the air)."""
    felt = lfilter([1 / 3], [1, -2 / 3], temperature_c - temperature_c[0]) + temperature_c[0]
    return np.maximum(0.0, felt - COOLING_BASE_C), np.maximum(0.0, HEATING_BASE_C - felt)


def true_demand(
    profiles: pd.DataFrame,
    local_hour: np.ndarray,
    day_type_per_hour: np.ndarray,
    region_temperature_c: np.ndarray,
    region_of_meter: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Unconstrained hourly kWh, shape (meters, hours).

    `region_temperature_c` is (regions, hours); `region_of_meter` gives each meter's row in it.
    """
    n, hours = len(profiles), len(local_hour)
    days = hours // 24
    segs = profiles["segment"].to_numpy()
    demand = np.empty((n, hours))
    years = np.arange(hours) / 8766.0
    cdh, hdh = np.stack([np.stack(degree_hours(t)) for t in region_temperature_c], axis=1)
    for seg in SEGMENTS:
        idx = np.flatnonzero(segs == seg)
        if not len(idx):
            continue
        shape = SHAPES[seg]
        level = np.asarray(DAY_LEVEL[seg])[day_type_per_hour]
        shift = profiles["peak_shift_h"].to_numpy()[idx]
        hour_idx = (local_hour[None, :] - shift[:, None]) % 24
        base = shape[day_type_per_hour[None, :], hour_idx] * level[None, :]
        reg = region_of_meter[idx]
        sens_c = profiles["cooling_sensitivity"].to_numpy()[idx][:, None]
        sens_h = profiles["heating_sensitivity"].to_numpy()[idx][:, None]
        weather = 1.0 + sens_c * cdh[reg] + sens_h * hdh[reg]
        growth = (1.0 + profiles["growth"].to_numpy()[idx][:, None]) ** years[None, :]
        day_noise = np.repeat(rng.lognormal(0.0, DAY_NOISE[seg], (len(idx), days)), 24, axis=1)
        hour_noise = rng.lognormal(0.0, HOUR_NOISE[seg], (len(idx), hours))
        daily = profiles["daily_kwh"].to_numpy()[idx][:, None] / 24.0
        demand[idx] = daily * base * weather * growth * day_noise * hour_noise
    return demand
