"""Per-camera lane logic: which truck crossed which line, when, and who is in which zone.

Each line fires at most once per truck, so a truck that stops on a line, or jitters across it in a
stop-and-go queue, is still counted once. The tracker may lose a truck (occlusion, a missed
detection) and later give it a new id; a new track that appears where a truck vanished moments ago
is taken to be that truck ("rejoin"): it keeps the truck's id and the lines it already crossed, and
a line crossed while it was unseen fires, timed between its last and first sightings. A rejoin is a
guess: should the truck's own track come back and be seen beside the new one, apart, for a while, the
new one is another truck (one that came out from behind it) and is let go (TWIN_FRAMES).

In a queue the truck in front hides the ones behind it. A truck that vanishes inside the queue
zone is taken to stand there hidden (`hidden_hold_s`): it still counts in the zone's occupancy,
and a new track that appears inside the zone (where no truck comes from nowhere) is that truck,
wherever it reappears. A truck first seen inside the zone crossed the entry line unseen, hidden
behind the queue's tail: its `enter` fires when it is first seen (late, but counted).

A detector's box edge jitters by a pixel or two, and far from the camera a truck moves less than
that between frames, or stands waiting just before a line. So a line is crossed when the median of
the truck's last `line_fit_frames` anchors crosses it, and the crossing's time comes from a fit
(quadratic: trucks pull away from a stop) of the truck's signed distance to the line over as many
sightings either side. The event is stamped with the first of the camera's frames that shows the truck
past the line, which the fit finds also between analysed frames: "when" for a camera is a frame, and
this is the frame a person stepping through the video (or the simulator's truth) would name. The fitted
moment itself lies half a frame before it on average.

The detector sometimes finds a long truck twice: its whole box and, in some frames, a box shifted along
it (its cab, its trailer), which the tracker follows as a second track alternating with the first. Such a
"ghost" track overlaps the truck's own box far more than a real truck queued behind it does, lies lower
and scores lower. A track whose box overlapped a surer track's box, not standing behind it, in most of
its recent sightings is taken to be a second box of that truck: its crossings are held until that truck
crosses the line itself (then dropped) or vanishes first (then reported), it counts in the zone only as
that truck, and it is not held as hidden when it vanishes.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np

from edge.config import GeometryConfig, TrackingConfig
from edge.geometry import Line, Zone, anchors

LINE_EVENTS = (("entry_line", "enter"), ("gate_line", "gate"), ("exit_line", "exit"))
# Trucks in view when the camera starts had entered before it: only later arrivals are inferred.
STARTUP_GRACE = timedelta(seconds=10)
# A ghost track: in at least GHOST_SHARE of its last GHOST_SIGHTINGS sightings its box overlapped (IoU at least
# GHOST_IOU) the box of another track that the detector was surer of and that did not stand ahead of it along
# the lane (a real truck close behind another is further back; a second box of one truck lies lower, its score
# lower: 0.54 against 0.70 in the median on the tuning seeds 31-34, where two real trucks' boxes overlapping
# that much score 0.72 for the one ahead and 0.64 behind). The host's box counts for GHOST_MEMORY after its last
# sighting, since the two tracks alternate from frame to frame.
GHOST_IOU = 0.3
GHOST_SHARE = 0.5
GHOST_SIGHTINGS = 20
GHOST_MEMORY = timedelta(seconds=1)
# A truck counts in the queue zone once the median of its last ENTRY_FRAMES anchors has gone from short of the
# entry line to past it. The crossing's own test (the median over `line_fit_frames`, 16 at a far line) lags a
# truck creeping at 0.6 px a frame by about 5 px, for which it stood inside the zone uncounted (tuning seeds 31-34).
ENTRY_FRAMES = 5
# A new track is a truck lost a moment ago (under REJOIN_MOVED) only where its box overlaps that truck's last box
# this much: far from the camera a truck queued right behind another stands within `rejoin_radius_px` of it (anchors
# 15-25 px apart at the queue camera's entry line) but overlaps its box far less than the same truck a frame later
# does (tuning seed 34 T0017: the truck behind took the one ahead's id and its entry was never reported). A truck
# lost for longer may have moved on by more than that.
REJOIN_IOU = 0.3
REJOIN_MOVED = timedelta(seconds=0.5)
# A crossing close in time and place to the last one is taken for that truck's second box (`duplicate_window_s`),
# unless the last one's truck is still seen, apart from this one (IoU under GHOST_IOU), both tracked for at least
# DISTINCT_SIGHTINGS frames: trucks queued close behind each other cross the far entry line a few seconds apart
# (tuning seed 32 T0008: 5.9 s after the truck ahead, inside the site's 6 s window, and never reported).
DISTINCT_SIGHTINGS = 10
# Two tracks the lane took for one truck (a rejoin while its own track was lost a moment), seen together in
# TWIN_FRAMES frames with their boxes apart (IoU under GHOST_IOU), are two trucks: the one that joined later is let
# go and taken as any new track is. Tuning seed 34 T0019: it came out from behind T0018, was rejoined to it, and the
# two counted as one in the zone for most of 40 s, T0019's entry never reported.
TWIN_FRAMES = 10


@dataclass(frozen=True)
class FrameTime:
    """When a frame was captured: UTC for the record, monotonic for durations; and which of its source's
    frames it is, where the source counts them."""

    utc: datetime
    mono_ns: int
    frame: int | None = None

    def between(self, other: FrameTime, fraction: float) -> FrameTime:
        return FrameTime(
            self.utc + (other.utc - self.utc) * fraction,
            self.mono_ns + round((other.mono_ns - self.mono_ns) * fraction),
        )

    def first_frame_from(self, other: FrameTime, fraction: float) -> FrameTime:
        """The first of the source's frames at or after the moment `fraction` of the way to `other` (a
        later frame of the same source); that moment itself when the frames are not numbered."""
        steps = (other.frame - self.frame) if self.frame is not None and other.frame is not None else 0
        if steps <= 0:  # not numbered, or numbered afresh since (the stream was reopened)
            return self.between(other, fraction)
        # 1e-6 of a frame: a fit landing on a frame is that frame, not the next.
        k = math.ceil(fraction * steps - 1e-6)
        return replace(self.between(other, k / steps), frame=self.frame + k)


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
    tracker_ids: list[int] = field(default_factory=list)  # every id the tracker gave this truck, in order
    apart: Counter[int] = field(default_factory=Counter)  # a later id -> frames seen apart from the first one
    path: deque[tuple[FrameTime, np.ndarray]] = field(default_factory=deque)  # the latest sightings
    pending: list[_Pending] = field(default_factory=list)  # crossings waiting for sightings after the line
    box: np.ndarray | None = None  # the latest box
    score: float = 1.0  # the detector's confidence in it
    # Per recent sighting: the older truck whose box this one's overlapped, else None (see GHOST_IOU).
    hosts: deque[int | None] = field(default_factory=lambda: deque(maxlen=GHOST_SIGHTINGS))
    deferred: list[_Deferred] = field(default_factory=list)
    short_of_entry: bool = False  # seen before the entry line (ENTRY_FRAMES' median)
    past_entry: bool = False  # … and since then past it


@dataclass
class _Deferred:
    """A ghost track's crossing, held while its host may still cross the line itself."""

    kind: str
    host: int
    at: FrameTime
    where: np.ndarray


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
        self._last_crossing: dict[str, tuple[FrameTime, np.ndarray, int]] = {}  # line kind -> when, where, truck
        self.queue_occupancy = 0
        self.weighbridge_tracks: list[int] = []
        self.rejoins = 0
        self._trucks: dict[int, _Truck] = {}  # by truck id
        self._by_tracker: dict[int, int] = {}  # tracker id -> truck id
        self._next_id = 1
        self._started: FrameTime | None = None
        self._now: FrameTime | None = None
        self._seen_now: set[int] = set()  # the trucks seen in the latest frame

    def update(self, xyxy: np.ndarray, tracker_ids: np.ndarray, at: FrameTime,
               confidence: np.ndarray | None = None) -> list[Crossing]:
        points = anchors(xyxy)
        tids = tracker_ids.tolist()
        self._started = self._started or at
        self._now = at
        boxes = np.asarray(xyxy, dtype=np.float64)
        self._let_go_twins(tids, boxes)
        seen = {self._by_tracker[t] for t in tids if t in self._by_tracker}
        crossings: list[Crossing] = []
        found = []
        for point, box, tid in zip(points, boxes, tids, strict=True):
            truck, first_sighting = self._truck_for(tid, point, box, at, seen)
            seen.add(truck.id)
            found.append((truck, first_sighting))
        scores = np.ones(len(found)) if confidence is None else np.asarray(confidence, dtype=np.float64)
        for (truck, _), box, score in zip(found, boxes, scores, strict=True):
            truck.box, truck.score = box, float(score)
        self._seen_now = seen  # every truck of `found`, and only those
        for truck, _ in found:
            truck.hosts.append(self._overlapped(truck, at))
        truck_ids = [truck.id for truck, _ in found]
        for point, (truck, first_sighting) in zip(points, found, strict=True):
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
            self._note_entry(truck)
            if not first_sighting and previous[1] is not None:
                self._detect_crossings(truck, previous, (at, truck.steady))
            crossings += self._settle(truck, everything=False)
        for truck in self._trucks.values():
            if truck.pending and truck.id not in seen:
                crossings += self._settle(truck, everything=True)  # lost from view: time it with what there is
        for truck in list(self._trucks.values()):
            if truck.deferred:
                crossings += self._resolve_deferred(truck)
        counted: set[int] = set()
        if self.queue_zone and len(points):
            inside = self.queue_zone.contains(points)
            # Unique trucks: the tracker may follow one truck with two tracks for a moment (both rejoined to it),
            # and a ghost track stands for its host, when the host itself is not seen in this frame.
            for tid, flag in zip(truck_ids, inside, strict=True):
                host = self._ghost_host(self._trucks[tid])
                if host is not None and host in seen:
                    continue
                key = tid if host is None else host
                if flag and self._queued(key):
                    counted.add(key)
        self.queue_occupancy = len(counted) + sum(
            1 for t in self._hidden(at, seen)
            if self._in_queue(t) and t.id not in counted and not self._followed(t, points))
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

    def _truck_for(self, tid: int, point: np.ndarray, box: np.ndarray, at: FrameTime,
                   seen: set[int]) -> tuple[_Truck, bool]:
        """The truck behind tracker id `tid` (known, rejoined after a loss, or new), and whether it is new."""
        known = self._by_tracker.get(tid)
        if known is not None:
            return self._trucks[known], False
        lost = [t for t in self._trucks.values()
                if t.id not in seen and at.utc - t.at.utc <= self.rejoin_window
                and float(np.hypot(*(t.anchor - point))) <= self.rejoin_radius
                and (t.box is None or at.utc - t.at.utc >= REJOIN_MOVED or _iou(t.box, box) >= REJOIN_IOU)]
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
        truck.tracker_ids.append(tid)
        truck.apart.pop(tid, None)  # let go once, it may yet come back as this truck
        self._by_tracker[tid] = truck.id
        return truck, new

    def _let_go_twins(self, tids: list[int], boxes: np.ndarray) -> None:
        """Let go of a track that has been seen, TWIN_FRAMES times, apart from the first of its truck's tracks."""
        rows: dict[int, list[int]] = {}
        for row, tid in enumerate(tids):
            if tid in self._by_tracker:
                rows.setdefault(self._by_tracker[tid], []).append(row)
        for truck_id, together in rows.items():
            if len(together) < 2:
                continue
            truck = self._trucks[truck_id]
            first, *later = sorted(together, key=lambda row: truck.tracker_ids.index(tids[row]))
            for row in later:
                if _iou(boxes[row], boxes[first]) >= GHOST_IOU:
                    continue
                truck.apart[tids[row]] += 1
                if truck.apart[tids[row]] >= TWIN_FRAMES:
                    truck.tracker_ids.remove(tids[row])
                    del self._by_tracker[tids[row]]

    def _hidden(self, at: FrameTime, seen: set[int]) -> list[_Truck]:
        """Trucks unseen now that vanished recently inside the queue zone or before reaching it (behind
        the queue's tail): standing behind others, since trucks leave the view only past the zone."""
        if self.queue_zone is None:
            return []
        # A track seen only once or twice may be a detector's mistake; a truck is seen for a while.
        return [t for t in self._trucks.values()
                if t.id not in seen and t.sightings >= 5 and at.utc - t.at.utc <= self.hidden_hold
                and (self.queue_zone.contains(t.anchor[None])[0] or self._before_entry(t))
                and self._ghost_host(t) is None]

    def _overlapped(self, truck: _Truck, at: FrameTime) -> int | None:
        """The truck, seen in the last GHOST_MEMORY, whose latest box overlaps this truck's most (at least
        GHOST_IOU), scores higher and does not stand ahead of it; None when there is none."""
        best, host = GHOST_IOU, None
        for other in self._trucks.values():
            if (other.id == truck.id or other.box is None or at.utc - other.at.utc > GHOST_MEMORY
                    or other.score <= truck.score or self._behind(truck, other)):
                continue
            overlap = _iou(truck.box, other.box)
            if overlap >= best:
                best, host = overlap, other.id
        return host

    def _behind(self, truck: _Truck, other: _Truck) -> bool:
        """Whether this truck's box stands behind the other's along the lane (the camera's first line tells
        the way): a truck queued close behind another, not a second box of it."""
        if not self.lines or truck.box is None or other.box is None:
            return False
        line = self.lines[0][1]
        ends = anchors(np.stack([truck.box, other.box]))
        return line.distance(ends[0]) < line.distance(ends[1])

    def _ghost_host(self, truck: _Truck) -> int | None:
        """The truck this one is a second box of (see GHOST_IOU), if any and still known."""
        hosts = [h for h in truck.hosts if h is not None]
        if not hosts or len(hosts) < GHOST_SHARE * len(truck.hosts):
            return None
        host = Counter(hosts).most_common(1)[0][0]
        return host if host in self._trucks and self._alive(self._trucks[host]) else None

    def _alive(self, truck: _Truck) -> bool:
        """Seen lately enough to be still alternating with a ghost of it."""
        return self._now is not None and self._now.utc - truck.at.utc <= GHOST_MEMORY

    def _entered_unseen(self, point: np.ndarray, at: FrameTime) -> bool:
        """First seen inside the queue zone, already past the entry line: it crossed it unseen."""
        if (not self.infer_hidden_entries or self.queue_zone is None or self.entry_line is None
                or self._started is None):
            return False
        return (bool(self.queue_zone.contains(point[None])[0]) and self.entry_line.side(point) > 0
                and at.utc - self._started.utc > STARTUP_GRACE)

    def _queued(self, truck_id: int) -> bool:
        """In the queue once past the entry line (its `enter`, or sooner its last ENTRY_FRAMES anchors' median
        crossing it): an anchor inside the zone that never crossed it is a truck
        waiting just short of the line (its box edge jittering over) or a second box of a queued truck.
        Trucks already in view when the camera starts count, and so does every truck when entries are
        inferred (they may have crossed hidden)."""
        truck = self._trucks[truck_id]
        if self.entry_line is None or self.infer_hidden_entries or "enter" in truck.fired or truck.past_entry:
            return True
        if truck.steady is not None and self.entry_line.distance(truck.steady) > self.queued_past_entry:
            return True  # well inside: a truck whose track restarted after it entered (lost behind another)
        return self._started is not None and truck.first_seen.utc - self._started.utc <= STARTUP_GRACE

    def _note_entry(self, truck: _Truck) -> None:
        """Whether the truck went from short of the entry line to past it, by its last ENTRY_FRAMES anchors."""
        if self.entry_line is None or truck.past_entry:
            return
        recent = np.stack([p for _, p in list(truck.path)[-ENTRY_FRAMES:]])
        distance = self.entry_line.distance(np.median(recent, axis=0))
        truck.short_of_entry |= distance < 0
        truck.past_entry = truck.short_of_entry and distance > 0

    def _followed(self, truck: _Truck, points: np.ndarray) -> bool:
        """With entries not inferred (a camera that sees its queue): a truck seen now within `rejoin_radius_px` of
        where this one vanished is this truck under another track (two tracks alternating on one truck), not one
        hiding it, which stands a truck's length ahead. A camera that cannot see its queue holds every hidden truck."""
        if self.infer_hidden_entries or not len(points):
            return False
        return float(np.min(np.hypot(*(points - truck.anchor).T))) <= self.rejoin_radius

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
        host = self._ghost_host(truck) if due else None
        out = []
        for p in due:
            at = self._crossing_time(truck, p)
            if host is not None:
                # A second box of that truck: its own crossing counts, unless it vanishes first.
                truck.deferred.append(_Deferred(p.kind, host, at, p.after[1]))
                continue
            out += self._report(p.kind, truck, at, p.after[1])
        return out

    def _report(self, kind: str, truck: _Truck, at: FrameTime, where: np.ndarray) -> list[Crossing]:
        last = self._last_crossing.get(kind)
        if (last is not None and abs(at.utc - last[0].utc) < self.duplicate_window
                and float(np.hypot(*(last[1] - where))) <= self.duplicate_radius
                and not self._distinct(truck, self._trucks.get(last[2]))):
            return []  # the same truck's second box
        self._last_crossing[kind] = (at, where, truck.id)
        return [Crossing(kind, truck.id, at)]

    def _distinct(self, truck: _Truck, other: _Truck | None) -> bool:
        """Whether `other` (the last truck to cross the line) is plainly another truck: both seen now and for a
        while, their boxes apart (a second box of one truck overlaps it, or takes over when it vanishes)."""
        if other is None or other.id == truck.id or other.box is None or truck.box is None:
            return False
        return (other.id in self._seen_now and min(other.sightings, truck.sightings) >= DISTINCT_SIGHTINGS
                and _iou(other.box, truck.box) < GHOST_IOU)

    def _resolve_deferred(self, truck: _Truck) -> list[Crossing]:
        """A ghost's crossings, once its host crossed the line (dropped) or vanished without (reported)."""
        out, waiting = [], []
        for d in truck.deferred:
            host = self._trucks.get(d.host)
            if host is not None and d.kind in host.fired:
                # The host has it. Should the tracker move this track onto another truck behind the line (it
                # happens), that truck's crossing must still fire.
                truck.fired.discard(d.kind)
                continue
            if host is not None and self._alive(host):
                waiting.append(d)
                continue
            out += self._report(d.kind, truck, d.at, d.where)
        truck.deferred = waiting
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
        return t0.first_frame_from(t1, fraction)

    def _forget(self, at: FrameTime) -> None:
        hidden = {t.id for t in self._hidden(at, set())}
        stale = [t for t in self._trucks.values() if at.utc - t.at.utc > self.forget_after and t.id not in hidden]
        for truck in stale:
            del self._trucks[truck.id]
            for tid in truck.tracker_ids:
                self._by_tracker.pop(tid, None)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(rb - lt, 0, None)))
    union = float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2])) - inter
    return inter / union if union > 0 else 0.0


