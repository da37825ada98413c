"""Streaming outage detection and location from AMI meter events, one event at a time.

What an outage management system's prediction engine does with last gasps:

- a meter's `power_down` on a feeder whose load-shedding block is on (the schedule is known in
  advance) is load shedding: it opens (or joins) that feeder's shedding record, never an
  unplanned outage;
- otherwise the meter is "down"; a transformer with `min_meters` down meters (or all of them)
  is out; a feeder is out when at least `share` of its transformers (two at least) have a down
  meter; a substation when `share` of its feeders (two at least) are out. The outage sits at
  the lowest node that explains the down meters, i.e. the highest of those rules that holds,
  and widens (merging the outages below it that started within `merge_window_s`) as more
  gasps arrive; an older outage below stays open inside it (a failed transformer waiting for
  a spare while its feeder trips);
- a `power_restore` from a meter under open outages closes them (the node is back); a lone
  down meter that never makes an outage is forgotten after `evidence_ttl_s` or on its restore.

The detector holds its state in plain counters (O(1) per event, O(meters of the node) when an
outage opens, widens or closes), so it runs on a live stream as on a replayed history.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from gridml.config import BaseConfig
from gridml.outage.topology import LEVELS, Schedule, Topology

SECOND = 10**9


class DetectorConfig(BaseConfig):
    """Thresholds of the detector (see the module's docstring)."""

    min_meters: int = 2
    share: float = 0.5
    evidence_ttl_s: int = 1800
    shedding_tolerance_s: int = 120
    merge_window_s: int = 900


@dataclass
class Outage:
    """One detected outage (unplanned or load shedding) as it stands."""

    outage_id: str
    kind: str  # unplanned | load_shedding
    level: int
    row: int
    start: int  # first last gasp it explains, ns UTC
    detected_at: int
    first_level: int
    first_row: int
    end: int | None = None
    gasps: int = 0
    widened: int = 0
    meters: set[int] = field(default_factory=set)  # down meters it explains (not all customers)


class Detector:
    """Feed it events in time order (`feed`); read `open` and `closed` outages."""

    def __init__(
        self, topo: Topology, schedule: Schedule, cfg: DetectorConfig | None = None
    ) -> None:
        self.topo, self.schedule, self.cfg = topo, schedule, cfg or DetectorConfig()
        n_t, n_f, n_s = len(topo.transformer_ids), len(topo.feeder_ids), len(topo.substation_ids)
        self.down: dict[int, int] = {}  # meter row -> time of its gasp
        self.tr_down = [0] * n_t
        self.fd_ev = [0] * n_f  # transformers of the feeder with a down meter
        self.ss_ev = [0] * n_s  # feeders of the substation that are out
        c = self.cfg
        self.tr_need = [min(c.min_meters, len(ms)) for ms in topo.meters_under[0]]
        self.fd_need = [_need(len(ts), c.share) for ts in topo.transformers_under[1]]
        n_feeders = [0] * n_s
        for s in topo.feeder_ss:
            n_feeders[s] += 1
        self.ss_need = [_need(k, c.share) for k in n_feeders]
        self.open: dict[tuple[int, int], Outage] = {}  # (level, row) -> open unplanned outage
        self.shedding: dict[int, Outage] = {}  # feeder row -> open shedding record
        self.closed: list[Outage] = []
        self._expiry: deque[tuple[int, int]] = deque()
        self._count = 0
        self.now = 0

    # --- the stream -----------------------------------------------------------------------
    def feed(self, meter_id: str, t: int, kind: str) -> Outage | None:
        """Take one event (`t` in ns UTC); the outage it opened, widened or closed, if any.
        Unknown meters and tamper alarms are ignored."""
        m = self.topo.meter_row.get(meter_id)
        if m is None or kind == "tamper":
            return None
        self._advance(t)
        if kind in ("power_down", "last_gasp"):  # the live stream's contract says last_gasp
            return self._power_down(m, t)
        if kind == "power_restore":
            return self._power_restore(m, t)
        return None

    def finish(self) -> list[Outage]:
        """Every outage, closed then still open (end None), in order of start."""
        still = list(self.open.values()) + list(self.shedding.values())
        return sorted(self.closed + still, key=lambda o: (o.start, o.outage_id))

    # --- events ---------------------------------------------------------------------------
    def _power_down(self, m: int, t: int) -> Outage | None:
        topo = self.topo
        tr = int(topo.meter_tr[m])
        f = int(topo.tr_feeder[tr])
        s = int(topo.feeder_ss[f])
        tol = self.cfg.shedding_tolerance_s * SECOND
        block = self.schedule.block(f, t, tol)
        if block is not None:
            rec = self.shedding.get(f)
            if rec is not None and rec.start < block[0] - tol:
                # the previous block's restores were all lost: it ended with its schedule
                previous = self.schedule.block(f, rec.start, tol)
                rec.end = previous[1] if previous is not None else rec.start
                self.closed.append(self.shedding.pop(f))
                rec = None
            if rec is None:
                rec = self.shedding[f] = self._new("load_shedding", 1, f, t, t)
            rec.gasps += 1
            return rec if rec.gasps == 1 else None
        covering = self._covering(tr, f, s)
        if covering is not None:
            covering.gasps += 1
            covering.meters.add(m)
            return None
        if m in self.down:
            return None
        self.down[m] = t
        self._expiry.append((t, m))
        self._mark(tr, f, s, +1)
        rules = (
            (2, s, self.ss_ev[s] >= self.ss_need[s]),
            (1, f, self.fd_ev[f] >= self.fd_need[f]),
            (0, tr, self.tr_down[tr] >= self.tr_need[tr]),
        )
        for level, row, holds in rules:
            if holds and self._fresh(level, row, t):
                return self._raise(level, row, t)
        return None

    def _power_restore(self, m: int, t: int) -> Outage | None:
        topo = self.topo
        tr = int(topo.meter_tr[m])
        f = int(topo.tr_feeder[tr])
        s = int(topo.feeder_ss[f])
        covering = self._coverings(tr, f, s)
        if covering:
            return [self._close(o, t) for o in covering][-1]
        rec = self.shedding.get(f)
        if rec is not None:
            rec.end = t
            self.closed.append(self.shedding.pop(f))
            return rec
        if m in self.down:
            self._forget(m)
        return None

    # --- bookkeeping ----------------------------------------------------------------------
    def _covering(self, tr: int, f: int, s: int) -> Outage | None:
        o = self.open
        return o.get((0, tr)) or o.get((1, f)) or o.get((2, s))

    def _fresh(self, level: int, row: int, t: int) -> bool:
        """Whether the node's rule still holds without the meters of outages opened before
        the merge window (already dark for another reason: they explain nothing new)."""
        since = t - self.cfg.merge_window_s * SECOND
        old = {m for o in self.open.values() if o.start < since for m in o.meters}
        if not old:
            return True
        return self._holds(level, row, old)

    def _holds(self, level: int, row: int, old: set[int]) -> bool:
        topo = self.topo
        if level == 0:
            down = sum(1 for m in topo.meters_under[0][row] if m in self.down and m not in old)
            return down >= self.tr_need[row]
        if level == 1:
            lit = sum(
                1
                for tr in topo.transformers_under[1][row]
                if any(m in self.down and m not in old for m in topo.meters_under[0][tr])
            )
            return lit >= self.fd_need[row]
        out = sum(1 for f in topo.children(2, row) if self._holds(1, f, old))
        return out >= self.ss_need[row]

    def _coverings(self, tr: int, f: int, s: int) -> list[Outage]:
        """Every open outage above a meter of transformer `tr`, lowest first."""
        o = self.open
        return [x for x in (o.get((0, tr)), o.get((1, f)), o.get((2, s))) if x is not None]

    def _mark(self, tr: int, f: int, s: int, step: int) -> None:
        """A meter of transformer `tr` goes down (+1) or comes back (-1): update the counters."""
        before_t = self.tr_down[tr] > 0
        self.tr_down[tr] += step
        after_t = self.tr_down[tr] > 0
        if before_t == after_t:
            return
        before_f = self.fd_ev[f] >= self.fd_need[f]
        self.fd_ev[f] += 1 if after_t else -1
        after_f = self.fd_ev[f] >= self.fd_need[f]
        if before_f != after_f:
            self.ss_ev[s] += 1 if after_f else -1

    def _forget(self, m: int) -> None:
        del self.down[m]
        tr = int(self.topo.meter_tr[m])
        f = int(self.topo.tr_feeder[tr])
        self._mark(tr, f, int(self.topo.feeder_ss[f]), -1)

    def _advance(self, t: int) -> None:
        """Forget lone down meters older than the evidence window (lost restores)."""
        self.now = t
        horizon = t - self.cfg.evidence_ttl_s * SECOND
        q = self._expiry
        while q and q[0][0] < horizon:
            at, m = q.popleft()
            if self.down.get(m) != at:
                continue
            tr = int(self.topo.meter_tr[m])
            f = int(self.topo.tr_feeder[tr])
            if self._covering(tr, f, int(self.topo.feeder_ss[f])) is None:
                self._forget(m)

    def _new(self, kind: str, level: int, row: int, start: int, t: int) -> Outage:
        self._count += 1
        prefix = "O" if kind == "unplanned" else "L"
        return Outage(f"{prefix}{self._count:07d}", kind, level, row, start, t, level, row)

    def _raise(self, level: int, row: int, t: int) -> Outage:
        """Open an outage at the node, merging the open outages below it (the scope widens)."""
        below = [
            key for key in self.open if key[0] < level and _under(self.topo, key, (level, row))
        ]
        since = t - self.cfg.merge_window_s * SECOND
        nested = [k for k in below if self.open[k].start < since]
        below = [k for k in below if self.open[k].start >= since]
        dark = {m for k in nested for m in self.open[k].meters}
        under = self.topo.meters_under[level][row]
        meters = {m for m in under if m in self.down and m not in dark}
        start = min((self.down[m] for m in meters), default=t)
        if below:
            merged = sorted((self.open.pop(k) for k in below), key=lambda o: o.start)
            out = merged[0]
            for other in merged[1:]:
                out.meters |= other.meters
                out.gasps += other.gasps
            out.level, out.row, out.widened = level, row, out.widened + 1
            out.start = min(out.start, start)
        else:
            out = self._new("unplanned", level, row, start, t)
        new = meters - out.meters
        out.meters |= meters
        out.gasps += len(new)
        self.open[(level, row)] = out
        return out

    def _close(self, out: Outage, t: int) -> Outage:
        out.end = t
        del self.open[(out.level, out.row)]
        for m in self.topo.meters_under[out.level][out.row]:
            if m in self.down:
                self._forget(m)
        self.closed.append(out)
        return out

    # --- reading --------------------------------------------------------------------------
    def customers(self, out: Outage) -> dict[str, int]:
        """Customers under the outage's node, by segment."""
        counts: dict[str, int] = {}
        for m in self.topo.meters_under[out.level][out.row]:
            seg = self.topo.segment[m]
            counts[seg] = counts.get(seg, 0) + 1
        return counts

    def describe(self, out: Outage) -> dict[str, object]:
        """One row of the outages table."""
        topo = self.topo
        by_segment = self.customers(out)
        return {
            "outage_id": out.outage_id,
            "kind": out.kind,
            "level": LEVELS[out.level],
            "node_id": topo.node_id(out.level, out.row),
            "start": out.start,
            "detected_at": out.detected_at,
            "end": out.end,
            "customers": sum(by_segment.values()),
            "customers_by_segment": by_segment,
            "cause": "load_shedding" if out.kind == "load_shedding" else None,
            "first_level": LEVELS[out.first_level],
            "first_node_id": topo.node_id(out.first_level, out.first_row),
            "last_gasps": out.gasps,
            "widened": out.widened,
        }


def _need(children: int, share: float) -> int:
    """Children with evidence that make a node out: `share` of them, two at least (a node with
    a single child is never the lowest node that explains anything)."""
    if children < 2:
        return 1 << 30
    return max(2, -(-int(share * children * 1000) // 1000))


def _under(topo: Topology, key: tuple[int, int], node: tuple[int, int]) -> bool:
    """Whether node `key` lies under `node` (strictly lower level)."""
    level, row = key
    if level == 0:
        f = int(topo.tr_feeder[row])
        return (node[0] == 1 and f == node[1]) or (
            node[0] == 2 and int(topo.feeder_ss[f]) == node[1]
        )
    if level == 1:
        return node[0] == 2 and int(topo.feeder_ss[row]) == node[1]
    return False
