"""Input-layout names shared by training (the pyfuncs) and serving (which assembles the same
frames): one definition each, below both."""

from __future__ import annotations

from typing import Literal

#: the grid levels a load series is measured or summed at, from one meter to the whole zone
Level = Literal["meter", "transformer", "feeder", "substation", "zone"]

#: theft model input: the keys of each row (then features, kwh_lag_*, outage_lag_*)
THEFT_KEY_COLUMNS = ("meter_id", "transformer_id")
#: failure model input: one row per (transformer, day)
TRANSFORMER_KEY, TIME = "transformer_id", "event_timestamp"


def lag_columns(prefix: str, days: int) -> list[str]:
    """`<prefix>_lag_00` .. : lag 0 is the newest day (zero-padded to the widest lag)."""
    width = len(str(days - 1))
    return [f"{prefix}_lag_{k:0{width}d}" for k in range(days)]
