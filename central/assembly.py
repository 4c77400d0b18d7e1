"""Crossing assembly: a lane's events become crossings, one per truck. Pure logic, no I/O.

A lane has a queue camera (entry line: `enter`) and a gate camera (gate line, weighbridge, exit
line: `gate`, `weigh`, `exit`), possibly on two edges with their own track ids. An *arrival* is a
truck's enter; a *passage* is one gate-camera track's gate/weigh/exit events. A crossing joins
an arrival to a passage, in this order of trust:

1. `track` — both on the same edge with the same track id (one camera watches the whole lane).
2. `plate` — the plate reads are close (OCR confusions cost little, `lanewatch.plates.plate_distance`)
   and each is the other's clearly best choice: no rival within `margin`.
3. `plate_fifo` / `fifo` — order: a border lane is first in, first out. The matches of steps
   1–2 that keep queue order form a skeleton; between two skeleton matches the unmatched arrivals
   and passages are paired in order, but only when their counts agree (nobody left the queue,
   no event was missed), the block is small, and no plate read contradicts a pair (one character
   read wrong outright, up to `fifo_max_distance`, is an OCR error, not a contradiction). `plate_fifo`
   says the plates also agree (a tie the order broke); `fifo` says a read was missing or one character off.
   A lane whose entry reads no plates at all (its queue camera cannot) has only order: there each
   passage since the last match takes the oldest arrival in turn (`fifo`).

Anything else stays unmatched rather than guessed: an arrival with no passage after the window
is `lost`, a passage with no arrival is `partial`. The whole book is recomputed whenever events
arrive, so a late event (a filled sequence gap) can still change a decision.

Queue length follows the same order: trucks that entered after the most recent skeleton match
(the last truck known to have reached the gate in queue order), minus trucks that passed the gate
since and are not matched yet. Trucks skipped in queue order (they left, or passed unseen) drop
out of the count at once instead of lingering until the window ends.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from lanewatch.contract import LaneEvent

Method = Literal["track", "plate", "plate_fifo", "fifo"]
Status = Literal["waiting", "processing", "complete", "lost", "partial"]
GATE_SIDE = ("gate", "weigh", "exit")

PlateDistance = Callable[[str, str], float]
"""Distance between two normalised plate texts: 0 for equal plates, about 1 per differing character
(`lanewatch.plates.plate_distance`, where OCR confusions cost less)."""

SAME_PLATE_MAX = 0.75
"""The largest `plate_distance` that still means "the same plate": up to three classic OCR confusions
(0/O, 8/B… at 0.25 each) or a looser one with a classic one, but below one full substitution (1.0),
so fleet plates one digit apart never join."""


@dataclass(frozen=True, slots=True)
class Plate:
    text: str
    role: str  # vehicle, tractor or trailer (lanewatch.contract.PlateRead)
    country: str | None
    confidence: float | None = None


@dataclass(frozen=True, slots=True)
class Obs:
    """One event as assembly sees it; times in UTC epoch seconds."""

    id: str
    type: str
    edge: str
    seq: int
    ts: float
    mono_ms: int
    track_id: int | None
    plates: tuple[Plate, ...] = ()
    synced: bool = True
    weight_kg: float | None = None

    @classmethod
    def from_event(cls, event: LaneEvent) -> Obs:
        return cls(
            id=event.id, type=event.type, edge=event.edge, seq=event.seq, ts=event.ts.timestamp(),
            mono_ms=event.mono_ms, track_id=event.track_id,
            plates=tuple(Plate(p.text, p.role, p.country, p.confidence) for p in event.plates),
            synced=event.clock.synced, weight_kg=getattr(event, "weight_kg", None),
        )

    @classmethod
    def from_payload(cls, payload: str) -> Obs:
        """From a stored payload, which was validated by the contract when it arrived."""
        d = json.loads(payload)
        return cls(
            id=d["id"], type=d["type"], edge=d["edge"], seq=d["seq"],
            ts=datetime.fromisoformat(d["ts"]).timestamp(), mono_ms=d["mono_ms"], track_id=d.get("track_id"),
            plates=tuple(Plate(p["text"], p.get("role", "vehicle"), p.get("country"), p.get("confidence"))
                         for p in d.get("plates", ())),
            synced=d["clock"]["synced"], weight_kg=d.get("weight_kg"),
        )


@dataclass(frozen=True)
class AssemblyParams:
    """Assembly settings in seconds; see `central.config.AssemblySettings` for their meaning."""

    window_s: float = 7200.0
    max_distance: float = SAME_PLATE_MAX
    margin: float = 0.5
    duplicate_s: float = 60.0
    fifo_max_block: int = 4
    fifo_max_distance: float = 1.0
    settle_s: float = 300.0


@dataclass(frozen=True)
class Crossing:
    """One truck's passage through the lane, as far as it is known now."""

    key: str  # id of the crossing's first event: stable while the crossing grows
    status: Status
    method: Method | None
    plate_distance: float | None
    plate: str | None  # the vehicle's plate, or the tractor's of a tractor-trailer
    plate_country: str | None
    enter_ts: float | None
    gate_ts: float | None
    weigh_ts: float | None
    exit_ts: float | None
    weight_kg: float | None
    wait_s: float | None
    processing_s: float | None
    crossing_s: float | None
    start_ts: float
    last_ts: float
    enter_event: str | None
    gate_event: str | None
    weigh_event: str | None
    exit_event: str | None
    event_ids: tuple[str, ...]
    edges: tuple[str, ...]
    clock_synced: bool
    note: str | None = None
    plate_confidence: float | None = None  # the best confidence among the reads of `plate`
    trailer_plate: str | None = None  # a tractor-trailer's rear plate (VN R series, CN 挂)
    trailer_country: str | None = None
    trailer_confidence: float | None = None


