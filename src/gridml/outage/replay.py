"""Replay a workspace's meter events through the detector and write the outages table."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from gridml.errors import MissingDataError
from gridml.io import read_parts, write_parquet_atomic
from gridml.outage.detector import Detector, DetectorConfig
from gridml.outage.topology import Schedule, Topology
from gridml.workspace import Workspace

log = logging.getLogger(__name__)

OUTAGE_COLUMNS = [
    "outage_id",
    "kind",
    "level",
    "node_id",
    "start",
    "detected_at",
    "end",
    "customers",
    "cause",
    "first_level",
    "first_node_id",
    "last_gasps",
    "widened",
]


def outages_path(ws: Workspace) -> Path:
    """Where `gridml outages detect` writes the detected outages."""
    return ws.root / "outages" / "outages.parquet"


@dataclass(frozen=True)
class Inputs:
    topo: Topology
    schedule: Schedule
    events: pd.DataFrame  # meter_id, timestamp, kind; in time order


def _feed(ws: Workspace, name: str, required: bool) -> pd.DataFrame | None:
    df = read_parts(ws.feed_dir(name))
    if df is None and required:
        raise MissingDataError(
            f"no {name} feed in {ws.feeds}: outage detection needs meter_events, meters and "
            "transformers (`gridml data generate`, or `gridml data import --meter-events ...`)"
        )
    return df


def load_inputs(ws: Workspace) -> Inputs:
    """The topology, the shedding schedule and the meter events (sorted by time; restores
    before gasps within the same second) of a workspace."""
    meters = _feed(ws, "meters", True)
    transformers = _feed(ws, "transformers", True)
    events = _feed(ws, "meter_events", True)
    assert meters is not None and transformers is not None and events is not None
    topo = Topology.build(meters, transformers)
    schedule = Schedule.build(_feed(ws, "interruptions", False), topo)
    order = events["kind"].map({"power_restore": 0, "power_down": 1, "tamper": 2})
    events = (
        events.assign(_o=order)
        .sort_values(["timestamp", "_o", "meter_id"], kind="stable", ignore_index=True)
        .drop(columns="_o")
    )
    return Inputs(topo, schedule, events)


def run(inputs: Inputs, cfg: DetectorConfig | None = None) -> pd.DataFrame:
    """Feed every event to a fresh detector; the outages table (`OUTAGE_COLUMNS` plus one
    `customers_<segment>` column per segment)."""
    det = Detector(inputs.topo, inputs.schedule, cfg)
    feed = det.feed
    ts = inputs.events["timestamp"].astype("int64").tolist()
    for meter_id, t, kind in zip(
        inputs.events["meter_id"].tolist(), ts, inputs.events["kind"].tolist(), strict=True
    ):
        feed(meter_id, t, kind)
    return table(det)


def table(det: Detector) -> pd.DataFrame:
    """The detector's outages as a frame, times as UTC timestamps."""
    rows = [det.describe(o) for o in det.finish()]
    segments = sorted({s for s in det.topo.segment if s})
    df = pd.DataFrame(rows, columns=[*OUTAGE_COLUMNS, "customers_by_segment"])
    for seg in segments:
        df[f"customers_{seg}"] = [int(c.get(seg, 0)) for c in df["customers_by_segment"]]
    df = df.drop(columns="customers_by_segment")
    for col in ("start", "detected_at", "end"):
        df[col] = pd.to_datetime(df[col].astype("Int64"), utc=True).astype("datetime64[ns, UTC]")
    df["cause"] = df["cause"].astype(object)
    return df


def detect(ws: Workspace, cfg: DetectorConfig | None = None) -> pd.DataFrame:
    """Replay the workspace's meter events and write the outages table atomically."""
    inputs = load_inputs(ws)
    out = run(inputs, cfg)
    write_parquet_atomic(out, outages_path(ws))
    log.info(
        "%d outages (%d unplanned) from %d meter events -> %s",
        len(out),
        int((out["kind"] == "unplanned").sum()),
        len(inputs.events),
        outages_path(ws),
    )
    return out
