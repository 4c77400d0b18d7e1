"""From recogniser probabilities to plate candidates, fitted to the plate formats by position.

Greedy CTC decoding gives one character slot per run of the same non-blank class. Instead of
trusting each slot's top class, every format of the right length picks, for each slot, the
likeliest character that the format allows there; a confusable character (B for 8, O for 0)
lends part of its probability to its counterpart. This is the position-aware correction of
`lanewatch.plates` done with the model's own probabilities rather than on the final string.

Slots that are only hinted at (a character whose probability peaks under a blank) may be added,
and a stray slot at either end (a plate bolt or border read as `1`) may be dropped; both cost
confidence.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from lanewatch.plates import FORMATS, FORMATS_BY_LENGTH, PLATE_CHARS, TO_DIGIT, TO_LETTER, PlateFormat, plate_format

from .ocr import ALPHABET, BLANK, OTHER, SEPARATOR

CONFUSION_CREDIT = 0.7  # share of a confusable character's probability lent to its counterpart
WEAK_PEAK = 0.15  # a character this likely under a blank may be a missed slot
MAX_WEAK = 3
END_DROP_PENALTY = 0.8  # per stray slot dropped at an end of a row
_EPS = 1e-6


@dataclass(frozen=True)
class Slot:
    """One character position of a read line: evidence for each alphabet character."""

    scores: np.ndarray  # (len(ALPHABET),)
    top: str  # the greedy character ("?" for a non-plate class)
    weak: bool = False


@dataclass(frozen=True)
class Candidate:
    """A plate reading: text, confidence in [0, 1], and the format it fits (None: no format)."""

    text: str
    confidence: float
    format: PlateFormat | None

    @property
    def valid_format(self) -> bool:
        return self.format is not None


def _confusion_matrix() -> np.ndarray:
    index = {ch: i for i, ch in enumerate(ALPHABET)}
    credit = np.eye(len(ALPHABET), dtype=np.float32)
    pairs = [(a, d) for a, d in TO_DIGIT.items()] + [(d, a) for d, letters in TO_LETTER.items() for a in letters]
    for src, dst in pairs:
        credit[index[src], index[dst]] = max(credit[index[src], index[dst]], CONFUSION_CREDIT)
    return credit


_CREDIT = _confusion_matrix()


def _never_issued() -> np.ndarray:
    """(len(ALPHABET), len(ALPHABET)) map moving I and O, which no VN or CN plate carries, wholly
    onto the digits they always stand for; every other character stays itself."""
    index = {ch: i for i, ch in enumerate(ALPHABET)}
    fold = np.eye(len(ALPHABET), dtype=np.float32)
    for letter, digit in (("I", "1"), ("O", "0")):
        assert letter not in PLATE_CHARS
        fold[index[letter], index[letter]] = 0.0
        fold[index[letter], index[digit]] = 1.0
    return fold


_NEVER_ISSUED = _never_issued()


def _format_masks() -> dict[str, np.ndarray]:
    index = {ch: i for i, ch in enumerate(ALPHABET)}
    masks = {}
    for fmt in FORMATS:
        mask = np.zeros((len(fmt), len(ALPHABET)), bool)
        for j, slot in enumerate(fmt.slots):
            mask[j, [index[ch] for ch in slot]] = True
        masks[fmt.name] = mask
    return masks


_MASKS = _format_masks()


def line_slots(probs: np.ndarray) -> list[Slot]:
    """Character slots of one recognised line (separators dropped), in reading order."""
    if len(probs) == 0:
        return []
    labels = probs.argmax(axis=1)
    chars = probs[:, 1 : 1 + len(ALPHABET)]
    slots: list[tuple[int, Slot]] = []
    t, steps = 0, len(labels)
    while t < steps:
        label = labels[t]
        end = t
        while end + 1 < steps and labels[end + 1] == label:
            end += 1
        if label == BLANK:
            slots.extend(_weak_slots(chars, t, end))
        elif label != SEPARATOR:
            # Widen by a blank neighbour each side: alternatives sometimes peak one step off.
            lo = t - 1 if t > 0 and labels[t - 1] == BLANK else t
            hi = end + 1 if end + 1 < steps and labels[end + 1] == BLANK else end
            top = "?" if label == OTHER else ALPHABET[label - 1]
            slots.append((t, Slot(chars[lo : hi + 1].max(axis=0), top)))
        t = end + 1
    return [slot for _, slot in sorted(slots, key=lambda item: item[0])]


def _weak_slots(chars: np.ndarray, start: int, end: int) -> list[tuple[int, Slot]]:
    peak_t = start + int(chars[start : end + 1].max(axis=1).argmax())
    scores = chars[peak_t]
    if scores.max() < WEAK_PEAK:
        return []
    return [(peak_t, Slot(scores, ALPHABET[int(scores.argmax())], weak=True))]


def fit_formats(slots: list[Slot], penalty: float = 1.0) -> list[Candidate]:
    """Each format of the slots' length, filled with the likeliest allowed character per slot."""
    formats = FORMATS_BY_LENGTH.get(len(slots), ())
    if not formats:
        return []
    # The recogniser splits a stroke between `1` and `I`: both are evidence for the digit.
    scores = np.stack([s.scores for s in slots]) @ _NEVER_ISSUED
    lent = (scores[:, :, None] * _CREDIT[None]).max(axis=1)
    found = []
    for fmt in formats:
        allowed = np.where(_MASKS[fmt.name], lent, 0.0)
        picks = allowed.argmax(axis=1)
        probs = allowed[np.arange(len(slots)), picks]
        confidence = _plate_confidence(probs) * penalty
        found.append(Candidate("".join(ALPHABET[i] for i in picks), confidence, fmt))
    return found


