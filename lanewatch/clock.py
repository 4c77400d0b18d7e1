"""Trustworthy time on an edge: UTC stamps that say how far to trust them, durations from the monotonic clock.

The OS's sync state is read from chrony (`chronyc tracking`, which knows the measured offset), else
from the kernel (`adjtimex`: the NTP status any sync daemon - chrony, ntpd, systemd-timesyncd -
maintains), else from `timedatectl`. Readings are cached for a few seconds and refreshed in the
background, so stamping an event costs two clock reads.

`ClockWatch` also compares wall-clock and monotonic progress between calls: when the wall clock
jumps (an operator sets the date, NTP steps after a long outage, a VM resumes) the step is logged
and flagged in the next `ClockState`, and no duration is affected because durations only ever use
the monotonic clock.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from lanewatch.contract import ClockState

log = logging.getLogger(__name__)

TIME_ERROR = 5  # adjtimex return value: clock not synchronised
STA_UNSYNC = 0x0040
STA_NANO = 0x2000
MAX_SLEW = 500e-6  # the kernel slews at most 500 ppm: wall and monotonic may drift apart this fast
COMMAND_TIMEOUT_S = 2.0


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """struct timex from <sys/timex.h> (Linux)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


@dataclass(frozen=True, slots=True)
class KernelClock:
    synced: bool
    status: int
    offset_ms: float  # remaining correction the kernel's PLL is applying
    maxerror_ms: float
    esterror_ms: float


def adjtimex() -> KernelClock | None:
    """The kernel's NTP state (read only: modes = 0 needs no privilege); None where unavailable."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = _Timex()
        result = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if result < 0:
        return None
    per_ms = 1e6 if tx.status & STA_NANO else 1e3
    return KernelClock(
        synced=result != TIME_ERROR and not tx.status & STA_UNSYNC,
        status=tx.status,
        offset_ms=tx.offset / per_ms,
        maxerror_ms=tx.maxerror / 1e3,
        esterror_ms=tx.esterror / 1e3,
    )


def _run(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


_SYSTEM_TIME = re.compile(r"^System time\s*:\s*([0-9.]+) seconds (fast|slow) of NTP time", re.M)
_LEAP = re.compile(r"^Leap status\s*:\s*(.+)$", re.M)


def parse_chrony_tracking(text: str) -> ClockState | None:
    """ClockState from `chronyc tracking` output; None when it is not that output."""
    leap = _LEAP.search(text)
    system = _SYSTEM_TIME.search(text)
    if leap is None or system is None:
        return None
    synced = leap.group(1).strip().lower() != "not synchronised"
    offset_ms = float(system.group(1)) * 1000.0 * (1 if system.group(2) == "fast" else -1)
    return _state(synced, round(offset_ms, 3) if synced else None, "chrony")


def _state(synced: bool, offset_ms: float | None, source: str) -> ClockState:
    return ClockState(synced=synced, offset_ms=offset_ms, source=source, step_detected=False)


def read_chrony() -> ClockState | None:
    text = _run(["chronyc", "tracking"])
    return parse_chrony_tracking(text) if text else None


def read_adjtimex() -> ClockState | None:
    kernel = adjtimex()
    if kernel is None:
        return None
    return _state(kernel.synced, round(kernel.offset_ms, 3) if kernel.synced else None, "adjtimex")


def read_timedatectl() -> ClockState | None:
    text = _run(["timedatectl", "show", "--property=NTPSynchronized", "--value"])
    if text is None or text.strip() not in ("yes", "no"):
        return None
    return _state(text.strip() == "yes", None, "timedatectl")


def read_os_clock() -> ClockState:
    """Best available reading: chrony, then the kernel, then timedatectl; unknown if none answers."""
    for reader in (read_chrony, read_adjtimex, read_timedatectl):
        state = reader()
        if state is not None:
            return state
    return _state(False, None, "unknown")


@dataclass(frozen=True, slots=True)
class Stamp:
    """When something was observed: UTC for people and other edges, monotonic for durations."""

    utc: datetime
    mono_ms: int
    clock: ClockState


def duration_s(start: Stamp, end: Stamp) -> float:
    """Seconds between two stamps of this edge; immune to wall-clock steps."""
    return (end.mono_ms - start.mono_ms) / 1000.0


class ClockWatch:
    """Stamps events and notices wall-clock steps. One per process; thread-safe."""

    def __init__(
        self,
        *,
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
        read_os: Callable[[], ClockState] = read_os_clock,
        cache_s: float = 5.0,
        step_threshold_s: float = 0.5,
        background: bool = True,
    ):
        self._wall, self._mono, self._read_os = wall, mono, read_os
        self._cache_s, self._threshold = cache_s, step_threshold_s
        self._background = background
        self._lock = threading.Lock()
        self._os_state = read_os()
        self._os_read_at = mono()
        self._refreshing = False
        self._ref = (wall(), mono())
        self._steps_reported: dict[str, int] = {}  # per stream: steps already flagged in its messages
        self.steps = 0
        self.last_step_s: float | None = None  # size of the last step (+ = wall clock jumped ahead)

    def now(self) -> Stamp:
        """Stamp an observation (cheap: two clock reads and, every few seconds, a cached OS refresh)."""
        wall, mono = self._tick()
        return Stamp(
            utc=datetime.fromtimestamp(wall, UTC), mono_ms=int(mono * 1000), clock=self._clock_state()
        )

    def state(self, stream: str = "") -> ClockState:
        """The clock state for the next message of `stream`; `step_detected` is reported once per step in
        each stream (the edge's events, each lane's status), so every stream shows a step exactly once."""
        self._tick()
        return self._clock_state(stream)

    def _clock_state(self, stream: str = "") -> ClockState:
        with self._lock:
            step = self.steps > self._steps_reported.get(stream, 0)
            self._steps_reported[stream] = self.steps
            state = self._os_state
        return state.model_copy(update={"step_detected": True}) if step else state

    def _tick(self) -> tuple[float, float]:
        wall, mono = self._wall(), self._mono()
        with self._lock:
            last_wall, last_mono = self._ref
            elapsed = mono - last_mono
            step = (wall - last_wall) - elapsed
            if abs(step) > self._threshold + MAX_SLEW * max(elapsed, 0.0):
                self.steps += 1
                self.last_step_s = step
                log.warning("wall clock stepped by %+.3f s (monotonic elapsed %.3f s)", step, elapsed)
            self._ref = (wall, mono)
            stale = mono - self._os_read_at >= self._cache_s and not self._refreshing
            if stale:
                self._refreshing = True
        if stale:
            if self._background:
                threading.Thread(target=self._refresh, name="clock-state", daemon=True).start()
            else:
                self._refresh()
        return wall, mono

    def _refresh(self) -> None:
        try:
            state = self._read_os()
        except Exception:  # noqa: BLE001 - a broken reader must not stop stamping
            log.exception("reading the OS clock state failed")
            state = _state(False, None, "unknown")
        with self._lock:
            self._os_state = state
            self._os_read_at = self._mono()
            self._refreshing = False
