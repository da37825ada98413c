"""Distribution transformers: IEEE C57.91 thermal model, insulation ageing, DGA and failures.

Hot-spot temperature follows the standard's exponential top-oil model (ONAN, R = 4.5, n = 0.8,
m = 0.8, rated top-oil rise 55 K and hot-spot gradient 25 K). The ageing acceleration factor is
F_AA = exp(15000/383 - 15000/(theta_H + 273)); accumulated ageing over a normal life of
180,000 h is the share of insulation life used. The daily failure hazard rises with used life,
recent overload hours and hot-spot peaks; its base level is calibrated so that the expected
number of failures, a failed unit being replaced by a new one, matches `annual_failure_rate`.
Most failures announce themselves days to weeks ahead through dissolved gases and extra heat
(an incipient fault), some (lightning) do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from gridml.features.contracts import DGA_GASES
from gridml.features.physics import ageing_acceleration
from gridml.features.simulator.config import AssetConfig

NORMAL_LIFE_H = 180_000.0
LIFE_CAP = 2.0  # beyond twice its normal life, a unit's hazard stops growing with ageing
POWER_FACTOR = 0.9
TOP_OIL_RISE_K, HOT_SPOT_GRADIENT_K, LOSS_RATIO, N_EXP, M_EXP = 55.0, 25.0, 4.5, 0.8, 0.8
TOP_OIL_TAU_H = 3.0
# baseline gas levels of a healthy unit (ppm), below the IEEE C57.104 condition-1 limits
DGA_BASE = np.array([30.0, 25.0, 0.3, 8.0, 15.0, 250.0, 2500.0])
DGA_FAULT_GAIN = np.array([10.0, 5.0, 25.0, 8.0, 3.0, 1.5, 1.2])


def choose_ratings(load_kw: np.ndarray, cfg: AssetConfig, rng: np.random.Generator) -> np.ndarray:
    """kVA rating per transformer from its early peak load: most sized with headroom, some not."""
    first = min(load_kw.shape[1], 60 * 24)
    peak_kva = np.percentile(load_kw[:, :first], 99, axis=1) / POWER_FACTOR
    n = len(peak_kva)
    target = np.where(
        rng.random(n) < cfg.overloaded_share, rng.uniform(1.05, 1.35, n), rng.uniform(0.5, 0.9, n)
    )
    return np.maximum(5.0, np.round(peak_kva / target / 5.0) * 5.0)


@dataclass
class ThermalState:
    loading: np.ndarray  # per unit (T, hours)
    top_oil_rise: np.ndarray
    hot_spot_rise: np.ndarray


def thermal(load_kw: np.ndarray, rating_kva: np.ndarray) -> ThermalState:
    """Loading, top-oil rise and hot-spot gradient of each transformer from its hourly load."""
    k = load_kw / POWER_FACTOR / rating_kva[:, None]
    ultimate = TOP_OIL_RISE_K * ((k**2 * LOSS_RATIO + 1) / (LOSS_RATIO + 1)) ** N_EXP
    a = np.exp(-1.0 / TOP_OIL_TAU_H)
    top_oil = lfilter([1 - a], [1, -a], ultimate, axis=1, zi=ultimate[:, :1] * a)[0]
    return ThermalState(k, top_oil, HOT_SPOT_GRADIENT_K * k ** (2 * M_EXP))


@dataclass
class AssetHistory:
    failures: pd.DataFrame  # transformer_id, timestamp, failure_mode
    maintenance: pd.DataFrame  # transformer_id, timestamp, action
    repairs: list[tuple[int, int, int]]  # (transformer row, first hour out, last hour out + 1)
    fault_heat_c: np.ndarray  # (T, hours) extra hot-spot heat of incipient faults
    dga: pd.DataFrame
    aged_hours: np.ndarray  # (T, hours) accumulated equivalent ageing hours


def simulate_assets(
    transformer_ids: np.ndarray,
    age_years: np.ndarray,
    state: ThermalState,
    ambient_c: np.ndarray,
    utc_index: pd.DatetimeIndex,
    cfg: AssetConfig,
    rng: np.random.Generator,
) -> AssetHistory:
    """Simulated failures, maintenance, repairs, fault heat, DGA and ageing of the transformers."""
    n, hours = state.loading.shape
    days = hours // 24
    hot_spot = ambient_c + state.top_oil_rise + state.hot_spot_rise
    faa = ageing_acceleration(hot_spot)
    initial = age_years * 8766.0 * rng.uniform(0.15, 0.6, n)
    hs_max = hot_spot.reshape(n, days, 24).max(axis=2)
    over_h = (state.loading > 1.0).reshape(n, days, 24).sum(axis=2)
    over_30d = lfilter(np.ones(30), [1.0], over_h, axis=1)
    daily_faa = faa.reshape(n, days, 24).sum(axis=2)
    # relative hazard: used insulation life, and recent overload and hot-spot peaks (saturating,
    # so that a few extreme days cannot take the whole zone's failure budget)
    life0 = (initial[:, None] + np.cumsum(daily_faa, axis=1)) / NORMAL_LIFE_H
    stress = 1.5 * (1.0 - np.exp(-over_30d / 48.0)) + 1.0 * (
        1.0 - np.exp(-np.maximum(0.0, hs_max - 98.0) / 20.0)
    )
    base = _calibrated_base(
        life0,
        daily_faa / NORMAL_LIFE_H,
        stress,
        target=cfg.annual_failure_rate * n * days / 365.25,
        delay_days=float(np.mean(cfg.repair_days)) + 1.0,
    )

    fail_rows, maint_rows, repairs = [], [], []
    fault_heat = np.zeros((n, hours))
    fault_progress = np.zeros((n, days))
    aged = np.empty((n, hours))
    for i in range(n):
        day, offset = 0, initial[i]
        replaced_at = []
        cum_faa_h = np.cumsum(faa[i])
        while day < days:
            life = (offset + np.cumsum(daily_faa[i, day:])) / NORMAL_LIFE_H
            hazard = base * np.exp(2.5 * np.minimum(life, LIFE_CAP) + stress[i, day:])
            cum = np.cumsum(hazard)
            hit = np.searchsorted(cum, rng.exponential())
            if hit >= len(cum):
                break
            f = day + int(hit)
            sudden = rng.random() < 0.25
            dev = (
                int(rng.integers(0, 3))
                if sudden
                else int(rng.integers(*cfg.fault_development_days))
            )
            onset = max(day, f - dev)
            if dev > 0:
                prog = (np.arange(onset, f + 1) - onset + 1) / (f - onset + 1)
                fault_progress[i, onset : f + 1] = prog
                fault_heat[i, onset * 24 : (f + 1) * 24] = np.repeat(14.0 * prog**2, 24)
            mode = (
                "lightning"
                if sudden
                else "insulation_ageing"
                if life[f - day] > 0.5
                else "overload"
                if over_30d[i, f] > 30
                else "winding_fault"
            )
            fail_hour = f * 24 + int(rng.integers(0, 24))
            fail_rows.append((transformer_ids[i], utc_index[fail_hour], mode))
            repair = int(rng.integers(cfg.repair_days[0], cfg.repair_days[1] + 1))
            back = min(hours, fail_hour + repair * 24)
            repairs.append((i, fail_hour, back))
            if back < hours:
                maint_rows.append((transformer_ids[i], utc_index[back - 1], "replacement"))
            replaced_at.append(back)
            day, offset = min(days, back // 24 + 1), 0.0
        # accumulated ageing: restarts at every replacement (a unit may fail more than once)
        aged[i] = initial[i] + cum_faa_h
        for r in replaced_at:
            if r < hours:
                aged[i, r:] = cum_faa_h[r:] - cum_faa_h[r - 1]
        # yearly inspections at a random day
        for year_start in range(0, days, 365):
            d = year_start + int(rng.integers(0, min(365, days - year_start)))
            maint_rows.append((transformer_ids[i], utc_index[d * 24 + 9], "inspection"))

    dga, oil_treatments = _dga(transformer_ids, aged, fault_progress, utc_index, rng)
    maint_rows.extend(oil_treatments)
    return AssetHistory(
        failures=pd.DataFrame(fail_rows, columns=["transformer_id", "timestamp", "failure_mode"]),
        maintenance=pd.DataFrame(maint_rows, columns=["transformer_id", "timestamp", "action"]),
        repairs=repairs,
        fault_heat_c=fault_heat,
        dga=dga,
        aged_hours=aged,
    )


def _calibrated_base(
    life: np.ndarray,
    daily_life: np.ndarray,
    stress: np.ndarray,
    target: float,
    delay_days: float,
) -> float:
    """Base daily hazard whose expected failure count over (transformers, days) is `target`.

    The hazard of a unit is base * exp(2.5 * min(used life, LIFE_CAP) + stress). A failed unit
    is replaced, after `delay_days`, by a new one whose used life restarts at zero: the expected
    count is that of this renewal process (computed on periods of a few days), not of the
    installed units alone, which would give too few failures where units fail early and too
    many where a new unit on an overloaded site ages fast.
    """
    if target <= 0:
        return 0.0
    n, days = life.shape
    step = -(-days // 120)  # at most 120 periods: the renewal sum is quadratic in them
    periods = -(-days // step)

    def by_period(x: np.ndarray) -> np.ndarray:
        padded = np.pad(x, ((0, 0), (0, periods * step - days)))
        return padded.reshape(n, periods, step).sum(axis=2)

    r_unit = by_period(np.exp(2.5 * np.minimum(life, LIFE_CAP) + stress))
    r_stress = by_period(np.exp(stress))
    used = np.pad(np.cumsum(daily_life, axis=1), ((0, 0), (1, periods * step - days)), mode="edge")
    used_start = used[:, : periods * step : step]  # life used by the site before each period
    used_mid = used[:, np.minimum(np.arange(periods) * step + step // 2 + 1, days)]
    delay = max(1, round(delay_days / step))

    def expected(base: float) -> float:
        h0 = base * r_unit
        fails = -np.expm1(-h0) * np.exp(-(np.cumsum(h0, axis=1) - h0))
        for p in range(periods - delay):
            # the unit installed `delay` periods after a failure in p, and its own failures
            q = p + delay
            h = base * np.exp(2.5 * np.minimum(used_mid[:, q:] - used_start[:, q, None], LIFE_CAP))
            h *= r_stress[:, q:]
            fails[:, q:] += fails[:, p, None] * -np.expm1(-h) * np.exp(-(np.cumsum(h, 1) - h))
        return float(fails.sum())

    # the count grows with the base, about as a power of it: secant steps on log-log scale
    x0, x1 = np.log(target / r_unit.sum()), np.log(target / r_unit.sum()) + 0.1
    y0, y1 = np.log(expected(np.exp(x0))), np.log(expected(np.exp(x1)))
    for _ in range(30):
        if abs(y1 - np.log(target)) < 0.002:
            break
        slope = max((y1 - y0) / (x1 - x0), 0.05) if x1 != x0 else 1.0
        x0, y0 = x1, y1
        x1 = x1 + (np.log(target) - y1) / slope
        y1 = np.log(expected(np.exp(x1)))
    return float(np.exp(x1))


def _dga(
    transformer_ids: np.ndarray,
    aged_hours: np.ndarray,
    fault_progress: np.ndarray,
    utc_index: pd.DatetimeIndex,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, list[tuple[str, pd.Timestamp, str]]]:
    """Daily gas samples: baseline growing with used life, fault gases ramping before failures,
    and benign episodes (moisture, overheated joints) cleared by an oil treatment."""
    n, days = fault_progress.shape
    life = aged_hours[:, ::24] / NORMAL_LIFE_H
    unit = rng.lognormal(0.0, 0.3, (n, 1, len(DGA_GASES)))
    level = DGA_BASE[None, None, :] * unit * (1.0 + 1.5 * life[:, :, None])
    fault = 1.0 + (DGA_FAULT_GAIN[None, None, :] - 1.0) * fault_progress[:, :, None] ** 2
    benign = np.ones((n, days))
    treatments = []
    for i in range(n):
        if rng.random() < 0.12 * days / 365.25:
            length = int(rng.integers(20, 60))
            start = int(rng.integers(0, max(1, days - length)))
            benign[i, start : start + length] = np.linspace(1.0, rng.uniform(2.0, 3.5), length)[
                : days - start
            ]
            if start + length < days:
                treatments.append(
                    (transformer_ids[i], utc_index[(start + length) * 24 + 10], "oil_treatment")
                )
    gases = level * fault * benign[:, :, None] * rng.lognormal(0.0, 0.12, level.shape)
    frame = pd.DataFrame(gases.reshape(n * days, -1).round(2), columns=list(DGA_GASES))
    frame.insert(0, "timestamp", np.tile(utc_index[::24] + pd.Timedelta(hours=8), n))
    frame.insert(0, "transformer_id", np.repeat(transformer_ids, days))
    return frame, treatments
