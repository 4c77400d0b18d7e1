"""Per-camera lane logic: which truck crossed which line, when, and who is in which zone.

Each line fires at most once per truck, so a truck that stops on a line, or jitters across it in a
stop-and-go queue, is still counted once. The tracker may lose a truck (occlusion, a missed
detection) and later give it a new id; a new track that appears where a truck vanished moments ago
is taken to be that truck ("rejoin"): it keeps the truck's id and the lines it already crossed, and
a line crossed while it was unseen fires, timed between its last and first sightings.

In a queue the truck in front hides the ones behind it. A truck that vanishes inside the queue
zone is taken to stand there hidden (`hidden_hold_s`): it still counts in the zone's occupancy,
and a new track that appears inside the zone (where no truck comes from nowhere) is that truck,
wherever it reappears. A truck first seen inside the zone crossed the entry line unseen, hidden
behind the queue's tail: its `enter` fires when it is first seen (late, but counted).

A detector's box edge jitters by a pixel or two, and far from the camera a truck moves less than
that between frames, or stands waiting just before a line. So a line is crossed when the median of
the truck's last `line_fit_frames` anchors crosses it, and the crossing's time comes from a fit
(quadratic: trucks pull away from a stop) of the truck's signed distance to the line over as many
sightings either side.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from edge.config import GeometryConfig, TrackingConfig
from edge.geometry import Line, Zone, anchors

LINE_EVENTS = (("entry_line", "enter"), ("gate_line", "gate"), ("exit_line", "exit"))
# Trucks in view when the camera starts had entered before it: only later arrivals are inferred.
STARTUP_GRACE = timedelta(seconds=10)


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
    first_seen: FrameTime
    fired: set[str] = field(default_factory=set)
    sightings: int = 0
    steady: np.ndarray | None = None  # the median of the latest anchors: what lines are tested with
    tracker_ids: set[int] = field(default_factory=set)  # every id the tracker gave this truck
    path: deque[tuple[FrameTime, np.ndarray]] = field(default_factory=deque)  # the latest sightings
    pending: list[_Pending] = field(default_factory=list)  # crossings waiting for sightings after the line


@dataclass
class _Pending:
    kind: str
    line: Line
    before: tuple[FrameTime, np.ndarray]  # the sightings either side of the line
    after: tuple[FrameTime, np.ndarray]
    waiting: int  # sightings still to come before the fit


class LaneCamera:
    """Feed it each analysed frame's tracked boxes; it returns the line crossings of that frame."""

    def __init__(self, geometry: GeometryConfig, tracking: TrackingConfig | None = None,
                 forget_after: timedelta = timedelta(seconds=30)):
        tracking = tracking or TrackingConfig()
        self.lines = [(kind, Line(getattr(geometry, name))) for name, kind in LINE_EVENTS if getattr(geometry, name)]
        self.queue_zone = Zone(geometry.queue_zone) if geometry.queue_zone else None
        self.entry_line = Line(geometry.entry_line) if geometry.entry_line else None
        self.weighbridge_zone = Zone(geometry.weighbridge_zone) if geometry.weighbridge_zone else None
        self.forget_after = forget_after
        self.rejoin_window = timedelta(seconds=tracking.rejoin_window_s)
        self.rejoin_radius = tracking.rejoin_radius_px
        self.fit_frames = tracking.line_fit_frames
        self.hidden_hold = timedelta(seconds=tracking.hidden_hold_s)
        self.infer_hidden_entries = tracking.infer_hidden_entries
        self.duplicate_window = timedelta(seconds=tracking.duplicate_window_s)
        self.duplicate_radius = tracking.duplicate_radius_px
        self.queued_past_entry = tracking.queued_past_entry_px
        self._last_crossing: dict[str, tuple[FrameTime, np.ndarray]] = {}  # line kind -> when and where
        self.queue_occupancy = 0
        self.weighbridge_tracks: list[int] = []
        self.rejoins = 0
        self._trucks: dict[int, _Truck] = {}  # by truck id
        self._by_tracker: dict[int, int] = {}  # tracker id -> truck id
        self._next_id = 1
        self._started: FrameTime | None = None

    def update(self, xyxy: np.ndarray, tracker_ids: np.ndarray, at: FrameTime) -> list[Crossing]:
        points = anchors(xyxy)
        tids = tracker_ids.tolist()
        self._started = self._started or at
        seen = {self._by_tracker[t] for t in tids if t in self._by_tracker}
        crossings: list[Crossing] = []
        truck_ids: list[int] = []
        for point, tid in zip(points, tids, strict=True):
            truck, first_sighting = self._truck_for(tid, point, at, seen)
            seen.add(truck.id)
            truck_ids.append(truck.id)
            for pending in truck.pending:
                pending.waiting -= 1
            if first_sighting and self._entered_unseen(point, at):
                truck.fired.add("enter")
                crossings.append(Crossing("enter", truck.id, at))
            previous = (truck.at, truck.steady)
            truck.anchor, truck.at = point, at
            truck.sightings += 1
            truck.path.append((at, point))
            recent = [p for _, p in list(truck.path)[-max(1, self.fit_frames):]]
            truck.steady = np.median(np.stack(recent), axis=0)
            if not first_sighting and previous[1] is not None:
                self._detect_crossings(truck, previous, (at, truck.steady))
            crossings += self._settle(truck, everything=False)
        for truck in self._trucks.values():
            if truck.pending and truck.id not in seen:
                crossings += self._settle(truck, everything=True)  # lost from view: time it with what there is
        visible = 0
        if self.queue_zone and len(points):
            inside = self.queue_zone.contains(points)
            # Unique trucks: the tracker may follow one truck with two tracks for a moment (both rejoined to it).
            visible = len({tid for tid, flag in zip(truck_ids, inside, strict=True) if flag and self._queued(tid)})
        self.queue_occupancy = visible + sum(1 for t in self._hidden(at, seen) if self._in_queue(t))
        if self.weighbridge_zone and len(points):
            inside = self.weighbridge_zone.contains(points)
            self.weighbridge_tracks = [t for t, flag in zip(truck_ids, inside, strict=True) if flag]
        else:
            self.weighbridge_tracks = []
        self._forget(at)
        return sorted(crossings, key=lambda c: c.at.mono_ns)

    def truck_ids(self, tracker_ids: np.ndarray) -> np.ndarray:
        """The truck id (what crossings carry) behind each tracker id; -1 for one not seen by `update`."""
        return np.array([self._by_tracker.get(int(t), -1) for t in tracker_ids], dtype=int)

    def flush(self) -> list[Crossing]:
        """The crossings still waiting for sightings after their line: call when the video ends."""
        out = [c for truck in self._trucks.values() for c in self._settle(truck, everything=True)]
        return sorted(out, key=lambda c: c.at.mono_ns)

    def _truck_for(self, tid: int, point: np.ndarray, at: FrameTime, seen: set[int]) -> tuple[_Truck, bool]:
        """The truck behind tracker id `tid` (known, rejoined after a loss, or new), and whether it is new."""
        known = self._by_tracker.get(tid)
        if known is not None:
            return self._trucks[known], False
        lost = [t for t in self._trucks.values()
                if t.id not in seen and at.utc - t.at.utc <= self.rejoin_window
                and float(np.hypot(*(t.anchor - point))) <= self.rejoin_radius]
        if not lost and self.queue_zone and self.queue_zone.contains(point[None])[0]:
            lost = self._hidden(at, seen)
        if lost:
            # The old tracker id stays mapped too: should the tracker revive it, it is still this truck.
            truck = min(lost, key=lambda t: float(np.hypot(*(t.anchor - point))))
            self.rejoins += 1
            new = False
        else:
            truck = _Truck(self._next_id, point, at, at, path=deque(maxlen=2 * self.fit_frames + 2))
            self._next_id += 1
            self._trucks[truck.id] = truck
            new = True
        truck.tracker_ids.add(tid)
        self._by_tracker[tid] = truck.id
        return truck, new

    def _hidden(self, at: FrameTime, seen: set[int]) -> list[_Truck]:
        """Trucks unseen now that vanished recently inside the queue zone or before reaching it (behind
        the queue's tail): standing behind others, since trucks leave the view only past the zone."""
        if self.queue_zone is None:
            return []
        # A track seen only once or twice may be a detector's mistake; a truck is seen for a while.
        return [t for t in self._trucks.values()
                if t.id not in seen and t.sightings >= 5 and at.utc - t.at.utc <= self.hidden_hold
                and (self.queue_zone.contains(t.anchor[None])[0] or self._before_entry(t))]

    def _entered_unseen(self, point: np.ndarray, at: FrameTime) -> bool:
        """First seen inside the queue zone, already past the entry line: it crossed it unseen."""
        if (not self.infer_hidden_entries or self.queue_zone is None or self.entry_line is None
                or self._started is None):
            return False
        return (bool(self.queue_zone.contains(point[None])[0]) and self.entry_line.side(point) > 0
                and at.utc - self._started.utc > STARTUP_GRACE)

    def _queued(self, truck_id: int) -> bool:
        """In the queue once past the entry line: an anchor inside the zone that never crossed it is a truck
        waiting just short of the line (its box edge jittering over) or a second box of a queued truck.
        Trucks already in view when the camera starts count, and so does every truck when entries are
        inferred (they may have crossed hidden)."""
        truck = self._trucks[truck_id]
        if self.entry_line is None or self.infer_hidden_entries or "enter" in truck.fired:
            return True
        if truck.steady is not None and self.entry_line.distance(truck.steady) > self.queued_past_entry:
            return True  # well inside: a truck whose track restarted after it entered (lost behind another)
        return self._started is not None and truck.first_seen.utc - self._started.utc <= STARTUP_GRACE

    def _before_entry(self, truck: _Truck) -> bool:
        return self.entry_line is not None and "enter" not in truck.fired

    def _in_queue(self, truck: _Truck) -> bool:
        """Counted in the queue zone's occupancy while hidden: vanished inside the zone."""
        return self.queue_zone is not None and bool(self.queue_zone.contains(truck.anchor[None])[0])

    def _detect_crossings(self, truck: _Truck, before: tuple[FrameTime, np.ndarray],
                          after: tuple[FrameTime, np.ndarray]) -> None:
        for kind, line in self.lines:
            if kind not in truck.fired and line.crossed_forward(before[1], after[1]):
                truck.fired.add(kind)
                truck.pending.append(_Pending(kind, line, before, after, self.fit_frames))

    def _settle(self, truck: _Truck, everything: bool) -> list[Crossing]:
        due = [p for p in truck.pending if everything or p.waiting <= 0]
        truck.pending = [p for p in truck.pending if p not in due]
        out = []
        for p in due:
            at = self._crossing_time(truck, p)
            last = self._last_crossing.get(p.kind)
            if (last is not None and abs(at.utc - last[0].utc) < self.duplicate_window
                    and float(np.hypot(*(last[1] - p.after[1]))) <= self.duplicate_radius):
                continue  # the same truck's second box
            self._last_crossing[p.kind] = (at, p.after[1])
            out.append(Crossing(p.kind, truck.id, at))
        return out

    @staticmethod
    def _crossing_time(truck: _Truck, pending: _Pending) -> FrameTime:
        """Where a curve through the truck's recent signed distances to the line meets zero going
        forward; between the two steadied sightings around the line when the path gives no sound fit."""
        (t0, p0), (t1, p1) = pending.before, pending.after
        span_s = (t1.mono_ns - t0.mono_ns) / 1e9
        s0, s1 = pending.line.side(p0), pending.line.side(p1)
        fraction = s0 / (s0 - s1) if s0 != s1 else 1.0
        if len(truck.path) >= 4 and span_s > 0:
            ts = np.array([(t.mono_ns - t0.mono_ns) / 1e9 for t, _ in truck.path])
            sides = np.array([pending.line.side(p) for _, p in truck.path])
            fitted = _forward_root(ts, sides, fraction * span_s)
            if fitted is not None:
                fraction = fitted / span_s
        return t0.between(t1, fraction)

    def _forget(self, at: FrameTime) -> None:
        hidden = {t.id for t in self._hidden(at, set())}
        stale = [t for t in self._trucks.values() if at.utc - t.at.utc > self.forget_after and t.id not in hidden]
        for truck in stale:
            del self._trucks[truck.id]
            for tid in truck.tracker_ids:
                self._by_tracker.pop(tid, None)


def _forward_root(ts: np.ndarray, sides: np.ndarray, guess_s: float) -> float | None:
    """The time, within the sightings, at which a quadratic (else a straight line) fitted to the
    signed distances crosses zero going forward, nearest `guess_s`; None when no fit does."""
    for degree in (2, 1):
        if len(ts) < degree + 3:
            continue
        poly = np.polynomial.Polynomial.fit(ts, sides, degree).convert()
        slope = poly.deriv()
        # A fit that meets the line outside the sightings it was made from is not trusted.
        roots = [float(r.real) for r in poly.roots()
                 if abs(r.imag) < 1e-9 and ts[0] <= r.real <= ts[-1] and slope(r.real) > 0]
        if roots:
            return min(roots, key=lambda r: abs(r - guess_s))
    return None
