"""Frame sources: a reader thread per camera that keeps only the newest frames.

Capture never waits for analysis: frames are decimated to the analysis rate and put in a small
bounded queue; when analysis falls behind, the oldest queued frame is dropped and counted.
A replay of a file (realtime off) instead hands over every due frame, so tests see the whole video.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np

from edge.config import CameraConfig, FileSource, NetworkSource, UsbSource
from edge.lane import FrameTime

log = logging.getLogger(__name__)

STALL_TIMEOUT_S = 5.0  # a live stream that gives no frame for this long is declared lost
BACKOFF_MAX_S = 30.0


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    at: FrameTime
    index: int  # position in the source (file frame number, or frames read since start)


class FrameSource:
    """Reads one camera in a thread. `frames` yields analysis-rate frames; `health()` reports state."""

    def __init__(self, camera: CameraConfig, stop: threading.Event):
        self.camera = camera
        self.config = camera.source
        self._stop = stop
        self._queue: queue.Queue[Frame | None] = queue.Queue(maxsize=2)
        self.state = "connecting"
        self.dropped = 0
        self.corrupt = 0
        self.reconnects = 0
        self.delivered = 0
        self._fps_window: list[float] = []
        self._thread = threading.Thread(target=self._run, name=f"camera-{camera.id}", daemon=True)

    # ------------------------------------------------------------ consumer side
    def start(self) -> FrameSource:
        self._thread.start()
        return self

    def frames(self):
        while True:
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
        window = [t for t in self._fps_window if time.monotonic() - t < 5.0]
        return len(window) / 5.0

    # ------------------------------------------------------------ reader thread
    def _open(self) -> cv2.VideoCapture:
        cfg = self.config
        if isinstance(cfg, FileSource):
            return cv2.VideoCapture(str(cfg.path))
        if isinstance(cfg, NetworkSource):
            return cv2.VideoCapture(cfg.url, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000, cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000])
        assert isinstance(cfg, UsbSource)
        return cv2.VideoCapture(cfg.device, cv2.CAP_V4L2)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            cap = self._open()
            if not cap.isOpened():
                cap.release()
                self.state = "lost"
                log.warning("camera %s: cannot open %s; retrying in %.0f s", self.camera.id, self._describe(), backoff)
                if self._stop.wait(backoff):
                    break
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                self.reconnects += 1
                continue
            backoff = 1.0
            self.state = "ok"
            finished = self._read_until_gone(cap)
            cap.release()
            if finished:
                self.state = "ended"
                break
            self.state = "lost"
            self.reconnects += 1
            log.warning("camera %s: stream lost; reopening", self.camera.id)
        self._queue.put(None)

    def _describe(self) -> str:
        cfg = self.config
        return str(getattr(cfg, "path", None) or getattr(cfg, "url", None) or getattr(cfg, "device", ""))

    def _read_until_gone(self, cap: cv2.VideoCapture) -> bool:
        """Read frames until the stream ends (True: a file finished) or is lost (False)."""
        cfg = self.config
        is_file = isinstance(cfg, FileSource)
        file_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        step = 1.0 / self.camera.analysis_fps
        start_utc = cfg.start_utc if is_file else None
        pace = is_file and cfg.realtime
        t0_mono = time.monotonic()
        next_due = 0.0
        index = -1
        while not self._stop.is_set():
            ok, image = cap.read()
            if not ok:
                if is_file and cfg.loop:
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    t0_mono, next_due, index = time.monotonic(), 0.0, -1
                    continue
                return is_file
            index += 1
            if image is None or image.size == 0:
                self.corrupt += 1
                continue
            video_s = index / file_fps if is_file else time.monotonic() - t0_mono
            if pace:
                delay = t0_mono + video_s - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return False
            if video_s + 1e-9 < next_due:
                continue
            # Keep a steady analysis grid; after a long gap, restart the grid rather than catching up.
            next_due = next_due + step if video_s < next_due + step else video_s + step
            if start_utc is not None:
                at = FrameTime(start_utc.astimezone(timezone.utc) + timedelta(seconds=video_s), round(video_s * 1e9))
            else:
                at = FrameTime(datetime.now(timezone.utc), time.monotonic_ns())
            self._hand_over(Frame(image, at, index), block=is_file and not cfg.realtime)
        return False

    def _hand_over(self, frame: Frame, block: bool) -> None:
        self._fps_window = [t for t in self._fps_window[-200:] if time.monotonic() - t < 5.0] + [time.monotonic()]
        if block:
            while not self._stop.is_set():
                try:
                    self._queue.put(frame, timeout=0.5)
                    return
                except queue.Full:
                    continue
            return
        while True:
            try:
                self._queue.put_nowait(frame)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass
