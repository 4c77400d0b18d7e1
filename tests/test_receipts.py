"""Receipts: the central's runs of stored seqs, and the message that carries them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from central.receipts import SeqRuns
from lanewatch import contract
from lanewatch.contract import Receipt


@given(st.lists(st.integers(min_value=1, max_value=300), max_size=400))
def test_runs_hold_exactly_the_seqs_added(seqs):
    runs = SeqRuns()
    seen: set[int] = set()
    for s in seqs:
        assert runs.add(s) == (s not in seen)
        seen.add(s)
    covered = [s for a, b in runs.runs for s in range(a, b + 1)]
    assert covered == sorted(seen)  # sorted, disjoint, nothing extra
    assert all(b + 1 < a2 for (_, b), (a2, _) in zip(runs.runs, runs.runs[1:], strict=False))  # never two touching runs
    top = max(seen, default=0)
    missing = {s for a, b in runs.missing(limit=10**6) for s in range(a, b + 1)}
    assert missing == set(range(1, top + 1)) - seen
    contiguous = next((s - 1 for s in range(1, top + 2) if s not in seen), 0)
    assert runs.contiguous == contiguous and runs.max_seq == top
    # What the central would publish is a valid receipt.
    Receipt(site="laocai", edge="gate1", ts=datetime.now(UTC),
            contiguous_seq=runs.contiguous, max_seq=runs.max_seq, missing=tuple(runs.missing()), interval_s=5)


@pytest.mark.parametrize("fields, error", [
    ({"contiguous_seq": 5, "max_seq": 4}, "contiguous_seq 5 must be <= max_seq 4"),
    ({"contiguous_seq": 5, "max_seq": 9, "missing": [[5, 6]]}, "must lie between contiguous_seq and max_seq"),
    ({"contiguous_seq": 5, "max_seq": 9, "missing": [[7, 9]]}, "must lie between contiguous_seq and max_seq"),
])
def test_inconsistent_receipts_are_rejected(fields, error):
    payload = json.dumps({"v": 1, "site": "laocai", "edge": "gate1", "ts": "2026-11-30T01:00:00.000Z",
                                   "interval_s": 5, **fields}).encode()
    with pytest.raises(contract.Rejected, match=error):
        contract.decode_receipt(contract.receipt_topic("laocai", "gate1"), payload)


def test_receipt_topic_names_its_edge():
    assert contract.parse_topic(contract.receipt_topic("laocai", "gate1")) == ("receipt", "laocai", None, "gate1")
    good = Receipt(site="laocai", edge="gate1", ts=datetime.now(UTC), contiguous_seq=3,
                   max_seq=3, interval_s=5)
    with pytest.raises(contract.Rejected, match="published on topic"):
        contract.decode_receipt(contract.receipt_topic("laocai", "gate2"), contract.encode(good))
