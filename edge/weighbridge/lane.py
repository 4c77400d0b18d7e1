"""A lane's weighbridge on the edge: the indicator's reader, the join with the deck camera, the captures.

Runs in a thread of its own (besides the reader's): the vision loop only notes which tracks stand
on the deck (`deck.note`), and nothing here ever waits on a camera or the network. A stable weight
is held until the deck camera has analysed the frames of its stable window (the vision may lag the
indicator by a frame or a few), then joined (`edge.weighbridge.deck`) and handed to `emit`.
Overload, negative and zero-drift flags are logged and counted, never recorded as a truck's weight.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from edge.weighbridge.config import WeighbridgeConfig
from edge.weighbridge.deck import DeckLog
from edge.weighbridge.protocols import Source
from edge.weighbridge.reader import TimedEvent, WeighbridgeReader
from edge.weighbridge.stable import StableWeight
from lanewatch.contract import WeighbridgeHealth

log = logging.getLogger(__name__)
POLL_S = 0.1
JOIN_TIMEOUT_S = 15.0  # the deck camera is this far behind (or stopped): join with the frames there are


@dataclass(frozen=True, slots=True)
class WeighCapture:
    """One truck's stable weight, joined (or not) with the track on the deck."""

    lane: str
    camera: str  # the deck camera, whose track ids `track_id` belongs to
    wall_s: float  # UTC epoch seconds when the window completed
    mono_s: float  # monotonic time of the same moment
    weight_kg: float
    window_s: float
    track_id: int | None
    reason: str  # why it is joined or not (edge.weighbridge.deck.Join)


class LaneWeighbridge:
    def __init__(
        self,
        lane: str,
        config: WeighbridgeConfig,
        camera: str,
        emit: Callable[[WeighCapture], None],
        *,
        camera_alive: Callable[[], bool] = lambda: True,
        deck: DeckLog | None = None,
        join_timeout_s: float = JOIN_TIMEOUT_S,
        source: Source | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.lane, self.camera = lane, camera
        self.reader = WeighbridgeReader(config, name=f"weighbridge-{lane}", source=source, clock=clock)
        self.deck = deck or DeckLog()  # the app shares the lane's with its rear plate camera
        self.flags: Counter[str] = Counter()
        self.captures = 0
        self.unjoined = 0
        self._emit, self._camera_alive = emit, camera_alive
        self._join_timeout_s = join_timeout_s
        self._clock = clock
        self._pending: list[TimedEvent] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"weighbridge-{lane}", daemon=True)
        self._stopped = False

    def start(self) -> None:
        self.reader.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop reading; captures still waiting for the camera are joined with what it saw. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        self.reader.stop()
        self.poll(final=True)

    def health(self) -> WeighbridgeHealth:
        return self.reader.health()

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            self.poll()

    def poll(self, final: bool = False) -> None:
        """Take the reader's news; deliver the captures whose window the camera has analysed."""
        try:
            self.reader.drain()  # readings: health() keeps the latest; the queue must not fill
            for timed in self.reader.drain_events():
                event = timed.event
                if isinstance(event, StableWeight):
                    self._pending.append(timed)
                else:
                    self.flags[event.kind] += 1
                    log.warning("lane %s: weighbridge %s at %.0f kg: not recorded as a truck's weight",
                                self.lane, event.kind, event.weight_kg)
            latest, now = self.deck.latest_s(), self._clock()
            waiting = []
            for timed in self._pending:
                mono_s = timed.event.mono_s
                due = (final or (latest is not None and latest >= mono_s) or now - mono_s > self._join_timeout_s
                       or not self._camera_alive())
                if due:
                    self._deliver(timed)
                else:
                    waiting.append(timed)
            self._pending = waiting
        except Exception:  # noqa: BLE001 - one bad capture must not end the lane's weighing
            log.exception("lane %s: weighbridge capture failed", self.lane)

    def _deliver(self, timed: TimedEvent) -> None:
        event = timed.event
        assert isinstance(event, StableWeight)
        join = self.deck.join(event.mono_s - event.window_s, event.mono_s)
        self.captures += 1
        if join.track_id is None:
            self.unjoined += 1
            log.warning("lane %s: weight %.0f kg recorded without a truck (%s)",
                        self.lane, event.weight_kg, join.reason)
        else:
            log.info("lane %s: weight %.0f kg, track %d", self.lane, event.weight_kg, join.track_id)
        if event.net:
            log.warning("lane %s: the indicator is in net mode and sends no tare: %.0f kg is a net weight",
                        self.lane, event.weight_kg)
        self._emit(WeighCapture(
            lane=self.lane, camera=self.camera, wall_s=timed.wall_s, mono_s=event.mono_s,
            weight_kg=event.weight_kg, window_s=event.window_s, track_id=join.track_id, reason=join.reason,
        ))
