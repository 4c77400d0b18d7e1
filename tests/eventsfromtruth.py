"""Turn ground truth (one truck per row) into the events two edges of a lane would publish.

The queue edge watches the entry line and publishes `enter` with its own track ids; the gate edge
publishes `gate`, `weigh` and `exit` with other track ids. Both read plates, imperfectly:

- `confusion_rate`: a plate read has one OCR confusion, as the shared plate rules know them
  (`lanewatch.plates`: a digit read as a letter it looks like, 0→O/D/Q, 8→B…, or the reverse);
- `misread_rate`: a plate read has one character wrong outright (another digit or letter);
- `missing_plate_rate`: a camera reads no plate at all for the truck (`queue_missing_plate_rate`
  overrides it for the queue camera, whose plates are small);
- `jitter_frames`: every time is off by up to this many frames (`fps`), both clocks alike;
- `drop_rate`: a camera misses a truck's event entirely.

Delivery (`Stream.deliveries`: when each event reaches the central) is imperfect too:
`latency_s` of network and outbox delay, `duplicate_rate` of events delivered a second time
(QoS 1 redelivery), and an `outage` of one edge whose events then arrive late, as a backlog.

Every event knows its truck (`truth_of`), so tests can tell right joins from wrong ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from truthgen import Truck, parse

from lanewatch.contract import ClockState, EnterEvent, ExitEvent, GateEvent, LaneEvent, PlateRead, WeighEvent
from lanewatch.plates import TO_DIGIT, TO_LETTER

# What each character is misread as, from the shared plate rules' confusion tables.
CONFUSIONS = {ch: TO_LETTER.get(ch, "") + TO_DIGIT.get(ch, "") for ch in set(TO_LETTER) | set(TO_DIGIT)}
OTHERS = "0123456789ACDHKLMN"


@dataclass
class Knobs:
    confusion_rate: float = 0.05
    missing_plate_rate: float = 0.02
    jitter_frames: int = 1
    fps: float = 10.0
    drop_rate: float = 0.0
    seed: int = 7
    misread_rate: float = 0.0
    queue_missing_plate_rate: float | None = None
    latency_s: tuple[float, float] = (0.05, 1.5)
    duplicate_rate: float = 0.0
    outage: tuple[str, float, float] | None = None  # (edge, start, length) in seconds of the truth's UTC epoch


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
    deliveries: list[tuple[float, LaneEvent]] = field(default_factory=list)  # (UTC epoch it reaches the central, event)


def _uuid7_at(ms: int, counter: int, rng: random.Random) -> str:
    """A UUIDv7 for an event at `ms`, deterministic for a seed (ids need only be unique and well-formed)."""
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | (counter & 0xFFF) << 64 | 0b10 << 62 | rng.getrandbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _read(text: str, knobs: Knobs, rng: random.Random) -> str:
    if rng.random() < knobs.confusion_rate:
        spots = [i for i, ch in enumerate(text) if CONFUSIONS.get(ch)]
        if spots:
            i = rng.choice(spots)
            text = text[:i] + rng.choice(CONFUSIONS[text[i]]) + text[i + 1:]
    if knobs.misread_rate and rng.random() < knobs.misread_rate:
        i = rng.randrange(len(text))
        text = text[:i] + rng.choice(OTHERS.replace(text[i], "")) + text[i + 1:]
    return text


def _plates(truck: Truck, knobs: Knobs, rng: random.Random, missing: float | None = None) -> tuple[PlateRead, ...]:
    if rng.random() < (knobs.missing_plate_rate if missing is None else missing):
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
        queue_plates = _plates(truck, knobs, rng, knobs.queue_missing_plate_rate)
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
                    ts=datetime.fromtimestamp(ms / 1000, UTC), mono_ms=ms - int(clock.boot_ts * 1000),
                    clock=clock_state, track_id=track, plates=plates, **extra)
        stream.events.append(event)
        stream.truth_of[event.id] = truck.id
    stream.deliveries = _deliveries(stream.events, knobs, random.Random(knobs.seed + 1))
    return stream


def _deliveries(events: list[LaneEvent], knobs: Knobs, rng: random.Random) -> list[tuple[float, LaneEvent]]:
    """When each event reaches the central: after some latency; a few twice; one edge's late after an outage
    (its backlog then comes in order, quickly)."""
    out = []
    backlog = 0
    for e in events:  # in time order
        at = e.ts.timestamp() + rng.uniform(*knobs.latency_s)
        if knobs.outage is not None:
            edge, start, length = knobs.outage
            if e.edge == edge and start <= e.ts.timestamp() < start + length:
                backlog += 1
                at = start + length + 0.02 * backlog
        out.append((at, e))
        if rng.random() < knobs.duplicate_rate:
            out.append((at + rng.uniform(1, 90), e))
    return sorted(out, key=lambda d: d[0])
