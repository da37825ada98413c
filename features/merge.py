"""Landed live data folded into the feeds (`gridml data merge-landed`; run by every
`gridml features build`), so that what arrives over HTTP or from the broker reaches the
offline tables, training, monitoring and the next promotion.

For each landed feed (readings; transformer telemetry from the stream): the landed rows are
checked against the feed's contract (the same `check_frame`), deduplicated on the feed's key,
and the rows whose key the feed lacks are added to the part that holds their entity (parts
keep whole meters or transformers, in entity and time order), in a staging folder swapped in
whole. A landed row whose key the feed already holds is left out: a repeat when equal, a
conflict (counted and logged) when not, since imported history is the reference. The zone's
period (`zone.json` end) is extended to the last merged hour. Merging twice changes nothing.
Meter events stay in `landing/meter_events/` (no feed holds them yet).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gridml.errors import ContractError
from gridml.features.contracts import FEEDS, Feed
from gridml.features.importer import arrow_schema, sort_columns
from gridml.features.landing import landing_dir
from gridml.features.validate import check_frame
from gridml.io import parts, read_parts, staged_dir, write_json_atomic
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
MERGED_FEEDS = ("readings", "transformer_telemetry")


@dataclass
class MergeReport:
    added: dict[str, int] = field(default_factory=dict)
    repeats: dict[str, int] = field(default_factory=dict)
    conflicts: dict[str, int] = field(default_factory=dict)
    end: str | None = None  # the zone's new end, when extended
    first: dict[str, pd.Timestamp] = field(default_factory=dict)  # earliest row added, per feed


def _key_index(df: pd.DataFrame, key: list[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(df[key])


def _split(
    part: pd.DataFrame, mine: pd.DataFrame, key: list[str], time: str | None = None
) -> tuple[pd.DataFrame, int, int]:
    """(rows of `mine` new to `part`, repeats, conflicts). Only the part's rows within the
    landed rows' time span can share their key (a new day: none; no index built)."""
    if time is not None and len(mine):
        stamps = part[time]
        part = part[(stamps >= mine[time].min()) & (stamps <= mine[time].max())]
    if not len(part):
        return mine, 0, 0
    held = part.set_index(key)
    known = _key_index(mine, key).isin(held.index)
    if not known.any():
        return mine, 0, 0
    values = [c for c in mine.columns if c not in key]
    old = held.loc[_key_index(mine[known], key), values].to_numpy(dtype=object)
    new = mine.loc[known, values].to_numpy(dtype=object)
    same = np.array([all(a == b or (pd.isna(a) and pd.isna(b)) for a, b in zip(x, y, strict=True))
                     for x, y in zip(old, new, strict=True)])  # fmt: skip
    return mine[~known], int(same.sum()), int((~same).sum())


def _merged(part: pd.DataFrame, new: pd.DataFrame, contract: Feed) -> pd.DataFrame:
    """The part with the new rows, in entity and time order. New rows later than every row of
    a sorted part (the usual case: the next hours) are inserted after their entity's rows
    without sorting the part again; otherwise the whole is sorted."""
    cols = sort_columns(contract)
    entity, time = contract.entity_column, contract.time_column
    if (
        time is not None
        and cols == [entity, time]
        and part[time].max() < new[time].min()
        and part[entity].is_monotonic_increasing
    ):
        new = new.sort_values(cols, ignore_index=True)
        at = part[entity].searchsorted(new[entity], side="right")
        order = np.insert(np.arange(len(part)), at, len(part) + np.arange(len(new)))
        return pd.concat([part, new], ignore_index=True).take(order).reset_index(drop=True)
    return pd.concat([part, new], ignore_index=True).sort_values(cols, ignore_index=True)


def _link_or_copy(src: os.PathLike, dst: os.PathLike) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def merge_feed(ws: Workspace, feed: str, report: MergeReport) -> pd.Timestamp | None:
    """Merge one landed feed; returns its last merged timestamp (None when nothing added)."""
    landed = read_parts(landing_dir(ws, feed))
    folder = ws.feed_dir(feed)
    files = parts(folder)
    if landed is None or not files:
        return None
    contract = FEEDS[feed]
    key, entity = list(contract.key), contract.entity_column
    landed = landed[list(contract.schema.columns)].drop_duplicates(subset=key, ignore_index=True)
    errors = check_frame(landed, contract, str(landing_dir(ws, feed)))
    if errors:
        raise ContractError("; ".join(errors))
    plans: list[pd.DataFrame | None] = []
    firsts: list[pd.Timestamp] = []
    placed: set[str] = set()
    added = repeats = conflicts = 0
    for i, f in enumerate(files):
        part = pd.read_parquet(f)
        entities = set(part[entity].unique())
        mine = landed[landed[entity].isin(entities)]
        if i == len(files) - 1:  # entities no part holds go to the last one
            mine = landed[landed[entity].isin(entities) | ~landed[entity].isin(placed | entities)]
        placed |= entities
        new, rep, con = _split(part, mine, key, contract.time_column)
        repeats, conflicts = repeats + rep, conflicts + con
        if len(new):
            firsts.append(new[contract.time_column].min())
            plans.append(_merged(part, new, contract))
            added += len(new)
        else:
            plans.append(None)
    report.added[feed], report.repeats[feed], report.conflicts[feed] = added, repeats, conflicts
    if conflicts:
        log.warning(
            "%s: %d landed row(s) differ from the feed for the same key; the feed's kept",
            feed,
            conflicts,
        )
    if not added:
        return None
    report.first[feed] = min(firsts)
    with staged_dir(folder) as staging:
        for f, plan in zip(files, plans, strict=True):
            if plan is None:
                _link_or_copy(f, staging / f.name)
            else:
                table = pa.Table.from_pandas(
                    plan[list(contract.schema.columns)],
                    schema=arrow_schema(contract),
                    preserve_index=False,
                )
                pq.write_table(table, staging / f.name)
    return landed[contract.time_column].max()


def merge_landed(ws: Workspace) -> MergeReport:
    """Fold every landed feed into the workspace's feeds (idempotent)."""
    report = MergeReport()
    last = [merge_feed(ws, feed, report) for feed in MERGED_FEEDS]
    stamps = [t for t in last if t is not None]
    if stamps and ws.zone_file.is_file():
        zone = json.loads(ws.zone_file.read_text())
        end = max(stamps) + pd.Timedelta(hours=1)
        if end > pd.Timestamp(zone["end"]):
            zone["end"] = end.isoformat()
            write_json_atomic(zone, ws.zone_file)
            report.end = zone["end"]
    for feed, n in report.added.items():
        if n or report.repeats.get(feed) or report.conflicts.get(feed):
            log.info(
                "merged landed %s: %d added, %d already in the feed, %d conflicts",
                feed,
                n,
                report.repeats[feed],
                report.conflicts[feed],
            )
    return report
