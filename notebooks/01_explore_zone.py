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
# # A look at the pilot zone
# Load shapes by segment, the effect of heat, load shedding, and the energy balance that
# reveals theft. Run `make demo` first (or `gridml data generate` and `gridml features build`);
# this notebook only reads the workspace (`$GRIDML_WORKSPACE`, default `./workspace`) through
# library code.

# %%
import matplotlib.pyplot as plt

from gridml.io import read_parts
from gridml.workspace import Workspace

ws = Workspace.from_env()
readings = read_parts(ws.feed_dir("readings"))
meters = read_parts(ws.feed_dir("meters"))
weather = read_parts(ws.feed_dir("weather"))
energy = read_parts(ws.table_dir("transformer_energy_daily"))
print(f"{readings['meter_id'].nunique()} meters, {len(readings):,} hourly readings")
print(f"{readings['timestamp'].min()} .. {readings['timestamp'].max()} (UTC)")

# %% [markdown]
# ## Load shape by customer segment
# Residential load peaks in the evening, commercial load in the working day.

# %%
frame = readings.merge(meters[["meter_id", "segment"]], on="meter_id")
frame["hour"] = frame["timestamp"].dt.hour
shape = frame.groupby(["segment", "hour"])["kwh"].mean().unstack(0)
ax = (shape / shape.mean()).plot(title="Hourly load shape by segment (x mean, UTC hours)")
ax.set_ylabel("load / mean load")
plt.show()

# %% [markdown]
# ## Heat drives cooling load
# Daily zone energy against the day's mean temperature.

# %%
daily = readings.set_index("timestamp")["kwh"].resample("D").sum()
temp = weather.groupby(weather["timestamp"].dt.floor("D"))["temperature_c"].mean()
both = daily.to_frame("kwh").join(temp.rename("temperature_c"), how="inner")
both = both[both["kwh"] > 0]
ax = both.plot.scatter(x="temperature_c", y="kwh", alpha=0.5, title="Daily energy vs temperature")
ax.set_xlabel("mean temperature (°C)")
plt.show()
print(f"correlation: {both.corr().iloc[0, 1]:.2f}")

# %% [markdown]
# ## Energy balance per transformer
# A transformer whose meters record much less than it delivers (a high loss ratio) is where
# the field teams look for theft.

# %%
loss = energy.groupby("transformer_id")["loss_ratio_28d"].median().sort_values()
loss.tail(20).plot.barh(figsize=(6, 6), title="Median 28-day loss ratio: the 20 highest")
plt.show()
