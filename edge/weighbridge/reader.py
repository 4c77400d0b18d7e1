"""The weighbridge reader: a thread per indicator that never blocks the vision loop.

It opens the port, feeds bytes to the parser, runs stable-weight capture, and hands readings
and captures over through bounded queues that the caller drains when it likes. A port that
fails or goes silent is closed and reopened with capped exponential backoff; `health()` says
what the lane status should show.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from edge.weighbridge.config import ModbusRtuConfig, ModbusTcpConfig, WeighbridgeConfig
from edge.weighbridge.protocols import Source, make_source
from edge.weighbridge.reading import Reading
from edge.weighbridge.stable import Event, StableWeighing
from lanewatch.contract import WeighbridgeHealth

log = logging.getLogger(__name__)
QUEUE_LIMIT = 2_000  # ~3 minutes of readings at 10 Hz; older ones are dropped (and counted) if nobody drains


@dataclass(frozen=True, slots=True)
class TimedReading:
    mono_s: float  # monotonic clock when the frame was parsed (durations)
    wall_s: float  # wall clock (UTC epoch seconds) at the same moment (timestamps)
    reading: Reading
    stable: bool  # the stable window was satisfied at this reading


@dataclass(frozen=True, slots=True)
class TimedEvent:
    wall_s: float
    event: Event


class WeighbridgeReader:
    def __init__(
        self,
        config: WeighbridgeConfig,
        *,
        name: str = "weighbridge",
        source: Source | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ):
        self.config = config
        self.name = name
        self.source = source if source is not None else make_source(config)
        self.weighing = StableWeighing(config.stable)
        self.readings: deque[TimedReading] = deque(maxlen=QUEUE_LIMIT)
        self.events: deque[TimedEvent] = deque(maxlen=QUEUE_LIMIT)
        self.reconnects = 0
        self.opens = 0  # successful opens of the port
        self.dropped = 0
        self._clock, self._wall = clock, wall
        self._state: str = "connecting"
        self._last: TimedReading | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._poll_s = config.poll_interval_s if isinstance(config, ModbusRtuConfig | ModbusTcpConfig) else 0.0

    # ------------------------------------------------------------ caller side
    def start(self) -> WeighbridgeReader:
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-reader", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> WeighbridgeReader:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def drain(self) -> list[TimedReading]:
        return _drain(self.readings)

    def drain_events(self) -> list[TimedEvent]:
        return _drain(self.events)

    @property
    def state(self) -> str:
        return self._state

    def health(self) -> WeighbridgeHealth:
        last, state = self._last, self._state
        current = last is not None and state == "ok"
        return WeighbridgeHealth(
            state=state,  # type: ignore[arg-type]
            weight_kg=last.reading.weight_kg if current and last else None,  # never a stale weight as current
            stable=bool(current and last and last.stable),
            frame_errors=self.source.stats.frame_errors,
        )

    # ------------------------------------------------------------ reader thread
    def _run(self) -> None:
        cfg = self.config
        delay = cfg.reconnect_min_s
        failures = 0  # consecutive cycles without a reading; logged at 1, 20, 40… to keep the log readable
        while not self._stop.is_set():
            try:
                self.source.open()
                self.opens += 1
                log.debug("%s: opened %s", self.name, self.source.describe())
                self._pump()
            except Exception as exc:  # noqa: BLE001 - a lost port or a bug in one frame must not end the thread
                was_ok = self._state == "ok"
                if was_ok:
                    delay, failures = cfg.reconnect_min_s, 0
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log.warning("%s: %s: %s (retry in %.1fs)", self.name, self.source.describe(), exc, delay)
            finally:
                self.source.close()
            if self._stop.is_set():
                break
            if self._last is not None:  # it worked once: now it is lost (before that, still connecting)
                self._state = "lost"
            self.reconnects += 1
            self._stop.wait(delay)
            delay = min(delay * 2, cfg.reconnect_max_s)

    def _pump(self) -> None:
        """Read until stopped; raises when the port fails or the line stays silent too long."""
        last_valid = self._clock()
        while not self._stop.is_set():
            readings = self.source.read()
            now = self._clock()
            if readings:
                wall = self._wall()
                for reading in readings:
                    self._accept(now, wall, reading)
                last_valid = now
                self._state = "ok"
            elif now - last_valid > self.config.stale_after_s:
                raise TimeoutError(f"no valid frame for {now - last_valid:.1f}s")
            if self._poll_s:
                self._stop.wait(self._poll_s)

    def _accept(self, mono_s: float, wall_s: float, reading: Reading) -> None:
        events = self.weighing.update(mono_s, reading)
        timed = TimedReading(mono_s=mono_s, wall_s=wall_s, reading=reading, stable=self.weighing.stable)
        self._last = timed
        if len(self.readings) == self.readings.maxlen:
            self.dropped += 1
        self.readings.append(timed)
        for event in events:
            self.events.append(TimedEvent(wall_s=wall_s, event=event))
            log.info("%s: %s", self.name, event)


def _drain(queue: deque) -> list:  # type: ignore[type-arg]
    out = []
    while True:
        try:
            out.append(queue.popleft())
        except IndexError:
            return out
