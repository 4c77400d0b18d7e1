"""A tiny MJPEG-over-HTTP camera for tests: real sockets, real multipart stream, faults on demand.

Each frame carries its number as a row of black and white squares, so a test can tell which frame
it got and when the server sent it. (The simulator's `sim.mjpeg.MjpegServer` serves whole videos;
this one exists so the camera tests can hold, refuse and corrupt a stream at will.)
"""

from __future__ import annotations

import http.server
import threading
import time

import cv2
import numpy as np

BITS = 16
CELL = 10


def numbered_frame(number: int, width: int = BITS * CELL, height: int = 120) -> np.ndarray:
    image = np.full((height, max(width, BITS * CELL), 3), 90, np.uint8)
    for bit in range(BITS):
        if number >> bit & 1:
            image[CELL:2 * CELL, bit * CELL:(bit + 1) * CELL] = 255
        else:
            image[CELL:2 * CELL, bit * CELL:(bit + 1) * CELL] = 0
    return image


def frame_number(image: np.ndarray) -> int:
    row = image[CELL + CELL // 2, CELL // 2::CELL, 1][:BITS]
    return sum(1 << bit for bit, value in enumerate(row) if value > 127)


class MjpegTestServer:
    def __init__(self, fps: float = 25.0):
        self.fps = fps
        self.sent_at: dict[int, float] = {}  # frame number -> time.time() just before it was sent
        self.connections: list[float] = []  # time.monotonic() of every request, refused ones included
        self._number = 0
        self._corrupt_next = 0
        self._refuse = threading.Event()
        self._holding = threading.Event()
        self._closing = threading.Event()
        self._epoch = 0  # streams opened before a drop_and_resume() end at the next frame
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.connections.append(time.monotonic())
                if server._refuse.is_set():
                    self.send_error(503, "camera busy")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                server._stream(self)

            def log_message(self, *args: object) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/video.mjpg"

    def start(self) -> MjpegTestServer:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    # ---------------------------------------------------------------- faults
    def hold(self) -> None:
        """Keep connections open but send nothing: the camera hangs."""
        self._holding.set()

    def drop_and_resume(self) -> None:
        """Close the hung connections and serve new ones normally."""
        with self._lock:
            self._epoch += 1
        self._holding.clear()

    def refuse(self, on: bool = True) -> None:
        """Answer new requests with HTTP 503, as a busy camera does."""
        (self._refuse.set if on else self._refuse.clear)()

    def corrupt(self, frames: int) -> None:
        """Send the next `frames` frames as bytes that are not a JPEG."""
        with self._lock:
            self._corrupt_next += frames

    # ---------------------------------------------------------------- stream
    def _stream(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        period = 1.0 / self.fps
        next_at = time.monotonic()
        epoch = self._epoch
        while not self._closing.is_set() and epoch == self._epoch:
            if self._holding.is_set():
                time.sleep(0.05)
                continue
            with self._lock:
                number = self._number
                self._number += 1
                bad = self._corrupt_next > 0
                self._corrupt_next -= int(bad)
            data = b"\x00not a jpeg\x00" * 50 if bad else cv2.imencode(".jpg", numbered_frame(number))[1].tobytes()
            self.sent_at[number] = time.time()  # the camera's capture time: before the bytes leave
            try:
                handler.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(data))
                handler.wfile.write(data + b"\r\n")
                handler.wfile.flush()
            except OSError:
                return
            next_at += period
            time.sleep(max(0.0, next_at - time.monotonic()))
