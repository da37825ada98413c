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
# # The demand experiment and its backtest
# The rolling-origin backtest `gridml train demand` runs, called from Python: every model
# retrained at each cut-off, forecasts issued at the configured local time for the delivery
# window, scored on the delivered hours. Then: the scores, skill per lead time, and the days
# where LightGBM failed worst. `GRIDML_NOTEBOOK_SMALL=1` picks the small test config.

# %%
import os

import matplotlib.pyplot as plt
import pandas as pd

from gridml.training.demand.backtest import run_backtest
from gridml.training.demand.config import DemandConfig
from gridml.training.demand.dataset import load_demand_data
from gridml.workspace import Workspace

ws = Workspace.from_env()
small = os.environ.get("GRIDML_NOTEBOOK_SMALL") == "1"
cfg = DemandConfig.read_yaml(
    "experiments/demand-small.yaml" if small else "experiments/demand.yaml"
)
if not small:  # the quick look: LightGBM beside the naive baselines (Prophet is slower)
    cfg = cfg.model_copy(update={"models": ["seasonal_naive", "profile", "lightgbm"]})
print(cfg.models, "levels", cfg.levels, "issued", cfg.issue.time)

# %%
data = load_demand_data(ws, cfg)
result = run_backtest(data, cfg)
summary = result.summary.set_index(["level", "model"]).sort_index()
summary[["mase", "mase_vs_naive", "pinball", "coverage", "width"]].round(3)

# %% [markdown]
# ## Skill per lead time
# 1 − MASE / the seasonal naive's MASE, by hours between issue and delivery.

# %%
lead = result.by_lead
lead = lead[lead["model"] == "lightgbm"].pivot_table(
    index="lead_hours", columns="level", values="skill"
)
ax = lead.plot(title="LightGBM skill over the seasonal naive, by lead time")
ax.axhline(0.0, color="grey", lw=0.8)
ax.set_xlabel("hours after issue")
plt.show()

# %% [markdown]
# ## Where it fails: the worst days at the first level
# Per-origin forecasts and actuals (the same frame `gridml train demand` logs as a Parquet
# artifact); the three days with the largest LightGBM error.

# %%
pred = result.predictions
level = cfg.levels[0]
lgbm = pred[(pred["model"] == "lightgbm") & (pred["level"] == level)].copy()
lgbm["abs_error"] = (lgbm["y"] - lgbm["yhat"]).abs()
lgbm = lgbm[lgbm["delivered"]]
lgbm["day"] = pd.to_datetime(lgbm["target_time"]).dt.floor("D")
worst = lgbm.groupby("day")["abs_error"].sum().nlargest(3)
print(worst)
one = lgbm[lgbm["day"] == worst.index[0]]
series = one.groupby("target_time")[["y", "yhat", "q10", "q90"]].sum()
ax = series[["y", "yhat"]].plot(title=f"Worst day at {level} level (sum of its series)")
ax.fill_between(series.index, series["q10"], series["q90"], alpha=0.2, label="P10-P90")
ax.legend()
plt.show()
