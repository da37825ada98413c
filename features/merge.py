"""Landed live data folded into the feeds (`gridml data merge-landed`; run by every
`gridml features build`), so that what arrives over HTTP or from the broker reaches the
offline tables, training, monitoring and the next promotion.

For each landed feed (readings; transformer telemetry from the stream): the landed rows are
checked against the feed's contract (the same `check_frame`) and deduplicated on the feed's
key; the rows whose key the feed lacks are written as a **delta part** of the part group that
holds their entity, in a staging folder swapped in whole. A landed row whose key the feed
already holds is left out: a repeat when equal, a conflict (counted and logged) when not, since
imported history is the reference. The zone's period (`zone.json` end) is extended to the last
merged hour. Merging twice changes nothing. Meter events stay in `landing/meter_events/` (no
feed holds them yet).

Feed layout: a base part `part-00003.parquet` (as imported or generated: whole entities, in
entity and time order) and its delta parts `part-00003_0001.parquet`, `..._0002`, ... (each in
entity and time order; keys unique across the group). A group holds whole entities, so a
reader that works part by part reads a group (`part_groups`). The merge touches only the new
data: which group holds an entity, and the time span of each file, come from the Parquet
footers' statistics; a file is read only when its time span overlaps the landed rows' (the
next hours: only earlier deltas, never the base). When a group holds more than
`MAX_DELTAS` deltas they are compacted into one (the deltas' rows only; the base part is
never rewritten by a merge).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

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
MAX_DELTAS = 8  # delta parts per group before they are compacted into one


@dataclass
class MergeReport:
    added: dict[str, int] = field(default_factory=dict)
    repeats: dict[str, int] = field(default_factory=dict)
    conflicts: dict[str, int] = field(default_factory=dict)
    end: str | None = None  # the zone's new end, when extended
    first: dict[str, pd.Timestamp] = field(default_factory=dict)  # earliest row added, per feed
    deltas: dict[str, int] = field(default_factory=dict)  # delta parts written, per feed
    compacted: dict[str, int] = field(default_factory=dict)  # groups whose deltas compacted


def group_name(path: Path) -> str:
    """The group a part belongs to: `part-00003` for the base and its deltas."""
    return path.name.removesuffix(".parquet").split("_", 1)[0]


def part_groups(folder: Path) -> list[list[Path]]:
    """A feed folder's parts by group (a base part and its deltas, in that order), in order.
    Each group holds whole entities: what a reader that goes part by part reads at once."""
    groups: dict[str, list[Path]] = {}
    for f in parts(folder):
        groups.setdefault(group_name(f), []).append(f)
    return list(groups.values())


@dataclass(frozen=True)
class _FileSpan:
    path: Path
    entity_min: str
    entity_max: str
    time_min: pd.Timestamp
    time_max: pd.Timestamp


def _stat(meta: pq.FileMetaData, column: str) -> tuple[object, object] | None:
    """(min, max) of a column over the file's row groups from its footer; None when missing."""
    j = meta.schema.names.index(column)
    lo = hi = None
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(j).statistics
        if stats is None or not stats.has_min_max:
            return None
        lo = stats.min if lo is None or stats.min < lo else lo
        hi = stats.max if hi is None or stats.max > hi else hi
    return (lo, hi) if lo is not None else None


def _file_span(path: Path, entity: str, time: str) -> _FileSpan | None:
    """Entity and time ranges of a part, from its footer (the columns are read when a footer
    lacks statistics); None for an empty part."""
    meta = pq.read_metadata(path)
    if meta.num_rows == 0:
        return None
    ent, ts = _stat(meta, entity), _stat(meta, time)
    if ent is None or ts is None:
        table = pq.read_table(path, columns=[entity, time])
        ent = (pc.min(table[entity]).as_py(), pc.max(table[entity]).as_py())
        ts = (pc.min(table[time]).as_py(), pc.max(table[time]).as_py())
    return _FileSpan(path, str(ent[0]), str(ent[1]), _utc(ts[0]), _utc(ts[1]))


def _utc(value: object) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _split(held: pd.DataFrame, mine: pd.DataFrame, key: list[str]) -> tuple[pd.DataFrame, int, int]:
    """(rows of `mine` new to `held`, repeats, conflicts)."""
    if not len(held):
        return mine, 0, 0
    held = held.set_index(key)
    known = pd.MultiIndex.from_frame(mine[key]).isin(held.index)
    if not known.any():
        return mine, 0, 0
    values = [c for c in mine.columns if c not in key]
    old = held.loc[pd.MultiIndex.from_frame(mine.loc[known, key]), values].to_numpy(dtype=object)
    new = mine.loc[known, values].to_numpy(dtype=object)
    same = np.array([all(a == b or (pd.isna(a) and pd.isna(b)) for a, b in zip(x, y, strict=True))
                     for x, y in zip(old, new, strict=True)])  # fmt: skip
    return mine[~known], int(same.sum()), int((~same).sum())