@dataclass(frozen=True)
class Assembly:
    crossings: list[Crossing]
    waiting: int  # queue length: entered, not yet through the gate, not skipped or lost
    processing: int  # through the gate, not yet out, within the window


# ------------------------------------------------------------------ building blocks
@dataclass(eq=False)
class _Arrival:
    enters: list[Obs]
    passage: _Passage | None = None
    method: Method | None = None
    distance: float | None = None
    reads: str = ""  # all plate reads as one string: the distance cache's key (strings keep their hash)

    @property
    def ts(self) -> float:
        return self.enters[0].ts

    def plates(self) -> list[Plate]:
        return [p for e in self.enters for p in e.plates]

    def front_plates(self) -> list[Plate]:
        return [p for p in self.plates() if p.role != "trailer"]


@dataclass(eq=False)
class _Passage:
    events: list[Obs] = field(default_factory=list)
    arrival: _Arrival | None = None
    later_exit: Obs | None = None  # exit of a truck that took the gate after this one, same edge
    reads: str = ""
    weigh_note: str | None = None  # how an untracked weight was placed (or why it was not)
    t: float = 0.0  # the anchor's time, set once the passage is complete (read often by the matching)

    @property
    def gate(self) -> Obs | None:
        return next((e for e in self.events if e.type == "gate"), None)

    @property
    def exit(self) -> Obs | None:
        return next((e for e in self.events if e.type == "exit"), None)

    @property
    def weigh(self) -> Obs | None:
        return next((e for e in self.events if e.type == "weigh"), None)

    @property
    def anchor(self) -> Obs:
        """When the truck left the queue: its gate event, else its first event."""
        gate = self.gate
        return gate if gate is not None else self.events[0]

    def plates(self) -> list[Plate]:
        # The latest event carries the track's best reads so far: look at it first.
        return [p for e in reversed(self.events) for p in e.plates]

    def front_plates(self) -> list[Plate]:
        return [p for p in self.plates() if p.role != "trailer"]


def _compatible(a: Plate, b: Plate) -> bool:
    """Trucks are paired by the vehicle's or tractor's plate only. A trailer changes tractors between trips
    and only a rear camera (at the gate, never at the entry) reads it: it is no evidence of which arrival a
    passage is, and a trailer's plate read against a front plate would compare two different plates."""
    return a.role != "trailer" and b.role != "trailer"


def plates_distance(a: Sequence[Plate], b: Sequence[Plate], distance: PlateDistance) -> float | None:
    """Smallest distance between comparable reads (front plates); None when nothing can be compared."""
    best: float | None = None
    for pa in a:
        for pb in b:
            if _compatible(pa, pb):
                d = 0.0 if pa.text == pb.text else distance(pa.text, pb.text)
                if best is None or d < best:
                    best = d
    return best


