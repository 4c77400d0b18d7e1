"""The edge process: cameras → detector → tracker → lane logic → outbox → MQTT."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from edge.analysis import CameraAnalysis
from edge.config import CameraConfig, EdgeConfig, FileSource, LaneConfig
from edge.delivery import Publisher
from edge.detect import Detector, detector_factory
from edge.lane import Crossing
from edge.outbox import Outbox
from edge.plates.stage import PlateStage, camera_plates
from edge.sources import FrameSource
from lanewatch import contract
from lanewatch.contract import (
    CameraHealth, ClockState, EnterEvent, ExitEvent, GateEvent, LaneStatus, OutboxHealth, PlateCounters,
)
from lanewatch.ids import uuid7

log = logging.getLogger(__name__)

EVENT_CLASSES = {"enter": EnterEvent, "gate": GateEvent, "exit": ExitEvent}


class CameraPipeline:
    """One camera's analysis loop, run in its own thread."""

    def __init__(self, app: EdgeApp, lane: LaneConfig, camera: CameraConfig, detector: Detector):
        self.app, self.lane, self.camera = app, lane, camera
        self.source = FrameSource(camera, app.stop_event)
        self.analysis = CameraAnalysis(camera, detector)
        replay = isinstance(camera.source, FileSource) and not camera.source.realtime
        self.plates = camera_plates(app.plates, lane.id, camera.id, detector.names, replay)
        self.thread = threading.Thread(target=self.run, name=f"pipeline-{camera.id}", daemon=True)
        self.last_progress = time.monotonic()

    def run(self) -> None:
        try:
            for frame in self.source.frames():
                analysed = self.analysis.process(frame)
                if self.plates is not None:  # hands crops to the plate worker; never waits on a read when live
                    self.plates.observe(frame.image, frame.at.mono_ns / 1e9, analysed, self.analysis.lane)
                for crossing in analysed.crossings:
                    self.app.emit(self.lane, self.camera, crossing)
            for crossing in self.analysis.finish():
                self.app.emit(self.lane, self.camera, crossing)
                self.last_progress = time.monotonic()
        except Exception:
            log.exception("camera %s: analysis loop failed", self.camera.id)
            self.app.stop_event.set()
            raise

    def health(self) -> CameraHealth:
        s = self.source
        return CameraHealth(state=s.state, fps=round(s.fps(), 2), dropped_frames=s.dropped,
                            corrupt_frames=s.corrupt, reconnects=s.reconnects)


class EdgeApp:
    def __init__(self, config: EdgeConfig):
        self.config = config
        make_detector = detector_factory(config.detector)  # first: a bad model stops us before anything starts
        self.stop_event = threading.Event()
        self.outbox = Outbox(config.data_dir / "outbox.sqlite", config.outbox)
        lane_ids = [lane.id for lane in config.lanes]
        self.plates = PlateStage(config.plates, lane_ids) if config.plates.enabled else None
        self.publisher = Publisher(config.mqtt, config.site, config.edge_id, self.outbox,
                                   repair_after_s=config.outbox.repair_after_s)
        self.pipelines = [CameraPipeline(self, lane, cam, make_detector()) for lane in config.lanes for cam in lane.cameras]
        self._last_alarm: str | None = None

    def clock_state(self) -> ClockState:
        return ClockState(synced=False, source="unknown")

    def emit(self, lane: LaneConfig, camera: CameraConfig, crossing: Crossing) -> None:
        cls = EVENT_CLASSES[crossing.kind]
        pipe = next((p for p in self.pipelines if p.camera is camera), None)
        plates = pipe.plates.for_event(crossing.track_id, final=crossing.kind == "exit") if pipe and pipe.plates else ()
        event_id = uuid7()
        fields = dict(
            id=event_id, site=self.config.site, lane=lane.id, edge=self.config.edge_id, camera=camera.id,
            ts=crossing.at.utc, mono_ms=max(0, crossing.at.mono_ns // 1_000_000), clock=self.clock_state(),
            track_id=crossing.track_id, plates=plates,
        )
        log.info("lane %s: %s track %d at %s", lane.id, crossing.kind, crossing.track_id, crossing.at.utc.isoformat())
        # Never blocks: the outbox's writer thread commits it; the network is not involved at all.
        self.outbox.submit(lambda seq: cls(seq=seq, **fields))

    def lane_status(self, lane: LaneConfig, outbox: OutboxHealth) -> LaneStatus:
        pipes = [p for p in self.pipelines if p.lane is lane]
        return LaneStatus(
            site=self.config.site, lane=lane.id, edge=self.config.edge_id, ts=datetime.now(timezone.utc),
            clock=self.clock_state(),
            queue_occupancy=sum(p.analysis.lane.queue_occupancy for p in pipes),
            weighbridge_occupied=any(p.analysis.lane.weighbridge_tracks for p in pipes),
            cameras={p.camera.id: p.health() for p in pipes},
            outbox=outbox,
            plates=self.plates.status(lane.id) if self.plates else PlateCounters(),
        )

    def publish_status(self) -> None:
        outbox = self.outbox.health()
        if outbox.alarm != self._last_alarm:
            log.warning("outbox alarm: %s", outbox.alarm or "cleared")
            self._last_alarm = outbox.alarm
        for lane in self.config.lanes:
            self.publisher.publish_retained(
                contract.status_topic(self.config.site, lane.id, self.config.edge_id),
                contract.encode(self.lane_status(lane, outbox)),
            )

    def run(self, exit_at_end: bool = False, drain_timeout_s: float = 60.0) -> int:
        """Run until stopped; with `exit_at_end`, return once every file source has ended and the
        outbox has drained (replays and tests)."""
        self.publisher.start()
        if self.plates is not None:
            self.plates.start()
        for p in self.pipelines:
            p.source.start()
            p.thread.start()
        log.info("edge %s/%s running %d camera(s)", self.config.site, self.config.edge_id, len(self.pipelines))
        try:
            while not self.stop_event.wait(self.config.status_interval_s):
                self.publish_status()
                if exit_at_end and not any(p.thread.is_alive() for p in self.pipelines):
                    break
            return self._drain(drain_timeout_s) if exit_at_end else 0
        finally:
            self.stop_event.set()
            for p in self.pipelines:
                p.source.join(timeout=5)  # no OpenCV read may still run when the interpreter exits
                p.thread.join(timeout=5)
            if self.plates is not None:
                self.plates.stop()
            self.publish_status()
            self.publisher.stop()
            self.outbox.close()

    def _drain(self, timeout_s: float) -> int:
        self.outbox.flush()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.outbox.health().backlog == 0:
                return 0
            time.sleep(0.1)
        log.error("outbox still holds %d undelivered event(s) after %.0f s", self.outbox.health().backlog, timeout_s)
        return 3
