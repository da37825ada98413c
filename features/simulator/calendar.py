"""The zone's clock: hourly UTC index aligned on local midnights, local calendar and holidays."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import holidays
import numpy as np
import pandas as pd

from gridml.features.physics import country_timezone


@dataclass(frozen=True)
class Clock:
    """Hourly timeline of a zone; `days` whole local days starting at local midnight."""

    start: dt.date
    days: int
    country: str
    subdivision: str | None = None  # a region of the country with holidays of its own

    @property
    def timezone(self) -> str:
        return country_timezone(self.country)

    @property
    def hours(self) -> int:
        return self.days * 24

    def utc_index(self) -> pd.DatetimeIndex:
        first = pd.Timestamp(self.start, tz=self.timezone).tz_convert("UTC")
        return pd.date_range(first, periods=self.hours, freq="h", name="timestamp")

    def local_index(self) -> pd.DatetimeIndex:
        return self.utc_index().tz_convert(self.timezone)

    def local_dates(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=self.days, freq="D")

    def holiday_days(self) -> np.ndarray:
        """Boolean per local day: a public holiday of the country (and its subdivision)."""
        dates = self.local_dates()
        years = sorted({d.year for d in dates})
        cal = holidays.country_holidays(self.country, subdiv=self.subdivision, years=years)
        return np.array([d.date() in cal for d in dates])

    def day_type(self) -> np.ndarray:
        """Per local day: 0 weekday, 1 Saturday, 2 Sunday or public holiday."""
        dates = self.local_dates()
        kind = np.zeros(self.days, dtype=np.int8)
        kind[dates.dayofweek == 5] = 1
        kind[(dates.dayofweek == 6) | self.holiday_days()] = 2
        return kind
