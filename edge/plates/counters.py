"""Plate read counters of one lane, reported in its status message (`PlateCounters`)."""

from __future__ import annotations

import threading

from lanewatch.contract import PlateCounters


class LanePlateCounters:
    """Attempted, accepted and rejected plate reads; safe to bump and read from different threads.

    `skipped` counts plate sightings the quality gates turned away before any OCR (not part of
    the lane status, useful in logs to see why a lane reads few plates).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attempted = self.accepted = self.rejected = self.skipped = 0

    def read(self, accepted: bool) -> None:
        with self._lock:
            self.attempted += 1
            if accepted:
                self.accepted += 1
            else:
                self.rejected += 1

    def skip(self) -> None:
        with self._lock:
            self.skipped += 1

    def snapshot(self) -> PlateCounters:
        with self._lock:
            return PlateCounters(attempted=self.attempted, accepted=self.accepted, rejected=self.rejected)
