"""The edge process: cameras → detector → tracker → lane logic → outbox → MQTT."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from edge.analysis import CameraAnalysis
from edge.config import CameraConfig, EdgeConfig, FileSource, LaneConfig
from edge.delivery import Publisher
from edge.detect import Detector, detector_factory
from edge.lane import Crossing, FrameTime
from edge.outbox import TRACKS_PER_RUN, Outbox
from edge.plates.stage import PlateStage, camera_plates
from edge.rear_camera import RearCameraPipeline
from edge.sources import FrameSource
from edge.weighbridge.deck import DeckLog
from edge.weighbridge.lane import LaneWeighbridge, WeighCapture
from lanewatch import contract
from lanewatch.clock import ClockWatch
from lanewatch.contract import (
    CameraHealth,
    ClockState,
    EnterEvent,
    ExitEvent,
    GateEvent,
    LaneStatus,
    OutboxHealth,
    PlateCounters,
    WeighEvent,
)
from lanewatch.ids import uuid7
from lanewatch.sdnotify import Watchdog

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
        # Fed whenever the loop asks for a frame or waits for one; a loop stuck in analysis stops feeding it.
        self.heartbeat = app.watchdog.register(f"camera {camera.id}", app.config.watchdog.stall_after_s)
        self.source.on_wait = self.heartbeat.beat

    def run(self) -> None:
        try:
            for frame in self.source.frames():
                analysed = self.analysis.process(frame)
                if self.plates is not None:  # hands crops to the plate worker; never waits on a read when live
                    self.plates.observe(frame.image, frame.at.mono_ns / 1e9, analysed, self.analysis.lane)
                for crossing in analysed.crossings:
                    self.app.emit(self.lane, self.camera, crossing)
                self.app.deck_seen(self, frame.at)
            for crossing in self.analysis.finish():
                self.app.emit(self.lane, self.camera, crossing)
            self.heartbeat.close()  # the source ended: nothing more to wait for
        except Exception:
            log.exception("camera %s: analysis loop failed", self.camera.id)
            self.app.exit_code = 1  # a failure, so that systemd restarts us
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
        self.exit_code = 0
        self.watchdog = Watchdog.for_systemd()
        self.outbox = Outbox(config.data_dir / "outbox.sqlite", config.outbox)
        # Published track ids are unique across restarts: the central joins a truck's events by them.
        self.track_base = self.outbox.run * TRACKS_PER_RUN
        lane_ids = [lane.id for lane in config.lanes]
        self.plates = PlateStage(config.plates, lane_ids) if config.plates.enabled else None
        self.publisher = Publisher(config.mqtt, config.site, config.edge_id, self.outbox,
                                   repair_after_s=config.outbox.repair_after_s)
        self.publisher.on_progress = self.watchdog.register("publisher", config.watchdog.stall_after_s).beat
        self.pipelines = [CameraPipeline(self, lane, cam, make_detector())
                          for lane in config.lanes for cam in lane.cameras if cam.rear_plates is None]
        # Which truck stands on each lane's deck, per deck-camera frame: for the weights and the rear plates.
        self.decks = {lane.id: DeckLog() for lane in config.lanes
                      if lane.deck_camera is not None and (lane.weighbridge or lane.rear_camera)}
        self.rear_pipelines = [RearCameraPipeline(self, lane, lane.rear_camera, self.decks[lane.id])
                               for lane in config.lanes if lane.rear_camera is not None]
        self._last_alarm: str | None = None
        self.clock = ClockWatch()  # the OS's sync state is re-read in the background every few seconds
        self.weighbridges = {lane.id: self._weighbridge(lane) for lane in config.lanes if lane.weighbridge}

    def clock_state(self, stream: str = "events") -> ClockState:
        """The clock state for the next message of `stream` (events, or a lane's status)."""
        return self.clock.state(stream)

    def _weighbridge(self, lane: LaneConfig) -> LaneWeighbridge:
        assert lane.weighbridge is not None and lane.deck_camera is not None  # LaneConfig checked both
        deck = next(p for p in self.pipelines if p.camera is lane.deck_camera)
        return LaneWeighbridge(lane.id, lane.weighbridge, deck.camera.id, self.emit_weigh,
                               camera_alive=deck.thread.is_alive, deck=self.decks[lane.id])

    def deck_seen(self, pipeline: CameraPipeline, at: FrameTime) -> None:
        """Called by each camera thread after a frame: the deck camera's trucks on the deck (one append)."""
        deck = self.decks.get(pipeline.lane.id)
        if deck is not None and pipeline.camera is pipeline.lane.deck_camera:
            deck.note(at.mono_ns / 1e9, pipeline.analysis.lane.weighbridge_tracks)

    def emit_weigh(self, capture: WeighCapture) -> None:
        """A truck's stable weight, through the same outbox as the line crossings (from the weighbridge thread)."""
        event_id, clock, c = uuid7(), self.clock_state(), capture
        plates = (self.plates.plates_for(c.lane, c.camera, c.track_id, final=False)
                  if self.plates is not None and c.track_id is not None else ())
        self.outbox.submit(lambda seq: WeighEvent(
            id=event_id, seq=seq, site=self.config.site, lane=c.lane, edge=self.config.edge_id, camera=c.camera,
            ts=datetime.fromtimestamp(c.wall_s, UTC), mono_ms=max(0, int(c.mono_s * 1000)), clock=clock,
            track_id=None if c.track_id is None else self.track_base + c.track_id,
            weight_kg=round(c.weight_kg, 3), window_s=round(c.window_s, 3), plates=plates,
        ))

    def _stop_weighbridges(self) -> None:
        for weighbridge in self.weighbridges.values():
            weighbridge.stop()  # idempotent; the last captures go into the outbox

    def emit(self, lane: LaneConfig, camera: CameraConfig, crossing: Crossing) -> None:
        cls = EVENT_CLASSES[crossing.kind]
        pipe = next((p for p in self.pipelines if p.camera is camera), None)
        final = crossing.kind == "exit"
        if pipe is not None and pipe.plates is not None:
            plates = pipe.plates.for_event(crossing.track_id, final=final)
        elif self.plates is not None and lane.rear_camera is not None and camera is lane.deck_camera:
            # A deck camera whose detector has no plate class: its trucks still get the rear camera's plates.
            plates = self.plates.plates_for(lane.id, camera.id, crossing.track_id, final=final)
        else:
            plates = ()
        event_id = uuid7()
        fields = dict(
            id=event_id, site=self.config.site, lane=lane.id, edge=self.config.edge_id, camera=camera.id,
            ts=crossing.at.utc, mono_ms=max(0, crossing.at.mono_ns // 1_000_000), clock=self.clock_state(),
            track_id=self.track_base + crossing.track_id, plates=plates,
        )
        log.info("lane %s: %s track %d at %s", lane.id, crossing.kind, fields["track_id"], crossing.at.utc.isoformat())
        # Never blocks: the outbox's writer thread commits it; the network is not involved at all.
        self.outbox.submit(lambda seq: cls(seq=seq, **fields))

    def lane_status(self, lane: LaneConfig, outbox: OutboxHealth) -> LaneStatus:
        pipes = [p for p in self.pipelines if p.lane is lane]
        return LaneStatus(
            site=self.config.site, lane=lane.id, edge=self.config.edge_id, ts=datetime.now(UTC),
            clock=self.clock_state(f"status/{lane.id}"),
            queue_occupancy=sum(p.analysis.lane.queue_occupancy for p in pipes),
            weighbridge_occupied=any(p.analysis.lane.weighbridge_tracks for p in pipes),
            cameras={p.camera.id: p.health() for p in [*pipes, *self._rear_of(lane)]},
            outbox=outbox,
            weighbridge=self.weighbridges[lane.id].health() if lane.id in self.weighbridges else None,
            plates=self.plates.status(lane.id) if self.plates else PlateCounters(),
        )

    def _rear_of(self, lane: LaneConfig) -> list[RearCameraPipeline]:
        return [p for p in self.rear_pipelines if p.lane is lane]

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
        for p in [*self.pipelines, *self.rear_pipelines]:
            p.source.start()
            p.thread.start()
        for weighbridge in self.weighbridges.values():
            weighbridge.start()
        log.info("edge %s/%s running %d camera(s)", self.config.site, self.config.edge_id,
                 len(self.pipelines) + len(self.rear_pipelines))
        self.watchdog.notifier.ready(f"{len(self.config.lanes)} lane(s), {len(self.pipelines)} camera(s)")
        deadline = self.config.watchdog.stall_after_s + self.config.status_interval_s
        status = self.watchdog.register("lane status", deadline)  # this loop below
        self.watchdog.start()
        try:
            while not self.stop_event.wait(self.config.status_interval_s):
                status.beat()
                self.publish_status()
                if exit_at_end and not any(p.thread.is_alive() for p in self.pipelines):
                    break
            return self._drain(drain_timeout_s) if exit_at_end else self.exit_code
        finally:
            self.watchdog.notifier.stopping()
            self.watchdog.stop()
            self.watchdog.notifier.close()
            self.stop_event.set()
            for p in [*self.pipelines, *self.rear_pipelines]:
                p.source.join(timeout=5)  # no OpenCV read may still run when the interpreter exits
                p.thread.join(timeout=5)
            self._stop_weighbridges()
            if self.plates is not None:
                self.plates.stop()
            self.publish_status()
            self.publisher.stop()
            self.outbox.close()

    def _drain(self, timeout_s: float) -> int:
        self._stop_weighbridges()  # the cameras have ended: weights still waiting for their frames go now
        self.outbox.flush()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.outbox.health().backlog == 0:
                return 0
            time.sleep(0.1)
        log.error("outbox still holds %d undelivered event(s) after %.0f s", self.outbox.health().backlog, timeout_s)
        return 3
