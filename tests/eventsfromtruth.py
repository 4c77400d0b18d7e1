"""Turn ground truth (one truck per row) into the events two edges of a lane would publish.

The queue edge watches the entry line and publishes `enter` with its own track ids; the gate edge
publishes `gate`, `weigh` and `exit` with other track ids. Both read plates, imperfectly:

- `confusion_rate`: a plate read has one OCR confusion (0/O, 8/B, 1/I, 5/S, 2/Z, 6/G);
- `missing_plate_rate`: a camera reads no plate at all for the truck;
- `jitter_frames`: every time is off by up to this many frames (`fps`), both clocks alike;
- `drop_rate`: a camera misses a truck's event entirely (for robustness tests, not accuracy).

Every event knows its truck (`truth_of`), so tests can tell right joins from wrong ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timezone

from truthgen import Truck, parse

from lanewatch.contract import ClockState, EnterEvent, ExitEvent, GateEvent, LaneEvent, PlateRead, WeighEvent

CONFUSIONS = {"0": "O", "O": "0", "8": "B", "B": "8", "1": "I", "I": "1", "5": "S", "S": "5", "2": "Z", "Z": "2",
              "6": "G", "G": "6"}


@dataclass
class Knobs:
    confusion_rate: float = 0.05
    missing_plate_rate: float = 0.02
    jitter_frames: int = 1
    fps: float = 10.0
    drop_rate: float = 0.0
    seed: int = 7


@dataclass
class EdgeClock:
    edge: str
    boot_ts: float  # UTC epoch seconds at which the edge's monotonic clock read 0
    seq: int = 0
    track: int = 0


@dataclass
class Stream:
    events: list[LaneEvent] = field(default_factory=list)
    truth_of: dict[str, str] = field(default_factory=dict)  # event id -> truck id


def _uuid7_at(ms: int, counter: int, rng: random.Random) -> str:
    """A UUIDv7 for an event at `ms`, deterministic for a seed (ids need only be unique and well-formed)."""
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (counter & 0xFFF) << 64 | 0b10 << 62 | rng.getrandbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _read(text: str, knobs: Knobs, rng: random.Random) -> str:
    if rng.random() >= knobs.confusion_rate:
        return text
    spots = [i for i, ch in enumerate(text) if ch in CONFUSIONS]
    if not spots:
        return text
    i = rng.choice(spots)
    return text[:i] + CONFUSIONS[text[i]] + text[i + 1:]


def _plates(truck: Truck, knobs: Knobs, rng: random.Random) -> tuple[PlateRead, ...]:
    if rng.random() < knobs.missing_plate_rate:
        return ()
    return tuple(
        PlateRead(text=_read(p["text"], knobs, rng), country=p["country"], rows=p["rows"], role=p["role"],
                  confidence=round(rng.uniform(0.6, 0.99), 2), valid_format=True)
        for p in truck.plates
    )


def events_from_truth(trucks: list[Truck], site: str, lane: str, knobs: Knobs | None = None,
                      queue_edge: str = "queue1", gate_edge: str = "gate1") -> Stream:
    knobs = knobs or Knobs()
    rng = random.Random(knobs.seed)
    first = min(parse(t.enter) for t in trucks)
    clocks = {queue_edge: EdgeClock(queue_edge, first - 3600 * 5), gate_edge: EdgeClock(gate_edge, first - 3600 * 9)}
    clock_state = ClockState(synced=True, offset_ms=0.5, source="chrony")
    raw: list[tuple[float, str, type, Truck, int, tuple[PlateRead, ...], dict]] = []
    counter = 0
    for truck in trucks:
        q, g = clocks[queue_edge], clocks[gate_edge]
        q.track += 1
        g.track += 1
        queue_plates = _plates(truck, knobs, rng)
        gate_plates = _plates(truck, knobs, rng)
        exit_plates = gate_plates if rng.random() < 0.7 else _plates(truck, knobs, rng) or gate_plates
        planned = [(truck.enter, queue_edge, EnterEvent, q.track, queue_plates, {})]
        if truck.gate:
            planned += [(truck.gate, gate_edge, GateEvent, g.track, gate_plates, {}),
                        (truck.weigh, gate_edge, WeighEvent, g.track, gate_plates,
                         {"weight_kg": truck.weight_kg, "window_s": 3.0}),
                        (truck.exit, gate_edge, ExitEvent, g.track, exit_plates, {})]
        for when, edge, cls, track, plates, extra in planned:
            if when is None or rng.random() < knobs.drop_rate:
                continue
            jitter = rng.randint(-knobs.jitter_frames, knobs.jitter_frames) / knobs.fps
            raw.append((parse(when) + jitter, edge, cls, truck, track, plates, extra))
    stream = Stream()
    for ts, edge, cls, truck, track, plates, extra in sorted(raw, key=lambda r: r[0]):
        clock = clocks[edge]
        clock.seq += 1
        counter += 1
        ms = int(round(ts * 1000))
        event = cls(id=_uuid7_at(ms, counter, rng), site=site, lane=lane, edge=edge,
                    camera=f"{lane}-{'queue' if edge == queue_edge else 'gate'}", seq=clock.seq,
                    ts=datetime.fromtimestamp(ms / 1000, timezone.utc), mono_ms=ms - int(clock.boot_ts * 1000),
                    clock=clock_state, track_id=track, plates=plates, **extra)
        stream.events.append(event)
        stream.truth_of[event.id] = truck.id
    return stream
