"""Per-edge sequence numbers: find the gaps, and close them as late events fill them. Pure logic.

Every edge numbers its events 1, 2, 3… without gaps, across restarts (the outbox assigns them).
A jump means events are missing — still in the edge's outbox, lost, or never sent; a late event
inside a gap fills it. A number that was already seen arriving with a newer time than anything
before means the edge started over (its outbox was wiped): the count restarts and it is reported.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field

MAX_GAPS_KEPT = 1000  # an edge gone haywire must not grow the row without bound; `missing` still counts all


@dataclass
class EdgeSequence:
    site: str
    edge: str
    max_seq: int = 0
    max_ts: float = 0.0
    received: int = 0
    resets: int = 0
    missing: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # sorted, disjoint, inclusive

    def observe(self, seq: int, ts: float) -> str:
        """Account for one new event; returns what it did: `next`, `gap`, `fill`, `reset` or `repeat`."""
        self.received += 1
        if seq > self.max_seq:
            what = "next"
            if seq > self.max_seq + 1:
                self._add_gap(self.max_seq + 1, seq - 1)
                what = "gap"
            self.max_seq, self.max_ts = seq, max(self.max_ts, ts)
            return what
        if self._fill(seq):
            return "fill"
        if ts > self.max_ts:
            self.resets += 1
            self.gaps, self.missing = [], 0
            if seq > 1:
                self._add_gap(1, seq - 1)
            self.max_seq, self.max_ts = seq, ts
            return "reset"
        return "repeat"  # a number seen before, with a new event id and an old time: reported, not counted

    def _add_gap(self, first: int, last: int) -> None:
        self.gaps.append((first, last))
        self.missing += last - first + 1
        if len(self.gaps) > MAX_GAPS_KEPT:
            self.gaps.pop(0)

    def _fill(self, seq: int) -> bool:
        i = bisect.bisect_right(self.gaps, (seq, float("inf"))) - 1
        if i < 0 or not (self.gaps[i][0] <= seq <= self.gaps[i][1]):
            return False
        first, last = self.gaps.pop(i)
        for part in reversed([(first, seq - 1), (seq + 1, last)]):
            if part[0] <= part[1]:
                self.gaps.insert(i, part)
        self.missing -= 1
        return True

    def row(self, now: float) -> dict:
        return {"site": self.site, "edge": self.edge, "max_seq": self.max_seq, "max_ts": self.max_ts,
                "received": self.received, "missing": self.missing, "resets": self.resets,
                "gaps": json.dumps(self.gaps), "updated_at": now}

    @classmethod
    def from_row(cls, row: dict) -> EdgeSequence:
        return cls(row["site"], row["edge"], row["max_seq"], row["max_ts"], row["received"], row["resets"],
                   row["missing"], [tuple(g) for g in json.loads(row["gaps"])])  # type: ignore[misc]


class SequenceTracker:
    def __init__(self, rows: list[dict] = ()):  # type: ignore[assignment]
        self.edges = {(r["site"], r["edge"]): EdgeSequence.from_row(r) for r in rows}

    def observe(self, site: str, edge: str, seq: int, ts: float) -> tuple[EdgeSequence, str]:
        state = self.edges.get((site, edge))
        if state is None:
            state = self.edges[(site, edge)] = EdgeSequence(site, edge)
        return state, state.observe(seq, ts)
