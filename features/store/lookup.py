"""From ids a caller knows (a meter, a transformer, a series) to the full entity rows a
FeatureService joins on, using the grid topology feeds."""

from __future__ import annotations

import pandas as pd

from gridml.errors import UserError
from gridml.features.store.definitions import service_join_keys
from gridml.features.tables.load import METER_LEVEL, ZONE_ID, ZONE_REGION, series_table
from gridml.io import read_parts
from gridml.workspace import Workspace


def topology(ws: Workspace) -> pd.DataFrame:
    """meter_id, segment, transformer_id, feeder_id, substation_id, region_id."""
    meters = read_parts(ws.feed_dir("meters"))
    transformers = read_parts(ws.feed_dir("transformers"))
    if meters is None or transformers is None:
        raise UserError("no meters or transformers feed: entity ids cannot be resolved")
    return meters.merge(transformers, on="transformer_id", how="left")


def entity_table(ws: Workspace, service: str) -> pd.DataFrame:
    """Every valid combination of the service's join keys, its main key first."""
    keys = service_join_keys(service)
    if keys[0] == "series_id" and read_parts(ws.feed_dir("transformers")) is None:
        return pd.DataFrame({"series_id": [ZONE_ID], "region_id": [ZONE_REGION]})
    topo = topology(ws)
    if keys[0] != "series_id":
        return topo[keys].drop_duplicates(keys[0])
    built = read_parts(ws.table_dir("series_profile"), columns=["series_id", "level"])
    meters = [] if built is None else built.loc[built["level"] == METER_LEVEL, "series_id"]
    table = series_table(topo.set_index("meter_id"), [m.removeprefix("meter:") for m in meters])
    return table[keys].drop_duplicates(keys[0])


def entity_rows(
    ws: Workspace, service: str, ids: list[str] | None, n: int = 3
) -> list[dict[str, str]]:
    table = entity_table(ws, service)
    main = table.columns[0]
    if ids:
        unknown = sorted(set(ids) - set(table[main]))
        if unknown:
            raise UserError(f"unknown {main}(s): {', '.join(unknown)}")
        table = table.set_index(main).loc[ids].reset_index()
    else:
        table = table.sort_values(main).head(n)
    return table.to_dict("records")
