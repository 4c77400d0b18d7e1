"""The edge's plate stage: the detector's plate boxes → tracked trucks → reads on a worker → plates on events.

Why a worker thread: one read costs 10–60 ms of CPU (the recogniser, sometimes the text detector
too) while a camera analyses a frame in 5–10 ms; reading inline would stall tracking each time a
plate comes into view. The camera loop only pairs plate boxes with tracks and applies the cheap
gates (one pending read per track, the track's pacing, plate size and sharpness), then hands a
small crop around the plate to the worker through a bounded queue. When the worker is busy the
sighting is dropped and counted: the same plate is offered again on the next frames. Replays
(file sources not paced in real time) wait for each read instead, so that a replay reads the
same plates on every run.

Example (what `edge.app` does):
    stage = PlateStage(PlateStageConfig(), lanes=["lane-1"])
    stage.start()
    stage.observe("lane-1", "lane-1-gate", frame.image, now_s, analysed, plate_class=1)
    event.plates = stage.plates_for("lane-1", "lane-1-gate", track_id, final=True)
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from lanewatch.config import Section
from lanewatch.contract import PlateCounters, PlateRead

from .lane import LanePlates, LanePlatesConfig, assign_plates
from .reader import XYXY, PlateReader, PlateReaderConfig
from .vote import Role

if TYPE_CHECKING:  # edge.analysis imports edge.config, which imports this module
    from edge.analysis import Analysed
    from edge.lane import LaneCamera

log = logging.getLogger(__name__)


class PlateStageConfig(Section):
    """Plate reading on the edge (`plates:` in the edge config)."""

    enabled: bool = Field(True, description="read plates of tracked trucks (needs a detector with a plate class)")
    reader: PlateReaderConfig = Field(PlateReaderConfig(), description="how a plate is located, read and accepted")
    tracks: LanePlatesConfig = Field(
        LanePlatesConfig(), description="when a track's plate is read and how reads are voted"
    )
    queue_size: int = Field(
        2, ge=1, le=64,
        description="plate crops waiting for the reader; beyond this, sightings are dropped (live cameras)",
    )
    crop_margin: float = Field(
        0.6, ge=0.2, le=3, description="share of the plate box's size copied around it for the reader"
    )
    truck_region_share: float = Field(
        0.4, ge=0, le=1, description="when the detector finds a tracked truck but not its plate, the bottom share "
        "of the truck's box is read as the plate region (0: off)"
    )
    truck_region_min_height_px: float = Field(
        210, ge=0, description="...only for truck boxes at least this high (a plate then is ~1/15 of the box)"
    )
    truck_region_interval_s: float = Field(
        1.0, ge=0, description="...and at most this often per track"
    )
    rear_cameras: list[str] = Field(
        [], description="ids of cameras that see trucks from behind: their plates are voted as trailer plates"
    )


@dataclass(frozen=True)
class _Job:
    lane: str
    key: tuple[str, int]  # (camera id, track id)
    crop: np.ndarray
    box: XYXY | None  # the plate box in the crop's coordinates; None: search the whole crop (rear cameras)
    now_s: float
    role_hint: Role | None


@dataclass
class StageStats:
    """What the stage did: for logs and the benchmark."""

    offered: int = 0  # plate boxes paired with a track
    queued: int = 0  # handed to the worker
    dropped: int = 0  # worker busy: sighting dropped (live cameras only)
    read_cpu_s: float = 0.0  # worker thread CPU spent reading


class PlateStage:
    """One per edge process: one reader (its ONNX sessions), one worker thread, plate state per lane."""

    def __init__(self, config: PlateStageConfig, lanes: list[str], reader: PlateReader | None = None):
        self.config = config
        self.reader = reader or PlateReader(config.reader)
        self.lanes = {lane: LanePlates(self.reader, config.tracks) for lane in lanes}
        self.stats = StageStats()
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=config.queue_size)
        self._pending: set[tuple[str, int]] = set()
        self._region_read_s: dict[tuple[str, int], float] = {}  # last truck-region read per track
        self._rear: dict[tuple[str, str], str] = {}  # (lane, deck camera) -> its rear plate camera
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="plates", daemon=True)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> PlateStage:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            log.warning("plate reader still busy at stop; leaving it")
            return
        self._thread.join(timeout_s)

    # ------------------------------------------------------------ camera threads
    def observe(
        self,
        lane: str,
        camera: str,
        image: np.ndarray,
        now_s: float,
        truck_xyxy: np.ndarray,
        track_ids: np.ndarray,
        plate_xyxy: np.ndarray,
        wait: bool = False,
    ) -> None:
        """Offer this frame's plates of tracked trucks for reading; returns at once unless `wait`
        (replays), which waits for the reads instead of dropping sightings while the reader is busy,
        so that a replay reads the same frames on every run and machine."""
        plates = self.lanes[lane]
        role: Role | None = "trailer" if camera in self.config.rear_cameras else None
        boxes = assign_plates(truck_xyxy, track_ids, plate_xyxy)
        for track_id, box in [*boxes.items(), *self._truck_regions(camera, now_s, truck_xyxy, track_ids, boxes)]:
            key = (camera, track_id)
            self.stats.offered += 1
            with self._idle:
                if key in self._pending:
                    continue
            if not plates.due(key, now_s, box[3] - box[1]) or not plates.gate(image, box).ok:
                plates.note_skip()
                continue
            crop, crop_box = _crop(image, box, self.config.crop_margin, self.config.tracks.top_row_reach)
            self._submit(_Job(lane, key, crop, crop_box, now_s, role), wait)

    def bind_rear(self, lane: str, deck_camera: str, rear_camera: str) -> None:
        """Reads of `rear_camera` keyed by a truck id of `deck_camera` are the same truck's rear plate:
        the deck camera's events carry both (see `edge.plates.rear`)."""
        self._rear[(lane, deck_camera)] = rear_camera

    def observe_region(
        self, lane: str, key: tuple[str, int], region: np.ndarray, now_s: float, role_hint: Role | None,
        wait: bool = False,
    ) -> bool:
        """Offer a region with no plate box to be searched for the track `key`'s plate (a rear plate
        camera's view of the deck); `region` must be the caller's own copy. True when queued."""
        plates = self.lanes[lane]
        self.stats.offered += 1
        with self._idle:
            if key in self._pending:
                return False
        if not plates.due(key, now_s, region.shape[0]):
            return False
        return self._submit(_Job(lane, key, region, None, now_s, role_hint), wait)

    def _submit(self, job: _Job, wait: bool) -> bool:
        key = job.key
        with self._idle:
            self._pending.add(key)
        try:
            self._queue.put(job, block=wait)
        except queue.Full:
            self.stats.dropped += 1
            self._done(key)
            return False
        self.stats.queued += 1
        if wait:  # a replay reads exactly the frames it would read were the reader infinitely fast
            with self._idle:
                while key in self._pending:
                    self._idle.wait()
        return True

    def _truck_regions(
        self, camera: str, now_s: float, truck_xyxy: np.ndarray, track_ids: np.ndarray, boxes: dict[int, XYXY]
    ) -> list[tuple[int, XYXY]]:
        """Plate regions for large tracked trucks whose plate the detector missed in this frame: the
        bottom of the truck's box, where a front (or rear) plate sits; read at most every
        `truck_region_interval_s`. The detector's plate class misses some plates it sees for
        seconds on end, while the reader finds them in this region in ~30 ms."""
        share = self.config.truck_region_share
        if share <= 0:
            return []
        if len(self._region_read_s) > 256:  # tracks the tracker dropped without an exit
            for stale in [k for k, t in self._region_read_s.items() if not 0 <= now_s - t < 600]:
                del self._region_read_s[stale]
        out = []
        trucks = np.asarray(truck_xyxy, float).reshape(-1, 4)
        for box, track_id in zip(trucks, track_ids, strict=True):
            x0, y0, x1, y1 = (float(v) for v in box)
            key = (camera, int(track_id))
            if int(track_id) in boxes or y1 - y0 < self.config.truck_region_min_height_px:
                continue
            region = (x0, y1 - share * (y1 - y0), x1, y1)
            nearer = trucks[trucks[:, 3] > y1]  # lower in the image: nearer the camera
            if any(_overlap(region, other) for other in nearer):
                continue  # its plate may be hidden and the nearer truck's plate in the region instead
            last = self._region_read_s.get(key)
            if last is not None and 0 <= now_s - last < self.config.truck_region_interval_s:
                continue
            self._region_read_s[key] = now_s
            out.append((int(track_id), region))
        return out

    def plates_for(
        self, lane: str, camera: str, track_id: int, final: bool, wait_s: float = 0.0
    ) -> tuple[PlateRead, ...]:
        """The track's best plates (up to 4, the vehicle's or tractor's first) for an event, with its
        rear plate camera's reads when the camera has one; `final` (its exit) forgets the track.
        `wait_s` > 0 (replays) first lets a read of this track already queued finish."""
        key = (camera, track_id)
        rear_camera = self._rear.get((lane, camera))
        rear = (rear_camera, track_id) if rear_camera is not None else None
        if wait_s > 0:
            deadline = time.monotonic() + wait_s
            with self._idle:
                while (key in self._pending or rear in self._pending) and (left := deadline - time.monotonic()) > 0:
                    self._idle.wait(left)
        plates = self.lanes[lane]
        if final:
            self._region_read_s.pop(key, None)
        found = plates.finish(key, rear) if final else plates.plates(key, rear)
        return found[:4]

    def status(self, lane: str) -> PlateCounters:
        return self.lanes[lane].status()

    # ------------------------------------------------------------ worker
    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            started = time.thread_time()
            try:
                self.lanes[job.lane].offer(job.key, job.crop, job.box, job.now_s, job.role_hint)
            except Exception:  # offer() already guards the read; this is the last line for the thread
                log.exception("plate stage: reading track %s failed", job.key)
            finally:
                self.stats.read_cpu_s += time.thread_time() - started
                self._done(job.key)

    def _done(self, key: tuple[str, int]) -> None:
        with self._idle:
            self._pending.discard(key)
            self._idle.notify_all()