def _held_in_span(spans: list[_FileSpan], mine: pd.DataFrame, contract: Feed) -> pd.DataFrame:
    """The group's rows that can share a key with `mine`: those of the files whose time span
    overlaps `mine`'s, within that span (the next hours: no file is read)."""
    time = contract.time_column
    assert time is not None
    lo, hi = mine[time].min(), mine[time].max()
    schema = arrow_schema(contract)
    frames = []
    for s in spans:
        if s.time_max < lo or s.time_min > hi:
            continue
        bounds = [(time, ">=", pa.scalar(lo, schema.field(time).type)),
                  (time, "<=", pa.scalar(hi, schema.field(time).type))]  # fmt: skip
        frames.append(pq.read_table(s.path, filters=bounds).to_pandas())
    if not frames:
        return mine.iloc[0:0]
    return pd.concat(frames, ignore_index=True)


def _assign(groups: list[list[_FileSpan]], entities: pd.Series) -> np.ndarray:
    """Per row, the group holding its entity: the first group whose entity range covers it,
    else the last group. Only the last group's range grows (new entities beyond every range
    go there), so an entity stays in the group it first went to."""
    values = entities.to_numpy(dtype=object)
    out = np.full(len(values), len(groups) - 1)
    todo = np.ones(len(values), dtype=bool)
    for g, spans in enumerate(groups[:-1]):
        if not spans:
            continue
        lo, hi = min(s.entity_min for s in spans), max(s.entity_max for s in spans)
        hit = todo & (values >= lo) & (values <= hi)
        out[hit], todo = g, todo & ~hit
    return out


def _delta_path(folder: Path, group: list[Path]) -> Path:
    base = group_name(group[0])
    seqs = [int(f.name.removesuffix(".parquet").split("_", 1)[1]) for f in group if "_" in f.name]
    return folder / f"{base}_{max(seqs, default=0) + 1:04d}.parquet"


def _table(frame: pd.DataFrame, contract: Feed) -> pa.Table:
    schema = arrow_schema(contract)
    frame = frame.sort_values(sort_columns(contract), ignore_index=True)
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


def _link_or_copy(src: os.PathLike, dst: os.PathLike) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def merge_feed(ws: Workspace, feed: str, report: MergeReport) -> pd.Timestamp | None:
    """Merge one landed feed; returns its last merged timestamp (None when nothing added)."""
    landed = read_parts(landing_dir(ws, feed))
    folder = ws.feed_dir(feed)
    groups = part_groups(folder)
    if landed is None or not groups:
        return None
    contract = FEEDS[feed]
    key, entity, time = list(contract.key), contract.entity_column, contract.time_column
    assert entity is not None and time is not None, feed
    landed = landed[list(contract.schema.columns)].drop_duplicates(subset=key, ignore_index=True)
    errors = check_frame(landed, contract, str(landing_dir(ws, feed)))
    if errors:
        raise ContractError("; ".join(errors))
    spans = [[s for f in g if (s := _file_span(f, entity, time)) is not None] for g in groups]
    where = _assign(spans, landed[entity])
    writes: dict[int, pd.DataFrame] = {}  # group -> its new rows
    firsts: list[pd.Timestamp] = []
    added = repeats = conflicts = 0
    for g in np.unique(where):
        mine = landed[where == g]
        new, rep, con = _split(_held_in_span(spans[g], mine, contract), mine, key)
        repeats, conflicts = repeats + rep, conflicts + con
        if len(new):
            firsts.append(new[time].min())
            writes[int(g)] = new
            added += len(new)
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
    report.deltas[feed], report.compacted[feed] = len(writes), 0
    with staged_dir(folder) as staging:
        for g, group in enumerate(groups):
            deltas = group[1:]
            if g in writes and len(deltas) >= MAX_DELTAS:  # compact the deltas with the new rows
                rows = pd.concat([pd.read_parquet(f) for f in deltas] + [writes[g]])
                keep = [group[0]]
                pq.write_table(_table(rows, contract), staging / _delta_path(folder, group).name)
                report.compacted[feed] += 1
            else:
                keep = group
                if g in writes:
                    pq.write_table(
                        _table(writes[g], contract), staging / _delta_path(folder, group).name
                    )
            for f in keep:
                _link_or_copy(f, staging / f.name)
    return landed[time].max()


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
