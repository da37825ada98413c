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
import pyarrow.compute as pc
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


def _split(part: pd.DataFrame, mine: pd.DataFrame, key: list[str]) -> tuple[pd.DataFrame, int, int]:
    """(rows of `mine` new to `part`, repeats, conflicts)."""
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


def _span(part: pa.Table, mine: pd.DataFrame, time: str | None) -> pd.DataFrame:
    """The part's rows that can share a key with `mine`: those within its time span (a new
    day: none), as a frame; the whole part when the feed has no time column."""
    if time is None or not len(mine):
        return part.to_pandas() if time is None else part.slice(0, 0).to_pandas()
    stamps = part[time]
    lo, hi = (pa.scalar(t, stamps.type) for t in (mine[time].min(), mine[time].max()))
    return part.filter(pc.and_(pc.greater_equal(stamps, lo), pc.less_equal(stamps, hi))).to_pandas()


def _merged(part: pa.Table, new: pd.DataFrame, contract: Feed) -> pa.Table:
    """The part with the new rows, in entity and time order. New rows later than every row of
    a part whose entities are contiguous and in order (the usual case: the next hours) are
    inserted after their entity's rows, in Arrow, without sorting the part again; otherwise
    the whole is sorted."""
    schema = arrow_schema(contract)
    cols = sort_columns(contract)
    entity, time = contract.entity_column, contract.time_column
    part = part.select(schema.names).cast(schema)
    if time is not None and cols == [entity, time] and len(part):
        latest = pc.max(part[time]).as_py()
        if latest < new[time].min():
            runs = pc.run_end_encode(part[entity].combine_chunks())
            values = np.array(runs.values.to_pylist(), dtype=object)
            if len(set(values)) == len(values) and all(values[:-1] < values[1:]):
                new = new.sort_values(cols, ignore_index=True)
                ends = runs.run_ends.to_numpy()
                k = np.searchsorted(values, new[entity].to_numpy(dtype=object), side="right")
                at = np.where(k > 0, ends[np.maximum(k - 1, 0)], 0)
                order = np.insert(np.arange(len(part)), at, len(part) + np.arange(len(new)))
                rows = pa.Table.from_pandas(new[schema.names], schema=schema, preserve_index=False)
                return pa.concat_tables([part, rows]).take(order)
    merged = pd.concat([part.to_pandas(), new], ignore_index=True).sort_values(
        cols, ignore_index=True
    )
    return pa.Table.from_pandas(merged[schema.names], schema=schema, preserve_index=False)


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
    plans: list[pa.Table | None] = []
    firsts: list[pd.Timestamp] = []
    placed: set[str] = set()
    added = repeats = conflicts = 0
    for i, f in enumerate(files):
        part = pq.read_table(f)
        entities = set(pc.unique(part[entity]).to_pylist())
        mine = landed[landed[entity].isin(entities)]
        if i == len(files) - 1:  # entities no part holds go to the last one
            mine = landed[landed[entity].isin(entities) | ~landed[entity].isin(placed | entities)]
        placed |= entities
        new, rep, con = _split(_span(part, mine, contract.time_column), mine, key)
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
                pq.write_table(plan, staging / f.name)
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
