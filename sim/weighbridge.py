"""Simulated weighbridge indicators: a 10 Hz weight timeline → the indicator's bytes → a pseudo-terminal.

`encode_stream(rows, protocol, rng)` turns timeline rows (t_s, weight_kg, motion — the columns of the
simulator's `{lane}-weighbridge.csv`, as dicts or tuples) into the byte stream an indicator would send,
with occasional line noise. `PtyIndicator` opens a pseudo-terminal and plays frames into it at the
timeline's own pace (or answers SMA requests), so the edge reader opens `indicator.path` exactly as it
would open /dev/ttyUSB0. `TcpIndicator` does the same behind a TCP port, as a serial-to-Ethernet
converter in TCP-server mode would (the demo's lanes).
"""

from __future__ import annotations

import bisect
import os
import random
import select
import socket
import threading
import time
import tty
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from edge.weighbridge import sma, toledo, yaohua_tf0, yaohua_tf1
from edge.weighbridge.protocols import STREAM_PROTOCOLS


@dataclass(frozen=True, slots=True)
class Row:
    t_s: float
    weight_kg: float
    motion: bool


def as_row(row: Row | Mapping[str, object] | Sequence[object]) -> Row:
    """Accept a Row, a CSV dict (`t_s`, `weight_kg`, `motion`, extra columns ignored) or a tuple."""
    if isinstance(row, Row):
        return row
    if isinstance(row, Mapping):
        t_s, weight, motion = row["t_s"], row["weight_kg"], row.get("motion", False)
    else:
        t_s, weight, motion = row[0], row[1], (row[2] if len(row) > 2 else False)
    if isinstance(motion, str):
        motion = motion.strip().lower() in ("1", "true", "yes", "m")
    return Row(t_s=float(t_s), weight_kg=float(weight), motion=bool(motion))  # type: ignore[arg-type]


def encode_frame(protocol: str, weight_kg: float, motion: bool, decimals: int = 0) -> bytes:
    """One frame in `protocol` for a displayed weight (kg); `decimals` is the display resolution."""
    if protocol == "yaohua-tf0":
        return yaohua_tf0.encode(weight_kg, decimals)
    if protocol == "yaohua-tf1":
        return yaohua_tf1.encode(weight_kg, decimals)
    if protocol == "toledo":
        return toledo.encode(weight_kg, decimals=decimals, motion=motion)
    if protocol == "sma":
        return sma.encode(weight_kg, decimals=decimals, motion=motion)
    raise ValueError(
        f"protocol must be one of {', '.join(STREAM_PROTOCOLS)} (Modbus has no byte stream), got {protocol!r}"
    )


def encode_timeline(
    rows: Iterable[Row | Mapping[str, object] | Sequence[object]],
    protocol: str,
    rng: random.Random,
    *,
    decimals: int = 0,
    noise_rate: float = 0.02,
    corrupt_rate: float = 0.0,
) -> list[tuple[float, bytes]]:
    """(t_s, bytes) per row: the row's frame, sometimes preceded by line noise (`noise_rate`) or
    damaged by a flipped byte (`corrupt_rate`, that frame is then lost to the reader)."""
    out = []
    for item in rows:
        row = as_row(item)
        frame = encode_frame(protocol, row.weight_kg, row.motion, decimals)
        if corrupt_rate and rng.random() < corrupt_rate:
            i = rng.randrange(1, len(frame))
            frame = frame[:i] + bytes((frame[i] ^ (1 << rng.randrange(7)),)) + frame[i + 1 :]
        if noise_rate and rng.random() < noise_rate:
            frame = rng.randbytes(rng.randint(1, 16)) + frame
        out.append((row.t_s, frame))
    return out


def encode_stream(
    rows: Iterable[Row | Mapping[str, object] | Sequence[object]],
    protocol: str,
    rng: random.Random,
    **options: float,
) -> bytes:
    """The whole timeline as one byte string (see `encode_timeline` for the options)."""
    return b"".join(frame for _, frame in encode_timeline(rows, protocol, rng, **options))  # type: ignore[arg-type]


class PtyIndicator:
    """A pseudo-terminal standing in for the indicator's serial port; open `path` as the port."""

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR→LF translation before the reader sets its own mode
        self.path = os.ttyname(self._slave)
        self.written = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def play(self, timeline: Sequence[tuple[float, bytes]], speed: float = 1.0) -> PtyIndicator:
        """Write each chunk at its timeline time divided by `speed`, in a background thread."""
        self._start(self._play, timeline, speed)
        return self

    def play_bytes(self, data: bytes, bytes_per_s: float) -> PtyIndicator:
        """Write raw bytes at a steady rate (a serial line at baud/10 bytes per second)."""
        step = max(1, int(bytes_per_s / 100))
        chunks = [(i / bytes_per_s, data[i : i + step]) for i in range(0, len(data), step)]
        return self.play(chunks)

    def serve_sma(self, rows: Sequence[Row], speed: float = 1.0, decimals: int = 0) -> PtyIndicator:
        """Answer each `<LF>W<CR>` with the timeline's weight at the current (sped-up) time."""
        self._start(self._serve_sma, [as_row(r) for r in rows], speed, decimals)
        return self

    def wait(self, timeout_s: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def close(self) -> None:
        """Hang up: the reader sees the port fail, as when a USB adapter is pulled."""
        self._stop.set()
        self.wait(2.0)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass  # already closed
        self._master = self._slave = -1

    def __enter__(self) -> PtyIndicator:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ threads
    def _start(self, target, *args) -> None:  # type: ignore[no-untyped-def]
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("this indicator is already playing")
        self._thread = threading.Thread(target=target, args=args, name="pty-indicator", daemon=True)
        self._thread.start()

    def _write(self, data: bytes) -> bool:
        view = memoryview(data)
        while view and not self._stop.is_set():
            _, ready, _ = select.select([], [self._master], [], 0.1)
            if not ready:
                continue  # nobody reads the slave yet and its buffer is full: wait, stay stoppable
            try:
                done = os.write(self._master, view)
            except OSError:
                return False
            view = view[done:]
            self.written += done
        return not view

    def _play(self, timeline: Sequence[tuple[float, bytes]], speed: float) -> None:
        if not timeline:
            return
        start = time.monotonic() - timeline[0][0] / speed
        for t_s, chunk in timeline:
            delay = start + t_s / speed - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            if not self._write(chunk):
                return

    def _serve_sma(self, rows: list[Row], speed: float, decimals: int) -> None:
        times = [r.t_s for r in rows]
        start = time.monotonic() - rows[0].t_s / speed
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.1)
            if not ready:
                continue
            try:
                pending += os.read(self._master, 256)
            except OSError:
                return
            while (end := pending.find(sma.REQUEST_WEIGHT)) >= 0:
                pending = pending[end + len(sma.REQUEST_WEIGHT) :]
                now = (time.monotonic() - start) * speed
                i = bisect.bisect_right(times, now) - 1
                if i >= len(rows) - 1 and now > times[-1] + 1.0:
                    return  # timeline over: fall silent like a switched-off indicator
                row = rows[max(i, 0)]
                if not self._write(sma.encode(row.weight_kg, decimals=decimals, motion=row.motion)):
                    return
            pending = pending[-2:]


