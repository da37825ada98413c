"""Expected served energy under a load-shedding schedule.

The models forecast unconstrained demand; a dispatcher planning load shedding also needs what
will actually be served: each hour's forecast times the share of the hour the series is supplied.
"""

from __future__ import annotations

import pandas as pd

from gridml.features.physics import interrupted_share

HOUR = pd.Timedelta(hours=1)


def expected_served(
    forecast: pd.DataFrame, schedule: pd.DataFrame, columns: tuple[str, ...] = ("q10", "q50", "q90")
) -> pd.DataFrame:
    """`forecast`: series_id, target_time (UTC hour start) and quantile columns (kWh).
    `schedule`: series_id, start, end of planned cuts (UTC). Returns the forecast with
    `supplied_share` and `served_<column>` = column x supplied share."""
    out = forecast.copy()
    out["supplied_share"] = 1.0
    for series, rows in out.groupby("series_id"):
        cuts = schedule[schedule["series_id"] == series]
        if cuts.empty:
            continue
        first = rows["target_time"].min()
        hours = int((rows["target_time"].max() - first) / HOUR) + 1
        share = interrupted_share(cuts["start"].to_numpy(), cuts["end"].to_numpy(), first, hours)
        positions = ((rows["target_time"] - first) / HOUR).astype(int).to_numpy()
        out.loc[rows.index, "supplied_share"] = 1.0 - share[positions]
    for col in columns:
        out[f"served_{col}"] = out[col] * out["supplied_share"]
    return out