def _arrivals(enters: list[Obs], params: AssemblyParams) -> list[_Arrival]:
    """One arrival per truck: a second enter of the same track, or of the same plate shortly after,
    is a broken track of the same truck."""
    out: list[_Arrival] = []
    by_track: dict[tuple[str, int], _Arrival] = {}
    recent: list[_Arrival] = []
    for e in sorted(enters, key=lambda o: (o.ts, o.id)):
        same = None
        if e.track_id is not None:
            prior = by_track.get((e.edge, e.track_id))
            if prior is not None and abs(_duration(prior.enters[-1], e)) <= params.window_s:
                same = prior
        texts = {p.text for p in e.plates if p.role != "trailer"}
        if same is None and texts:
            recent = [a for a in recent if e.ts - a.enters[-1].ts <= params.duplicate_s]
            same = next((a for a in recent if texts & {p.text for p in a.front_plates()}), None)
        if same is not None:
            same.enters.append(e)
        else:
            same = _Arrival([e])
            out.append(same)
            recent.append(same)
        if e.track_id is not None:
            by_track[(e.edge, e.track_id)] = same
    return out


def _edge_order(o: Obs) -> tuple[str, int, str]:
    """An edge's own order of its events: the sequence numbers its outbox gives them as they happen,
    which a step of the edge's wall clock cannot reorder. Wall time orders events across edges only."""
    return (o.edge, o.seq, o.id)


def _follows(a: Obs, b: Obs, within_s: float) -> bool:
    """b happened after a, at most `within_s` later: by the edge's own order and clock when both come
    from one edge, by UTC across edges."""
    if a.edge == b.edge:
        return a.seq < b.seq and _duration(a, b) <= within_s
    return a.ts <= b.ts <= a.ts + within_s


def _passages(events: list[Obs], params: AssemblyParams) -> tuple[list[_Passage], list[_Passage]]:
    """Group gate-side events by the gate camera's track, in each edge's own order; returns the
    passages and the weights that could be given to no truck (each a passage of its own, outside queue order)."""
    out: list[_Passage] = []
    open_by_track: dict[tuple[str, int], _Passage] = {}
    untracked_weighs: list[Obs] = []
    for e in sorted(events, key=_edge_order):
        if e.track_id is None:
            if e.type == "weigh":
                untracked_weighs.append(e)
            else:
                out.append(_Passage([e]))
            continue
        key = (e.edge, e.track_id)
        current = open_by_track.get(key)
        stale = current is not None and (not _follows(current.events[-1], e, params.window_s) or
                                          (current.exit is not None and e.type != "exit"))
        if current is None or stale:
            current = _Passage()
            open_by_track[key] = current
            out.append(current)
        current.events.append(e)
    # Trucks leave the weighbridge in gate order: a truck that took the gate later and has left means
    # this one has gone too, seen or not.
    by_edge: dict[str, list[_Passage]] = {}
    for p in out:
        by_edge.setdefault(p.events[0].edge, []).append(p)
    for on_edge in by_edge.values():
        on_edge.sort(key=lambda p: _edge_order(p.anchor))
        later: Obs | None = None
        for p in reversed(on_edge):
            p.later_exit = later
            exit_ = p.exit
            if exit_ is not None and p.gate is not None and (later is None or exit_.seq < later.seq):
                later = exit_
    loose = [miss for w in untracked_weighs if (miss := _place_weight(w, by_edge.get(w.edge, []), params))]
    for p in out:
        p.t = p.anchor.ts
    out.sort(key=lambda p: (p.t, p.events[0].id))
    return out, [_Passage([w], weigh_note=note, t=w.ts) for w, note in loose]


def _place_weight(w: Obs, passages: list[_Passage], params: AssemblyParams) -> tuple[Obs, str] | None:
    """Give a weight without a track id to the truck on the weighbridge when exactly one truck stood
    between gate and exit on its edge when it was taken; else leave it unjoined and say why (returned).
    Such a weight carries no plate: the time is the only evidence, and two trucks on the deck leave a guess."""
    on_deck = []
    for p in passages:
        gate, exit_ = p.gate, p.exit
        if gate is None or not _follows(gate, w, params.window_s):
            continue
        if exit_ is not None:
            if w.seq < exit_.seq:
                on_deck.append(p)
        elif p.later_exit is None or w.seq < p.later_exit.seq:
            on_deck.append(p)
    if len(on_deck) == 1:
        host = on_deck[0]
        host.events.append(w)
        host.events.sort(key=_edge_order)
        host.weigh_note = "weight without a track id, given by time: the only truck between gate and exit"
        return None
    if not on_deck:
        return w, "weight without a truck: none stood between gate and exit"
    return w, f"weight without a truck: {len(on_deck)} trucks stood between gate and exit"


