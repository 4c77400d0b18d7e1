"""The plate reader on labelled synthetic sets shaped like real photo sets (tests/plate_sets.py).

What the development photos lack and held-out photos may hold: two-row plates as tight crops and
squashed into 94×24 boxes, whole vehicle photos with other text and angled plates, close-ups. Seed 7 is used
only here (tuning used seeds 1 and 2); thresholds sit a little below what the reader achieves.
"""

from __future__ import annotations

import pytest
from plate_sets import plate_set

from edge.plates.reader import PlateReader, PlateReaderConfig

SEED = 7


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(PlateReaderConfig(threads=2))


@pytest.mark.parametrize(
    "name, n, min_exact",
    [
        ("crops_94x24", 16, 15),
        ("two_row_crops", 16, 14),
        ("two_row_94x24", 12, 8),
        ("photos", 8, 7),
        ("closeups", 8, 7),
    ],
)
def test_sets_are_read_and_never_confidently_wrong(reader: PlateReader, name: str, n: int, min_exact: int) -> None:
    items = plate_set(name, SEED, n)
    results = [(item, reader.read_plate(item.image)) for item in items]
    exact = [item.text for item, r in results if r.accepted and r.text == item.text]
    wrong = [(item.text, r.text, r.confidence) for item, r in results if r.accepted and r.text != item.text]
    misses = [(item.text, r.text, r.confidence) for item, r in results if not (r.accepted and r.text == item.text)]
    assert len(exact) >= min_exact, misses
    assert len(wrong) <= 1, wrong
    for item, r in results:
        if r.accepted and r.text == item.text:
            assert r.country == item.country
            assert r.rows == item.rows, (item.text, r.rows)


def test_squashed_two_row_crops_are_read_row_by_row(reader: PlateReader) -> None:
    """A VN two-row plate resized to 94×24 reads top row first, not just its big bottom row."""
    items = [item for item in plate_set("two_row_94x24", SEED + 1, 10) if item.country == "VN"]
    read = [reader.read_plate(item.image) for item in items]
    assert sum(r.accepted and r.text == item.text for item, r in zip(items, read, strict=True)) >= len(items) - 1
    assert all(r.rows == 2 for item, r in zip(items, read, strict=True) if r.text == item.text)
