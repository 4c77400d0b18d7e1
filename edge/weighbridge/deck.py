"""Which tracked truck stood on the deck while a weight was stable: the join of weight and vision.

The camera thread notes, for every analysed frame, the track ids whose anchor lies inside the
weighbridge zone (`note`, cheap: one append under a lock). When the indicator yields a stable
weight, `join` looks at the frames of its stable window: the truck seen on the deck in at least
`PRESENT_SHARE` of them is the one weighed. No such truck (the camera is down, the detector lost
it) or more than one (two trucks on the deck, or one truck split into two tracks) leaves the weight
unjoined: it is still recorded, with no track id, rather than given to a truck by guess.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter, deque
from dataclasses import dataclass

PRESENT_SHARE = 0.5  # a truck standing on the deck is detected in most frames; a passer-by in few
HISTORY_S = 120.0  # frames kept: longer than any stable window plus the vision's lag


@dataclass(frozen=True, slots=True)
class Join:
    track_id: int | None
    reason: str  # "joined", "no truck on the deck", "2 trucks on the deck: 3, 4", "no frames from the camera"


class DeckLog:
    """Per-frame track ids inside the weighbridge zone of one camera, by monotonic time. Thread-safe."""

    def __init__(self, history_s: float = HISTORY_S):
        self._history_s = history_s
        self._frames: deque[tuple[float, tuple[int, ...]]] = deque()
        self._lock = threading.Lock()

    def note(self, mono_s: float, track_ids: list[int]) -> None:
        with self._lock:
            frames = self._frames
            if frames and mono_s < frames[-1][0]:
                frames.clear()  # the camera's clock started again (a replay): the old frames say nothing now
            frames.append((mono_s, tuple(track_ids)))
            while frames and mono_s - frames[0][0] > self._history_s:
                frames.popleft()

    def latest_s(self) -> float | None:
        """Time of the newest analysed frame: the vision has caught up with everything before it."""
        with self._lock:
            return self._frames[-1][0] if self._frames else None

    def join(self, start_s: float, end_s: float) -> Join:
        with self._lock:
            times = [t for t, _ in self._frames]
            window = list(self._frames)[bisect_left(times, start_s):bisect_left(times, end_s + 1e-9)]
        if not window:
            return Join(None, "no frames from the camera during the stable window")
        seen = Counter(track for _, tracks in window for track in set(tracks))
        present = sorted(t for t, n in seen.items() if n >= PRESENT_SHARE * len(window))
        if len(present) == 1:
            return Join(present[0], "joined")
        if not present:
            return Join(None, "no truck on the deck")
        return Join(None, f"{len(present)} trucks on the deck: {', '.join(map(str, present))}")

    def alone(self, start_s: float, end_s: float) -> int | None:
        """The one truck on the deck from `start_s` to `end_s`: seen in at least `PRESENT_SHARE` of the
        frames and no other track seen in any; None when there were no frames, none or several.
        Stricter than `join`: a rear plate camera reading the deck must not read a second truck's plate."""
        with self._lock:
            times = [t for t, _ in self._frames]
            window = list(self._frames)[bisect_left(times, start_s):bisect_left(times, end_s + 1e-9)]
        seen = Counter(track for _, tracks in window for track in set(tracks))
        if len(seen) != 1:
            return None
        ((track, n),) = seen.items()
        return track if n >= PRESENT_SHARE * len(window) else None
