"""Plate rules: normalising, formats, country, confusion correction, candidate choice, distance."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanewatch.plates import (
    FORMATS,
    TO_LETTER,
    best_candidate,
    corrections,
    country_of,
    is_valid,
    normalise,
    plate_distance,
    plate_format,
)


@pytest.mark.parametrize(
    "rows, expected",
    [
        (("24C-123.45",), "24C12345"),
        (("24c 123.45",), "24C12345"),
        (("24C", "123.45"), "24C12345"),
        (("云G·12345",), "云G12345"),
        (("云 G", "1234挂"), "云G1234挂"),
        (("２４Ｃ－１２３．４５",), "24C12345"),  # full-width OCR output
        (("29LĐ-123.45",), "29LD12345"),
        (("  皖A • D22939 ",), "皖AD22939"),
        (("",), ""),
    ],
)
def test_normalise(rows: tuple[str, ...], expected: str) -> None:
    assert normalise(*rows) == expected


@pytest.mark.parametrize(
    "text, name, country, kind",
    [
        ("24C12345", "vn_standard_5", "VN", "standard"),
        ("24C-123.45", "vn_standard_5", "VN", "standard"),
        ("29Z1452", "vn_standard_4", "VN", "standard"),
        ("21H00001", "vn_standard_5", "VN", "standard"),
        ("29LD12345", "vn_special_LD_5", "VN", "special"),
        ("30KT1234", "vn_special_KT_4", "VN", "special"),
        ("80NG12345", "vn_special_NG_5", "VN", "special"),
        ("24R00123", "vn_trailer_5", "VN", "trailer"),
        ("12R1234", "vn_trailer_4", "VN", "trailer"),
        ("云G12345", "cn_standard", "CN", "standard"),
        ("皖A0T999", "cn_standard", "CN", "standard"),
        ("京PL3N67", "cn_standard", "CN", "standard"),
        ("云G1234挂", "cn_trailer", "CN", "trailer"),
        ("云AD12345", "cn_new_energy_small", "CN", "new_energy"),
        ("沪AF71017", "cn_new_energy_small", "CN", "new_energy"),
        ("云A12345D", "cn_new_energy_large", "CN", "new_energy"),
    ],
)
def test_valid_formats(text: str, name: str, country: str, kind: str) -> None:
    fmt = plate_format(text)
    assert fmt is not None and (fmt.name, fmt.country, fmt.kind) == (name, country, kind)
    assert is_valid(text)
    assert country_of(text) == country


@pytest.mark.parametrize(
    "text, why",
    [
        ("24I12345", "I is never a VN series"),
        ("24W12345", "W is never a VN series"),
        ("24O12345", "O is never a VN series"),
        ("04C12345", "VN province codes start at 1"),
        ("24C123", "too few digits"),
        ("24C123456", "too many digits"),
        ("24LL12345", "LL is no special series"),
        ("云I12345", "I is never a CN letter"),
        ("云G1234O", "O is never issued in CN"),
        ("A云G12345", "province first"),
        ("港G12345", "not a mainland province"),
        ("云G12345挂", "trailer plates carry four characters before 挂"),
        ("云AX12345", "new-energy small plates carry D or F third"),
        ("云A12345X", "new-energy large plates end in D or F"),
        ("KIA", "scene text"),
        ("", "empty"),
    ],
)
def test_invalid_formats(text: str, why: str) -> None:
    assert plate_format(text) is None, why
    assert not is_valid(text)


@pytest.mark.parametrize(
    "text, country",
    [("24C12", "VN"), ("云G12", "CN"), ("KIA", None), ("", None), ("1", None)],
)
def test_country_of_invalid_reads_guesses_from_the_start(text: str, country: str | None) -> None:
    assert country_of(text) == country


@pytest.mark.parametrize(
    "read, expected, changes",
    [
        ("29A-O18.6l", "29A01861", 2),  # O→0 and l→1 where digits belong
        ("24C-I23.4S", "24C12345", 2),
        ("Z4C12345", "24C12345", 1),
        ("2AC12345", "24C12345", 1),  # A→4 in the province code
        ("24812345", "24B12345", 1),  # 8→B where the series letter belongs
        ("240-123.45", "24D12345", 1),  # 0→D: O and Q are no VN series
        ("皖A·OT999", "皖A0T999", 1),  # O is never issued in CN
        ("云6I2345", "云G12345", 2),
        ("云GI2345", "云G12345", 1),
        ("云G1Z345", "云G1Z345", 0),  # Z is a valid CN character: no change
        ("24C12345", "24C12345", 0),
    ],
)
def test_position_aware_correction(read: str, expected: str, changes: int) -> None:
    fits = corrections(read)
    assert fits, f"{read} should fit a format"
    assert (fits[0].text, fits[0].corrections) == (expected, changes)
    assert plate_format(fits[0].text) == fits[0].format


@pytest.mark.parametrize("read", ["24C12#45", "hello", "", "24C", "云G1234567890"])
def test_uncorrectable_reads_fit_nothing(read: str) -> None:
    assert corrections(read) == []


@pytest.mark.parametrize(
    "candidates, text, valid",
    [
        ([("KIA", 0.99), ("51G-971.62", 0.8)], "51G97162", True),  # the valid one, though less confident
        ([("24C12345", 0.5), ("24C12845", 0.8)], "24C12845", True),
        ([("24C12345", 0.9), ("24C-I2345", 0.95)], "24C12345", True),  # 0.95·0.85 < 0.9
        ([("KIA", 0.99), ("FORD", 0.7)], "KIA", False),
        ([("", 0.99)], None, False),
        ([], None, False),
    ],
)
def test_best_candidate(candidates: list[tuple[str, float]], text: str | None, valid: bool) -> None:
    choice = best_candidate(candidates)
    assert (choice.text if choice else None) == text
    if choice is not None:
        assert choice.valid_format is valid


def test_best_candidate_scores_corrections_lower() -> None:
    exact = best_candidate([("24C12345", 0.8)])
    fixed = best_candidate([("24C-I2345", 0.8)])
    assert exact is not None and fixed is not None
    assert fixed.text == exact.text and fixed.score < exact.score and fixed.corrections == 1
    assert fixed.country == "VN"


@pytest.mark.parametrize(
    "a, b, distance",
    [
        ("24C12345", "24C12345", 0.0),
        ("24C-123.45", "24C12345", 0.0),
        ("24C12345", "24C1234S", 0.25),
        ("29A01861", "29AO1861", 0.25),
        ("29A01861", "29AD1861", 0.5),
        ("24B12345", "24812345", 0.25),
        ("24C12345", "24C1234", 1.0),
        ("云G12345", "G12345", 1.0),
        ("云G12345", "云G12346", 1.0),
        ("24C12345", "云G12345", 3.0),
        ("", "24C", 3.0),
    ],
)
def test_plate_distance(a: str, b: str, distance: float) -> None:
    assert plate_distance(a, b) == pytest.approx(distance)
    assert plate_distance(b, a) == pytest.approx(distance)


def test_distance_between_confusables_is_closed_over_chains() -> None:
    # O→0 costs 0.25 and 0→D 0.5, so O→D may cost no more than 0.75 (else no metric).
    assert plate_distance("O", "D") == pytest.approx(0.75)


# ------------------------------------------------------------------ properties
plate_chars = st.sampled_from(sorted(set("".join("".join(f.slots) for f in FORMATS)) | set("IO-. ·")))
reads = st.text(plate_chars, max_size=10)


@st.composite
def valid_plates(draw: st.DrawFn) -> str:
    fmt = draw(st.sampled_from(FORMATS))
    return "".join(draw(st.sampled_from(sorted(slot))) for slot in fmt.slots)


@given(valid_plates())
def test_every_generated_plate_matches_exactly_one_format(text: str) -> None:
    assert sum(fmt.matches(text) for fmt in FORMATS) == 1
    fits = corrections(text)
    assert fits[0].text == text and fits[0].corrections == 0


@given(valid_plates(), st.data())
def test_a_digit_misread_as_its_lookalike_letter_is_recovered(text: str, data: st.DataObject) -> None:
    fmt = plate_format(text)
    assert fmt is not None
    # Only where the slot forbids the letter: in a CN slot taking both, a read D stays a D.
    spots = [(i, c) for i, ch in enumerate(text) for c in TO_LETTER.get(ch, "") if c not in fmt.slots[i]]
    if not spots:
        return
    i, letter = data.draw(st.sampled_from(spots))
    misread = text[:i] + letter + text[i + 1 :]
    assert text in {fit.text for fit in corrections(misread)}


@given(reads)
def test_normalise_is_idempotent(text: str) -> None:
    assert normalise(normalise(text)) == normalise(text)


@settings(max_examples=300)
@given(reads, reads, reads)
def test_plate_distance_is_a_metric(a: str, b: str, c: str) -> None:
    ab, ba = plate_distance(a, b), plate_distance(b, a)
    assert ab == pytest.approx(ba)
    assert (ab == 0) == (normalise(a) == normalise(b))
    assert plate_distance(a, c) <= ab + plate_distance(b, c) + 1e-9


@given(reads, reads)
def test_plate_distance_is_bounded_by_plain_edit_distance(a: str, b: str) -> None:
    assert plate_distance(a, b) <= max(len(normalise(a)), len(normalise(b)))