def _forward_root(ts: np.ndarray, sides: np.ndarray, guess_s: float) -> float | None:
    """The time, within the sightings, at which a quadratic (else a straight line) fitted to the
    signed distances crosses zero going forward, nearest `guess_s`; None when no fit does."""
    for degree in (2, 1):
        if len(ts) < degree + 3:
            continue
        poly = np.polynomial.Polynomial.fit(ts, sides, degree).convert()
        slope = poly.deriv()
        # A fit that meets the line outside the sightings it was made from is not trusted.
        roots = [r for r in _real_roots(poly.coef) if ts[0] <= r <= ts[-1] and slope(r) > 0]
        if roots:
            return min(roots, key=lambda r: abs(r - guess_s))
    return None


def _real_roots(coef: np.ndarray) -> list[float]:
    """The real roots of c0 + c1·x + c2·x², computed so that a nearly straight path keeps its root: numpy's
    companion-matrix roots lose it when c2 is tiny beside c1 (at c2/c1 = 1e-16 it came out as 0)."""
    c0, c1, c2 = (list(map(float, coef)) + [0.0, 0.0])[:3]
    if c2 == 0:
        return [-c0 / c1] if c1 != 0 else []
    discriminant = c1 * c1 - 4 * c2 * c0
    if discriminant < 0:
        return []
    q = -0.5 * (c1 + math.copysign(math.sqrt(discriminant), c1))
    return [q / c2, c0 / q] if q != 0 else [0.0]
