"""Per-edge sequence numbers: gaps found, late fills close them, restarts reported."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from central.sequences import EdgeSequence, SequenceTracker


def test_gap_then_late_fills_close_it():
    s = EdgeSequence("laocai", "gate1")
    assert [s.observe(n, n) for n in (1, 2, 3)] == ["next"] * 3
    assert s.observe(7, 7) == "gap" and s.gaps == [(4, 6)] and s.missing == 3
    assert s.observe(5, 5) == "fill" and s.gaps == [(4, 4), (6, 6)] and s.missing == 2
    assert s.observe(4, 4) == "fill" and s.observe(6, 6) == "fill"
    assert s.gaps == [] and s.missing == 0 and s.received == 7


def test_restart_from_one_is_a_reset_and_an_old_number_is_a_repeat():
    s = EdgeSequence("laocai", "gate1")
    for n in range(1, 11):
        s.observe(n, 100 + n)
    assert s.observe(3, 105) == "repeat"
    assert s.observe(1, 500) == "reset" and s.max_seq == 1 and s.resets == 1 and s.missing == 0


def test_state_survives_a_round_trip_through_its_row():
    s = EdgeSequence("laocai", "gate1")
    for n in (1, 2, 5, 9):
        s.observe(n, n)
    back = SequenceTracker([s.row(0.0)]).edges[("laocai", "gate1")]
    assert (back.max_seq, back.gaps, back.missing, back.received) == (9, [(3, 4), (6, 8)], 5, 4)


@given(st.integers(1, 300), st.integers(0, 2**32), st.floats(0, 0.5))
def test_any_delivery_order_ends_with_exactly_the_undelivered_numbers_missing(n, seed, lost_share):
    rng = random.Random(seed)
    numbers = list(range(1, n + 1))
    delivered = [x for x in numbers if rng.random() >= lost_share] or [n]
    order = sorted(delivered, key=lambda x: x + rng.uniform(-20, 20))  # late, out of order
    s = EdgeSequence("laocai", "gate1")
    for x in order:
        s.observe(x, float(x))
    expected_missing = set(range(1, max(delivered) + 1)) - set(delivered)
    assert s.missing == len(expected_missing)
    assert {x for a, b in s.gaps for x in range(a, b + 1)} == expected_missing