class TcpIndicator:
    """An indicator behind a serial-to-Ethernet converter: a TCP server that sends the timeline's frames.

    The timeline's clock starts when the first client connects (the edge starts reading its cameras
    at the same moment, so a simulated lane's weights stay in step with its videos) and, with
    `loop_s`, starts again every `loop_s` seconds, as a looping video does. A client that reconnects
    joins at the current position; one client at a time.
    """

    def __init__(self, timeline: Sequence[tuple[float, bytes]], *, host: str = "127.0.0.1", port: int = 0,
                 loop_s: float | None = None):
        if not timeline:
            raise ValueError("the indicator's timeline is empty")
        if loop_s is not None and loop_s <= timeline[-1][0]:
            raise ValueError(f"loop_s ({loop_s}) must be after the timeline's last frame ({timeline[-1][0]} s)")
        self._timeline, self._loop_s = list(timeline), loop_s
        self._times = [t for t, _ in self._timeline]
        self._server = socket.create_server((host, port))
        self._server.settimeout(0.2)
        self.host, self.port = host, self._server.getsockname()[1]
        self.connections = 0
        self._start: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"tcp-indicator-{self.port}", daemon=True)

    def start(self) -> TcpIndicator:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self._server.close()

    def __enter__(self) -> TcpIndicator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            self.connections += 1
            first = self._start is None
            if self._start is None:
                self._start = time.monotonic()
            with conn:
                conn.settimeout(5.0)  # a client that stops reading is dropped, not waited for
                self._send(conn, self._start, first)

    def _send(self, conn: socket.socket, start: float, first: bool) -> None:
        loop = self._loop_s or 0.0
        cycle, index = 0, 0
        if not first:  # rejoin: the frames of the time this client was away are gone
            elapsed = time.monotonic() - start
            cycle = int(elapsed // loop) if loop else 0
            index = bisect.bisect_left(self._times, elapsed - cycle * loop)
        while not self._stop.is_set():
            if index >= len(self._timeline):
                if not loop:
                    return
                cycle, index = cycle + 1, 0
            t_s, chunk = self._timeline[index]
            delay = start + cycle * loop + t_s - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            try:
                conn.sendall(chunk)
            except OSError:
                return  # the client went away; the next one joins at the current position
            index += 1


def play_into_pty(data: bytes, bytes_per_s: float = 960.0) -> PtyIndicator:
    """Start writing `data` into a new pseudo-terminal at `bytes_per_s` (9600 baud 8N1 ≈ 960 B/s)."""
    return PtyIndicator().play_bytes(data, bytes_per_s)


def truck_timeline(
    weights_kg: Sequence[float],
    rng: random.Random,
    *,
    rate_hz: float = 10.0,
    division_kg: float = 10.0,
    zero_kg: float = 40.0,
    creep_kg_per_min: float = 1.0,
) -> tuple[list[Row], list[tuple[float, float]]]:
    """A deck visited by one truck per weight: empty → drive on (motion) → settle → stand → drive off.

    Displayed weights are rounded to `division_kg` and sit on a zero that starts `zero_kg` off and
    creeps by `creep_kg_per_min` (a deck warming in the sun); the standing weight flickers by one
    division now and then. Returns the rows and, per truck, (time it stood still, true weight).
    """
    rows: list[Row] = []
    truth: list[tuple[float, float]] = []
    dt = 1.0 / rate_hz
    t = 0.0

    def emit(seconds: float, shape, motion: bool) -> None:  # type: ignore[no-untyped-def]
        nonlocal t
        steps = max(1, round(seconds * rate_hz))
        for k in range(steps):
            zero = zero_kg + creep_kg_per_min * t / 60.0
            shown = round((shape(k / steps) + zero) / division_kg) * division_kg
            rows.append(Row(t_s=round(t, 3), weight_kg=shown, motion=motion))
            t += dt

    for weight in weights_kg:
        # The empty deck stands still longer than the default 3 s stable window, so that a zero can be learnt.
        emit(1.0 + rng.uniform(3.0, 6.0), lambda _f: rng.gauss(0.0, division_kg * 0.2), False)
        emit(rng.uniform(3.0, 6.0), lambda f, w=weight: w * f * (1 + 0.05 * rng.uniform(-1, 1)), True)
        swing = weight * 0.01
        emit(rng.uniform(1.0, 2.0), lambda f, w=weight, s=swing: w + s * (1 - f) * rng.uniform(-1, 1), True)
        truth.append((t, weight))
        stand = rng.uniform(6.0, 15.0)
        emit(stand, lambda _f, w=weight: w + (division_kg if rng.random() < 0.05 else 0.0), False)
        emit(rng.uniform(3.0, 5.0), lambda f, w=weight: w * (1 - f), True)
    emit(4.0, lambda _f: 0.0, False)
    return rows, truth
