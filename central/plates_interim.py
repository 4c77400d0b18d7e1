"""What central needs from plate rules, behind a small interface: `distance` and `normalise`.

INTERIM. The shared plate rules, `lanewatch/plates.py` (with `plate_distance`, where OCR confusions
such as 0/O or 8/B cost less than other edits, and `normalise`), are being written on another
branch. Until they are merged, central uses the stand-ins below, which know no plate formats:
plain edit distance, and normalising as far as a search box needs it. Once `lanewatch.plates` is
in main, `distance` and `normalise` must become `lanewatch.plates.plate_distance` and
`lanewatch.plates.normalise`, `SAME_PLATE_MAX` 0.75 (below one full substitution, so that fleet
plates one digit apart never join), and this module goes away — no plate rule is copied into central/.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

PlateDistance = Callable[[str, str], float]
"""Distance between two normalised plate texts: 0 for equal plates, about 1 per differing character."""

SAME_PLATE_MAX = 1.0
"""The largest distance that still means "the same plate" for `distance` (one OCR slip)."""

_SEARCH_NOISE = re.compile(r"[\s.\-·]+")


CUTOFF = 3.0
"""Distances up to this are exact; beyond it `distance` stops early and returns a value above it
(assembly never looks past SAME_PLATE_MAX plus its margin, and most pairs of plates differ early)."""


def distance(a: str, b: str) -> float:
    """Levenshtein distance: every insertion, deletion and substitution costs 1 (exact up to CUTOFF)."""
    if a == b:
        return 0.0
    # Plates of one region share their start: only the differing middle needs the table.
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    end = 0
    while end < len(a) - start and end < len(b) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    a, b = a[start:len(a) - end], b[start:len(b) - end]
    if len(a) < len(b):
        a, b = b, a
    if not b or len(a) - len(b) > CUTOFF:
        return float(len(a))
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        if min(current) > CUTOFF:  # every alignment already costs more: the rest can only add
            return float(min(current))
        previous = current
    return float(previous[-1])


def normalise(text: str) -> str:
    """A plate as typed into a search (`24c-123.45`) in the stored form (`24C12345`)."""
    return _SEARCH_NOISE.sub("", text.upper())


def cached(fn: PlateDistance, size: int = 20_000) -> PlateDistance:
    """The same distance, remembered per pair: assembly asks about the same plates on every recompute."""
    return lru_cache(maxsize=size)(fn)