def _variants(rows: list[list[Slot]]) -> list[tuple[list[Slot], float]]:
    """Slot sequences to try: optional weak slots in or out, a stray end slot of a row dropped."""
    trimmed_rows: list[list[tuple[list[Slot], float]]] = []
    for row in rows:
        options = []
        for drop_first, drop_last in itertools.product((0, 1), repeat=2):
            if drop_first + drop_last >= len(row):
                continue
            options.append((row[drop_first : len(row) - drop_last], END_DROP_PENALTY ** (drop_first + drop_last)))
        trimmed_rows.append(options)
    variants = []
    for combo in itertools.product(*trimmed_rows):
        joined = [s for part, _ in combo for s in part]
        penalty = float(np.prod([p for _, p in combo]))
        weak = [i for i, s in enumerate(joined) if s.weak]
        if len(weak) > MAX_WEAK:  # a noisy line: keep only its firm slots
            variants.append(([s for s in joined if not s.weak], penalty))
            continue
        for keep in itertools.product((False, True), repeat=len(weak)):
            dropped = {i for i, k in zip(weak, keep, strict=True) if not k}
            variants.append(([s for i, s in enumerate(joined) if i not in dropped], penalty))
    return variants


def candidates(rows: list[list[Slot]], limit: int = 8) -> list[Candidate]:
    """Plate candidates for one plate whose rows (top first) were read as slot lists, best first.

    Includes the plain greedy reading (format None unless it fits one exactly) so that a plate of
    no known format still yields text.
    """
    firm = [s for row in rows for s in row if not s.weak]
    found: dict[str, Candidate] = {}
    if firm:
        text = "".join(s.top for s in firm)
        probs = np.array([s.scores.max() if s.top != "?" else _EPS for s in firm])
        confidence = _plate_confidence(probs)
        found[text] = Candidate(text, confidence, plate_format(text))
    for slots, penalty in _variants(rows):
        for cand in fit_formats(slots, penalty):
            if cand.text not in found or found[cand.text].confidence < cand.confidence:
                found[cand.text] = cand
    ranked = sorted(found.values(), key=lambda c: (c.valid_format, c.confidence), reverse=True)
    return ranked[:limit]


def _plate_confidence(char_probs: np.ndarray) -> float:
    """How likely the whole plate is right: every character must be, so the product.

    (A mean would call a plate with one 50/50 character 93% sure; on synthetic and real plates
    the product cut confidently wrong reads by two thirds for the same threshold.)
    """
    return float(np.prod(char_probs))
