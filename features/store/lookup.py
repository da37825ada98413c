"""From ids a caller knows (a meter, a transformer, a series) to the full entity rows a
FeatureService joins on, using the grid topology feeds and the measured series."""

from __future__ import annotations

import pandas as pd

from gridml.errors import MissingDataError, UserError
from gridml.features.store.definitions import service_join_keys
from gridml.features.tables.load import METER_LEVEL
from gridml.features.tables.series import topology_frame, zone_series
from gridml.io import read_parts
from gridml.workspace import Workspace


def topology(ws: Workspace) -> pd.DataFrame:
    """meter_id, segment, transformer_id, feeder_id, substation_id, region_id.

    Raises `MissingDataError` without a meters or transformers feed (a readings-only or
    measurements-only zone): callers that can work without topology catch it."""
    topo = topology_frame(ws)
    if topo is None:
        raise MissingDataError("no meters or transformers feed: entity ids cannot be resolved")
    return topo.reset_index()


def entity_table(ws: Workspace, service: str) -> pd.DataFrame:
    """Every valid combination of the service's join keys, its main key first."""
    keys = service_join_keys(service)
    if keys[0] != "series_id":
        return topology(ws)[keys].drop_duplicates(keys[0])
    built = read_parts(ws.table_dir("series_profile"), columns=["series_id", "level"])
    meters = [] if built is None else built.loc[built["level"] == METER_LEVEL, "series_id"]
    table = zone_series(ws, tuple(m.removeprefix("meter:") for m in meters))
    return table[keys].drop_duplicates(keys[0]).reset_index(drop=True)


def entity_rows(
    ws: Workspace, service: str, ids: list[str] | None, n: int = 3
) -> list[dict[str, str]]:
    """Entity rows of a FeatureService: the given ids (UserError naming unknown ones), else the
    first `n`."""
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
