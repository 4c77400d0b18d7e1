"""The edge's loop for a rear plate camera (`rear_plates:` in a camera's config): frames → deck view → plate worker.

Unlike the other cameras' loops there is no detector and no lane logic here, and a failure stays
with this camera: the lane's counting, weighing and front plates go on without its rear plates.
A lost stream is reopened by its `FrameSource` and reported in the lane status like any camera's.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from edge.config import CameraConfig, LaneConfig
from edge.plates.rear import RearPlates
from edge.sources import FrameSource
from edge.weighbridge.deck import DeckLog
from lanewatch.contract import CameraHealth

if TYPE_CHECKING:
    from edge.app import EdgeApp

log = logging.getLogger(__name__)
ERROR_LOG_INTERVAL_S = 60.0  # a frame that fails every time is logged once a minute, not at the frame rate


class RearCameraPipeline:
    """One rear plate camera's loop, run in its own thread; `rear` is None when plates are off."""

    def __init__(self, app: EdgeApp, lane: LaneConfig, camera: CameraConfig, deck: DeckLog):
        deck_camera = lane.deck_camera
        assert deck_camera is not None and app.plates is not None  # LaneConfig and EdgeConfig checked both
        self.lane, self.camera = lane, camera
        self.source = FrameSource(camera, app.stop_event)
        self.rear = RearPlates(app.plates, lane.id, camera, deck_camera.id, deck)
        self.failures = 0
        self.thread = threading.Thread(target=self.run, name=f"rear-{camera.id}", daemon=True)
        self.heartbeat = app.watchdog.register(f"camera {camera.id}", app.config.watchdog.stall_after_s)
        self.source.on_wait = self.heartbeat.beat
        self._logged_s = -ERROR_LOG_INTERVAL_S

    def run(self) -> None:
        for frame in self.source.frames():
            try:
                self.rear.observe(frame.image, frame.at.mono_ns / 1e9)
            except Exception:  # noqa: BLE001 - the lane goes on without its rear plates
                self.failures += 1
                if time.monotonic() - self._logged_s >= ERROR_LOG_INTERVAL_S:
                    self._logged_s = time.monotonic()
                    log.exception("camera %s: rear plate frame failed (%d so far)", self.camera.id, self.failures)
        self.heartbeat.close()

    def health(self) -> CameraHealth:
        s = self.source
        return CameraHealth(state=s.state, fps=round(s.fps(), 2), dropped_frames=s.dropped,
                            corrupt_frames=s.corrupt, reconnects=s.reconnects)
