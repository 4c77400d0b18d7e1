"""The plate distance assembly joins with: the shared rules' `plate_distance`, skipping the pairs that
cannot be close.

A lane's reassembly compares every gate-camera read with every queue read of the last two hours:
over a day's backlog, millions of pairs, nearly all of them plates with nothing in common. Their
exact distance does not matter, only that it is beyond `limit` (neither a match nor a rival). A
cheap lower bound settles most of them: map every character to its confusion class (characters the
shared rules let substitute for less than a full edit: 0/O/D/Q, 1/I/L, 8/B…) and count the plain
edits between the mapped strings. Each of those edits costs a full 1 under `plate_distance` too,
so when there are more than `limit` of them, the pair is far; only the rest are measured exactly.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from functools import lru_cache

from lanewatch.plates import PLATE_CHARS, normalise, plate_distance, substitution_cost


def _confusion_classes() -> dict[int, str]:
    """A `str.translate` table: each plate character to one representative of its confusion class."""
    chars = sorted(PLATE_CHARS | set(string.ascii_uppercase + string.digits))  # misreads are not all plate chars
    parent = {c: c for c in chars}

    def root(c: str) -> str:
        while parent[c] != c:
            c = parent[c]
        return c

    for i, a in enumerate(chars):
        for b in chars[i + 1:]:
            if substitution_cost(a, b) < 1.0:
                parent[root(b)] = root(a)
    return {ord(c): root(c) for c in chars if root(c) != c}


_CLASSES = _confusion_classes()


@lru_cache(maxsize=20_000)
def _read(text: str) -> tuple[str, str]:
    """A read as the shared rules normalise it, and as confusion classes."""
    text = normalise(text)
    return text, text.translate(_CLASSES)


def _within_edits(a: str, b: str, k: int) -> bool:
    """Whether plain edit distance (every edit 1) between a and b is at most k; fast for small k."""
    if abs(len(a) - len(b)) > k:
        return False
    i, n = 0, min(len(a), len(b))
    while i < n and a[i] == b[i]:
        i += 1
    a, b = a[i:], b[i:]  # now empty or differing at their first character
    if not a or not b:
        return len(a) + len(b) <= k
    if k <= 1:  # one edit left, and it must be spent here: a substitution, a deletion or an insertion
        return k == 1 and (a[1:] == b[1:] or a[1:] == b or a == b[1:])
    return (_within_edits(a[1:], b[1:], k - 1) or _within_edits(a[1:], b, k - 1)
            or _within_edits(a, b[1:], k - 1))


def join_distance(limit: float, cache_size: int = 50_000) -> Callable[[str, str], float]:
    """`plate_distance(a, b)` when it can be at most `limit`; otherwise some value above `limit`.
    Remembered per pair: a lane is reassembled often, mostly from the same reads."""
    edits = int(limit)  # more plain edits between confusion classes than this cost more than `limit`

    @lru_cache(maxsize=cache_size)
    def distance(a: str, b: str) -> float:
        (a, a_classes), (b, b_classes) = _read(a), _read(b)
        if not _within_edits(a_classes, b_classes, edits):
            return float(edits + 1)
        return plate_distance(a, b)

    return distance
