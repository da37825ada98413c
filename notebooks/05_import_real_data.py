# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Importing real data: Victoria's demand, 2014
# Half-hourly electricity demand of Victoria (Australia) in GW, with Melbourne's temperature
# (`tests/data/victoria_demand_2014.csv`, from the R package fpp2, sourced from AEMO). It is
# imported as it is, at its real unit, as a measured system total (`zone:VIC`), into a
# workspace of its own, then its feature tables are built: the same steps as
# `gridml data import ... && gridml features build` (see docs/data-contract.md).

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from gridml.config import PROJECT_ROOT
from gridml.features.importer import WideSeries, import_feeds
from gridml.features.tables.build import build_tables
from gridml.io import read_parts
from gridml.workspace import Workspace

csv = PROJECT_ROOT / "tests" / "data" / "victoria_demand_2014.csv"
ws = Workspace(Path(tempfile.mkdtemp(prefix="victoria-")))

# %%
report = import_feeds(
    {"load_measurements": csv, "weather": csv},
    ws,
    country="AU",
    subdivision="VIC",  # Victoria's own public holidays
    timezone="Australia/Brisbane",  # AEST without daylight saving, as the file's stamps
    region="VIC",
    unit="GW",
    name="victoria",
    wide=WideSeries("zone:VIC", "demand_gw", temperature_column="temperature_c"),
)
print(report.rows, report.series_units, f"{report.start} .. {report.end}")

# %% [markdown]
# The half hours were summed into hourly energy and converted once into MWh (a system-level
# series); every later output says MWh.

# %%
load = read_parts(ws.feed_dir("load_measurements"))
weather = read_parts(ws.feed_dir("weather"))
print(load.head(3))
week = load.set_index("timestamp")["value"].loc["2014-07-07":"2014-07-13"]
ax = week.plot(title="Victoria, a winter week (hourly energy)")
ax.set_ylabel(load["unit"].iloc[0])
plt.show()

# %%
daily = load.set_index("timestamp")["value"].resample("D").sum()
temp = weather.set_index("timestamp")["temperature_c"].resample("D").max()
ax = plt.scatter(temp.reindex(daily.index), daily, s=8, alpha=0.6)
plt.xlabel("daily max temperature (°C)")
plt.ylabel(f"daily energy ({load['unit'].iloc[0]})")
plt.title("Heating below ~18 °C, cooling above ~25 °C")
plt.show()

# %%
build_tables(ws, progress=False)
series = read_parts(ws.table_dir("load_hourly"))
print(f"load_hourly: {len(series):,} rows, series {sorted(series['series_id'].unique())}")
