"""Hourly weather per region with a plausible climatology for the zone's country."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from gridml.features.simulator.calendar import Clock


@dataclass(frozen=True)
class Climate:
    """Monthly normals of a country's main load centre."""

    mean_temp_c: tuple[float, ...]  # 12 monthly means
    diurnal_half_range_c: tuple[float, ...]  # 12 monthly half ranges (max - mean)
    wet_day_prob: tuple[float, ...]  # 12 monthly probabilities of a rainy day
    mean_rh_pct: tuple[float, ...]  # 12 monthly mean relative humidity


_WEST_AFRICA_COAST = Climate(
    (27.0, 28.0, 28.3, 28.2, 27.5, 26.2, 25.2, 25.0, 25.6, 26.5, 27.3, 27.0),
    (4.5, 4.5, 4.0, 4.0, 3.5, 3.0, 3.0, 3.0, 3.0, 3.5, 4.0, 4.5),
    (0.08, 0.15, 0.3, 0.4, 0.6, 0.7, 0.4, 0.3, 0.45, 0.55, 0.35, 0.15),
    (75, 76, 77, 78, 81, 85, 85, 84, 83, 81, 79, 77),
)
CLIMATES: dict[str, Climate] = {
    "CI": _WEST_AFRICA_COAST,
    "GH": _WEST_AFRICA_COAST,
    "TG": _WEST_AFRICA_COAST,
    "BJ": _WEST_AFRICA_COAST,
    "NG": Climate(
        (27.5, 28.5, 29.0, 28.5, 27.8, 26.5, 25.8, 25.6, 26.2, 27.0, 28.0, 27.5),
        (5.0, 5.0, 4.5, 4.0, 3.5, 3.0, 2.8, 2.8, 3.0, 3.5, 4.0, 5.0),
        (0.05, 0.1, 0.25, 0.4, 0.55, 0.65, 0.5, 0.4, 0.55, 0.5, 0.2, 0.05),
        (70, 72, 75, 78, 80, 84, 85, 84, 83, 81, 77, 72),
    ),
    "SN": Climate(
        (21.5, 21.0, 22.0, 22.5, 23.5, 26.0, 27.5, 27.5, 27.8, 27.5, 25.5, 23.0),
        (4.0, 4.5, 4.5, 4.0, 3.5, 3.0, 2.5, 2.5, 2.5, 3.0, 3.5, 4.0),
        (0.01, 0.01, 0.0, 0.0, 0.02, 0.1, 0.35, 0.5, 0.4, 0.15, 0.02, 0.01),
        (62, 66, 70, 74, 76, 78, 80, 83, 83, 78, 70, 64),
    ),
    "CM": Climate(
        (27.0, 27.5, 27.5, 27.0, 26.5, 25.5, 24.5, 24.5, 25.0, 25.5, 26.5, 27.0),
        (4.0, 4.0, 3.5, 3.5, 3.0, 2.5, 2.0, 2.0, 2.5, 3.0, 3.5, 4.0),
        (0.15, 0.25, 0.45, 0.55, 0.65, 0.75, 0.85, 0.85, 0.8, 0.7, 0.4, 0.15),
        (80, 80, 81, 83, 85, 87, 89, 89, 88, 86, 83, 81),
    ),
    "KE": Climate(
        (19.0, 19.5, 19.5, 19.0, 18.0, 16.5, 15.5, 16.0, 17.5, 19.0, 18.5, 18.5),
        (6.0, 6.5, 6.0, 5.0, 4.5, 4.5, 4.5, 5.0, 6.0, 6.0, 5.0, 5.5),
        (0.15, 0.15, 0.35, 0.6, 0.45, 0.15, 0.1, 0.1, 0.1, 0.3, 0.5, 0.3),
        (60, 58, 62, 72, 75, 72, 70, 68, 62, 62, 70, 68),
    ),
    "ZA": Climate(
        (20.5, 20.0, 18.5, 16.0, 12.5, 10.0, 10.0, 12.5, 16.0, 18.0, 19.0, 20.0),
        (6.0, 6.0, 6.5, 7.0, 8.0, 8.5, 8.5, 8.5, 8.0, 7.0, 6.5, 6.0),
        (0.5, 0.45, 0.4, 0.25, 0.1, 0.03, 0.02, 0.05, 0.1, 0.3, 0.45, 0.5),
        (70, 70, 68, 65, 55, 50, 48, 45, 45, 55, 65, 68),
    ),
}


