"""From ids a caller knows (a meter, a transformer, a feeder) to the full entity rows a
FeatureService joins on, using the grid topology feeds."""

from __future__ import annotations

import pandas as pd

from gridml.errors import UserError
from gridml.features.store.definitions import service_join_keys
from gridml.io import read_parts
from gridml.workspace import Workspace


def topology(ws: Workspace) -> pd.DataFrame:
    """meter_id, transformer_id, feeder_id, substation_id, region_id (what is known)."""
    meters = read_parts(ws.feed_dir("meters"))
    transformers = read_parts(ws.feed_dir("transformers"))
    if transformers is None:
        raise UserError("no transformers feed: entity ids cannot be resolved to the grid")
    if meters is None:
        return transformers
    return meters.merge(transformers, on="transformer_id", how="left")


def entity_rows(
    ws: Workspace, service: str, ids: list[str] | None, n: int = 3
) -> list[dict[str, str]]:
    keys = service_join_keys(service)
    topo = topology(ws)
    main = keys[0]
    table = topo[keys].drop_duplicates(main)
    if ids:
        unknown = sorted(set(ids) - set(table[main]))
        if unknown:
            raise UserError(f"unknown {main}(s): {', '.join(unknown)}")
        table = table.set_index(main).loc[ids].reset_index()
    else:
        table = table.sort_values(main).head(n)
    return table.to_dict("records")
