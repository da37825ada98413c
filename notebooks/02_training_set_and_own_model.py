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
# # A training set from Feast, a model of your own, logged beside the platform's
# The point-in-time correct training frame of the `asset_failure_v1` FeatureService (the one
# the served transformer-failure model reads), labelled with failures in the next 7 days; a
# LightGBM model of your own against a one-feature baseline on the last days; both logged to
# the workspace's MLflow store (runs in `WORKSPACE/mlflow.db`, artifacts in
# `WORKSPACE/mlartifacts`, never `./mlruns`). Needs `gridml features build` and
# `gridml features apply` on the workspace (`make demo` does both).

# %%
import lightgbm as lgb
import matplotlib.pyplot as plt
import mlflow
import numpy as np
import pandas as pd

from gridml.features.store import repo
from gridml.training.classification import average_precision, roc_auc
from gridml.training.maintenance.dataset import (
    entity_frame,
    feature_names,
    label_rows,
    read_events,
)
from gridml.training.tracking import TrackingConfig, configure
from gridml.workspace import Workspace

ws = Workspace.from_env()
SERVICE = "asset_failure_v1"
HORIZON_DAYS = 7

# %% [markdown]
# ## The entity frame and its labels
# One row per transformer and day end; the label is a failure in the next 7 days. Rows whose
# window runs past the data (censored) or whose unit is already down are left out.

# %%
entities = entity_frame(ws)
failures, replacements = read_events(ws)
rows = label_rows(
    entities, failures, replacements, HORIZON_DAYS, end=entities["event_timestamp"].max()
)
rows = rows[~rows["down"] & ~rows["censored"]].reset_index(drop=True)
print(f"{len(rows):,} transformer-days, {int(rows['label'].sum())} with a failure ahead")

# %% [markdown]
# ## Point-in-time features from the offline store
# `repo.training_set` asks Feast for each row's feature values as they were known at its
# `event_timestamp` (never later), in the same row order.

# %%
names = feature_names(ws, SERVICE)
frame = repo.training_set(ws, SERVICE, rows[["transformer_id", "event_timestamp"]])
frame["label"] = rows["label"].to_numpy()
print(f"{len(names)} features: {', '.join(names[:6])}, ...")
frame[names].describe().T.head(10)

# %% [markdown]
# ## A time split, your model and a baseline
# The last quarter of the days is the test period; the model never sees it.

# %%
days = np.sort(frame["event_timestamp"].unique())
cutoff = days[int(len(days) * 0.75)]
train, test = frame[frame["event_timestamp"] < cutoff], frame[frame["event_timestamp"] >= cutoff]
params = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 20,
    "is_unbalance": True,
    "verbosity": -1,
    "num_threads": 1,
    "seed": 7,
}
booster = lgb.train(params, lgb.Dataset(train[names], train["label"]), num_boost_round=150)
scores = {
    "my_lightgbm": booster.predict(test[names]),
    # baseline: the unit's insulation ageing rate alone (hotter, older units fail more)
    "ageing_only": test["ageing_acceleration_mean"].fillna(0.0).to_numpy(),
}
y = test["label"].to_numpy()
results = pd.DataFrame(
    {
        name: {"pr_auc": average_precision(y, s), "roc_auc": roc_auc(y, s)}
        for name, s in scores.items()
    }
).T
print(f"test: {len(test):,} rows, {int(y.sum())} positive (rate {y.mean():.4f})")
results

# %%
importance = pd.Series(booster.feature_importance("gain"), index=names).sort_values()
importance.tail(12).plot.barh(figsize=(6, 5), title="What my model uses (gain)")
plt.show()

# %% [markdown]
# ## Logged to the workspace's MLflow, beside the platform's runs
# `configure` points MLflow at the workspace's store and experiment; `make mlflow-ui` shows it.

# %%
configure(TrackingConfig(experiment="notebook-asset-failure"), ws)
with mlflow.start_run(run_name="my-lightgbm-vs-ageing") as run:
    mlflow.log_params({f"lgbm.{k}": v for k, v in params.items()})
    mlflow.log_param("feature_service", SERVICE)
    for name, row in results.iterrows():
        mlflow.log_metrics({f"{name}.pr_auc": row["pr_auc"], f"{name}.roc_auc": row["roc_auc"]})
    mlflow.lightgbm.log_model(booster, name="model", input_example=test[names].head(3))
print("run", run.info.run_id, "artifacts at", run.info.artifact_uri)
assert run.info.artifact_uri.startswith((ws.root / "mlartifacts").as_uri())
