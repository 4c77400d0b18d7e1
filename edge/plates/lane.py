"""Plate reading for the tracked trucks of one lane: when to read, reading, voting, counting.

The edge pipeline calls `offer` for each frame in which a track has a plate box (from the truck
detector's `plate` class; `assign_plates` pairs plate boxes with truck tracks) and takes
`plates(track)` when it emits an event; `finish` at the exit line returns the final plates and
forgets the track. A plate is read only when it is large and sharp enough, not more often than
`min_interval_s`, and seldom once the vote is settled.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from lanewatch.config import Section
from lanewatch.contract import PlateCounters, PlateRead

from .counters import LanePlateCounters
from .quality import Quality, plate_quality
from .reader import XYXY, PlateReader, PlateResult
from .vote import PlateVote, PlateVotes, Role, VoteConfig

log = logging.getLogger(__name__)


class LanePlatesConfig(Section):
    """When a track's plate is read and how its reads are pooled."""

    min_interval_s: float = Field(0.25, ge=0, description="least time between two reads of one track's plate")
    max_reads_per_track: int = Field(30, ge=1, description="reads per track after which its plate is left alone")
    unchanged_interval_s: float = Field(
        1.0, ge=0, description="after a rejected read, a plate seen no larger than then waits this long (a truck "
        "standing far away would otherwise spend the track's reads on the same unreadable view)"
    )
    grow_share: float = Field(0.1, ge=0, le=2, description="how much larger a plate must be to count as a new view")
    settle_confidence: float = Field(0.98, ge=0, le=1, description="a voted plate this confident is read less often...")
    settle_reads: int = Field(3, ge=1, description="...once this many reads agree on it...")
    settled_interval_s: float = Field(
        2.0, ge=0, description="...only every this many seconds (a trailer's plate may still come into view)"
    )
    forget_after_s: float = Field(600, gt=0, description="a track not offered for this long is forgotten")
    top_row_reach: float = Field(
        1.0, ge=0, le=3, description="when a plate box reads as a two-row plate's bottom row alone, it is read again "
        "grown upwards by this share of its height (the detector often boxes only the larger bottom row)"
    )
    vote: VoteConfig = Field(VoteConfig(), description="how reads are pooled per track")


TrackKey = Hashable  # a track id, or (camera id, track id) when several cameras share the lane


@dataclass
class _Track:
    votes: PlateVotes
    last_seen_s: float
    reads: int = 0
    last_read_s: float | None = None
    last_height: float = 0.0  # plate box height at the last read
    last_accepted: bool = False
    settled: bool = False
    accepted: Counter[str] = field(default_factory=Counter)  # accepted reads per text