def _join(arrival: _Arrival, passage: _Passage, method: Method, distance: float | None) -> None:
    arrival.passage, passage.arrival = passage, arrival
    arrival.method, arrival.distance = method, distance


def _match_tracks(arrivals: list[_Arrival], passages: list[_Passage], params: AssemblyParams) -> None:
    by_track: dict[tuple[str, int], list[_Arrival]] = {}
    for a in arrivals:
        for e in a.enters:
            if e.track_id is not None:
                by_track.setdefault((e.edge, e.track_id), []).append(a)
    for p in passages:
        first = p.events[0]
        if first.track_id is None:
            continue
        options = [a for a in by_track.get((first.edge, first.track_id), [])
                   if a.passage is None and _follows(a.enters[0], p.anchor, params.window_s)]
        if options:
            _join(max(options, key=lambda a: _edge_order(a.enters[0])), p, "track", None)


PairCache = dict[str, dict[str, "float | None"]]  # passage reads -> arrival reads -> distance


def _reads_key(plates: Sequence[Plate]) -> str:
    # Strings cache their hash: the pair cache is looked up thousands of times per recompute.
    return "\n".join(f"{p.text}\t{p.role}" for p in plates)


class _Distances:
    """Plate distance between an arrival's and a passage's reads, remembered across recomputes."""

    def __init__(self, distance: PlateDistance, cache: PairCache):
        self.distance = distance
        self.cache = cache

    def row(self, p: _Passage) -> dict[str, float | None]:
        return self.cache.setdefault(p.reads, {})

    def between(self, a: _Arrival, p: _Passage) -> float | None:
        if not a.reads or not p.reads:
            return None
        row = self.row(p)
        d = row.get(a.reads, -1.0)
        if d == -1.0:
            d = row[a.reads] = plates_distance(a.front_plates(), p.front_plates(), self.distance)
        return d


def _match_plates(arrivals: list[_Arrival], passages: list[_Passage], params: AssemblyParams,
                  distances: _Distances) -> None:
    """Join the mutual clear best plate matches."""
    times = [a.ts for a in arrivals]
    limit = params.max_distance + params.margin  # farther pairs can be neither a match nor a rival
    best_for_a: dict[int, list[tuple[float, int]]] = {}
    best_for_p: dict[int, list[tuple[float, int]]] = {}
    reads_a = [a.reads for a in arrivals]
    for pi, p in enumerate(passages):
        if not p.reads:
            continue
        row = distances.row(p)
        lo = bisect.bisect_left(times, p.t - params.window_s)
        hi = bisect.bisect_right(times, p.t)
        for ai in range(lo, hi):
            reads = reads_a[ai]
            if not reads:
                continue
            d = row.get(reads, -1.0)
            if d == -1.0:
                d = distances.between(arrivals[ai], p)
            if d is not None and d < limit:
                best_for_a.setdefault(ai, []).append((d, pi))
                best_for_p.setdefault(pi, []).append((d, ai))

    def clear_best(options: list[tuple[float, int]] | None) -> tuple[float, int] | None:
        if not options:
            return None
        options.sort()
        d, other = options[0]
        if d > params.max_distance or (len(options) > 1 and options[1][0] < d + params.margin):
            return None
        return d, other

    for pi, p in enumerate(passages):
        if p.arrival is not None:
            continue
        mine = clear_best([o for o in best_for_p.get(pi, []) if arrivals[o[1]].passage is None])
        if mine is None:
            continue
        d, ai = mine
        theirs = clear_best([o for o in best_for_a.get(ai, []) if passages[o[1]].arrival is None])
        if theirs is not None and theirs[1] == pi:
            _join(arrivals[ai], p, "plate", d)


def _skeleton(arrivals: list[_Arrival]) -> list[_Arrival]:
    """The longest run of matches that keeps queue order (longest increasing subsequence)."""
    matched = sorted((a for a in arrivals if a.passage is not None), key=lambda a: a.passage.t)  # type: ignore[union-attr]
    tails: list[float] = []
    tail_idx: list[int] = []
    prev: list[int] = [-1] * len(matched)
    for i, a in enumerate(matched):
        k = bisect.bisect_left(tails, a.ts)
        if k == len(tails):
            tails.append(a.ts)
            tail_idx.append(i)
        else:
            tails[k], tail_idx[k] = a.ts, i
        prev[i] = tail_idx[k - 1] if k > 0 else -1
    chain: list[_Arrival] = []
    i = tail_idx[-1] if tail_idx else -1
    while i >= 0:
        chain.append(matched[i])
        i = prev[i]
    return chain[::-1]