def _overlap(a: XYXY, b: np.ndarray) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _crop(image: np.ndarray, box: XYXY, margin: float, top_reach: float = 0.0) -> tuple[np.ndarray, XYXY]:
    """A copy of the plate's surroundings (the frame buffer is not ours to keep) and the box in it;
    `top_reach` more of the box's height above it, where a two-row plate's top row may be."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = box
    px, py = margin * (x1 - x0), margin * (y1 - y0)
    cx0, cy0 = max(0, int(x0 - px)), max(0, int(y0 - py - top_reach * (y1 - y0)))
    cx1, cy1 = min(w, int(np.ceil(x1 + px))), min(h, int(np.ceil(y1 + py)))
    crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
    return crop, (x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0)


class CameraPlates:
    """The plate stage as one camera's pipeline sees it: what to offer per frame, what to put on events."""

    def __init__(self, stage: PlateStage, lane: str, camera: str, plate_class: int, replay: bool):
        self.stage, self.lane, self.camera = stage, lane, camera
        self.plate_class = plate_class
        self.replay = replay  # a file replay not paced in real time: wait for the reader, never drop
        self._last_s: float | None = None

    def observe(self, image: np.ndarray, now_s: float, analysed: Analysed, lane: LaneCamera) -> None:
        """Offer the frame's plates of tracked trucks, keyed by the truck ids the lane logic gives them
        (what events carry, stable when the tracker loses and finds a truck again)."""
        if self._last_s is not None and now_s <= self._last_s:
            # A looped replay restarted its clock and its tracker: old track ids now name new trucks.
            self.stage.lanes[self.lane].forget(lambda key: isinstance(key, tuple) and key[0] == self.camera)
        self._last_s = now_s
        trucks, detections = analysed.trucks, analysed.detections
        if not len(trucks) or not len(detections):
            return
        plates = detections.xyxy[detections.class_id == self.plate_class]  # may be none: see `_truck_regions`
        truck_ids = lane.truck_ids(trucks.tracker_id)
        known = truck_ids >= 0
        if known.any():
            self.stage.observe(
                self.lane, self.camera, image, now_s, trucks.xyxy[known], truck_ids[known], plates, wait=self.replay
            )

    def for_event(self, track_id: int, final: bool) -> tuple[PlateRead, ...]:
        wait_s = REPLAY_WAIT_S if self.replay else 0.0
        return self.stage.plates_for(self.lane, self.camera, track_id, final, wait_s=wait_s)


REPLAY_WAIT_S = 10.0  # a replay waits at most this long for a queued read of the track (one read takes < 1 s)


def camera_plates(
    stage: PlateStage | None, lane: str, camera: str, names: tuple[str, ...], replay: bool
) -> CameraPlates | None:
    """The camera's hook into the stage; None when plates are off or the detector finds no plates."""
    if stage is None or "plate" not in names:
        if stage is not None:
            log.warning("camera %s: the detector has no plate class, so its trucks' plates are not read", camera)
        return None
    return CameraPlates(stage, lane, camera, names.index("plate"), replay)
