"""One camera's analysis of a frame: detect → track (ByteTrack) → lane lines and zones.

Kept apart from the threads and MQTT of `edge.app`, so the snapshot command, the accuracy tests and
the benchmark run exactly the code the edge runs.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from edge.anchor_refine import AnchorRefiner
from edge.config import CameraConfig
from edge.detect import Detector
from edge.lane import Crossing, LaneCamera
from edge.sources import Frame

TRACKERS_REFERENCE_FPS = 30.0  # `trackers` counts its lost-track buffer in frames at 30 fps
# Share of a box's area inside a bigger box that makes it a part of that truck. Seen obliquely (the queue
# camera's mast), a long truck's cab or trailer is often found on its own with 0.7-0.8 of its box inside the
# whole truck's; two real trucks' boxes overlap far less from there.
CONTAINED = 0.7
# A box less sure than this, lying at least PART_CONTAINED inside a surer, bigger box, is a part of that truck too:
# a truck really standing behind another is found with a high score; a part of one with a low one. Half rather
# than 40 %: on the tuning seeds (31-34) 2 false entries instead of 3, no truck lost (docs/vision.md).
PART_CONTAINED = 0.5
PART_CONFIDENCE = 0.7


def new_tracker(camera: CameraConfig) -> ByteTrackTracker:
    t = camera.tracking
    return ByteTrackTracker(
        lost_track_buffer=math.ceil(t.lost_track_buffer_s * TRACKERS_REFERENCE_FPS),
        frame_rate=camera.analysis_fps,
        track_activation_threshold=t.track_activation_threshold,
        high_conf_det_threshold=t.high_conf_det_threshold,
        minimum_iou_threshold=t.minimum_iou_threshold,
        minimum_consecutive_frames=t.minimum_consecutive_frames,
    )


@dataclass
class Analysed:
    crossings: list[Crossing]
    detections: sv.Detections  # everything the detector found (trucks and plates)
    trucks: sv.Detections  # tracked trucks, `tracker_id` set


@dataclass
class StageClock:
    """Seconds spent per stage, summed over `frames` frames."""

    frames: int = 0
    seconds: dict[str, float] = field(
        default_factory=lambda: {"detect": 0.0, "track": 0.0, "refine": 0.0, "zones": 0.0})

    def ms_per_frame(self) -> dict[str, float]:
        return {k: 1000 * v / max(1, self.frames) for k, v in self.seconds.items()}


class CameraAnalysis:
    def __init__(self, camera: CameraConfig, detector: Detector):
        self.camera, self.detector = camera, detector
        self.truck_class = detector.names.index("truck")
        self.tracker = new_tracker(camera)
        self.lane = LaneCamera(camera.geometry, camera.tracking)
        self.refiner = new_refiner(camera)
        self.clock = StageClock()
        self._last_s: float | None = None

    def process(self, frame: Frame) -> Analysed:
        t0 = time.perf_counter()
        detections = self.detector.detect(frame.image)
        t1 = time.perf_counter()
        now_s = frame.at.mono_ns / 1e9
        if self._last_s is not None and now_s <= self._last_s:
            # A looped replay starts its clock again: start tracking afresh rather than feed time backwards.
            self.tracker = new_tracker(self.camera)
            self.lane = LaneCamera(self.camera.geometry, self.camera.tracking)
            self.refiner = new_refiner(self.camera)
        self._last_s = now_s
        trucks = detections[detections.class_id == self.truck_class] if len(detections) else detections
        trucks = trucks[~inside_another(trucks.xyxy, trucks.confidence)] if len(trucks) > 1 else trucks
        tracked = self.tracker.update(trucks, timestamp=now_s)
        tracked = tracked[tracked.tracker_id >= 0] if len(tracked) else _empty_tracked()
        t2 = time.perf_counter()
        # Only the lane logic gets the refined bottoms; the tracked boxes go on as the detector found them.
        anchored = (self.refiner.refine(frame.image, tracked.xyxy, np.concatenate([trucks.xyxy, tracked.xyxy]))
                    if self.refiner else tracked.xyxy)
        t3 = time.perf_counter()
        crossings = self.lane.update(anchored, tracked.tracker_id, frame.at, tracked.confidence)
        t4 = time.perf_counter()
        self.clock.frames += 1
        for stage, seconds in (("detect", t1 - t0), ("track", t2 - t1), ("refine", t3 - t2), ("zones", t4 - t3)):
            self.clock.seconds[stage] += seconds
        return Analysed(crossings, detections, tracked)


    def finish(self) -> list[Crossing]:
        """Crossings still being timed when the source ended."""
        return self.lane.flush()


def new_refiner(camera: CameraConfig) -> AnchorRefiner | None:
    g = camera.geometry
    lines = [line for line in (g.entry_line, g.gate_line, g.exit_line) if line is not None]
    return (AnchorRefiner(camera.anchor_refine, lines, camera.analysis_fps, g.queue_zone)
            if camera.anchor_refine.enabled else None)


def inside_another(xyxy: np.ndarray, confidence: np.ndarray | None = None) -> np.ndarray:
    """Boxes that are a part of a near truck found on its own, which IoU-based suppression keeps (their
    IoU is small) and which would become a second track: lying (almost) wholly inside a bigger box, or
    mostly inside a bigger box that the detector is surer of while being unsure itself."""
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    lt = np.maximum(xyxy[:, None, :2], xyxy[None, :, :2])
    rb = np.minimum(xyxy[:, None, 2:], xyxy[None, :, 2:])
    inside = np.clip(rb - lt, 0, None).prod(2) / np.maximum(area[:, None], 1e-6)
    bigger = area[None, :] > area[:, None]
    part = (inside >= CONTAINED) & bigger
    if confidence is not None:
        surer = confidence[None, :] > confidence[:, None]
        part |= (inside >= PART_CONTAINED) & bigger & surer & (confidence[:, None] < PART_CONFIDENCE)
    return part.any(1)


def _empty_tracked() -> sv.Detections:
    empty = sv.Detections.empty()
    empty.tracker_id = np.zeros(0, int)
    return empty
