"""From recogniser probabilities to plate candidates: CTC slots, format fitting, confidence."""

from __future__ import annotations

import numpy as np
import pytest

from edge.plates.decode import CONFUSION_CREDIT, candidates, fit_formats, line_slots
from edge.plates.ocr import ALPHABET, BLANK, N_COLUMNS, OTHER, SEPARATOR, _fold


def _probs(steps: list[dict[str, float]]) -> np.ndarray:
    """A (T, N_COLUMNS) matrix from per-step {char: p}; '_' is blank, '-' separator, '?' other;
    the rest of each row's mass goes to blank."""
    out = np.zeros((len(steps), N_COLUMNS), np.float32)
    for t, step in enumerate(steps):
        for ch, p in step.items():
            col = {"_": BLANK, "-": SEPARATOR, "?": OTHER}.get(ch)
            out[t, col if col is not None else ALPHABET.index(ch) + 1] += p
        out[t, BLANK] += 1 - out[t].sum()
    return out


def _line(text: str, p: float = 0.99) -> np.ndarray:
    """Each character for two steps, a blank between: how CTC spells a clear line."""
    steps: list[dict[str, float]] = []
    for ch in text:
        steps += [{ch: p}, {ch: p}, {"_": 1.0}]
    return _probs(steps)


def test_clear_line_reads_as_printed() -> None:
    slots = line_slots(_line("24C-123.45".replace(".", "-")))
    assert "".join(s.top for s in slots) == "24C12345"
    best = candidates([slots])[0]
    assert best.text == "24C12345" and best.format is not None and best.format.name == "vn_standard_5"
    assert best.confidence == pytest.approx(0.99**8, rel=1e-3)


def test_repeated_characters_need_a_blank_between() -> None:
    assert "".join(s.top for s in line_slots(_probs([{"8": 0.9}, {"8": 0.9}, {"8": 0.9}]))) == "8"
    assert "".join(s.top for s in line_slots(_probs([{"8": 0.9}, {"_": 1}, {"8": 0.9}]))) == "88"


def test_a_letter_where_a_digit_belongs_lends_its_probability() -> None:
    # 'B' read in the digit part of a VN plate: the format takes 8 at 70% of B's probability.
    probs = _line("24C12B45")
    best = candidates([line_slots(probs)])[0]
    assert best.text == "24C12845"
    assert best.confidence == pytest.approx(0.99**7 * 0.99 * CONFUSION_CREDIT, rel=1e-3)


def test_the_model_second_choice_wins_when_the_format_needs_it() -> None:
    steps = []
    for ch in "云G1234":
        steps += [{ch: 0.95}, {"_": 1.0}]
    steps += [{"5": 0.6, "挂": 0.3}, {"_": 1.0}]
    slots = line_slots(_probs(steps))
    texts = {c.text: c.confidence for c in candidates([slots])}
    assert texts["云G12345"] > texts["云G1234挂"] > 0


def test_a_missed_character_under_a_blank_can_be_recovered() -> None:
    steps = []
    for ch in "24C1234":
        steps += [{ch: 0.98}, {"_": 1.0}]
    steps.insert(8, {"9": 0.3})  # a faint 9 after "24C1" that lost to the blank
    slots = line_slots(_probs(steps))
    assert "".join(s.top for s in slots if not s.weak) == "24C1234"
    found = {c.text: c.confidence for c in candidates([slots])}
    assert "24C19234" in found and "24C1234" in found
    assert found["24C19234"] < found["24C1234"]  # the faint one costs confidence


def test_a_stray_end_slot_is_dropped_at_a_cost() -> None:
    found = {c.text: c.confidence for c in candidates([line_slots(_line("I24C12345"))])}
    assert 0 < found["24C12345"] < 0.99**8


def test_two_rows_are_read_top_first() -> None:
    best = candidates([line_slots(_line("24C")), line_slots(_line("123-45"))])[0]
    assert best.text == "24C12345"


def test_a_non_plate_character_is_kept_out_of_formats() -> None:
    slots = line_slots(_probs([{"?": 0.9}, {"_": 1}, *[s for ch in "G12345" for s in ({ch: 0.95}, {"_": 1.0})]]))
    assert slots[0].top == "?"
    best = candidates([slots])[0]
    assert not best.valid_format or best.confidence < 0.05


def test_empty_line_has_no_candidates() -> None:
    assert candidates([line_slots(np.zeros((0, N_COLUMNS), np.float32))]) == []
    assert fit_formats([]) == []


def test_fold_merges_case_and_width_variants_and_keeps_mass() -> None:
    dictionary = ["a", "A", "Ａ", "1", "-", "·", "云", "好", "I"]
    fold = _fold(dictionary)
    probs = np.random.default_rng(0).dirichlet(np.ones(len(dictionary) + 2), size=5).astype(np.float32)
    folded = fold(probs)
    assert folded.shape == (5, N_COLUMNS)
    assert np.allclose(folded.sum(axis=1), 1.0, atol=1e-5)
    a = ALPHABET.index("A") + 1
    assert np.allclose(folded[:, a], probs[:, 1] + probs[:, 2] + probs[:, 3])
    assert np.allclose(folded[:, SEPARATOR], probs[:, 5] + probs[:, 6] + probs[:, -1])  # '-', '·', trailing space
    assert np.allclose(folded[:, OTHER], probs[:, 8], atol=1e-5)  # 好
    assert np.allclose(folded[:, ALPHABET.index("I") + 1], probs[:, 9])