class LanePlates:
    """Per-track plate state and the plate counters of one lane.

    Safe to call from several camera threads: track state is locked, reads run outside the lock.
    """

    def __init__(self, reader: PlateReader, config: LanePlatesConfig | None = None):
        self.reader = reader
        self.config = config or LanePlatesConfig()
        self.counters = LanePlateCounters()
        self._tracks: dict[TrackKey, _Track] = {}
        self._lock = threading.Lock()

    def offer(
        self,
        track: TrackKey,
        frame_bgr: np.ndarray,
        plate_box: XYXY | None,
        now_s: float,
        role_hint: Role | None = None,
    ) -> PlateResult | None:
        """Read the plate in `plate_box` if it is due and good enough; the result, or None if not read.

        `now_s` is a monotonic time in seconds; `role_hint` says where on the truck the plate was
        seen (`tractor` for a front view, `trailer` for a rear view) when the camera knows.
        `plate_box` None: the plate is searched for in the whole image (a rear plate camera's view
        of the weighbridge deck, where no detector boxes it); no size or sharpness gate then.
        """
        height = frame_bgr.shape[0] if plate_box is None else plate_box[3] - plate_box[1]
        with self._lock:
            self._forget_idle(now_s)
            state = self._tracks.setdefault(track, _Track(PlateVotes(self.config.vote), now_s))
            state.last_seen_s = now_s
            if not self._due(state, now_s, height):
                return None
        try:
            if plate_box is not None and not self.gate(frame_bgr, plate_box).ok:
                self.counters.skip()
                return None
            result = self.reader.search_plate(frame_bgr) if plate_box is None else self._read(frame_bgr, plate_box)
        except Exception:  # a plate that cannot be read must not stop the lane's counting
            log.exception("plate read failed for track %s", track)
            self.counters.read(accepted=False)
            with self._lock:  # paced like a read, so a bad feed does not fill the log every frame
                state.reads += 1
                state.last_read_s, state.last_height, state.last_accepted = now_s, height, False
            return None
        self.counters.read(result.accepted)
        with self._lock:
            state.reads += 1
            state.last_read_s, state.last_height = now_s, height
            state.last_accepted = result.accepted
            if result.accepted and result.text is not None:
                state.votes.add(PlateVote(result.text, result.confidence, result.rows, role_hint, result.crop))
                state.accepted[result.text] += 1
                best = state.votes.best()
                state.settled = (
                    bool(best)
                    and best[0].confidence >= self.config.settle_confidence
                    and state.accepted[best[0].text] >= self.config.settle_reads
                )
        return result

    def _read(self, frame_bgr: np.ndarray, plate_box: XYXY) -> PlateResult:
        """Read the box; when it holds only a two-row plate's bottom row, read it again with room above."""
        result = self.reader.read_plate(frame_bgr, hint_box=plate_box)
        if result.accepted or not self.config.top_row_reach or not _bottom_row_only(result):
            return result
        x0, y0, x1, y1 = plate_box
        grown = (x0, max(0.0, y0 - self.config.top_row_reach * (y1 - y0)), x1, y1)
        if grown[1] >= y0:
            return result
        again = self.reader.read_plate(frame_bgr, hint_box=grown)
        return again if again.accepted or again.confidence > result.confidence and again.valid_format else result

    def due(self, track: TrackKey, now_s: float, plate_height: float) -> bool:
        """Whether the track's plate, `plate_height` pixels high, may be read now (pacing and the
        per-track read budget): a cheap check for callers that read elsewhere (the edge's worker)."""
        with self._lock:
            state = self._tracks.get(track)
            return state is None or self._due(state, now_s, plate_height)

    def _due(self, state: _Track, now_s: float, plate_height: float) -> bool:
        if state.reads >= self.config.max_reads_per_track:
            return False
        if state.last_read_s is None:
            return True
        interval = self.config.settled_interval_s if state.settled else self.config.min_interval_s
        if not state.last_accepted and plate_height <= state.last_height * (1 + self.config.grow_share):
            interval = max(interval, self.config.unchanged_interval_s)
        return now_s - state.last_read_s >= interval

    def note_skip(self) -> None:
        """A sighting the caller's own gates turned away before any read."""
        self.counters.skip()

    def gate(self, frame_bgr: np.ndarray, plate_box: XYXY) -> Quality:
        """Size and sharpness verdict on the plate box (clipped to the frame)."""
        h, w = frame_bgr.shape[:2]
        x0, y0, x1, y1 = (int(round(v)) for v in plate_box)
        crop = frame_bgr[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
        config = self.reader.config
        return plate_quality(crop, config.min_height_px, config.min_sharpness)

    def plates(self, track: TrackKey, rear: TrackKey | None = None) -> tuple[PlateRead, ...]:
        """The track's best plates so far (the vehicle's or tractor's first); empty when none was read.
        `rear`: the same truck's reads by a rear plate camera, voted together with the track's."""
        with self._lock:
            return self._best(self._tracks.get(track), self._tracks.get(rear) if rear is not None else None)

    def finish(self, track: TrackKey, rear: TrackKey | None = None) -> tuple[PlateRead, ...]:
        """The track's final plates (with its `rear` reads, as `plates`); both are forgotten."""
        with self._lock:
            return self._best(self._tracks.pop(track, None), self._tracks.pop(rear, None) if rear is not None else None)

    @staticmethod
    def _best(front: _Track | None, rear: _Track | None) -> tuple[PlateRead, ...]:
        parts = [state.votes for state in (front, rear) if state is not None]
        if not parts:
            return ()
        return (parts[0] if len(parts) == 1 else PlateVotes.pooled(*parts)).best()

    def forget(self, which: Callable[[TrackKey], bool]) -> None:
        """Drop the tracks `which` picks (a camera's tracker started afresh: its ids mean new trucks)."""
        with self._lock:
            for key in [k for k in self._tracks if which(k)]:
                del self._tracks[key]

    def status(self) -> PlateCounters:
        return self.counters.snapshot()

    def _forget_idle(self, now_s: float) -> None:
        # Tracks the tracker dropped without an exit never get `finish`: don't keep them forever.
        idle = [k for k, t in self._tracks.items() if now_s - t.last_seen_s > self.config.forget_after_s]
        for key in idle:
            del self._tracks[key]


def _bottom_row_only(result: PlateResult) -> bool:
    """A confident reading of 4–5 characters, mostly digits, that fits no format: the bottom row of a
    two-row plate (VN `123.45`, CN `12345`) read without its top row (`24C`, `云 G`)."""
    return any(
        c.confidence >= 0.5
        and 4 <= len(c.text) <= 5
        and c.text.isascii()
        and c.text.isalnum()
        and sum(ch.isdigit() for ch in c.text) >= 3
        for c in result.candidates
        if not c.valid_format
    )


def assign_plates(truck_xyxy: np.ndarray, track_ids: np.ndarray, plate_xyxy: np.ndarray) -> dict[int, XYXY]:
    """Which detected plate belongs to which tracked truck: the plate's centre must lie inside the
    truck's box; among several trucks the smallest box wins (the nearer truck in front), and
    among several plates of one truck the largest (the one best worth reading)."""
    found: dict[int, tuple[float, XYXY]] = {}
    for plate in np.asarray(plate_xyxy, float).reshape(-1, 4):
        cx, cy = (plate[0] + plate[2]) / 2, (plate[1] + plate[3]) / 2
        owner, owner_area = None, np.inf
        for box, track_id in zip(np.asarray(truck_xyxy, float).reshape(-1, 4), track_ids, strict=True):
            if box[0] <= cx <= box[2] and box[1] <= cy <= box[3]:
                area = (box[2] - box[0]) * (box[3] - box[1])
                if area < owner_area:
                    owner, owner_area = int(track_id), area
        if owner is None:
            continue
        plate_area = (plate[2] - plate[0]) * (plate[3] - plate[1])
        if owner not in found or plate_area > found[owner][0]:
            found[owner] = (plate_area, (float(plate[0]), float(plate[1]), float(plate[2]), float(plate[3])))
    return {track_id: box for track_id, (_, box) in found.items()}
