"""Receipts: which of each edge's sequence numbers the central has stored, told back to the edge.

A broker acknowledges an event to the edge before it hands it to us; if the broker crashes in
between, the event is gone and only we can notice. So after each stored batch we publish, per
edge, a retained `Receipt` (every seq up to `contiguous_seq`, the highest `max_seq`, the first
gaps between them), and again every `INTERVAL_S` as a sign of life. The edge re-sends what the
receipt lacks (edge/delivery.py). `SeqRuns` is also what per-edge gap reports can be built on.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlite_utils

from lanewatch.contract import LaneEvent, Receipt

INTERVAL_S = 5.0  # every receipt is republished this often while the central runs
CHANGED_EVERY_S = 0.5  # changed receipts go out at most this often
MAX_MISSING = 64


class SeqRuns:
    """The seqs stored for one edge, as sorted, disjoint, inclusive [first, last] runs."""

    def __init__(self, runs: Iterable[tuple[int, int]] = ()):
        self.runs: list[list[int]] = [[a, b] for a, b in runs]

    def add(self, seq: int) -> bool:
        """Record a seq; False when it was already there."""
        runs = self.runs
        if runs and runs[-1][1] < seq:  # the usual case: at or past the end
            if runs[-1][1] + 1 == seq:
                runs[-1][1] = seq
            else:
                runs.append([seq, seq])
            return True
        i = bisect.bisect_right(runs, seq, key=lambda run: run[0])  # runs[i - 1] starts at or before seq
        if i > 0 and seq <= runs[i - 1][1]:
            return False
        joins_left = i > 0 and runs[i - 1][1] + 1 == seq
        joins_right = i < len(runs) and runs[i][0] - 1 == seq
        if joins_left and joins_right:
            runs[i - 1][1] = runs[i][1]
            del runs[i]
        elif joins_left:
            runs[i - 1][1] = seq
        elif joins_right:
            runs[i][0] = seq
        else:
            runs.insert(i, [seq, seq])
        return True

    @property
    def contiguous(self) -> int:
        return self.runs[0][1] if self.runs and self.runs[0][0] == 1 else 0

    @property
    def max_seq(self) -> int:
        return self.runs[-1][1] if self.runs else 0

    def missing(self, limit: int = MAX_MISSING) -> list[tuple[int, int]]:
        """The first gaps below max_seq, oldest first."""
        gaps, expected = [], 1
        for first, last in self.runs:
            if first > expected:
                gaps.append((expected, first - 1))
                if len(gaps) == limit:
                    break
            expected = last + 1
        return gaps


def load_runs(db: sqlite_utils.Database) -> dict[tuple[str, str], SeqRuns]:
    """Runs of stored seqs per (site, edge), from the events table ("gaps and islands" in one scan)."""
    rows = db.execute(
        """SELECT site, edge, min(seq), max(seq) FROM (
               SELECT site, edge, seq, seq - row_number() OVER (PARTITION BY site, edge ORDER BY seq) AS island
               FROM (SELECT DISTINCT site, edge, seq FROM events))
           GROUP BY site, edge, island ORDER BY site, edge, 3"""
    ).fetchall()
    out: dict[tuple[str, str], SeqRuns] = {}
    for site, edge, first, last in rows:
        out.setdefault((site, edge), SeqRuns()).runs.append([first, last])
    return out


class Receipts:
    def __init__(self, db: sqlite_utils.Database):
        self._runs = load_runs(db)
        self._changed: set[tuple[str, str]] = set()
        self._last_changed = 0.0
        self._last_all = 0.0

    def note(self, events: Iterable[LaneEvent]) -> None:
        """Stored events (new or not): their seqs join their edge's runs."""
        for event in events:
            key = (event.site, event.edge)
            if self._runs.setdefault(key, SeqRuns()).add(event.seq):
                self._changed.add(key)

    def due(self, now: float | None = None) -> list[Receipt]:
        """Receipts to publish now: every edge's each INTERVAL_S, changed ones at most every CHANGED_EVERY_S."""
        now = time.monotonic() if now is None else now
        if now - self._last_all >= INTERVAL_S:
            keys, self._last_all = set(self._runs), now
        elif self._changed and now - self._last_changed >= CHANGED_EVERY_S:
            keys = set(self._changed)
        else:
            return []
        self._changed.clear()
        self._last_changed = now
        return [self.receipt(site, edge) for site, edge in sorted(keys)]

    def receipt(self, site: str, edge: str) -> Receipt:
        runs = self._runs.get((site, edge), SeqRuns())
        return Receipt(site=site, edge=edge, ts=datetime.now(UTC), contiguous_seq=runs.contiguous,
                       max_seq=runs.max_seq, missing=tuple(runs.missing()), interval_s=INTERVAL_S)
