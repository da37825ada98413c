"""Grid physics and geography shared by the simulator and the code that reads real data.

Nothing here simulates anything: the importer, the feature tables and training use these
functions on a utility's own feeds, and the simulator (`gridml.features.simulator`) uses the same
ones to generate a synthetic zone, so both sides agree on time zones, insulation ageing and
how an interruption maps onto hourly supply.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Time zone of a country's pilot zone; all of these keep a fixed offset (no DST).
COUNTRY_TIMEZONES = {
    "CI": "Africa/Abidjan",
    "SN": "Africa/Dakar",
    "GH": "Africa/Accra",
    "NG": "Africa/Lagos",
    "CM": "Africa/Douala",
    "BJ": "Africa/Porto-Novo",
    "TG": "Africa/Lome",
    "ML": "Africa/Bamako",
    "BF": "Africa/Ouagadougou",
    "KE": "Africa/Nairobi",
    "TZ": "Africa/Dar_es_Salaam",
    "UG": "Africa/Kampala",
    "ZA": "Africa/Johannesburg",
    "ZM": "Africa/Lusaka",
    "ZW": "Africa/Harare",
    "MZ": "Africa/Maputo",
    "BW": "Africa/Gaborone",
    "NA": "Africa/Windhoek",
    "MA": "Africa/Casablanca",
    "EG": "Africa/Cairo",
}


def country_timezone(country: str) -> str:
    """The default time zone of a country code (UTC when unknown)."""
    return COUNTRY_TIMEZONES.get(country.upper(), "UTC")


def ageing_acceleration(hot_spot_c: np.ndarray) -> np.ndarray:
    """Relative insulation ageing rate (IEC 60076-7, Arrhenius form) at each hot-spot
    temperature."""
    return np.exp(15000.0 / 383.0 - 15000.0 / (hot_spot_c + 273.0))


def interrupted_share(
    starts: np.ndarray, ends: np.ndarray, first: pd.Timestamp, hours: int
) -> np.ndarray:
    """Share of each hour (0..1) covered by the given intervals (overlaps count once, capped)."""
    share = np.zeros(hours)
    t0 = first.value
    hour_ns = 3_600 * 10**9
    for s, e in zip(starts, ends, strict=True):
        a = (pd.Timestamp(s).value - t0) / hour_ns
        b = (pd.Timestamp(e).value - t0) / hour_ns
        if b <= 0 or a >= hours:
            continue
        a, b = max(a, 0.0), min(b, float(hours))
        ia, ib = int(np.floor(a)), int(np.ceil(b))
        cover = np.minimum(np.arange(ia, ib) + 1, b) - np.maximum(np.arange(ia, ib), a)
        share[ia:ib] += cover
    return np.clip(share, 0.0, 1.0)
