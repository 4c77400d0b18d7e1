"""One lane's traffic, stepped frame by frame: queue, yard, weighbridge, inspection, barrier.

A truck's path: it arrives beyond the queue camera's view, drives in, crosses the entry line
(joins the queue), stops and goes in the queue zone, checks in at the yard booth and disappears
into the holding yard (out of view, any number of trucks). From the yard it drives into the gate
camera's view, waits at the red light before the gate line, crosses it when the control point is
free (leaves the queue), stops on the weighbridge deck, rolls to the barrier for inspection and
leaves across the exit line when the barrier lifts.

Only positions and states live here; events are taken from the image boxes the trucks would have,
exactly as an edge would see them (the anchor crossing a line), so truth and pictures agree.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.camera import Camera, point_in_polygon, side_of_line
from sim.fleet import TruckSpec, make_truck
from sim.layout import GATE, QUEUE, REAR
from sim.scenarios import Scenario
from sim.truck_geometry import Box, anchor, image_box
from sim.weighing import SAMPLE_HZ, DeckLoad, Indicator, Reading

ACCEL = 0.8  # m/s², a loaded truck moving off
DECEL = 1.5  # m/s², comfortable braking
STAND_GAP = 3.0  # metres between standing trucks
FOLLOW_HOLD = 1.5  # a standing truck waits until the one ahead has moved this far (stop-and-go)
GONE = -1000.0  # target for trucks driving out of view
BARRIER_MOVE_S = 2.0
APPROACH_CAPACITY = 2  # trucks waiting before the gate line; the yard holds the rest

EVENT_NAMES = ("arrive", "enter", "gate", "weigh", "exit")


@dataclass
class Truck:
    id: str
    lane: str
    spec: TruckSpec
    checkin_s: float
    transit_s: float
    weigh_s: float
    inspection_s: float
    segment: str = "pending"  # pending -> queue -> yard -> gate -> gone
    state: str = ""
    d: float = 0.0
    prev_d: float = 0.0
    v: float = 0.0
    prev_v: float = 0.0
    until: float = 0.0
    go_at: float | None = None
    ready_at: float = 0.0
    events: dict[str, int] = field(default_factory=dict)
    box: Box | None = None
    full_box: Box | None = None
    _box_at: float | None = None
    sides: dict[str, float] = field(default_factory=dict)
    rear_view: tuple[float, Box | None, Box | None] | None = None  # (d, box, full box) in the rear camera

    @property
    def rear(self) -> float:
        return self.d + self.spec.shape.length


@dataclass(frozen=True)
class Seen:
    """A truck in a camera's frame."""

    truck: Truck
    box: Box
    full_box: Box


