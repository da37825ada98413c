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
# # Theft and transformer-failure experiments
# Both pipelines as `gridml train theft|maintenance` run them, called from Python: the PyTorch
# model beside its LightGBM baseline on the same held-out meters and days, tracked in the
# workspace's MLflow and registered under a name of your own (never the served models'
# names). `GRIDML_NOTEBOOK_SMALL=1` picks the small test configs.

# %%
import os

import matplotlib.pyplot as plt
import pandas as pd

from gridml.models import registry
from gridml.training.maintenance.pipeline import MaintenanceRunConfig, train_maintenance
from gridml.training.theft.pipeline import TheftRunConfig, train_theft
from gridml.workspace import Workspace

ws = Workspace.from_env()
small = os.environ.get("GRIDML_NOTEBOOK_SMALL") == "1"
suffix = "-small" if small else ""

# %% [markdown]
# ## Theft: Wide & Deep (PyTorch) against LightGBM

# %%
theft_cfg = TheftRunConfig.read_yaml(
    f"experiments/theft{suffix}.yaml", registered_model="notebook-theft"
)
theft = train_theft(theft_cfg, ws)
metrics = pd.Series(theft.metrics)
families = ["wide_deep", "lightgbm"]
headline = ["pr_auc", "roc_auc", "precision_at_share"]
table = pd.DataFrame({f: {m: metrics.get(f"{f}.{m}") for m in headline} for f in families}).T
table

# %%
recall = metrics[metrics.index.str.contains(r"\.recall_h\d")]
recall.index = pd.MultiIndex.from_tuples([tuple(i.split(".", 1)) for i in recall.index])
recall.unstack(0).plot.bar(title="Recall per attack type at the theft-share budget")
plt.show()
if theft.history:
    pd.DataFrame(theft.history).plot(title="Wide & Deep training history")
    plt.show()

# %% [markdown]
# ## Transformer failure within 7 days: 1-D CNN against LightGBM

# %%
failure_cfg = MaintenanceRunConfig.read_yaml(
    f"experiments/maintenance{suffix}.yaml", registered_model="notebook-failure"
)
failure = train_maintenance(failure_cfg, ws)
failure.metrics

# %% [markdown]
# ## The registry: what was registered, and from what
# Each run registered a version under its own name with the `challenger` alias; its lineage
# (run, git commit, data digest, the config it ran with) is read back from the registry.

# %%
print("theft run", theft.run_id, "-> notebook-theft version", theft.version)
print("failure run", failure.run_id, "-> notebook-failure version", failure.version)
print(registry.aliases("notebook-theft"), registry.resolve("notebook-failure"))
info = registry.version_info("notebook-theft", theft.version)
print(type(info.config).__name__, {k: v for k, v in info.run_tags.items() if "gridml." in k})
