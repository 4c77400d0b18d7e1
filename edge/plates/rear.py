"""A rear plate camera: the back of the truck standing on the lane's weighbridge deck.

A tractor-trailer's second plate, the trailer's (VN `R` series, CN `挂`), is on its back, where the
gate camera never looks. A camera beside the lane, a few metres up, looking along the travel
direction at the deck sees it while the truck stands there for weighing and inspection. No truck
detector runs on it (the project's model never saw a truck from behind): the deck camera (the
lane's camera with a `weighbridge_zone` and a detector) already knows which truck stands on the
deck (`DeckLog`). While it shows exactly one truck T, and no other, this camera's view of the deck
(the bounding box of its own `weighbridge_zone`) is searched for a plate on the plate worker, paced
per truck, and the reads are voted as T's with the role hint `trailer`. The deck camera's events
for T carry them together with the front reads (`PlateStage.plates_for`): the same text is the
vehicle's own rear plate (a rigid truck), a different valid plate the trailer's.

Example (what `edge.app` does for a camera with `rear_plates:`):
    rear = RearPlates(stage, "lane-1", camera_config, "lane-1-gate", deck_log)
    for frame in source.frames():
        rear.observe(frame.image, frame.at.mono_ns / 1e9)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from lanewatch.config import Section

if TYPE_CHECKING:  # edge.config imports this module
    from edge.config import CameraConfig
    from edge.weighbridge.deck import DeckLog

    from .stage import PlateStage

log = logging.getLogger(__name__)


class RearPlatesConfig(Section):
    """A camera that sees the back of the truck standing on the lane's weighbridge deck (`rear_plates:`)."""

    read_interval_s: float = Field(
        1.0, ge=0.1, le=60,
        description="least time between two reads of the deck truck's rear plate (each searches the whole deck "
        "view: 0.1-0.4 s of CPU)",
    )
    max_reads_per_truck: int = Field(
        12, ge=1, le=100, description="reads of one truck's rear plate, at most (a truck stands on the deck for "
        "tens of seconds)"
    )
    deck_window_s: float = Field(
        1.0, gt=0, le=10,
        description="the deck camera must have seen that one truck, and no other, on the deck during this many "
        "seconds before the frame (a truck driving on or off, or two on the deck: no read)",
    )
    region_margin: float = Field(
        0.05, ge=0, le=1, description="share of the weighbridge zone's bounding box added around it before reading"
    )


@dataclass
class _Truck:
    last_s: float
    reads: int = 0


FORGET_AFTER_S = 600.0  # pacing state of a truck not on the deck for this long is dropped


class RearPlates:
    """One rear plate camera: which frames to read and as whose plate. Used from the camera's thread."""

    def __init__(
        self, stage: PlateStage, lane: str, camera: CameraConfig, deck_camera: str, deck: DeckLog,
        replay: bool = False,
    ):
        if camera.rear_plates is None or not camera.geometry.weighbridge_zone:
            raise ValueError(f"camera {camera.id}: a rear plate camera needs rear_plates and geometry.weighbridge_zone")
        self.stage, self.lane, self.camera, self.deck_camera = stage, lane, camera.id, deck_camera
        self.config: RearPlatesConfig = camera.rear_plates
        self.deck = deck
        self.replay = replay  # a replay waits for each read instead of dropping it while the reader is busy
        self.zone = np.asarray(camera.geometry.weighbridge_zone, float)
        self._trucks: dict[int, _Truck] = {}
        self.queued = 0  # deck views handed to the plate worker (for logs and the benchmark)
        self._last_s: float | None = None
        self._warned_outside = False
        stage.bind_rear(lane, deck_camera, camera.id)

    def observe(self, image: np.ndarray, now_s: float) -> bool:
        """Offer the frame's deck view for the truck standing alone on the deck; True when queued."""
        if self._last_s is not None and now_s < self._last_s:
            self._trucks.clear()  # a looped replay started its clock again
        self._last_s = now_s
        truck = self.deck.alone(now_s - self.config.deck_window_s, now_s)
        if truck is None:
            return False
        state = self._trucks.get(truck)
        if state is not None and (
            state.reads >= self.config.max_reads_per_truck or now_s - state.last_s < self.config.read_interval_s
        ):
            return False
        region = self.region(image.shape[1], image.shape[0])
        if region is None:
            if not self._warned_outside:
                log.warning("camera %s: its weighbridge_zone lies outside its %dx%d frames: no rear plates read",
                            self.camera, image.shape[1], image.shape[0])
                self._warned_outside = True
            return False
        x0, y0, x1, y1 = region
        crop = image[y0:y1, x0:x1].copy()  # the frame buffer is not ours to keep
        key = (self.camera, truck)
        if not self.stage.observe_region(self.lane, key, crop, now_s, "trailer", wait=self.replay):
            return False
        if state is None:
            self._forget(now_s)
            state = self._trucks[truck] = _Truck(now_s)
        state.last_s = now_s
        state.reads += 1
        self.queued += 1
        return True

    def region(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        """The deck's bounding box in this camera's frames, with the margin, clipped; None if empty."""
        (zx0, zy0), (zx1, zy1) = self.zone.min(axis=0), self.zone.max(axis=0)
        mx, my = self.config.region_margin * (zx1 - zx0), self.config.region_margin * (zy1 - zy0)
        x0, y0 = max(0, int(zx0 - mx)), max(0, int(zy0 - my))
        x1, y1 = min(width, int(np.ceil(zx1 + mx))), min(height, int(np.ceil(zy1 + my)))
        return (x0, y0, x1, y1) if x1 - x0 >= 16 and y1 - y0 >= 16 else None

    def _forget(self, now_s: float) -> None:
        for truck in [t for t, s in self._trucks.items() if not 0 <= now_s - s.last_s < FORGET_AFTER_S]:
            del self._trucks[truck]
