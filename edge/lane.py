"""Per-camera lane logic: which truck crossed which line, when, and who is in which zone.

Each line fires at most once per truck, so a truck that stops on a line, or jitters across it in a
stop-and-go queue, is still counted once. The tracker may lose a truck (occlusion, a missed
detection) and later give it a new id; a new track that appears where a truck vanished moments ago
is taken to be that truck ("rejoin"): it keeps the truck's id and the lines it already crossed, and
a line crossed while it was unseen fires, timed between its last and first sightings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from edge.config import GeometryConfig, TrackingConfig
from edge.geometry import Line, Zone, anchors

LINE_EVENTS = (("entry_line", "enter"), ("gate_line", "gate"), ("exit_line", "exit"))


@dataclass(frozen=True)
class FrameTime:
    """When a frame was captured: UTC for the record, monotonic for durations."""

    utc: datetime
    mono_ns: int

    def between(self, other: FrameTime, fraction: float) -> FrameTime:
        return FrameTime(
            self.utc + (other.utc - self.utc) * fraction,
            self.mono_ns + round((other.mono_ns - self.mono_ns) * fraction),
        )


@dataclass(frozen=True)
class Crossing:
    kind: str  # enter | gate | exit
    track_id: int  # the truck's id on this camera (stable across rejoins)
    at: FrameTime


@dataclass
class _Truck:
    id: int
    anchor: np.ndarray
    at: FrameTime
    fired: set[str] = field(default_factory=set)
    tracker_ids: set[int] = field(default_factory=set)  # every id the tracker gave this truck


class LaneCamera:
    """Feed it each analysed frame's tracked boxes; it returns the line crossings of that frame."""

    def __init__(self, geometry: GeometryConfig, tracking: TrackingConfig | None = None,
                 forget_after: timedelta = timedelta(seconds=30)):
        tracking = tracking or TrackingConfig()
        self.lines = [(kind, Line(getattr(geometry, name))) for name, kind in LINE_EVENTS if getattr(geometry, name)]
        self.queue_zone = Zone(geometry.queue_zone) if geometry.queue_zone else None
        self.weighbridge_zone = Zone(geometry.weighbridge_zone) if geometry.weighbridge_zone else None
        self.forget_after = forget_after
        self.rejoin_window = timedelta(seconds=tracking.rejoin_window_s)
        self.rejoin_radius = tracking.rejoin_radius_px
        self.queue_occupancy = 0
        self.weighbridge_tracks: list[int] = []
        self.rejoins = 0
        self._trucks: dict[int, _Truck] = {}  # by truck id
        self._by_tracker: dict[int, int] = {}  # tracker id -> truck id
        self._next_id = 1

    def update(self, xyxy: np.ndarray, tracker_ids: np.ndarray, at: FrameTime) -> list[Crossing]:
        points = anchors(xyxy)
        tids = tracker_ids.tolist()
        seen = {self._by_tracker[t] for t in tids if t in self._by_tracker}
        crossings: list[Crossing] = []
        truck_ids: list[int] = []
        for point, tid in zip(points, tids, strict=True):
            truck, first_sighting = self._truck_for(tid, point, at, seen)
            seen.add(truck.id)
            truck_ids.append(truck.id)
            if not first_sighting:
                crossings += self._crossings(truck, point, at)
            truck.anchor, truck.at = point, at
        self.queue_occupancy = int(self.queue_zone.contains(points).sum()) if self.queue_zone and len(points) else 0
        if self.weighbridge_zone and len(points):
            inside = self.weighbridge_zone.contains(points)
            self.weighbridge_tracks = [t for t, flag in zip(truck_ids, inside, strict=True) if flag]
        else:
            self.weighbridge_tracks = []
        self._forget(at)
        return sorted(crossings, key=lambda c: c.at.mono_ns)

    def _truck_for(self, tid: int, point: np.ndarray, at: FrameTime, seen: set[int]) -> tuple[_Truck, bool]:
        """The truck behind tracker id `tid` (known, rejoined after a loss, or new), and whether it is new."""
        known = self._by_tracker.get(tid)
        if known is not None:
            return self._trucks[known], False
        lost = [t for t in self._trucks.values()
                if t.id not in seen and at.utc - t.at.utc <= self.rejoin_window
                and float(np.hypot(*(t.anchor - point))) <= self.rejoin_radius]
        if lost:
            # The old tracker id stays mapped too: should the tracker revive it, it is still this truck.
            truck = min(lost, key=lambda t: float(np.hypot(*(t.anchor - point))))
            self.rejoins += 1
            new = False
        else:
            truck = _Truck(self._next_id, point, at)
            self._next_id += 1
            self._trucks[truck.id] = truck
            new = True
        truck.tracker_ids.add(tid)
        self._by_tracker[tid] = truck.id
        return truck, new

    def _crossings(self, truck: _Truck, point: np.ndarray, at: FrameTime) -> list[Crossing]:
        out = []
        for kind, line in self.lines:
            if kind not in truck.fired and line.crossed_forward(truck.anchor, point):
                # Interpolate between the two sightings: sub-frame timing at low analysis rates.
                s0, s1 = line.side(truck.anchor), line.side(point)
                out.append(Crossing(kind, truck.id, truck.at.between(at, s0 / (s0 - s1) if s0 != s1 else 1.0)))
                truck.fired.add(kind)
        return out

    def _forget(self, at: FrameTime) -> None:
        stale = [t for t in self._trucks.values() if at.utc - t.at.utc > self.forget_after]
        for truck in stale:
            del self._trucks[truck.id]
            for tid in truck.tracker_ids:
                self._by_tracker.pop(tid, None)
