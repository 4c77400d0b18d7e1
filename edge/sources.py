"""Frame sources: camera readers that keep only the newest frames, and notice when a camera is lost.

Capture never waits for analysis: frames are decimated to the analysis rate (skipped frames are
grabbed but never converted to BGR, the costly half of decoding) and put in a small bounded queue;
when analysis falls behind, the oldest queued frame is dropped and counted. A replay of a file
(realtime off) instead hands over every due frame, so tests see the whole video.

A live read can hang inside OpenCV (a camera that keeps the socket open but sends nothing), so a
watchdog, not the reader, decides that a stream is lost: no frame for `stall_timeout_s` and the
reader is abandoned (it exits when its read returns), a new one is started after a capped,
doubling back-off.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import cv2
import numpy as np

from edge.config import CameraConfig, FileSource, LiveSource, NetworkSource, UsbSource
from edge.lane import FrameTime

log = logging.getLogger(__name__)

QUEUE_FRAMES = 2  # analysis sees at most this many frames of backlog: the newest are what matter
FAILED_READS_LOST = 10  # this many failed reads in a row, without a frame, and the stream is gone
WATCHDOG_PERIOD_S = 0.25

SourceState = Literal["ok", "connecting", "lost", "ended"]


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    at: FrameTime  # capture time: when the frame came out of the camera's stream (file time for replays)

    @property
    def index(self) -> int:
        """Position in the source (file frame number, or frames read since this connection opened)."""
        assert self.at.frame is not None
        return self.at.frame


def describe(source: FileSource | NetworkSource | UsbSource) -> str:
    """The source for logs, with any password in a URL hidden."""
    if isinstance(source, FileSource):
        return str(source.path)
    if isinstance(source, NetworkSource):
        return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", source.url)
    return f"usb device {source.device}"


def open_capture(source: FileSource | NetworkSource | UsbSource) -> cv2.VideoCapture:
    if isinstance(source, FileSource):
        return cv2.VideoCapture(str(source.path))
    if isinstance(source, NetworkSource):
        # Twice the watchdog's limit: the watchdog decides; this only lets an abandoned reader end.
        timeout_ms = int(source.stall_timeout_s * 2000)
        return cv2.VideoCapture(
            source.url, cv2.CAP_FFMPEG,
            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms],
        )
    return cv2.VideoCapture(source.device, cv2.CAP_V4L2)


class FrameSource:
    """Reads one camera in threads. `frames()` yields analysis-rate frames; the counters feed the lane status."""

    def __init__(self, camera: CameraConfig, stop: threading.Event):
        self.camera = camera
        self.config = camera.source
        self._stop = stop
        self._queue: queue.Queue[Frame | None] = queue.Queue(maxsize=QUEUE_FRAMES)
        self.state: SourceState = "connecting"
        self.dropped = 0  # analysis fell behind: frames thrown away unseen
        self.corrupt = 0  # frames that could not be decoded, skipped
        self.reconnects = 0
        self.delivered = 0
        self._generation = 0  # bumped to abandon a reader; a reader only hands over frames of its generation
        self._last_frame_mono = time.monotonic()
        self._delivered_at: deque[float] = deque(maxlen=600)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name=f"camera-{camera.id}", daemon=True)
        # Called each time the consumer asks for a frame and every half second it waits for one: the
        # watchdog's proof that the camera loop is alive, whether or not the camera sends anything.
        self.on_wait: Callable[[], None] = lambda: None

    # ------------------------------------------------------------ consumer side
    def start(self) -> FrameSource:
        self._thread.start()
        return self

    def frames(self) -> Iterator[Frame]:
        while True:
            self.on_wait()
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is None:
                return
            yield item

    def fps(self) -> float:
        """Frames handed to analysis per second, over the last 5 s."""
        now = time.monotonic()
        with self._lock:
            return sum(1 for t in self._delivered_at if now - t < 5.0) / 5.0

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # ------------------------------------------------------------ supervisor (watchdog) thread
    def _supervise(self) -> None:
        cfg = self.config
        live = isinstance(cfg, LiveSource)
        backoff = cfg.reconnect_initial_s if isinstance(cfg, LiveSource) else 1.0
        backoff_max = cfg.reconnect_max_s if isinstance(cfg, LiveSource) else 30.0
        reader: threading.Thread | None = None
        while not self._stop.is_set():
            with self._lock:
                self._generation += 1
                generation = self._generation
            outcome: list[str] = []  # the reader appends "ended", "failed-open" or "lost"
            attempt_started = self._last_frame_mono = time.monotonic()
            frames_before = self.delivered
            reader = threading.Thread(target=self._read, args=(generation, outcome), daemon=True,
                                      name=f"camera-{self.camera.id}-reader-{generation}")
            reader.start()
            while not self._stop.wait(WATCHDOG_PERIOD_S):
                if not reader.is_alive():
                    break
                silent_s = time.monotonic() - max(self._last_frame_mono, attempt_started)
                if live and silent_s > cfg.stall_timeout_s:  # type: ignore[union-attr]
                    outcome.append("stalled")
                    break
            with self._lock:
                self._generation += 1  # the reader, if it is stuck in a read, exits when the read returns
            if self._stop.is_set():
                break
            result = outcome[0] if outcome else "lost"
            if result == "ended":
                self.state = "ended"
                break
            self.state = "lost"
            if self.delivered > frames_before:
                backoff = cfg.reconnect_initial_s if isinstance(cfg, LiveSource) else 1.0
            log.warning("camera %s: %s (%s); reopening in %.1f s", self.camera.id,
                        "cannot open" if result == "failed-open" else f"stream {result}", describe(cfg), backoff)
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, backoff_max)
            self.reconnects += 1
        if reader is not None:
            reader.join(timeout=1.0)
        self._finish()

    def _finish(self) -> None:
        """Tell the consumer there is nothing more, after the frames it has yet to take."""
        while not self._stop.is_set():
            try:
                self._queue.put(None, timeout=0.5)
                return
            except queue.Full:
                continue
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass  # stopping: the consumer leaves on the stop event

    # ------------------------------------------------------------ reader threads
    def _current(self, generation: int) -> bool:
        return generation == self._generation and not self._stop.is_set()

    def _read(self, generation: int, outcome: list[str]) -> None:
        cap = open_capture(self.config)
        try:
            if not cap.isOpened():
                outcome.append("failed-open")
                return
            log.info("camera %s: opened %s", self.camera.id, describe(self.config))
            outcome.append(self._read_frames(cap, generation))
        finally:
            cap.release()

    def _read_frames(self, cap: cv2.VideoCapture, generation: int) -> str:
        """Read until the source ends ("ended"), fails ("lost") or this reader is abandoned ("abandoned")."""
        cfg = self.config
        is_file = isinstance(cfg, FileSource)
        file_fps = (cap.get(cv2.CAP_PROP_FPS) or 25.0) if is_file else 0.0
        step = 1.0 / self.camera.analysis_fps
        start_utc = cfg.start_utc.astimezone(UTC) if is_file and cfg.start_utc else None
        pace = is_file and cfg.realtime
        blocking = is_file and not cfg.realtime
        t0_mono = time.monotonic()
        next_due = 0.0
        index = -1
        failed_reads = 0
        shape: tuple[int, ...] | None = None
        while self._current(generation):
            ok = cap.grab()
            arrived_mono_ns, arrived_utc = time.monotonic_ns(), datetime.now(UTC)
            if not self._current(generation):
                break  # the watchdog gave up on this read while it hung
            if not ok:
                if is_file:
                    if cfg.loop and index >= 0:
                        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                        t0_mono, next_due, index = time.monotonic(), 0.0, -1
                        continue
                    return "ended"
                # A live stream reports one undecodable frame as a failed read and goes on; only a run
                # of failures (or the watchdog's silence timer) means the stream is gone.
                failed_reads += 1
                if failed_reads >= FAILED_READS_LOST:
                    return "lost"
                time.sleep(0.01)
                continue
            if failed_reads:
                self.corrupt += failed_reads
                failed_reads = 0
            index += 1
            self._last_frame_mono = time.monotonic()
            self.state = "ok"
            video_s = index / file_fps if is_file else (arrived_mono_ns / 1e9 - t0_mono)
            if pace:
                delay = t0_mono + video_s - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return "abandoned"
            if video_s + 1e-9 < next_due:
                continue  # not due for analysis: never converted to BGR
            ok, image = cap.retrieve()
            if not ok or image is None or image.size == 0 or (shape is not None and image.shape != shape):
                self.corrupt += 1
                continue
            shape = image.shape
            # Keep a steady analysis grid; after a long gap, restart the grid rather than catching up.
            next_due = next_due + step if video_s < next_due + step else video_s + step
            if start_utc is not None:
                at = FrameTime(start_utc + timedelta(seconds=video_s), round(video_s * 1e9), index)
            else:
                at = FrameTime(arrived_utc, arrived_mono_ns, index)
            if not self._hand_over(Frame(image, at), generation, blocking):
                return "abandoned"
        return "abandoned"

    def _hand_over(self, frame: Frame, generation: int, block: bool) -> bool:
        with self._lock:
            self._delivered_at.append(time.monotonic())
        self.delivered += 1
        if block:
            while self._current(generation):
                try:
                    self._queue.put(frame, timeout=0.5)
                    return True
                except queue.Full:
                    continue
            return False
        while True:
            try:
                self._queue.put_nowait(frame)
                return True
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass
