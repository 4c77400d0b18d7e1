"""Vietnamese and Chinese plate rules: normalising, formats, confusion correction, distance.

Shared by the edge (choosing among OCR candidates) and the central (joining reads of one truck
across cameras). Pure functions over strings; nothing here knows about images.

Example:
    >>> normalise("24C", "123.45")
    '24C12345'
    >>> plate_format("云G1234挂").name
    'cn_trailer'
    >>> best_candidate([("29A-O18.6l", 0.9)]).text
    '29A01861'
    >>> plate_distance("29A01861", "29A0I861")
    0.25
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Literal

Country = Literal["VN", "CN"]
PlateKind = Literal["standard", "special", "trailer", "new_energy"]

DIGITS = "0123456789"
CN_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
CN_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # I and O are never issued
CN_ALNUM = CN_LETTERS + DIGITS
CN_TRAILER_MARK = "挂"
VN_SERIES = "ABCDEFGHKLMNPRSTUVXYZ"  # I, J, O, Q, W are never issued
VN_TRAILER_SERIES = "R"
# Two-letter series for special owners: LD enterprises with foreign capital, KT military-run
# enterprises, NG/NN/QT/CV diplomatic, foreign and international bodies, HC restricted use,
# MK machinery, TD (TĐ) locally assembled vehicles.
VN_SPECIAL_SERIES = ("LD", "KT", "NG", "NN", "QT", "CV", "HC", "MK", "TD")

# Separators printed on plates or produced by OCR for them (NFKC already folds the full-width ones).
_SEPARATORS = re.compile(r"[\s.\-·•・‧∙⋅_]+")

# Where a digit is expected, these letters are the usual misreads of it, and the inverse.
TO_DIGIT = {
    "O": "0",
    "D": "0",
    "Q": "0",
    "I": "1",
    "L": "1",
    "Z": "2",
    "A": "4",
    "S": "5",
    "G": "6",
    "T": "7",
    "B": "8",
}
TO_LETTER = {"0": "DOQ", "1": "LI", "2": "Z", "4": "A", "5": "S", "6": "G", "7": "T", "8": "B"}

# Substitution costs for `plate_distance`: the classic OCR pairs are cheap, the looser ones less so.
_CHEAP_PAIRS = {
    ("0", "O"): 0.25,
    ("8", "B"): 0.25,
    ("1", "I"): 0.25,
    ("5", "S"): 0.25,
    ("2", "Z"): 0.25,
    ("6", "G"): 0.25,
}
_LOOSE_PAIRS = {("0", "D"): 0.5, ("0", "Q"): 0.5, ("1", "L"): 0.5, ("7", "T"): 0.5, ("4", "A"): 0.5}

# A corrected character makes a candidate a little less likely than one read as printed.
CORRECTION_PENALTY = 0.85


@dataclass(frozen=True)
class PlateFormat:
    """One plate layout: the characters allowed at each position."""

    name: str
    country: Country
    kind: PlateKind
    slots: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.slots)

    def matches(self, text: str) -> bool:
        return len(text) == len(self.slots) and all(ch in slot for ch, slot in zip(text, self.slots, strict=True))


def _vn_formats() -> list[PlateFormat]:
    province = ("123456789", DIGITS)
    standard = VN_SERIES.replace(VN_TRAILER_SERIES, "")
    found = []
    for n in (4, 5):
        tail = (DIGITS,) * n
        found.append(PlateFormat(f"vn_standard_{n}", "VN", "standard", (*province, standard, *tail)))
        found.append(PlateFormat(f"vn_trailer_{n}", "VN", "trailer", (*province, VN_TRAILER_SERIES, *tail)))
        for series in VN_SPECIAL_SERIES:
            found.append(
                PlateFormat(f"vn_special_{series}_{n}", "VN", "special", (*province, series[0], series[1], *tail))
            )
    return found


def _cn_formats() -> list[PlateFormat]:
    head = (CN_PROVINCES, CN_LETTERS)
    return [
        PlateFormat("cn_standard", "CN", "standard", (*head, *(CN_ALNUM,) * 5)),
        PlateFormat("cn_trailer", "CN", "trailer", (*head, *(CN_ALNUM,) * 4, CN_TRAILER_MARK)),
        PlateFormat("cn_new_energy_small", "CN", "new_energy", (*head, "DF", CN_ALNUM, *(DIGITS,) * 4)),
        PlateFormat("cn_new_energy_large", "CN", "new_energy", (*head, *(DIGITS,) * 5, "DF")),
    ]


FORMATS: tuple[PlateFormat, ...] = tuple(_vn_formats() + _cn_formats())
PLATE_CHARS = frozenset("".join("".join(f.slots) for f in FORMATS))
MAX_PLATE_LEN = max(len(f) for f in FORMATS)


def _formats_by_length() -> dict[int, tuple[PlateFormat, ...]]:
    table: dict[int, list[PlateFormat]] = {}
    for fmt in FORMATS:
        table.setdefault(len(fmt), []).append(fmt)
    return {n: tuple(fmts) for n, fmts in table.items()}


FORMATS_BY_LENGTH = _formats_by_length()


def normalise(*rows: str) -> str:
    """One plate string from its printed row(s), top row first: uppercase, separators dropped."""
    joined = "".join(rows)
    text = unicodedata.normalize("NFKC", joined).upper().replace("Đ", "D")
    return _SEPARATORS.sub("", text)


def plate_format(text: str) -> PlateFormat | None:
    """The format a plate string matches exactly (after normalising), None when it matches none."""
    text = normalise(text)
    for fmt in FORMATS_BY_LENGTH.get(len(text), ()):
        if fmt.matches(text):
            return fmt
    return None


def is_valid(text: str) -> bool:
    return plate_format(text) is not None


def country_of(text: str) -> Country | None:
    """The country whose format the plate matches; for an invalid read, a guess from its start."""
    text = normalise(text)
    fmt = plate_format(text)
    if fmt is not None:
        return fmt.country
    if text[:1] and text[0] in CN_PROVINCES:
        return "CN"
    if re.match(r"^[1-9][0-9][A-Z]", text):
        return "VN"
    return None


@dataclass(frozen=True)
class Corrected:
    """A plate string fitted to a format, with how many characters had to change."""

    text: str
    format: PlateFormat
    corrections: int


def _fit(text: str, fmt: PlateFormat) -> Corrected | None:
    out, changed = [], 0
    for ch, slot in zip(text, fmt.slots, strict=True):
        if ch in slot:
            out.append(ch)
            continue
        options = TO_DIGIT.get(ch, "") + TO_LETTER.get(ch, "")
        fix = next((c for c in options if c in slot), None)
        if fix is None:
            return None
        out.append(fix)
        changed += 1
    return Corrected("".join(out), fmt, changed)


def corrections(text: str) -> list[Corrected]:
    """Every format the plate fits by position-aware confusion correction, fewest changes first.

    Where a digit is expected O/D/Q→0, I/L→1, Z→2, A→4, S→5, G→6, T→7, B→8; where a letter
    is expected the inverse. Characters with no confusable counterpart in the slot rule a format out.
    """
    text = normalise(text)
    fits = [fit for fmt in FORMATS_BY_LENGTH.get(len(text), ()) if (fit := _fit(text, fmt)) is not None]
    return sorted(fits, key=lambda fit: fit.corrections)


@dataclass(frozen=True)
class PlateChoice:
    """The candidate chosen among OCR alternatives."""

    text: str
    score: float
    format: PlateFormat | None
    corrections: int

    @property
    def valid_format(self) -> bool:
        return self.format is not None

    @property
    def country(self) -> Country | None:
        return self.format.country if self.format is not None else country_of(self.text)


def best_candidate(candidates: Iterable[tuple[str, float]]) -> PlateChoice | None:
    """The best (text, confidence) candidate: valid formats first, then by corrected score.

    Each correction multiplies the score by `CORRECTION_PENALTY`. Without any candidate that
    fits a format, the highest-scoring normalised text comes back with `format=None`.
    """
    best_valid: PlateChoice | None = None
    best_raw: PlateChoice | None = None
    for raw, confidence in candidates:
        text = normalise(raw)
        if not text:
            continue
        if best_raw is None or confidence > best_raw.score:
            best_raw = PlateChoice(text, confidence, None, 0)
        fits = corrections(text)
        if fits:
            fit = fits[0]
            score = confidence * CORRECTION_PENALTY**fit.corrections
            if best_valid is None or score > best_valid.score:
                best_valid = PlateChoice(fit.text, score, fit.format, fit.corrections)
    return best_valid or best_raw


@cache
def _substitution_costs() -> dict[tuple[str, str], float]:
    """Cheapest substitution cost between confusable characters, closed over chains (O→0→D)
    so that `plate_distance` stays a metric."""
    costs: dict[tuple[str, str], float] = {}
    for table in (_LOOSE_PAIRS, _CHEAP_PAIRS):
        for (a, b), cost in table.items():
            costs[a, b] = costs[b, a] = min(cost, costs.get((a, b), 1.0))
    chars = sorted({c for pair in costs for c in pair})
    for k in chars:  # Floyd–Warshall over the small confusion graph
        for i in chars:
            for j in chars:
                if i != j and (i, k) in costs and (k, j) in costs:
                    via = costs[i, k] + costs[k, j]
                    if via < costs.get((i, j), 1.0):
                        costs[i, j] = via
    return costs


def substitution_cost(a: str, b: str) -> float:
    if a == b:
        return 0.0
    return _substitution_costs().get((a, b), 1.0)


def plate_distance(a: str, b: str) -> float:
    """Edit distance between two plate reads (after normalising) where OCR confusions are cheap.

    Insertions and deletions cost 1, substitutions 1 except confusable pairs (0/O, 8/B, 1/I,
    5/S, 2/Z, 6/G cost 0.25; 0/D, 0/Q, 1/L, 7/T, 4/A cost 0.5). It is a metric: symmetric, zero only
    for equal plates, and the triangle inequality holds.
    """
    a, b = normalise(a), normalise(b)
    previous = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, start=1):
        current = [float(i)]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1.0, current[j - 1] + 1.0, previous[j - 1] + substitution_cost(ca, cb)))
        previous = current
    return previous[-1]