def climate_for(country: str) -> Climate:
    """The climate normals of a country (a West African coastal climate when unknown)."""
    return CLIMATES.get(country.upper(), _WEST_AFRICA_COAST)


def _monthly_interp(values: tuple[float, ...], day_of_year: np.ndarray) -> np.ndarray:
    """Smooth cyclic interpolation of 12 mid-month normals at fractional days of the year."""
    mid = (np.arange(12) + 0.5) * 365.25 / 12
    xs = np.concatenate([mid - 365.25, mid, mid + 365.25])
    ys = np.tile(np.asarray(values, dtype=float), 3)
    return np.interp(day_of_year, xs, ys)


def _ar1(rng: np.random.Generator, n: int, phi: float, sigma: float) -> np.ndarray:
    shocks = rng.normal(0.0, sigma * np.sqrt(1 - phi**2), size=n)
    return lfilter([1.0], [1.0, -phi], shocks)


def generate_weather(
    clock: Clock, region_ids: list[str], country: str, rng: np.random.Generator
) -> pd.DataFrame:
    """Hourly weather for each region. Inland regions (higher index) are hotter and drier."""
    climate = climate_for(country)
    local = clock.local_index()
    doy = (local.dayofyear.to_numpy() - 1) + local.hour.to_numpy() / 24.0
    hour = local.hour.to_numpy()
    day = np.arange(clock.hours) // 24
    frames = []
    for k, region in enumerate(region_ids):
        inland = k / max(1, len(region_ids) - 1) if len(region_ids) > 1 else 0.0
        mean_t = _monthly_interp(climate.mean_temp_c, doy) + 1.5 * inland
        half_range = _monthly_interp(climate.diurnal_half_range_c, doy) * (1 + 0.4 * inland)
        wet_p = _monthly_interp(climate.wet_day_prob, doy[::24]) * (1 - 0.3 * inland)
        rh_base = _monthly_interp(climate.mean_rh_pct, doy) - 12 * inland

        daily_anom = _ar1(rng, clock.days, 0.7, 1.0)[day]
        wet_day = rng.random(clock.days) < wet_p
        # afternoon and evening storms; rain cools the afternoon
        storm_hour = rng.integers(13, 22, size=clock.days)
        storm_len = rng.integers(1, 5, size=clock.days)
        in_storm = (
            wet_day[day] & (hour >= storm_hour[day]) & (hour < storm_hour[day] + storm_len[day])
        )
        rain = np.where(in_storm, rng.gamma(1.2, 4.0, size=clock.hours), 0.0)
        diurnal = np.cos(2 * np.pi * (hour - 15) / 24)
        temp = (
            mean_t
            + half_range * diurnal
            + daily_anom
            - 2.0 * wet_day[day] * (hour >= 12)
            - 1.5 * in_storm
            + _ar1(rng, clock.hours, 0.8, 0.4)
        )
        cloud = np.clip(
            25 + 45 * wet_p[day] + 30 * wet_day[day] + _ar1(rng, clock.hours, 0.9, 15.0), 0, 100
        )
        sun = np.clip(np.sin(np.pi * (hour + 0.5 - 6) / 12), 0, None)
        irradiance = 1000 * sun * (1 - 0.75 * (cloud / 100) ** 3.4)
        rh = np.clip(
            rh_base - 2.5 * (temp - mean_t) + 10 * in_storm + rng.normal(0, 3, clock.hours), 10, 100
        )
        frames.append(
            pd.DataFrame(
                {
                    "region_id": region,
                    "timestamp": clock.utc_index(),
                    "temperature_c": temp.round(2),
                    "relative_humidity_pct": rh.round(1),
                    "cloud_cover_pct": cloud.round(1),
                    "irradiance_wm2": irradiance.round(1),
                    "rainfall_mm": rain.round(2),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