def _fill_blocks(arrivals: list[_Arrival], passages: list[_Passage], skeleton: list[_Arrival],
                 distances: _Distances, params: AssemblyParams, now: float) -> tuple[int, int]:
    """Pair unmatched trucks by queue order between skeleton matches; returns the trailing block's
    (unmatched arrivals, unmatched passages) for the queue length."""
    bounds = [(-math.inf, -math.inf)] + [(a.ts, a.passage.t) for a in skeleton] + [(math.inf, math.inf)]  # type: ignore[union-attr]
    free_a = [a for a in arrivals if a.passage is None]
    free_p = [p for p in passages if p.arrival is None]
    fa_ts = [a.ts for a in free_a]
    fp_t = [p.t for p in free_p]
    trailing = (0, 0)
    for k in range(len(bounds) - 1):
        (a_lo, p_lo), (a_hi, p_hi) = bounds[k], bounds[k + 1]
        block_a = free_a[bisect.bisect_right(fa_ts, a_lo):bisect.bisect_left(fa_ts, a_hi)]
        block_p = free_p[bisect.bisect_right(fp_t, p_lo):bisect.bisect_left(fp_t, p_hi)]
        last = k == len(bounds) - 2
        if last:
            live = [a for a in block_a if now - a.ts <= params.window_s]
            trailing = (len(live), len(block_p))
            if block_p and not any(a.reads for a in block_a):
                _pair_in_order(block_a, block_p, params)
                trailing = (sum(1 for a in live if a.passage is None), sum(1 for p in block_p if p.arrival is None))
                continue
            latest = max([a.ts for a in block_a] + [e.ts for p in block_p for e in p.events], default=-math.inf)
            if now - latest < params.settle_s:
                continue  # the queue may still be moving: wait for the next plate match
        if not block_a or len(block_a) != len(block_p) or len(block_a) > params.fifo_max_block:
            continue
        pairs = list(zip(block_a, block_p, strict=True))
        if not all(_follows(a.enters[0], p.anchor, params.window_s) for a, p in pairs):
            continue
        ds = [distances.between(a, p) for a, p in pairs]
        if any(d is not None and d > params.fifo_max_distance for d in ds):
            continue  # a plate contradicts the order: something unseen happened here
        rivals_closer = any(
            (other := distances.between(b, p)) is not None and d is not None and other + params.margin <= d
            for (_, p), d in zip(pairs, ds, strict=True) for b in block_a
        )
        if rivals_closer:
            continue
        for (a, p), d in zip(pairs, ds, strict=True):
            _join(a, p, "plate_fifo" if d is not None and d <= params.max_distance else "fifo", d)
        if last:
            trailing = (0, 0)
    return trailing


def _pair_in_order(block_a: list[_Arrival], block_p: list[_Passage], params: AssemblyParams) -> None:
    """A lane whose entry reads no plates (no plate camera there): queue order is the only evidence.
    Each passage takes the oldest arrival that can still be its truck; the newest arrivals are the
    ones still waiting. Nothing waits for a settled queue, since no plate will come to confirm it,
    and a later plate match or late event recomputes the whole book anyway."""
    arrivals = iter(block_a)
    for p in block_p:
        # Arrivals too old for this passage are lost; one after it means the order is broken here.
        a = next((a for a in arrivals if _follows(a.enters[0], p.anchor, params.window_s) or a.ts > p.t), None)
        if a is None or not _follows(a.enters[0], p.anchor, params.window_s):
            return
        _join(a, p, "fifo", None)


# ------------------------------------------------------------------ durations and records
def _duration(a: Obs, b: Obs) -> float:
    """Seconds from a to b: the monotonic clock on one edge, UTC across edges."""
    if a.edge == b.edge and b.mono_ms >= a.mono_ms:
        return (b.mono_ms - a.mono_ms) / 1000.0
    return b.ts - a.ts


