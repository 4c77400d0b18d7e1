"""Crossing assembly, pure: how arrivals and passages join, what stays unmatched, and invariants."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from functools import lru_cache

import pytest
from eventsfromtruth import Knobs, events_from_truth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from truthgen import DAY, busy_day

from central.assembly import SAME_PLATE_MAX, AssemblyParams, LaneBook, Obs, Plate, assemble
from lanewatch.plates import plate_distance

P = AssemblyParams(window_s=7200, max_distance=SAME_PLATE_MAX, margin=0.5, duplicate_s=60, fifo_max_block=4,
                   fifo_max_distance=1.0, settle_s=300)
T0 = 1_800_000_000.0
_ids = itertools.count(1)
distance = plate_distance


def cached(fn):
    return lru_cache(maxsize=20_000)(fn)


def ev(type_: str, t: float, edge: str, track: int | None, plate: str | None = None, role: str = "vehicle",
       mono_offset: float = 0.0, weight: float | None = None) -> Obs:
    n = next(_ids)
    return Obs(id=f"e{n:06d}", type=type_, edge=edge, seq=n, ts=T0 + t, mono_ms=int((t + mono_offset) * 1000) + 10**9,
               track_id=track, plates=(Plate(plate, role, "VN"),) if plate else (), weight_kg=weight)


def truck(t_enter: float, t_gate: float, plate_q: str | None, plate_g: str | None, qt: int, gt: int,
          processing: float = 90.0) -> list[Obs]:
    return [ev("enter", t_enter, "queue1", qt, plate_q), ev("gate", t_gate, "gate1", gt, plate_g),
            ev("weigh", t_gate + 20, "gate1", gt, plate_g, weight=30000.0),
            ev("exit", t_gate + processing, "gate1", gt, plate_g)]


def run(events: list[Obs], now: float):
    return assemble(events, T0 + now, P, distance)


def test_same_edge_joins_by_track_and_measures_on_the_monotonic_clock():
    events = [ev("enter", 0, "cam", 5), ev("gate", 300, "cam", 5), ev("exit", 400, "cam", 5)]
    events[1] = replace(events[1], ts=events[1].ts + 30)  # the wall clock stepped; the monotonic clock did not
    (c,) = run(events, 500).crossings
    assert (c.status, c.method) == ("complete", "track")
    assert c.wait_s == pytest.approx(300.0) and c.crossing_s == pytest.approx(400.0)


def test_two_edges_join_by_plate_despite_an_ocr_slip():
    events = truck(0, 600, "24C12345", "24C1234S", qt=1, gt=77)
    (c,) = run(events, 1000).crossings
    assert (c.status, c.method, c.plate_distance) == ("complete", "plate", 0.25)  # 5/S: a classic confusion
    assert c.wait_s == pytest.approx(600) and c.processing_s == pytest.approx(90) and c.crossing_s == pytest.approx(690)
    assert c.weight_kg == 30000.0 and set(c.event_ids) == {e.id for e in events}


@pytest.mark.parametrize("queue_read, gate_read", [
    ("24C10885", "24CI0B8S"),  # three classic confusions (1/I, 8/B, 5/S): 0.75
    ("24C10885", "24CL0885"),  # a looser one (1/L, 0.5)
    ("云G12345", "云GI2345"),
])
def test_reads_within_the_threshold_join_by_plate(queue_read, gate_read):
    assert plate_distance(queue_read, gate_read) <= SAME_PLATE_MAX
    (c,) = run(truck(0, 600, queue_read, gate_read, qt=1, gt=77), 1000).crossings
    assert (c.status, c.method) == ("complete", "plate")


@pytest.mark.parametrize("queue_read, gate_read", [
    ("24C12345", "24C12346"),  # fleet neighbours, one digit apart: 1.0
    ("24C10885", "24CI0B8SS"),  # four slips (one an extra character) is another truck
    ("24C12345", "24C1Z3AS"),  # 2/Z, 4/A, 5/S: 0.25 + 0.5 + 0.25 = 1.0
])
def test_reads_beyond_the_threshold_do_not_join(queue_read, gate_read):
    d = plate_distance(queue_read, gate_read)
    assert d > SAME_PLATE_MAX
    crossings = run(truck(0, 600, queue_read, gate_read, qt=1, gt=77), 1000).crossings
    assert all(c.method in (None, "fifo") for c in crossings)  # never by plate
    if d > P.fifo_max_distance:  # more than one character off contradicts queue order too
        assert all(c.method is None for c in crossings)
    else:  # one character read wrong outright: the lone pair is joined by order, the plates not vouching
        assert [c.method for c in crossings] == ["fifo"]


def test_one_wrong_character_does_not_stop_queue_order_between_plate_matches():
    events = (truck(0, 300, "24C11111", "24C11111", 1, 1) + truck(60, 420, "24C22222", "24C22282", 2, 2)
              + truck(120, 540, "24C33333", "24C33333", 3, 3))
    crossings = run(events, 2000).crossings
    assert [c.method for c in crossings] == ["plate", "fifo", "plate"]
    assert crossings[1].plate_distance == 1.0 and crossings[1].wait_s == pytest.approx(360)


def test_fleet_neighbours_each_join_their_own_passage_despite_slips():
    events = (truck(0, 300, "24C12345", "24CI2345", 1, 1) + truck(60, 420, "24C12346", "24C1234G", 2, 2))
    crossings = run(events, 2000).crossings
    assert [c.method for c in crossings] == ["plate", "plate"]
    for c in crossings:
        reads = {e.plates[0].text for e in events if e.id in c.event_ids}
        assert reads in ({"24C12345", "24CI2345"}, {"24C12346", "24C1234G"})


@given(st.text("0123456789", min_size=5, max_size=5), st.integers(0, 4), st.data())
def test_threshold_separates_ocr_slips_from_other_plates(digits, spot, data):
    """With the shared rules: up to three classic confusions stay within `SAME_PLATE_MAX`; a plate
    differing in one digit (a fleet neighbour), or anything beyond, does not."""
    plate = "24C" + digits
    other = str((int(digits[spot]) + data.draw(st.integers(1, 9))) % 10)
    neighbour = plate[:3 + spot] + other + plate[4 + spot:]
    assert plate_distance(plate, neighbour) > SAME_PLATE_MAX
    classic = {"0": "O", "8": "B", "1": "I", "5": "S", "2": "Z", "6": "G"}
    spots = [i for i, ch in enumerate(plate) if ch in classic]
    slipped = plate
    for i in data.draw(st.lists(st.sampled_from(spots), max_size=3, unique=True)) if spots else []:
        slipped = slipped[:i] + classic[slipped[i]] + slipped[i + 1:]
    assert plate_distance(plate, slipped) <= SAME_PLATE_MAX


def test_ambiguous_plates_are_not_guessed_when_order_cannot_decide():
    # Two trucks with the same plate read in the queue; one passage: which one? Left unmatched.
    events = [ev("enter", 0, "queue1", 1, "24C12345"), ev("enter", 400, "queue1", 2, "24C12345"),
              ev("gate", 900, "gate1", 9, "24C12345"), ev("exit", 990, "gate1", 9, "24C12345")]
    crossings = run(events, 1000).crossings
    assert all(c.method is None for c in crossings)
    assert sorted(c.status for c in crossings) == ["partial", "waiting", "waiting"]


def test_queue_order_pairs_a_truck_without_a_plate_between_two_plate_matches():
    events = (truck(0, 300, "24C11111", "24C11111", 1, 1) + truck(60, 420, None, "29H22222", 2, 2)
              + truck(120, 540, "24C33333", "24C33333", 3, 3))
    crossings = run(events, 2000).crossings
    assert [c.method for c in crossings] == ["plate", "fifo", "plate"]
    assert crossings[1].plate == "29H22222" and crossings[1].wait_s == pytest.approx(360)


def test_a_lane_without_entry_plates_pairs_by_queue_order_while_trucks_still_wait():
    # The queue camera reads no plates: the two trucks that reached the gate are the two oldest.
    events = (truck(0, 300, None, "24C11111", 1, 1) + truck(60, 420, None, "29H22222", 2, 2)
              + [ev("enter", 120, "queue1", 3, None), ev("enter", 200, "queue1", 4, None)])
    result = run(events, 450)  # a busy lane: never five quiet minutes to settle
    joined = [c for c in result.crossings if c.method is not None]
    assert [(c.method, c.plate, c.wait_s) for c in joined] == [("fifo", "24C11111", 300), ("fifo", "29H22222", 360)]
    assert result.waiting == 2
    assert sorted(c.status for c in result.crossings if c.method is None) == ["waiting", "waiting"]


def test_queue_order_is_refused_when_a_plate_contradicts_it():
    # The middle truck left the queue; the passage between is someone the queue camera read differently.
    events = (truck(0, 300, "24C11111", "24C11111", 1, 1) + truck(60, 420, "24C22222", "29H99999", 2, 2)
              + truck(120, 540, "24C33333", "24C33333", 3, 3))
    crossings = run(events, 2000).crossings
    assert sorted(c.method or "-" for c in crossings) == ["-", "-", "plate", "plate"]


def test_queue_order_is_refused_when_counts_disagree():
    # One truck left the queue unseen: two arrivals, one passage between two plate matches.
    events = (truck(0, 300, "24C11111", "24C11111", 1, 1) + [ev("enter", 30, "queue1", 9, None)]
              + truck(60, 420, None, "29H22222", 2, 2) + truck(120, 540, "24C33333", "24C33333", 3, 3))
    result = run(events, 2000)
    assert sorted(c.method or "-" for c in result.crossings) == ["-", "-", "-", "plate", "plate"]


def test_enter_without_gate_becomes_lost_after_the_window_and_leaves_the_queue():
    events = [ev("enter", 0, "queue1", 1, "24C11111")]
    assert run(events, 100).waiting == 1
    later = run(events, 7201)
    assert later.waiting == 0 and later.crossings[0].status == "lost"


def test_skipped_truck_leaves_the_queue_count_as_soon_as_a_later_truck_reaches_the_gate():
    events = [ev("enter", 0, "queue1", 1, "24C11111")] + truck(60, 400, "24C22222", "24C22222", 2, 2) + \
        [ev("enter", 120, "queue1", 3, "24C33333")]
    result = run(events, 600)
    assert result.waiting == 1  # the truck behind; the skipped one no longer counts
    assert {c.status for c in result.crossings if c.method is None} == {"waiting"}


def test_queue_and_processing_counts_follow_gate_and_exit():
    events = [ev("enter", 0, "queue1", 1, "24C11111"), ev("enter", 10, "queue1", 2, "24C22222"),
              ev("gate", 100, "gate1", 1, "24C11111")]
    result = run(events, 150)
    assert (result.waiting, result.processing) == (1, 1)
    result = run(events + [ev("exit", 200, "gate1", 1, "24C11111")], 250)
    assert (result.waiting, result.processing) == (1, 0)


def test_exit_not_seen_stops_counting_once_a_later_truck_leaves():
    events = truck(0, 100, "24C11111", "24C11111", 1, 1)[:3] + truck(10, 300, "24C22222", "24C22222", 2, 2)
    result = run(events, 500)
    assert result.processing == 0
    first = next(c for c in result.crossings if c.plate == "24C11111")
    assert first.status == "partial" and "later truck left first" in first.note


def test_broken_queue_track_is_one_truck():
    events = [ev("enter", 0, "queue1", 1, "24C11111"), ev("enter", 4, "queue1", 2, "24C11111")] + \
        truck(9999, 300, None, "24C11111", 9, 3)[1:]
    result = run(events, 500)
    (c,) = result.crossings
    assert c.method == "plate" and c.enter_ts == T0 and len(c.event_ids) == 5


def test_tractor_and_trailer_plates_are_not_compared_with_each_other():
    events = [ev("enter", 0, "queue1", 1, "24R00123", role="trailer"),
              ev("gate", 300, "gate1", 4, "24C55555", role="tractor"),
              ev("exit", 400, "gate1", 4, "24C55555", role="tractor")]
    result = run(events, 1000)
    # Nothing comparable: no plate join, but no contradiction either — a lone pair is joined by order once settled.
    assert [c.method for c in result.crossings] == ["fifo"]


def test_untracked_weight_goes_to_the_truck_on_the_weighbridge():
    events = truck(0, 100, "24C11111", "24C11111", 1, 1)
    events[2] = replace(ev("weigh", 130, "gate1", None, weight=41000.0), seq=events[2].seq)  # between gate and exit
    (c,) = run(events, 1000).crossings
    assert c.weight_kg == 41000.0 and c.status == "complete" and "given by time" in c.note


def test_two_trucks_on_the_deck_leave_an_untracked_weight_unjoined_and_shown():
    """No track id, no plate, and two trucks between gate and exit: the weight is kept on a row of its
    own, flagged, instead of going silently to one of them."""
    events = [ev("enter", 0, "queue1", 1, "24C11111"), ev("enter", 10, "queue1", 2, "24C22222"),
              ev("gate", 100, "gate1", 1, "24C11111"), ev("gate", 150, "gate1", 2, "24C22222"),
              ev("weigh", 160, "gate1", None, weight=41000.0),
              ev("exit", 200, "gate1", 1, "24C11111"), ev("exit", 260, "gate1", 2, "24C22222")]
    result = run(events, 1000)
    trucks = [c for c in result.crossings if c.plate is not None]
    assert [(c.plate, c.status, c.weight_kg) for c in trucks] == [("24C11111", "complete", None),
                                                                 ("24C22222", "complete", None)]
    (loose,) = [c for c in result.crossings if c.plate is None]
    assert (loose.status, loose.method, loose.weight_kg) == ("partial", None, 41000.0)
    assert loose.note == "weight without a truck: 2 trucks stood between gate and exit"
    assert (result.waiting, result.processing) == (0, 0)  # the loose weight is no truck in the queue


def test_a_backward_wall_clock_step_on_an_edge_splits_and_reorders_nothing():
    """The gate edge's wall clock steps back an hour between a truck's gate and its weight (NTP after an
    outage, an operator): its own order (seq) and monotonic clock keep the passage whole."""
    step = -3600.0
    enter = ev("enter", 0, "queue1", 1, "24C12345")
    gate = ev("gate", 600, "gate1", 7, "24C12345")
    weigh = replace(ev("weigh", 620, "gate1", 7, "24C12345", weight=30000.0), ts=T0 + 620 + step)
    exit_ = replace(ev("exit", 690, "gate1", 7, "24C12345"), ts=T0 + 690 + step)
    (c,) = run([enter, gate, weigh, exit_], 1000).crossings
    assert (c.status, c.method, c.weight_kg) == ("complete", "plate", 30000.0)
    assert c.wait_s == pytest.approx(600) and c.processing_s == pytest.approx(90)

    # One camera watching the whole lane, the step between enter and gate: still one truck, by track.
    enter = ev("enter", 0, "cam", 3)
    gate = replace(ev("gate", 300, "cam", 3), ts=T0 + 300 + step)
    exit_ = replace(ev("exit", 400, "cam", 3), ts=T0 + 400 + step)
    (c,) = run([enter, gate, exit_], 1000).crossings
    assert (c.status, c.method) == ("complete", "track") and c.crossing_s == pytest.approx(400)

    # An untracked weight taken after the step still finds the one truck on the deck.
    gate = ev("gate", 100, "gate1", 8, "24C99999")
    weigh = replace(ev("weigh", 130, "gate1", None, weight=12000.0), ts=T0 + 130 + step)
    exit_ = replace(ev("exit", 200, "gate1", 8, "24C99999"), ts=T0 + 200 + step)
    (c,) = [c for c in run([ev("enter", 0, "queue1", 4, "24C99999"), gate, weigh, exit_], 1000).crossings]
    assert (c.status, c.weight_kg, c.processing_s) == ("complete", 12000.0, pytest.approx(100))


def test_book_takes_late_events_and_refuses_those_too_old():
    book = LaneBook(P, distance)
    first = truck(0, 300, "24C11111", "24C11111", 1, 1)
    assert book.add(first[:1], T0 + 100) == []
    book.assemble(T0 + 100)
    assert book.add(first[1:], T0 + 400) == []  # the gate side arrives late, still within the book
    result, changed, removed = book.assemble(T0 + 400)
    assert [c.method for c in result.crossings] == ["plate"] and removed == []
    book.prune(T0 + 20_000)
    assert book.events == {} and book.start == T0 + 20_000 - P.window_s - P.settle_s
    assert book.add([ev("exit", 10_000, "gate1", 3)], T0 + 20_000) != []


# ------------------------------------------------------------------ invariants over generated days
def _day(seed: int, knobs: Knobs, renege: float = 0.0, hours: int = 6):
    trucks = busy_day(DAY, seed=seed, renege_rate=renege, hourly=[30, 45, 50, 40, 20, 10][:hours] + [0] * (24 - hours))
    stream = events_from_truth(trucks, "laocai", "out-1", knobs)
    return trucks, stream, [Obs.from_event(e) for e in stream.events]


def _feed(book: LaneBook, obs: list[Obs], step_s: float, end: float) -> dict:
    crossings: dict = {}
    i, now = 0, obs[0].ts
    while now <= end:
        batch = []
        while i < len(obs) and obs[i].ts <= now:
            batch.append(obs[i])
            i += 1
        assert book.add(batch, now) == []
        result, changed, removed = book.assemble(now)
        assert result.waiting >= 0 and result.processing >= 0
        crossings.update((c.key, c) for c in changed)
        for k in removed:
            crossings.pop(k)
        book.prune(now)
        now += step_s
    return crossings


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), confusion=st.floats(0, 0.3), missing=st.floats(0, 0.2),
       drop=st.floats(0, 0.05), renege=st.floats(0, 0.3))
def test_every_event_in_exactly_one_crossing_and_every_join_in_time_order(seed, confusion, missing, drop, renege):
    trucks, stream, obs = _day(seed, Knobs(confusion, missing, 1, 10.0, drop, seed), renege, hours=2)
    if not obs:
        return
    crossings = _feed(LaneBook(P, cached(distance)), obs, 300, obs[-1].ts + 3 * 3600)
    seen = [e for c in crossings.values() for e in c.event_ids]
    assert sorted(seen) == sorted(o.id for o in obs)
    for c in crossings.values():
        if c.enter_ts is not None and c.gate_ts is not None:
            assert c.enter_ts <= c.gate_ts <= c.enter_ts + P.window_s
        assert c.status in ("complete", "lost", "partial")  # hours later, every crossing is settled


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_order_of_events_in_the_input_does_not_matter(seed):
    _, _, obs = _day(seed, Knobs(0.1, 0.05, 1, 10.0, 0.02, seed), hours=2)
    shuffled = obs[:]
    random.Random(seed).shuffle(shuffled)
    now = obs[-1].ts + 60
    d = cached(distance)
    assert assemble(obs, now, P, d) == assemble(shuffled, now, P, d)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_perfect_reads_assemble_every_truck_rightly(seed):
    trucks, stream, obs = _day(seed, Knobs(0, 0, 0, 10.0, 0, seed), hours=3)
    crossings = _feed(LaneBook(P, cached(distance)), obs, 300, obs[-1].ts + 3 * 3600)
    done = [c for c in crossings.values() if c.status == "complete"]
    assert len(done) == len(trucks)
    assert all(stream.truth_of[c.event_ids[0]] == stream.truth_of[c.event_ids[-1]] for c in done)


def test_backlog_replay_costs_one_refusal_and_keeps_the_book_small():
    """An edge delivering six hours of backlog at once: after the first (too old) batch is rebuilt,
    later batches fit, and pruning follows the replay instead of the wall clock."""
    _, _, obs = _day(21, Knobs(0.05, 0.02, 1, 10.0, 0, 21), hours=6)
    now = obs[-1].ts + 3600  # the link came back an hour after the last event
    book = LaneBook(P, cached(distance), start=now - P.window_s - P.settle_s)
    batches = [obs[i:i + 40] for i in range(0, len(obs), 40)]
    refused = book.add(batches[0], now)
    assert refused  # older than anything the book can still join: the caller rebuilds it
    rebuilt = LaneBook(P, book.distance, start=min(o.ts for o in refused) - 2 * P.window_s)
    rebuilt.frontier = book.frontier
    rebuilt.load(batches[0])
    sizes = []
    for batch in batches[1:]:
        assert rebuilt.add(batch, now) == []
        rebuilt.assemble(now)
        rebuilt.prune(now)
        sizes.append(len(rebuilt.events))
    span = max(o.ts for o in rebuilt.events.values()) - min(o.ts for o in rebuilt.events.values())
    assert span <= P.window_s + P.settle_s + 3600  # about the window behind the replay, never the whole backlog
    assert max(sizes) < len(obs) / 2


def _reads(*plates: tuple[str, str, float]) -> tuple[Plate, ...]:
    return tuple(Plate(text, role, "VN", conf) for text, role, conf in plates)


def test_tractor_trailer_keeps_both_plates_and_pairs_by_the_tractor():
    events = truck(0, 600, "24C12345", None, qt=1, gt=7)
    events[0] = replace(events[0], plates=_reads(("24C12345", "vehicle", 0.45)))
    for i in (1, 2, 3):  # the gate edge's reads: front (tractor) and rear (trailer)
        events[i] = replace(events[i], plates=_reads(("24C12345", "tractor", 0.9), ("24R00123", "trailer", 0.42)))
    (c,) = run(events, 1000).crossings
    assert (c.status, c.method, c.plate_distance) == ("complete", "plate", 0.0)
    assert (c.plate, c.plate_country, c.plate_confidence) == ("24C12345", "VN", 0.9)  # the best read of that text
    assert (c.trailer_plate, c.trailer_country, c.trailer_confidence) == ("24R00123", "VN", 0.42)


def test_a_trailer_plate_never_pairs_a_truck_even_when_it_reads_like_a_front_plate():
    # Passage 1 read only a trailer plate, whose text equals truck B's front plate: no evidence for B.
    a = ev("enter", 0, "queue1", 1, "24C11111")
    b = ev("enter", 60, "queue1", 2, "24C22222")
    p1 = [replace(ev(kind, 300 + dt, "gate1", 5), plates=_reads(("24C22222", "trailer", 0.95)))
          for kind, dt in (("gate", 0), ("exit", 90))]
    result = run([a, b, *p1], 330)  # too soon to pair by order: only plates could join now
    assert all(c.method is None for c in result.crossings)
    passage = next(c for c in result.crossings if c.gate_ts is not None)
    assert (passage.plate, passage.trailer_plate) == (None, "24C22222")


def test_trailer_reads_do_not_merge_two_arrivals():
    # Two enters sharing only a (misread) trailer-role plate within the duplicate window stay two trucks.
    rear = ("24R00001", "trailer", 0.9)
    e1 = replace(ev("enter", 0, "queue1", 1), plates=_reads(("24C11111", "tractor", 0.9), rear))
    e2 = replace(ev("enter", 10, "queue1", 2), plates=_reads(("24C22222", "tractor", 0.9), rear))
    assert len(run([e1, e2], 60).crossings) == 2
