"""AMI meter events of a group of transformers: last gasps, restores and tamper alarms.

A meter loses supply whenever one of the nodes above it is out (load shedding, an unplanned
fault, a failed transformer); overlapping interruptions make one dark period. At its start each
meter sends a `power_down` (last gasp) a few seconds later, and a share of them is lost, larger
when many meters gasp at once; at its end a `power_restore`. Single customers also lose supply
on their own side now and then (their own breaker): a lone gasp that is no grid outage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridml.features.simulator.config import MeterEventConfig

EVENT_KINDS = ("power_down", "power_restore", "tamper")
SECOND = 10**9


@dataclass(frozen=True)
class Dark:
    """An interval without supply at a transformer: what caused it (an outage id, or '' for
    load shedding) and how many meters lose supply at once (the size of the gasp storm)."""

    start: int  # ns since epoch, UTC
    end: int
    source: str
    storm: int


def merge_dark(intervals: list[Dark]) -> list[Dark]:
    """Overlapping (or touching) intervals as one dark period, credited to the one that
    started it."""
    out: list[Dark] = []
    for iv in sorted(intervals, key=lambda d: (d.start, d.end, d.source)):
        if out and iv.start <= out[-1].end:  # back to back: the supply never returns
            last = out[-1]
            out[-1] = Dark(last.start, max(last.end, iv.end), last.source, last.storm)
        else:
            out.append(iv)
    return out


def loss_share(storm: int, cfg: MeterEventConfig) -> float:
    """Share of last gasps lost when `storm` meters gasp at once."""
    weight = min(1.0, storm / cfg.storm_meters)
    return cfg.last_gasp_loss + (cfg.last_gasp_loss_storm - cfg.last_gasp_loss) * weight


def _delays(n: int, mean_s: float, rng: np.random.Generator) -> np.ndarray:
    return (
        np.floor(rng.exponential(mean_s, n)).astype(np.int64) * SECOND
        if mean_s
        else np.zeros(n, np.int64)
    )


def transformer_events(
    meter_ids: np.ndarray,
    dark: list[Dark],
    period: tuple[int, int],
    cfg: MeterEventConfig,
    rng: np.random.Generator,
) -> tuple[list[tuple[str, int, str, str]], list[tuple[str, int, int, int]]]:
    """Events (meter_id, ns, kind, source) of one transformer's meters, and per dark period
    (source, first gasp ns or -1, gasps delivered, meters gone dark)."""
    events: list[tuple[str, int, str, str]] = []
    truth: list[tuple[str, int, int, int]] = []
    n = len(meter_ids)
    first, last = period
    merged = merge_dark(dark)
    for iv in merged:
        if iv.start >= last:
            continue
        sent = rng.random(n) >= loss_share(iv.storm, cfg)
        at = iv.start + _delays(n, cfg.gasp_delay_s, rng)
        gasps = [
            (str(m), int(t), "power_down", iv.source)
            for m, t, ok in zip(meter_ids, at, sent, strict=True)
            if ok and t >= first
        ]
        events += gasps
        truth.append((iv.source, min((g[1] for g in gasps), default=-1), len(gasps), n))
        if iv.end < last:
            back = rng.random(n) >= cfg.restore_loss
            at = iv.end + _delays(n, cfg.restore_delay_s, rng)
            events += [
                (str(m), int(t), "power_restore", iv.source)
                for m, t, ok in zip(meter_ids, at, back, strict=True)
                if ok and t < last
            ]
    # single-customer losses (own side), only while the grid above the meter is up
    years = (last - first) / (365.25 * 86400 * SECOND)
    for m in meter_ids:
        for _ in range(rng.poisson(cfg.single_meter_per_year * years)):
            s = int(rng.integers(first, last)) // SECOND * SECOND
            e = s + int(np.clip(rng.lognormal(np.log(1800.0), 1.0), 120, 12 * 3600)) * SECOND
            if e >= last or any(s < d.end and d.start < e for d in merged):
                continue
            if rng.random() >= cfg.last_gasp_loss:
                events.append((str(m), s, "power_down", "single"))
            if rng.random() >= cfg.restore_loss:
                events.append((str(m), e, "power_restore", "single"))
    return events, truth


def tamper_events(
    meter_ids: np.ndarray,
    theft_start: dict[str, pd.Timestamp],
    period: tuple[int, int],
    cfg: MeterEventConfig,
    rng: np.random.Generator,
) -> list[tuple[str, int, str, str]]:
    """Tamper alarms: some thieves' meters when the theft starts, and rare false alarms."""
    first, last = period
    years = (last - first) / (365.25 * 86400 * SECOND)
    out = []
    for m in meter_ids:
        if m in theft_start:
            if rng.random() < cfg.tamper_share:
                t = theft_start[m].value + int(rng.integers(0, 86400)) * SECOND
                if first <= t < last:
                    out.append((str(m), t, "tamper", "theft"))
        else:
            for _ in range(rng.poisson(cfg.false_tamper_per_year * years)):
                out.append(
                    (str(m), int(rng.integers(first, last)) // SECOND * SECOND, "tamper", "false")
                )
    return out


def events_frame(rows: list[tuple[str, int, str, str]]) -> pd.DataFrame:
    """Event rows as a frame (meter_id, timestamp UTC, kind, source), duplicates dropped."""
    df = pd.DataFrame(rows, columns=["meter_id", "ns", "kind", "source"])
    df["timestamp"] = pd.to_datetime(df["ns"].astype("int64"), utc=True).astype(
        "datetime64[ns, UTC]"
    )
    df = df.drop_duplicates(["meter_id", "timestamp", "kind"])
    return df[["meter_id", "timestamp", "kind", "source"]].reset_index(drop=True)