def _best_plate(plates: Iterable[Plate], trailer: bool) -> tuple[Plate, float | None] | None:
    """The first read (best first) of the front plate, or of the trailer's; with the highest confidence
    any read of that same text had (two cameras agreeing at 0.9 and 0.45 make a sure plate)."""
    plates = [p for p in plates if (p.role == "trailer") == trailer]
    if not plates:
        return None
    best = plates[0]
    known = [p.confidence for p in plates if p.text == best.text and p.confidence is not None]
    return best, max(known) if known else None


def _in_processing(passage: _Passage, passages: list[_Passage], params: AssemblyParams, now: float) -> bool:
    """Through the gate, not out yet: no exit seen, within the window, and no truck that took the
    gate later on the same edge has left already (trucks leave the weighbridge in gate order)."""
    return passage.exit is None and passage.gate is not None and now - passage.t <= params.window_s \
        and passage.later_exit is None


def _record(arrival: _Arrival | None, passage: _Passage | None, params: AssemblyParams, now: float) -> Crossing:
    events: list[Obs] = (arrival.enters if arrival else []) + (passage.events if passage else [])
    enter = arrival.enters[0] if arrival else None
    gate = passage.gate if passage else None
    weigh = passage.weigh if passage else None
    exit_ = passage.exit if passage else None
    wait = _duration(enter, gate) if enter and gate else None
    processing = _duration(gate, exit_) if gate and exit_ else None
    crossing: float | None
    if wait is not None and processing is not None:
        crossing = wait + processing
    else:
        crossing = _duration(enter, exit_) if enter and exit_ else None
    note = None
    if passage is not None and passage.events == [weigh] and passage.weigh_note is not None:
        status: Status = "partial"  # a weight no truck could be given: kept, and shown as such
    elif passage is None:
        assert arrival is not None
        status = "waiting" if now - arrival.ts <= params.window_s else "lost"
        if status == "lost":
            note = "no gate passage within the window"
    elif exit_ is None:
        status = "processing" if now - passage.t <= params.window_s and passage.later_exit is None else "partial"
        if status == "partial":
            note = "exit not seen" + (" (a later truck left first)" if passage.later_exit is not None else "")
    elif arrival is None:
        status, note = "partial", "no matching enter"
    else:
        status = "complete"
    if passage is not None and passage.weigh_note is not None:
        note = passage.weigh_note if note is None else f"{note}; {passage.weigh_note}"
    reads = (passage.plates() if passage else []) + (arrival.plates() if arrival else [])
    front, rear = _best_plate(reads, trailer=False), _best_plate(reads, trailer=True)
    return Crossing(
        key=(arrival.enters[0] if arrival else events[0]).id,
        status=status,
        method=arrival.method if arrival and passage else None,
        plate_distance=arrival.distance if arrival and passage else None,
        plate=front[0].text if front else None,
        plate_country=front[0].country if front else None,
        plate_confidence=front[1] if front else None,
        trailer_plate=rear[0].text if rear else None,
        trailer_country=rear[0].country if rear else None,
        trailer_confidence=rear[1] if rear else None,
        enter_ts=enter.ts if enter else None,
        gate_ts=gate.ts if gate else None,
        weigh_ts=weigh.ts if weigh else None,
        exit_ts=exit_.ts if exit_ else None,
        weight_kg=weigh.weight_kg if weigh else None,
        wait_s=wait, processing_s=processing, crossing_s=crossing,
        start_ts=min(e.ts for e in events),
        last_ts=max(e.ts for e in events),
        enter_event=enter.id if enter else None,
        gate_event=gate.id if gate else None,
        weigh_event=weigh.id if weigh else None,
        exit_event=exit_.id if exit_ else None,
        event_ids=tuple(e.id for e in events),
        edges=tuple(sorted({e.edge for e in events})),
        clock_synced=all(e.synced for e in events),
        note=note,
    )


