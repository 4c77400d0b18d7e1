"""Per-camera lane logic: which tracked truck crossed which line, when, and who is in which zone.

Each line fires at most once per track, so a truck that stops on a line, or jitters across it
in a stop-and-go queue, is still counted once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from edge.config import GeometryConfig
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
    track_id: int
    at: FrameTime


@dataclass
class _Track:
    anchor: np.ndarray
    at: FrameTime
    fired: set[str] = field(default_factory=set)


class LaneCamera:
    """Feed it each analysed frame's tracked boxes; it returns the line crossings of that frame."""

    def __init__(self, geometry: GeometryConfig, forget_after: timedelta = timedelta(seconds=30)):
        self.lines = [(kind, Line(getattr(geometry, name))) for name, kind in LINE_EVENTS if getattr(geometry, name)]
        self.queue_zone = Zone(geometry.queue_zone) if geometry.queue_zone else None
        self.weighbridge_zone = Zone(geometry.weighbridge_zone) if geometry.weighbridge_zone else None
        self.forget_after = forget_after
        self.queue_occupancy = 0
        self.weighbridge_tracks: list[int] = []
        self._tracks: dict[int, _Track] = {}

    def update(self, xyxy: np.ndarray, track_ids: np.ndarray, at: FrameTime) -> list[Crossing]:
        points = anchors(xyxy)
        crossings: list[Crossing] = []
        for point, tid in zip(points, track_ids.tolist(), strict=True):
            track = self._tracks.get(tid)
            if track is None:
                self._tracks[tid] = _Track(point, at)
                continue
            for kind, line in self.lines:
                if kind not in track.fired and line.crossed_forward(track.anchor, point):
                    # Interpolate between the two analysed frames: sub-frame timing at low analysis rates.
                    s0, s1 = line.side(track.anchor), line.side(point)
                    crossings.append(Crossing(kind, tid, track.at.between(at, s0 / (s0 - s1) if s0 != s1 else 1.0)))
                    track.fired.add(kind)
            track.anchor, track.at = point, at
        self.queue_occupancy = int(self.queue_zone.contains(points).sum()) if self.queue_zone and len(points) else 0
        if self.weighbridge_zone and len(points):
            self.weighbridge_tracks = [t for t, inside in zip(track_ids.tolist(), self.weighbridge_zone.contains(points)) if inside]
        else:
            self.weighbridge_tracks = []
        stale = [tid for tid, t in self._tracks.items() if at.utc - t.at.utc > self.forget_after]
        for tid in stale:
            del self._tracks[tid]
        return sorted(crossings, key=lambda c: c.at.mono_ns)