class LaneSim:
    """Steps one lane. Arrivals come from outside (their ids are numbered across all lanes)."""

    def __init__(
        self,
        index: int,
        lane_id: str,
        direction: str,
        seed: int,
        scenario: Scenario,
        fps: float,
        cameras: dict[str, Camera],
        geometry: dict[str, dict[str, Any]],
        arrivals: list[tuple[str, float]],
        weighbridge: bool = True,
    ) -> None:
        self.index = index
        self.weighbridge = weighbridge  # sample the indicator (its own random stream: the traffic is the same without)
        self.lane_id = lane_id
        self.direction = direction
        self.seed = seed
        self.scenario = scenario
        self.fps = fps
        self.dt = 1.0 / fps
        self.cameras = cameras
        self.entry_line = _line(geometry["queue"]["entry_line"])
        self.gate_line = _line(geometry["gate"]["gate_line"])
        self.exit_line = _line(geometry["gate"]["exit_line"])
        self.queue_zone: list[list[float]] = geometry["queue"]["queue_zone"]
        self._arrivals = deque(sorted(arrivals, key=lambda a: a[1]))
        self._arrival_index = 0
        self.trucks: list[Truck] = []  # every truck that has arrived, in arrival order
        self.pending: deque[Truck] = deque()
        self.queue: list[Truck] = []  # in the queue camera's stretch, front-most first
        self.yard: deque[Truck] = deque()
        self.gate: list[Truck] = []  # in the gate camera's stretch, front-most first
        self.departed: list[Truck] = []  # past the gate camera, still driving away in the rear camera's view
        self.entered = 0
        self.left_queue = 0
        self.processing: Truck | None = None
        self.green_at = 0.0
        self.signal_green = False
        self.barrier_open_at: float | None = None
        self.barrier_close_at: float | None = None
        self.seen: dict[str, list[Seen]] = {role: [] for role in cameras}
        self.indicator = Indicator(np.random.default_rng(np.random.SeedSequence([seed, index, 2])))
        self._next_sample = 0
        self.t = 0.0

    # ------------------------------------------------------------------ stepping
    def step(self, frame: int) -> list[Reading]:
        """Advance to the moment frame `frame` shows; returns the indicator readings due since the last step."""
        t = frame / self.fps
        self.t = t
        moving = frame > 0
        for tr in self.queue + self.gate:
            tr.prev_d, tr.prev_v = tr.d, tr.v
        self._take_arrivals(frame)
        if moving:
            self._move_queue(t)
            self._move_gate(t, frame)
        readings = self._sample_weighbridge(t) if self.weighbridge else []
        self._observe(frame, t)
        self._release_from_yard(t)
        self._spawn_queue()
        return readings

    def _take_arrivals(self, frame: int) -> None:
        while self._arrivals and math.ceil(self._arrivals[0][1] * self.fps - 1e-9) <= frame:
            truck_id, _ = self._arrivals.popleft()
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.index, 1, self._arrival_index]))
            self._arrival_index += 1
            spec = make_truck(rng, self.direction)
            sc = self.scenario
            inspection = sc.physical_inspection if rng.random() < sc.physical_share else sc.inspection
            tr = Truck(
                id=truck_id,
                lane=self.lane_id,
                spec=spec,
                checkin_s=sc.checkin.draw(rng),
                transit_s=sc.yard_transit.draw(rng),
                weigh_s=sc.weigh.draw(rng),
                inspection_s=inspection.draw(rng),
            )
            tr.events["arrive"] = frame
            self.trucks.append(tr)
            self.pending.append(tr)

    def _spawn_queue(self) -> None:
        while self.pending:
            last = self.queue[-1] if self.queue else None
            if last is not None and last.rear > QUEUE.spawn_d - 2.0:
                return
            tr = self.pending.popleft()
            tr.segment, tr.state, tr.d, tr.prev_d, tr.v = "queue", "approach", QUEUE.spawn_d, QUEUE.spawn_d, 8.0
            self.queue.append(tr)

    def _release_from_yard(self, t: float) -> None:
        if not self.yard or self.yard[0].ready_at > t:
            return
        if sum(1 for tr in self.gate if tr.state in ("approach", "wait")) >= APPROACH_CAPACITY:
            return
        if self.gate and self.gate[-1].rear > GATE.spawn_d - 3.0:
            return
        tr = self.yard.popleft()
        tr.segment, tr.state, tr.d, tr.prev_d, tr.v = "gate", "approach", GATE.spawn_d, GATE.spawn_d, 5.0
        self.gate.append(tr)

    def _follow_target(self, trucks: list[Truck], i: int, stop_d: float) -> tuple[float, bool]:
        """Where truck i may go: its stop line or behind the truck ahead, whichever is further back."""
        if i == 0:
            return stop_d, False
        lead = trucks[i - 1]
        behind = lead.rear + STAND_GAP + 1.0 * lead.v
        return (behind, True) if behind > stop_d else (stop_d, False)

    def _drive(self, tr: Truck, target: float, vmax: float, t: float, following: bool) -> None:
        dist = tr.d - target
        if tr.v == 0.0:
            if dist <= (FOLLOW_HOLD if following else 0.01):
                tr.go_at = None
                return
            if tr.go_at is None:
                tr.go_at = t + tr.spec.reaction_s
            if t < tr.go_at:
                return
        if dist <= 0.0:
            tr.v = 0.0
            return
        v = min(tr.v + ACCEL * self.dt, vmax, math.sqrt(2.0 * DECEL * dist), dist / self.dt)
        tr.d -= v * self.dt
        tr.v = v
        if tr.d - target < 0.01:
            tr.d, tr.v, tr.go_at = target, 0.0, None

    def _keep_gap(self, trucks: list[Truck], i: int) -> None:
        if i > 0:
            tr, lead = trucks[i], trucks[i - 1]
            tr.d = max(tr.d, lead.rear + 1.0)

    def _move_queue(self, t: float) -> None:
        for i, tr in enumerate(self.queue):
            if tr.state == "leaving":
                self._drive(tr, GONE, 6.0, t, False)
            elif tr.state == "approach":
                target, following = self._follow_target(self.queue, i, QUEUE.booth_stop_d)
                self._drive(tr, target, _slow_zone(tr.d, QUEUE.entry_d + 10, 9.0, 4.0), t, following)
                if tr.v == 0.0 and tr.d == QUEUE.booth_stop_d:
                    tr.state, tr.until = "checkin", t + tr.checkin_s
            elif tr.state == "checkin" and t >= tr.until:
                tr.state = "admit"
            if tr.state == "admit" and self._yard_admits():
                tr.state = "leaving"
            self._keep_gap(self.queue, i)
        for tr in [tr for tr in self.queue if tr.rear < QUEUE.gone_d]:
            self.queue.remove(tr)
            tr.segment, tr.ready_at = "yard", t + tr.transit_s
            self.yard.append(tr)

    def _yard_admits(self) -> bool:
        """The yard marshal meters entry once the yard is crowded, unless the queue backs up to the entry line."""
        in_yard = len(self.yard) + sum(1 for tr in self.queue if tr.state == "leaving")
        if in_yard < self.scenario.yard_soft_capacity or self.pending:
            return True
        waiting = [tr for tr in self.queue if tr.state != "leaving"]
        return bool(waiting) and waiting[-1].rear > QUEUE.entry_d - 6.0

    def _deck_clear(self) -> bool:
        return all(self._axle_load(tr, tr.d) == 0 for tr in self.gate)

    def _move_gate(self, t: float, frame: int) -> None:
        for i, tr in enumerate(self.gate):
            st = tr.state
            if st == "approach":
                target, following = self._follow_target(self.gate, i, GATE.wait_stop_d)
                self._drive(tr, target, _slow_zone(tr.d, GATE.gate_d + 12, 8.0, 4.0), t, following)
                if tr.v == 0.0 and tr.d == GATE.wait_stop_d:
                    tr.state = "wait"
            elif st == "wait":
                if self.processing is None and t >= self.green_at and self._deck_clear():
                    tr.state, self.processing, self.signal_green = "to_deck", tr, True
            elif st == "to_deck":
                self._drive(tr, GATE.weigh_stop_d, 2.8, t, False)
                if tr.v == 0.0 and tr.d == GATE.weigh_stop_d:
                    tr.events["weigh"] = frame
                    tr.state, tr.until = "weighing", t + tr.weigh_s
            elif st == "weighing":
                if t >= tr.until:
                    tr.state = "to_insp"
            elif st == "to_insp":
                self._drive(tr, GATE.inspection_stop_d, 1.5, t, False)
                if tr.v == 0.0 and tr.d == GATE.inspection_stop_d:
                    tr.state, tr.until = "inspection", t + tr.inspection_s
            elif st == "inspection":
                if t >= tr.until:
                    tr.state, tr.until = "opening", t + BARRIER_MOVE_S
                    self.barrier_open_at, self.barrier_close_at = t, None
            elif st == "opening":
                if t >= tr.until:
                    tr.state = "leaving"
            elif st == "leaving":
                self._drive(tr, GONE, 6.0, t, False)
                if self.barrier_close_at is None and tr.rear < GATE.exit_d - 1.0:
                    self.barrier_close_at = t
            self._keep_gap(self.gate, i)
        for tr in [tr for tr in self.gate if tr.rear < GATE.gone_d]:
            self.gate.remove(tr)
            tr.segment = "gone"
            if "rear" in self.cameras:
                self.departed.append(tr)
        for tr in self.departed:
            self._drive(tr, GONE, 6.0, t, False)
        # The rear camera looks down the road the trucks leave by: they drive off into the haze.
        self.departed = [tr for tr in self.departed if tr.d > REAR.gone_d]

    # ------------------------------------------------------------------ observing
    def _box(self, tr: Truck, role: str) -> None:
        if tr._box_at != tr.d:
            tr.box, tr.full_box = image_box(self.cameras[role], tr.spec, tr.d)
            tr._box_at = tr.d

    def _crossed(self, tr: Truck, name: str, line: tuple[tuple[float, float], tuple[float, float]]) -> bool:
        if tr.box is None or name in tr.events:
            return False
        side = side_of_line(line[0], line[1], anchor(tr.box))
        before = tr.sides.get(name, -1.0)
        tr.sides[name] = side
        return side > 0 and before <= 0

    def _observe(self, frame: int, t: float) -> None:
        seen_q: list[Seen] = []
        for tr in self.queue:
            self._box(tr, "queue")
            if self._crossed(tr, "enter", self.entry_line):
                tr.events["enter"] = frame
                self.entered += 1
            if tr.box is not None and tr.full_box is not None:
                seen_q.append(Seen(tr, tr.box, tr.full_box))
        seen_g: list[Seen] = []
        for tr in self.gate:
            self._box(tr, "gate")
            if self._crossed(tr, "gate", self.gate_line):
                tr.events["gate"] = frame
                self.left_queue += 1
                self.signal_green = False
            if self._crossed(tr, "exit", self.exit_line):
                tr.events["exit"] = frame
                if self.processing is tr:
                    self.processing = None
                    self.green_at = t + self.scenario.signal_clearance_s
            if tr.box is not None and tr.full_box is not None:
                seen_g.append(Seen(tr, tr.box, tr.full_box))
        self.seen = {"queue": seen_q, "gate": seen_g}
        if "rear" in self.cameras:
            self.seen["rear"] = self._seen_from_behind()

    def _seen_from_behind(self) -> list[Seen]:
        """The gate stretch's trucks as the rear camera sees them (it times no events)."""
        out: list[Seen] = []
        for tr in self.gate + self.departed:
            if tr.rear_view is None or tr.rear_view[0] != tr.d:
                tr.rear_view = (tr.d, *image_box(self.cameras["rear"], tr.spec, tr.d))
            _, box, full = tr.rear_view
            if box is not None and full is not None:
                out.append(Seen(tr, box, full))
        return out

    @property
    def queue_len(self) -> int:
        return self.entered - self.left_queue

    def queue_zone_occupancy(self) -> int:
        return sum(1 for s in self.seen["queue"] if point_in_polygon(self.queue_zone, anchor(s.box)))

    def barrier_lift(self, t: float) -> float:
        """0 closed .. 1 fully up."""
        if self.barrier_open_at is None:
            return 0.0
        up = min(1.0, (t - self.barrier_open_at) / BARRIER_MOVE_S)
        if self.barrier_close_at is None:
            return up
        return max(0.0, 1.0 - (t - self.barrier_close_at) / BARRIER_MOVE_S)

    # ------------------------------------------------------------------ weighbridge
    def _axle_load(self, tr: Truck, d: float) -> float:
        return float(
            sum(
                kg
                for pos, kg in zip(tr.spec.shape.axles, tr.spec.axle_loads_kg, strict=True)
                if GATE.deck_near_d <= d + pos <= GATE.deck_far_d
            )
        )

    def _deck(self, placed: list[tuple[Truck, float, float]]) -> DeckLoad:
        """The deck's load from (truck, front distance, speed) at one instant."""
        total, speed, owner, owner_load = 0.0, 0.0, "", 0.0
        for tr, d, v in placed:
            load = self._axle_load(tr, d)
            if load > 0:
                total += load
                speed = max(speed, v)
                if load > owner_load:
                    owner, owner_load = tr.id, load
        return DeckLoad(total, speed, owner)

    def _sample_weighbridge(self, t: float) -> list[Reading]:
        out: list[Reading] = []
        while self._next_sample / SAMPLE_HZ <= t + 1e-9:
            ts = self._next_sample / SAMPLE_HZ
            self._next_sample += 1
            # Positions between the previous frame and this one, for frame rates other than 10.
            alpha = 1.0 if t == 0 else min(1.0, max(0.0, (ts - (t - self.dt)) / self.dt))
            at_frame = ts >= t - 1e-9
            placed = [
                (tr, tr.prev_d + alpha * (tr.d - tr.prev_d), tr.v if at_frame else max(tr.v, tr.prev_v))
                for tr in self.gate
            ]
            out.append(self.indicator.sample(ts, self._deck(placed)))
        return out

    def finish(self, end_s: float) -> list[Reading]:
        """Readings due after the last frame up to (not including) end_s: the deck as the last frame left it."""
        out: list[Reading] = []
        while self._next_sample / SAMPLE_HZ < end_s - 1e-9:
            ts = self._next_sample / SAMPLE_HZ
            self._next_sample += 1
            out.append(self.indicator.sample(ts, self._deck([(tr, tr.d, tr.v) for tr in self.gate])))
        return out


def _slow_zone(d: float, zone_d: float, fast: float, slow: float) -> float:
    """Speed limit that eases from `fast` down to `slow` (at DECEL) before a slow zone starting at zone_d."""
    return min(fast, math.sqrt(slow * slow + 2.0 * DECEL * max(0.0, d - zone_d)))


def _line(spec: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    return (float(spec["start"][0]), float(spec["start"][1])), (float(spec["end"][0]), float(spec["end"][1]))