def assemble(events: Iterable[Obs], now: float, params: AssemblyParams, distance: PlateDistance,
             cache: PairCache | None = None) -> Assembly:
    """Crossings of one lane from its events, as known at `now` (UTC epoch seconds). `cache` keeps
    plate distances between calls (a lane is reassembled often, mostly from the same reads)."""
    events = list(events)
    arrivals = _arrivals([e for e in events if e.type == "enter"], params)
    passages, loose_weights = _passages([e for e in events if e.type in GATE_SIDE], params)
    for a in arrivals:
        a.reads = _reads_key(a.front_plates())
    for p in passages:
        p.reads = _reads_key(p.front_plates())
    _match_tracks(arrivals, passages, params)
    distances = _Distances(distance, {} if cache is None else cache)
    _match_plates(arrivals, passages, params, distances)
    _fill_blocks(arrivals, passages, _skeleton(arrivals), distances, params, now)
    # Once order has placed some trucks, a plate that had two equal candidates may have one left.
    _match_plates(arrivals, passages, params, distances)
    waiting_a, waiting_p = _fill_blocks(arrivals, passages, _skeleton(arrivals), distances, params, now)
    crossings = [_record(a, a.passage, params, now) for a in arrivals]
    crossings += [_record(None, p, params, now) for p in passages if p.arrival is None]
    crossings += [_record(None, p, params, now) for p in loose_weights]
    crossings.sort(key=lambda c: (c.start_ts, c.key))
    processing = sum(1 for p in passages if _in_processing(p, passages, params, now))
    return Assembly(crossings, waiting=max(0, waiting_a - waiting_p), processing=processing)


FRONTIER_MEMORY_S = 600.0  # an edge silent this long (wall clock) is caught up or gone: pruning stops waiting


class LaneBook:
    """One lane's recent events and their crossings, recomputed as events arrive.

    Crossings whose every event is older than `window + settle` can no longer change: `prune`
    hands them over as final and forgets their events. Every event of the lane at or after
    `start` is in the book (or in a crossing finalised before it). An event that could have
    joined something already pruned is refused by `add`: the caller rebuilds the book from the
    store from earlier on. Pruning follows each edge's frontier (the newest event time it has
    delivered), not only the wall clock: while an edge replays its backlog after an outage, the
    book keeps the `window + settle` behind where the replay has got to — a backlog costs one
    rebuild and stays as cheap per truck as live traffic.
    """

    def __init__(self, params: AssemblyParams, distance: PlateDistance, start: float = -math.inf,
                 known: Iterable[str] = ()):
        self.params = params
        self.distance = distance
        self.start = start
        self.events: dict[str, Obs] = {}
        # What the caller holds for this book, by key; None: held, content unknown (rewrite it).
        self.output: dict[str, Crossing | None] = dict.fromkeys(known)
        self.last: Assembly | None = None
        self.pair_cache: PairCache = {}
        # edge -> (wall-clock time it last delivered, newest event time it has delivered)
        self.frontier: dict[str, tuple[float, float]] = {}

    @property
    def keep_s(self) -> float:
        return self.params.window_s + self.params.settle_s

    def add(self, events: Iterable[Obs], now: float) -> list[Obs]:
        """Add events (known ids are ignored); returns the ones too old for this book, not added."""
        too_old = []
        for e in events:
            seen = self.frontier.get(e.edge)
            self.frontier[e.edge] = (now, e.ts if seen is None else max(seen[1], e.ts))
            if e.ts < self.start + self.params.window_s:
                too_old.append(e)
            else:
                self.events.setdefault(e.id, e)
        return too_old

    def load(self, events: Iterable[Obs]) -> None:
        """Add events from the store when (re)building the book from `start`: none is too old."""
        for e in events:
            self.events.setdefault(e.id, e)

    def assemble(self, now: float) -> tuple[Assembly, list[Crossing], list[str]]:
        """Recompute; returns the assembly, the crossings that changed and the keys that vanished."""
        # The cache's rows are passages in the order first seen: let the oldest go with the book's past.
        for _ in range(len(self.pair_cache) - max(200, len(self.events) // 2)):
            del self.pair_cache[next(iter(self.pair_cache))]
        result = assemble(self.events.values(), now, self.params, self.distance, self.pair_cache)
        fresh = {c.key: c for c in result.crossings}
        changed = [c for k, c in fresh.items() if self.output.get(k, False) != c]
        removed = [k for k in self.output if k not in fresh]
        self.output = dict(fresh)
        self.last = result
        return result, changed, removed

    def prune(self, now: float) -> list[Crossing]:
        """Forget the crossings that can no longer change (assemble at `now` first); returns them."""
        delivering = [newest for seen, newest in self.frontier.values() if now - seen <= FRONTIER_MEMORY_S]
        cut = min([now, *delivering]) - self.keep_s
        final = [c for c in (self.last.crossings if self.last else []) if c.last_ts < cut]
        for c in final:
            for event_id in c.event_ids:
                self.events.pop(event_id, None)
            self.output.pop(c.key, None)
        self.start = max(self.start, cut)
        return final
