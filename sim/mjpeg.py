"""A video file served as a live HTTP MJPEG network camera, paced in real time.

`GET /stream.mjpg` answers `multipart/x-mixed-replace` with one JPEG part per frame, the way
cheap IP cameras do; `GET /snapshot.jpg` returns the latest frame. One reader thread decodes the
file at its own frame rate and every client gets the newest frame (a slow client skips frames,
as it would with a real camera). `stop()` drops every connection at once and `start()` brings the
camera back on the same port, which is what the edge's reconnect tests need.
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

import cv2

BOUNDARY = "lanewatchframe"
STREAM_PATH = "/stream.mjpg"
SNAPSHOT_PATH = "/snapshot.jpg"


class VideoUnreadable(RuntimeError):
    """The video file cannot be opened or has no frames."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: MjpegServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - name fixed by the base class
        return  # a camera does not log every request

    def do_GET(self) -> None:  # noqa: N802 - name fixed by the base class
        owner = self.server.owner
        path = self.path.split("?", 1)[0]
        if path == SNAPSHOT_PATH:
            jpeg, _ = owner.latest(timeout=2.0, after=-1)
            if jpeg is None:
                self.send_error(503, "no frame yet")
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(jpeg)))
            self.end_headers()
            self.wfile.write(jpeg)
            return
        if path != STREAM_PATH:
            self.send_error(404, f"this camera serves {STREAM_PATH} and {SNAPSHOT_PATH}")
            return
        owner.track(self.connection, True)
        try:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache, no-store")
            self.send_header("Pragma", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            seq = -1
            while not owner.stopping:
                jpeg, seq = owner.latest(timeout=1.0, after=seq)
                if jpeg is None:
                    if owner.ended:
                        return
                    continue
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                self.wfile.write(head + jpeg + b"\r\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return  # the client went away, or stop() cut the connection
        finally:
            owner.track(self.connection, False)


class MjpegServer:
    """Serve `video` on http://host:port/stream.mjpg. port=0 picks a free port once (see `.port`)."""

    def __init__(
        self, video: str | Path, port: int = 0, host: str = "127.0.0.1", loop: bool = True, quality: int = 85
    ) -> None:
        self.video = Path(video)
        self.host = host
        self.loop = loop
        self.quality = quality
        self.port = port
        self.stopping = False
        self.ended = False
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._clients: set[socket.socket] = set()
        self._clients_lock = threading.Lock()
        self._stop_event = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{STREAM_PATH}"

    def start(self) -> MjpegServer:
        if self._server is not None:
            return self
        capture = cv2.VideoCapture(str(self.video))
        if not capture.isOpened():
            raise VideoUnreadable(f"cannot open video {self.video} (expected a file OpenCV can decode, e.g. .mp4)")
        fps = capture.get(cv2.CAP_PROP_FPS)
        if not fps or fps <= 0 or fps > 240:
            capture.release()
            raise VideoUnreadable(f"video {self.video} reports no usable frame rate ({fps!r})")
        self.stopping = False
        self.ended = False
        self._stop_event.clear()
        with self._cond:
            self._jpeg, self._seq = None, 0
        # After the first start the port stays fixed, so a restarted camera has the same URL.
        server = _Server((self.host, self.port), _Handler)
        server.owner = self
        self._server = server
        self.port = int(server.server_address[1])
        self._threads = [
            threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="mjpeg-http", daemon=True
            ),
            threading.Thread(target=self._produce, args=(capture, fps), name="mjpeg-reader", daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        """Stop serving: every open stream is cut, the port is released."""
        server = self._server
        if server is None:
            return
        self.stopping = True
        self._stop_event.set()
        with self._cond:
            self._cond.notify_all()
        server.shutdown()
        with self._clients_lock:
            for conn in list(self._clients):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        server.server_close()
        for t in self._threads:
            t.join(timeout=5.0)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:  # let the cut streams' handler threads finish
            with self._clients_lock:
                if not self._clients:
                    break
            time.sleep(0.01)
        self._threads = []
        self._server = None

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def track(self, conn: socket.socket, active: bool) -> None:
        with self._clients_lock:
            (self._clients.add if active else self._clients.discard)(conn)

    def latest(self, timeout: float, after: int) -> tuple[bytes | None, int]:
        """The newest JPEG newer than sequence number `after` (waits up to timeout)."""
        with self._cond:
            if self._seq <= after or self._jpeg is None:
                self._cond.wait(timeout)
            if self._jpeg is None or self._seq <= after:
                return None, after
            return self._jpeg, self._seq

    def _produce(self, capture: cv2.VideoCapture, fps: float) -> None:
        period = 1.0 / fps
        next_at = time.monotonic()
        try:
            while not self._stop_event.is_set():
                ok, frame = capture.read()
                if not ok:
                    if not self.loop:
                        break
                    capture.release()
                    capture = cv2.VideoCapture(str(self.video))
                    ok, frame = capture.read()
                    if not ok:
                        break
                ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
                if ok:
                    with self._cond:
                        self._jpeg, self._seq = data.tobytes(), self._seq + 1
                        self._cond.notify_all()
                next_at += period
                delay = next_at - time.monotonic()
                if delay < -1.0:  # fell far behind (slow machine): do not burst to catch up
                    next_at = time.monotonic()
                elif delay > 0:
                    self._stop_event.wait(delay)
        finally:
            capture.release()
            self.ended = True
            with self._cond:
                self._cond.notify_all()
