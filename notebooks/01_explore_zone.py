# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # A look at the pilot zone
# Load shapes by segment, the effect of heat, and the energy balance that reveals theft.
# Run `make demo` first; this notebook only reads the workspace through library code.

# %%
import matplotlib.pyplot as plt

from gridml.io import read_parts
from gridml.workspace import Workspace

ws = Workspace.from_env()
readings = read_parts(ws.feed_dir("readings"))
meters = read_parts(ws.feed_dir("meters"))
energy = read_parts(ws.table_dir("transformer_energy_daily"))

# %%
frame = readings.merge(meters, on="meter_id")
frame["hour"] = frame["timestamp"].dt.hour
shape = frame.groupby(["segment", "hour"])["kwh"].mean().unstack(0)
(shape / shape.mean()).plot(title="Hourly load shape by segment (x mean)")
plt.show()

# %%
energy.groupby("transformer_id")["loss_ratio_28d"].median().sort_values().plot.barh(
    figsize=(6, 10), title="Median 28-day loss ratio per transformer"
)
plt.show()
