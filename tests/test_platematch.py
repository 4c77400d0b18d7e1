"""The join distance: exactly the shared rules' plate distance wherever a join could depend on it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from central.platematch import join_distance
from lanewatch.plates import plate_distance

LIMIT = 1.25
# Plate-like strings: digits, the letters OCR confuses with them, a few others, a Chinese province.
CHARS = "0123456789OQDILZSGBTAACHKMN云挂"


@settings(max_examples=400)
@given(st.text(CHARS, min_size=1, max_size=9), st.text(CHARS, min_size=1, max_size=9))
def test_exact_within_the_limit_and_above_it_otherwise(a, b):
    _assert_agrees(a, b)


def _assert_agrees(a: str, b: str) -> None:
    exact = plate_distance(a, b)
    got = join_distance(LIMIT)(a, b)
    if exact <= LIMIT:
        assert got == exact
    else:
        assert got > LIMIT


@settings(max_examples=300)
@given(st.text("0123456789", min_size=8, max_size=8), st.lists(st.integers(0, 7), max_size=3), st.data())
def test_slips_of_one_plate_are_measured_exactly(digits, spots, data):
    """Reads of one plate with OCR confusions and an extra or missing character, the cases joins hinge on."""
    plate = "24C" + digits[:5]
    read = list(plate)
    swaps = {"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T", "8": "B"}
    for i in spots:
        read[i] = swaps.get(read[i], read[i])
    if data.draw(st.booleans()):
        del read[data.draw(st.integers(0, len(read) - 1))]
    _assert_agrees(plate, "".join(read))


def test_normalises_like_the_shared_rules():
    assert join_distance(LIMIT)("24c-123.45", "24C12345") == 0.0
    assert join_distance(LIMIT)("24C12345", "24C1234S") == 0.25
